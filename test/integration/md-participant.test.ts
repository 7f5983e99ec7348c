/**
 * The participant API (src/md/participant.ts) over real sockets, in every mode.
 *
 * Layer (a), without a director: a raw `node:net` server stands in for the MD and checks the exact
 * bytes of every control message and of `send` (Panda's 2-byte TCP length header + Astron's bytes),
 * channels near 2^64 − 1 included; typed errors send nothing; refusals return false.
 *
 * Layer (b), through a real `MessageDirector`: participants with their own managers route to each
 * other by channel and range, unregister stops delivery, post-removes fire on close and on reset,
 * `clearPostRemoves` keeps them from firing.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  ConnectionWriter,
  Datagram,
  ErrorCode,
  InvalidArgumentError,
  MAX_POST_REMOVE_SIZE,
  MdDatagramError,
  MdParticipant,
  MessageDirector,
  PandaNetError,
  PyDatagram,
  PyDatagramIterator,
  QueuedConnectionManager,
  SocketError,
  TooLongError,
  ValueRangeError,
  type MdAddress,
  type MdParticipantLink,
} from '../../src/index.js';
import { MODES, closedPort, makeClient, patternBytes, rawConnect, rawListen, receive, sameBytes, takeAll, waitFor, type Client, type RawPeer, type RawServer, type Received } from '../helpers/net.js';

const MAX = (1n << 64n) - 1n;

/** Little-endian uint64, as hex. */
function u64(v: bigint | number): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b.toString('hex');
}
/** Little-endian uint16, as hex. */
function u16(v: number): string {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b.toString('hex');
}
/** A Panda TCP frame (2-byte length header) around the payload given as hex. */
function framed(payloadHex: string): string {
  return u16(payloadHex.length / 2) + payloadHex;
}
/** Astron's control header: one recipient, channel 1, no sender, the code. */
function control(code: number, argsHex = ''): string {
  return framed('01' + u64(1) + u16(code) + argsHex);
}
/** A length-prefixed byte string (blob / string argument), as hex. */
function blob(bytes: Uint8Array | string): string {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
  return u16(b.length) + b.toString('hex');
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A pandanet client connected to a raw server that plays the MD, and the participant on it. */
async function setup(threads: number): Promise<{ raw: RawServer; client: Client; peer: RawPeer; md: MdParticipant }> {
  const raw = await rawListen();
  const client = makeClient(raw.port, threads);
  await waitFor(() => raw.peers.length === 1, { what: 'the participant connected to the raw MD' });
  return { raw, client, peer: raw.peers[0]!, md: new MdParticipant(client.conn, client.writer) };
}

/** Waits until the raw MD holds `expectedHex`'s length, then checks the bytes are exactly those. */
async function expectWire(peer: RawPeer, expectedHex: string): Promise<void> {
  const n = expectedHex.length / 2;
  await waitFor(() => peer.received().length >= n, { what: () => `${n} bytes at the raw MD (have ${peer.received().length})` });
  const got = peer.received();
  expect(got.length, 'bytes received').toBe(n);
  if (n > 4096) expect(sameBytes(got, Buffer.from(expectedHex, 'hex'))).toBe(true); // a readable message for big ones
  else expect(hex(got)).toBe(expectedHex);
}

/** A routed datagram: `addServerHeader(to, from, type)` and a string. */
function routed(to: number | bigint, from: number | bigint, msgType: number, text: string): PyDatagram {
  const dg = new PyDatagram();
  dg.addServerHeader(to, from, msgType);
  dg.addString(text);
  return dg;
}

/** Runs `fn`, returns what it threw (fails if it did not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe.each(MODES)('MdParticipant bytes on the wire ($name)', ({ threads }) => {
  it('every control message is byte for byte Astron’s, 64-bit channels up to 2^64 − 1 included', async () => {
    const { peer, md } = await setup(threads);
    const post = routed(MAX, 4000n, 2100, 'zone 7 gone');
    const results = [
      md.registerForChannel(0),
      md.registerForChannel(4000),
      md.registerForChannel(2 ** 53 - 1),
      md.registerForChannel(2n ** 53n),
      md.registerForChannel(MAX),
      md.unregisterForChannel(MAX - 1n),
      md.unregisterForChannel(4000n),
      md.registerForRange(100, 200),
      md.registerForRange(MAX - 15n, MAX),
      md.registerForRange(7, 7n),
      md.unregisterForRange(150n, 160),
      md.unregisterForRange(0, MAX),
      md.addPostRemove(4000, post),
      md.addPostRemove(MAX, post),
      md.clearPostRemoves(4000n),
      md.clearPostRemoves(MAX),
      md.setConName('zone-7 é'),
      md.setConUrl('tcp://127.0.0.1:7199'),
      md.setConName(''),
    ];
    expect(results.every((r) => r === true), `results ${results.join(',')}`).toBe(true);
    const postHex = '01' + u64(MAX) + u64(4000) + u16(2100) + blob('zone 7 gone');
    expect(hex(post.getMessage())).toBe(postHex); // the datagram itself (sanity of the helper)
    await expectWire(
      peer,
      [
        control(9000, u64(0)),
        control(9000, u64(4000)),
        control(9000, u64(2 ** 53 - 1)),
        control(9000, u64(2n ** 53n)),
        control(9000, 'ffffffffffffffff'),
        control(9001, 'feffffffffffffff'),
        control(9001, u64(4000)),
        control(9002, u64(100) + u64(200)),
        control(9002, 'f0ffffffffffffff' + 'ffffffffffffffff'),
        control(9002, u64(7) + u64(7)),
        control(9003, u64(150) + u64(160)),
        control(9003, u64(0) + 'ffffffffffffffff'),
        control(9010, u64(4000) + u16(postHex.length / 2) + postHex),
        control(9010, 'ffffffffffffffff' + u16(postHex.length / 2) + postHex),
        control(9011, u64(4000)),
        control(9011, 'ffffffffffffffff'),
        control(9012, blob('zone-7 é')),
        control(9013, blob('tcp://127.0.0.1:7199')),
        control(9012, blob('')),
      ].join(''),
    );
  });

  it('send writes the datagram unchanged: addServerHeader, several recipients, a control datagram', async () => {
    const { peer, md } = await setup(threads);
    const one = routed(MAX, 2n ** 53n + 1n, 0xffff, 'hello');
    const many = new PyDatagram();
    many.addUint8(3);
    many.addUint64(5000);
    many.addUint64(MAX);
    many.addUint64(5000);
    many.addUint64(4000); // sender
    many.addUint16(1234);
    many.addBlob(patternBytes(300, 3));
    const bare = new Datagram(); // header only, no payload
    bare.addUint8(0);
    bare.addUint64(4000);
    bare.addUint16(7);
    const log = new PyDatagram(); // LOG_MESSAGE (9014) has no method: send builds any control datagram
    log.addServerControlHeader(9014);
    log.addBlob(new Uint8Array([1, 2, 3]));
    expect([md.send(one), md.send(many), md.send(bare, true), md.send(log)]).toEqual([true, true, true, true]);
    await expectWire(
      peer,
      framed('01' + 'ffffffffffffffff' + u64(2n ** 53n + 1n) + 'ffff' + blob('hello')) +
        framed('03' + u64(5000) + 'ffffffffffffffff' + u64(5000) + u64(4000) + u16(1234) + blob(patternBytes(300, 3))) +
        framed('00' + u64(4000) + u16(7)) +
        control(9014, blob(new Uint8Array([1, 2, 3]))),
    );
  });

  it('a post-remove of 65,514 bytes (the most one frame carries) goes out whole; 65,515 throws TooLongError', async () => {
    const { peer, md } = await setup(threads);
    const big = new PyDatagram();
    big.addServerHeader(5000, 4000, 1);
    big.appendData(patternBytes(MAX_POST_REMOVE_SIZE - big.getLength(), 9));
    expect(big.getLength()).toBe(65_514);
    const tooBig = new PyDatagram(big);
    tooBig.addUint8(0);
    const e = thrown(() => md.addPostRemove(1, tooBig));
    expect(e).toBeInstanceOf(TooLongError);
    expect((e as TooLongError).code).toBe(ErrorCode.TOO_LONG);
    expect(md.addPostRemove(1, big)).toBe(true);
    const expected = control(9010, u64(1) + u16(65_514) + hex(big.getMessage()));
    expect(expected.length / 2).toBe(2 + 65_535);
    const n = expected.length / 2;
    await waitFor(() => peer.received().length >= n, { what: () => `${n} bytes (have ${peer.received().length})` });
    expect(sameBytes(peer.received(), Buffer.from(expected, 'hex'))).toBe(true);
  });

  it('bad arguments throw typed errors and send nothing', async () => {
    const { peer, md } = await setup(threads);
    const expectErr = (fn: () => unknown, cls: new (...a: never[]) => PandaNetError, code: string): void => {
      const e = thrown(fn);
      expect(e, String(e)).toBeInstanceOf(cls);
      expect((e as PandaNetError).code).toBe(code);
    };
    const range = ErrorCode.VALUE_OUT_OF_RANGE;
    const arg = ErrorCode.INVALID_ARGUMENT;
    const bad = ErrorCode.BAD_MD_DATAGRAM;
    // Channels: 0..2^64-1, numbers exact (safe integers), numbers or bigints only.
    expectErr(() => md.registerForChannel(-1), ValueRangeError, range);
    expectErr(() => md.registerForChannel(-1n), ValueRangeError, range);
    expectErr(() => md.registerForChannel(MAX + 1n), ValueRangeError, range);
    expectErr(() => md.registerForChannel(1.5), ValueRangeError, range);
    expectErr(() => md.registerForChannel(Number.NaN), ValueRangeError, range);
    expectErr(() => md.registerForChannel(2 ** 53), ValueRangeError, range);
    expectErr(() => md.unregisterForChannel('5' as unknown as number), InvalidArgumentError, arg);
    expectErr(() => md.clearPostRemoves(null as unknown as number), InvalidArgumentError, arg);
    // Ranges: inclusive, lo <= hi, across number and bigint.
    expectErr(() => md.registerForRange(10, 9), InvalidArgumentError, arg);
    expectErr(() => md.unregisterForRange(MAX, 2 ** 53 - 1), InvalidArgumentError, arg);
    expectErr(() => md.registerForRange(0, MAX + 1n), ValueRangeError, range);
    // Post-removes: a Datagram holding a whole routed MD datagram.
    expectErr(() => md.addPostRemove(1, new Uint8Array(19) as unknown as Datagram), InvalidArgumentError, arg);
    expectErr(() => md.addPostRemove(1, new Datagram()), MdDatagramError, bad); // empty
    const short = new Datagram();
    short.addUint8(2);
    short.addUint64(5000); // says 2 recipients, holds 1
    expectErr(() => md.addPostRemove(1, short), MdDatagramError, bad);
    const noType = new Datagram();
    noType.addUint8(1);
    noType.addUint64(5000);
    noType.addUint64(4000); // no message type
    expectErr(() => md.addPostRemove(1, noType), MdDatagramError, bad);
    const ctl = new PyDatagram();
    ctl.addServerControlHeader(9000);
    ctl.addUint64(5);
    expectErr(() => md.addPostRemove(1, ctl), MdDatagramError, bad);
    expectErr(() => md.addPostRemove(-1, routed(1, 2, 3, 'x')), ValueRangeError, range);
    // Names.
    expectErr(() => md.setConName(5 as unknown as string), InvalidArgumentError, arg);
    expectErr(() => md.setConUrl(undefined as unknown as string), InvalidArgumentError, arg);
    expectErr(() => md.setConName('x'.repeat(65_523)), TooLongError, ErrorCode.TOO_LONG);
    // send: a Datagram with a whole header (the MD would terminate a participant for less).
    expectErr(() => md.send('hi' as unknown as Datagram), InvalidArgumentError, arg);
    expectErr(() => md.send(new Datagram()), MdDatagramError, bad);
    expectErr(() => md.send(short), MdDatagramError, bad);
    expectErr(() => md.send(noType), MdDatagramError, bad);
    expectErr(() => md.send(new Datagram(patternBytes(65_536, 4).fill(0, 0, 1))), TooLongError, ErrorCode.TOO_LONG);
    // Nothing of the above reached the wire: the first bytes are the marker's, and only those.
    expect(md.setConName('x'.repeat(65_522))).toBe(true); // the longest name that fits one frame
    expect(md.registerForChannel(42)).toBe(true);
    await expectWire(peer, control(9012, blob('x'.repeat(65_522))) + control(9000, u64(42)));
  });

  it('the constructor takes an open TCP stream and a 2-byte-header writer, else a typed error', async () => {
    const { client } = await setup(threads);
    const { manager, writer, conn } = client;
    const code = (fn: () => unknown): string => (thrown(fn) as PandaNetError).code;
    expect(code(() => new MdParticipant(null as never, writer))).toBe(ErrorCode.NULL_CONNECTION);
    expect(code(() => new MdParticipant({} as never, writer))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => new MdParticipant(conn, {} as never))).toBe(ErrorCode.INVALID_ARGUMENT);
    const udp = manager.openUDPConnection('127.0.0.1', 0);
    expect(udp).not.toBeNull();
    expect(code(() => new MdParticipant(udp!, writer))).toBe(ErrorCode.WRONG_CONNECTION_KIND);
    const rendezvous = manager.openTCPServerRendezvous('127.0.0.1', 0, 1);
    expect(rendezvous).not.toBeNull();
    expect(code(() => new MdParticipant(rendezvous!, writer))).toBe(ErrorCode.WRONG_CONNECTION_KIND);
    const w4 = new ConnectionWriter(manager, threads);
    w4.setTcpHeaderSize(4);
    expect(code(() => new MdParticipant(conn, w4))).toBe(ErrorCode.INVALID_ARGUMENT);
    const wRaw = new ConnectionWriter(manager, threads);
    wRaw.setRawMode(true);
    expect(code(() => new MdParticipant(conn, wRaw))).toBe(ErrorCode.INVALID_ARGUMENT);
    const md = new MdParticipant(conn, writer);
    expect(md.getConnection()).toBe(conn);
    expect(md.getWriter()).toBe(writer);
  });

  it('on a closed connection every call returns false and throws nothing', async () => {
    const { client, md } = await setup(threads);
    client.manager.closeConnection(client.conn);
    expect([
      md.registerForChannel(1),
      md.unregisterForChannel(1),
      md.registerForRange(1, 2),
      md.unregisterForRange(1, 2),
      md.addPostRemove(1, routed(5, 1, 1, 'x')),
      md.clearPostRemoves(1),
      md.setConName('a'),
      md.setConUrl('b'),
      md.send(routed(5, 1, 1, 'x')),
    ]).toEqual([false, false, false, false, false, false, false, false, false]);
  });

  it('a writer whose queue cap is 0: threaded, send returns false at once and a control call after a bounded wait; immediate (polled) has no queue', async () => {
    const { peer, client, md } = await setup(threads);
    client.writer.setMaxQueueSize(0); // a threaded writer finds its queue full at every send
    const sent = md.send(routed(5, 1, 1, 'data'));
    const registered = md.registerForChannel(5); // threaded: waits (bounded) for room that never comes
    client.writer.setMaxQueueSize(10_000);
    expect(md.registerForChannel(6)).toBe(true);
    if (threads > 0) {
      expect([sent, registered]).toEqual([false, false]);
      await expectWire(peer, control(9000, u64(6)));
    } else {
      expect([sent, registered]).toEqual([true, true]); // Panda's immediate writer: no queue, no cap
      await expectWire(peer, framed(hex(routed(5, 1, 1, 'data').getMessage())) + control(9000, u64(5)) + control(9000, u64(6)));
    }
  });

  it('a control call waits for room in a full queue instead of losing the subscription; send does not wait', async () => {
    const { peer, client, md } = await setup(threads);
    const d1 = routed(5, 1, 1, 'first');
    client.writer.setMaxQueueSize(1);
    client.writer.cork(); // the I/O threads are not woken: d1 stays in the (threaded) queue, which is then full
    expect(md.send(d1)).toBe(true);
    const d2 = md.send(routed(5, 1, 1, 'second')); // threaded: refused at once unless a thread took d1 meanwhile
    expect(md.registerForChannel(5)).toBe(true); // threaded: waits (bounded) while the threads drain the queue
    client.writer.uncork();
    if (threads === 0) expect(d2).toBe(true); // the immediate writer has no queue
    const second = d2 ? framed(hex(routed(5, 1, 1, 'second').getMessage())) : '';
    await expectWire(peer, framed(hex(d1.getMessage())) + second + control(9000, u64(5)));
  });

  it('connect() opens the reader, writer and connection, names the participant; routed datagrams arrive on the reader', async () => {
    const raw = await rawListen();
    const manager = new QueuedConnectionManager();
    onTestFinished(() => void manager.shutdown());
    const link = await MdParticipant.connect(manager, '127.0.0.1', raw.port, { threads, name: 'zone-7' });
    expect(link.participant.getConnection()).toBe(link.connection);
    expect(link.participant.getWriter()).toBe(link.writer);
    expect(link.reader.getNumThreads()).toBe(threads);
    await waitFor(() => raw.peers.length === 1, { what: 'connect() reached the raw MD' });
    const peer = raw.peers[0]!;
    expect(link.participant.registerForChannel(4000)).toBe(true);
    await expectWire(peer, control(9012, blob('zone-7')) + control(9000, u64(4000)));
    // The MD routes a datagram here: it is read with the usual reader, bytes unchanged.
    const routedHex = '02' + u64(4000) + u64(MAX) + u64(9) + u16(77) + blob('to the zone');
    await peer.write(Buffer.from(framed(routedHex), 'hex'));
    const got = await receive(link.reader, 1, { what: 'the routed datagram' });
    expect(hex(got[0]!.bytes)).toBe(routedHex);
    expect(got[0]!.conn).toBe(link.connection);
  });

  it('connect() to a closed port rejects with a SocketError', async () => {
    const port = await closedPort();
    const manager = new QueuedConnectionManager();
    onTestFinished(() => void manager.shutdown());
    const err = await MdParticipant.connect(manager, '127.0.0.1', port, { threads, timeoutMs: 2000 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SocketError);
    expect((err as SocketError).code).toBe(ErrorCode.SOCKET);
  });
});

// ---------------------------------------------------------------------------------------------------
// Layer (b): end to end through a real MessageDirector. Participants have their own managers, readers
// and writers; a probe barrier (one participant sends probes on a channel until another receives one)
// proves the MD has applied a participant's earlier control messages, since it handles each
// connection's datagrams in order.

/** A received MD datagram, parsed. */
interface Msg {
  to: bigint[];
  from: bigint;
  type: number;
  text: string;
  bytes: Uint8Array;
}

const PROBE = 1;
const DATA = 2000;

/** One participant of the test: its own manager, reader, writer and connection. */
interface Member {
  name: string;
  manager: QueuedConnectionManager;
  link: MdParticipantLink;
  md: MdParticipant;
  /** Everything but probes, in arrival order. */
  got: Msg[];
  /** Ids of the probes received. */
  probes: Set<string>;
}

function parseMsg(bytes: Uint8Array): Msg {
  const it = new PyDatagramIterator(new PyDatagram(bytes));
  const n = it.getUint8();
  const to: bigint[] = [];
  for (let i = 0; i < n; i++) to.push(it.getUint64());
  const from = it.getUint64();
  const type = it.getUint16();
  return { to, from, type, text: it.getString(), bytes };
}

/** A routed datagram to every channel of `to` (duplicates kept), from `from`, holding `text`. */
function toMany(to: readonly (number | bigint)[], from: number | bigint, type: number, text: string): PyDatagram {
  const dg = new PyDatagram();
  dg.addUint8(to.length);
  for (const c of to) dg.addUint64(c);
  dg.addUint64(from);
  dg.addUint16(type);
  dg.addString(text);
  return dg;
}

async function startDirector(threads: number): Promise<MdAddress> {
  const director = new MessageDirector({ host: '127.0.0.1', port: 0, threads, name: 'md-participant-test' });
  onTestFinished(() => director.stop());
  return director.start();
}

async function join(addr: MdAddress, threads: number, name: string): Promise<Member> {
  const manager = new QueuedConnectionManager();
  onTestFinished(() => void manager.shutdown());
  const link = await MdParticipant.connect(manager, addr.host, addr.port, { threads, name });
  return { name, manager, link, md: link.participant, got: [], probes: new Set() };
}

/** Takes what every member's reader holds. */
function pump(members: readonly Member[]): void {
  const tmp: Received[] = [];
  for (const m of members) {
    tmp.length = 0;
    takeAll(m.link.reader, tmp);
    for (const r of tmp) {
      const msg = parseMsg(r.bytes);
      if (msg.type === PROBE) m.probes.add(msg.text);
      else m.got.push(msg);
    }
  }
}

let barrierId = 0;
/**
 * `from` sends probes to `channel` until `to` receives one of them: one every 5 ms at most (the
 * subscription being waited for travels on another connection, which the MD may read later than a
 * burst of probes), and at most 2,000 in all.
 */
async function barrier(from: Member, to: Member, channel: number | bigint, all: readonly Member[]): Promise<void> {
  const id = `barrier-${++barrierId}`;
  let sent = 0;
  let last = Number.NEGATIVE_INFINITY;
  await waitFor(() => to.probes.has(id), {
    what: () => `${to.name} to receive a probe on channel ${channel} from ${from.name} (${sent} sent)`,
    tick: () => {
      pump(all);
      const now = performance.now();
      if (sent < 2000 && now - last >= 5 && !to.probes.has(id)) {
        if (!from.md.send(toMany([channel], 999, PROBE, id))) throw new Error('probe refused');
        sent++;
        last = now;
      }
    },
  });
}

/** Waits until `m` has received a datagram whose text is `text`. */
async function until(m: Member, text: string, all: readonly Member[]): Promise<void> {
  await waitFor(() => m.got.some((g) => g.text === text), { what: () => `${m.name} to receive "${text}" (has ${m.got.map((g) => g.text).join(', ')})`, tick: () => pump(all) });
}

const texts = (m: Member): string[] => m.got.map((g) => g.text);

describe.each(MODES)('MdParticipant through a MessageDirector ($name)', ({ threads }) => {
  it('routes by channel and inclusive range, once per participant, never back to the sender, bytes unchanged', async () => {
    const addr = await startDirector(threads);
    const a = await join(addr, threads, 'A');
    const b = await join(addr, threads, 'B');
    const c = await join(addr, threads, 'C');
    const all = [a, b, c];
    expect(b.md.registerForChannel(5000)).toBe(true);
    expect(b.md.registerForRange(6000, 6999)).toBe(true);
    expect(c.md.registerForChannel(5000n)).toBe(true);
    expect(c.md.registerForRange(MAX - 9n, MAX)).toBe(true);
    await barrier(a, b, 6999, all);
    await barrier(a, c, MAX, all);
    const three = toMany([5000, 6000, 5000], 100, DATA, 'three');
    const sent = [
      toMany([5000], 100, DATA, 'one'),
      toMany([6999], 100, DATA, 'two'),
      three,
      toMany([MAX], 100, DATA, 'four'),
      toMany([7000, 5999, MAX - 10n], 100, DATA, 'five'), // just outside every subscription
      toMany([6000, MAX - 9n], 100, DATA, 'six'),
      toMany([5000], 100, DATA, 'end'),
    ];
    for (const dg of sent) expect(a.md.send(dg)).toBe(true);
    expect(b.md.send(toMany([5000, 6000], 200, DATA, 'seven'))).toBe(true); // B holds both: still not back to B
    await until(b, 'end', all);
    await until(c, 'end', all);
    await until(c, 'seven', all);
    // C's marker reaches B after anything the MD routed before it, 'seven' included had it gone back to B.
    expect(c.md.send(toMany([5000], 300, DATA, 'end-c'))).toBe(true);
    await until(b, 'end-c', all);
    expect(texts(b)).toEqual(['one', 'two', 'three', 'six', 'end', 'end-c']);
    expect(texts(c).filter((t) => t !== 'seven')).toEqual(['one', 'three', 'four', 'six', 'end']);
    expect(texts(c).filter((t) => t === 'seven')).toHaveLength(1);
    expect(a.got).toHaveLength(0);
    expect(hex(b.got[2]!.bytes)).toBe(hex(three.getMessage())); // recipient list not rewritten
    expect(b.got[2]!.to).toEqual([5000n, 6000n, 5000n]);
    expect(c.got.find((g) => g.text === 'four')!.to).toEqual([MAX]);
  });

  it('unregisterForChannel and unregisterForRange stop delivery (the range is sliced, inclusive)', async () => {
    const addr = await startDirector(threads);
    const a = await join(addr, threads, 'A');
    const b = await join(addr, threads, 'B');
    const all = [a, b];
    b.md.registerForChannel(5000);
    b.md.registerForRange(6000, 6999);
    await barrier(a, b, 6000, all);
    expect(b.md.unregisterForChannel(5000)).toBe(true);
    expect(b.md.unregisterForRange(6000, 6499)).toBe(true);
    expect(b.md.registerForChannel(5999)).toBe(true);
    await barrier(a, b, 5999, all);
    for (const [ch, text] of [
      [5000, 'x'],
      [6000, 'y'],
      [6499, 'y2'],
      [6500, 'z'],
      [6999, 'z2'],
      [5999, 'end'],
    ] as const) {
      expect(a.md.send(toMany([ch], 100, DATA, text))).toBe(true);
    }
    await until(b, 'end', all);
    expect(texts(b)).toEqual(['z', 'z2', 'end']);
  });

  it('post-removes fire when the connection closes; clearPostRemoves keeps a key’s from firing', async () => {
    const addr = await startDirector(threads);
    const a = await join(addr, threads, 'A');
    const b = await join(addr, threads, 'B');
    const c = await join(addr, threads, 'C');
    const all = [a, b, c];
    b.md.registerForChannel(5000);
    await barrier(c, b, 5000, all);
    const gone = toMany([5000], 100, DATA, 'A gone');
    const gone2 = toMany([5000, 5000], 100, DATA, 'A gone 2'); // once, though listed twice
    expect(a.md.addPostRemove(100, gone)).toBe(true);
    expect(a.md.addPostRemove(101, toMany([5000], 101, DATA, 'cleared'))).toBe(true);
    expect(a.md.clearPostRemoves(101)).toBe(true);
    expect(a.md.addPostRemove(100n, gone2)).toBe(true);
    expect(a.md.addPostRemove(MAX, toMany([5000], MAX, DATA, 'A gone 3'))).toBe(true);
    // Nothing fires while A is connected.
    expect(c.md.send(toMany([5000], 300, DATA, 'still here'))).toBe(true);
    await until(b, 'still here', all);
    expect(texts(b)).toEqual(['still here']);
    a.manager.closeConnection(a.link.connection);
    await until(b, 'A gone 3', all);
    expect(c.md.send(toMany([5000], 300, DATA, 'end'))).toBe(true);
    await until(b, 'end', all);
    expect(texts(b)).toEqual(['still here', 'A gone', 'A gone 2', 'A gone 3', 'end']);
    expect(hex(b.got[1]!.bytes)).toBe(hex(gone.getMessage()));
    expect(hex(b.got[2]!.bytes)).toBe(hex(gone2.getMessage()));
  });

  it('post-removes fire when the connection is reset (a raw participant that sends RST)', async () => {
    const addr = await startDirector(threads);
    const a = await join(addr, threads, 'A');
    const b = await join(addr, threads, 'B');
    const all = [a, b];
    b.md.registerForChannel(5000);
    await barrier(a, b, 5000, all);
    const raw = await rawConnect(addr.port);
    const gone = toMany([5000], 77, DATA, 'raw gone');
    await raw.write(Buffer.from(control(9010, u64(77) + blob(gone.getMessage())) + control(9000, u64(7777)), 'hex'));
    // The raw participant's own probe barrier: A's probe on 7777 reaching it proves the MD read both messages.
    const id = 'raw-probe';
    const probe = Buffer.from(framed(hex(toMany([7777], 999, PROBE, id).getMessage())), 'hex');
    let sent = 0;
    let last = Number.NEGATIVE_INFINITY;
    await waitFor(() => raw.received().includes(probe), {
      what: () => `the raw participant to receive a probe (${sent} sent)`,
      tick: () => {
        const now = performance.now();
        if (sent < 2000 && now - last >= 5) {
          a.md.send(toMany([7777], 999, PROBE, id));
          sent++;
          last = now;
        }
      },
    });
    raw.socket.resetAndDestroy();
    await until(b, 'raw gone', all);
    expect(hex(b.got[0]!.bytes)).toBe(hex(gone.getMessage()));
  });
});
