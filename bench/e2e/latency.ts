/**
 * The `latency` workload: round trips at a fixed offered rate, without coordinated omission.
 *
 * For each server kind (the `node:net` baseline, pandanet with each thread count), in every round:
 * a fresh echo server (bench/e2e/echo-server.ts, drainData loop) and a fresh fixed-rate client in
 * another process (bench/e2e/rate-client.ts); first a closed-loop `max` phase measures that
 * server's maximum echo rate as this client sees it, then open-loop phases at 25 %, 50 % and 90 %
 * of that maximum. In an open-loop phase each datagram's round trip is timed from the moment the
 * schedule said it was due, not from when the previous reply came back or when the ticker got
 * round to writing it, so a stall is charged to every datagram it delayed. Percentiles are exact
 * (nearest rank over every measured datagram). pandanet's p99 is divided by the baseline's p99
 * from the same round at the same load fraction.
 *
 * The load: the native C client's fixed-rate mode (bench/native/echo-client.c `--phases`, one
 * thread, the same 1 ms ticker and payload timestamps) when a C compiler builds it, else the Node
 * rate client; `--load` forces one; the result says which and shows the client's CPU per datagram.
 *
 * Also reported: the client's ticker lateness (a 1 ms timer on a shared 2-core box: part of every
 * figure, for both servers), the round trip from the actual write ("service time"), and the load
 * other processes put on the machine during each phase.
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import { bounded, errText } from '../lib/harness.js';
import { f2, int, k, mdTable, range, us } from '../lib/format.js';
import { type Percentiles } from '../lib/percentiles.js';
import type { Progress } from '../lib/progress.js';
import { Quiet } from '../lib/quiet.js';
import { markdownHeader, resultBase, resultHeader, saveResult, type ResultHeader } from '../lib/report.js';
import { round, spread, type Spread } from '../lib/stats.js';
import { barChartSvg } from '../lib/svg.js';
import type { ServerParams } from './protocol.js';
import { EchoSession } from './session.js';
import { chooseLoad, type LoadChoice, type LoadKind, type LoadRequest } from '../lib/native-load.js';

/** Options of the latency workload. */
export interface LatencyOptions {
  runs: number;
  threads: number[];
  /** Offered load, as fractions of each server's own measured maximum. */
  loads: number[];
  connections: number;
  clientThreads: number;
  payloadBytes: number;
  maxInFlight: number;
  maxMeasureMs: number;
  /**
   * An unmeasured open-loop phase at the lowest load between the max phase and the measured ones:
   * without it the first measured phase paid for the switch from closed to open loop (its p99 was
   * 2–4× the next one's in every kind, whatever its load), ms; 0: none.
   */
  settleMs: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
  timeoutMs: number;
  quietWaitMs: number;
  quietBudgetMs: number;
  quick: boolean;
  save: boolean;
  /** What the pandanet servers' loop does when it finds nothing (`--idle`): sleep 1 ms, or wait for data. */
  idle: 'backoff' | 'wait';
  /** The load generator (`--load`): `auto` = the native client when it builds, else the Node rate client. */
  load: LoadRequest;
  /** pandanet servers: `NetConfig.drainHoldUs` (`--drain-hold-us`; null: the library's default). */
  drainHoldUs: number | null;
}

export const LATENCY_DEFAULTS: LatencyOptions = {
  runs: 3,
  threads: [0, 1, 2],
  loads: [0.25, 0.5, 0.9],
  connections: 50,
  clientThreads: 2,
  payloadBytes: 64,
  maxInFlight: 32,
  maxMeasureMs: 1500,
  settleMs: 1500,
  warmupMs: 500,
  measureMs: 2000,
  drainMs: 3000,
  timeoutMs: 60_000,
  quietWaitMs: 3000,
  quietBudgetMs: 30_000,
  quick: false,
  save: true,
  idle: 'backoff',
  load: 'auto',
  drainHoldUs: null,
};

export const LATENCY_QUICK: Partial<LatencyOptions> = { runs: 1, threads: [1], connections: 20, maxMeasureMs: 500, settleMs: 300, warmupMs: 200, measureMs: 500, drainMs: 1000, quietWaitMs: 0, quick: true };

interface LoadPoint {
  load: number;
  ratePerSec: number;
  achievedPerSec: number;
  latency: Percentiles | null;
  service: Percentiles | null;
  sendLag: Percentiles | null;
  /** Echoes that never came back (counted in the percentiles at the time waited: a lower bound). */
  missing: number;
  /** Datagrams the pandanet server's reader dropped (its queue cap, 50,000: the server fell behind). */
  serverDropped: number;
  mismatches: number;
  serverMainCpuUsPerDg: number;
  otherLoadCores: number;
  /** The load client's process CPU over the phase per echo it received, µs. */
  clientCpuUsPerDg: number;
  /** p99 over the same round's baseline p99 at the same load fraction. */
  p99Ratio?: number;
}

interface LatencyRun {
  round: number;
  kind: string;
  ok: boolean;
  error?: string;
  maxPerSec: number;
  maxOtherLoadCores: number;
  points: LoadPoint[];
  wallMs: number;
}

interface PointSummary {
  load: number;
  ratePerSec: Spread;
  p50: Spread;
  p99: Spread;
  p999: Spread;
  max: Spread;
  serviceP99: Spread;
  sendLagP99: Spread;
  p99Ratio: Spread | null;
  otherLoadCores: Spread;
  clientCpuUsPerDg: Spread;
  missing: number;
  serverDropped: number;
}

interface KindSummary {
  kind: string;
  maxPerSec: Spread;
  points: PointSummary[];
  okRuns: number;
  failedRuns: number;
}

export interface LatencyResult extends ResultHeader {
  options: LatencyOptions;
  /** The load generator used and a line saying which and why (a fallback says so). */
  load: LoadKind;
  loadNote: string;
  runs: LatencyRun[];
  summary: KindSummary[];
  targets: Array<{ target: string; kind: string; value: number; pass: boolean }>;
  totalWallMs: number;
}

function kinds(o: LatencyOptions): Array<{ kind: string; params: ServerParams }> {
  return [
    { kind: 'baseline', params: { server: 'baseline', threads: 0, drain: 'drainData', idle: 'backoff', workUs: 0, noDelay: true } },
    ...o.threads.map((t) => ({ kind: `pandanet t${t}`, params: { server: 'pandanet', threads: t, drain: 'drainData', idle: o.idle, workUs: 0, noDelay: true, ...(o.drainHoldUs !== null ? { drainHoldUs: o.drainHoldUs } : {}) } as ServerParams })),
  ];
}

/** Planned progress steps. */
export function latencySteps(o: LatencyOptions): number {
  return o.runs * kinds(o).length;
}

async function runKind(o: LatencyOptions, kind: string, params: ServerParams, roundNo: number, load: LoadChoice): Promise<LatencyRun> {
  const t0 = performance.now();
  const run: LatencyRun = { round: roundNo, kind, ok: false, maxPerSec: Number.NaN, maxOtherLoadCores: Number.NaN, points: [], wallMs: 0 };
  try {
    await bounded(o.timeoutMs, async (ctx) => {
      const s = await EchoSession.open(ctx, params, kind, o.connections, o.clientThreads, o.payloadBytes, load);
      const max = await s.phase({ kind: 'phase', mode: 'max', inFlight: o.maxInFlight, warmupMs: o.warmupMs, measureMs: o.maxMeasureMs, drainMs: o.drainMs });
      if (max.client.mismatches > 0) throw new Error(`${max.client.mismatches} echoes out of order in the max phase`);
      run.maxPerSec = max.client.achievedPerSec;
      run.maxOtherLoadCores = max.otherLoadCores;
      if (o.settleMs > 0) {
        const low = Math.max(100, Math.round(run.maxPerSec * Math.min(...o.loads)));
        await s.phase({ kind: 'phase', mode: 'rate', ratePerSec: low, warmupMs: 0, measureMs: o.settleMs, drainMs: o.drainMs });
      }
      for (const load of o.loads) {
        const rate = Math.max(100, Math.round(run.maxPerSec * load));
        const ph = await s.phase({ kind: 'phase', mode: 'rate', ratePerSec: rate, warmupMs: o.warmupMs, measureMs: o.measureMs, drainMs: o.drainMs });
        const c = ph.client;
        run.points.push({
          load,
          ratePerSec: rate,
          achievedPerSec: c.achievedPerSec,
          latency: c.latency,
          service: c.service,
          sendLag: c.sendLag,
          missing: c.missing + c.dropped,
          serverDropped: ph.serverDropped,
          mismatches: c.mismatches,
          serverMainCpuUsPerDg: ph.server.mainCpuUs / Math.max(1, ph.server.datagrams),
          otherLoadCores: ph.otherLoadCores,
          clientCpuUsPerDg: c.clientCpuUs / Math.max(1, c.received),
        });
      }
      await s.close();
    });
    const bad = run.points.filter((p) => p.mismatches > 0);
    run.ok = bad.length === 0;
    if (!run.ok) run.error = `echoes out of order at load ${bad.map((p) => p.load).join(', ')}`;
  } catch (err) {
    run.error = errText(err);
  }
  run.wallMs = performance.now() - t0;
  return run;
}

function summarize(o: LatencyOptions, runs: LatencyRun[]): KindSummary[] {
  return kinds(o).map(({ kind }) => {
    const mine = runs.filter((r) => r.kind === kind);
    const ok = mine.filter((r) => r.ok);
    const pts = o.loads.map((load): PointSummary => {
      const ps = ok.map((r) => r.points.find((p) => p.load === load)).filter((p): p is LoadPoint => p !== undefined);
      const ratios = ps.map((p) => p.p99Ratio).filter((x): x is number => x !== undefined);
      return {
        load,
        ratePerSec: spread(ps.map((p) => p.ratePerSec)),
        p50: spread(ps.map((p) => p.latency?.p50 ?? Number.NaN)),
        p99: spread(ps.map((p) => p.latency?.p99 ?? Number.NaN)),
        p999: spread(ps.map((p) => p.latency?.p999 ?? Number.NaN)),
        max: spread(ps.map((p) => p.latency?.max ?? Number.NaN)),
        serviceP99: spread(ps.map((p) => p.service?.p99 ?? Number.NaN)),
        sendLagP99: spread(ps.map((p) => p.sendLag?.p99 ?? Number.NaN)),
        p99Ratio: ratios.length > 0 ? spread(ratios) : null,
        otherLoadCores: spread(ps.map((p) => p.otherLoadCores)),
        clientCpuUsPerDg: spread(ps.map((p) => p.clientCpuUsPerDg)),
        missing: ps.reduce((s, p) => s + p.missing, 0),
        serverDropped: ps.reduce((s, p) => s + p.serverDropped, 0),
      };
    });
    return { kind, maxPerSec: spread(ok.map((r) => r.maxPerSec)), points: pts, okRuns: ok.length, failedRuns: mine.length - ok.length };
  });
}

/** The Markdown table. */
export function latencyTable(r: LatencyResult): string {
  const rows: string[][] = [];
  for (const s of r.summary) {
    for (const p of s.points) {
      rows.push([
        s.kind === 'baseline' ? 'baseline `node:net`' : s.kind,
        `${Math.round(p.load * 100)} %`,
        range(p.ratePerSec, k),
        range(p.p50, us),
        range(p.p99, us),
        range(p.p999, us),
        s.kind === 'baseline' ? '1' : range(p.p99Ratio, f2),
        range(p.serviceP99, us),
        range(p.sendLagP99, us),
        p.serverDropped > 0 ? `${int(p.missing)} (server dropped ${int(p.serverDropped)})` : int(p.missing),
        range(p.otherLoadCores, f2),
        range(p.clientCpuUsPerDg, f2),
        `${s.okRuns}/${s.okRuns + s.failedRuns}`,
      ]);
    }
  }
  const maxRows = r.summary.map((s) => `${s.kind}: ${range(s.maxPerSec, k)}`).join('; ');
  return `Measured maximum (closed loop, ${r.options.maxInFlight} in flight per connection), datagrams/s median (min–max): ${maxRows}.\n\n${mdTable(
    ['server', 'load', 'offered dg/s', 'p50', 'p99', 'p99.9', 'p99 × baseline p99 (same round, same load)', 'p99 from actual write', 'client ticker lateness p99', 'missing echoes (all runs)', 'other load, cores', `load client CPU µs/dg (${r.load})`, 'ok/runs'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  )}`;
}

function chart(r: LatencyResult): string {
  const groups: string[] = [];
  const p50: Array<number | null> = [];
  const p99: Array<number | null> = [];
  const p999: Array<number | null> = [];
  const lo99: Array<number | null> = [];
  const hi99: Array<number | null> = [];
  for (const s of r.summary) {
    for (const p of s.points) {
      groups.push(`${s.kind.replace('pandanet ', '')} ${Math.round(p.load * 100)}%`);
      p50.push(p.p50.median / 1000);
      p99.push(p.p99.median / 1000);
      p999.push(p.p999.median / 1000);
      lo99.push(p.p99.min / 1000);
      hi99.push(p.p99.max / 1000);
    }
  }
  return barChartSvg({
    title: 'Echo round trip at a fixed rate (no coordinated omission)',
    subtitle: `${r.options.connections} connections, 64 B; load = share of each server's own max; median of ${r.options.runs} runs; ${r.machine.cores} cores shared with the client`,
    yLabel: 'round trip, ms',
    groups,
    series: [
      { name: 'p50', values: p50 },
      { name: 'p99', values: p99, low: lo99, high: hi99 },
      { name: 'p99.9', values: p999 },
    ],
    log: true,
    labels: false,
  });
}

/** Runs the latency workload. */
export async function runLatency(options: Partial<LatencyOptions>, progress: Progress): Promise<LatencyResult> {
  const o: LatencyOptions = { ...LATENCY_DEFAULTS, ...(options.quick === true ? LATENCY_QUICK : {}), ...options };
  const started = performance.now();
  const header = resultHeader('latency');
  const quiet = new Quiet({ perRunMs: o.quietWaitMs, cores: 0.25, budgetMs: o.quietBudgetMs });
  const ks = kinds(o);
  const runs: LatencyRun[] = [];
  const load = chooseLoad(o.load);
  console.log(load.note);
  console.log(
    `latency: ${o.connections} connections, ${o.payloadBytes} B datagrams, client in another process (${load.load === 'native' ? 'native C client, one thread' : `Node, ${o.clientThreads} piscina threads`}, 1 ms ticker); per server and round: max phase ${o.maxMeasureMs} ms, an unmeasured ${o.settleMs} ms settling phase at the lowest load, then ${o.loads.map((l) => `${l * 100}%`).join('/')} of it for ${o.warmupMs} ms warm-up + ${o.measureMs} ms measured; ${o.runs} rounds`,
  );
  for (let roundNo = 1; roundNo <= o.runs; roundNo++) {
    const shift = (roundNo - 1) % ks.length;
    const order = [...ks.slice(shift), ...ks.slice(0, shift)];
    const thisRound: LatencyRun[] = [];
    for (const { kind, params } of order) {
      progress.setNote(`latency ${kind} round ${roundNo}`);
      if (o.quietWaitMs > 0) await quiet.wait();
      const run = await runKind(o, kind, params, roundNo, load);
      runs.push(run);
      thisRound.push(run);
      progress.step();
      progress.log(
        run.ok
          ? `latency r${roundNo} ${kind.padEnd(12)} max ${k(run.maxPerSec)}/s; ${run.points.map((p) => `${p.load * 100}%: p50 ${us(p.latency?.p50 ?? Number.NaN)} p99 ${us(p.latency?.p99 ?? Number.NaN)} p99.9 ${us(p.latency?.p999 ?? Number.NaN)}${p.missing > 0 ? ` missing ${p.missing}${p.serverDropped > 0 ? ` (server dropped ${p.serverDropped})` : ''}` : ''} (other load ${f2(p.otherLoadCores)})`).join('; ')} (${(run.wallMs / 1000).toFixed(1)} s)`
          : `latency r${roundNo} ${kind} FAILED: ${run.error}`,
      );
    }
    const base = thisRound.find((r) => r.kind === 'baseline');
    for (const r of thisRound) {
      if (r.kind === 'baseline' || !r.ok || base === undefined || !base.ok) continue;
      for (const p of r.points) {
        const b = base.points.find((x) => x.load === p.load);
        if (b?.latency && p.latency) p.p99Ratio = p.latency.p99 / b.latency.p99;
      }
    }
  }
  const summary = summarize(o, runs);
  const targets: LatencyResult['targets'] = [];
  for (const s of summary) {
    if (s.kind === 'baseline') continue;
    const p = s.points.find((x) => x.load === 0.5);
    if (p?.p99Ratio) targets.push({ target: 'p99 at 50 % load ≤ 2× baseline p99', kind: s.kind, value: round(p.p99Ratio.median), pass: p.p99Ratio.median <= 2 });
  }
  const result: LatencyResult = { ...header, options: o, load: load.load, loadNote: load.note, runs, summary, targets, totalWallMs: Math.round(performance.now() - started) };
  const table = latencyTable(result);
  console.log('');
  console.log(table);
  console.log('');
  for (const t of targets) console.log(`- ${t.pass ? 'MET' : 'MISSED'} ${t.kind}: ${t.target}: ${t.value}`);
  if (o.save) {
    const base = resultBase('latency', header.date, o.quick);
    const md = `${markdownHeader('Fixed-rate latency', header, [`${o.connections} connections × ${o.payloadBytes} B; ${o.runs} rounds; load generator in a separate process; pandanet loop idle=${o.idle}${o.drainHoldUs !== null ? `; NetConfig.drainHoldUs ${o.drainHoldUs}` : ''}`, load.note])}\n${table}\n`;
    const files = saveResult(base, result, md, { percentiles: chart(result) });
    console.log(`\nfiles: ${files.join(', ')}`);
  }
  return result;
}
