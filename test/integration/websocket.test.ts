/**
 * WebSocket clients of a pandanet server (issue 17): a WebSocket rendezvous on a listener hands out
 * ordinary connections; one binary message is one datagram, both ways, in order; wss with a
 * self-signed certificate; bad options throw typed errors. Every test runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import { Datagram, ErrorCode, NetAddress, NetDatagram, PandaNetError, PointerToConnection, type Connection } from '../../src/index.js';
import { MODES, acceptAll, echoTick, patternBytes, rawConnect, receive, sameBytes, takeResets, waitFor, withNetConfig } from '../helpers/net.js';
import { runExitScript } from '../helpers/exit-script.js';
import { clientFrame, connectOne, makeWsServer, selfSignedCert, takeUntilReset, upgradeRequest, wsConnect, wsOpen } from '../helpers/websocket.js';

/**
 * A standalone ESM script: a WebSocket rendezvous with a handshake that never comes, one refused
 * (garbage) and one client accepted and then closed by the application; then the rendezvous closed.
 * No shutdown: the process must exit by itself.
 */
function exitScript(indexUrl: string): string {
  return `
import net from 'node:net';
import { QueuedConnectionManager, QueuedConnectionListener, QueuedConnectionReader, PointerToConnection } from ${JSON.stringify(indexUrl)};
const threads = Number(process.argv[2]);
const m = new QueuedConnectionManager();
const listener = new QueuedConnectionListener(m, threads);
const reader = new QueuedConnectionReader(m, threads);
const rv = m.openWebSocketServerRendezvous('127.0.0.1', 0, 10);
listener.addConnection(rv);
const port = rv.getLocalAddress().getPort();
const silent = net.connect(port, '127.0.0.1'); // never sends its handshake
silent.on('error', () => {});
const garbage = net.connect(port, '127.0.0.1', () => garbage.write('garbage\\r\\n\\r\\n'));
garbage.on('error', () => {});
garbage.on('end', () => garbage.end());
const client = net.connect(port, '127.0.0.1', () => client.write(['GET / HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', '', ''].join('\\r\\n')));
let upgraded = false;
client.on('data', (d) => {
  if (!upgraded) upgraded = d.toString('latin1').startsWith('HTTP/1.1 101');
  else client.destroy(); // the server's close frame
});
client.on('error', () => {});
const nc = new PointerToConnection();
const deadline = performance.now() + 5000;
while (!listener.newConnectionAvailable()) {
  if (performance.now() > deadline) throw new Error('no accept');
  await new Promise((r) => setTimeout(r, 5));
}
listener.getNewConnection(nc);
reader.addConnection(nc.p());
m.closeConnection(nc.p());
m.closeConnection(rv);
console.log('closed everything');
`;
}

/** Message `i` of client `c`: its numbers in the first 8 bytes, then pattern bytes, `size` bytes in all (≥ 8 carry the numbers). */
function message(c: number, i: number, size: number): Buffer {
  const b = Buffer.from(patternBytes(size, c * 1000 + i + 1));
  if (size >= 8) {
    b.writeUInt32LE(c, 0);
    b.writeUInt32LE(i, 4);
  }
  return b;
}

describe.each(MODES)('WebSocket rendezvous ($name)', ({ threads }) => {
  it('echoes datagrams of 0..maxPayload bytes through reader → writer, in order, on many connections', async () => {
    const maxPayload = 70_000;
    const server = makeWsServer(threads, { maxPayload, path: '/game' });
    // Sizes around each WebSocket length encoding (7-bit, 16-bit, 64-bit) and the limit itself.
    const sizes = [0, 1, 8, 125, 126, 127, 1000, 65_535, 65_536, maxPayload];
    const clients = Array.from({ length: 12 }, () => wsConnect(`ws://127.0.0.1:${server.port}/game`));
    for (const c of clients) await wsOpen(c);
    const conns = await acceptAll(server, clients.length);
    for (const conn of conns) {
      expect(conn.isWebSocket()).toBe(true);
      expect(conn.getKind()).toBe('websocket');
      expect(conn.getAddress().getPort()).toBeGreaterThan(0);
    }
    clients.forEach((c, k) => sizes.forEach((size, i) => c.ws.send(message(k, i, size))));
    const tick = echoTick(server);
    await waitFor(() => clients.every((c) => c.messages.length >= sizes.length), {
      tick,
      what: () => `echoes (have ${clients.map((c) => c.messages.length).join(', ')})`,
    });
    clients.forEach((c, k) => {
      expect(c.messages.map((m) => m.length)).toEqual(sizes);
      sizes.forEach((size, i) => expect(sameBytes(c.messages[i]!, message(k, i, size))).toBe(true));
    });
    const resets: Connection[] = [];
    takeResets(server.manager, resets);
    expect(resets).toEqual([]);
    expect(clients.every((c) => c.closeCode === null)).toBe(true);
  });

  it('drainData echo (replies to a run held and batched): every message back intact and in order', async () => {
    const server = makeWsServer(threads);
    const clients = Array.from({ length: 5 }, () => wsConnect(`ws://127.0.0.1:${server.port}/`));
    for (const c of clients) await wsOpen(c);
    await acceptAll(server, clients.length);
    const n = 300;
    clients.forEach((c, k) => {
      for (let i = 0; i < n; i++) c.ws.send(message(k, i, 8 + (i % 50)));
    });
    const out = new Datagram();
    const tick = (): void => {
      server.reader.poll();
      server.reader.drainData((conn, data, offset, length) => {
        out.clear();
        out.appendData(data, offset, length);
        expect(server.writer.send(out, conn)).toBe(true);
      });
    };
    await waitFor(() => clients.every((c) => c.messages.length >= n), { tick, what: () => `echoes (have ${clients.map((c) => c.messages.length).join(', ')})` });
    clients.forEach((c, k) => c.messages.forEach((m, i) => expect(sameBytes(m, message(k, i, 8 + (i % 50)))).toBe(true)));
  });

  it('a datagram the application sends arrives as one binary message; closeConnection closes with 1000 and reports no reset', async () => {
    const server = makeWsServer(threads);
    const { client: c, conn } = await connectOne(server);
    const dg = new Datagram();
    dg.addString('hello');
    dg.addUint32(42);
    expect(server.writer.send(dg, conn!)).toBe(true);
    await waitFor(() => c.messages.length === 1, { what: 'the datagram as a message' });
    expect(sameBytes(c.messages[0]!, dg.getMessage())).toBe(true);
    expect(server.manager.closeConnection(conn!)).toBe(true);
    await waitFor(() => c.closeCode !== null, { what: 'the client to see the close' });
    expect(c.closeCode).toBe(1000);
    const resets: Connection[] = [];
    takeResets(server.manager, resets);
    expect(resets).toEqual([]);
  });

  it('a client that closes (1000) is reset once, after the datagrams it sent before', async () => {
    const server = makeWsServer(threads);
    const { client: c, conn } = await connectOne(server);
    for (let i = 0; i < 5; i++) c.ws.send(message(1, i, 16));
    c.ws.close(1000, 'bye');
    const got = await takeUntilReset(server, conn);
    expect(got.map((b) => b.readUInt32LE(4))).toEqual([0, 1, 2, 3, 4]);
    await waitFor(() => c.closeCode !== null, { what: 'the client’s close to complete' });
    expect(c.closeCode).toBe(1000);
  });

  it('an I/O thread that dies resets its WebSocket clients (close 1006) and the next client is served', async () => {
    const server = makeWsServer(threads);
    const { client: c, conn } = await connectOne(server);
    server.manager.crashIoThreadForTest(conn!.getThreadIndex());
    const resets: Connection[] = [];
    await waitFor(() => resets.includes(conn!), { tick: () => takeResets(server.manager, resets), what: 'the reset of the dead thread’s client' });
    await waitFor(() => c.closeCode !== null, { what: 'the client to see its connection end' });
    expect(c.closeCode).toBe(1006);
    const rvAlive = server.rendezvous.getThreadIndex() !== conn!.getThreadIndex();
    if (rvAlive) {
      // The rendezvous lives on another thread: it still accepts.
      const next = wsConnect(`ws://127.0.0.1:${server.port}/`);
      await wsOpen(next);
      await acceptAll(server, 2);
      next.ws.send(Buffer.from('after the crash'));
      await waitFor(() => next.messages.length === 1, { tick: echoTick(server), what: 'the next client’s echo' });
    } else {
      expect(resets).toContain(server.rendezvous); // its rendezvous died with it, reported like a TCP one
    }
  });

  it('frames in the same write as the handshake are delivered, in order, once a reader monitors the connection', async () => {
    const server = makeWsServer(threads);
    const peer = await rawConnect(server.port);
    await peer.write(Buffer.concat([Buffer.from(upgradeRequest()), clientFrame(Buffer.from('one')), clientFrame(Buffer.from('two'))]));
    const [conn] = await acceptAll(server, 1);
    const got = await receive(server.reader, 2, { what: 'the frames sent with the handshake' });
    expect(got.map((g) => Buffer.from(g.bytes).toString())).toEqual(['one', 'two']);
    expect(got.every((g) => g.conn === conn)).toBe(true);
  });

  it('a client that sends faster than the application takes: paused for its quota, nothing dropped, order kept', async () => {
    const server = withNetConfig({ maxQueuedPerConnection: 16 }, () => makeWsServer(threads));
    const { client: c, conn } = await connectOne(server);
    const n = 500;
    for (let i = 0; i < n; i++) c.ws.send(message(3, i, 32));
    // The application takes nothing until the thread has stopped reading this connection for its quota.
    await waitFor(() => server.manager.getThreadStats().reduce((k, t) => k + t.quotaPauses, 0) > 0, { what: 'a quota pause' });
    const got = await receive(server.reader, n, { what: 'every message' });
    expect(got.every((g) => g.conn === conn)).toBe(true);
    expect(got.map((g) => Buffer.from(g.bytes).readUInt32LE(4))).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(server.reader.getDroppedCount()).toBe(0);
  });

  it('a reader ring that fills pauses the client (ring-full back-pressure), nothing dropped, order kept', async () => {
    const server = withNetConfig({ ringBytes: { reader: 64 * 1024 }, maxQueuedPerConnection: 0 }, () => makeWsServer(threads));
    const { client: c, conn } = await connectOne(server);
    const n = 200;
    for (let i = 0; i < n; i++) c.ws.send(message(4, i, 10_000)); // 2 MB: 30 times the ring
    await waitFor(() => server.manager.getThreadStats().reduce((k, t) => k + t.backpressurePauses, 0) > 0, { what: 'a ring-full pause' });
    const got = await receive(server.reader, n, { what: 'every message' });
    expect(got.every((g) => g.conn === conn)).toBe(true);
    got.forEach((g, i) => expect(sameBytes(g.bytes, message(4, i, 10_000))).toBe(true));
    expect(server.reader.getDroppedCount()).toBe(0);
  });

  it('collect-tcp on a WebSocket client: the held datagrams leave as one message each, in order, at the flush', async () => {
    const server = makeWsServer(threads);
    const { client: c, conn } = await connectOne(server);
    conn!.setCollectTcp(true);
    conn!.setCollectTcpInterval(3600);
    const sizes = [5, 0, 70_000, 3];
    for (const [i, size] of sizes.entries()) expect(server.writer.send(new Datagram(message(9, i, size)), conn!)).toBe(true);
    expect(conn!.flush()).toBe(true);
    await waitFor(() => c.messages.length === sizes.length, { what: () => `the collected datagrams (have ${c.messages.length})` });
    sizes.forEach((size, i) => expect(sameBytes(c.messages[i]!, message(9, i, size))).toBe(true));
  });

  it('permessage-deflate on: compressed messages echo intact and in order', async () => {
    const server = makeWsServer(threads, { perMessageDeflate: true });
    const clients = [0, 1, 2].map(() => wsConnect(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: { threshold: 0 } }));
    for (const c of clients) await wsOpen(c);
    await acceptAll(server, clients.length);
    expect(clients.every((c) => c.ws.extensions.includes('permessage-deflate'))).toBe(true);
    // Many compressible messages in a burst: the thread's drains follow each other while zlib still
    // works on earlier ones (it must not reuse the memory those were sent from).
    const sizes = [0, 10, ...Array.from({ length: 200 }, (_, i) => 1500 + 37 * i), 30_000, 3];
    clients.forEach((c, k) => sizes.forEach((size, i) => c.ws.send(message(k, i, size))));
    await waitFor(() => clients.every((c) => c.messages.length >= sizes.length), { tick: echoTick(server), what: 'compressed echoes' });
    clients.forEach((c, k) => sizes.forEach((size, i) => expect(sameBytes(c.messages[i]!, message(k, i, size))).toBe(true)));
  });

  it('serves wss with a self-signed certificate made by openssl', async () => {
    const server = makeWsServer(threads, { tls: selfSignedCert() });
    const clients = [0, 1, 2].map(() => wsConnect(`wss://127.0.0.1:${server.port}/`, { rejectUnauthorized: false }));
    for (const c of clients) await wsOpen(c);
    await acceptAll(server, clients.length);
    const sizes = [0, 1, 300, 20_000, ...Array.from({ length: 100 }, (_, i) => 100 + 97 * i)];
    clients.forEach((c, k) => sizes.forEach((size, i) => c.ws.send(message(k, i, size))));
    await waitFor(() => clients.every((c) => c.messages.length >= sizes.length), { tick: echoTick(server), what: 'wss echoes' });
    clients.forEach((c, k) => sizes.forEach((size, i) => expect(sameBytes(c.messages[i]!, message(k, i, size))).toBe(true)));
    // A plain ws client on the wss port never becomes a connection.
    const plain = wsConnect(`ws://127.0.0.1:${server.port}/`);
    await waitFor(() => plain.closeCode !== null || plain.error !== null, { what: 'the plain client to fail' });
    expect(plain.opened).toBe(false);
    expect(server.listener.newConnectionAvailable()).toBe(false);
  });

  it('the Async twin opens the same rendezvous', async () => {
    const server = makeWsServer(threads);
    const rv = await server.manager.openWebSocketServerRendezvousAsync(0, 10, { pingIntervalMs: 0 });
    expect(rv).not.toBeNull();
    expect(server.listener.addConnection(rv!)).toBe(true);
    const c = wsConnect(`ws://127.0.0.1:${rv!.getLocalAddress().getPort()}/`);
    await wsOpen(c);
    await waitFor(() => server.listener.newConnectionAvailable(), { what: 'the accept on the async rendezvous' });
    const rvOut = new PointerToConnection();
    const nc = new PointerToConnection();
    expect(server.listener.getNewConnection(rvOut, new NetAddress(), nc)).toBe(true);
    expect(rvOut.p()).toBe(rv);
    expect(nc.p()!.isWebSocket()).toBe(true);
  });

  it('the process exits by itself once the rendezvous and its client are closed, with a handshake pending and one refused', async () => {
    const result = await runExitScript('ws-exit-check.mjs', exitScript, [String(threads)]);
    expect(result.signal, `killed at the 10 s deadline: the process did not exit by itself. Output:\n${result.out}`).toBeNull();
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('closed everything');
  }, 15_000);

  it('bad options throw typed errors with stable codes', () => {
    const server = makeWsServer(threads);
    const m = server.manager;
    const codeOf = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(PandaNetError);
        return (err as PandaNetError).code;
      }
      return undefined;
    };
    expect(codeOf(() => m.openWebSocketServerRendezvous(0, 10, { tls: { cert: 'x' } as never }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(codeOf(() => m.openWebSocketServerRendezvous(0, 10, { tls: { cert: 'not a certificate', key: 'not a key' } }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(codeOf(() => m.openWebSocketServerRendezvous(0, 10, { path: 'no-slash' }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(codeOf(() => m.openWebSocketServerRendezvous(0, 10, { maxPayload: -1 }))).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
    expect(codeOf(() => m.openWebSocketServerRendezvous(0, 10, { maxPayload: 1 << 30 }))).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
    expect(codeOf(() => m.openWebSocketServerRendezvous(0, 10, { pingIntervalMs: 1.5 }))).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
    expect(codeOf(() => m.openWebSocketServerRendezvous(0, 10, { handshakeTimeoutMs: 0 }))).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
    expect(codeOf(() => m.openWebSocketServerRendezvous('127.0.0.1', 0, { path: '/' } as never))).toBe(ErrorCode.INVALID_ARGUMENT);
    // A rendezvous cannot be written to.
    expect(() => server.writer.send(new NetDatagram(), server.rendezvous)).toThrow(PandaNetError);
  });
});
