/**
 * The `budget` workload: what each mode costs the main thread, and how busy each I/O thread is.
 *
 * For each mode (the `node:net` baseline; pandanet with 0, 1, 2, 4 threads), in every round: a fresh
 * echo server (bench/e2e/echo-server.ts, drainData loop) and a fixed-rate client in another process;
 * two phases, each a measurement window on the server:
 * - `saturated`: closed loop, as many datagrams as the server takes (its maximum);
 * - `fixed`: the same offered rate for every mode (default 30,000 datagrams/s, below every mode's
 *   maximum on this machine), so the modes are compared doing the same work.
 * Per window: main-thread CPU per datagram (from `/proc/thread-self/schedstat`: CPU accounting, not
 * an estimate), CPU of every thread labelled `main` / `io-K` / `other` (from
 * `/proc/self/task/<tid>/schedstat`; I/O threads recognised as the threads the pandanet objects
 * created), and each I/O thread's event-loop utilisation (`manager.getThreadStats()`).
 *
 * The load: the native C client's fixed-rate mode (bench/native/echo-client.c `--phases`, one
 * thread) when a C compiler builds it, else the Node rate client (bench/e2e/rate-client.ts); `--load`
 * forces one. The result says which (`load`, `loadNote`) and shows the client's CPU per datagram, so
 * a reader sees how much of the box the load took.
 *
 * The pandanet loop is the echo server's: poll, drain up to 8,192 datagrams, send each back; after
 * 64 empty iterations it sleeps 1 ms. That polling is main-thread CPU too, and it is counted.
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import { bounded, errText } from '../lib/harness.js';
import { f2, k, mdTable, pct, range } from '../lib/format.js';
import type { Progress } from '../lib/progress.js';
import { Quiet } from '../lib/quiet.js';
import { markdownHeader, resultBase, resultHeader, saveResult, type ResultHeader } from '../lib/report.js';
import { round, spread, type Spread } from '../lib/stats.js';
import { barChartSvg } from '../lib/svg.js';
import type { ServerParams } from './protocol.js';
import { EchoSession, type PhaseOutcome } from './session.js';
import { chooseLoad, type LoadKind, type LoadRequest } from '../lib/native-load.js';

export interface BudgetOptions {
  runs: number;
  threads: number[];
  /** The fixed phase's offered rate, datagrams/s. */
  ratePerSec: number;
  connections: number;
  clientThreads: number;
  inFlight: number;
  warmupMs: number;
  measureMs: number;
  timeoutMs: number;
  quietWaitMs: number;
  quietBudgetMs: number;
  quick: boolean;
  save: boolean;
  /** The load generator (`--load`): `auto` = the native client when it builds, else the Node rate client. */
  load: LoadRequest;
}

export const BUDGET_DEFAULTS: BudgetOptions = {
  runs: 3,
  threads: [0, 1, 2, 4],
  ratePerSec: 30_000,
  connections: 100,
  clientThreads: 2,
  inFlight: 32,
  warmupMs: 500,
  measureMs: 2000,
  timeoutMs: 45_000,
  quietWaitMs: 3000,
  quietBudgetMs: 30_000,
  quick: false,
  save: true,
  load: 'auto',
};

export const BUDGET_QUICK: Partial<BudgetOptions> = { runs: 1, threads: [1], ratePerSec: 10_000, connections: 20, warmupMs: 200, measureMs: 500, quietWaitMs: 0, quick: true };

/** One window's figures. */
interface Window {
  datagramsPerSec: number;
  mainCpuUsPerDg: number;
  /** CPU as a share of one core over the window. */
  mainCore: number;
  ioCore: number[];
  otherCore: number;
  processCpuUsPerDg: number;
  ioUtilization: number[];
  mainRunDelayShare: number;
  otherLoadCores: number;
  /** The load client's process CPU over the phase per echo it received, µs. */
  clientCpuUsPerDg: number;
}

interface BudgetRun {
  round: number;
  mode: string;
  ok: boolean;
  error?: string;
  saturated?: Window;
  fixed?: Window;
  wallMs: number;
}

interface WindowSummary {
  datagramsPerSec: Spread;
  mainCpuUsPerDg: Spread;
  mainCore: Spread;
  ioCore: number[];
  otherCore: Spread;
  processCpuUsPerDg: Spread;
  ioUtilization: number[];
  otherLoadCores: Spread;
  clientCpuUsPerDg: Spread;
}

interface ModeSummary {
  mode: string;
  threads: number;
  saturated: WindowSummary;
  fixed: WindowSummary;
  okRuns: number;
  failedRuns: number;
}

export interface BudgetResult extends ResultHeader {
  options: BudgetOptions;
  /** The load generator used and a line saying which and why (a fallback says so). */
  load: LoadKind;
  loadNote: string;
  runs: BudgetRun[];
  summary: ModeSummary[];
  targets: Array<{ target: string; mode: string; value: number; pass: boolean }>;
  totalWallMs: number;
}

function modes(o: BudgetOptions): Array<{ mode: string; threads: number; params: ServerParams }> {
  return [
    { mode: 'baseline', threads: 0, params: { server: 'baseline', threads: 0, drain: 'drainData', idle: 'backoff', workUs: 0 } },
    ...o.threads.map((t) => ({ mode: `pandanet t${t}`, threads: t, params: { server: 'pandanet', threads: t, drain: 'drainData', idle: 'backoff', workUs: 0 } as ServerParams })),
  ];
}

export function budgetSteps(o: BudgetOptions): number {
  return o.runs * modes(o).length;
}

function window(ph: PhaseOutcome, ioThreads: number): Window {
  const s = ph.server;
  const n = Math.max(1, s.datagrams);
  const us = s.windowMs * 1000;
  const io = new Array<number>(ioThreads).fill(0);
  let other = 0;
  let main = 0;
  for (const t of s.threads) {
    if (t.label === 'main') main += t.cpuUs;
    else if (t.label.startsWith('io-')) {
      const i = Number(t.label.slice(3));
      if (i < ioThreads) io[i] = t.cpuUs / us;
    } else other += t.cpuUs;
  }
  return {
    datagramsPerSec: (s.datagrams / s.windowMs) * 1000,
    mainCpuUsPerDg: s.mainCpuUs / n,
    mainCore: main / us,
    ioCore: io,
    otherCore: other / us,
    processCpuUsPerDg: s.processCpuUs / n,
    ioUtilization: s.ioThreads.map((x) => x.utilization),
    mainRunDelayShare: s.mainRunDelayUs / us,
    otherLoadCores: ph.otherLoadCores,
    clientCpuUsPerDg: ph.client.clientCpuUs / Math.max(1, ph.client.received),
  };
}

function summarizeWindows(ws: Window[], nIo: number): WindowSummary {
  const col = (f: (w: Window) => number): Spread => spread(ws.map(f));
  return {
    datagramsPerSec: col((w) => w.datagramsPerSec),
    mainCpuUsPerDg: col((w) => w.mainCpuUsPerDg),
    mainCore: col((w) => w.mainCore),
    ioCore: Array.from({ length: nIo }, (_, i) => round(spread(ws.map((w) => w.ioCore[i] ?? Number.NaN)).median, 3)),
    otherCore: col((w) => w.otherCore),
    processCpuUsPerDg: col((w) => w.processCpuUsPerDg),
    ioUtilization: Array.from({ length: nIo }, (_, i) => round(spread(ws.map((w) => w.ioUtilization[i] ?? Number.NaN)).median, 3)),
    otherLoadCores: col((w) => w.otherLoadCores),
    clientCpuUsPerDg: col((w) => w.clientCpuUsPerDg),
  };
}

/** The Markdown table. */
export function budgetTable(r: BudgetResult): string {
  const rows: string[][] = [];
  for (const m of r.summary) {
    for (const [label, w] of [
      ['saturated', m.saturated],
      [`fixed ${k(r.options.ratePerSec)}/s`, m.fixed],
    ] as const) {
      const base = m.mode === 'baseline';
      rows.push([
        base ? 'baseline `node:net`' : m.mode,
        label,
        range(w.datagramsPerSec, k),
        range(w.mainCpuUsPerDg, f2),
        range(w.processCpuUsPerDg, f2),
        range(w.mainCore, pct),
        base ? '—' : w.ioCore.map(pct).join(' / '),
        base ? '—' : w.ioUtilization.map(pct).join(' / '),
        range(w.otherCore, pct),
        range(w.otherLoadCores, f2),
        range(w.clientCpuUsPerDg, f2),
        `${m.okRuns}/${m.okRuns + m.failedRuns}`,
      ]);
    }
  }
  return mdTable(
    ['mode', 'load', 'dg/s', 'main-thread CPU µs/dg', 'process CPU µs/dg', 'main thread, % of a core', 'each I/O thread, % of a core', 'each I/O thread, event-loop utilisation', 'other threads (V8, libuv), % of a core', 'other load, cores', `load client CPU µs/dg (${r.load})`, 'ok/runs'],
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  );
}

function chart(r: BudgetResult): string {
  return barChartSvg({
    title: 'Main-thread CPU per datagram (echo, drainData loop)',
    subtitle: `/proc/thread-self/schedstat over the window; median of ${r.options.runs} runs; saturated and at a fixed ${k(r.options.ratePerSec)}/s`,
    yLabel: 'µs of main-thread CPU per datagram',
    groups: r.summary.map((m) => m.mode.replace('pandanet ', '')),
    series: [
      { name: 'saturated', values: r.summary.map((m) => m.saturated.mainCpuUsPerDg.median), low: r.summary.map((m) => m.saturated.mainCpuUsPerDg.min), high: r.summary.map((m) => m.saturated.mainCpuUsPerDg.max) },
      { name: `fixed ${k(r.options.ratePerSec)}/s`, values: r.summary.map((m) => m.fixed.mainCpuUsPerDg.median), low: r.summary.map((m) => m.fixed.mainCpuUsPerDg.min), high: r.summary.map((m) => m.fixed.mainCpuUsPerDg.max) },
    ],
    refLines: [{ value: 0.5, label: 'target ≤ 0.5 µs (threaded)' }],
  });
}

/** Runs the budget workload. */
export async function runBudget(options: Partial<BudgetOptions>, progress: Progress): Promise<BudgetResult> {
  const o: BudgetOptions = { ...BUDGET_DEFAULTS, ...(options.quick === true ? BUDGET_QUICK : {}), ...options };
  const started = performance.now();
  const header = resultHeader('budget');
  const quiet = new Quiet({ perRunMs: o.quietWaitMs, cores: 0.25, budgetMs: o.quietBudgetMs });
  const ms = modes(o);
  const runs: BudgetRun[] = [];
  const load = chooseLoad(o.load);
  console.log(load.note);
  console.log(`budget: ${o.connections} connections × 64 B echo; per mode and round a saturated window and a fixed ${o.ratePerSec}/s window (${o.warmupMs} ms warm-up + ${o.measureMs} ms each); ${o.runs} rounds`);
  for (let roundNo = 1; roundNo <= o.runs; roundNo++) {
    const shift = (roundNo - 1) % ms.length;
    for (const { mode, threads, params } of [...ms.slice(shift), ...ms.slice(0, shift)]) {
      progress.setNote(`budget ${mode} round ${roundNo}`);
      if (o.quietWaitMs > 0) await quiet.wait();
      const t0 = performance.now();
      const run: BudgetRun = { round: roundNo, mode, ok: false, wallMs: 0 };
      const nIo = params.server === 'baseline' ? 0 : Math.max(1, threads);
      try {
        await bounded(o.timeoutMs, async (ctx) => {
          const s = await EchoSession.open(ctx, params, mode, o.connections, o.clientThreads, 64, load);
          run.saturated = window(await s.phase({ kind: 'phase', mode: 'max', inFlight: o.inFlight, warmupMs: o.warmupMs, measureMs: o.measureMs, drainMs: 3000 }), nIo);
          const fx = await s.phase({ kind: 'phase', mode: 'rate', ratePerSec: o.ratePerSec, warmupMs: o.warmupMs, measureMs: o.measureMs, drainMs: 3000 });
          if (fx.client.missing + fx.client.dropped > 0) throw new Error(`${fx.client.missing + fx.client.dropped} echoes missing at ${o.ratePerSec}/s (${fx.serverDropped} dropped by the server's reader)`);
          run.fixed = window(fx, nIo);
          await s.close();
        });
        run.ok = true;
      } catch (err) {
        run.error = errText(err);
      }
      run.wallMs = performance.now() - t0;
      runs.push(run);
      progress.step();
      progress.log(
        run.ok
          ? `budget r${roundNo} ${mode.padEnd(12)} saturated ${k(run.saturated!.datagramsPerSec)}/s main ${f2(run.saturated!.mainCpuUsPerDg)} µs/dg; fixed: main ${f2(run.fixed!.mainCpuUsPerDg)} µs/dg, main ${pct(run.fixed!.mainCore)} io ${run.fixed!.ioCore.map(pct).join('/')} ELU ${run.fixed!.ioUtilization.map(pct).join('/')} (other load ${f2(run.fixed!.otherLoadCores)}; load client ${f2(run.saturated!.clientCpuUsPerDg)} / ${f2(run.fixed!.clientCpuUsPerDg)} µs/dg)`
          : `budget r${roundNo} ${mode} FAILED: ${run.error}`,
      );
    }
  }
  const summary: ModeSummary[] = ms.map(({ mode, threads, params }) => {
    const mine = runs.filter((r) => r.mode === mode);
    const ok = mine.filter((r) => r.ok);
    const nIo = params.server === 'baseline' ? 0 : Math.max(1, threads);
    return { mode, threads, saturated: summarizeWindows(ok.map((r) => r.saturated!), nIo), fixed: summarizeWindows(ok.map((r) => r.fixed!), nIo), okRuns: ok.length, failedRuns: mine.length - ok.length };
  });
  const targets: BudgetResult['targets'] = [];
  for (const m of summary) {
    if (m.mode === 'baseline' || m.threads === 0 || m.saturated.mainCpuUsPerDg.n === 0) continue;
    targets.push({ target: 'main thread ≤ 0.5 µs CPU per datagram (threaded, saturated)', mode: m.mode, value: round(m.saturated.mainCpuUsPerDg.median), pass: m.saturated.mainCpuUsPerDg.median <= 0.5 });
    targets.push({ target: `main thread ≤ 0.5 µs CPU per datagram (threaded, fixed ${r0(o.ratePerSec)}/s)`, mode: m.mode, value: round(m.fixed.mainCpuUsPerDg.median), pass: m.fixed.mainCpuUsPerDg.median <= 0.5 });
  }
  const result: BudgetResult = { ...header, options: o, load: load.load, loadNote: load.note, runs, summary, targets, totalWallMs: Math.round(performance.now() - started) };
  const table = budgetTable(result);
  console.log('');
  console.log(table);
  console.log('');
  for (const t of targets) console.log(`- ${t.pass ? 'MET' : 'MISSED'} ${t.mode}: ${t.target}: ${t.value}`);
  if (o.save) {
    const base = resultBase('budget', header.date, o.quick);
    const md = `${markdownHeader('Main-thread budget', header, [`${o.connections} connections × 64 B echo, drainData loop; ${o.runs} rounds; load generator in a separate process`, load.note])}\n${table}\n`;
    console.log(`\nfiles: ${saveResult(base, result, md, { 'main-thread': chart(result) }).join(', ')}`);
  }
  return result;
}

const r0 = (x: number): string => Math.round(x).toLocaleString('en-US');
