/**
 * An I/O thread that crashes under load (issue 8; beyond test/integration/worker-faults.test.ts):
 * streaming clients keep a window of datagrams in flight; the last thread of the pool is crashed with
 * `crashIoThreadForTest`. Its connections (and the rendezvous, if it lived there) are reported reset
 * once each and their peers see the sockets close; connections on other threads keep streaming
 * without a gap; a replacement thread serves new connections; descriptors come back; queue counters
 * return to 0. Also: what the dead thread had already queued is not lost silently. Every test runs in
 * every mode (polled and 1 thread: the pool's only thread is the one that dies).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Datagram, setLogSink, type Connection } from '../../src/index.js';
import { MODES, makeServer, takeResets, waitFor, withNetConfig, type Server } from '../helpers/net.js';
import { connectPeer, fdCount, record, sawEof, serverApp, settle, u32, waitForFds, warmUp, type Peer, type ServerApp } from '../helpers/faults.js';

/** A client keeping `window` sequence-numbered datagrams in flight and checking their echoes, in order. */
class Streamer {
  next = 0;
  echoed = 0;
  errors: string[] = [];
  constructor(
    readonly peer: Peer,
    readonly window = 16,
  ) {}
  step(): void {
    const p = this.peer;
    while (p.frames.length > 0) {
      const f = p.frames.shift()!;
      const seq = f.readUInt32LE(0);
      if (seq !== this.echoed && this.errors.length < 3) this.errors.push(`echo ${seq}, expected ${this.echoed}`);
      this.echoed = seq + 1;
    }
    if (sawEof(p)) return;
    while (this.next - this.echoed < this.window) p.sendFrame(u32(this.next++));
  }
}

/** Silences the expected crash lines on stderr for this test. */
function quietCrashLog(): void {
  setLogSink(() => {});
  onTestFinished(() => setLogSink((lvl, message) => process.stderr.write(`:net(${lvl}): ${message}\n`)));
}

function onThread(server: Server, index: number): Connection[] {
  return [server.rendezvous, ...server.accepted].filter((c) => c.isOpen() && c.getThreadIndex() === index);
}

/**
 * A server whose accepts are placed round-robin by the fd hand-off, so every thread holds connections
 * (the reusePort path's spread is the kernel's hash; test/integration/reuse-port.test.ts covers its faults).
 */
function handoffServer(threads: number): Server {
  return withNetConfig({ reusePort: false }, () => makeServer(threads));
}

describe.each(MODES)('I/O thread crash ($name)', ({ threads }) => {
  it('under load: the dead thread\'s connections reset once each, the others stream on, a replacement serves, nothing leaks', async () => {
    quietCrashLog();
    const server = handoffServer(threads);
    const app: ServerApp = serverApp(server);
    await warmUp(app);
    const fd0 = fdCount();
    const pool = server.manager.getNumIoThreads();
    const victimIndex = pool - 1;

    const streamers: Streamer[] = [];
    for (let i = 0; i < 6; i++) streamers.push(new Streamer(await connectPeer(server.port)));
    const conns = await app.acceptNext(6);
    const byPort = new Map(streamers.map((s) => [s.peer.socket.localPort!, s]));
    const streamerOf = (c: Connection): Streamer => byPort.get(c.getAddress().getPort())!;
    const tick = (): void => {
      app.tick();
      for (const s of streamers) s.step();
    };
    await waitFor(() => streamers.every((s) => s.echoed >= 200), { what: 'warm streaming', tick });

    const victims = onThread(server, victimIndex);
    const survivors = conns.filter((c) => c.getThreadIndex() !== victimIndex);
    const before = new Map(streamers.map((s) => [s, s.echoed]));
    expect(victims.length).toBeGreaterThan(0);
    if (pool > 1) expect(survivors.length).toBeGreaterThan(0);

    const t0 = performance.now();
    server.manager.crashIoThreadForTest(victimIndex);
    await app.waitReset(victims);
    const resetMs = performance.now() - t0;
    // The victims' peers see their sockets closed (the dead thread's descriptors are released).
    const victimStreamers = victims.filter((c) => c !== server.rendezvous).map(streamerOf);
    await waitFor(() => victimStreamers.every((s) => sawEof(s.peer)), { what: () => `victim peers to see EOF (${victimStreamers.filter((s) => sawEof(s.peer)).length}/${victimStreamers.length})`, tick });
    // Survivors keep streaming, in order, with no gap.
    await waitFor(() => survivors.every((c) => streamerOf(c).echoed >= before.get(streamerOf(c))! + 500), { what: 'survivors to stream 500 more each', tick });
    await settle(app);
    expect(app.resets.length, 'each victim reported once').toBe(victims.length);
    expect(new Set(app.resets)).toEqual(new Set(victims));
    for (const v of victims) expect(v.isOpen()).toBe(false);
    for (const c of survivors) expect(c.isOpen()).toBe(true);
    for (const s of streamers) expect(s.errors).toEqual([]);

    // The replacement serves new connections (a new rendezvous if the old one died with its thread).
    await waitFor(() => server.manager.getThreadStats().every((t) => t.alive), { what: 'the replacement thread', tick });
    let port = server.port;
    if (victims.includes(server.rendezvous)) {
      const rv = server.manager.openTCPServerRendezvous('127.0.0.1', 0, 100);
      expect(rv).not.toBeNull();
      expect(server.listener.addConnection(rv!)).toBe(true);
      port = rv!.getLocalAddress().getPort();
    }
    const fresh: Streamer[] = [];
    for (let i = 0; i < 2 * pool; i++) fresh.push(new Streamer(await connectPeer(port)));
    const freshConns = await app.acceptNext(fresh.length);
    streamers.push(...fresh);
    await waitFor(() => fresh.every((s) => s.echoed >= 100), { what: 'new connections served', tick });
    expect(new Set(freshConns.map((c) => c.getThreadIndex()))).toEqual(new Set(Array.from({ length: pool }, (_, i) => i)));

    // Everything closed: descriptors back, queues empty.
    for (const s of streamers) s.peer.socket.destroy();
    await app.waitReset([...survivors, ...freshConns]);
    const fd1 = await waitForFds(fd0, { tick: app.tick, what: 'descriptors after the crash and the closes' });
    for (const s of streamers) expect(s.errors).toEqual([]);
    // (Queue counters after a crash are checked by the next test.)
    const st = server.manager.getStats();
    record('thread-crash', {
      threads,
      pool,
      victims: victims.length,
      rendezvousDied: victims.includes(server.rendezvous),
      survivors: survivors.length,
      resetsReportedMs: Math.round(resetMs),
      survivorEchoesAfterCrash: survivors.map((c) => streamerOf(c).echoed - before.get(streamerOf(c))!),
      newConnections: fresh.length,
      fdBefore: fd0,
      fdAfterRelease: fd1,
      readerQueuedAfterAllClosed: st.readers.map((r) => r.queued),
      writerQueuedAfterAllClosed: st.writers.map((w) => w.queued),
    });
  }, 30_000);

  it('datagrams the dead thread had already queued are delivered, not lost silently, and the reader\'s queue count returns to 0', async () => {
    quietCrashLog();
    const server = handoffServer(threads);
    const app = serverApp(server, () => 'keep');
    const pool = server.manager.getNumIoThreads();
    const victimIndex = pool - 1;
    const peers: Peer[] = [];
    for (let i = 0; i < 2 * pool; i++) peers.push(await connectPeer(server.port));
    const conns = await app.acceptNext(peers.length);
    const victims = onThread(server, victimIndex);
    // The application stops reading; every peer sends 10 datagrams, which the threads queue.
    const K = 10;
    for (const p of peers) for (let s = 0; s < K; s++) p.sendFrame(u32(s));
    const victimStreams = victims.filter((c) => c !== server.rendezvous);
    const sentToVictims = victimStreams.length * K;
    await waitFor(() => server.manager.getThreadStats().reduce((s, t) => s + t.datagramsIn, 0) >= peers.length * K, { what: 'the threads to receive every datagram' });
    if (threads > 0) expect(server.reader.getCurrentQueueSize()).toBe(peers.length * K);
    server.manager.crashIoThreadForTest(victimIndex);
    // Take the resets without reading: the datagrams must still be there once the resets are known.
    const resets: Connection[] = [];
    await waitFor(() => victims.every((v) => resets.includes(v)), { what: () => `the victims' resets (${resets.length}/${victims.length})`, tick: () => takeResets(server.manager, resets) });
    expect(resets).toHaveLength(victims.length);
    await settle(app);
    const fromVictims = victimStreams.reduce((s, c) => s + (app.kept.get(c)?.length ?? 0), 0);
    const dropped = server.reader.getDroppedCount();
    const queuedAfter = server.reader.getCurrentQueueSize();
    record('thread-crash-queued', { threads, queuedByDeadThread: sentToVictims, deliveredAfterCrash: fromVictims, droppedCount: dropped, readerQueuedAfterDrain: queuedAfter });
    // Survivors' datagrams all there.
    for (const c of conns.filter((c) => !victims.includes(c))) expect(app.kept.get(c)?.length).toBe(K);
    // Every datagram the dead thread had queued is delivered, or at least counted.
    expect(fromVictims + dropped, `datagrams of the dead thread's connections delivered (${fromVictims}) + counted dropped (${dropped}) vs queued (${sentToVictims})`).toBe(sentToVictims);
    // Nothing phantom left in the count: 0 once everything was taken.
    expect(queuedAfter, 'reader queue size after draining everything').toBe(0);
  }, 30_000);

  it('sends still waiting in the dead thread\'s outbound ring do not stay counted against the writer\'s queue', async () => {
    quietCrashLog();
    const server = handoffServer(threads);
    const app = serverApp(server);
    const pool = server.manager.getNumIoThreads();
    const victimIndex = pool - 1;
    for (let i = 0; i < 2 * pool; i++) await connectPeer(server.port, { keepFrames: false });
    await app.acceptNext(2 * pool);
    const victims = onThread(server, victimIndex).filter((c) => c !== server.rendezvous);
    server.writer.setMaxQueueSize(1_000_000);
    const dg = new Datagram(new Uint8Array(16));
    // Crash, and at once hand the dying thread a burst of sends (some are still in its ring when it dies).
    server.manager.crashIoThreadForTest(victimIndex);
    let sent = 0;
    for (let i = 0; i < 20_000; i++) for (const v of victims) if (server.writer.send(dg, v)) sent++;
    await app.waitReset(victims);
    await settle(app);
    const stuck = server.writer.getCurrentQueueSize();
    record('thread-crash-writer', { threads, sentToDyingThread: sent, writerQueuedAfterCrash: stuck, writerQueueCapDefault: 10_000 });
    if (threads === 0) {
      expect(stuck).toBe(0); // an immediate writer counts nothing
      return;
    }
    // What a stuck count costs: with the default cap (10,000) the writer would refuse every send, on
    // every connection, including a new one served by the replacement thread.
    await waitFor(() => server.manager.getThreadStats().every((t) => t.alive), { what: 'the replacement thread', tick: app.tick });
    let port = server.port;
    if (!server.rendezvous.isOpen()) {
      const rv = server.manager.openTCPServerRendezvous('127.0.0.1', 0, 100);
      expect(server.listener.addConnection(rv!)).toBe(true);
      port = rv!.getLocalAddress().getPort();
    }
    await connectPeer(port, { keepFrames: false });
    const [fresh] = await app.acceptNext();
    server.writer.setMaxQueueSize(10_000);
    expect.soft(server.writer.send(dg, fresh!), `a send on a new, healthy connection with the default cap (writer count ${server.writer.getCurrentQueueSize()})`).toBe(true);
    await waitFor(() => server.writer.getCurrentQueueSize() === 0, { what: () => `the writer's queue count to return to 0 (is ${server.writer.getCurrentQueueSize()} after ${sent} sends to the dying thread)`, tick: app.tick, timeoutMs: 3000 });
  }, 30_000);
});
