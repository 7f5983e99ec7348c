/**
 * One message router of the `md` workload, in its own process (so runs don't share a heap):
 *
 * - `baseline`: the plain single-threaded `node:net` router of bench/e2e/md-router-baseline.ts
 *   (`flush: 'tick'`: its variant that writes once per event-loop turn);
 * - `pandanet`: pandanet's `MessageDirector` (`threads` I/O threads, 0 = polled) on 127.0.0.1:0,
 *   routing on this process's main thread as it does in `pandanet md`;
 * - `astron`: Astron's own `astrond` (a native build outside this repository, `astron.bin`) as a
 *   child of this process, message director only, on `astron.port`; with `astron.upstreamPort` it
 *   joins Astron's tree as a child of the MD there (once that port accepts). The window's CPU
 *   figures are then astrond's (utime + stime from /proc/PID/stat, 10 ms ticks).
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
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageDirector } from '../../src/index.js';
import { guardLog, logCounts } from '../lib/log-guard.js';
import { CpuWindow, ThreadLabels, type WindowReport } from '../lib/server-window.js';
import { startBaselineRouter, type BaselineFlush, type BaselineRouterStats } from './md-router-baseline.js';
import { paramsFromArgv } from './protocol.js';

/** Router process parameters. */
export interface MdRouterParams {
  router: 'baseline' | 'pandanet' | 'astron';
  /** pandanet: I/O threads (0 = polled). */
  threads: number;
  /** baseline: write after each read chunk (default) or once per event-loop turn. */
  flush?: BaselineFlush;
  /** pandanet: join this NATS mesh (the `md-mesh` workload); absent: the node routes alone. */
  nats?: { servers: string; cluster: string; deadAfterMs?: number };
  /** pandanet: the node's name (logs). */
  name?: string;
  /**
   * Read by the orchestrator (bench/e2e/md.ts `MdSession`), not the router: run the client in
   * cross-node mode against this one router (both "nodes" are it) — md-mesh's loopback baseline.
   */
  crossLoopback?: boolean;
  /**
   * Read by the orchestrator, not the router: no participant connects here (a tree's root between
   * two children that hold them: md-mesh's cross-branch tree). Default: participants may.
   */
  relayOnly?: boolean;
  /** astron: the astrond binary, its port on 127.0.0.1, and its parent's port (a child of Astron's tree). */
  astron?: { bin: string; port: number; upstreamPort?: number };
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

let astrond: ChildProcess | null = null;
let astronDir = '';
let astronCpuAtStart = 0;

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function untilAccepts(port: number, what: string): Promise<void> {
  const until = performance.now() + 10_000;
  while (!(await accepts(port))) {
    if (performance.now() > until || (astrond !== null && astrond.exitCode !== null)) throw new Error(`${what} (127.0.0.1:${port}) does not accept connections`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** astrond's CPU so far, µs (utime + stime of /proc/PID/stat, in 10 ms ticks). */
function astronCpuUs(): number {
  if (astrond?.pid === undefined) return 0;
  try {
    const f = readFileSync(`/proc/${astrond.pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10_000; // fields 14, 15 (CLK_TCK 100)
  } catch {
    return 0;
  }
}

async function startAstron(): Promise<number> {
  const a = p.astron;
  if (a === undefined) throw new Error('router astron needs astron: { bin, port }');
  if (a.upstreamPort !== undefined) await untilAccepts(a.upstreamPort, 'the Astron tree’s parent MD');
  astronDir = mkdtempSync(join(tmpdir(), 'pandanet-bench-astron-'));
  const cfg = join(astronDir, 'astrond.yml');
  writeFileSync(cfg, `messagedirector:\n    bind: 127.0.0.1:${a.port}\n${a.upstreamPort !== undefined ? `    connect: 127.0.0.1:${a.upstreamPort}\n` : ''}`);
  let log = '';
  // setpriv --pdeathsig: astrond dies with this process, however it ends (SIGKILL included).
  const pdeath = existsSync('/usr/bin/setpriv');
  const proc = spawn(pdeath ? '/usr/bin/setpriv' : a.bin, [...(pdeath ? ['--pdeathsig', 'KILL', a.bin] : []), '--loglevel', 'warning', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  astrond = proc;
  const keep = (b: Buffer): void => {
    log = (log + b.toString()).slice(-2000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  await untilAccepts(a.port, `astrond ${a.bin}`).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; its output: ${log}`);
  });
  return a.port;
}

function stopAstron(): void {
  if (astrond !== null && astrond.exitCode === null && astrond.signalCode === null) astrond.kill('SIGKILL');
  if (astronDir !== '') rmSync(astronDir, { recursive: true, force: true });
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
      astronCpuAtStart = astronCpuUs();
      cpu.begin();
      send({ kind: 'started' });
      return;
    case 'stop': {
      let window = cpu.end();
      if (astrond !== null) {
        const us = astronCpuUs() - astronCpuAtStart;
        window = { ...window, mainCpuUs: us, processCpuUs: us, mainRunDelayUs: Number.NaN, cpuSource: 'astrond /proc/PID/stat (10 ms ticks)', threads: [], io: [] };
      }
      send({ kind: 'report', window, stats: stats(), log: logCounts() });
      if (m.exit === false) return;
      const done = (): void => {
        process.disconnect?.();
        setTimeout(() => process.exit(0), 100);
      };
      if (director !== null) director.stop().then(done, done);
      else {
        stopAstron();
        done();
      }
      return;
    }
    default:
      send({ kind: 'error', message: `unknown command ${JSON.stringify(m)}` });
  }
});

process.on('exit', stopAstron);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    stopAstron();
    process.exit(1);
  });
}
process.on('disconnect', () => {
  if (astrond !== null) {
    stopAstron();
    process.exit(0);
  }
});

process.on('uncaughtException', (err) => {
  send({ kind: 'error', message: err.stack ?? err.message });
  setTimeout(() => process.exit(1), 100);
});

try {
  const port = p.router === 'baseline' ? await startBaseline() : p.router === 'astron' ? await startAstron() : await startPandanet();
  send({ kind: 'listening', port });
} catch (err) {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100);
}
