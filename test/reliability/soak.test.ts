/**
 * Churn soak (issue 8): for SOAK_SECONDS (default 20; docs/reliability.md reports a 60 s run) raw
 * clients connect and disconnect — hundreds a second, in five ways (FIN after an echo, RST after an
 * echo, closed by the server on request, FIN at once, RST at once; SOAK_METHODS narrows the mix by
 * hand) — while four persistent clients
 * stream sequence-numbered datagrams through the same server. Afterwards: every accepted connection
 * ended exactly once (one reset, or closed by the application, never both, never twice), no growth
 * in file descriptors, main-thread heap (after a forced GC) or rings (reader and writer queues back to
 * 0, no socket left on any I/O thread). Every mode.
 *
 * Nothing here keeps a reference to churned connections (WeakSets only), so the heap figure is the
 * library's, not the test's.
 */
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Datagram, PointerToConnection, type Connection } from '../../src/index.js';
import { MODES, makeServer, waitFor, yieldOnce } from '../helpers/net.js';
import { FrameSplitter, MiB, connectPeer, fdCount, forceGc, frameOf, heapUsed, record, rss, sawEof, u32, waitForFds, type Peer } from '../helpers/faults.js';

const SOAK_SECONDS = Number(process.env['SOAK_SECONDS'] ?? 20);
const SLOTS = 24;
const CLOSE_ME = 0xc1;

type Method = 'fin' | 'rst' | 'server' | 'fin-now' | 'rst-now';
const ALL_METHODS: Method[] = ['fin', 'rst', 'server', 'fin-now', 'rst-now'];
/** SOAK_METHODS=fin,rst,… narrows the mix (for diagnosis by hand); the default is all five. */
const METHODS: Method[] = (process.env['SOAK_METHODS'] ?? ALL_METHODS.join(','))
  .split(',')
  .map((m) => m.trim())
  .filter((m): m is Method => (ALL_METHODS as string[]).includes(m));

/** A persistent client keeping a window of sequence-numbered datagrams in flight. */
class Streamer {
  next = 0;
  echoed = 0;
  errors: string[] = [];
  constructor(readonly peer: Peer) {}
  step(): void {
    const p = this.peer;
    while (p.frames.length > 0) {
      const seq = p.frames.shift()!.readUInt32LE(0);
      if (seq !== this.echoed && this.errors.length < 3) this.errors.push(`echo ${seq}, expected ${this.echoed}`);
      this.echoed = seq + 1;
    }
    if (!sawEof(p)) while (this.next - this.echoed < 8) p.sendFrame(u32(this.next++));
  }
}

interface ChurnStats {
  started: number;
  finished: number;
  failures: string[];
  echoes: number;
  byMethod: Record<Method, number>;
}

/** One churn connection's life. Resolves when its socket is closed; never rejects (failures are counted). */
function churnOnce(port: number, method: Method, stats: ChurnStats, live: Set<net.Socket>): Promise<void> {
  return new Promise<void>((resolve) => {
    stats.started++;
    stats.byMethod[method]++;
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    live.add(socket);
    const splitter = new FrameSplitter(2);
    const frames = 1 + (stats.started % 3);
    let echoes = 0;
    let done = false;
    const fail = (why: string): void => {
      if (stats.failures.length < 20) stats.failures.push(`${method}: ${why}`);
      socket.destroy();
    };
    const timer = setTimeout(() => fail(`timed out (${echoes}/${frames} echoes)`), 10_000);
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      live.delete(socket);
      stats.finished++;
      resolve();
    };
    socket.on('close', finish);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset from the server is never expected; our own RST shows no error here.
      if (!done) fail(`socket error ${err.code ?? err.message}`);
    });
    socket.on('connect', () => {
      if (method === 'fin-now') return void socket.end();
      if (method === 'rst-now') return void socket.resetAndDestroy();
      const out: Buffer[] = [];
      for (let i = 0; i < frames; i++) out.push(frameOf(u32(stats.started * 4 + i)));
      if (method === 'server') out.push(frameOf(Uint8Array.of(CLOSE_ME)));
      socket.write(Buffer.concat(out));
    });
    socket.on('data', (chunk: Buffer) => {
      splitter.push(chunk, () => {
        echoes++;
        stats.echoes++;
      });
      if (echoes < frames) return;
      if (method === 'fin') socket.end();
      else if (method === 'rst') socket.resetAndDestroy();
      // 'server': wait for the server's FIN ('end'), below.
    });
    socket.on('end', () => {
      if (method === 'server' || method === 'fin' || method === 'fin-now') {
        if (method === 'server' && echoes < frames) fail(`EOF after ${echoes}/${frames} echoes`);
        socket.end();
      } else if (!socket.destroyed) fail('unexpected EOF');
    });
  });
}

describe.each(MODES)('churn soak ($name)', ({ threads }) => {
  it(`${SOAK_SECONDS} s of connect/disconnect churn while data flows: no growth in descriptors, heap or rings`, async () => {
    const server = makeServer(threads);
    const live = new Set<net.Socket>();
    onTestFinished(() => {
      for (const s of live) s.destroy();
    });

    // The application: accept, echo, close on request, collect resets; no strong reference kept.
    const opened = new WeakSet<Connection>();
    const closedByApp = new WeakSet<Connection>();
    const resetSeen = new WeakSet<Connection>();
    let accepted = 0;
    let resets = 0;
    let doubleResets = 0;
    let resetAfterAppClose = 0;
    let appCloses = 0;
    let echoFailures = 0;
    let datagramsAfterClose = 0;
    const echoFailureNotes: string[] = [];
    const toClose: Connection[] = [];
    const dg = new Datagram();
    const rp = new PointerToConnection();
    // Anything the library throws at the application is counted (and the loop goes on, as a server would).
    const appErrors: string[] = [];
    const tick = (): void => {
      try {
        serve();
      } catch (err) {
        if (appErrors.length < 1000) appErrors.push(String(err));
      }
    };
    const serve = (): void => {
      while (server.listener.newConnectionAvailable()) {
        const c = server.listener.getNewConnection();
        if (c === null) break;
        accepted++;
        opened.add(c);
        server.reader.addConnection(c);
      }
      let budget = 4096;
      while (budget > 0 && server.reader.dataAvailable()) {
        const n = server.reader.drainData((conn, data, offset, length) => {
          if (length === 1 && data[offset] === CLOSE_ME) {
            toClose.push(conn);
            return;
          }
          // A datagram can be read after its connection's reset was reported (it preceded the reset).
          // Sending on it would be reported as a reset once more (Panda, spec §12.17): skip it.
          if (!conn.isOpen()) {
            datagramsAfterClose++;
            return;
          }
          dg.clear();
          dg.appendData(data.subarray(offset, offset + length));
          if (!server.writer.send(dg, conn)) {
            echoFailures++; // refused on an open connection: the high-water mark, or a full writer queue
            if (echoFailureNotes.length < 5) echoFailureNotes.push(`pending ${conn.getPendingSendBytes()}, writer queue ${server.writer.getCurrentQueueSize()}`);
          }
        }, budget);
        if (n === 0) break;
        budget -= n;
      }
      for (const c of toClose.splice(0)) {
        if (server.manager.closeConnection(c)) {
          appCloses++;
          closedByApp.add(c);
        }
      }
      while (server.manager.getResetConnection(rp)) {
        const c = rp.p()!;
        rp.clear();
        if (!opened.has(c)) continue;
        if (resetSeen.has(c)) doubleResets++;
        if (closedByApp.has(c)) resetAfterAppClose++;
        resetSeen.add(c);
        resets++;
      }
    };

    // Persistent clients: data flows all through the churn.
    const streamers: Streamer[] = [];
    for (let i = 0; i < 4; i++) streamers.push(new Streamer(await connectPeer(server.port)));
    await waitFor(() => accepted === 4 && streamers.every((s) => s.echoed >= 100), { what: 'persistent clients streaming', tick: () => (tick(), streamers.forEach((s) => s.step())) });

    const stats: ChurnStats = { started: 0, finished: 0, failures: [], echoes: 0, byMethod: { fin: 0, rst: 0, server: 0, 'fin-now': 0, 'rst-now': 0 } };
    const runFor = async (ms: number, samples?: Array<{ t: number; heapMiB: number; rssMiB: number; fds: number; conns: number }>): Promise<void> => {
      const end = performance.now() + ms;
      let stop = false;
      const slot = async (k: number): Promise<void> => {
        for (let i = 0; !stop; i++) await churnOnce(server.port, METHODS[(k + i) % METHODS.length]!, stats, live);
      };
      const slots = Array.from({ length: SLOTS }, (_, k) => slot(k));
      let nextSample = performance.now() + 2000;
      const t0 = performance.now();
      while (performance.now() < end) {
        tick();
        for (const s of streamers) s.step();
        if (samples !== undefined && performance.now() >= nextSample) {
          nextSample += 2000;
          forceGc();
          samples.push({ t: Math.round((performance.now() - t0) / 1000), heapMiB: +(heapUsed() / MiB).toFixed(1), rssMiB: +(rss() / MiB).toFixed(1), fds: fdCount(), conns: server.manager.getStats().connections });
        }
        await yieldOnce();
      }
      stop = true;
      let settled = false;
      void Promise.all(slots).then(() => (settled = true));
      await waitFor(() => settled, { what: () => `churn clients to finish (${stats.finished}/${stats.started})`, tick: () => (tick(), streamers.forEach((s) => s.step())), timeoutMs: 15_000 });
    };

    // Warm-up churn (JIT, pools, the runtime's bounded table of recently closed connections starts filling).
    await runFor(1000);
    await waitFor(() => server.manager.getStats().connections === 5, {
      what: () => `only the rendezvous and the persistent clients left after the warm-up (${server.manager.getStats().connections}; accepted ${accepted}, resets ${resets}, app closes ${appCloses}, churn clients ${stats.started}, exceptions in the app loop ${appErrors.length}: ${appErrors[0] ?? ''})`,
      tick,
    });
    forceGc();
    const fd0 = fdCount();
    const heap0 = heapUsed();
    const rss0 = rss();
    const started0 = stats.started;

    const samples: Array<{ t: number; heapMiB: number; rssMiB: number; fds: number; conns: number }> = [];
    const t0 = performance.now();
    await runFor(SOAK_SECONDS * 1000, samples);
    const seconds = (performance.now() - t0) / 1000;
    const churned = stats.started - started0;

    // Everything the churn opened is gone again.
    await waitFor(() => server.manager.getStats().connections === 5, { what: () => `only the rendezvous and the persistent clients left (${server.manager.getStats().connections})`, tick: () => (tick(), streamers.forEach((s) => s.step())) });
    const fd1 = await waitForFds(fd0, { tick, what: 'descriptors after the churn' });
    forceGc();
    const heap1 = heapUsed();
    const rss1 = rss();
    const echoedBefore = streamers.map((s) => s.echoed);

    // Then the persistent clients leave too: rings and sockets back to nothing.
    for (const s of streamers) s.peer.socket.destroy();
    await waitFor(() => server.manager.getStats().connections === 1, { what: 'only the rendezvous left', tick });
    await waitFor(() => server.manager.getThreadStats().every((t) => t.connections === 0), { what: 'no socket left on any I/O thread', tick });
    const st = server.manager.getStats();

    record('soak', {
      threads,
      seconds: +seconds.toFixed(1),
      churnConnections: churned,
      perSecond: Math.round(churned / seconds),
      byMethod: stats.byMethod,
      churnEchoes: stats.echoes,
      failures: stats.failures.length,
      accepted,
      resets,
      appCloses,
      doubleResets,
      appErrors: appErrors.length,
      echoFailures,
      datagramsAfterClose,
      firstAppError: appErrors[0],
      persistentEchoes: echoedBefore,
      fdBefore: fd0,
      fdAfter: fd1,
      heapBeforeMiB: +(heap0 / MiB).toFixed(1),
      heapAfterMiB: +(heap1 / MiB).toFixed(1),
      rssBeforeMiB: +(rss0 / MiB).toFixed(1),
      rssAfterMiB: +(rss1 / MiB).toFixed(1),
      samples,
      readersQueued: st.readers.map((r) => r.queued),
      writersQueued: st.writers.map((w) => w.queued),
    });

    expect(appErrors.slice(0, 3), `exceptions thrown into the application loop (${appErrors.length})`).toEqual([]);
    expect(stats.failures, 'churn clients that failed').toEqual([]);
    expect(churned / seconds, 'churn rate, connections per second').toBeGreaterThanOrEqual(100);
    for (const s of streamers) expect(s.errors).toEqual([]);
    expect(Math.min(...echoedBefore), 'persistent clients kept streaming').toBeGreaterThan(1000);
    // Every accepted connection ended exactly once. (+4: the persistent clients' resets at the end.)
    expect(doubleResets, 'connections reported reset twice').toBe(0);
    expect(resetAfterAppClose, 'connections reset after the application closed them').toBe(0);
    expect(accepted).toBe(stats.started + 4);
    expect(resets + appCloses).toBe(accepted);
    expect(echoFailures, `echo sends refused on open connections: ${echoFailureNotes.join('; ')}`).toBe(0);
    // No growth: descriptors back to the baseline, heap within a generous bound, rings empty.
    expect(fd1).toBeLessThanOrEqual(fd0);
    expect(heap1 - heap0, `heap ${(heap0 / MiB).toFixed(1)} → ${(heap1 / MiB).toFixed(1)} MiB`).toBeLessThan(32 * MiB);
    expect(st.readers.map((r) => r.queued)).toEqual(st.readers.map(() => 0));
    expect(st.writers.map((w) => w.queued)).toEqual(st.writers.map(() => 0));
  }, (SOAK_SECONDS + 60) * 1000);
});
