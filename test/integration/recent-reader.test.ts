/**
 * RecentConnectionReader (spec §2.6.2, Q11) over real sockets on 127.0.0.1: only the newest datagram is
 * kept; getData fills a NetDatagram's connection and address. The reader always has 1 thread; the other
 * components (listener, writers, client reader) run in every mode.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  type Connection,
  ConnectionWriter,
  Datagram,
  ErrorCode,
  NetAddress,
  NetDatagram,
  PandaNetError,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
} from '../../src/index.js';
import { RecentConnectionReader } from '../../src/main/recent-connection-reader.js';
import { MODES, pumpFor, readText, textDatagram, waitFor } from '../helpers/net.js';

interface Setup {
  server: QueuedConnectionManager;
  recent: RecentConnectionReader;
  listener: QueuedConnectionListener;
  rendezvous: Connection;
  /** The server's end of the TCP connection, monitored by `recent`. */
  accepted: Connection;
  client: QueuedConnectionManager;
  clientWriter: ConnectionWriter;
  /** The client's end. */
  conn: Connection;
}

/** Total datagrams the manager's I/O threads have received. */
function datagramsIn(m: QueuedConnectionManager): number {
  return m.getThreadStats().reduce((s, t) => s + t.datagramsIn, 0);
}

async function setup(threads: number): Promise<Setup> {
  const server = new QueuedConnectionManager();
  onTestFinished(() => void server.shutdown());
  const listener = new QueuedConnectionListener(server, threads);
  const recent = new RecentConnectionReader(server);
  const rendezvous = server.openTCPServerRendezvous('127.0.0.1', 0, 10);
  if (rendezvous === null) throw new Error(`listen failed: ${String(server.getLastError())}`);
  expect(listener.addConnection(rendezvous)).toBe(true);
  const port = rendezvous.getLocalAddress().getPort();

  const client = new QueuedConnectionManager();
  onTestFinished(() => void client.shutdown());
  const clientWriter = new ConnectionWriter(client, threads);
  const conn = client.openTCPClientConnection('127.0.0.1', port, 3000);
  if (conn === null) throw new Error(`connect failed: ${String(client.getLastError())}`);

  const ptr = new PointerToConnection();
  await waitFor(() => listener.newConnectionAvailable() && listener.getNewConnection(ptr), { what: 'the accepted connection' });
  const accepted = ptr.p()!;
  expect(recent.addConnection(accepted)).toBe(true);
  return { server, recent, listener, rendezvous, accepted, client, clientWriter, conn };
}

describe.each(MODES)('RecentConnectionReader (other components: $name)', ({ threads }) => {
  it('always one thread, never polling', async () => {
    const s = await setup(threads);
    expect(s.recent.getNumThreads()).toBe(1);
    expect(s.recent.isPolling()).toBe(false);
    expect(s.server.getNumIoThreads()).toBe(Math.max(1, threads));
    expect(s.recent.dataAvailable()).toBe(false);
    expect(s.recent.getData(new NetDatagram())).toBe(false);
  });

  it('keeps only the most recent datagram; NetDatagram gets connection and address (Q11 fix)', async () => {
    const s = await setup(threads);
    for (let i = 0; i < 3; i++) expect(s.clientWriter.send(textDatagram('update', i), s.conn)).toBe(true);
    await waitFor(() => datagramsIn(s.server) >= 3, { what: 'the server threads to receive 3 datagrams' });
    await pumpFor(5, () => {});

    expect(s.recent.dataAvailable()).toBe(true);
    expect(s.recent.dataAvailable()).toBe(true); // asking again keeps it
    const dg = new NetDatagram();
    expect(s.recent.getData(dg)).toBe(true);
    expect(readText(dg.getMessage())).toEqual({ text: 'update', n: 2 });
    expect(dg.getConnection()).toBe(s.accepted);
    expect(dg.getAddress().getPort()).toBe(s.conn.getLocalAddress().getPort());
    expect(dg.getAddress().equals(s.accepted.getAddress())).toBe(true);
    expect(s.recent.getSupersededCount()).toBe(2);

    // Taken: nothing held any more.
    expect(s.recent.dataAvailable()).toBe(false);
    expect(s.recent.getData(dg)).toBe(false);
    expect(readText(dg.getMessage()).n).toBe(2); // a failed getData leaves the datagram alone
  });

  it('a plain Datagram gets only the bytes; getData collects without dataAvailable', async () => {
    const s = await setup(threads);
    expect(s.clientWriter.send(textDatagram('plain', 7), s.conn)).toBe(true);
    const dg = new Datagram();
    await waitFor(() => s.recent.getData(dg), { what: 'the datagram via getData alone' });
    expect(readText(dg.getMessage())).toEqual({ text: 'plain', n: 7 });
    expect(dg).not.toBeInstanceOf(NetDatagram);
  });

  it('a stream of updates taken one by one arrives in order', async () => {
    const s = await setup(threads);
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) {
      expect(s.clientWriter.send(textDatagram('tick', i), s.conn)).toBe(true);
      const dg = new NetDatagram();
      await waitFor(() => s.recent.dataAvailable() && s.recent.getData(dg), { what: `update ${i}` });
      seen.push(readText(dg.getMessage()).n);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.recent.getSupersededCount()).toBe(0);
  });

  it('the held datagram survives the peer closing; the connection is then no longer ok', async () => {
    const s = await setup(threads);
    expect(s.clientWriter.send(textDatagram('last words', 9), s.conn)).toBe(true);
    await waitFor(() => s.recent.dataAvailable(), { what: 'the last datagram' });
    expect(s.client.closeConnection(s.conn)).toBe(true);
    const resets: Connection[] = [];
    await waitFor(() => resets.length > 0, {
      what: 'the reset of the accepted connection',
      tick: () => {
        const c = s.server.getResetConnection();
        if (c !== null) resets.push(c);
      },
    });
    expect(resets).toEqual([s.accepted]);
    expect(s.recent.isConnectionOk(s.accepted)).toBe(false);
    const dg = new NetDatagram();
    expect(s.recent.getData(dg)).toBe(true);
    expect(readText(dg.getMessage()).n).toBe(9);
    expect(dg.getConnection()).toBe(s.accepted);
  });

  it('UDP: the newest packet with its sender address', async () => {
    const s = await setup(threads);
    const udp = s.server.openUDPConnection('127.0.0.1', 0);
    expect(udp).not.toBeNull();
    expect(s.recent.addConnection(udp!)).toBe(true);
    const port = udp!.getLocalAddress().getPort();
    const sender = s.client.openUDPConnection('127.0.0.1', 0);
    expect(sender).not.toBeNull();
    const to = NetAddress.fromHostPort('127.0.0.1', port);
    const dg = new NetDatagram();
    // UDP may drop: send until one is held.
    let i = 0;
    await waitFor(() => s.recent.getData(dg), {
      what: 'a UDP datagram',
      tick: () => {
        if (i < 100) expect(s.clientWriter.send(textDatagram('udp', i++), sender!, to)).toBe(true);
      },
    });
    expect(readText(dg.getMessage()).text).toBe('udp');
    expect(dg.getConnection()).toBe(udp);
    expect(dg.getAddress().getPort()).toBe(sender!.getLocalAddress().getPort());
  });

  it('rejects a rendezvous and a non-datagram argument', async () => {
    const s = await setup(threads);
    let err: unknown;
    try {
      s.recent.addConnection(s.rendezvous);
    } catch (e) {
      err = e;
    }
    expect((err as PandaNetError).code).toBe(ErrorCode.WRONG_CONNECTION_KIND);
    expect(() => s.recent.getData({} as Datagram)).toThrow(PandaNetError);
  });
});
