/**
 * One message router of the `md` workload, in its own process (so runs don't share a heap):
 *
 * - `baseline`: the plain single-threaded `node:net` router of bench/e2e/md-router-baseline.ts
 *   (`flush: 'tick'`: its variant that writes once per event-loop turn);
 * - `pandanet`: pandanet's `MessageDirector` (`threads` I/O threads, 0 = polled) on 127.0.0.1:0,
 *   routing on this process's main thread as it does in `pandanet md`.
 *
 * Commands: `start` / `stop` open and close a measurement window (every thread's CPU, labelled
 * `main` / `io-K` / `other`, the main thread's wait for a CPU, process CPU; the router's own
 * counters); `stop` with `exit` not false then stops the router and exits.
 *
 * Usage (by the orchestrator only): `fork(md-router.js, [JSON MdRouterParams])`.
 *
 * Thread: main thread of the router process.
 * @module
 */
import { MessageDirector } from '../../src/index.js';
import { guardLog, logCounts } from '../lib/log-guard.js';
import { CpuWindow, ThreadLabels, type WindowReport } from '../lib/server-window.js';
import { startBaselineRouter, type BaselineFlush, type BaselineRouterStats } from './md-router-baseline.js';
import { paramsFromArgv } from './protocol.js';

/** Router process parameters. */
export interface MdRouterParams {
  router: 'baseline' | 'pandanet';
  /** pandanet: I/O threads (0 = polled). */
  threads: number;
  /** baseline: write after each read chunk (default) or once per event-loop turn. */
  flush?: BaselineFlush;
  /** pandanet: join this NATS mesh (the `md-mesh` workload); absent: the node routes alone. */
  nats?: { servers: string; cluster: string; deadAfterMs?: number };
  /** pandanet: the node's name (logs). */
  name?: string;
}

export type MdRouterCommand = { kind: 'start' } | { kind: 'stop'; exit?: boolean };
export type MdRouterMessage =
  | { kind: 'listening'; port: number }
  | { kind: 'started' }
  | {
      kind: 'report';
      window: WindowReport;
      /** Baseline: its counters over the window; pandanet: `MessageDirector.getStats()` at the window's end (as it returns it). */
      stats: unknown;
      /** pandanet's log lines so far, counted (a router under overload may log drops). */
      log: Record<string, number>;
    }
  | { kind: 'error'; message: string };

const p = paramsFromArgv<MdRouterParams>();
guardLog();
const labels = new ThreadLabels();
const cpu = new CpuWindow(labels);
let director: MessageDirector | null = null;
let baseStats: BaselineRouterStats | null = null;
let statsAtStart: BaselineRouterStats | null = null;

function send(m: MdRouterMessage): void {
  process.send?.(m);
}

async function startPandanet(): Promise<number> {
  labels.markBefore();
  const md = new MessageDirector({ host: '127.0.0.1', port: 0, threads: p.threads, name: p.name ?? 'bench', ...(p.nats !== undefined ? { nats: p.nats } : {}) });
  director = md;
  const addr = await md.start();
  labels.markAfter(Math.max(1, p.threads));
  return addr.port;
}

async function startBaseline(): Promise<number> {
  const r = await startBaselineRouter('127.0.0.1', 0, p.flush ?? 'chunk');
  baseStats = r.stats;
  return r.port;
}

function stats(): unknown {
  if (director !== null) return director.getStats();
  if (baseStats === null || statsAtStart === null) return null;
  const a = statsAtStart;
  const b = baseStats;
  return { participants: b.participants, datagramsIn: b.datagramsIn - a.datagramsIn, datagramsOut: b.datagramsOut - a.datagramsOut, controls: b.controls - a.controls, noSubscriber: b.noSubscriber - a.noSubscriber, terminated: b.terminated - a.terminated };
}

process.on('message', (m: MdRouterCommand) => {
  switch (m.kind) {
    case 'start':
      statsAtStart = baseStats === null ? null : { ...baseStats };
      cpu.begin();
      send({ kind: 'started' });
      return;
    case 'stop': {
      const window = cpu.end();
      send({ kind: 'report', window, stats: stats(), log: logCounts() });
      if (m.exit === false) return;
      const done = (): void => {
        process.disconnect?.();
        setTimeout(() => process.exit(0), 100);
      };
      if (director !== null) director.stop().then(done, done);
      else done();
      return;
    }
    default:
      send({ kind: 'error', message: `unknown command ${JSON.stringify(m)}` });
  }
});

process.on('uncaughtException', (err) => {
  send({ kind: 'error', message: err.stack ?? err.message });
  setTimeout(() => process.exit(1), 100);
});

try {
  const port = p.router === 'baseline' ? await startBaseline() : await startPandanet();
  send({ kind: 'listening', port });
} catch (err) {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100);
}
