/**
 * The `md` workload (issue 15's bench): one message-director node, participant → participant.
 *
 * Routers, each in a fresh process per run (bench/e2e/md-router.ts): pandanet's `MessageDirector`
 * with each thread count (0 = polled, 1, 2), and a plain single-threaded `node:net` router written
 * for the bench (bench/e2e/md-router-baseline.ts: one write per read chunk per destination), measured
 * in the same rounds in a rotating order; and that router's variant that writes once per destination
 * per event-loop turn (`baseline tick`; off with `--no-tick-baseline`). The two differ only in when
 * they write, and with many participants that decides their rate (one write per read chunk per
 * destination is about one `write` per datagram), so both are shown; ratios are to the plain one. Astron's own MD is not run here: its figure from the protocol reference (~81 k
 * datagrams/s through one Astron MD, 20,000 datagrams participant → participant with a Node client,
 * on this box) is quoted as a fixed reference line, and the issue's target is 2× that.
 *
 * The client (bench/e2e/md-client.ts, a separate process, piscina threads) connects `participants`
 * participants, each subscribed to its own channel and sending Astron-header datagrams to the others'
 * channels in rotation; every datagram is checked at its receiver (recipient, sender, per-pair
 * order, size). Per router and round, on one router process and one client:
 * 1. `max` phase, closed loop: `inFlight` datagrams per participant hop from participant to
 *    participant (each delivery makes its receiver send one more), unmeasured warm-up, then
 *    deliveries per second over the measured part: the router's maximum as this client sees it;
 * 2. an unmeasured settling phase at the lowest load, then open-loop phases at `loads` (default
 *    50 %) of that router's own maximum: each datagram's delay from the time it was due, not from
 *    when it was written, so a stall counts against every datagram it held up (no coordinated
 *    omission). Percentiles are exact (nearest rank over every measured datagram).
 * Reported: datagrams/s (median, min–max over the runs), the ratio to the same round's `node:net`
 * router and to the Astron reference, the router's main-thread and process CPU per datagram and
 * its I/O threads' CPU, the client's CPU per datagram, p50/p99/p99.9 at each load and the p99
 * ratio to the baseline's, and the load other processes put on the machine during each phase.
 * A run with any datagram lost, misrouted, out of order or missing after the drain fails (listed,
 * left out of the medians).
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import type { Child } from '../lib/child.js';
import { bounded, errText, type RunContext } from '../lib/harness.js';
import { f2, int, k, mdTable, pct, range, us } from '../lib/format.js';
import type { Percentiles } from '../lib/percentiles.js';
import type { Progress } from '../lib/progress.js';
import { Quiet, busyNow, otherLoadCores } from '../lib/quiet.js';
import { markdownHeader, resultBase, resultHeader, saveResult, type ResultHeader } from '../lib/report.js';
import { cpuOfLabel, ioThreadCpu, type WindowReport } from '../lib/server-window.js';
import { round, spread, type Spread } from '../lib/stats.js';
import { barChartSvg } from '../lib/svg.js';
import type { MdClientCommand, MdClientMessage, MdClientParams, MdPhaseResult } from './md-client.js';
import type { MdRouterCommand, MdRouterMessage, MdRouterParams } from './md-router.js';
import { MD_HEADER_BYTES, MD_PAYLOAD_MIN } from './md-task.js';

const ROUTER = new URL('./md-router.js', import.meta.url);
const CLIENT = new URL('./md-client.js', import.meta.url);

/** Astron's single-node figure from the protocol reference (../shared/astron-md-protocol.md), datagrams/s; quoted, not measured here. */
export const ASTRON_REFERENCE_PER_SEC = 81_000;
/** Issue 15's target: pandanet's MD at least this many times Astron's single-node rate. */
export const ASTRON_TARGET_TIMES = 2;

/** Options of the md workload. */
export interface MdOptions {
  runs: number;
  /** pandanet MessageDirector thread counts (0 = polled). */
  threads: number[];
  /** Participants (TCP connections), each with its own channel. */
  participants: number;
  clientThreads: number;
  /** max phase: datagrams each participant starts with (P × inFlight stay in flight). */
  inFlight: number;
  /** Datagram size without the 2-byte length prefix (MD header 19 B included). */
  datagramBytes: number;
  /** Open-loop loads, as fractions of each router's own measured maximum. */
  loads: number[];
  maxWarmupMs: number;
  maxMeasureMs: number;
  /** Unmeasured open-loop phase at the lowest load between the max phase and the measured ones, ms (0: none). */
  settleMs: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
  /** Hard limit per run (one router process + one client, all phases), ms. */
  timeoutMs: number;
  quietWaitMs: number;
  quietBudgetMs: number;
  /**
   * Also run the baseline's variant that writes once per destination per event-loop turn instead of
   * once per read chunk (default; `--no-tick-baseline` leaves it out). Its ratio is to the plain
   * baseline of the same round.
   */
  tickBaseline: boolean;
  /**
   * The open-loop client's ticker period, µs (bench/e2e/md-ticker.ts): ≥ 1000 is `setTimeout(f, 1)`
   * (1–2 ms apart; the md workload's default), less runs a clock thread with that period.
   */
  tickUs: number;
  quick: boolean;
  save: boolean;
}

export const MD_DEFAULTS: MdOptions = {
  runs: 3,
  threads: [0, 1, 2],
  participants: 32,
  clientThreads: 2,
  inFlight: 16,
  datagramBytes: 64,
  loads: [0.5],
  maxWarmupMs: 1000,
  maxMeasureMs: 2000,
  settleMs: 1000,
  warmupMs: 500,
  measureMs: 2000,
  drainMs: 3000,
  timeoutMs: 60_000,
  quietWaitMs: 3000,
  quietBudgetMs: 30_000,
  tickBaseline: true,
  tickUs: 1000,
  quick: false,
  save: true,
};

/** `--quick`: one round, both baselines and pandanet t1, 8 participants, half-second phases. */
export const MD_QUICK: Partial<MdOptions> = { runs: 1, threads: [1], participants: 8, maxWarmupMs: 300, maxMeasureMs: 500, settleMs: 200, warmupMs: 200, measureMs: 500, drainMs: 1000, quietWaitMs: 0, quick: true };

/** Router-side figures of one phase (its measurement window). */
export interface RouterWindow {
  mainCpuUsPerDg: number;
  processCpuUsPerDg: number;
  /** Each I/O thread's CPU over the window, as a share of it (pandanet). */
  ioCpuShare: number[];
  /** Share of the window the router's main thread was runnable but waiting for a CPU. */
  mainRunDelayShare: number;
}

export interface LoadPoint extends RouterWindow {
  load: number;
  ratePerSec: number;
  offeredPerSec: number;
  deliveredPerSec: number;
  latency: Percentiles | null;
  service: Percentiles | null;
  sendLag: Percentiles | null;
  missing: number;
  clientCpuUsPerDg: number;
  otherLoadCores: number;
  /** p99 over the same round's baseline p99 at the same load fraction. */
  p99Ratio?: number;
}

export interface MdRun {
  round: number;
  kind: string;
  ok: boolean;
  error?: string;
  /** max phase: deliveries per second in its measured part. */
  datagramsPerSec: number;
  max: (RouterWindow & { sent: number; received: number; clientCpuUsPerDg: number; otherLoadCores: number }) | null;
  points: LoadPoint[];
  /** Router counters over the max phase (baseline) or `MessageDirector.getStats()` after it (pandanet). */
  routerStats: unknown;
  ratioToBaseline?: number;
  /** pandanet: datagrams/s over the same round's `baseline tick` run. */
  ratioToTick?: number;
  ratioToAstron: number;
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
  routerMainCpuUsPerDg: Spread;
  otherLoadCores: Spread;
  missing: number;
}

interface KindSummary {
  kind: string;
  datagramsPerSec: Spread;
  ratioToBaseline: Spread | null;
  ratioToTick: Spread | null;
  ratioToAstron: Spread;
  routerMainCpuUsPerDg: Spread;
  routerProcessCpuUsPerDg: Spread;
  ioCpuShare: number[];
  mainRunDelayShare: Spread;
  clientCpuUsPerDg: Spread;
  otherLoadCores: Spread;
  points: PointSummary[];
  okRuns: number;
  failedRuns: number;
}

export interface MdResult extends ResultHeader {
  options: MdOptions;
  astronReferencePerSec: number;
  runs: MdRun[];
  summary: KindSummary[];
  targets: Array<{ kind: string; target: string; value: number; pass: boolean }>;
  totalWallMs: number;
}

function kinds(o: MdOptions): Array<{ kind: string; params: MdRouterParams }> {
  return [
    { kind: 'baseline', params: { router: 'baseline', threads: 0 } },
    ...(o.tickBaseline ? [{ kind: 'baseline tick', params: { router: 'baseline', threads: 0, flush: 'tick' } as MdRouterParams }] : []),
    ...o.threads.map((t) => ({ kind: `pandanet t${t}`, params: { router: 'pandanet', threads: t } as MdRouterParams }))];
}

/** Planned progress steps. */
export function mdSteps(o: MdOptions): number {
  return o.runs * kinds(o).length;
}

/** Router processes (one, or two joined in a mesh) and a client process, several phases each measured on every side. */
class MdSession {
  private constructor(
    private readonly routers: Array<Child<MdRouterMessage, MdRouterCommand>>,
    private readonly client: Child<MdClientMessage, MdClientCommand>,
    private readonly ctx: RunContext,
  ) {}

  /**
   * One router per entry of `params` (spawned in order); participants connect to the first two that
   * are not `relayOnly`, alternating between them and sending only across (MdClientParams.port2).
   */
  static async open(ctx: RunContext, o: MdOptions, params: MdRouterParams | MdRouterParams[], label: string): Promise<MdSession> {
    const list = Array.isArray(params) ? params : [params];
    const routers = list.map((rp, i) => ctx.spawn<MdRouterMessage, MdRouterCommand>(ROUTER, rp, `md-router ${label}${list.length > 1 ? ` n${i + 1}` : ''}`));
    const all: number[] = [];
    for (const r of routers) all.push((await r.next('listening', ctx.left())).port);
    const ports = all.filter((_, i) => list[i]!.relayOnly !== true);
    const port2 = ports.length > 1 ? ports[1]! : list[0]!.crossLoopback === true ? ports[0]! : undefined;
    const cp: MdClientParams = { host: '127.0.0.1', port: ports[0]!, ...(port2 !== undefined ? { port2 } : {}), participants: o.participants, clientThreads: o.clientThreads, datagramBytes: o.datagramBytes, channelBase: 1_000_000 };
    const client = ctx.spawn<MdClientMessage, MdClientCommand>(CLIENT, cp, `md-client ${label}`);
    await client.next('ready', ctx.left());
    return new MdSession(routers, client, ctx);
  }

  /** `window`: the first router's (CPU per datagram counts every router's process CPU, see {@link sumWindows}); `stats`: one per router when several. */
  async phase(cmd: Extract<MdClientCommand, { kind: 'phase' }>): Promise<{ client: MdPhaseResult; window: WindowReport; stats: unknown; otherLoadCores: number }> {
    for (const r of this.routers) r.send({ kind: 'start' });
    for (const r of this.routers) await r.next('started', this.ctx.left());
    const b0 = busyNow();
    const t0 = performance.now();
    this.client.send(cmd);
    const client = await this.client.next('phaseResult', this.ctx.left());
    for (const r of this.routers) r.send({ kind: 'stop', exit: false });
    const reps = [];
    for (const r of this.routers) reps.push(await r.next('report', this.ctx.left()));
    const wallMs = performance.now() - t0;
    const window = sumWindows(reps.map((x) => x.window));
    const routerCpu = reps.reduce((s, x) => s + x.window.processCpuUs, 0);
    return { client, window, stats: reps.length === 1 ? reps[0]!.stats : reps.map((x) => x.stats), otherLoadCores: otherLoadCores(busyNow() - b0, routerCpu + client.clientCpuUs, wallMs) };
  }

  async close(): Promise<void> {
    this.client.send({ kind: 'end' });
    await this.client.exit(Math.min(3000, this.ctx.left()));
    for (const r of this.routers) r.send({ kind: 'stop' });
    for (const r of this.routers) await r.exit(Math.min(3000, this.ctx.left()));
  }
}

/** Several routers' windows as one: the first's, with main-thread and process CPU summed over all (so µs/dg is the cluster's). */
function sumWindows(ws: WindowReport[]): WindowReport {
  if (ws.length === 1) return ws[0]!;
  const first = ws[0]!;
  return { ...first, mainCpuUs: ws.reduce((s, w) => s + w.mainCpuUs, 0), processCpuUs: ws.reduce((s, w) => s + w.processCpuUs, 0), threads: ws.flatMap((w) => w.threads) };
}

function routerWindow(w: WindowReport, datagrams: number, ioThreads: number): RouterWindow {
  const n = Math.max(1, datagrams);
  return {
    mainCpuUsPerDg: cpuOfLabel(w, 'main') > 0 ? cpuOfLabel(w, 'main') / n : w.mainCpuUs / n,
    processCpuUsPerDg: w.processCpuUs / n,
    ioCpuShare: ioThreadCpu(w, ioThreads).map((c) => round(c / (w.windowMs * 1000), 3)),
    mainRunDelayShare: w.mainRunDelayUs / (w.windowMs * 1000),
  };
}

/** What is wrong with a phase's deliveries ('' when nothing). */
function problems(c: MdPhaseResult, what: string): string {
  const out: string[] = [];
  if (c.mismatches > 0) out.push(`${c.mismatches} datagrams misrouted, out of order or corrupt`);
  if (c.lost > 0) out.push(`${c.lost} lost`);
  if (c.missing > 0) out.push(`${c.missing} of ${c.sent} still missing after the drain`);
  if (out.length === 0) return '';
  return `${what}: ${out.join(', ')}${c.errors.length > 0 ? ` (first: ${c.errors[0]})` : ''}`;
}

/**
 * One router kind's run (fresh router processes, one client): max phase, settling, open-loop loads.
 * `params`: one router, or several joined in a mesh (cross-node traffic); `referencePerSec`: the
 * quoted Astron figure `ratioToAstron` is over; `ratesPerSec` (one per load): open-loop rates to use
 * instead of load × its own max (md-mesh's loopback baseline runs at the mesh's rate). Thread: main
 * thread of the orchestrator.
 */
export async function runMdKind(o: MdOptions, kind: string, params: MdRouterParams | MdRouterParams[], roundNo: number, referencePerSec = ASTRON_REFERENCE_PER_SEC, ratesPerSec?: number[]): Promise<MdRun> {
  const t0 = performance.now();
  const run: MdRun = { round: roundNo, kind, ok: false, datagramsPerSec: Number.NaN, max: null, points: [], routerStats: null, ratioToAstron: Number.NaN, wallMs: 0 };
  const first = Array.isArray(params) ? params[0]! : params;
  const io = first.router === 'pandanet' ? Math.max(1, first.threads) : 0;
  const failures: string[] = [];
  try {
    await bounded(o.timeoutMs, async (ctx) => {
      const s = await MdSession.open(ctx, o, params, kind);
      const max = await s.phase({ kind: 'phase', mode: 'max', inFlight: o.inFlight, warmupMs: o.maxWarmupMs, measureMs: o.maxMeasureMs, drainMs: o.drainMs });
      const bad = problems(max.client, 'max phase');
      if (bad !== '') throw new Error(bad);
      run.datagramsPerSec = max.client.deliveredPerSec;
      run.ratioToAstron = run.datagramsPerSec / referencePerSec;
      run.routerStats = max.stats;
      run.max = {
        ...routerWindow(max.window, max.client.received, io),
        sent: max.client.sent,
        received: max.client.received,
        clientCpuUsPerDg: max.client.clientCpuUs / Math.max(1, max.client.received),
        otherLoadCores: max.otherLoadCores,
      };
      if (o.settleMs > 0) {
        const low = ratesPerSec !== undefined ? Math.min(...ratesPerSec) : Math.max(100, Math.round(run.datagramsPerSec * Math.min(...o.loads)));
        const settle = await s.phase({ kind: 'phase', mode: 'rate', ratePerSec: low, warmupMs: 0, measureMs: o.settleMs, drainMs: o.drainMs, tickUs: o.tickUs });
        const b = problems(settle.client, 'settling phase');
        if (b !== '') failures.push(b);
      }
      for (const [li, load] of o.loads.entries()) {
        const rate = ratesPerSec?.[li] ?? Math.max(100, Math.round(run.datagramsPerSec * load));
        const ph = await s.phase({ kind: 'phase', mode: 'rate', ratePerSec: rate, warmupMs: o.warmupMs, measureMs: o.measureMs, drainMs: o.drainMs, tickUs: o.tickUs });
        const c = ph.client;
        const b = problems(c, `${Math.round(load * 100)} % load`);
        if (b !== '') failures.push(b);
        run.points.push({
          load,
          ratePerSec: rate,
          offeredPerSec: c.offeredPerSec,
          deliveredPerSec: c.deliveredPerSec,
          latency: c.latency,
          service: c.service,
          sendLag: c.sendLag,
          missing: c.missing,
          clientCpuUsPerDg: c.clientCpuUs / Math.max(1, c.received),
          otherLoadCores: ph.otherLoadCores,
          ...routerWindow(ph.window, c.received, io),
        });
      }
      await s.close();
    });
    run.ok = failures.length === 0;
    if (!run.ok) run.error = failures.join('; ');
  } catch (err) {
    run.error = errText(err);
  }
  run.wallMs = performance.now() - t0;
  return run;
}

function summarize(o: MdOptions, runs: MdRun[]): KindSummary[] {
  return kinds(o).map(({ kind, params }) => {
    const mine = runs.filter((r) => r.kind === kind);
    const ok = mine.filter((r) => r.ok);
    const col = (f: (r: MdRun) => number): Spread => spread(ok.map(f));
    const ratios = ok.map((r) => r.ratioToBaseline).filter((x): x is number => x !== undefined);
    const tickRatios = ok.map((r) => r.ratioToTick).filter((x): x is number => x !== undefined);
    const nIo = params.router === 'pandanet' ? Math.max(1, params.threads) : 0;
    const pts = o.loads.map((load): PointSummary => {
      const ps = ok.map((r) => r.points.find((p) => p.load === load)).filter((p): p is LoadPoint => p !== undefined);
      const pr = ps.map((p) => p.p99Ratio).filter((x): x is number => x !== undefined);
      return {
        load,
        ratePerSec: spread(ps.map((p) => p.ratePerSec)),
        p50: spread(ps.map((p) => p.latency?.p50 ?? Number.NaN)),
        p99: spread(ps.map((p) => p.latency?.p99 ?? Number.NaN)),
        p999: spread(ps.map((p) => p.latency?.p999 ?? Number.NaN)),
        max: spread(ps.map((p) => p.latency?.max ?? Number.NaN)),
        serviceP99: spread(ps.map((p) => p.service?.p99 ?? Number.NaN)),
        sendLagP99: spread(ps.map((p) => p.sendLag?.p99 ?? Number.NaN)),
        p99Ratio: pr.length > 0 ? spread(pr) : null,
        routerMainCpuUsPerDg: spread(ps.map((p) => p.mainCpuUsPerDg)),
        otherLoadCores: spread(ps.map((p) => p.otherLoadCores)),
        missing: ps.reduce((s, p) => s + p.missing, 0),
      };
    });
    return {
      kind,
      datagramsPerSec: col((r) => r.datagramsPerSec),
      ratioToBaseline: ratios.length > 0 ? spread(ratios) : null,
      ratioToTick: tickRatios.length > 0 ? spread(tickRatios) : null,
      ratioToAstron: col((r) => r.ratioToAstron),
      routerMainCpuUsPerDg: col((r) => r.max?.mainCpuUsPerDg ?? Number.NaN),
      routerProcessCpuUsPerDg: col((r) => r.max?.processCpuUsPerDg ?? Number.NaN),
      ioCpuShare: Array.from({ length: nIo }, (_, i) => round(spread(ok.map((r) => r.max?.ioCpuShare[i] ?? Number.NaN)).median, 3)),
      mainRunDelayShare: col((r) => r.max?.mainRunDelayShare ?? Number.NaN),
      clientCpuUsPerDg: col((r) => r.max?.clientCpuUsPerDg ?? Number.NaN),
      otherLoadCores: col((r) => r.max?.otherLoadCores ?? Number.NaN),
      points: pts,
      okRuns: ok.length,
      failedRuns: mine.length - ok.length,
    };
  });
}

const name = (kind: string): string =>
  kind === 'baseline' ? 'baseline `node:net` router' : kind === 'baseline tick' ? '`node:net` router, one write per destination per loop turn' : kind.replace('pandanet', 'pandanet MessageDirector');

/** The throughput table (max phase). */
export function mdThroughputTable(r: MdResult): string {
  const rows = r.summary.map((s) => [
    name(s.kind),
    range(s.datagramsPerSec, k),
    s.kind === 'baseline' ? '1' : range(s.ratioToBaseline, f2),
    s.kind === 'baseline tick' ? '1' : range(s.ratioToTick, f2),
    range(s.ratioToAstron, f2),
    range(s.routerMainCpuUsPerDg, f2),
    range(s.routerProcessCpuUsPerDg, f2),
    s.ioCpuShare.length === 0 ? '—' : s.ioCpuShare.map(pct).join(' / '),
    range(s.mainRunDelayShare, pct),
    range(s.clientCpuUsPerDg, f2),
    range(s.otherLoadCores, f2),
    `${s.okRuns}/${s.okRuns + s.failedRuns}`,
  ]);
  rows.push([`Astron MD (reference: quoted, not measured in this run)`, `~${k(r.astronReferencePerSec)}`, '—', '—', '1', '—', '—', '—', '—', '—', '—', '—']);
  return mdTable(
    ['router', 'datagrams/s median (min–max)', '× node:net router (same round)', '× per-turn node:net router (same round)', `× Astron reference (${k(r.astronReferencePerSec)}/s)`, 'router main-thread CPU µs/dg', 'router process CPU µs/dg', 'router I/O threads CPU (share of the phase)', 'router main thread waiting for a CPU', 'client CPU µs/dg', 'other load, cores', 'ok/runs'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  );
}

/** The latency table (open-loop phases). */
export function mdLatencyTable(r: MdResult): string {
  const rows: string[][] = [];
  for (const s of r.summary) {
    for (const p of s.points) {
      rows.push([
        name(s.kind),
        `${Math.round(p.load * 100)} %`,
        range(p.ratePerSec, k),
        range(p.p50, us),
        range(p.p99, us),
        range(p.p999, us),
        s.kind === 'baseline' ? '1' : range(p.p99Ratio, f2),
        range(p.serviceP99, us),
        range(p.sendLagP99, us),
        range(p.routerMainCpuUsPerDg, f2),
        int(p.missing),
        range(p.otherLoadCores, f2),
        `${s.okRuns}/${s.okRuns + s.failedRuns}`,
      ]);
    }
  }
  return mdTable(
    ['router', 'load (of its own max)', 'offered dg/s', 'p50', 'p99', 'p99.9', 'p99 × node:net p99 (same round, same load)', 'p99 from actual write', 'client ticker lateness p99', 'router main-thread CPU µs/dg', 'missing (all runs)', 'other load, cores', 'ok/runs'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  );
}

function throughputChart(r: MdResult): string {
  const s = r.summary;
  return barChartSvg({
    title: 'Message director, one node: participant → participant datagrams/s',
    subtitle: `${r.options.participants} participants × ${r.options.inFlight} in flight, ${r.options.datagramBytes} B datagrams; median of ${r.options.runs} runs, whiskers min–max; Astron: quoted reference, not measured here`,
    yLabel: 'datagrams/s',
    groups: s.map((x) => (x.kind === 'baseline' ? 'node:net router' : x.kind === 'baseline tick' ? 'node:net, per-turn writes' : x.kind.replace('pandanet ', 'pandanet MD '))),
    series: [{ name: 'delivered datagrams/s', values: s.map((x) => x.datagramsPerSec.median), low: s.map((x) => x.datagramsPerSec.min), high: s.map((x) => x.datagramsPerSec.max) }],
    refLines: [
      { value: r.astronReferencePerSec, label: `Astron MD ~${k(r.astronReferencePerSec)} (reference)` },
      { value: r.astronReferencePerSec * ASTRON_TARGET_TIMES, label: `target ${ASTRON_TARGET_TIMES}× Astron` },
    ],
  });
}

function latencyChart(r: MdResult): string {
  const groups: string[] = [];
  const p50: Array<number | null> = [];
  const p99: Array<number | null> = [];
  const lo: Array<number | null> = [];
  const hi: Array<number | null> = [];
  for (const s of r.summary) {
    for (const p of s.points) {
      groups.push(`${s.kind === 'baseline' ? 'node:net' : s.kind === 'baseline tick' ? 'node:net tick' : s.kind.replace('pandanet ', 'MD ')} ${Math.round(p.load * 100)}%`);
      p50.push(p.p50.median / 1000);
      p99.push(p.p99.median / 1000);
      lo.push(p.p99.min / 1000);
      hi.push(p.p99.max / 1000);
    }
  }
  return barChartSvg({
    title: 'Message director: participant → participant delay at a fixed rate (no coordinated omission)',
    subtitle: `load = share of each router's own max; ${r.options.participants} participants; median of ${r.options.runs} runs; ${r.machine.cores} cores shared with the client`,
    yLabel: 'delay from due time, ms',
    groups,
    series: [
      { name: 'p50', values: p50 },
      { name: 'p99', values: p99, low: lo, high: hi },
    ],
    log: true,
  });
}

/** Runs the md workload. */
export async function runMd(options: Partial<MdOptions>, progress: Progress): Promise<MdResult> {
  const o: MdOptions = { ...MD_DEFAULTS, ...(options.quick === true ? MD_QUICK : {}), ...options };
  if (o.datagramBytes < MD_HEADER_BYTES + MD_PAYLOAD_MIN || o.datagramBytes > 65_535) throw new Error(`md: datagramBytes must be ${MD_HEADER_BYTES + MD_PAYLOAD_MIN}..65535`);
  if (o.participants < 2 * Math.max(1, o.clientThreads) || o.participants > 10_000) throw new Error('md: participants must be at least 2 per client thread (and at most 10,000)');
  if (o.loads.length === 0) throw new Error('md: loads must not be empty');
  const started = performance.now();
  const header = resultHeader('md');
  const quiet = new Quiet({ perRunMs: o.quietWaitMs, cores: 0.25, budgetMs: o.quietBudgetMs });
  const ks = kinds(o);
  const runs: MdRun[] = [];
  console.log(
    `md: ${o.participants} participants (one channel each, Astron header, ${o.datagramBytes} B datagrams) in a client process of ${o.clientThreads} piscina threads; per router and round: max phase (${o.inFlight} in flight per participant, ${o.maxWarmupMs} ms warm-up + ${o.maxMeasureMs} ms measured), ${o.settleMs} ms settling, then ${o.loads.map((l) => `${l * 100} %`).join('/')} of that max for ${o.warmupMs} + ${o.measureMs} ms; ${o.runs} rounds; Astron reference ~${k(ASTRON_REFERENCE_PER_SEC)} dg/s (quoted, not measured)`,
  );
  for (let roundNo = 1; roundNo <= o.runs; roundNo++) {
    const shift = (roundNo - 1) % ks.length;
    const thisRound: MdRun[] = [];
    for (const { kind, params } of [...ks.slice(shift), ...ks.slice(0, shift)]) {
      progress.setNote(`md ${kind} round ${roundNo}`);
      if (o.quietWaitMs > 0) await quiet.wait();
      const run = await runMdKind(o, kind, params, roundNo);
      runs.push(run);
      thisRound.push(run);
      progress.step();
      const m = run.max;
      progress.log(
        run.ok && m !== null
          ? `md r${roundNo} ${kind.padEnd(12)} max ${k(run.datagramsPerSec)} dg/s (${f2(run.ratioToAstron)}× Astron ref), router main ${f2(m.mainCpuUsPerDg)} / process ${f2(m.processCpuUsPerDg)} µs/dg${m.ioCpuShare.length > 0 ? `, I/O ${m.ioCpuShare.map(pct).join('/')}` : ''}, client ${f2(m.clientCpuUsPerDg)} µs/dg, other load ${f2(m.otherLoadCores)}; ${run.points.map((p) => `${p.load * 100}%: p50 ${us(p.latency?.p50 ?? Number.NaN)} p99 ${us(p.latency?.p99 ?? Number.NaN)} p99.9 ${us(p.latency?.p999 ?? Number.NaN)} (other load ${f2(p.otherLoadCores)})`).join('; ')} (${(run.wallMs / 1000).toFixed(1)} s)`
          : `md r${roundNo} ${kind} FAILED: ${run.error}`,
      );
    }
    const base = thisRound.find((r) => r.kind === 'baseline');
    const tick = thisRound.find((r) => r.kind === 'baseline tick');
    for (const r of thisRound) {
      if (r.kind.startsWith('pandanet') && r.ok && tick?.ok === true) r.ratioToTick = r.datagramsPerSec / tick.datagramsPerSec;
      if (r.kind === 'baseline' || !r.ok || base === undefined || !base.ok) continue;
      r.ratioToBaseline = r.datagramsPerSec / base.datagramsPerSec;
      for (const p of r.points) {
        const b = base.points.find((x) => x.load === p.load);
        if (b?.latency && p.latency) p.p99Ratio = p.latency.p99 / b.latency.p99;
      }
    }
  }
  const summary = summarize(o, runs);
  const targets: MdResult['targets'] = [];
  for (const s of summary) {
    if (!s.kind.startsWith('pandanet') || s.okRuns === 0) continue;
    targets.push({ kind: s.kind, target: `≥ ${ASTRON_TARGET_TIMES}× Astron's single-node rate (~${k(ASTRON_REFERENCE_PER_SEC)} dg/s, reference)`, value: round(s.ratioToAstron.median, 2), pass: s.ratioToAstron.median >= ASTRON_TARGET_TIMES });
  }
  const result: MdResult = { ...header, options: o, astronReferencePerSec: ASTRON_REFERENCE_PER_SEC, runs, summary, targets, totalWallMs: Math.round(performance.now() - started) };
  const t1 = mdThroughputTable(result);
  const t2 = mdLatencyTable(result);
  const targetLines = targets.map((t) => `- ${t.pass ? 'MET' : 'MISSED'} ${t.kind}: ${t.target}: ${t.value}×`);
  const failures = runs.filter((r) => !r.ok).map((r) => `- ${r.kind} round ${r.round}: ${r.error}`);
  console.log('');
  console.log(t1);
  console.log('');
  console.log(t2);
  console.log('');
  for (const l of targetLines) console.log(l);
  if (failures.length > 0) console.log(`\nFailed runs (left out of the medians):\n${failures.join('\n')}`);
  if (o.save) {
    const base = resultBase('md', header.date, o.quick);
    const md = `${markdownHeader('Message director, one node', header, [
      `${o.participants} participants, each subscribed to its own channel, sending ${o.datagramBytes} B Astron-header datagrams to the others' channels; client in a separate process (${o.clientThreads} piscina threads); ${o.runs} rounds, routers in a rotating order, each run a fresh router process`,
      `Throughput: closed loop, ${o.inFlight} datagrams in flight per participant, ${o.maxWarmupMs} ms unmeasured warm-up, ${o.maxMeasureMs} ms measured. Latency: open loop at ${o.loads.map((l) => `${l * 100} %`).join('/')} of each router's own max, delay from the due time (no coordinated omission), ${o.warmupMs} ms warm-up + ${o.measureMs} ms measured`,
      `Astron: ~${k(ASTRON_REFERENCE_PER_SEC)} datagrams/s through one Astron MD (20,000 datagrams participant → participant, a Node client, this box), quoted from the protocol reference; not measured in this run`,
    ])}\n## Throughput\n\n${t1}\n\n## Latency\n\n${t2}\n\n## Targets\n\n${targetLines.join('\n')}\n${failures.length > 0 ? `\n## Failed runs (left out of the medians)\n\n${failures.join('\n')}\n` : ''}`;
    console.log(`\nfiles: ${saveResult(base, result, md, { throughput: throughputChart(result), latency: latencyChart(result) }).join(', ')}`);
  }
  return result;
}
