/**
 * The `broadcast` workload: a game server ticking at 60 Hz to 1,000 connected clients.
 *
 * With `transport: 'ws'` (`--transport ws`) the clients are WebSocket clients (one datagram per binary
 * message), pandanet serves them from a WebSocket rendezvous and the baseline is a plain `ws` server.
 *
 * Per server kind (the `node:net` baseline; pandanet with each thread count) and round: a fresh
 * server process (bench/e2e/broadcast-server.ts) and a fresh client process
 * (bench/e2e/broadcast-client.ts, piscina threads) holding `connections` TCP connections. For
 * `durationMs` the server sends a 100-byte state datagram to every client every tick (1,000 × 60 =
 * 60,000 datagrams/s) while every client sends 20 inputs/s (20,000/s in all). Reported: datagrams
 * delivered (and per second), drops (expected − delivered: must be 0), delivery delay percentiles
 * (client receive time − server send time written in the datagram, both
 * `performance.timeOrigin + performance.now()` on the same machine), the delay from the tick's
 * scheduled time to receipt (which also counts late ticks and the broadcast loop's own time before
 * each send call: a server writing on its main thread spends it there), the server's tick lateness and
 * main-thread time per tick, its CPU per thread and I/O threads' utilisation, and other processes'
 * load during the run.
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import { bounded, errText } from '../lib/harness.js';
import { f2, int, k, mdTable, pct, range, us } from '../lib/format.js';
import type { Percentiles } from '../lib/percentiles.js';
import type { Progress } from '../lib/progress.js';
import { Quiet, busyNow, otherLoadCores } from '../lib/quiet.js';
import { markdownHeader, resultBase, resultHeader, saveResult, type ResultHeader } from '../lib/report.js';
import { round, spread, type Spread } from '../lib/stats.js';
import { barChartSvg } from '../lib/svg.js';
import type { BroadcastClientCommand, BroadcastClientMessage, BroadcastClientParams } from './broadcast-client.js';
import type { BroadcastServerCommand, BroadcastServerMessage, BroadcastServerParams } from './broadcast-server.js';

const SERVER = new URL('./broadcast-server.js', import.meta.url);
const CLIENT = new URL('./broadcast-client.js', import.meta.url);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface BroadcastOptions {
  runs: number;
  threads: number[];
  connections: number;
  hz: number;
  inputHz: number;
  /** TCP (default; baseline node:net) or WebSocket (baseline: a plain ws server). */
  transport: 'tcp' | 'ws';
  payloadBytes: number;
  inputBytes: number;
  durationMs: number;
  clientThreads: number;
  /** After the last tick, how long the client keeps reading before it stops, ms. */
  graceMs: number;
  timeoutMs: number;
  quietWaitMs: number;
  quietBudgetMs: number;
  quick: boolean;
  save: boolean;
}

export const BROADCAST_DEFAULTS: BroadcastOptions = {
  runs: 3,
  threads: [0, 1, 2],
  connections: 1000,
  hz: 60,
  inputHz: 20,
  transport: 'tcp',
  payloadBytes: 100,
  inputBytes: 32,
  durationMs: 5000,
  clientThreads: 2,
  graceMs: 500,
  timeoutMs: 60_000,
  quietWaitMs: 3000,
  quietBudgetMs: 30_000,
  quick: false,
  save: true,
};

export const BROADCAST_QUICK: Partial<BroadcastOptions> = { runs: 1, threads: [1], connections: 200, durationMs: 1000, quietWaitMs: 0, quick: true };

interface BroadcastRun {
  round: number;
  kind: string;
  ok: boolean;
  error?: string;
  ticks: number;
  expected: number;
  delivered: number;
  drops: number;
  sendFailures: number;
  gaps: number;
  mismatches: number;
  deliveredPerSec: number;
  inputsSent: number;
  inputsTaken: number;
  delay: Percentiles | null;
  /** From the tick's scheduled time to receipt (staleness of the state). */
  tickDelay: Percentiles | null;
  tickLateness: Percentiles | null;
  tickWork: Percentiles | null;
  mainCore: number;
  processCores: number;
  ioCore: number[];
  ioUtilization: number[];
  otherLoadCores: number;
  connectMs: number;
  wallMs: number;
}

interface KindSummary {
  kind: string;
  deliveredPerSec: Spread;
  drops: number;
  p50: Spread;
  p99: Spread;
  p999: Spread;
  max: Spread;
  tickDelayP50: Spread;
  tickDelayP99: Spread;
  tickLatenessP99: Spread;
  tickWorkP50: Spread;
  mainCore: Spread;
  processCores: Spread;
  ioUtilization: number[];
  otherLoadCores: Spread;
  okRuns: number;
  failedRuns: number;
}

export interface BroadcastResult extends ResultHeader {
  options: BroadcastOptions;
  runs: BroadcastRun[];
  summary: KindSummary[];
  targets: Array<{ target: string; kind: string; value: number; pass: boolean }>;
  totalWallMs: number;
}

function kinds(o: BroadcastOptions): Array<{ kind: string; params: BroadcastServerParams }> {
  const common = { hz: o.hz, payloadBytes: o.payloadBytes, transport: o.transport };
  return [{ kind: 'baseline', params: { server: 'baseline', threads: 0, ...common } }, ...o.threads.map((t) => ({ kind: `pandanet t${t}`, params: { server: 'pandanet', threads: t, ...common } as BroadcastServerParams }))];
}

export function broadcastSteps(o: BroadcastOptions): number {
  return o.runs * kinds(o).length;
}

function empty(roundNo: number, kind: string): BroadcastRun {
  const nan = Number.NaN;
  return { round: roundNo, kind, ok: false, ticks: 0, expected: 0, delivered: 0, drops: nan, sendFailures: 0, gaps: 0, mismatches: 0, deliveredPerSec: nan, inputsSent: 0, inputsTaken: 0, delay: null, tickDelay: null, tickLateness: null, tickWork: null, mainCore: nan, processCores: nan, ioCore: [], ioUtilization: [], otherLoadCores: nan, connectMs: nan, wallMs: 0 };
}

async function runOnce(o: BroadcastOptions, kind: string, params: BroadcastServerParams, roundNo: number): Promise<BroadcastRun> {
  const t0 = performance.now();
  const run = empty(roundNo, kind);
  try {
    await bounded(o.timeoutMs, async (ctx) => {
      const server = ctx.spawn<BroadcastServerMessage, BroadcastServerCommand>(SERVER, params, `bc-server ${kind}`);
      const { port } = await server.next('listening', ctx.left());
      const cp: BroadcastClientParams = { host: '127.0.0.1', port, transport: o.transport, connections: o.connections, clientThreads: o.clientThreads, payloadBytes: o.payloadBytes, inputHz: o.inputHz, inputBytes: o.inputBytes, deadlineMs: Math.max(10_000, o.timeoutMs - 5000) };
      const tc = performance.now();
      const client = ctx.spawn<BroadcastClientMessage, BroadcastClientCommand>(CLIENT, cp, `bc-client ${kind}`);
      await client.next('ready', ctx.left());
      server.send({ kind: 'start', connections: o.connections, durationMs: o.durationMs });
      client.send({ kind: 'go' });
      const conn = await server.next('connected', ctx.left());
      run.connectMs = performance.now() - tc;
      if (conn.connections < o.connections) throw new Error(`server saw only ${conn.connections} of ${o.connections} connections`);
      const b0 = busyNow();
      const w0 = performance.now();
      const done = await server.next('done', ctx.left());
      await sleep(o.graceMs);
      client.send({ kind: 'stop' });
      const res = await client.next('result', ctx.left());
      const wall = performance.now() - w0;
      const busy = busyNow() - b0;
      server.send({ kind: 'exit' });
      await Promise.all([server.exit(Math.min(3000, ctx.left())), client.exit(Math.min(3000, ctx.left()))]);
      const w = done.window;
      const winUs = w.windowMs * 1000;
      const nIo = params.server === 'baseline' ? 0 : Math.max(1, params.threads);
      const io = new Array<number>(nIo).fill(0);
      let main = 0;
      for (const t of w.threads) {
        if (t.label === 'main') main += t.cpuUs;
        else if (t.label.startsWith('io-') && Number(t.label.slice(3)) < nIo) io[Number(t.label.slice(3))] = t.cpuUs / winUs;
      }
      run.ticks = done.ticks;
      run.expected = done.ticks * o.connections;
      run.delivered = res.received;
      run.drops = run.expected - res.received;
      run.sendFailures = done.sendFailures;
      run.gaps = res.gaps;
      run.mismatches = res.mismatches;
      run.deliveredPerSec = (res.received / done.elapsedMs) * 1000;
      run.inputsSent = res.inputsSent;
      run.inputsTaken = done.inputs;
      run.delay = res.delay;
      run.tickDelay = res.tickDelay;
      run.tickLateness = done.tickLateness;
      run.tickWork = done.tickWork;
      run.mainCore = main / winUs;
      run.processCores = w.processCpuUs / winUs;
      run.ioCore = io;
      run.ioUtilization = w.io.map((x) => x.utilization);
      // The client's CPU covers go → stop, the server's window the ticks: over the same span, roughly.
      run.otherLoadCores = otherLoadCores(busy, w.processCpuUs + res.clientCpuUs, wall);
      const problems = [...res.errors];
      if (run.drops !== 0) problems.push(`${run.drops} datagrams not delivered (${done.sendFailures} send failures, ${res.gaps} gaps)`);
      if (res.mismatches > 0) problems.push(`${res.mismatches} datagrams out of order or malformed`);
      run.ok = problems.length === 0;
      if (!run.ok) run.error = problems.join('; ');
    });
  } catch (err) {
    run.error = errText(err);
  }
  run.wallMs = performance.now() - t0;
  return run;
}

function summarize(o: BroadcastOptions, runs: BroadcastRun[]): KindSummary[] {
  return kinds(o).map(({ kind, params }) => {
    const mine = runs.filter((r) => r.kind === kind);
    // A run with drops still measured delivery: keep it in the figures (drops are reported), leave out only runs that failed outright.
    const measured = mine.filter((r) => r.delay !== null);
    const col = (f: (r: BroadcastRun) => number): Spread => spread(measured.map(f));
    const nIo = params.server === 'baseline' ? 0 : Math.max(1, params.threads);
    return {
      kind,
      deliveredPerSec: col((r) => r.deliveredPerSec),
      drops: measured.reduce((s, r) => s + r.drops, 0),
      p50: col((r) => r.delay?.p50 ?? Number.NaN),
      p99: col((r) => r.delay?.p99 ?? Number.NaN),
      p999: col((r) => r.delay?.p999 ?? Number.NaN),
      max: col((r) => r.delay?.max ?? Number.NaN),
      tickDelayP50: col((r) => r.tickDelay?.p50 ?? Number.NaN),
      tickDelayP99: col((r) => r.tickDelay?.p99 ?? Number.NaN),
      tickLatenessP99: col((r) => r.tickLateness?.p99 ?? Number.NaN),
      tickWorkP50: col((r) => r.tickWork?.p50 ?? Number.NaN),
      mainCore: col((r) => r.mainCore),
      processCores: col((r) => r.processCores),
      ioUtilization: Array.from({ length: nIo }, (_, i) => round(spread(measured.map((r) => r.ioUtilization[i] ?? Number.NaN)).median, 3)),
      otherLoadCores: col((r) => r.otherLoadCores),
      okRuns: mine.filter((r) => r.ok).length,
      failedRuns: mine.filter((r) => !r.ok).length,
    };
  });
}

export function broadcastTable(r: BroadcastResult): string {
  const rows = r.summary.map((s) => [
    s.kind === 'baseline' ? (r.options.transport === 'ws' ? 'baseline `ws`' : 'baseline `node:net`') : s.kind,
    range(s.deliveredPerSec, k),
    int(s.drops),
    range(s.p50, us),
    range(s.p99, us),
    range(s.p999, us),
    range(s.max, us),
    range(s.tickDelayP50, us),
    range(s.tickDelayP99, us),
    range(s.tickLatenessP99, us),
    range(s.tickWorkP50, us),
    range(s.mainCore, pct),
    range(s.processCores, pct),
    s.kind === 'baseline' ? '—' : s.ioUtilization.map(pct).join(' / '),
    range(s.otherLoadCores, f2),
    `${s.okRuns}/${s.okRuns + s.failedRuns}`,
  ]);
  return mdTable(
    ['server', 'delivered dg/s', 'drops (all runs)', 'delay p50', 'delay p99', 'delay p99.9', 'delay max', 'from tick p50', 'from tick p99', 'tick lateness p99', 'main-thread time per tick p50', 'main thread, % of a core', 'server process, % of a core', 'I/O thread utilisation', 'other load, cores', 'runs without drops'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  );
}

function chart(r: BroadcastResult): string {
  const s = r.summary;
  return barChartSvg({
    title: `Game-tick broadcast: ${int(r.options.connections)} clients × ${r.options.hz} Hz × ${r.options.payloadBytes} B`,
    subtitle: `delivery delay (client receive − server send), median of ${r.options.runs} runs; whiskers on p99: min–max`,
    yLabel: 'delay, ms',
    groups: s.map((x) => x.kind.replace('pandanet ', '')),
    series: [
      { name: 'p50', values: s.map((x) => x.p50.median / 1000) },
      { name: 'p99', values: s.map((x) => x.p99.median / 1000), low: s.map((x) => x.p99.min / 1000), high: s.map((x) => x.p99.max / 1000) },
      { name: 'p99.9', values: s.map((x) => x.p999.median / 1000) },
    ],
    log: true,
    refLines: [{ value: 5, label: 'target p99 ≤ 5 ms' }],
  });
}

export async function runBroadcast(options: Partial<BroadcastOptions>, progress: Progress): Promise<BroadcastResult> {
  const o: BroadcastOptions = { ...BROADCAST_DEFAULTS, ...(options.quick === true ? BROADCAST_QUICK : {}), ...options };
  const started = performance.now();
  const header = resultHeader('broadcast');
  const quiet = new Quiet({ perRunMs: o.quietWaitMs, cores: 0.25, budgetMs: o.quietBudgetMs });
  const ks = kinds(o);
  const runs: BroadcastRun[] = [];
  console.log(`broadcast: ${o.connections} ${o.transport === 'ws' ? 'WebSocket' : 'TCP'} clients (separate process, ${o.clientThreads} piscina threads); server sends ${o.payloadBytes} B to each at ${o.hz} Hz (${int(o.connections * o.hz)} dg/s) for ${o.durationMs / 1000} s, clients send ${o.inputBytes} B inputs at ${o.inputHz} Hz; ${o.transport === 'ws' ? 'permessage-deflate off' : 'TCP_NODELAY on both ends'}; ${o.runs} rounds`);
  for (let roundNo = 1; roundNo <= o.runs; roundNo++) {
    const shift = (roundNo - 1) % ks.length;
    for (const { kind, params } of [...ks.slice(shift), ...ks.slice(0, shift)]) {
      progress.setNote(`broadcast ${kind} round ${roundNo}`);
      if (o.quietWaitMs > 0) await quiet.wait();
      const run = await runOnce(o, kind, params, roundNo);
      runs.push(run);
      progress.step();
      progress.log(
        run.delay !== null
          ? `broadcast r${roundNo} ${kind.padEnd(12)} ${int(run.delivered)}/${int(run.expected)} delivered (${k(run.deliveredPerSec)}/s), drops ${run.drops}, delay p50 ${us(run.delay.p50)} p99 ${us(run.delay.p99)} p99.9 ${us(run.delay.p999)}, from tick p50 ${us(run.tickDelay?.p50 ?? Number.NaN)} p99 ${us(run.tickDelay?.p99 ?? Number.NaN)}, tick lateness p99 ${us(run.tickLateness?.p99 ?? Number.NaN)}, main ${pct(run.mainCore)}, other load ${f2(run.otherLoadCores)}${run.ok ? '' : ` — ${run.error}`} (${(run.wallMs / 1000).toFixed(1)} s)`
          : `broadcast r${roundNo} ${kind} FAILED: ${run.error}`,
      );
    }
  }
  const summary = summarize(o, runs);
  const targets: BroadcastResult['targets'] = [];
  for (const s of summary) {
    if (s.kind === 'baseline' || s.p99.n === 0) continue;
    const rate = o.connections * o.hz;
    targets.push({ target: `${int(rate)} dg/s delivered (≥ 99 %)`, kind: s.kind, value: round(s.deliveredPerSec.median, 0), pass: s.deliveredPerSec.median >= rate * 0.99 });
    targets.push({ target: 'no drops (all runs)', kind: s.kind, value: s.drops, pass: s.drops === 0 });
    targets.push({ target: 'delay p99 ≤ 5 ms', kind: s.kind, value: round(s.p99.median / 1000, 2), pass: s.p99.median <= 5000 });
  }
  const result: BroadcastResult = { ...header, options: o, runs, summary, targets, totalWallMs: Math.round(performance.now() - started) };
  const table = broadcastTable(result);
  console.log('');
  console.log(table);
  console.log('');
  for (const t of targets) console.log(`- ${t.pass ? 'MET' : 'MISSED'} ${t.kind}: ${t.target}: ${t.value}`);
  if (o.save) {
    const base = resultBase(o.transport === 'ws' ? 'broadcast-ws' : 'broadcast', header.date, o.quick);
    const md = `${markdownHeader('Game-tick broadcast', header, [`${o.connections} ${o.transport === 'ws' ? 'WebSocket' : 'TCP'} clients, ${o.hz} Hz × ${o.payloadBytes} B out, ${o.inputHz} Hz × ${o.inputBytes} B in, ${o.durationMs / 1000} s per run, ${o.runs} rounds; clients in a separate process`])}\n${table}\n`;
    console.log(`\nfiles: ${saveResult(base, result, md, { delay: chart(result) }).join(', ')}`);
  }
  return result;
}
