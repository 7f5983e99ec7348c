/**
 * Accept, echo, broadcast, thread spread, the Async twins and argument errors, over real sockets on
 * 127.0.0.1, in every mode (polled, 1 thread, 2 threads).
 */
import { describe, expect, it } from 'vitest';
import {
  ConnectionWriter,
  Datagram,
  ErrorCode,
  NetAddress,
  NetDatagram,
  PandaNetError,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  type Connection,
} from '../../src/index.js';
import {
  MODES,
  acceptAll,
  expectSame,
  closedPort,
  echoTick,
  makeClient,
  makeServer,
  readText,
  receive,
  takeResets,
  textDatagram,
  waitFor,
  withNetConfig,
  type Received,
} from '../helpers/net.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof PandaNetError) return err.code;
    throw err;
  }
  return undefined;
}

describe.each(MODES)('basics ($name)', ({ threads }) => {
  it('accepts a client and echoes its datagrams; every Connection is the same object', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    expect(client.conn.getManager()).toBe(client.manager);
    expect(client.conn.getAddress().getPort()).toBe(server.port);
    const [accepted] = await acceptAll(server, 1);
    expect(accepted!.getManager()).toBe(server.manager);
    expect(accepted!.getAddress().getPort()).toBe(client.conn.getLocalAddress().getPort());

    for (let i = 0; i < 3; i++) expect(client.writer.send(textDatagram(`hello ${i}`, i), client.conn)).toBe(true);

    // Server side: the datagram names the accepted connection object itself.
    const atServer = await receive(server.reader, 3, { what: 'at the server' });
    for (const [i, r] of atServer.entries()) {
      expect(r.conn).toBe(accepted);
      expect(readText(r.bytes)).toEqual({ text: `hello ${i}`, n: i });
      expect(r.address.getPort()).toBe(client.conn.getLocalAddress().getPort());
    }
    for (const r of atServer) {
      const dg = new NetDatagram();
      dg.appendData(r.bytes);
      dg.setConnection(r.conn);
      expect(server.writer.send(dg, dg.getConnection()!)).toBe(true);
    }

    // Client side: the echo comes back on the client's own connection object, in order.
    const atClient = await receive(client.reader, 3, { what: 'echoed at the client' });
    expect(atClient.map((r) => readText(r.bytes))).toEqual([0, 1, 2].map((i) => ({ text: `hello ${i}`, n: i })));
    for (const r of atClient) {
      expect(r.conn).toBe(client.conn);
      expect(r.address.getPort()).toBe(server.port);
    }
    expect(client.manager.resetConnectionAvailable()).toBe(false);
    expect(server.manager.resetConnectionAvailable()).toBe(false);
  });

  it('echoes through echoTick while the client keeps sending (server and client pumped together)', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    await acceptAll(server, 1);
    const got: Received[] = [];
    for (let i = 0; i < 50; i++) expect(client.writer.send(textDatagram('ping', i), client.conn)).toBe(true);
    got.push(...(await receive(client.reader, 50, { what: 'echoes', tick: echoTick(server) })));
    expect(got.map((r) => readText(r.bytes).n)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('broadcasts one datagram to each of 20 clients; each receives exactly its own', async () => {
    const N = 20;
    const server = makeServer(threads);
    const client = makeClient(server.port, threads, N);
    const accepted = await acceptAll(server, N);
    expect(new Set(accepted).size).toBe(N);
    for (const c of accepted) expect(server.writer.send(textDatagram('to', c.getAddress().getPort()), c)).toBe(true);

    const got = await receive(client.reader, N, { what: 'broadcast datagrams' });
    expect(got).toHaveLength(N);
    const perConn = new Map<Connection, number>();
    for (const r of got) {
      expect(r.conn).not.toBeNull();
      perConn.set(r.conn!, (perConn.get(r.conn!) ?? 0) + 1);
      // The server addressed it by the client's local port: it went to the right connection.
      expect(readText(r.bytes)).toEqual({ text: 'to', n: r.conn!.getLocalAddress().getPort() });
    }
    expect(perConn.size).toBe(N);
    for (const c of client.connections) expect(perConn.get(c)).toBe(1);
  });

  it(`spreads accepted connections over the I/O threads (${threads === 2 ? 'both threads used' : 'all on thread 0'})`, async () => {
    const N = 8;
    // The fd hand-off's round-robin (reuse-port.test.ts checks the reusePort path's spread, with more clients).
    const server = withNetConfig({ reusePort: false }, () => makeServer(threads));
    expect(server.manager.getNumIoThreads()).toBe(Math.max(1, threads));
    const client = makeClient(server.port, threads, N);
    const accepted = await acceptAll(server, N);
    const indexes = accepted.map((c) => c.getThreadIndex());
    if (threads === 2) {
      expect(new Set(indexes)).toEqual(new Set([0, 1]));
      expect(new Set(client.connections.map((c) => c.getThreadIndex()))).toEqual(new Set([0, 1]));
    } else {
      expect(indexes).toEqual(Array.from({ length: N }, () => 0));
      expect(client.connections.map((c) => c.getThreadIndex())).toEqual(Array.from({ length: N }, () => 0));
    }
    // Every connection works wherever it lives: one echo round trip each.
    for (const [i, c] of client.connections.entries()) expect(client.writer.send(textDatagram('spread', i), c)).toBe(true);
    const got = await receive(client.reader, N, { what: 'echo from every thread', tick: echoTick(server) });
    for (const r of got) expect(r.conn).toBe(client.connections[readText(r.bytes).n]);
    const stats = server.manager.getThreadStats();
    expect(stats).toHaveLength(Math.max(1, threads));
    // Each thread counts the connections it serves (the rendezvous is not a stream).
    await waitFor(() => server.manager.getThreadStats().reduce((s, t) => s + t.datagramsIn, 0) >= N, { what: 'stats to count the datagrams' });
    const perThread = server.manager.getThreadStats().map((t) => t.connections);
    expect(perThread.reduce((a, b) => a + b, 0)).toBe(N);
    for (const [i, count] of perThread.entries()) expect(count).toBe(indexes.filter((x) => x === i).length);
  });

  it('listener queue cap: past it the new connection is closed and the overflow flag set', async () => {
    const server = makeServer(threads);
    server.listener.setMaxQueueSize(1);
    expect(server.listener.getMaxQueueSize()).toBe(1);
    const client = makeClient(server.port, threads, 2);
    const resets: Connection[] = [];
    // The second accept does not fit: the server closes it, so the client sees that connection reset.
    await waitFor(() => server.listener.getOverflowFlag() && resets.length === 1, {
      what: 'the listener overflow and the refused client to be reset',
      tick: () => {
        server.listener.newConnectionAvailable();
        takeResets(client.manager, resets);
      },
    });
    expect(server.listener.getCurrentQueueSize()).toBe(1);
    const kept = server.listener.getNewConnection();
    expect(kept).not.toBeNull();
    const keptClient = client.connections.find((c) => c.getLocalAddress().getPort() === kept!.getAddress().getPort());
    expect(keptClient).toBeDefined();
    expectSame(resets, client.connections.filter((c) => c !== keptClient));
    server.listener.resetOverflowFlag();
    expect(server.listener.getOverflowFlag()).toBe(false);
    // The kept one works.
    expect(server.reader.addConnection(kept!)).toBe(true);
    expect(client.writer.send(textDatagram('kept', 1), keptClient!)).toBe(true);
    const got = await receive(server.reader, 1, { what: 'from the kept connection' });
    expect(got[0]!.conn).toBe(kept);
  });

  it('Async twins: openTCPServerRendezvousAsync and openTCPClientConnectionAsync work; a refused connect gives null', async () => {
    const m = new QueuedConnectionManager();
    const listener = new QueuedConnectionListener(m, threads);
    const reader = new QueuedConnectionReader(m, threads);
    const writer = new ConnectionWriter(m, threads);
    try {
      const rv = await m.openTCPServerRendezvousAsync('127.0.0.1', 0, 10);
      expect(rv).not.toBeNull();
      expect(listener.addConnection(rv!)).toBe(true);
      const port = rv!.getLocalAddress().getPort();
      expect(port).toBeGreaterThan(0);

      const c = await m.openTCPClientConnectionAsync('127.0.0.1', port, 3000);
      expect(c).not.toBeNull();
      expect(c!.getAddress().getPort()).toBe(port);
      await waitFor(() => listener.newConnectionAvailable(), { what: 'the async client to be accepted' });
      const accepted = listener.getNewConnection();
      expect(accepted).not.toBeNull();
      expect(reader.addConnection(accepted!)).toBe(true);
      expect(writer.send(textDatagram('async', 7), c!)).toBe(true);
      const got = await receive(reader, 1, { what: 'from the async client' });
      expect(got[0]!.conn).toBe(accepted);
      expect(readText(got[0]!.bytes)).toEqual({ text: 'async', n: 7 });

      const refusedPort = await closedPort();
      const refused = await m.openTCPClientConnectionAsync('127.0.0.1', refusedPort, 3000);
      expect(refused).toBeNull();
      expect(m.getLastError()?.code).toBe(ErrorCode.SOCKET);
      expect(m.getLastError()?.errno).toBe('ECONNREFUSED');

      // The synchronous twin says the same.
      expect(m.openTCPClientConnection('127.0.0.1', refusedPort, 3000)).toBeNull();
      expect(m.getLastError()?.code).toBe('ERR_PANDANET_SOCKET');
      expect(m.getLastError()?.errno).toBe('ECONNREFUSED');
      // (A connect timeout would need a non-routable address; tests never leave loopback.)
    } finally {
      m.shutdown();
    }
  });

  it('a rendezvous on a port already in use gives null with EADDRINUSE', async () => {
    const server = makeServer(threads);
    expect(server.manager.openTCPServerRendezvous('127.0.0.1', server.port, 10)).toBeNull();
    expect(server.manager.getLastError()?.code).toBe(ErrorCode.SOCKET);
    expect(server.manager.getLastError()?.errno).toBe('EADDRINUSE');
    expect(await server.manager.openTCPServerRendezvousAsync('127.0.0.1', server.port, 10)).toBeNull();
    expect(server.manager.getLastError()?.errno).toBe('EADDRINUSE');
    // The NetAddress form binds that exact address.
    const rv = server.manager.openTCPServerRendezvous(NetAddress.fromHostPort('127.0.0.1', 0), 10);
    expect(rv).not.toBeNull();
    expect(rv!.getLocalAddress().getIpString()).toBe('127.0.0.1');
    expect(rv!.getLocalAddress().getPort()).toBeGreaterThan(0);
    expect(server.manager.closeConnection(rv)).toBe(true);
  });

  it('argument errors throw with stable codes', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [accepted] = await acceptAll(server, 1);

    // A reader monitors data connections; a listener monitors rendezvous connections.
    expect(codeOf(() => server.reader.addConnection(server.rendezvous))).toBe(ErrorCode.WRONG_CONNECTION_KIND);
    expect(codeOf(() => server.listener.addConnection(accepted!))).toBe(ErrorCode.WRONG_CONNECTION_KIND);
    expect(codeOf(() => server.reader.addConnection(null as unknown as Connection))).toBe(ErrorCode.NULL_CONNECTION);
    expect(codeOf(() => server.writer.send(new Datagram(), server.rendezvous))).toBe(ErrorCode.WRONG_CONNECTION_KIND);
    expect(codeOf(() => server.writer.send(new Datagram(), null as unknown as Connection))).toBe(ErrorCode.NULL_CONNECTION);
    expect(codeOf(() => server.rendezvous.setNoDelay(true))).toBe(ErrorCode.WRONG_CONNECTION_KIND);
    expect(codeOf(() => server.reader.setMaxQueueSize(-1))).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
    expect(codeOf(() => server.writer.setMaxQueueSize(1.5))).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
    expect(codeOf(() => new QueuedConnectionReader(server.manager, -1))).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
    expect(codeOf(() => server.manager.openTCPClientConnection('127.0.0.1', 70_000, 100))).toBe(ErrorCode.VALUE_OUT_OF_RANGE);

    // Header sizes other than 0, 2, 4.
    for (const bad of [1, 3, 5, -2, 2.5]) {
      expect(codeOf(() => server.reader.setTcpHeaderSize(bad))).toBe(ErrorCode.INVALID_HEADER_SIZE);
      expect(codeOf(() => server.writer.setTcpHeaderSize(bad))).toBe(ErrorCode.INVALID_HEADER_SIZE);
    }
    expect(server.reader.getTcpHeaderSize()).toBe(2);
    expect(server.writer.getTcpHeaderSize()).toBe(2);

    // Adding twice is false, not an error.
    expect(server.reader.addConnection(accepted!)).toBe(false);

    // A writer that was shut down refuses to send.
    client.writer.shutdown();
    client.writer.shutdown(); // idempotent
    expect(codeOf(() => client.writer.send(textDatagram('late'), client.conn))).toBe(ErrorCode.SHUT_DOWN);
    // The connection itself is still fine: another writer can use it.
    const w2 = new ConnectionWriter(client.manager, threads);
    expect(w2.send(textDatagram('other writer', 1), client.conn)).toBe(true);
    const got = await receive(server.reader, 1, { what: 'from the second writer' });
    expect(readText(got[0]!.bytes)).toEqual({ text: 'other writer', n: 1 });

    // Mode accessors.
    expect(server.reader.getNumThreads()).toBe(threads);
    expect(server.reader.isPolling()).toBe(threads === 0);
    expect(server.listener.isPolling()).toBe(threads === 0);
    expect(server.writer.isImmediate()).toBe(threads === 0);
  });
});
