/**
 * Flood (issue 8): one raw client writes as fast as TCP lets it (bounded: 50 MB of 1 KiB datagrams)
 * while three others play ping-pong through the same reader. Their round trips keep completing all
 * through the flood (reading is fair across connections), the server's memory stays bounded, and
 * every flood datagram arrives. When the application consumes the flooder's data more slowly than it
 * arrives (at most ~40 MB/s), TCP backpressure reaches the flooder: the server pauses that socket, the flooder blocks,
 * and what sits between them stays bounded. Every test runs in every mode.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { QueuedConnectionReader, type Connection } from '../../src/index.js';
import { MODES, makeServer, waitFor, yieldOnce } from '../helpers/net.js';
import { MiB, PingPong, RssWatch, connectPeer, frameOf, percentile, record, serverApp, type Peer } from '../helpers/faults.js';

const PAYLOAD = 1024;
const FRAMES_PER_CHUNK = 1000;

/** ~1 MB of 1 KiB frames, written again and again. */
function floodChunk(): Buffer {
  const one = frameOf(Buffer.alloc(PAYLOAD, 0xab));
  return Buffer.concat(Array.from({ length: FRAMES_PER_CHUNK }, () => one));
}

interface Flood {
  done: boolean;
  /** Frames the kernel has taken (write callbacks). */
  framesOut: number;
  bytesOut: number;
  writeFalse: number;
  maxWritableLength: number;
  /** Time spent blocked waiting for 'drain', ms. */
  blockedMs: number;
  startedAt: number;
  endedAt: number;
  error: Error | null;
}

/** Writes `chunks` flood chunks as fast as the socket drains (at most one chunk waiting in Node). */
function startFlood(peer: Peer, chunks: number): Flood {
  const chunk = floodChunk();
  const f: Flood = { done: false, framesOut: 0, bytesOut: 0, writeFalse: 0, maxWritableLength: 0, blockedMs: 0, startedAt: performance.now(), endedAt: 0, error: null };
  const run = async (): Promise<void> => {
    for (let i = 0; i < chunks; i++) {
      const ok = peer.socket.write(chunk, (err) => {
        if (err) return;
        f.framesOut += FRAMES_PER_CHUNK;
        f.bytesOut += chunk.length;
      });
      f.maxWritableLength = Math.max(f.maxWritableLength, peer.socket.writableLength);
      if (!ok) {
        f.writeFalse++;
        const t = performance.now();
        await once(peer.socket, 'drain');
        f.blockedMs += performance.now() - t;
      }
    }
    // Until the last chunk reached the kernel.
    await new Promise<void>((resolve) => peer.socket.write(Buffer.alloc(0), () => resolve()));
  };
  run()
    .catch((err: unknown) => {
      f.error = err instanceof Error ? err : new Error(String(err));
    })
    .finally(() => {
      f.done = true;
      f.endedAt = performance.now();
    });
  return f;
}

/**
 * Fairness counted in datagrams, not milliseconds: for each ping-pong client, the most flood
 * datagrams the application consumed between two of its round trips (from the flood's start to its
 * first, and from its last to the end included). A reader that served the flooder until it ran dry
 * would let about the whole flood through between two round trips.
 */
class FloodBetweenRoundTrips {
  readonly #completed: number[];
  readonly #floodAt: number[];
  readonly most: number[];

  constructor(
    readonly pingers: readonly PingPong[],
    readonly consumed: () => number,
  ) {
    this.#completed = pingers.map((p) => p.completed);
    this.#floodAt = pingers.map(() => consumed());
    this.most = pingers.map(() => 0);
  }

  /** Call after the pingers' `step()`. */
  step(): void {
    for (const [i, p] of this.pingers.entries()) {
      if (p.completed === this.#completed[i]) continue;
      this.#completed[i] = p.completed;
      this.#close(i);
    }
  }

  /** The flood is over: the stretch since each pinger's last round trip counts too. */
  finish(): number[] {
    for (let i = 0; i < this.pingers.length; i++) this.#close(i);
    return this.most;
  }

  #close(i: number): void {
    const now = this.consumed();
    this.most[i] = Math.max(this.most[i]!, now - this.#floodAt[i]!);
    this.#floodAt[i] = now;
  }
}

describe.each(MODES)('flood ($name)', ({ threads }) => {
  it('one client flooding 50 MB does not starve three ping-pong clients; memory bounded; nothing lost', async () => {
    const CHUNKS = 50;
    const server = makeServer(threads);
    let floodConn: Connection | undefined;
    let floodFrames = 0;
    const app = serverApp(server, (conn) => {
      if (conn === floodConn) {
        floodFrames++;
        return 'drop';
      }
      return 'echo';
    });
    const pingers: PingPong[] = [];
    for (let i = 0; i < 3; i++) {
      pingers.push(new PingPong(await connectPeer(server.port)));
      await app.acceptNext();
    }
    const flooder = await connectPeer(server.port, { keepFrames: false });
    [floodConn] = await app.acceptNext();
    // Warm: a few round trips each before the flood.
    await waitFor(() => pingers.every((p) => p.completed >= 5), { what: 'warm-up round trips', tick: () => (app.tick(), pingers.forEach((p) => p.step())) });

    const mem = new RssWatch();
    const flood = startFlood(flooder, CHUNKS);
    const between = new FloodBetweenRoundTrips(pingers, () => floodFrames);
    const tick = (): void => {
      app.tick();
      for (const p of pingers) p.step();
      between.step();
      mem.sample();
    };
    await waitFor(() => flood.done, { timeoutMs: 20_000, what: () => `the flood to be written (${(flood.bytesOut / MiB).toFixed(1)} MiB so far)`, tick });
    expect(flood.error).toBeNull();
    await waitFor(() => floodFrames >= CHUNKS * FRAMES_PER_CHUNK, { timeoutMs: 20_000, what: () => `every flood datagram at the server (${floodFrames})`, tick });
    // The window under load: from the first flood byte until the server has consumed the last one.
    const from = flood.startedAt;
    const to = performance.now();
    for (const p of pingers) p.step();

    const during = pingers.map((p) => p.completedBetween(from, to));
    const gaps = pingers.map((p) => p.longestGap(from, to));
    const floodBetween = between.finish();
    const rtts = pingers.flatMap((p) => p.rtts.slice(5));
    record('flood-fair', {
      threads,
      floodMB: +(flood.bytesOut / 1e6).toFixed(1),
      floodDatagrams: CHUNKS * FRAMES_PER_CHUNK,
      floodSeconds: +((flood.endedAt - from) / 1000).toFixed(2),
      loadWindowSeconds: +((to - from) / 1000).toFixed(2),
      floodWriteFalse: flood.writeFalse,
      floodBlockedMs: Math.round(flood.blockedMs),
      pingRoundTripsDuringFlood: during,
      longestGapMs: gaps.map((g) => Math.round(g)),
      mostFloodDatagramsBetweenRoundTrips: floodBetween,
      rttP50Ms: +percentile(rtts, 50).toFixed(2),
      rttP99Ms: +percentile(rtts, 99).toFixed(2),
      rssGrowthMiB: +(mem.growth / MiB).toFixed(1),
      backpressurePauses: server.manager.getThreadStats().reduce((s, t) => s + t.backpressurePauses, 0),
    });
    expect(floodFrames).toBe(CHUNKS * FRAMES_PER_CHUNK);
    expect(app.resets).toEqual([]);
    expect(app.echoFailures).toBe(0);
    // Round trips kept completing all through the flood: none waited while as much as a quarter of it
    // went through (the longest wait in ms is recorded above, not asserted: it depends on the machine).
    for (const [i, n] of during.entries()) expect(n, `ping-pong client ${i} round trips during the flood`).toBeGreaterThanOrEqual(1);
    const floodTotal = CHUNKS * FRAMES_PER_CHUNK;
    for (const [i, n] of floodBetween.entries()) expect(n, `ping-pong client ${i}: most flood datagrams consumed between two of its round trips`).toBeLessThan(floodTotal / 4);
    expect(mem.growth, `RSS growth ${(mem.growth / MiB).toFixed(1)} MiB`).toBeLessThan(200 * MiB);
    expect(flood.writeFalse, 'the flooder was made to wait at least once').toBeGreaterThan(0);
  }, 45_000);

  it('a server that consumes the flood slowly pushes back on the flooder through TCP; memory bounded; nothing lost', async () => {
    // 40 MB: twice what the socket buffers and a reader ring can absorb (≈ 7–14 MiB seen), so the
    // flooder cannot finish before the application has consumed most of it.
    const CHUNKS = 40;
    const server = makeServer(threads);
    // The flooder goes to its own reader, drained only every 100 ms; the ping-pong clients stay on the main reader.
    const floodReader = new QueuedConnectionReader(server.manager, threads);
    const app = serverApp(server);
    const pingers: PingPong[] = [];
    for (let i = 0; i < 2; i++) {
      pingers.push(new PingPong(await connectPeer(server.port)));
      await app.acceptNext();
    }
    const flooder = await connectPeer(server.port, { keepFrames: false });
    const [floodConn] = await app.acceptNext();
    expect(server.reader.removeConnection(floodConn!)).toBe(true);
    expect(floodReader.addConnection(floodConn!)).toBe(true);

    let floodFrames = 0;
    let lastDrain = 0;
    let maxInFlight = 0;
    const mem = new RssWatch();
    const flood = startFlood(flooder, CHUNKS);
    const between = new FloodBetweenRoundTrips(pingers, () => floodFrames);
    const tick = (): void => {
      app.tick();
      for (const p of pingers) p.step();
      between.step();
      const now = performance.now();
      if (now - lastDrain >= 100) {
        // At most 4,000 datagrams (~4 MB) per 100 ms: the application, not the flooder, sets the pace.
        lastDrain = now;
        let n = 0;
        while (n < 4000 && floodReader.dataAvailable()) n += floodReader.drainData(() => floodFrames++, 4000 - n);
      }
      maxInFlight = Math.max(maxInFlight, flood.framesOut - floodFrames);
      mem.sample();
    };
    await waitFor(() => flood.done && floodFrames >= CHUNKS * FRAMES_PER_CHUNK, {
      timeoutMs: 20_000,
      what: () => `the slow flood to complete (${(flood.bytesOut / MiB).toFixed(1)} MiB written, ${floodFrames} datagrams consumed)`,
      tick,
    });
    const pauses = server.manager.getThreadStats().reduce((s, t) => s + t.backpressurePauses, 0);
    const gaps = pingers.map((p) => p.longestGap(flood.startedAt, flood.endedAt));
    const floodBetween = between.finish();
    const floodMs = flood.endedAt - flood.startedAt;
    record('flood-backpressure', {
      threads,
      floodMB: +(flood.bytesOut / 1e6).toFixed(1),
      floodSeconds: +((flood.endedAt - flood.startedAt) / 1000).toFixed(2),
      writeFalse: flood.writeFalse,
      flooderBlockedMs: Math.round(flood.blockedMs),
      flooderBlockedFraction: +(flood.blockedMs / floodMs).toFixed(2),
      consumerPace: '4,000 datagrams / 100 ms',
      flooderMaxWritableLengthKiB: Math.round(flood.maxWritableLength / 1024),
      backpressurePauses: pauses,
      maxInFlightMiB: +((maxInFlight * (PAYLOAD + 2)) / MiB).toFixed(1),
      rssGrowthMiB: +(mem.growth / MiB).toFixed(1),
      pingLongestGapMs: gaps.map((g) => Math.round(g)),
      mostFloodDatagramsBetweenRoundTrips: floodBetween,
    });
    expect(flood.error).toBeNull();
    expect(floodFrames).toBe(CHUNKS * FRAMES_PER_CHUNK);
    expect(pauses, 'the I/O thread paused the flooder (reader ring full)').toBeGreaterThan(0);
    // The server, not the flooder, set the pace: shown in bytes by the in-flight bound below (the
    // fraction of its time the flooder spent blocked is recorded above, not asserted: it is a timing).
    expect(floodReader.getDroppedCount()).toBe(0);
    // Between the flooder's kernel and the application: socket buffers + one reader ring (+ at most
    // one ring's worth in a polled reader's queue), never the flood: at most half of it.
    const floodBytes = CHUNKS * FRAMES_PER_CHUNK * (PAYLOAD + 2);
    expect(maxInFlight * (PAYLOAD + 2), 'bytes in flight between the flooder and the application').toBeLessThan(floodBytes / 2);
    expect(mem.growth, `RSS growth ${(mem.growth / MiB).toFixed(1)} MiB`).toBeLessThan(200 * MiB);
    // The ping-pong clients (on the main reader) kept going while the flood reader was paced.
    for (const [i, n] of floodBetween.entries()) expect(n, `ping-pong client ${i}: most flood datagrams consumed between two of its round trips`).toBeLessThan((CHUNKS * FRAMES_PER_CHUNK) / 4);
    expect(app.resets).toEqual([]);
    await yieldOnce();
  }, 45_000);
});
