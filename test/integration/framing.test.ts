/**
 * Wire-level behaviour over real sockets (spec §6.1, §6.4, §12.8–11): the largest datagrams for header
 * sizes 2 and 4, frames split byte by byte and packed many to a write, raw mode on both sides, and hostile
 * input (half a header, garbage, an oversize length) that must cost only the offending connection.
 * Every test runs in every mode.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram, ErrorCode, QueuedConnectionReader, TooLongError, getLogLevel, setLogLevel, setLogSink, type Connection, type LogLevel } from '../../src/index.js';
import {
  MODES,
  acceptAll,
  expectSame,
  echoTick,
  frame,
  makeClient,
  makeServer,
  patternBytes,
  rawConnect,
  rawListen,
  readText,
  receive,
  sameBytes,
  takeAll,
  takeResets,
  textDatagram,
  waitFor,
  withNetConfig,
  yieldOnce,
  type Received,
  type Server,
} from '../helpers/net.js';

/** Accepts the one raw client that just connected and returns its server-side connection. */
async function acceptRaw(server: Server, before: number): Promise<Connection> {
  const all = await acceptAll(server, before + 1);
  return all[before]!;
}

let savedLevel: LogLevel | null = null;
afterEach(() => {
  if (savedLevel !== null) {
    setLogLevel(savedLevel);
    setLogSink((lvl, message) => process.stderr.write(`:net(${lvl}): ${message}\n`));
    savedLevel = null;
  }
});

/** Captures the main thread's log lines at `info` and above for the rest of the test. */
function captureLog(): string[] {
  const lines: string[] = [];
  savedLevel = getLogLevel();
  setLogLevel('info');
  setLogSink((lvl, message) => lines.push(`${lvl}: ${message}`));
  return lines;
}

describe.each(MODES)('framing ($name)', ({ threads }) => {
  it('a 65,535-byte datagram crosses with header 2; 65,536 throws TooLongError, sends nothing, resets nothing', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    await acceptAll(server, 1);
    const big = patternBytes(65_535, 7);
    expect(client.writer.send(new Datagram(big), client.conn)).toBe(true);

    let err: unknown;
    try {
      client.writer.send(new Datagram(patternBytes(65_536, 8)), client.conn);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TooLongError);
    expect((err as TooLongError).code).toBe(ErrorCode.TOO_LONG);
    // Marker after the refused one: the next thing on the wire after the big datagram.
    expect(client.writer.send(textDatagram('marker', 1), client.conn)).toBe(true);

    // Echo both back: the server's writer sends the big one too.
    const got = await receive(client.reader, 2, { what: 'the echoed 65,535-byte datagram and the marker', tick: echoTick(server) });
    expect(got).toHaveLength(2);
    expect(sameBytes(got[0]!.bytes, big)).toBe(true);
    expect(readText(got[1]!.bytes)).toEqual({ text: 'marker', n: 1 });
    expect(client.manager.resetConnectionAvailable()).toBe(false);
    expect(server.manager.resetConnectionAvailable()).toBe(false);
    expect(client.reader.isConnectionOk(client.conn)).toBe(true);
  });

  it('a 70,000-byte datagram crosses with header 4 on both ends (and an empty one)', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    for (const x of [server.reader, server.writer, client.reader, client.writer]) {
      x.setTcpHeaderSize(4);
      expect(x.getTcpHeaderSize()).toBe(4);
    }
    await acceptAll(server, 1);
    const big = patternBytes(70_000, 9);
    expect(client.writer.send(new Datagram(big), client.conn)).toBe(true);
    expect(client.writer.send(new Datagram(), client.conn)).toBe(true);
    const got = await receive(client.reader, 2, { what: 'the echoed 70,000-byte datagram', tick: echoTick(server) });
    expect(sameBytes(got[0]!.bytes, big)).toBe(true);
    expect(got[1]!.bytes.length).toBe(0);
    expect(client.manager.resetConnectionAvailable()).toBe(false);
    expect(server.manager.resetConnectionAvailable()).toBe(false);
  });

  it('header 4: a datagram of exactly the maximum size (1 MiB) is delivered; one byte more resets the connection', async () => {
    const server = makeServer(threads);
    // A client whose maxDatagramSize is raised (a default writer refuses more than 1 MiB itself:
    // test/reliability/send-accounting.test.ts), standing for a peer that sends past the reader's limit.
    const client = withNetConfig({ maxDatagramSize: 2 << 20 }, () => makeClient(server.port, threads));
    server.reader.setTcpHeaderSize(4);
    client.writer.setTcpHeaderSize(4);
    const [accepted] = await acceptAll(server, 1);
    const max = 1 << 20;
    const exact = patternBytes(max, 21);
    expect(client.writer.send(new Datagram(exact), client.conn)).toBe(true);
    const got = await receive(server.reader, 1, { what: 'the 1 MiB datagram' });
    expect(sameBytes(got[0]!.bytes, exact)).toBe(true);
    expect(server.manager.resetConnectionAvailable()).toBe(false);
    // The receiver drops a connection whose header announces more than its limit.
    expect(client.writer.send(new Datagram(patternBytes(max + 1, 22)), client.conn)).toBe(true);
    const resets: Connection[] = [];
    await waitFor(() => resets.length > 0, { what: 'the oversize datagram to reset the connection', tick: () => takeResets(server.manager, resets) });
    expectSame(resets, [accepted]);
    const late: Received[] = [];
    takeAll(server.reader, late);
    expect(late).toHaveLength(0);
  });

  it('reassembles frames arriving one byte per write', async () => {
    const server = makeServer(threads);
    const raw = await rawConnect(server.port);
    raw.socket.setNoDelay(true);
    const conn = await acceptRaw(server, 0);
    const payloads = [new Uint8Array(0), Uint8Array.of(0x41), patternBytes(300, 3), Uint8Array.of(1, 2, 3)];
    const wire = Buffer.concat(payloads.map((p) => frame(p, 2)));
    const got: Received[] = [];
    for (const byte of wire) {
      await raw.write(Uint8Array.of(byte));
      await yieldOnce();
      takeAll(server.reader, got);
    }
    const rest = await receive(server.reader, payloads.length - got.length, { what: 'the byte-by-byte frames' });
    got.push(...rest);
    expect(got).toHaveLength(payloads.length);
    for (const [i, p] of payloads.entries()) {
      expect(got[i]!.conn).toBe(conn);
      expect(sameBytes(got[i]!.bytes, p)).toBe(true);
    }
    expect(server.manager.resetConnectionAvailable()).toBe(false);
  });

  it('splits 500 frames written in one write, in order', async () => {
    const server = makeServer(threads);
    const raw = await rawConnect(server.port);
    const conn = await acceptRaw(server, 0);
    const payloads = Array.from({ length: 500 }, (_, i) => patternBytes(i % 97, i + 1));
    await raw.write(Buffer.concat(payloads.map((p) => frame(p, 2))));
    const got = await receive(server.reader, payloads.length, { what: 'the 500 frames' });
    expect(got).toHaveLength(payloads.length);
    for (const [i, p] of payloads.entries()) {
      expect(got[i]!.conn).toBe(conn);
      expect(sameBytes(got[i]!.bytes, p), `frame ${i}`).toBe(true);
    }
  });

  it('raw reader: bytes arrive as chunks of at most 1502 bytes whose concatenation is the stream', async () => {
    const server = makeServer(threads);
    server.reader.setRawMode(true);
    expect(server.reader.getRawMode()).toBe(true);
    const raw = await rawConnect(server.port);
    const conn = await acceptRaw(server, 0);
    const stream = patternBytes(20_000, 11);
    await raw.write(stream.subarray(0, 7));
    await raw.write(stream.subarray(7, 12_000));
    await raw.write(stream.subarray(12_000));
    const got: Received[] = [];
    let total = 0;
    await waitFor(() => total >= stream.length, {
      what: () => `${stream.length} raw bytes (have ${total})`,
      tick: () => {
        const before = got.length;
        takeAll(server.reader, got);
        for (const r of got.slice(before)) total += r.bytes.length;
      },
    });
    expect(total).toBe(stream.length);
    for (const r of got) {
      expect(r.conn).toBe(conn);
      expect(r.bytes.length).toBeGreaterThan(0);
      expect(r.bytes.length).toBeLessThanOrEqual(1502);
    }
    expect(sameBytes(Buffer.concat(got.map((r) => r.bytes)), stream)).toBe(true);
  });

  it('raw writer: no header on the wire; turning raw off puts the 2-byte header back', async () => {
    const rawServer = await rawListen();
    const client = makeClient(rawServer.port, threads);
    await waitFor(() => rawServer.peers.length === 1, { what: 'the raw server to accept' });
    const peer = rawServer.peers[0]!;
    client.writer.setRawMode(true);
    expect(client.writer.getRawMode()).toBe(true);
    expect(client.writer.send(new Datagram(Buffer.from('abc')), client.conn)).toBe(true);
    expect(client.writer.send(new Datagram(Buffer.from('defg')), client.conn)).toBe(true);
    // Raw sends are not limited by the 2-byte header.
    const big = patternBytes(70_000, 5);
    expect(client.writer.send(new Datagram(big), client.conn)).toBe(true);
    client.writer.setRawMode(false);
    expect(client.writer.send(new Datagram(Buffer.from('xy')), client.conn)).toBe(true);
    const want = Buffer.concat([Buffer.from('abcdefg'), big, Buffer.from([2, 0]), Buffer.from('xy')]);
    await waitFor(() => peer.received().length >= want.length, { what: () => `${want.length} bytes at the raw server (have ${peer.received().length})` });
    expect(sameBytes(peer.received(), want)).toBe(true);

    // And the raw server's replies, framed by hand, reach the client.
    await peer.write(frame(Buffer.from('reply'), 2));
    const got = await receive(client.reader, 1, { what: 'the raw server reply' });
    expect(Buffer.from(got[0]!.bytes).toString()).toBe('reply');
    expect(got[0]!.conn).toBe(client.conn);
  });

  describe('bad input costs only the offending connection', () => {
    /** A server with one well-behaved pandanet client that must keep echoing throughout. */
    async function withGoodClient(): Promise<{ server: Server; good: Connection; check: (n: number) => Promise<void> }> {
      const server = makeServer(threads);
      const client = makeClient(server.port, threads);
      const [good] = await acceptAll(server, 1);
      const check = async (n: number): Promise<void> => {
        expect(client.writer.send(textDatagram('alive', n), client.conn)).toBe(true);
        const got = await receive(client.reader, 1, { what: `echo #${n} for the good client`, tick: echoTick(server) });
        expect(readText(got[0]!.bytes)).toEqual({ text: 'alive', n });
        expect(client.manager.resetConnectionAvailable()).toBe(false);
      };
      await check(0);
      return { server, good: good!, check };
    }

    async function expectOneReset(server: Server, bad: Connection, good: Connection, check: (n: number) => Promise<void>): Promise<Connection[]> {
      const resets: Connection[] = [];
      // The good connection is echoed meanwhile (echoTick drains the reader, so no bad datagram piles up).
      await waitFor(() => resets.length > 0, { what: 'the bad connection to be reset', tick: () => takeResets(server.manager, resets) });
      expectSame(resets, [bad]);
      expect(server.reader.isConnectionOk(bad)).toBe(false);
      expect(server.reader.isConnectionOk(good)).toBe(true);
      await check(1);
      await check(2);
      takeResets(server.manager, resets);
      expect(resets).toHaveLength(1); // exactly once
      return resets;
    }

    it('half a header, then the peer closes → one reset', async () => {
      const { server, good, check } = await withGoodClient();
      const log = captureLog();
      const raw = await rawConnect(server.port);
      const bad = await acceptRaw(server, 1);
      await raw.write(Uint8Array.of(0x05));
      raw.socket.end();
      await expectOneReset(server, bad, good, check);
      expect(log.some((l) => l.includes(`connection ${bad.getId()} reset`)), log.join('\n')).toBe(true);
    });

    it('half a body, then the peer vanishes with a RST → one reset, the partial datagram discarded', async () => {
      const { server, good, check } = await withGoodClient();
      const raw = await rawConnect(server.port);
      const bad = await acceptRaw(server, 1);
      await raw.write(Buffer.concat([frame(Buffer.from('complete'), 2), Buffer.from([0xff, 0xff]), patternBytes(100, 2)]));
      // The complete frame is delivered before the reset.
      const first = await receive(server.reader, 1, { what: 'the complete frame before the garbage' });
      expect(first[0]!.conn).toBe(bad);
      expect(Buffer.from(first[0]!.bytes).toString()).toBe('complete');
      raw.socket.resetAndDestroy();
      await expectOneReset(server, bad, good, check);
      const late: Received[] = [];
      takeAll(server.reader, late);
      expect(late.filter((r) => r.conn === bad)).toEqual([]);
    });

    it('garbage then close → one reset, the server keeps serving', async () => {
      const { server, good, check } = await withGoodClient();
      const raw = await rawConnect(server.port);
      const bad = await acceptRaw(server, 1);
      await raw.write(patternBytes(5_000, 99));
      raw.socket.end();
      await expectOneReset(server, bad, good, check);
    });

    it('header 4 announcing 0x7fff0000 bytes (past the 1 MiB maximum) → reset at once, reason logged, socket closed', async () => {
      const { server, good, check } = await withGoodClient();
      // The bad connection is read by its own header-4 reader; the good one keeps header 2 throughout.
      const reader4 = new QueuedConnectionReader(server.manager, threads);
      reader4.setTcpHeaderSize(4);
      const log = captureLog();
      const raw = await rawConnect(server.port);
      const bad = await acceptRaw(server, 1);
      expect(server.reader.removeConnection(bad)).toBe(true);
      expect(reader4.addConnection(bad)).toBe(true);
      const header = Buffer.alloc(4);
      header.writeUInt32LE(0x7fff0000, 0);
      await raw.write(header); // and the peer stays connected: the server must act on the header alone
      const resets: Connection[] = [];
      await waitFor(() => resets.length > 0, { what: 'the oversize header to reset the connection', tick: () => takeResets(server.manager, resets) });
      expectSame(resets, [bad]);
      expect(reader4.isConnectionOk(bad)).toBe(false);
      expect(reader4.dataAvailable()).toBe(false);
      expect(log.some((l) => l.includes(`connection ${bad.getId()} reset`) && /invalid TCP datagram|too large|maximum/i.test(l)), log.join('\n')).toBe(true);
      await waitFor(() => raw.closed || raw.ended, { what: 'the server to close the offending socket' });
      await check(1);
      takeResets(server.manager, resets);
      expect(resets).toHaveLength(1);
      expect(server.reader.isConnectionOk(good)).toBe(true);
    });
  });
});
