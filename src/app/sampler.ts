/**
 * Turns the server's cumulative counters (`manager.getStats()`, the game's own totals) into one
 * figure set per interval: rates per second, queue depths, utilisation. The live view and the
 * Prometheus endpoint both read these samples, so the manager's utilisation window (which restarts
 * at every `getStats()` call) is read by one caller only.
 *
 * Thread: main thread only.
 * @module
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { ManagerStats } from '../index.js';
import type { BotReport } from './bots.js';
import type { GameServer, GameServerCounters } from './game-server.js';
import type { LoopStats } from './loop.js';

/** One I/O thread in a {@link Sample}. */
export interface ThreadSample {
  index: number;
  alive: boolean;
  connections: number;
  /** 0..1 over the interval. */
  utilization: number;
  datagramsInPerS: number;
  datagramsOutPerS: number;
}

/** Everything shown for one interval. */
export interface Sample {
  /** Seconds since the sampler started. */
  elapsedS: number;
  /** Length of this interval, s. */
  intervalS: number;
  host: string;
  port: number;
  threadsAsked: number;
  tickRate: number;
  /** Open connections known to the manager (clients + the rendezvous). */
  connections: number;
  clients: number;
  datagramsInPerS: number;
  bytesInPerS: number;
  datagramsOutPerS: number;
  bytesOutPerS: number;
  /** Totals since start, from the I/O threads. */
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  accepts: number;
  resets: number;
  resetsPerS: number;
  backpressurePauses: number;
  /** TCP writes the I/O threads issued since start (`datagramsOut / tcpWrites`: datagrams per write). */
  tcpWrites: number;
  /** Socket reads the I/O threads took since start (`datagramsIn / tcpReads`: datagrams per read). */
  tcpReads: number;
  /** Times the I/O threads' outbound loops went to sleep since start (each later send wakes one). */
  outboundSleeps: number;
  /** The manager's stats this sample was made from (`pandanet/metrics` exports them as they are). */
  manager: ManagerStats;
  /** Reader queues (the game's reader and the listener), depth and cap. */
  readers: ManagerStats['readers'];
  writers: ManagerStats['writers'];
  /** Any reader's sticky overflow flag. */
  overflow: boolean;
  dropped: number;
  /** Main thread busy fraction over the interval, 0..1. */
  mainUtilization: number;
  threads: ThreadSample[];
  ticksPerS: number;
  /** Mean time in one tick over the interval, and the longest tick since start, ms. */
  tickMs: number;
  tickMaxMs: number;
  loop: LoopStats;
  game: GameServerCounters;
  inputsPerS: number;
  snapshotsPerS: number;
  /** The bots' latest report, null when there are none (yet). */
  bots: BotReport | null;
  /** The bots' rates over their latest reporting interval. */
  botsInputsPerS: number;
  botsSnapshotsPerS: number;
}

interface Previous {
  at: number;
  elu: EventLoopUtilization;
  threads: Map<number, { dgIn: number; dgOut: number; bytesIn: number; bytesOut: number }>;
  totals: { dgIn: number; dgOut: number; bytesIn: number; bytesOut: number; resets: number };
  loop: LoopStats;
  game: GameServerCounters;
  bots: BotReport | null;
}

const nonNeg = (n: number): number => (n > 0 ? n : 0);

/** Samples a {@link GameServer}. */
export class Sampler {
  readonly #server: GameServer;
  readonly #startedAt = performance.now();
  #prev: Previous;
  #botsRates = { inputs: 0, snapshots: 0 };

  constructor(server: GameServer) {
    this.#server = server;
    const s = server.stats();
    this.#prev = {
      at: performance.now(),
      elu: performance.eventLoopUtilization(),
      threads: new Map(s.manager.threads.map((t) => [t.index, { dgIn: t.datagramsIn, dgOut: t.datagramsOut, bytesIn: t.bytesIn, bytesOut: t.bytesOut }])),
      totals: { dgIn: 0, dgOut: 0, bytesIn: 0, bytesOut: 0, resets: 0 },
      loop: s.loop,
      game: s.counters,
      bots: null,
    };
  }

  /** Figures since the previous call (or construction). `bots` is the bots' latest report, if any. */
  sample(bots: BotReport | null): Sample {
    const now = performance.now();
    const s = this.#server.stats();
    const m = s.manager;
    const prev = this.#prev;
    const dt = Math.max(1e-3, (now - prev.at) / 1000);
    const elu = performance.eventLoopUtilization();
    const mainUtilization = performance.eventLoopUtilization(elu, prev.elu).utilization;

    const threads: ThreadSample[] = [];
    const nextThreads: Previous['threads'] = new Map();
    let dIn = 0;
    let dOut = 0;
    let dBytesIn = 0;
    let dBytesOut = 0;
    let accepts = 0;
    let resets = 0;
    let pauses = 0;
    let tcpWrites = 0;
    let tcpReads = 0;
    let outboundSleeps = 0;
    for (const t of m.threads) {
      const p = prev.threads.get(t.index) ?? { dgIn: 0, dgOut: 0, bytesIn: 0, bytesOut: 0 };
      // A replaced thread starts from 0: count what it has as new.
      const restarted = t.datagramsIn < p.dgIn || t.datagramsOut < p.dgOut;
      const base = restarted ? { dgIn: 0, dgOut: 0, bytesIn: 0, bytesOut: 0 } : p;
      const tIn = nonNeg(t.datagramsIn - base.dgIn);
      const tOut = nonNeg(t.datagramsOut - base.dgOut);
      dIn += tIn;
      dOut += tOut;
      dBytesIn += nonNeg(t.bytesIn - base.bytesIn);
      dBytesOut += nonNeg(t.bytesOut - base.bytesOut);
      accepts += t.accepts;
      resets += t.resets;
      pauses += t.backpressurePauses;
      tcpWrites += t.tcpWrites;
      tcpReads += t.tcpReads;
      outboundSleeps += t.outboundSleeps;
      nextThreads.set(t.index, { dgIn: t.datagramsIn, dgOut: t.datagramsOut, bytesIn: t.bytesIn, bytesOut: t.bytesOut });
      threads.push({ index: t.index, alive: t.alive, connections: t.connections, utilization: t.utilization, datagramsInPerS: tIn / dt, datagramsOutPerS: tOut / dt });
    }
    const totals = {
      dgIn: prev.totals.dgIn + dIn,
      dgOut: prev.totals.dgOut + dOut,
      bytesIn: prev.totals.bytesIn + dBytesIn,
      bytesOut: prev.totals.bytesOut + dBytesOut,
      resets: m.resetsReported,
    };
    const steps = s.loop.steps - prev.loop.steps;
    const busy = s.loop.busyMs - prev.loop.busyMs;
    const botsPrev = prev.bots;
    if (bots !== null && (botsPrev === null || bots.elapsedMs > botsPrev.elapsedMs)) {
      // Rates over the bots' own reporting interval (their reports are not in step with ours).
      const bdt = Math.max(1e-3, (bots.elapsedMs - (botsPrev?.elapsedMs ?? 0)) / 1000);
      this.#botsRates = {
        inputs: nonNeg(bots.inputsSent - (botsPrev?.inputsSent ?? 0)) / bdt,
        snapshots: nonNeg(bots.snapshotsReceived - (botsPrev?.snapshotsReceived ?? 0)) / bdt,
      };
    }
    const sample: Sample = {
      elapsedS: (now - this.#startedAt) / 1000,
      intervalS: dt,
      host: this.#server.host,
      port: this.#server.port,
      threadsAsked: this.#server.threads,
      tickRate: this.#server.tickRate,
      connections: m.connections,
      clients: s.clients,
      datagramsInPerS: dIn / dt,
      bytesInPerS: dBytesIn / dt,
      datagramsOutPerS: dOut / dt,
      bytesOutPerS: dBytesOut / dt,
      datagramsIn: totals.dgIn,
      bytesIn: totals.bytesIn,
      datagramsOut: totals.dgOut,
      bytesOut: totals.bytesOut,
      accepts,
      resets: m.resetsReported,
      resetsPerS: nonNeg(m.resetsReported - prev.totals.resets) / dt,
      backpressurePauses: pauses,
      tcpWrites,
      tcpReads,
      outboundSleeps,
      manager: m,
      readers: m.readers,
      writers: m.writers,
      overflow: m.readers.some((r) => r.overflow),
      dropped: m.readers.reduce((a, r) => a + r.dropped, 0),
      mainUtilization,
      threads,
      ticksPerS: steps / dt,
      tickMs: steps > 0 ? busy / steps : 0,
      tickMaxMs: s.loop.maxBusyMs,
      loop: s.loop,
      game: s.counters,
      inputsPerS: nonNeg(s.counters.inputs - prev.game.inputs) / dt,
      snapshotsPerS: nonNeg(s.counters.snapshotsSent - prev.game.snapshotsSent) / dt,
      bots,
      botsInputsPerS: this.#botsRates.inputs,
      botsSnapshotsPerS: this.#botsRates.snapshots,
    };
    const keepBots = bots === null || (botsPrev !== null && bots.elapsedMs <= botsPrev.elapsedMs) ? botsPrev : bots;
    this.#prev = { at: now, elu, threads: nextThreads, totals, loop: s.loop, game: s.counters, bots: keepBots };
    return sample;
  }
}
