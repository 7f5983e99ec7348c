/**
 * The end-to-end echo workload: a load client in another process against two plain `node:net`
 * servers (the baselines: the chunk echo, which echoes each read chunk as it lies, and the
 * realistic one, which parses, copies and replies per datagram; bench/e2e/echo-server.ts) and
 * against pandanet's server with 0, 1, 2 and 4 threads, without and with simulated per-datagram
 * work (2 and 10 µs of fixed computation, the same code and step count in every server: bench/e2e/work.ts, its real cost
 * per call measured once and printed) on the server's main thread. Every configuration is measured
 * in every round, in a rotating order, so each pandanet run has baseline runs from the same round to
 * be compared with (ratio = pandanet / baseline, same round, same work; one ratio per baseline).
 *
 * The load: the native C client (bench/native/echo-client.c, one thread, epoll; built at bench time,
 * bench/lib/native-load.ts) when a C compiler is there, else the Node client (bench/e2e/load-client.ts,
 * piscina threads), with the choice and the reason printed and saved (`--load native|node` forces
 * one). Both verify every echo and report their own CPU, shown per datagram.
 *
 * One run = fresh server process + fresh load-client process, bounded by a hard timeout (both are
 * SIGKILLed and the run is recorded as failed). Reports datagrams/s (echoes completed / elapsed, the
 * clock running from "go" to the last echo), the server's main-thread CPU per datagram
 * (`/proc/thread-self/schedstat`, read on the server's main thread) and how long that thread waited
 * for a CPU, process CPU per datagram, pandanet's I/O thread utilisation, and the ratios; prints a
 * Markdown table and writes JSON, Markdown and two SVG charts (throughput by thread count; ratio to
 * the baseline) to `bench/results/`. Because the machine may be shared, each run
 * first waits (bounded) for other processes' load to drop, and records the load other processes put
 * on the machine during the run: read the ratios against that column.
 *
 * What it does not do: tune either server, retry failed runs, or hide them (a failed run is listed
 * and left out of the medians).
 *
 * Thread: main thread of the orchestrating process.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Child } from '../lib/child.js';
import { type MachineInfo } from '../lib/machine.js';
import type { Progress } from '../lib/progress.js';
import { markdownHeader, resultBase, resultHeader, saveResult } from '../lib/report.js';
import { machineBusyUs } from '../lib/thread-cpu.js';
import { chooseLoad, NativeLoadClient, type LoadChoice, type LoadKind, type LoadProcess, type LoadRequest } from '../lib/native-load.js';
import { calibrateWork, workIterations, type WorkCalibration } from './work.js';
import { round, spread, type Spread } from '../lib/stats.js';
import { barChartSvg } from '../lib/svg.js';
import type { ClientCommand, ClientMessage, ClientParams, DrainMode, IdleMode, IoThreadReport, ServerCommand, ServerMessage, ServerParams } from './protocol.js';

/** Options of the echo workload. */
export interface EchoOptions {
  runs: number;
  connections: number;
  perConnection: number;
  /**
   * Datagrams per connection of an unmeasured warm-up pass, run against the same server process by
   * a separate client just before the measured pass (0: none). Every server gets the same one, so
   * the measured pass compares warmed-up JIT code instead of V8's first compilations.
   */
  warmupPerConnection: number;
  inFlight: number;
  payloadBytes: number;
  clientThreads: number;
  /** pandanet thread counts to measure. */
  threads: number[];
  /** Simulated work per datagram, µs; each value is a separate set of configurations. */
  workUs: number[];
  drains: DrainMode[];
  idle: IdleMode;
  /** pandanet servers: `NetConfig.ioSpinUs` (`--io-spin-us`, default 0). */
  ioSpinUs: number;
  /** pandanet servers: `NetConfig.drainHoldUs` (`--drain-hold-us`; null: the library's default). */
  drainHoldUs: number | null;
  /** Hard limit per run (server + client, start to finish), ms. */
  timeoutMs: number;
  quick: boolean;
  /** Write the JSON file (default true). */
  save: boolean;
  /** Where to write it (default bench/results/echo-<date>[-quick][-N].json next to this build). */
  outPath?: string;
  /**
   * Before each run, wait (at most this long, ms) until other processes use less than
   * {@link quietCores} of CPU over a 300 ms sample; 0 disables the wait. The load seen is recorded.
   */
  quietWaitMs: number;
  quietCores: number;
  /** Total quiet-waiting allowed over the whole workload, ms (keeps the invocation bounded). */
  quietBudgetMs: number;
  /** Diagnostics: write a V8 CPU profile of every server process (all its threads) into this folder. */
  profileDir?: string;
  /**
   * The load generators (`--load`): `auto` = the native client when it builds, else the Node
   * client. Several (`--load native,node`): every configuration runs under each, in every round,
   * and each ratio is taken against the baseline run under the same load.
   */
  load: LoadRequest[];
  /** The node:net baselines to run (`--baselines`): `chunk` (chunk echo) and/or `realistic`. */
  baselines: BaselineKind[];
}

/** The node:net baselines: `chunk` echoes each read chunk as it lies; `realistic` parses, copies and replies per datagram. */
export type BaselineKind = 'chunk' | 'realistic';

/**
 * Defaults: the issue's workload. 10,000 datagrams per connection (1M per run): at 2,000 a run lasts
 * 0.2–0.7 s and pandanet's ratio reads its start-up (its threads still settling onto the 2 cores)
 * rather than the steady state a server lives in; see docs/benchmarks.md, "run length".
 */
export const ECHO_DEFAULTS: EchoOptions = {
  runs: 3,
  connections: 100,
  perConnection: 10_000,
  warmupPerConnection: 1000,
  inFlight: 32,
  payloadBytes: 64,
  clientThreads: 2,
  threads: [0, 1, 2, 4],
  workUs: [0, 2, 10],
  drains: ['drainData'],
  idle: 'backoff',
  ioSpinUs: 0,
  drainHoldUs: null,
  timeoutMs: 60_000,
  quietWaitMs: 3000,
  quietCores: 0.25,
  quietBudgetMs: 30_000,
  quick: false,
  save: true,
  load: ['auto'],
  baselines: ['chunk', 'realistic'],
};

/** `--quick`: 1 run of 20 connections × 500 datagrams, the baselines and pandanet t1, 0 and 2 µs of work. */
export const ECHO_QUICK: Partial<EchoOptions> = { runs: 1, connections: 20, perConnection: 500, warmupPerConnection: 200, threads: [1], workUs: [0, 2], quietWaitMs: 0, quick: true };

/** One server configuration. */
export interface EchoConfig {
  id: string;
  params: ServerParams;
  /** The load generator this configuration runs under. */
  load: LoadKind;
}

/** One measured run. */
export interface EchoRun {
  round: number;
  ok: boolean;
  /** The load generator of this run. */
  load: LoadKind;
  error?: string;
  echoes: number;
  expected: number;
  elapsedMs: number;
  /** From "go" until half of the connections were done, ms (vs elapsedMs: how long the tail is). */
  medianConnectionDoneMs: number;
  datagramsPerSec: number;
  /** Load-client process CPU per datagram, µs (Node load: both piscina threads and its main thread; native: its one thread, getrusage). */
  clientCpuUsPerDatagram: number;
  /** CPU of each load task's thread over the run, ms. */
  clientThreadsCpuMs: number[];
  /**
   * Cores' worth of CPU that processes other than this run's server and client used during the run
   * (machine busy time from /proc/stat minus theirs, over the elapsed time). Another workload on a
   * 2-core box shows up here; runs with a high value are noisy.
   */
  otherLoadCores: number;
  /** Other processes' load just before the run (cores), and how long the run waited for quiet, ms. */
  preRunLoadCores: number;
  quietWaitedMs: number;
  mainCpuUs: number;
  /** Share of the window the server's main thread spent runnable but waiting for a CPU (schedstat). */
  mainRunDelayShare: number;
  cpuSource: string;
  mainCpuUsPerDatagram: number;
  /**
   * Main-thread CPU minus the simulated work's cost as calibrated on an idle thread of this box
   * (`workCalibration.wallUsPerCall` × datagrams), per datagram: what the server's own receive/send
   * code costs the main thread.
   */
  mainCpuUsPerDatagramExclWork: number;
  /**
   * The work's median call in this window over its calibrated median call (1.05: the same steps ran
   * 5 % slower in place than on the calibration's idle core, and "beyond" overstates by that much of
   * the work). NaN without work.
   */
  workInPlaceFactor: number;
  processCpuUsPerDatagram: number;
  /** Loop wall time on the main thread outside the simulated work, per datagram (hrtime). */
  loopUsPerDatagram: number;
  /**
   * pandanet: wall time of one loop iteration that found nothing (accept check, reset check, poll,
   * empty drain), µs, and all of them together per datagram: what polling costs a main thread that
   * has no way to sleep until data arrives.
   */
  emptyIterationUs: number;
  emptyIterationsUsPerDatagram: number;
  /** Every server thread's CPU over the window, largest first, ms. */
  threadsCpuMs: number[];
  /** CPU of pandanet's I/O threads together per datagram, µs (NaN for the baseline). */
  ioCpuUsPerDatagram: number;
  serverDatagrams: number;
  /** Connections the server saw reset in the window (the client closes them all at its end). */
  serverResets: number;
  iterations: number;
  busyIterations: number;
  ioThreads: IoThreadReport[];
  /** This run's datagrams/s over the same round's node:net chunk-echo run with the same work. */
  ratioToBaseline?: number;
  /** This run's datagrams/s over the same round's node:net realistic run with the same work. */
  ratioToRealistic?: number;
  wallMs: number;
}

/** Summary of one configuration over its successful runs. */
export interface EchoSummary {
  datagramsPerSec: Spread;
  /** × node:net chunk echo (same round). */
  ratioToBaseline: Spread | null;
  /** × node:net realistic (same round). */
  ratioToRealistic: Spread | null;
  mainCpuUsPerDatagram: Spread;
  mainCpuUsPerDatagramExclWork: Spread;
  workInPlaceFactor: Spread;
  processCpuUsPerDatagram: Spread;
  loopUsPerDatagram: Spread;
  /** Median utilisation of each I/O thread. */
  ioUtilization: number[];
  /** Median share of accepted connections per I/O thread (pandanet). */
  ioConnections: number[];
  /** Load from other processes during the runs, cores (see {@link EchoRun.otherLoadCores}). */
  otherLoadCores: Spread;
  mainRunDelayShare: Spread;
  clientCpuUsPerDatagram: Spread;
  okRuns: number;
  failedRuns: number;
}

/** The JSON written to bench/results. */
export interface EchoResult {
  workload: 'echo';
  date: string;
  git: string;
  /** sha256 (first 16 hex) over the compiled pandanet sources this run used (build/src/**\/*.js). */
  buildFingerprint: string;
  machine: MachineInfo;
  options: EchoOptions;
  /** The load generators used (see {@link EchoOptions.load}) and, for each, which and why (a fallback says so). */
  loads: LoadKind[];
  loadNotes: string[];
  /** What one call of the simulated work really cost (same code as the servers'), per work level > 0. */
  workCalibration: WorkCalibration[];
  configs: Array<EchoConfig & { runs: EchoRun[]; summary: EchoSummary }>;
  targets: TargetCheck[];
  totalWallMs: number;
  /** Time spent waiting for other load to drop before runs, ms. */
  quietWaitedTotalMs: number;
}

/** One target of the issue, checked. */
export interface TargetCheck {
  config: string;
  target: string;
  value: number;
  pass: boolean;
}

const SERVER = new URL('./echo-server.js', import.meta.url);
const CLIENT = new URL('./load-client.js', import.meta.url);

/** The configurations, each under each load in turn (so the loads alternate within a round). */
function configsFor(o: EchoOptions, loads: readonly LoadKind[]): EchoConfig[] {
  const out: EchoConfig[] = [];
  const add = (id: string, params: ServerParams): void => {
    for (const load of loads) out.push({ id: loads.length > 1 ? `${id} [${load} load]` : id, load, params });
  };
  for (const workUs of o.workUs) {
    const w = workUs === 0 ? '' : ` +${workUs}µs work`;
    if (o.baselines.includes('chunk')) add(`baseline${w}`, { server: 'baseline', threads: 0, drain: 'getData', idle: o.idle, workUs });
    if (o.baselines.includes('realistic')) add(`realistic${w}`, { server: 'realistic', threads: 0, drain: 'getData', idle: o.idle, workUs });
    for (const threads of o.threads) {
      for (const drain of o.drains) {
        add(`pandanet t${threads} ${drain}${w}`, { server: 'pandanet', threads, drain, idle: o.idle, workUs, ioSpinUs: o.ioSpinUs, ...(o.drainHoldUs !== null ? { drainHoldUs: o.drainHoldUs } : {}) });
      }
    }
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Machine load (cores) over `ms`, while this process idles (so it is other processes' load). */
async function sampleLoad(ms: number): Promise<number> {
  const b0 = machineBusyUs();
  const t0 = performance.now();
  await sleep(ms);
  return (machineBusyUs() - b0) / ((performance.now() - t0) * 1000);
}

let quietSpentMs = 0;

/**
 * Waits (within the per-run and the whole-workload budgets) for the machine to be quiet; returns
 * the last load seen and the time waited.
 */
async function waitForQuiet(o: EchoOptions): Promise<{ load: number; waitedMs: number }> {
  const t0 = performance.now();
  const limit = Math.min(o.quietWaitMs, Math.max(0, o.quietBudgetMs - quietSpentMs));
  let load = await sampleLoad(300);
  while (load > o.quietCores && performance.now() - t0 < limit) {
    await sleep(700);
    load = await sampleLoad(300);
  }
  const waitedMs = performance.now() - t0;
  quietSpentMs += waitedMs;
  return { load, waitedMs };
}

/** The load client's parameters: a warm-up pass of `warmupPerConnection` (0: none), then `perConnection` datagrams per connection. */
function clientParams(o: EchoOptions, port: number, perConnection: number, warmupPerConnection: number): ClientParams {
  return {
    host: '127.0.0.1',
    port,
    connections: o.connections,
    perConnection,
    inFlight: o.inFlight,
    payloadBytes: o.payloadBytes,
    clientThreads: o.clientThreads,
    taskDeadlineMs: Math.max(1000, o.timeoutMs - 5000),
    warmupPerConnection,
  };
}

/**
 * The unmeasured warm-up pass: the load client (the same process that then runs the measured pass,
 * on the same threads) sends `warmupPerConnection` datagrams on each of `connections` connections of
 * its own, inside a server window whose report is discarded. Throws when the pass does not complete
 * (the run then fails, as a measured pass would).
 */
async function warmUp(server: Child<ServerMessage, ServerCommand>, client: LoadProcess, connections: number, left: () => number): Promise<void> {
  await client.next('ready', left());
  server.send({ kind: 'start', connections });
  await server.next('started', left());
  client.send({ kind: 'go' });
  const res = await client.next('result', left());
  server.send({ kind: 'stop', exit: false });
  await server.next('report', left());
  if (res.echoes !== res.expected) throw new Error(`warm-up: ${res.echoes} of ${res.expected} echoes arrived`);
  client.send({ kind: 'next' });
}

/** Runs one server configuration once; never throws, never outlives `timeoutMs`. */
async function runOnce(cfg: EchoConfig, o: EchoOptions, roundNo: number, load: LoadChoice, workUsPerCall: number, workMedianUsPerCall: number): Promise<EchoRun> {
  if (load.load !== cfg.load) throw new Error(`internal: config ${cfg.id} is for the ${cfg.load} load, got ${load.load}`);
  const quiet = o.quietWaitMs > 0 ? await waitForQuiet(o) : { load: Number.NaN, waitedMs: 0 };
  const t0 = performance.now();
  const deadline = t0 + o.timeoutMs;
  const left = (): number => Math.max(1, deadline - performance.now());
  const expected = o.connections * o.perConnection;
  const failed = (error: string): EchoRun => ({
    round: roundNo,
    ok: false,
    load: load.load,
    error,
    echoes: 0,
    expected,
    elapsedMs: Number.NaN,
    medianConnectionDoneMs: Number.NaN,
    datagramsPerSec: Number.NaN,
    clientCpuUsPerDatagram: Number.NaN,
    clientThreadsCpuMs: [],
    otherLoadCores: Number.NaN,
    mainCpuUs: Number.NaN,
    mainRunDelayShare: Number.NaN,
    cpuSource: 'none',
    mainCpuUsPerDatagram: Number.NaN,
    mainCpuUsPerDatagramExclWork: Number.NaN,
    workInPlaceFactor: Number.NaN,
    processCpuUsPerDatagram: Number.NaN,
    loopUsPerDatagram: Number.NaN,
    emptyIterationUs: Number.NaN,
    emptyIterationsUsPerDatagram: Number.NaN,
    threadsCpuMs: [],
    ioCpuUsPerDatagram: Number.NaN,
    serverDatagrams: 0,
    serverResets: 0,
    iterations: 0,
    busyIterations: 0,
    ioThreads: [],
    preRunLoadCores: quiet.load,
    quietWaitedMs: quiet.waitedMs,
    wallMs: performance.now() - t0,
  });

  const execArgv = o.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}/${cfg.id.replace(/[^A-Za-z0-9]+/g, '-')}-r${roundNo}`];
  const server = new Child<ServerMessage, ServerCommand>(SERVER, [JSON.stringify(cfg.params)], `server ${cfg.id}`, execArgv);
  let client: LoadProcess | null = null;
  let hardTimer: NodeJS.Timeout | undefined;
  const hard = new Promise<never>((_, reject) => {
    hardTimer = setTimeout(() => reject(new Error(`run exceeded the ${o.timeoutMs} ms hard timeout; server and client killed`)), o.timeoutMs);
  });
  try {
    const body = async (): Promise<EchoRun> => {
      const { port } = await server.next('listening', left());
      const params = clientParams(o, port, o.perConnection, o.warmupPerConnection);
      client = load.load === 'native' ? new NativeLoadClient(load.binary!, params, `native client ${cfg.id}`) : new Child<ClientMessage, ClientCommand>(CLIENT, [JSON.stringify(params)], `client ${cfg.id}`);
      if (o.warmupPerConnection > 0) await warmUp(server, client, o.connections, left);
      await client.next('ready', left());
      server.send({ kind: 'start', connections: o.connections });
      const started = await server.next('started', left());
      if (started.accepted < o.connections) throw new Error(`server accepted only ${started.accepted} of ${o.connections} connections within 5 s`);
      const busy0 = machineBusyUs();
      client.send({ kind: 'go' });
      const res = await client.next('result', left());
      server.send({ kind: 'stop' });
      const rep = await server.next('report', left());
      const busy = machineBusyUs() - busy0;
      await Promise.all([server.exit(Math.min(3000, left())), client.exit(Math.min(3000, left()))]);

      const n = res.echoes;
      const problems: string[] = [...res.errors];
      if (n !== res.expected) problems.push(`${n} of ${res.expected} echoes arrived`);
      if (res.mismatches > 0) problems.push(`${res.mismatches} echoes out of order or corrupt`);
      if (rep.overflow) problems.push('reader overflow flag set');
      // The work's cost as calibrated on an idle thread of this box (the same steps in every server);
      // not its wall time in the run, which overstates it when the thread is preempted in it.
      const workTotalUs = workUsPerCall * rep.datagrams;
      return {
        round: roundNo,
        ok: problems.length === 0,
        load: load.load,
        ...(problems.length > 0 ? { error: problems.join('; ') } : {}),
        echoes: n,
        expected: res.expected,
        elapsedMs: res.elapsedMs,
        medianConnectionDoneMs: res.medianConnectionDoneMs,
        datagramsPerSec: (n / res.elapsedMs) * 1000,
        clientCpuUsPerDatagram: res.clientCpuUs / n,
        clientThreadsCpuMs: res.tasks.map((t) => round(t.threadCpuUs / 1000, 1)),
        otherLoadCores: Math.max(0, busy - rep.processCpuUs - res.clientCpuUs) / (rep.windowMs * 1000),
        mainCpuUs: rep.mainCpuUs,
        mainRunDelayShare: rep.mainRunDelayUs / (rep.windowMs * 1000),
        cpuSource: rep.cpuSource,
        mainCpuUsPerDatagram: rep.mainCpuUs / n,
        mainCpuUsPerDatagramExclWork: (rep.mainCpuUs - workTotalUs) / n,
        workInPlaceFactor: rep.workInPlaceUsPerCall / workMedianUsPerCall,
        processCpuUsPerDatagram: rep.processCpuUs / n,
        loopUsPerDatagram: rep.loopBusyUs / n,
        emptyIterationUs: rep.iterations > rep.busyIterations ? rep.loopIdleUs / (rep.iterations - rep.busyIterations) : Number.NaN,
        emptyIterationsUsPerDatagram: rep.loopIdleUs / n,
        threadsCpuMs: rep.threadsCpuUs.slice(0, 8).map((x) => round(x / 1000, 1)),
        ioCpuUsPerDatagram: ioCpuUs(rep.threads) / n,
        serverDatagrams: rep.datagrams,
        serverResets: rep.resets,
        iterations: rep.iterations,
        busyIterations: rep.busyIterations,
        ioThreads: rep.ioThreads,
        preRunLoadCores: quiet.load,
        quietWaitedMs: quiet.waitedMs,
        wallMs: performance.now() - t0,
      };
    };
    return await Promise.race([body(), hard]);
  } catch (err) {
    return failed(err instanceof Error ? err.message : String(err));
  } finally {
    clearTimeout(hardTimer);
    server.kill();
    (client as LoadProcess | null)?.kill();
  }
}

function summarize(runs: EchoRun[]): EchoSummary {
  const ok = runs.filter((r) => r.ok);
  const ratios = ok.map((r) => r.ratioToBaseline).filter((x): x is number => x !== undefined);
  const ratiosR = ok.map((r) => r.ratioToRealistic).filter((x): x is number => x !== undefined);
  const nIo = Math.max(0, ...ok.map((r) => r.ioThreads.length));
  const ioUtilization: number[] = [];
  const ioConnections: number[] = [];
  for (let i = 0; i < nIo; i++) {
    ioUtilization.push(round(spread(ok.map((r) => r.ioThreads[i]?.utilization ?? Number.NaN)).median, 2));
    ioConnections.push(spread(ok.map((r) => r.ioThreads[i]?.connections ?? Number.NaN)).median);
  }
  return {
    datagramsPerSec: spread(ok.map((r) => r.datagramsPerSec)),
    ratioToBaseline: ratios.length > 0 ? spread(ratios) : null,
    ratioToRealistic: ratiosR.length > 0 ? spread(ratiosR) : null,
    mainCpuUsPerDatagram: spread(ok.map((r) => r.mainCpuUsPerDatagram)),
    mainCpuUsPerDatagramExclWork: spread(ok.map((r) => r.mainCpuUsPerDatagramExclWork)),
    workInPlaceFactor: spread(ok.map((r) => r.workInPlaceFactor)),
    processCpuUsPerDatagram: spread(ok.map((r) => r.processCpuUsPerDatagram)),
    loopUsPerDatagram: spread(ok.map((r) => r.loopUsPerDatagram)),
    ioUtilization,
    ioConnections,
    otherLoadCores: spread(ok.map((r) => r.otherLoadCores)),
    mainRunDelayShare: spread(ok.map((r) => r.mainRunDelayShare)),
    clientCpuUsPerDatagram: spread(ok.map((r) => r.clientCpuUsPerDatagram)),
    okRuns: ok.length,
    failedRuns: runs.length - ok.length,
  };
}

const k = (x: number): string => (Number.isFinite(x) ? `${Math.round(x / 1000)}k` : '—');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');
const pct = (x: number): string => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '—');
const range = (s: Spread | null, fmt: (x: number) => string): string => (s === null || s.n === 0 ? '—' : s.n === 1 ? fmt(s.median) : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`);

/** The table's name of a configuration's server. */
function serverName(c: EchoConfig): string {
  return c.params.server === 'baseline' ? '`node:net` chunk echo' : c.params.server === 'realistic' ? '`node:net` realistic' : `pandanet t${c.params.threads} ${c.params.drain}`;
}

/** The Markdown table of a result. */
export function echoTable(r: EchoResult): string {
  const lines = [
    '| server | load | work µs/dg | datagrams/s median (min–max) | × node:net chunk echo, same round: median (min–max) | × node:net realistic, same round: median (min–max) | main-thread CPU µs/dg | main CPU beyond the work (its calibrated cost) µs/dg | the work’s median call, in place ÷ calibrated | process CPU µs/dg | load client CPU µs/dg | I/O thread utilisation | conns per I/O thread | server main thread waiting for a CPU | other load, cores | ok/runs |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of r.configs) {
    const s = c.summary;
    const isBase = c.params.server !== 'pandanet';
    const self = (mine: boolean, sp: Spread | null): string => (mine ? '1' : isBase ? '—' : range(sp, f2));
    lines.push(
      `| ${serverName(c)} | ${c.load} | ${c.params.workUs} | ${range(s.datagramsPerSec, k)} | ${self(c.params.server === 'baseline', s.ratioToBaseline)} | ${self(c.params.server === 'realistic', s.ratioToRealistic)} | ${range(s.mainCpuUsPerDatagram, f2)} | ${range(s.mainCpuUsPerDatagramExclWork, f2)} | ${c.params.workUs === 0 ? '—' : range(s.workInPlaceFactor, f2)} | ${range(s.processCpuUsPerDatagram, f2)} | ${range(s.clientCpuUsPerDatagram, f2)} | ${isBase ? '—' : s.ioUtilization.map(f2).join(' / ')} | ${isBase ? '—' : s.ioConnections.join(' / ')} | ${range(s.mainRunDelayShare, pct)} | ${range(s.otherLoadCores, f2)} | ${s.okRuns}/${s.okRuns + s.failedRuns} |`,
    );
  }
  return lines.join('\n');
}

/** The calibration line: what one call of the simulated work cost, per work level. */
export function calibrationLine(cal: readonly WorkCalibration[]): string {
  if (cal.length === 0) return 'work calibration: no work levels above 0 µs';
  return `work calibration (the servers' work function, this process, once): ${cal
    .map((c) => `requested ${c.requestedUs} µs → ${c.iterations.toLocaleString('en-US')} xorshift steps, ${c.wallUsPerCall.toFixed(3)} µs per call on an idle thread (median call ${c.medianWallUsPerCall.toFixed(3)}; process CPU ${f2(c.cpuUsPerCall)})`)
    .join('; ')}`;
}

function checkTargets(r: EchoResult): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const c of r.configs) {
    if (c.params.server !== 'pandanet' || c.params.threads === 0) continue;
    const s = c.summary;
    // Issue 6's targets, against the chunk echo.
    if (s.ratioToBaseline !== null) {
      if (c.params.workUs === 0) out.push({ config: c.id, target: 'issue 6: ≥ 0.9× node:net chunk echo (no work)', value: round(s.ratioToBaseline.median), pass: s.ratioToBaseline.median >= 0.9 });
      else out.push({ config: c.id, target: `issue 6: ≥ 1.3× node:net chunk echo (${c.params.workUs} µs work)`, value: round(s.ratioToBaseline.median), pass: s.ratioToBaseline.median >= 1.3 });
    }
    const cpu = c.params.workUs === 0 ? s.mainCpuUsPerDatagram : s.mainCpuUsPerDatagramExclWork;
    if (cpu.n > 0) out.push({ config: c.id, target: `issue 6: main thread ≤ 0.5 µs CPU/dg${c.params.workUs === 0 ? '' : ' (excl. work)'}`, value: round(cpu.median), pass: cpu.median <= 0.5 });
    // Issue 18's targets (meant for the cheap load): no work and 2 µs ≥ 1.2× realistic; 2 µs ≥ 1.0× chunk echo; main thread beyond the work ≤ 0.25 µs/dg.
    if (c.params.workUs === 0 || c.params.workUs === 2) {
      if (s.ratioToRealistic !== null) out.push({ config: c.id, target: `issue 18: ≥ 1.2× node:net realistic (${c.params.workUs === 0 ? 'no work' : '2 µs work'})`, value: round(s.ratioToRealistic.median), pass: s.ratioToRealistic.median >= 1.2 });
      if (c.params.workUs === 2 && s.ratioToBaseline !== null) out.push({ config: c.id, target: 'issue 18: ≥ 1.0× node:net chunk echo (2 µs work)', value: round(s.ratioToBaseline.median), pass: s.ratioToBaseline.median >= 1.0 });
    }
    if (c.params.workUs > 0 && s.mainCpuUsPerDatagramExclWork.n > 0) out.push({ config: c.id, target: `issue 18: main thread beyond the work ≤ 0.25 µs CPU/dg (${c.params.workUs} µs work)`, value: round(s.mainCpuUsPerDatagramExclWork.median), pass: s.mainCpuUsPerDatagramExclWork.median <= 0.25 });
  }
  return out;
}

/** Planned progress steps. */
export function echoSteps(options: Partial<EchoOptions> = {}): number {
  const o: EchoOptions = { ...ECHO_DEFAULTS, ...(options.quick === true ? ECHO_QUICK : {}), ...options };
  // Without building: auto counts as native (a fallback to node may make it one load fewer).
  return o.runs * configsFor(o, [...new Set(o.load.map((l): LoadKind => (l === 'node' ? 'node' : 'native')))]).length;
}

/** Throughput by thread count, one bar per work level. */
function throughputChart(r: EchoResult): string {
  const bases = (['baseline', 'realistic'] as const).filter((b) => r.configs.some((c) => c.params.server === b));
  const servers: string[] = [...bases, ...r.options.threads.map((t) => `t${t}`)];
  const drain = r.options.drains[0]!;
  const load = r.loads[0];
  const find = (srv: string, w: number): EchoResult['configs'][number] | undefined =>
    r.configs.find((c) => c.load === load && c.params.workUs === w && (srv === 'baseline' || srv === 'realistic' ? c.params.server === srv : c.params.server === 'pandanet' && `t${c.params.threads}` === srv && c.params.drain === drain));
  return barChartSvg({
    title: 'Echo throughput by pandanet thread count',
    subtitle: `${r.options.connections} connections × 64 B, ${r.options.inFlight} in flight; pandanet ${drain} loop; median of ${r.options.runs} runs; ${r.machine.cores} cores shared with the ${load} load client`,
    yLabel: 'datagrams/s',
    groups: servers.map((x) => (x === 'baseline' ? 'node:net chunk echo' : x === 'realistic' ? 'node:net realistic' : `pandanet ${x}`)),
    series: r.options.workUs.map((w) => ({
      name: w === 0 ? 'no work' : `${w} µs work/dg`,
      values: servers.map((x) => find(x, w)?.summary.datagramsPerSec.median ?? null),
      low: servers.map((x) => find(x, w)?.summary.datagramsPerSec.min ?? null),
      high: servers.map((x) => find(x, w)?.summary.datagramsPerSec.max ?? null),
    })),
  });
}

/** CPU of the threads labelled as pandanet I/O threads, µs; NaN when there are none (the baseline). */
function ioCpuUs(threads: ReadonlyArray<{ label: string; cpuUs: number }>): number {
  const io = threads.filter((t) => t.label.startsWith('io-'));
  return io.length === 0 ? Number.NaN : io.reduce((s, t) => s + t.cpuUs, 0);
}

/** `, I/O 3.1 dg/read 2.0 dg/write 40 dg/wake` over all I/O threads of a run, or '' without any. */
function ioBatching(io: readonly IoThreadReport[]): string {
  let reads = 0;
  let writes = 0;
  let sleeps = 0;
  let dgIn = 0;
  let dgOut = 0;
  for (const t of io) {
    reads += t.tcpReads;
    writes += t.tcpWrites;
    sleeps += t.outboundSleeps;
    dgIn += t.datagramsIn;
    dgOut += t.datagramsOut;
  }
  const wakes = sleeps > 0 ? ` ${f2(dgOut / sleeps)} dg/wake` : '';
  return reads > 0 && writes > 0 ? `, I/O ${f2(dgIn / reads)} dg/read ${f2(dgOut / writes)} dg/write${wakes}` : '';
}

/** Ratio to the same round's chunk-echo (`baseline`) or realistic run, by thread count and work. */
function ratioChart(r: EchoResult, against: 'baseline' | 'realistic'): string {
  const drain = r.options.drains[0]!;
  const pick = (s: EchoSummary): Spread | null => (against === 'baseline' ? s.ratioToBaseline : s.ratioToRealistic);
  const load = r.loads[0];
  return barChartSvg({
    title: `Echo throughput relative to node:net ${against === 'baseline' ? 'chunk echo' : 'realistic'} (same round, same work)`,
    subtitle: `pandanet ${drain}; ${load} load; median of ${r.options.runs} runs, whiskers min–max; ${against === 'baseline' ? 'issue 6 targets: ≥ 0.9× without work, ≥ 1.3× with 2 µs' : 'issue 18 target: ≥ 1.2× without work and with 2 µs'}`,
    yLabel: `× node:net ${against === 'baseline' ? 'chunk echo' : 'realistic'}`,
    groups: r.options.threads.map((t) => `t${t}`),
    series: r.options.workUs.map((w) => {
      const cs = r.options.threads.map((t) => {
        const c = r.configs.find((x) => x.load === load && x.params.server === 'pandanet' && x.params.threads === t && x.params.workUs === w && x.params.drain === drain);
        return c === undefined ? null : pick(c.summary);
      });
      return { name: w === 0 ? 'no work' : `${w} µs work/dg`, values: cs.map((x) => x?.median ?? null), low: cs.map((x) => x?.min ?? null), high: cs.map((x) => x?.max ?? null) };
    }),
    refLines:
      against === 'baseline'
        ? [
            { value: 0.9, label: '0.9× (no work)' },
            { value: 1.3, label: '1.3× (2 µs)' },
          ]
        : [{ value: 1.2, label: '1.2×' }],
    format: (v) => (Number.isFinite(v) ? v.toFixed(2) : ''),
  });
}

/** `pandanet loop idle=backoff` and the NetConfig settings the run changed, for the headers. */
function pandanetSettings(o: EchoOptions): string {
  const spin = o.ioSpinUs > 0 ? `; I/O threads spin ${o.ioSpinUs} µs (NetConfig.ioSpinUs)` : '';
  const hold = o.drainHoldUs !== null ? `; NetConfig.drainHoldUs ${o.drainHoldUs}` : '';
  return `pandanet loop idle=${o.idle}${spin}${hold}`;
}

/** Runs the echo workload; prints progress to stderr, the table to stdout; returns the result. */
export async function runEcho(options: Partial<EchoOptions>, progress: Progress): Promise<EchoResult> {
  const o: EchoOptions = { ...ECHO_DEFAULTS, ...(options.quick === true ? ECHO_QUICK : {}), ...options };
  const started = performance.now();
  const header = resultHeader('echo'); // now: the checkout may move while the workload runs
  const fingerprint = header.buildFingerprint;
  const git = header.git;
  quietSpentMs = 0;
  const date = header.date;
  // Builds the native client (once) when it is wanted; one choice per distinct load.
  const choices = new Map<LoadKind, LoadChoice>();
  for (const req of o.load) {
    const c = chooseLoad(req);
    if (!choices.has(c.load)) choices.set(c.load, c);
  }
  const loads = [...choices.keys()];
  const loadNotes = [...choices.values()].map((c) => c.note);
  const loadDesc = loads.map((l) => (l === 'native' ? 'native C client (separate process, one thread, epoll)' : `Node client (separate process, ${o.clientThreads} piscina threads)`)).join(', then ');
  for (const n of loadNotes) console.log(n);
  const configs = configsFor(o, loads);
  const runsOf = new Map<string, EchoRun[]>(configs.map((c) => [c.id, []]));
  // One step count per work level, calibrated here once: every server runs the same computation.
  const iterations = new Map(o.workUs.map((w) => [w, workIterations(w)]));
  for (const c of configs) c.params.workIterations = iterations.get(c.params.workUs) ?? 0;
  const workCalibration = o.workUs.filter((w) => w > 0).map((w) => calibrateWork(w, iterations.get(w) ?? 0, Math.max(1000, Math.round(100_000 / w))));
  console.log(calibrationLine(workCalibration));
  /** µs one call of the work costs its thread (calibrated on an idle thread: {@link WorkCalibration.wallUsPerCall}). */
  const workUs = (us: number): number => workCalibration.find((w) => w.requestedUs === us)?.wallUsPerCall ?? us;
  console.log(
    `echo: ${o.connections} connections × ${o.perConnection} datagrams of ${o.payloadBytes} B (header 2), ${o.inFlight} in flight each, after an unmeasured warm-up of ${o.warmupPerConnection} per connection; load: ${loadDesc}; baselines: node:net ${o.baselines.map((b) => (b === 'chunk' ? 'chunk echo' : 'realistic')).join(' and ')}; ${o.runs} rounds × ${configs.length} configs; ${pandanetSettings(o)}; ${o.timeoutMs / 1000} s hard timeout per run; before each run, up to ${o.quietWaitMs / 1000} s wait for other load < ${o.quietCores} cores (${o.quietBudgetMs / 1000} s in all)`,
  );

  for (let roundNo = 1; roundNo <= o.runs; roundNo++) {
    // Rotate the order each round so drift (thermal, neighbours) doesn't always hit the same config.
    const shift = (roundNo - 1) % configs.length;
    const order = [...configs.slice(shift), ...configs.slice(0, shift)];
    const thisRound = new Map<string, EchoRun>();
    for (const cfg of order) {
      progress.setNote(`echo ${cfg.id} round ${roundNo}`);
      const run = await runOnce(cfg, o, roundNo, choices.get(cfg.load)!, workUs(cfg.params.workUs), workCalibration.find((w) => w.requestedUs === cfg.params.workUs)?.medianWallUsPerCall ?? Number.NaN);
      progress.step();
      thisRound.set(cfg.id, run);
      runsOf.get(cfg.id)!.push(run);
      const status = run.ok
        ? `${Math.round(run.datagramsPerSec).toLocaleString('en-US')} dg/s in ${Math.round(run.elapsedMs)} ms (half the conns done at ${Math.round(run.medianConnectionDoneMs)}), server main ${f2(run.mainCpuUsPerDatagram)} (waited for CPU ${Math.round(run.mainRunDelayShare * 100)}% of the run) / process ${f2(run.processCpuUsPerDatagram)} / ${run.load} load client ${f2(run.clientCpuUsPerDatagram)} µs/dg${ioBatching(run.ioThreads)}${Number.isFinite(run.ioCpuUsPerDatagram) ? `, I/O threads ${f2(run.ioCpuUsPerDatagram)} µs/dg` : ''}, other load ${f2(run.otherLoadCores)} cores${run.quietWaitedMs > 1000 ? ` (waited ${(run.quietWaitedMs / 1000).toFixed(0)} s for quiet, load then ${f2(run.preRunLoadCores)})` : ''}`
        : `FAILED: ${run.error}`;
      progress.log(`echo r${roundNo} ${cfg.id.padEnd(30)} ${status} (${(run.wallMs / 1000).toFixed(1)} s)`);
    }
    for (const cfg of configs) {
      if (cfg.params.server !== 'pandanet') continue;
      const run = thisRound.get(cfg.id)!;
      const sameRound = (kind: 'baseline' | 'realistic'): EchoRun | undefined => {
        const b = configs.find((c) => c.params.server === kind && c.params.workUs === cfg.params.workUs && c.load === cfg.load);
        return b === undefined ? undefined : thisRound.get(b.id);
      };
      const chunk = sameRound('baseline');
      const real = sameRound('realistic');
      if (run.ok && chunk?.ok === true) run.ratioToBaseline = run.datagramsPerSec / chunk.datagramsPerSec;
      if (run.ok && real?.ok === true) run.ratioToRealistic = run.datagramsPerSec / real.datagramsPerSec;
    }
  }

  const result: EchoResult = {
    workload: 'echo',
    date,
    git,
    buildFingerprint: fingerprint,
    machine: header.machine,
    options: o,
    loads,
    loadNotes,
    workCalibration,
    configs: configs.map((c) => {
      const runs = runsOf.get(c.id)!;
      return { ...c, runs, summary: summarize(runs) };
    }),
    targets: [],
    totalWallMs: 0,
    quietWaitedTotalMs: Math.round(quietSpentMs),
  };
  result.targets = checkTargets(result);
  result.totalWallMs = Math.round(performance.now() - started);

  console.log('');
  for (const n of loadNotes) console.log(n);
  console.log(calibrationLine(workCalibration));
  console.log('');
  console.log(echoTable(result));
  console.log('');
  console.log('Targets (issue 6 against the chunk echo; issue 18 against both, meant for the native load), threaded configs:');
  for (const t of result.targets) console.log(`- ${t.pass ? 'MET' : 'MISSED'} ${t.config}: ${t.target}: ${t.value}`);
  const failures = result.configs.flatMap((c) => c.runs.filter((r) => !r.ok).map((r) => `- ${c.id} round ${r.round}: ${r.error}`));
  if (failures.length > 0) {
    console.log('');
    console.log('Failed runs (left out of the medians):');
    for (const f of failures) console.log(f);
  }
  if (o.save) {
    if (o.outPath !== undefined) {
      writeFileSync(resolve(o.outPath), `${JSON.stringify(result, null, 2)}\n`);
      console.log(`\nJSON: ${resolve(o.outPath)}`);
    } else {
      const base = resultBase('echo', date, o.quick);
      const md = `${markdownHeader('Echo throughput', header, [`${o.connections} connections × ${o.perConnection} datagrams of ${o.payloadBytes} B, ${o.inFlight} in flight, after an unmeasured warm-up pass of ${o.warmupPerConnection} per connection; ${o.runs} rounds; load: ${loadDesc}; ${pandanetSettings(o)}`, ...loadNotes, `Baselines: node:net chunk echo (echoes each read chunk as it lies: the physical best for an echo) and node:net realistic (parses, copies and replies per datagram, one write per read chunk); each ratio column is pandanet over that baseline in the same round with the same work.`, calibrationLine(workCalibration)])}\n${echoTable(result)}\n\nTargets (threaded configs):\n\n${result.targets.map((t) => `- ${t.pass ? 'MET' : 'MISSED'} ${t.config}: ${t.target}: ${t.value}`).join('\n')}\n`;
      const charts: Record<string, string> = { throughput: throughputChart(result) };
      if (configs.some((c) => c.params.server === 'baseline')) charts['ratio'] = ratioChart(result, 'baseline');
      if (configs.some((c) => c.params.server === 'realistic')) charts['ratio-realistic'] = ratioChart(result, 'realistic');
      console.log(`\nfiles: ${saveResult(base, result, md, charts).join(', ')}`);
    }
  }
  console.log(`echo workload took ${(result.totalWallMs / 1000).toFixed(0)} s (${(result.quietWaitedTotalMs / 1000).toFixed(0)} s of it waiting for other load to drop)`);
  return result;
}
