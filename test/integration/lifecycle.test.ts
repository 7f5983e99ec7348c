/**
 * Connection lifecycle (spec §5): peer close → one reset after the peer's datagrams, application close →
 * no reset, send on a closed connection → false + reset, removeConnection / re-add, and the process
 * exiting by itself once everything is closed. Every test runs in every mode.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { runExitScript } from '../helpers/exit-script.js';
import { NetDatagram, QueuedConnectionManager, QueuedConnectionReader, type Connection } from '../../src/index.js';
import {
  MODES,
  withNetConfig,
  acceptAll,
  expectSame,
  frame,
  makeClient,
  makeServer,
  pumpFor,
  rawConnect,
  readText,
  receive,
  takeAll,
  takeResets,
  textDatagram,
  waitFor,
  type Received,
} from '../helpers/net.js';

describe.each(MODES)('lifecycle ($name)', ({ threads }) => {
  it('peer close → exactly one reset, after every datagram the peer sent before closing', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads, 2);
    const [a, b] = await acceptAll(server, 2);
    const closing = client.connections.find((c) => c.getLocalAddress().getPort() === a!.getAddress().getPort())!;
    const staying = client.connections.find((c) => c !== closing)!;

    for (let i = 0; i < 5; i++) expect(client.writer.send(textDatagram('before close', i), closing)).toBe(true);
    expect(client.manager.closeConnection(closing)).toBe(true);

    // The reset waits for the datagrams sent before it: while the application has not taken them, it
    // is not reported, and the connection stays open and monitored (its replies would still go out).
    await waitFor(() => server.manager.getThreadStats().reduce((n, t) => n + t.resets, 0) === 1, { what: 'the I/O thread to see the peer close' });
    const resets: Connection[] = [];
    await pumpFor(20, () => takeResets(server.manager, resets));
    expect(resets).toEqual([]);
    expect(a!.isOpen()).toBe(true);
    expect(server.reader.isConnectionOk(a!)).toBe(true);

    // Taking them releases it; nothing of the connection comes after it.
    const got: Received[] = [];
    let afterReset = 0;
    await waitFor(() => resets.length > 0, {
      what: 'the reset of the closed peer',
      tick: () => {
        const before = got.length;
        takeAll(server.reader, got);
        if (resets.length > 0) afterReset += got.length - before;
        takeResets(server.manager, resets);
      },
    });
    takeAll(server.reader, got);
    expectSame(resets, [a]);
    expect(afterReset).toBe(0);
    expectSame(got.map((r) => r.conn), Array.from({ length: 5 }, () => a));
    expect(got.map((r) => readText(r.bytes).n)).toEqual([0, 1, 2, 3, 4]);

    expect(server.reader.isConnectionOk(a!)).toBe(false);
    expect(a!.isOpen()).toBe(false);
    expect(server.manager.closeConnection(a!)).toBe(false);

    // Barrier: a round trip on the other connection; still exactly one reset, and it is unaffected.
    expect(client.writer.send(textDatagram('still here', 9), staying)).toBe(true);
    const after = await receive(server.reader, 1, { what: 'from the connection that stayed' });
    expect(after[0]!.conn).toBe(b);
    takeResets(server.manager, resets);
    expect(resets).toHaveLength(1);
    expect(server.reader.isConnectionOk(b!)).toBe(true);
    // The client closed locally: no reset on its side.
    expect(client.manager.resetConnectionAvailable()).toBe(false);
  });

  it('peer close while the reader ring is full → the reset comes only after all 200 datagrams', async () => {
    const server = withNetConfig({ ringBytes: { reader: 16 << 10 } }, () => makeServer(threads));
    const client = makeClient(server.port, threads);
    const [accepted] = await acceptAll(server, 1);
    const N = 200;
    for (let i = 0; i < N; i++) expect(client.writer.send(textDatagram('x'.repeat(500), i), client.conn)).toBe(true);
    expect(client.manager.closeConnection(client.conn)).toBe(true);
    await waitFor(() => server.manager.getThreadStats().some((t) => t.backpressurePauses > 0), { what: 'the reader ring to fill (backpressure)' });
    // Drain slowly, a few at a time; the reset must not show up while datagrams are still to come.
    const got: Received[] = [];
    const resets: Connection[] = [];
    let atReset = -1;
    await waitFor(() => resets.length > 0, {
      what: () => `the reset (after ${got.length} datagrams)`,
      tick: () => {
        takeResets(server.manager, resets);
        if (resets.length > 0 && atReset < 0) {
          takeAll(server.reader, got); // everything sent before the close is retrievable once the reset is seen
          atReset = got.length;
          return;
        }
        for (let k = 0; k < 5 && server.reader.dataAvailable(); k++) {
          const batch: Received[] = [];
          const dg = new NetDatagram();
          if (server.reader.getData(dg)) batch.push({ conn: dg.getConnection(), bytes: dg.getMessage(), address: dg.getAddress() });
          got.push(...batch);
        }
      },
    });
    expectSame(resets, [accepted]);
    expect(atReset).toBe(N);
    expect(got.map((r) => readText(r.bytes).n)).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it('closeConnection by the application → true, then false, no reset; pending sends are flushed and the peer sees EOF', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [accepted] = await acceptAll(server, 1);

    for (let i = 0; i < 3; i++) expect(server.writer.send(textDatagram('last words', i), accepted!)).toBe(true);
    expect(server.manager.closeConnection(accepted!)).toBe(true);
    expect(server.manager.closeConnection(accepted!)).toBe(false);
    expect(server.reader.isConnectionOk(accepted!)).toBe(false);
    expect(accepted!.isOpen()).toBe(false);

    // The peer gets everything sent before the close, then EOF (a reset on its side).
    const clientResets: Connection[] = [];
    const got: Received[] = [];
    await waitFor(() => clientResets.length > 0, {
      what: 'the client to see EOF',
      tick: () => {
        takeAll(client.reader, got);
        takeResets(client.manager, clientResets);
      },
    });
    takeAll(client.reader, got);
    expect(got.map((r) => readText(r.bytes).n)).toEqual([0, 1, 2]);
    expectSame(clientResets, [client.conn]);
    expect(client.reader.isConnectionOk(client.conn)).toBe(false);

    // The server, which closed it itself, reports nothing.
    const serverResets: Connection[] = [];
    takeResets(server.manager, serverResets);
    expect(serverResets).toEqual([]);

    // Spec §12.17: sending on a connection that is closed → false, and a reset entry.
    expect(server.writer.send(textDatagram('too late'), accepted!)).toBe(false);
    takeResets(server.manager, serverResets);
    expectSame(serverResets, [accepted]);
  });

  it('closeConnection of foreign or null connections is false', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    await acceptAll(server, 1);
    expect(server.manager.closeConnection(client.conn)).toBe(false); // another manager's connection
    expect(server.manager.closeConnection(null)).toBe(false);
    expect(client.conn.isOpen()).toBe(true);
  });

  it('closing the rendezvous stops accepting; existing connections keep working', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [accepted] = await acceptAll(server, 1);
    expect(server.manager.closeConnection(server.rendezvous)).toBe(true);
    expect(server.listener.isConnectionOk(server.rendezvous)).toBe(false);
    // A new connect is eventually refused (the close reaches the I/O thread asynchronously; a connect
    // that lands in the backlog while the socket closes is reset instead, ECONNRESET: try again).
    await waitFor(
      () => client.manager.openTCPClientConnection('127.0.0.1', server.port, 1000) === null && client.manager.getLastError()?.errno === 'ECONNREFUSED',
      { what: () => `connects to be refused after the rendezvous closed (last error ${client.manager.getLastError()?.errno ?? 'none'})` },
    );
    expect(client.writer.send(textDatagram('after rv close', 1), client.conn)).toBe(true);
    const got = await receive(server.reader, 1, { what: 'on the existing connection' });
    expect(got[0]!.conn).toBe(accepted);
  });

  it('removeConnection: nothing is delivered from that connection until it is added again, then in order', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads, 2);
    const [a, b] = await acceptAll(server, 2);
    const toA = client.connections.find((c) => c.getLocalAddress().getPort() === a!.getAddress().getPort())!;
    const toB = client.connections.find((c) => c !== toA)!;

    expect(server.reader.removeConnection(a!)).toBe(true);
    expect(server.reader.removeConnection(a!)).toBe(false);
    expect(server.reader.isConnectionOk(a!)).toBe(false);
    expect(a!.isOpen()).toBe(true); // the socket stays open

    for (let i = 0; i < 3; i++) expect(client.writer.send(textDatagram('while removed', i), toA)).toBe(true);
    // Barrier: the other connection's datagrams come through; none of a's.
    for (let i = 0; i < 3; i++) expect(client.writer.send(textDatagram('other', i), toB)).toBe(true);
    const got = await receive(server.reader, 3, { what: 'from the connection still monitored' });
    await pumpFor(50, () => takeAll(server.reader, got));
    expectSame(got.map((r) => r.conn), [b, b, b]);
    expect(server.manager.resetConnectionAvailable()).toBe(false);

    // Re-adding delivers what waited, in order, then what is sent afterwards.
    expect(server.reader.addConnection(a!)).toBe(true);
    for (let i = 3; i < 5; i++) expect(client.writer.send(textDatagram('after re-add', i), toA)).toBe(true);
    const fromA = await receive(server.reader, 5, { what: 'the held datagrams after re-adding' });
    expectSame(fromA.map((r) => r.conn), [a, a, a, a, a]);
    expect(fromA.map((r) => readText(r.bytes))).toEqual([
      { text: 'while removed', n: 0 },
      { text: 'while removed', n: 1 },
      { text: 'while removed', n: 2 },
      { text: 'after re-add', n: 3 },
      { text: 'after re-add', n: 4 },
    ]);
  });

  it('removeConnection in the middle of a frame, then re-add: the frame arrives intact (no bytes lost)', async () => {
    const server = makeServer(threads);
    const raw = await rawConnect(server.port);
    const [conn] = await acceptAll(server, 1);
    const b = Buffer.from('0123456789');
    const fb = frame(b, 2);
    // Frame A complete plus the first half of frame B in one write; A's arrival shows the chunk was read.
    await raw.write(Buffer.concat([frame(Buffer.from('A'), 2), fb.subarray(0, 6)]));
    const first = await receive(server.reader, 1, { what: 'frame A' });
    expect(Buffer.from(first[0]!.bytes).toString()).toBe('A');
    expect(server.reader.removeConnection(conn!)).toBe(true);
    expect(server.reader.addConnection(conn!)).toBe(true);
    await raw.write(Buffer.concat([fb.subarray(6), frame(Buffer.from('C'), 2)]));
    const rest = await receive(server.reader, 2, { what: 'frames B and C after re-adding (a lost partial frame desynchronises the stream)', timeoutMs: 1500 });
    expect(rest.map((r) => Buffer.from(r.bytes).toString())).toEqual(['0123456789', 'C']);
    expectSame(rest.map((r) => r.conn), [conn, conn]);
  });

  it('removeConnection while the reader ring is full, then re-add: every datagram arrives, in order', async () => {
    // Small reader rings so that the thread has to hold datagrams back (backpressure).
    const server = withNetConfig({ ringBytes: { reader: 16 << 10 } }, () => makeServer(threads));
    const client = makeClient(server.port, threads);
    const [conn] = await acceptAll(server, 1);
    const N = 200;
    for (let i = 0; i < N; i++) {
      const dg = textDatagram('x'.repeat(500), i);
      expect(client.writer.send(dg, client.conn)).toBe(true);
    }
    // Nobody drains the reader: its ring fills and the I/O thread holds the rest back.
    await waitFor(() => server.manager.getThreadStats().some((t) => t.backpressurePauses > 0), { what: 'the reader ring to fill (backpressure)' });
    expect(server.reader.removeConnection(conn!)).toBe(true);
    expect(server.reader.addConnection(conn!)).toBe(true);
    const got: Received[] = [];
    await waitFor(() => got.length >= N, { what: () => `all ${N} datagrams after re-adding (have ${got.length})`, timeoutMs: 2000, tick: () => takeAll(server.reader, got) });
    expect(got.map((r) => readText(r.bytes).n)).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it('after removeConnection, a poll delivers nothing from that connection, even what had already arrived', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [conn] = await acceptAll(server, 1);
    for (let i = 0; i < 3; i++) expect(client.writer.send(textDatagram('arrived before removal', i), client.conn)).toBe(true);
    // The I/O thread has them (counted), but the application has not polled yet.
    await waitFor(() => server.manager.getThreadStats().reduce((s, t) => s + t.datagramsIn, 0) >= 3, { what: 'the server thread to receive 3 datagrams' });
    expect(server.reader.removeConnection(conn!)).toBe(true);
    const got: Received[] = [];
    takeAll(server.reader, got);
    if (threads === 0) {
      // Polled (Panda's contract): nothing is queued until polled, and a poll reads only monitored connections.
      expect(got.map((r) => readText(r.bytes).n)).toEqual([]);
    } else {
      // Threaded: they were queued on arrival, before the removal, and stay retrievable. (The thread
      // counts a datagram just before it publishes it into the ring, so the last one may become
      // visible a moment after the count: wait for it.)
      await waitFor(() => got.length >= 3, { what: () => `the 3 datagrams queued before the removal (have ${got.length})`, tick: () => takeAll(server.reader, got) });
      expect(got.map((r) => readText(r.bytes).n)).toEqual([0, 1, 2]);
    }
    expect(server.reader.addConnection(conn!)).toBe(true);
    await waitFor(() => got.length >= 3, { what: 'the 3 datagrams after re-adding', tick: () => takeAll(server.reader, got) });
    expect(got.map((r) => readText(r.bytes).n)).toEqual([0, 1, 2]);
  });

  it('reader.shutdown(): queued datagrams stay retrievable, nothing more is read, connections stay open', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [conn] = await acceptAll(server, 1);
    expect(client.writer.send(textDatagram('queued', 1), client.conn)).toBe(true);
    await waitFor(() => server.reader.dataAvailable(), { what: 'the datagram to be queued' });
    server.reader.shutdown();
    server.reader.shutdown(); // idempotent
    expect(server.reader.isConnectionOk(conn!)).toBe(false);
    expect(server.reader.addConnection(conn!)).toBe(false);
    expect(conn!.isOpen()).toBe(true);
    const got: Received[] = [];
    takeAll(server.reader, got);
    expect(got.map((r) => readText(r.bytes))).toEqual([{ text: 'queued', n: 1 }]);
    // Another reader can take the connection over and sees what is sent next.
    const reader2 = new QueuedConnectionReader(server.manager, threads);
    expect(reader2.addConnection(conn!)).toBe(true);
    expect(client.writer.send(textDatagram('to reader 2', 2), client.conn)).toBe(true);
    const later = await receive(reader2, 1, { what: 'the datagram at the second reader' });
    expect(readText(later[0]!.bytes)).toEqual({ text: 'to reader 2', n: 2 });
    takeAll(server.reader, got);
    expect(got).toHaveLength(1);
  });

  it('closeConnection of a connection no reader monitors releases its socket promptly (no 5 s linger)', async () => {
    const server = makeServer(threads);
    const m = new QueuedConnectionManager();
    onTestFinished(() => void m.shutdown());
    new QueuedConnectionReader(m, threads); // sets the thread count; the connection is never added to it
    const c = m.openTCPClientConnection('127.0.0.1', server.port, 3000);
    expect(c).not.toBeNull();
    const [accepted] = await acceptAll(server, 1);
    await waitFor(() => m.getThreadStats().reduce((s, t) => s + t.connections, 0) === 1, { what: 'the client thread to count its socket' });
    expect(m.closeConnection(c)).toBe(true);
    // The server sees the FIN and reports the reset: the close did go out.
    const resets: Connection[] = [];
    await waitFor(() => resets.length > 0, { what: 'the server to see the client close', tick: () => takeResets(server.manager, resets) });
    expectSame(resets, [accepted]);
    // Both ends are closed now; the client's I/O thread must let go of the socket (it keeps the process alive).
    await waitFor(() => m.getThreadStats().reduce((s, t) => s + t.connections, 0) === 0, { what: 'the closed socket to be released by its I/O thread', timeoutMs: 2000 });
  });

  it('the process exits by itself once every connection is closed (no shutdown call)', async () => {
    const result = await runExitScript('exit-check.mjs', exitScript, [String(threads)]);
    expect(result.signal, `the child was killed at the 10 s deadline: it did not exit by itself. Output:\n${result.out}`).toBeNull();
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('exchanged: hello 42');
    expect(result.out).toContain('closed everything');
  }, 15_000);
});

/**
 * A standalone ESM script: one manager serving itself (server + two clients, one opened with the Async
 * twin), one datagram each way, one client closing first (the server sees a reset and does not close it
 * again), then everything else closed; plus an idle manager with components but no sockets. No shutdown.
 */
function exitScript(indexUrl: string): string {
  return `
import { QueuedConnectionManager, QueuedConnectionListener, QueuedConnectionReader, ConnectionWriter,
  PointerToConnection, NetAddress, NetDatagram, Datagram, DatagramIterator } from ${JSON.stringify(indexUrl)};
const threads = Number(process.argv[2]);
const tick = () => new Promise((r) => setImmediate(r));
async function until(what, cond) {
  const deadline = performance.now() + 5000;
  while (!cond()) {
    if (performance.now() > deadline) { console.error('timed out waiting for ' + what); process.exit(3); }
    await tick();
  }
}
const idle = new QueuedConnectionManager();
new QueuedConnectionReader(idle, threads); new ConnectionWriter(idle, threads);
const m = new QueuedConnectionManager();
const listener = new QueuedConnectionListener(m, threads);
const reader = new QueuedConnectionReader(m, threads);
const writer = new ConnectionWriter(m, threads);
const rv = m.openTCPServerRendezvous('127.0.0.1', 0, 10);
listener.addConnection(rv);
const port = rv.getLocalAddress().getPort();
const client = m.openTCPClientConnection('127.0.0.1', port, 3000);
const leaving = await m.openTCPClientConnectionAsync('127.0.0.1', port, 3000);
if (client === null || leaving === null) { console.error('connect failed'); process.exit(2); }
reader.addConnection(client);
const accepted = [];
const r = new PointerToConnection(), a = new NetAddress(), nc = new PointerToConnection();
await until('accepts', () => {
  while (listener.newConnectionAvailable() && listener.getNewConnection(r, a, nc)) { reader.addConnection(nc.p()); accepted.push(nc.p()); }
  return accepted.length === 2;
});
const toClient = accepted.find((c) => c.getAddress().getPort() === client.getLocalAddress().getPort());
const toLeaving = accepted.find((c) => c !== toClient);
// One datagram from the server on 'leaving' first: its reader surely monitors it before it closes.
reader.addConnection(leaving);
const bye = new Datagram(); bye.addString('bye');
writer.send(bye, toLeaving);
const byeIn = new NetDatagram();
await until('bye at the leaving client', () => reader.dataAvailable() && reader.getData(byeIn) && byeIn.getConnection() === leaving);
m.closeConnection(leaving);
const reset = new PointerToConnection();
await until('the reset of the client that left', () => m.resetConnectionAvailable() && m.getResetConnection(reset));
if (reset.p() !== toLeaving) { console.error('wrong reset'); process.exit(6); }
const dg = new Datagram(); dg.addString('hello'); dg.addUint32(42);
writer.send(dg, client);
const got = new NetDatagram();
await until('datagram at server', () => reader.dataAvailable() && reader.getData(got));
if (got.getConnection() !== toClient) { console.error('wrong connection'); process.exit(4); }
writer.send(got, toClient);
await until('echo at client', () => reader.dataAvailable() && reader.getData(got));
const it = new DatagramIterator(got);
console.log('exchanged: ' + it.getString() + ' ' + it.getUint32());
if (!m.closeConnection(client) || !m.closeConnection(toClient) || !m.closeConnection(rv)) { console.error('close failed'); process.exit(5); }
console.log('closed everything');
`;
}
