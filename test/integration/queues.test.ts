/**
 * Queue rules (spec §2.9, §4.7, §12.12–14): the reader's cap and overflow flag, the threaded writer's cap,
 * polled vs threaded delivery, and per-connection order over many datagrams. Every test runs in every mode.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConnectionWriter, Datagram, DatagramIterator, NetDatagram, QueuedConnectionManager, type Connection } from '../../src/index.js';
import { MODES, acceptAll, expectSame, makeClient, makeServer, pumpFor, readText, receive, takeAll, textDatagram, waitFor, withNetConfig, type Received } from '../helpers/net.js';

describe.each(MODES)('queues ($name)', ({ threads }) => {
  it('reader cap: setMaxQueueSize(2) and 3 datagrams → 2 queued (the oldest), overflow flag, 1 dropped', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [accepted] = await acceptAll(server, 1);
    server.reader.setMaxQueueSize(2);
    expect(server.reader.getMaxQueueSize()).toBe(2);
    expect(server.reader.getOverflowFlag()).toBe(false);

    for (let i = 0; i < 3; i++) expect(client.writer.send(textDatagram('capped', i), client.conn)).toBe(true);
    // Threaded: the I/O threads enforce the cap as data arrives. Polled: the cap applies when polled
    // (dataAvailable polls), with the same observable result.
    await waitFor(() => server.reader.getDroppedCount() >= 1, {
      what: 'the third datagram to be dropped',
      tick: () => {
        if (threads === 0) server.reader.dataAvailable();
      },
    });
    expect(server.reader.getDroppedCount()).toBe(1);
    expect(server.reader.getOverflowFlag()).toBe(true);
    expect(server.reader.getCurrentQueueSize()).toBe(2);
    expect(server.reader.dataAvailable()).toBe(true);

    const got = await receive(server.reader, 2, { what: 'the two queued datagrams' });
    expect(got.map((r) => readText(r.bytes).n)).toEqual([0, 1]); // the newest was lost
    expectSame(got.map((r) => r.conn), [accepted, accepted]);
    expect(server.reader.getCurrentQueueSize()).toBe(0);
    expect(server.reader.getOverflowFlag()).toBe(true); // sticky
    server.reader.resetOverflowFlag();
    expect(server.reader.getOverflowFlag()).toBe(false);

    // Room again: the next datagram is queued, the flag stays clear.
    expect(client.writer.send(textDatagram('after', 3), client.conn)).toBe(true);
    const more = await receive(server.reader, 1, { what: 'a datagram after the queue drained' });
    expect(readText(more[0]!.bytes).n).toBe(3);
    expect(server.reader.getOverflowFlag()).toBe(false);
    expect(server.reader.getDroppedCount()).toBe(1);
  });

  it(`polled readers queue nothing until dataAvailable(); threaded readers queue as data arrives`, async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    await acceptAll(server, 1);
    expect(client.writer.send(textDatagram('x', 1), client.conn)).toBe(true);
    if (threads === 0) {
      // The datagram reaches the server's I/O thread (its counter says so) but not the queue.
      await waitFor(() => server.manager.getThreadStats()[0]!.datagramsIn >= 1, { what: 'the I/O thread to receive the datagram' });
      await pumpFor(20, () => {});
      expect(server.reader.getCurrentQueueSize()).toBe(0);
      // dataAvailable() polls (the thread counts a datagram a moment before publishing it, so poll until it shows).
      await waitFor(() => server.reader.dataAvailable(), { what: 'a poll to queue the datagram' });
      expect(server.reader.getCurrentQueueSize()).toBe(1);
    } else {
      // dataAvailable() does not poll a threaded reader: it only looks at the shared rings.
      await waitFor(() => server.reader.dataAvailable(), { what: 'the datagram to be queued without polling' });
      expect(server.reader.getCurrentQueueSize()).toBe(1);
    }
  });

  it(threads > 0 ? 'threaded writer: a full queue makes send return false' : 'immediate writer: the queue cap does not apply', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [accepted] = await acceptAll(server, 1);
    client.writer.setMaxQueueSize(0);
    expect(client.writer.getMaxQueueSize()).toBe(0);
    const sent = client.writer.send(textDatagram('over the cap', 1), client.conn);
    if (threads > 0) {
      expect(sent).toBe(false);
      expect(client.writer.getCurrentQueueSize()).toBe(0);
      // Refused, not a failure of the connection: no reset, and once there is room sending works.
      expect(client.manager.resetConnectionAvailable()).toBe(false);
      client.writer.setMaxQueueSize(10_000);
      expect(client.writer.send(textDatagram('with room', 2), client.conn)).toBe(true);
      const got = await receive(server.reader, 1, { what: 'the datagram sent with room' });
      expect(readText(got[0]!.bytes)).toEqual({ text: 'with room', n: 2 }); // the refused one was never sent
      expect(got[0]!.conn).toBe(accepted);
    } else {
      expect(sent).toBe(true);
      expect(client.writer.getCurrentQueueSize()).toBe(0);
      const got = await receive(server.reader, 1, { what: 'the datagram of the immediate writer' });
      expect(readText(got[0]!.bytes)).toEqual({ text: 'over the cap', n: 1 });
    }
  });

  it('send(..., block = true) waits for room in a full threaded queue instead of refusing', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    await acceptAll(server, 1);
    client.writer.setMaxQueueSize(1);
    const N = 100;
    for (let i = 0; i < N; i++) expect(client.writer.send(textDatagram('blocking', i), client.conn, true), `send #${i}`).toBe(true);
    const got = await receive(server.reader, N, { what: 'every blocking send' });
    expect(got.map((r) => readText(r.bytes).n)).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it("a writer of another manager can send on a connection; its queue count comes back down", async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    await acceptAll(server, 1);
    // A writer made on a third manager (Panda's writer sends on any connection it is given).
    const other = new QueuedConnectionManager();
    onTestFinished(() => void other.shutdown());
    const foreignWriter = new ConnectionWriter(other, threads);
    foreignWriter.setMaxQueueSize(3);
    const got: Received[] = [];
    for (let i = 0; i < 10; i++) {
      expect(foreignWriter.send(textDatagram('foreign', i), client.conn), `send #${i} (queue size ${foreignWriter.getCurrentQueueSize()})`).toBe(true);
      await waitFor(() => got.length > i, { what: () => `datagram #${i}`, tick: () => takeAll(server.reader, got) });
    }
    expect(got.map((r) => readText(r.bytes).n)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(foreignWriter.getCurrentQueueSize()).toBe(0);
  });

  it('queue accounting survives closing a connection whose datagrams wait for ring room', async () => {
    // Small reader rings so that the I/O thread has to hold datagrams back (backpressure).
    const server = withNetConfig({ ringBytes: { reader: 16 << 10 } }, () => makeServer(threads));
    const client = makeClient(server.port, threads, 2);
    const [a, b] = await acceptAll(server, 2);
    const toA = client.connections.find((c) => c.getLocalAddress().getPort() === a!.getAddress().getPort())!;
    const toB = client.connections.find((c) => c !== toA)!;
    for (let i = 0; i < 200; i++) expect(client.writer.send(textDatagram('x'.repeat(500), i), toA)).toBe(true);
    await waitFor(() => server.manager.getThreadStats().some((t) => t.backpressurePauses > 0), { what: 'the reader ring to fill (backpressure)' });
    // The application gives up on that connection; what is already queued stays retrievable.
    expect(server.manager.closeConnection(a!)).toBe(true);
    let fromA = 0;
    // Drain until the thread has processed the close (its stream for a is gone: until then it may
    // still read a's data and move it into the ring; a momentarily empty queue proves nothing) and
    // the count settles at 0 (what the thread still held is dropped and un-counted).
    const serverStreams = (): number => server.manager.getThreadStats().reduce((n, t) => n + t.connections, 0);
    await waitFor(
      () => {
        while (server.reader.dataAvailable()) server.reader.drainData(() => fromA++);
        return serverStreams() === 1 && server.reader.getCurrentQueueSize() === 0 && !server.reader.dataAvailable();
      },
      { what: () => `a's stream to go and the queue to settle at 0 (streams ${serverStreams()}, queue ${server.reader.getCurrentQueueSize()}, drained ${fromA})` },
    );
    if (threads === 0) {
      // Polled: nothing was queued before the close (nothing is queued until polled), and a closed
      // connection's unread data goes with its socket, as in Panda.
      expect(fromA).toBe(0);
    } else {
      // Threaded: what was queued on arrival stays retrievable (what the thread still held when it
      // processed the close is gone: how much that is depends on scheduling).
      expect(fromA).toBeGreaterThan(0);
      expect(fromA).toBeLessThanOrEqual(200);
    }
    // And the cap counts only what is really queued: 3 datagrams fit under a cap of 5.
    server.reader.setMaxQueueSize(5);
    for (let i = 0; i < 3; i++) expect(client.writer.send(textDatagram('b', i), toB)).toBe(true);
    const got = await receive(server.reader, 3, { what: 'the 3 datagrams of the other connection (dropped if the cap counts phantom entries)', timeoutMs: 2000 });
    expectSame(got.map((r) => r.conn), [b, b, b]);
    expect(server.reader.getDroppedCount()).toBe(0);
    expect(server.reader.getOverflowFlag()).toBe(false);
  });

  it('a burst 30× the reader ring: the queue never holds more than a ring of bytes, nothing dropped, order kept', async () => {
    const RING = 16 << 10;
    const COUNT = 500;
    const SIZE = 1000;
    const server = withNetConfig({ ringBytes: { reader: RING } }, () => makeServer(threads));
    const client = makeClient(server.port, threads);
    await acceptAll(server, 1);
    client.writer.setMaxQueueSize(COUNT);
    for (let i = 0; i < COUNT; i++) expect(client.writer.send(textDatagram('y'.repeat(SIZE - 20), i), client.conn)).toBe(true);
    // A slow consumer: a few datagrams per tick. Threaded, the ring is the queue; polled, each
    // dataAvailable() moves datagrams from the ring into the queue, but never past a ring's worth.
    const got: number[] = [];
    let maxQueued = 0;
    const dg = new NetDatagram();
    await waitFor(() => got.length === COUNT, {
      what: () => `all ${COUNT} datagrams (got ${got.length})`,
      tick: () => {
        for (let k = 0; k < 5 && server.reader.dataAvailable(); k++) {
          maxQueued = Math.max(maxQueued, server.reader.getCurrentQueueSize());
          if (server.reader.getData(dg)) got.push(readText(dg.getMessage()).n);
        }
      },
    });
    expect(got).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    expect(server.reader.getDroppedCount()).toBe(0);
    expect(server.reader.getOverflowFlag()).toBe(false);
    const datagramBytes = textDatagram('y'.repeat(SIZE - 20), COUNT).getLength();
    // Polled: the queue stops taking at a ring's worth of bytes. Threaded: the queue is the ring plus
    // what the thread read before it paused the socket (at most one 64 KiB socket read per connection).
    const bound = threads === 0 ? RING + datagramBytes : RING + (64 << 10) + datagramBytes;
    expect(maxQueued * datagramBytes, `at most ${maxQueued} datagrams of ${datagramBytes} B queued at once`).toBeLessThanOrEqual(bound);
    expect(maxQueued).toBeGreaterThan(1); // the bound was reached from above, not by a trickle
  });

  it('dataAvailable() true always means getData() returns a datagram (20,000 datagrams, checked one by one)', async () => {
    const CONNS = 4;
    const PER_CONN = 5_000;
    const server = makeServer(threads);
    const client = makeClient(server.port, threads, CONNS);
    await acceptAll(server, CONNS);
    const next = client.connections.map(() => 0);
    const dg = new Datagram();
    const into = new NetDatagram();
    let received = 0;
    let broken = 0;
    const tick = (): void => {
      for (let k = 0; k < 200; k++) {
        for (let i = 0; i < CONNS; i++) {
          if (next[i]! >= PER_CONN) continue;
          dg.clear();
          dg.addUint32(next[i]!);
          if (client.writer.send(dg, client.connections[i]!)) next[i]!++;
        }
      }
      // Panda's loop: while data_available(): get_data(). A true answer must be kept.
      while (server.reader.dataAvailable()) {
        if (server.reader.getData(into)) received++;
        else {
          broken++;
          break;
        }
      }
    };
    await waitFor(() => received >= CONNS * PER_CONN, { what: () => `${CONNS * PER_CONN} datagrams (have ${received})`, timeoutMs: 20_000, tick });
    expect(broken, 'times dataAvailable() said true and getData() then returned false').toBe(0);
  }, 30_000);

  it('keeps per-connection order over 10,000 datagrams on each of 4 connections at once', async () => {
    const CONNS = 4;
    const PER_CONN = 10_000;
    const server = makeServer(threads);
    const client = makeClient(server.port, threads, CONNS);
    await acceptAll(server, CONNS);

    // Each datagram: which client connection (by its local port) and a sequence number.
    const next = client.connections.map(() => 0);
    const expected = new Map<number, number>(); // peer port → next sequence expected
    for (const c of client.connections) expected.set(c.getLocalAddress().getPort(), 0);
    const dg = new Datagram();
    let received = 0;
    let refused = 0;
    const errors: string[] = [];
    const peerPort = new Map<Connection, number>();
    const visit = (conn: Connection, data: Uint8Array, offset: number, length: number): void => {
      let port = peerPort.get(conn);
      if (port === undefined) peerPort.set(conn, (port = conn.getAddress().getPort()));
      const it = new DatagramIterator(new Datagram(data.subarray(offset, offset + length)));
      const from = it.getUint16();
      const seq = it.getUint32();
      if (from !== port && errors.length < 5) errors.push(`datagram from port ${from} arrived on the connection of port ${port}`);
      const want = expected.get(port);
      if (seq !== want && errors.length < 5) errors.push(`connection ${port}: got #${seq}, expected #${String(want)}`);
      expected.set(port, seq + 1);
      received++;
    };
    const tick = (): void => {
      // Interleave the connections in bursts; a refused send (threaded writer full) is retried later.
      for (let k = 0; k < 250; k++) {
        for (let i = 0; i < CONNS; i++) {
          if (next[i]! >= PER_CONN) continue;
          const c = client.connections[i]!;
          dg.clear();
          dg.addUint16(c.getLocalAddress().getPort());
          dg.addUint32(next[i]!);
          if (client.writer.send(dg, c)) next[i]!++;
          else refused++;
        }
      }
      if (server.reader.dataAvailable()) server.reader.drainData(visit);
    };
    await waitFor(() => received >= CONNS * PER_CONN || errors.length > 0, { what: () => `${CONNS * PER_CONN} datagrams (have ${received})`, timeoutMs: 20_000, tick });
    expect(errors).toEqual([]);
    expect(received).toBe(CONNS * PER_CONN);
    for (const v of expected.values()) expect(v).toBe(PER_CONN);
    expect(server.manager.resetConnectionAvailable()).toBe(false);
    expect(server.reader.getOverflowFlag()).toBe(false);
    if (threads === 0) expect(refused).toBe(0); // the immediate writer never refuses
  }, 30_000);
});
