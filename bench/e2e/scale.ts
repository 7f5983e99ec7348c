/**
 * The `scale` workload: many idle TCP connections — what each costs in memory, and what holding
 * them costs in CPU.
 *
 * Per server kind and round: a fresh server (bench/e2e/scale-server.ts, `--expose-gc`) and a fresh
 * client process (bench/e2e/scale-client.ts). Memory is measured (every isolate garbage-collected
 * first: bench/lib/heap.ts) with no connection, then with all `connections` connected and a second
 * of settling; the difference over the connection count is the cost per connection:
 * - JavaScript heap (all isolates: pandanet's sockets live in its I/O threads' heaps),
 * - JavaScript heap + external memory (Buffers and other off-heap memory V8 is told about),
 * - RSS (everything, native libuv handles included; not kernel socket buffers).
 * Then an idle window of `idleMs` with nothing sent: process CPU as a share of one core, split by
 * thread (main / I/O / other). pandanet's main thread runs a 60 Hz frame loop meanwhile (accept
 * check, reset check, poll, drain), as a game server would; the baseline has no loop (event-driven).
 *
 * Both processes hold `connections` descriptors each; the per-process limit here is 20,000.
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import { bounded, errText } from '../lib/harness.js';
import { bytes, f2, int, mdTable, pct2, range } from '../lib/format.js';
import type { ProcessMemory } from '../lib/heap.js';
import type { Progress } from '../lib/progress.js';
import { Quiet, busyNow, otherLoadCores } from '../lib/quiet.js';
import { markdownHeader, resultBase, resultHeader, saveResult, type ResultHeader } from '../lib/report.js';
import { round, spread, type Spread } from '../lib/stats.js';
import { barChartSvg } from '../lib/svg.js';
import type { ScaleClientCommand, ScaleClientMessage, ScaleClientParams } from './scale-client.js';
import type { ScaleServerCommand, ScaleServerMessage, ScaleServerParams } from './scale-server.js';

const SERVER = new URL('./scale-server.js', import.meta.url);
const CLIENT = new URL('./scale-client.js', import.meta.url);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ScaleOptions {
  runs: number;
  threads: number[];
  connections: number;
  concurrency: number;
  idleMs: number;
  frameHz: number;
  connectTimeoutMs: number;
  timeoutMs: number;
  quietWaitMs: number;
  quietBudgetMs: number;
  quick: boolean;
  save: boolean;
}

export const SCALE_DEFAULTS: ScaleOptions = {
  runs: 2,
  threads: [0, 1, 2],
  connections: 10_000,
  concurrency: 200,
  idleMs: 10_000,
  frameHz: 60,
  connectTimeoutMs: 45_000,
  timeoutMs: 90_000,
  quietWaitMs: 3000,
  quietBudgetMs: 20_000,
  quick: false,
  save: true,
};

export const SCALE_QUICK: Partial<ScaleOptions> = { runs: 1, threads: [1], connections: 1000, idleMs: 2000, quietWaitMs: 0, quick: true };

interface ScaleRun {
  round: number;
  kind: string;
  ok: boolean;
  error?: string;
  connections: number;
  connectMs: number;
  heapPerConn: number;
  heapExternalPerConn: number;
  rssPerConn: number;
  /** Per isolate heap growth, bytes per connection. */
  isolateHeapPerConn: Array<{ label: string; bytes: number }>;
  idleCore: number;
  idleMainCore: number;
  idleIoCore: number;
  idleOtherCore: number;
  idleIoUtilization: number[];
  /** pandanet: main-thread wall time inside the frame callback (accept/reset checks, poll, drain), µs per frame. */
  frameWorkUs: number;
  otherLoadCores: number;
  memoryBefore?: ProcessMemory;
  memoryAfter?: ProcessMemory;
  wallMs: number;
}

interface KindSummary {
  kind: string;
  connections: Spread;
  connectMs: Spread;
  heapPerConn: Spread;
  heapExternalPerConn: Spread;
  rssPerConn: Spread;
  idleCore: Spread;
  idleMainCore: Spread;
  idleIoCore: Spread;
  idleOtherCore: Spread;
  frameWorkUs: Spread;
  otherLoadCores: Spread;
  okRuns: number;
  failedRuns: number;
}

export interface ScaleResult extends ResultHeader {
  options: ScaleOptions;
  runs: ScaleRun[];
  summary: KindSummary[];
  targets: Array<{ target: string; kind: string; value: number; pass: boolean }>;
  totalWallMs: number;
}

function kinds(o: ScaleOptions): Array<{ kind: string; params: ScaleServerParams }> {
  return [{ kind: 'baseline', params: { server: 'baseline', threads: 0, frameHz: o.frameHz } }, ...o.threads.map((t) => ({ kind: `pandanet t${t}`, params: { server: 'pandanet', threads: t, frameHz: o.frameHz } as ScaleServerParams }))];
}

export function scaleSteps(o: ScaleOptions): number {
  return o.runs * kinds(o).length;
}

async function runOnce(o: ScaleOptions, kind: string, params: ScaleServerParams, roundNo: number): Promise<ScaleRun> {
  const t0 = performance.now();
  const nan = Number.NaN;
  const run: ScaleRun = { round: roundNo, kind, ok: false, connections: 0, connectMs: nan, heapPerConn: nan, heapExternalPerConn: nan, rssPerConn: nan, isolateHeapPerConn: [], idleCore: nan, idleMainCore: nan, idleIoCore: nan, idleOtherCore: nan, idleIoUtilization: [], frameWorkUs: nan, otherLoadCores: nan, wallMs: 0 };
  try {
    await bounded(o.timeoutMs, async (ctx) => {
      const server = ctx.spawn<ScaleServerMessage, ScaleServerCommand>(SERVER, params, `scale-server ${kind}`, ['--expose-gc']);
      const { port } = await server.next('listening', ctx.left());
      await sleep(300);
      server.send({ kind: 'memory' });
      const before = await server.next('memory', ctx.left());
      const cp: ScaleClientParams = { host: '127.0.0.1', port, connections: o.connections, concurrency: o.concurrency, timeoutMs: o.connectTimeoutMs };
      const client = ctx.spawn<ScaleClientMessage, ScaleClientCommand>(CLIENT, cp, `scale-client ${kind}`);
      const conn = await client.next('connected', ctx.left());
      server.send({ kind: 'wait', connections: conn.connections, timeoutMs: 10_000 });
      const seen = await server.next('connections', ctx.left());
      run.connectMs = conn.ms + seen.ms;
      run.connections = seen.connections;
      if (conn.connections < o.connections) throw new Error(`client opened ${conn.connections} of ${o.connections} connections (${conn.failed} failed${conn.firstError ? `: ${conn.firstError}` : ''}) in ${Math.round(conn.ms)} ms`);
      if (seen.connections < conn.connections) throw new Error(`server saw ${seen.connections} of ${conn.connections} connections`);
      await sleep(1000);
      server.send({ kind: 'memory' });
      const after = await server.next('memory', ctx.left());
      const n = seen.connections;
      run.memoryBefore = before.memory;
      run.memoryAfter = after.memory;
      run.heapPerConn = (after.memory.heapUsed - before.memory.heapUsed) / n;
      run.heapExternalPerConn = (after.memory.heapUsed + after.memory.external - before.memory.heapUsed - before.memory.external) / n;
      run.rssPerConn = (after.memory.rss - before.memory.rss) / n;
      run.isolateHeapPerConn = after.memory.isolates.map((iso) => ({ label: iso.label, bytes: round((iso.heapUsed - (before.memory.isolates.find((b) => b.label === iso.label)?.heapUsed ?? 0)) / n, 1) }));
      const b0 = busyNow();
      const w0 = performance.now();
      server.send({ kind: 'idle', ms: o.idleMs });
      const idle = await server.next('idle', ctx.left());
      const w = idle.window;
      const winUs = w.windowMs * 1000;
      const of = (pred: (l: string) => boolean): number => w.threads.filter((t) => pred(t.label)).reduce((s, t) => s + t.cpuUs, 0) / winUs;
      run.idleCore = w.processCpuUs / winUs;
      run.idleMainCore = of((l) => l === 'main');
      run.idleIoCore = of((l) => l.startsWith('io-'));
      run.idleOtherCore = of((l) => l === 'other');
      run.idleIoUtilization = w.io.map((x) => x.utilization);
      run.frameWorkUs = idle.frames > 0 ? idle.frameBusyUs / idle.frames : nan;
      run.otherLoadCores = otherLoadCores(busyNow() - b0, w.processCpuUs, performance.now() - w0);
      if (idle.connections < n) throw new Error(`${n - idle.connections} connections dropped while idle`);
      client.send({ kind: 'exit' });
      server.send({ kind: 'exit' });
      await Promise.all([server.exit(Math.min(5000, ctx.left())), client.exit(Math.min(5000, ctx.left()))]);
    });
    run.ok = true;
  } catch (err) {
    run.error = errText(err);
  }
  run.wallMs = performance.now() - t0;
  return run;
}

export function scaleTable(r: ScaleResult): string {
  const rows = r.summary.map((s) => [
    s.kind === 'baseline' ? 'baseline `node:net`' : s.kind,
    range(s.connections, int),
    range(s.connectMs, (x) => `${(x / 1000).toFixed(1)} s`),
    range(s.heapPerConn, bytes),
    range(s.heapExternalPerConn, bytes),
    range(s.rssPerConn, bytes),
    range(s.idleCore, pct2),
    range(s.idleMainCore, pct2),
    s.kind === 'baseline' ? '—' : range(s.idleIoCore, pct2),
    range(s.idleOtherCore, pct2),
    s.kind === 'baseline' ? '—' : range(s.frameWorkUs, (x) => `${x.toFixed(1)} µs`),
    range(s.otherLoadCores, f2),
    `${s.okRuns}/${s.okRuns + s.failedRuns}`,
  ]);
  return mdTable(
    ['server', 'connections', 'time to connect all', 'JS heap per connection (all isolates)', 'JS heap + external per connection', 'RSS per connection', `idle CPU over ${r.options.idleMs / 1000} s, % of a core`, 'of which main thread', 'I/O threads', 'other threads', `pandanet calls per ${r.options.frameHz} Hz frame (main thread)`, 'other load, cores', 'ok/runs'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  );
}

function charts(r: ScaleResult): Record<string, string> {
  const s = r.summary;
  const groups = s.map((x) => x.kind.replace('pandanet ', ''));
  return {
    memory: barChartSvg({
      title: `Memory per idle connection (${int(r.options.connections)} connections)`,
      subtitle: `after GC of every isolate; median of ${r.options.runs} runs`,
      yLabel: 'bytes per connection',
      groups,
      series: [
        { name: 'JS heap', values: s.map((x) => x.heapPerConn.median), low: s.map((x) => x.heapPerConn.min), high: s.map((x) => x.heapPerConn.max) },
        { name: 'JS heap + external', values: s.map((x) => x.heapExternalPerConn.median) },
        { name: 'RSS', values: s.map((x) => x.rssPerConn.median) },
      ],
      refLines: [{ value: 8192, label: 'target ≤ 8 KiB JS' }],
    }),
    'idle-cpu': barChartSvg({
      title: `Idle CPU holding ${int(r.options.connections)} connections`,
      subtitle: `${r.options.idleMs / 1000} s window, nothing sent; pandanet's main thread runs a ${r.options.frameHz} Hz frame loop`,
      yLabel: '% of one core',
      groups,
      series: [
        { name: 'main thread', values: s.map((x) => x.idleMainCore.median * 100) },
        { name: 'I/O threads', values: s.map((x) => x.idleIoCore.median * 100) },
        { name: 'other threads', values: s.map((x) => x.idleOtherCore.median * 100) },
        { name: 'whole process', values: s.map((x) => x.idleCore.median * 100), low: s.map((x) => x.idleCore.min * 100), high: s.map((x) => x.idleCore.max * 100) },
      ],
      refLines: [{ value: 1, label: 'target ≤ 1 %' }],
    }),
  };
}

export async function runScale(options: Partial<ScaleOptions>, progress: Progress): Promise<ScaleResult> {
  const o: ScaleOptions = { ...SCALE_DEFAULTS, ...(options.quick === true ? SCALE_QUICK : {}), ...options };
  const started = performance.now();
  const header = resultHeader('scale');
  const quiet = new Quiet({ perRunMs: o.quietWaitMs, cores: 0.25, budgetMs: o.quietBudgetMs });
  const ks = kinds(o);
  const runs: ScaleRun[] = [];
  console.log(`scale: ${int(o.connections)} idle TCP connections from a separate client process (${o.concurrency} connects in flight); memory per connection after GC of every isolate; idle CPU over ${o.idleMs / 1000} s; ${o.runs} rounds`);
  for (let roundNo = 1; roundNo <= o.runs; roundNo++) {
    const shift = (roundNo - 1) % ks.length;
    for (const { kind, params } of [...ks.slice(shift), ...ks.slice(0, shift)]) {
      progress.setNote(`scale ${kind} round ${roundNo}`);
      if (o.quietWaitMs > 0) await quiet.wait();
      const run = await runOnce(o, kind, params, roundNo);
      runs.push(run);
      progress.step();
      progress.log(
        run.ok
          ? `scale r${roundNo} ${kind.padEnd(12)} ${int(run.connections)} conns in ${(run.connectMs / 1000).toFixed(1)} s; per conn: heap ${bytes(run.heapPerConn)} (${run.isolateHeapPerConn.map((i) => `${i.label.replace(/^\[worker \d+\] /, '')} ${bytes(i.bytes)}`).join(', ')}), heap+ext ${bytes(run.heapExternalPerConn)}, RSS ${bytes(run.rssPerConn)}; idle ${pct2(run.idleCore)} of a core (main ${pct2(run.idleMainCore)}, io ${pct2(run.idleIoCore)}; frame work ${run.frameWorkUs.toFixed(1)} µs), other load ${f2(run.otherLoadCores)} (${(run.wallMs / 1000).toFixed(1)} s)`
          : `scale r${roundNo} ${kind} FAILED: ${run.error}`,
      );
    }
  }
  const summary: KindSummary[] = ks.map(({ kind }) => {
    const mine = runs.filter((r) => r.kind === kind);
    const ok = mine.filter((r) => r.ok);
    const col = (f: (r: ScaleRun) => number): Spread => spread(ok.map(f));
    return {
      kind,
      connections: col((r) => r.connections),
      connectMs: col((r) => r.connectMs),
      heapPerConn: col((r) => r.heapPerConn),
      heapExternalPerConn: col((r) => r.heapExternalPerConn),
      rssPerConn: col((r) => r.rssPerConn),
      idleCore: col((r) => r.idleCore),
      idleMainCore: col((r) => r.idleMainCore),
      idleIoCore: col((r) => r.idleIoCore),
      idleOtherCore: col((r) => r.idleOtherCore),
      frameWorkUs: col((r) => r.frameWorkUs),
      otherLoadCores: col((r) => r.otherLoadCores),
      okRuns: ok.length,
      failedRuns: mine.length - ok.length,
    };
  });
  const targets: ScaleResult['targets'] = [];
  for (const s of summary) {
    if (s.kind === 'baseline' || s.okRuns === 0) continue;
    targets.push({ target: `idle CPU ≤ 1 % of a core (${int(o.connections)} connections)`, kind: s.kind, value: round(s.idleCore.median * 100, 2), pass: s.idleCore.median <= 0.01 });
    targets.push({ target: '≤ 8 KiB JS heap per connection (all isolates)', kind: s.kind, value: round(s.heapPerConn.median, 0), pass: s.heapPerConn.median <= 8192 });
    targets.push({ target: '≤ 8 KiB JS heap + external per connection', kind: s.kind, value: round(s.heapExternalPerConn.median, 0), pass: s.heapExternalPerConn.median <= 8192 });
  }
  const result: ScaleResult = { ...header, options: o, runs, summary, targets, totalWallMs: Math.round(performance.now() - started) };
  const table = scaleTable(result);
  console.log('');
  console.log(table);
  console.log('');
  for (const t of targets) console.log(`- ${t.pass ? 'MET' : 'MISSED'} ${t.kind}: ${t.target}: ${t.value}`);
  if (o.save) {
    const base = resultBase('scale', header.date, o.quick);
    const md = `${markdownHeader('Connection scale', header, [`${int(o.connections)} idle TCP connections, ${o.runs} rounds; client in a separate process`])}\n${table}\n`;
    console.log(`\nfiles: ${saveResult(base, result, md, charts(result)).join(', ')}`);
  }
  return result;
}
