/**
 * Fair backpressure (defect 7 of "Nothing lost, nothing wedged"): one client flooding zero-length
 * frames (2 bytes each) must not make the server drop another client's datagrams. The reader queue
 * cap counts datagrams and is shared by every connection; before, the flood filled it long before a
 * full reader ring paused anyone, and the newest datagrams — a well-behaved client's among them —
 * were dropped. Now each connection may have at most `maxQueuedPerConnection` datagrams delivered
 * and not yet taken by the application: past it the I/O thread stops reading that socket (TCP pushes
 * back on the flooder) until the application has caught up. Every test runs in every mode.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Datagram, type Connection } from '../../src/index.js';
import { MODES, makeServer, waitFor } from '../helpers/net.js';
import { connectPeer, frameOf, record, serverApp, u32, type Peer } from '../helpers/faults.js';

/** 64 KiB of zero bytes: 32,768 zero-length frames (header 0x00 0x00). */
const FLOOD_CHUNK = Buffer.alloc(64 << 10);

interface Flood {
  /** Set by the test: stop writing. */
  stop: boolean;
  done: boolean;
  /** Bytes the kernel has taken (write callbacks). */
  bytes: number;
  error: Error | null;
}

/** Writes zero-length frames as fast as TCP lets it, until `stop` or `maxBytes`. */
function startFlood(peer: Peer, maxBytes: number): Flood {
  const f: Flood = { stop: false, done: false, bytes: 0, error: null };
  const run = async (): Promise<void> => {
    let queued = 0;
    while (!f.stop && queued < maxBytes && !peer.socket.destroyed) {
      queued += FLOOD_CHUNK.length;
      const ok = peer.socket.write(FLOOD_CHUNK, (err) => {
        if (!err) f.bytes += FLOOD_CHUNK.length;
      });
      if (!ok) await Promise.race([once(peer.socket, 'drain'), once(peer.socket, 'close')]);
    }
    if (!peer.socket.destroyed) await new Promise<void>((resolve) => peer.socket.write(Buffer.alloc(0), () => resolve()));
  };
  run()
    .catch((err: unknown) => {
      f.error = err instanceof Error ? err : new Error(String(err));
    })
    .finally(() => {
      f.done = true;
    });
  return f;
}

describe.each(MODES)('fair backpressure ($name)', ({ threads }) => {
  it('a client flooding zero-length frames is paused; a well-behaved client loses nothing', async () => {
    /** Datagrams the good client sends (sequence numbers), a few per tick, all through the flood. */
    const N = 2000;
    const PER_TICK = 4;
    /** The application takes at most this many datagrams per tick (it has a game to run too). */
    const BUDGET = 64;
    /** Bound on the flood: 48 MB (24 M datagrams) if it is never paused. */
    const MAX_FLOOD = 48 << 20;
    /**
     * Flood datagrams the application must have taken too: about three 64 KiB reads of them, so the flooder is
     * paused and resumed again and again (slowed down, not wedged).
     */
    const FLOOD_TAKEN = 100_000;

    const server = makeServer(threads);
    let goodConn: Connection | undefined;
    let goodAtServer = 0;
    let goodEchoFailures = 0;
    let floodAtServer = 0;
    const reply = new Datagram();
    const app = serverApp(
      server,
      (conn, data, offset, length) => {
        if (conn !== goodConn) {
          floodAtServer++;
          return 'echo';
        }
        goodAtServer++;
        reply.clear();
        reply.appendData(data.subarray(offset, offset + length));
        if (!server.writer.send(reply, conn)) goodEchoFailures++;
        return 'drop';
      },
      BUDGET,
    );
    const good = await connectPeer(server.port);
    [goodConn] = await app.acceptNext();
    const flooder = await connectPeer(server.port, { keepFrames: false });
    await app.acceptNext();

    const startedAt = performance.now();
    const flood = startFlood(flooder, MAX_FLOOD);
    let sent = 0;
    let maxWriterQueue = 0;
    const tick = (): void => {
      app.tick();
      if (flood.bytes >= 1 << 20) for (let i = 0; i < PER_TICK && sent < N; i++) good.sendFrame(u32(sent++));
      maxWriterQueue = Math.max(maxWriterQueue, server.writer.getCurrentQueueSize());
    };
    const decoded = (): number => server.manager.getThreadStats().reduce((s, t) => s + t.datagramsIn, 0);
    // Until the application took every datagram of the good client, or (old code) the flood is over,
    // every byte of it was read and nothing is left to take: whatever of the good client's did not
    // reach the application by then was dropped.
    const lostForGood = (): boolean => sent === N && flood.done && decoded() >= flood.bytes / 2 + N && !server.reader.dataAvailable();
    await waitFor(() => (goodAtServer === N && floodAtServer >= FLOOD_TAKEN) || lostForGood(), {
      timeoutMs: 25_000,
      what: () => `the good client's ${N} datagrams at the application (have ${goodAtServer}; sent ${sent}; flood ${flood.bytes / 2} datagrams written, ${floodAtServer} taken; dropped ${server.reader.getDroppedCount()})`,
      tick,
    });
    flood.stop = true;
    const dropped = server.reader.getDroppedCount();
    const overflow = server.reader.getOverflowFlag();
    const stats = server.manager.getThreadStats();
    const quotaPauses = stats.reduce((s, t) => s + t.quotaPauses, 0);
    const figures = {
      threads,
      goodSent: N,
      goodAtServer,
      goodLost: N - goodAtServer,
      goodEchoFailures,
      floodDatagramsWritten: flood.bytes / 2,
      floodDatagramsTaken: floodAtServer,
      floodEchoFailures: app.echoFailures,
      dropped,
      overflow,
      quotaPauses,
      backpressurePauses: stats.reduce((s, t) => s + t.backpressurePauses, 0),
      maxWriterQueue,
      seconds: +((performance.now() - startedAt) / 1000).toFixed(2),
    };
    record('fair-backpressure', figures);
    expect(goodAtServer, `good client's datagrams that reached the application (${JSON.stringify(figures)})`).toBe(N);
    expect(dropped, 'datagrams dropped for the shared queue cap').toBe(0);
    expect(overflow).toBe(false);
    expect(goodEchoFailures, 'echo sends to the good client that failed').toBe(0);
    // The flooder was paused for its quota, again and again, and resumed each time.
    expect(quotaPauses, 'times the flooder was paused for its per-connection quota').toBeGreaterThanOrEqual(2);
    expect(floodAtServer).toBeGreaterThanOrEqual(FLOOD_TAKEN);
    // Every echo reaches the good client, in order.
    await waitFor(() => good.frames.length >= N, { what: () => `${N} echoes at the good client (have ${good.frames.length})`, tick: app.tick });
    expect(good.frames.map((f) => f.readUInt32LE(0))).toEqual(Array.from({ length: N }, (_, i) => i));
    flooder.socket.destroy();
    await waitFor(() => flood.done, { what: 'the flooder to stop', tick: app.tick });
    expect(app.resets.includes(goodConn!)).toBe(false);
  }, 40_000);

  it('an application that falls behind on 60 connections, each within its quota: the shared cap still drops the newest and sets the flag', async () => {
    const CONNS = 60;
    const PER_CONN = 1000; // under the default quota (1,024): no connection is paused
    const CAP = 50_000; // net-max-response-queue's default
    const server = makeServer(threads);
    expect(server.reader.getMaxQueueSize()).toBe(CAP);
    // Accept only: the application does not read yet.
    let accepted = 0;
    const accept = (): void => {
      while (server.listener.newConnectionAvailable()) {
        const c = server.listener.getNewConnection();
        if (c === null) break;
        expect(server.reader.addConnection(c)).toBe(true);
        accepted++;
      }
    };
    const peers: Peer[] = [];
    for (let i = 0; i < CONNS; i++) peers.push(await connectPeer(server.port));
    await waitFor(() => accepted === CONNS, { what: () => `${CONNS} accepts (have ${accepted})`, tick: accept });
    for (const p of peers) p.socket.write(Buffer.concat(Array.from({ length: PER_CONN }, (_, s) => frameOf(u32(s)))));
    const poll = (): void => {
      if (threads === 0) server.reader.dataAvailable();
    };
    const M = CONNS * PER_CONN;
    await waitFor(() => server.reader.getDroppedCount() >= M - CAP, { what: () => `${M - CAP} drops (have ${server.reader.getDroppedCount()}, queued ${server.reader.getCurrentQueueSize()})`, tick: poll, timeoutMs: 20_000 });
    for (let i = 0; i < 20; i++) poll();
    expect(server.reader.getDroppedCount()).toBe(M - CAP);
    expect(server.reader.getCurrentQueueSize()).toBe(CAP);
    expect(server.reader.getOverflowFlag()).toBe(true);
    expect(server.manager.getThreadStats().reduce((s, t) => s + t.quotaPauses, 0), 'no connection reached its quota').toBe(0);
    let taken = 0;
    await waitFor(() => taken === CAP && !server.reader.dataAvailable(), { what: () => `the ${CAP} queued datagrams (have ${taken})`, tick: () => void server.reader.drainData(() => taken++, 4096) });
    expect(server.reader.getDroppedCount()).toBe(M - CAP);
  }, 40_000);
});
