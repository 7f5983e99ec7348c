/**
 * Send accounting ("nothing lost, nothing wedged", defects 2 and 10): a send the writer refuses —
 * queue cap, outbound-ring record limit, a collect-tcp flush the ring cannot take at once, a datagram
 * over `maxDatagramSize` — leaves no trace in `getPendingSendBytes()`, `getCurrentQueueSize()` or the
 * connection's stats, and later sends go through; what is accepted reaches the peer, byte for byte.
 * Raw `node:net` peers on 127.0.0.1, every mode.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  Datagram,
  ErrorCode,
  FrameTooLargeError,
  NetAddress,
  NetDatagram,
  PandaNetError,
  QueuedConnectionManager,
  QueuedConnectionReader,
  ConnectionWriter,
  type Connection,
  type NetConfigPatch,
} from '../../src/index.js';
import {
  MODES,
  acceptAll,
  makeClient,
  makeServer,
  patternBytes,
  rawListen,
  receive,
  takeResets,
  waitFor,
  withNetConfig,
  type Client,
  type RawPeer,
} from '../helpers/net.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A pandanet client (its own manager, `threads` threads) connected to a raw `node:net` peer that reads. */
async function clientToRawPeer(threads: number, patch: NetConfigPatch = {}): Promise<{ client: Client; conn: Connection; peer: RawPeer }> {
  const raw = await rawListen();
  const client = withNetConfig(patch, () => makeClient(raw.port, threads));
  await waitFor(() => raw.peers.length === 1, { what: 'the raw peer to accept the client' });
  return { client, conn: client.conn, peer: raw.peers[0]! };
}

/** Waits until the peer has `bytes` bytes and the connection has nothing pending. */
async function settle(conn: Connection, peer: RawPeer, bytes: number): Promise<void> {
  await waitFor(() => peer.received().length >= bytes, { what: () => `${bytes} bytes at the peer (have ${peer.received().length}, pending ${conn.getPendingSendBytes()})` });
  await waitFor(() => conn.getPendingSendBytes() === 0, { what: () => `pending send bytes back to 0 (${conn.getPendingSendBytes()})` });
  expect(peer.received().length).toBe(bytes);
}

/** Sends 10 datagrams of 1,000 bytes on `conn` and waits until the peer has them all and nothing is pending; the bytes framed. */
async function sendTenAndSettle(client: Client, conn: Connection, peer: RawPeer): Promise<number> {
  for (let i = 0; i < 10; i++) expect(client.writer.send(new Datagram(patternBytes(1000, i)), conn)).toBe(true);
  const framed = 10 * 1002; // 2-byte headers
  await settle(conn, peer, framed);
  return framed;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return err instanceof PandaNetError ? err.code : `not a PandaNetError: ${String(err)}`;
  }
  return undefined;
}

describe.each(MODES)('send accounting ($name)', ({ threads }) => {
  it('writer cap 0, 5,000 sends of 1 KiB, cap restored: only accepted sends are counted; later sends go through', async () => {
    const { client, conn, peer } = await clientToRawPeer(threads);
    const writer = client.writer;
    const dg = new Datagram(patternBytes(1024, 7));
    writer.setMaxQueueSize(0);
    let accepted = 0;
    for (let i = 0; i < 5000; i++) if (writer.send(dg, conn)) accepted++;
    writer.setMaxQueueSize(10_000);
    // A threaded writer with cap 0 takes nothing; an immediate writer has no cap (Panda), so it takes
    // what the per-connection high-water mark lets through.
    if (threads > 0) expect(accepted, 'sends accepted by a threaded writer with cap 0').toBe(0);
    else expect(accepted).toBeGreaterThan(0);
    const stats = conn.getStats();
    expect({ datagramsOut: stats.datagramsOut, bytesOut: stats.bytesOut }).toEqual({ datagramsOut: accepted, bytesOut: accepted * 1024 });
    await settle(conn, peer, accepted * 1026);
    expect(writer.getCurrentQueueSize()).toBe(0);
    for (let i = 0; i < 10; i++) expect(writer.send(dg, conn), `send #${i} after the cap was restored`).toBe(true);
    await settle(conn, peer, (accepted + 10) * 1026);
    expect(conn.getStats().datagramsOut).toBe(accepted + 10);
    expect(writer.getCurrentQueueSize()).toBe(0);
  });

  it('a datagram over the outbound ring record limit throws TooLongError and is not counted', async () => {
    // A 4 KiB outbound ring takes records of at most 2,036 bytes.
    const { client, conn, peer } = await clientToRawPeer(threads, { ringBytes: { outbound: 4096 } });
    const writer = client.writer;
    const big = new Datagram(patternBytes(3000, 3));
    expect(codeOf(() => writer.send(big, conn))).toBe(ErrorCode.TOO_LONG);
    writer.setRawMode(true);
    expect(codeOf(() => writer.send(big, conn))).toBe(ErrorCode.TOO_LONG);
    expect(conn.getPendingSendBytes(), 'pending bytes after two refused sends').toBe(0);
    expect(conn.getStats().datagramsOut).toBe(0);
    expect(conn.getStats().bytesOut).toBe(0);
    const small = new Datagram(patternBytes(100, 4));
    expect(writer.send(small, conn)).toBe(true);
    await settle(conn, peer, 100);
    expect(Buffer.compare(peer.received(), Buffer.from(small.getMessage()))).toBe(0);
    expect(conn.getStats()).toMatchObject({ datagramsOut: 1, bytesOut: 100 });
  });

  it('collect-tcp: a flush larger than the outbound ring record limit goes out in pieces; nothing lost, nothing pending', async () => {
    const { client, conn, peer } = await clientToRawPeer(threads, { ringBytes: { outbound: 4096 } });
    conn.setCollectTcp(true);
    conn.setCollectTcpInterval(3600);
    conn.flush(); // the interval starts now: the sends below are held
    const payloads = [0, 1, 2, 3, 4].map((i) => patternBytes(1000, 10 + i));
    for (const p of payloads) expect(client.writer.send(new Datagram(p), conn)).toBe(true);
    expect(peer.received().length).toBe(0);
    expect(conn.getPendingSendBytes(), 'held bytes count as pending').toBe(5 * 1002);
    expect(conn.flush(), 'flush of 5,010 held bytes').toBe(true);
    await settle(conn, peer, 5 * 1002);
    const want = Buffer.concat(payloads.map((p) => Buffer.concat([Buffer.from([p.length & 0xff, p.length >>> 8]), Buffer.from(p)])));
    expect(Buffer.compare(peer.received(), want), 'the bytes the peer received').toBe(0);
    expect(conn.getStats()).toMatchObject({ datagramsOut: 5, bytesOut: 5000 });
  });

  it('header 4: a 2 MiB datagram over the default maxDatagramSize (1 MiB) throws FrameTooLargeError; nothing sent or counted; the reader keeps the connection', async () => {
    const server = makeServer(threads);
    server.reader.setTcpHeaderSize(4);
    const client = makeClient(server.port, threads);
    const [serverConn] = await acceptAll(server, 1);
    client.writer.setTcpHeaderSize(4);
    const conn = client.conn;
    let err: unknown = null;
    let result: boolean | undefined;
    try {
      result = client.writer.send(new Datagram(new Uint8Array(2 * MiB)), conn);
    } catch (e) {
      err = e;
    }
    expect(result, 'send returned instead of throwing').toBeUndefined();
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect((err as FrameTooLargeError).code).toBe(ErrorCode.FRAME_TOO_LARGE);
    expect((err as FrameTooLargeError).announced).toBe(2 * MiB);
    expect((err as FrameTooLargeError).maximum).toBe(1 * MiB);
    expect(conn.getStats()).toMatchObject({ datagramsOut: 0, bytesOut: 0 });
    expect(conn.getPendingSendBytes()).toBe(0);
    // Exactly maxDatagramSize is allowed, and arrives; the connection was never reset.
    const edge = patternBytes(1 * MiB, 5);
    expect(client.writer.send(new Datagram(edge), conn)).toBe(true);
    const got = await receive(server.reader, 1, { what: 'the 1 MiB datagram' });
    expect(got[0]!.conn).toBe(serverConn);
    expect(got[0]!.bytes.length).toBe(1 * MiB);
    expect(Buffer.compare(Buffer.from(got[0]!.bytes), Buffer.from(edge))).toBe(0);
    const resets: Connection[] = [];
    takeResets(server.manager, resets);
    takeResets(client.manager, resets);
    expect(resets).toEqual([]);
    expect(conn.getStats()).toMatchObject({ datagramsOut: 1, bytesOut: 1 * MiB });
  });

  it('maxDatagramSize raised via setNetConfig: a 2 MiB datagram with header 4 is sent', async () => {
    const { client, conn, peer } = await clientToRawPeer(threads, { maxDatagramSize: 4 * MiB });
    client.writer.setTcpHeaderSize(4);
    expect(client.writer.send(new Datagram(new Uint8Array(2 * MiB).fill(9)), conn)).toBe(true);
    await settle(conn, peer, 2 * MiB + 4);
    expect(peer.received().readUInt32LE(0)).toBe(2 * MiB);
  });

  it('maxDatagramSize applies to framed sends only: header 2 refuses past it, raw mode and UDP do not', async () => {
    const { client, conn, peer } = await clientToRawPeer(threads, { maxDatagramSize: 512 });
    const dg = new Datagram(patternBytes(600, 6));
    expect(codeOf(() => client.writer.send(dg, conn))).toBe(ErrorCode.FRAME_TOO_LARGE);
    expect(client.writer.send(new Datagram(patternBytes(512, 6)), conn), 'exactly maxDatagramSize').toBe(true);
    client.writer.setRawMode(true); // no length header: nothing for a reader to refuse
    expect(client.writer.send(dg, conn)).toBe(true);
    await settle(conn, peer, 514 + 600);
    expect(conn.getStats()).toMatchObject({ datagramsOut: 2, bytesOut: 1112 });

    // UDP readers do not apply maxDatagramSize, so UDP sends ignore it (as before).
    const manager = withNetConfig({ maxDatagramSize: 512 }, () => new QueuedConnectionManager());
    onTestFinished(() => void manager.shutdown());
    const reader = new QueuedConnectionReader(manager, threads);
    const writer = new ConnectionWriter(manager, threads);
    const rx = manager.openUDPConnection('127.0.0.1', 0);
    const tx = manager.openUDPConnection('127.0.0.1', 0);
    expect(rx).not.toBeNull();
    expect(tx).not.toBeNull();
    expect(reader.addConnection(rx!)).toBe(true);
    const to = new NetAddress();
    to.setHost('127.0.0.1', rx!.getLocalAddress().getPort());
    expect(writer.send(dg, tx!, to)).toBe(true);
    const got: NetDatagram[] = [];
    await waitFor(() => {
      const d = new NetDatagram();
      if (reader.dataAvailable() && reader.getData(d)) got.push(d);
      return got.length === 1;
    }, { what: 'the 600-byte UDP datagram' });
    expect(got[0]!.getLength()).toBe(600);
    expect(tx!.getStats()).toMatchObject({ datagramsOut: 1, bytesOut: 600 });
  });

  it('a closed connection has nothing pending: after closeConnection, and after its reset is taken, once its thread let the socket go', async () => {
    const threadConnections = (c: Client, conn: Connection): number => c.manager.getThreadStats()[conn.getThreadIndex()]!.connections;

    const a = await clientToRawPeer(threads);
    await sendTenAndSettle(a.client, a.conn, a.peer);
    expect(a.client.manager.closeConnection(a.conn)).toBe(true);
    await waitFor(() => a.peer.ended, { what: 'the FIN at the peer' });
    a.peer.socket.end(); // the peer closes its side too, so the socket goes at once (not at the half-open bound)
    await waitFor(() => threadConnections(a.client, a.conn) === 0, { what: 'the closed socket to be gone from its I/O thread' });
    expect(a.conn.getPendingSendBytes(), 'after closeConnection').toBe(0);

    const b = await clientToRawPeer(threads);
    await sendTenAndSettle(b.client, b.conn, b.peer);
    b.peer.socket.destroy();
    const resets: Connection[] = [];
    await waitFor(() => resets.length === 1 && threadConnections(b.client, b.conn) === 0, { what: 'the reset, and the socket gone from its I/O thread', tick: () => takeResets(b.client.manager, resets) });
    expect(b.conn.getPendingSendBytes(), 'after its reset was taken').toBe(0);
  });

  it('a reset held back for its datagrams: once the socket is gone, nothing is pending (its thread may give the slot to another stream)', async () => {
    const { client, conn, peer } = await clientToRawPeer(threads);
    await sendTenAndSettle(client, conn, peer);
    await peer.write(new Uint8Array([3, 0, 7, 8, 9])); // one datagram the application does not take
    await waitFor(() => client.reader.dataAvailable(), { what: 'the datagram in the reader’s queue (before the RST, which would discard it unread)' });
    peer.socket.resetAndDestroy(); // RST: the socket goes at once (a FIN would leave it half-open for the replies)
    const thread = conn.getThreadIndex();
    // The reset is held until that datagram is taken; the manager's queue stays empty meanwhile.
    await waitFor(() => client.manager.getThreadStats()[thread]!.connections === 0 && !client.manager.resetConnectionAvailable() && client.reader.dataAvailable(), {
      what: () => `the socket gone from its I/O thread (connections ${client.manager.getThreadStats()[thread]!.connections}), the datagram waiting (${client.reader.getCurrentQueueSize()}) and the reset held`,
    });
    expect(conn.getPendingSendBytes(), 'while the reset is held').toBe(0);
    const got = await receive(client.reader, 1, { what: 'the datagram before the reset' });
    expect(got).toHaveLength(1);
    const resets: Connection[] = [];
    await waitFor(() => resets.length === 1, { what: 'the reset, after the datagram', tick: () => takeResets(client.manager, resets) });
  });
});
