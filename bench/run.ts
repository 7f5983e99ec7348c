/**
 * Benchmark dispatcher: `node build/bench/run.js [workload…] [options]` (what `npm run bench` runs
 * after compiling with `tsconfig.bench.json`). With no workload named, runs the whole suite in order.
 *
 * Workloads (each beside its `node:net` / `node:dgram` baseline in the same run, load generators in
 * separate processes, every run bounded and self-stopping):
 * - `echo`      echo throughput, pandanet 0/1/2/4 threads, 0/2/10 µs of work, against node:net chunk
 *               echo and node:net realistic; load from the native C client when a compiler is
 *               there, else the Node client (bench/e2e/echo.ts);
 * - `latency`   fixed-rate round trips at 25/50/90 % of each server's max, no coordinated omission;
 * - `broadcast` 60 Hz game tick to 1,000 clients with 20 Hz input, delivery delay and drops
 *               (`--transport ws`: WebSocket clients, against a plain `ws` server);
 * - `scale`     10,000 idle connections: memory per connection, idle CPU;
 * - `budget`    main-thread CPU per datagram and I/O thread utilisation, per mode;
 * - `udp`       UDP echo with Panda's checksum, pandanet polled/threaded vs node:dgram;
 * - `md`        one message-director node, participant → participant datagrams/s and latency at
 *               50 % of each router's max: pandanet's MessageDirector t0/t1/t2 vs a plain `node:net`
 *               router (per read chunk and per loop turn writes), and Astron's quoted figure
 *               (bench/e2e/md.ts; about 2.5 minutes);
 * - `md-mesh`   two message-director nodes over a nats-server the bench starts: cross-node
 *               datagrams/s and p50/p99 at 50 % vs raw NATS pub/sub, Astron tree quoted; post-removes
 *               after kill -9 (bench/e2e/md-mesh.ts; about 1.5 minutes; only when named);
 * - `accept`    accept rate (connect + one datagram + close, 2,000 clients) and spread over 2 I/O
 *               threads, fd hand-off vs `reusePort`, on Node 26 from the cache (bench/e2e/accept.ts;
 *               only when named; `--node N` picks another major);
 * - `echo-nodes` the echo workload (t1, t2, no work) under the machine's Node and `--nodes 26`, one
 *               round each in turn (bench/e2e/accept.ts; only when named);
 * - `micro`     in-memory micro benchmarks (bench/micro; only when named).
 *
 * Prints the machine first; a progress bar per workload on stderr; results (JSON, Markdown, SVG) in
 * bench/results/. `--quick` shrinks every workload to a smoke test (the whole suite in under a
 * minute). Exit code 1 if a workload failed outright or any run failed.
 *
 * Thread: main thread.
 * @module
 */
import { intFlag, listFlag, parseArgs, type ParsedArgs } from './lib/args.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { runMicro } from './lib/micro.js';
import { Progress } from './lib/progress.js';
import { echoSteps, runEcho, type EchoOptions } from './e2e/echo.js';
import { LATENCY_DEFAULTS, LATENCY_QUICK, latencySteps, runLatency, type LatencyOptions } from './e2e/latency.js';
import { BROADCAST_DEFAULTS, BROADCAST_QUICK, broadcastSteps, runBroadcast, type BroadcastOptions } from './e2e/broadcast.js';
import { SCALE_DEFAULTS, SCALE_QUICK, runScale, scaleSteps, type ScaleOptions } from './e2e/scale.js';
import { BUDGET_DEFAULTS, BUDGET_QUICK, budgetSteps, runBudget, type BudgetOptions } from './e2e/budget.js';
import { UDP_DEFAULTS, UDP_QUICK, runUdp, udpSteps, type UdpOptions } from './e2e/udp.js';
import { MD_DEFAULTS, MD_QUICK, mdSteps, runMd, type MdOptions } from './e2e/md.js';
import { MD_MESH_DEFAULTS, MD_MESH_QUICK, mdMeshSteps, runMdMesh, type MdMeshOptions } from './e2e/md-mesh.js';
import type { DrainMode, IdleMode } from './e2e/protocol.js';
import type { BaselineKind } from './e2e/echo.js';
import type { LoadRequest } from './lib/native-load.js';
import { acceptSteps, echoNodesSteps, runAccept, runEchoNodes, type AcceptOptions, type EchoNodesOptions } from './e2e/accept.js';
import { runWsEcho, type WsEchoOptions } from './e2e/ws-echo.js';

interface Workload {
  describe: string;
  /** Part of the suite run when no workload is named. */
  inSuite: boolean;
  run(args: ParsedArgs): Promise<boolean>;
}

const VALUED = new Set([
  'runs', 'connections', 'per-connection', 'warmup', 'in-flight', 'client-threads', 'threads', 'work', 'drain', 'idle', 'timeout-s', 'micro-timeout-s', 'only', 'profile', 'quiet-wait-s', 'out', 'io-spin-us', 'drain-hold-us',
  'loads', 'measure-ms', 'duration-s', 'idle-s', 'rate', 'participants', 'kill-reps', 'nats-batches', 'tick-us',
  'node', 'nodes', 'concurrency', 'load', 'baselines', 'transport',
]);
const KNOWN = new Set([...VALUED, 'quick', 'no-save', 'help', 'no-tick-baseline', 'no-loopback']);

type Flags = ParsedArgs['flags'];

function threadsFlag(f: Flags): number[] | undefined {
  const threads = listFlag(f, 'threads')?.map(Number);
  if (threads !== undefined && threads.some((t) => !Number.isInteger(t) || t < 0 || t > 64)) throw new Error('--threads needs integers 0..64');
  return threads;
}

/** Flags every workload understands: --runs, --threads, --quick, --no-save, --quiet-wait-s, --timeout-s. */
function common(f: Flags): { runs?: number; threads?: number[]; quick?: boolean; save?: boolean; quietWaitMs?: number; timeoutMs?: number } {
  const o: { runs?: number; threads?: number[]; quick?: boolean; save?: boolean; quietWaitMs?: number; timeoutMs?: number } = {};
  if (f.has('quick')) o.quick = true;
  if (f.has('no-save')) o.save = false;
  const runs = intFlag(f, 'runs');
  if (runs !== undefined) o.runs = runs;
  const threads = threadsFlag(f);
  if (threads !== undefined) o.threads = threads;
  const quiet = intFlag(f, 'quiet-wait-s', 0);
  if (quiet !== undefined) o.quietWaitMs = quiet * 1000;
  const timeout = intFlag(f, 'timeout-s');
  if (timeout !== undefined) o.timeoutMs = timeout * 1000;
  return o;
}

function echoOptions(f: Flags): Partial<EchoOptions> {
  const o: Partial<EchoOptions> = { ...common(f) };
  const set = <K extends keyof EchoOptions>(key: K, v: EchoOptions[K] | undefined): void => {
    if (v !== undefined) o[key] = v;
  };
  set('connections', intFlag(f, 'connections'));
  set('perConnection', intFlag(f, 'per-connection'));
  set('warmupPerConnection', intFlag(f, 'warmup', 0));
  set('inFlight', intFlag(f, 'in-flight'));
  set('clientThreads', intFlag(f, 'client-threads'));
  const work = listFlag(f, 'work')?.map(Number);
  if (work !== undefined && work.some((w) => !Number.isFinite(w) || w < 0)) throw new Error('--work needs numbers ≥ 0 (µs)');
  set('workUs', work);
  const drains = listFlag(f, 'drain');
  if (drains !== undefined && drains.some((d) => d !== 'getData' && d !== 'getDataReuse' && d !== 'getDataCork' && d !== 'drainData')) throw new Error('--drain takes drainData, getData, getDataReuse and/or getDataCork');
  set('drains', drains as DrainMode[] | undefined);
  const idle = f.get('idle');
  if (idle !== undefined && idle !== 'spin' && idle !== 'backoff' && idle !== 'wait') throw new Error('--idle takes spin, backoff or wait');
  set('idle', idle as IdleMode | undefined);
  set('ioSpinUs', intFlag(f, 'io-spin-us', 0));
  set('drainHoldUs', intFlag(f, 'drain-hold-us', 0));
  const out = f.get('out');
  if (out !== undefined) {
    if (out === true) throw new Error('--out needs a file path');
    o.outPath = out;
  }
  const prof = f.get('profile');
  if (prof !== undefined) {
    if (prof === true) throw new Error('--profile needs a folder');
    o.profileDir = prof;
  }
  const load = listFlag(f, 'load');
  if (load !== undefined && load.some((l) => l !== 'native' && l !== 'node' && l !== 'auto')) throw new Error('--load takes native, node and/or auto (e.g. native,node: each config under both, same rounds)');
  set('load', load as EchoOptions['load'] | undefined);
  const baselines = listFlag(f, 'baselines');
  if (baselines !== undefined && (baselines.length === 0 || baselines.some((b) => b !== 'chunk' && b !== 'realistic'))) throw new Error('--baselines takes chunk and/or realistic');
  set('baselines', baselines as BaselineKind[] | undefined);
  return o;
}

function latencyOptions(f: Flags): Partial<LatencyOptions> {
  const o: Partial<LatencyOptions> = { ...common(f) };
  const loads = listFlag(f, 'loads')?.map(Number);
  if (loads !== undefined && loads.some((l) => !(l > 0 && l <= 1.5))) throw new Error('--loads takes fractions of the max, e.g. 0.25,0.5,0.9');
  if (loads !== undefined) o.loads = loads;
  const c = intFlag(f, 'connections');
  if (c !== undefined) o.connections = c;
  const m = intFlag(f, 'measure-ms');
  if (m !== undefined) o.measureMs = m;
  const idle = f.get('idle');
  if (idle !== undefined && idle !== 'backoff' && idle !== 'wait') throw new Error('--idle takes backoff or wait for latency');
  if (idle !== undefined) o.idle = idle as 'backoff' | 'wait';
  const load = singleLoad(f);
  if (load !== undefined) o.load = load;
  const hold = intFlag(f, 'drain-hold-us', 0);
  if (hold !== undefined) o.drainHoldUs = hold;
  return o;
}

/** `--load native|node|auto` for the fixed-rate workloads (latency, budget): one load. */
function singleLoad(f: Flags): LoadRequest | undefined {
  const load = f.get('load');
  if (load !== undefined && load !== 'native' && load !== 'node' && load !== 'auto') throw new Error('--load takes native, node or auto here');
  return load;
}

function broadcastOptions(f: Flags): Partial<BroadcastOptions> {
  const o: Partial<BroadcastOptions> = { ...common(f) };
  const c = intFlag(f, 'connections');
  if (c !== undefined) o.connections = c;
  const d = intFlag(f, 'duration-s');
  if (d !== undefined) o.durationMs = d * 1000;
  const t = f.get('transport');
  if (t !== undefined) {
    if (t !== 'tcp' && t !== 'ws') throw new Error(`--transport takes tcp or ws, got ${String(t)}`);
    o.transport = t;
  }
  return o;
}

function scaleOptions(f: Flags): Partial<ScaleOptions> {
  const o: Partial<ScaleOptions> = { ...common(f) };
  const c = intFlag(f, 'connections');
  if (c !== undefined) o.connections = c;
  const i = intFlag(f, 'idle-s');
  if (i !== undefined) o.idleMs = i * 1000;
  return o;
}

function budgetOptions(f: Flags): Partial<BudgetOptions> {
  const o: Partial<BudgetOptions> = { ...common(f) };
  const r = intFlag(f, 'rate');
  if (r !== undefined) o.ratePerSec = r;
  const m = intFlag(f, 'measure-ms');
  if (m !== undefined) o.measureMs = m;
  const load = singleLoad(f);
  if (load !== undefined) o.load = load;
  return o;
}

function udpOptions(f: Flags): Partial<UdpOptions> {
  const o: Partial<UdpOptions> = { ...common(f) };
  const m = intFlag(f, 'measure-ms');
  if (m !== undefined) o.measureMs = m;
  return o;
}

function mdOptions(f: Flags): Partial<MdOptions> {
  const o: Partial<MdOptions> = { ...common(f) };
  const loads = listFlag(f, 'loads')?.map(Number);
  if (loads !== undefined && loads.some((l) => !(l > 0 && l <= 1.5))) throw new Error('--loads takes fractions of the max, e.g. 0.5');
  if (loads !== undefined) o.loads = loads;
  const n = intFlag(f, 'participants');
  if (n !== undefined) o.participants = n;
  const w = intFlag(f, 'in-flight');
  if (w !== undefined) o.inFlight = w;
  const c = intFlag(f, 'client-threads');
  if (c !== undefined) o.clientThreads = c;
  const m = intFlag(f, 'measure-ms');
  if (m !== undefined) {
    o.measureMs = m;
    o.maxMeasureMs = m;
  }
  if (f.has('no-tick-baseline')) o.tickBaseline = false;
  const t = intFlag(f, 'tick-us');
  if (t !== undefined) o.tickUs = t;
  return o;
}

/** Runs `fn` under a progress bar of `steps` steps. */
async function withProgress<T>(label: string, steps: number, fn: (p: Progress) => Promise<T>): Promise<T> {
  const p = new Progress(label, steps);
  try {
    return await fn(p);
  } finally {
    p.finish();
  }
}

const WORKLOADS: Record<string, Workload> = {
  echo: {
    describe: 'echo throughput: node:net (chunk echo, realistic) vs pandanet t0/t1/t2/t4, 0/2/10 µs of work per datagram; native C load when a compiler is there',
    inSuite: true,
    async run(args) {
      const o = echoOptions(args.flags);
      const r = await withProgress('echo', echoSteps(o), (p) => runEcho(o, p));
      return r.configs.every((c) => c.summary.failedRuns === 0);
    },
  },
  latency: {
    describe: 'fixed-rate round trips at 25/50/90 % of each server\'s max (no coordinated omission): p50/p99/p99.9',
    inSuite: true,
    async run(args) {
      const o = latencyOptions(args.flags);
      const full = { ...LATENCY_DEFAULTS, ...(o.quick === true ? LATENCY_QUICK : {}), ...o };
      const r = await withProgress('latency', latencySteps(full), (p) => runLatency(o, p));
      return r.summary.every((s) => s.failedRuns === 0);
    },
  },
  broadcast: {
    describe: 'game tick: 1,000 clients, 100 B state at 60 Hz out (60k dg/s), 20 Hz input in; delivery, drops, delay',
    inSuite: true,
    async run(args) {
      const o = broadcastOptions(args.flags);
      const full = { ...BROADCAST_DEFAULTS, ...(o.quick === true ? BROADCAST_QUICK : {}), ...o };
      const r = await withProgress('broadcast', broadcastSteps(full), (p) => runBroadcast(o, p));
      return r.summary.every((s) => s.failedRuns === 0);
    },
  },
  scale: {
    describe: '10,000 idle TCP connections: JS memory (all isolates) and RSS per connection, idle CPU',
    inSuite: true,
    async run(args) {
      const o = scaleOptions(args.flags);
      const full = { ...SCALE_DEFAULTS, ...(o.quick === true ? SCALE_QUICK : {}), ...o };
      const r = await withProgress('scale', scaleSteps(full), (p) => runScale(o, p));
      return r.summary.every((s) => s.failedRuns === 0);
    },
  },
  budget: {
    describe: 'main-thread CPU per datagram and I/O thread utilisation per mode (saturated and at a fixed rate)',
    inSuite: true,
    async run(args) {
      const o = budgetOptions(args.flags);
      const full = { ...BUDGET_DEFAULTS, ...(o.quick === true ? BUDGET_QUICK : {}), ...o };
      const r = await withProgress('budget', budgetSteps(full), (p) => runBudget(o, p));
      return r.summary.every((s) => s.failedRuns === 0);
    },
  },
  udp: {
    describe: 'UDP echo with Panda checksum framing: pandanet polled/threaded vs node:dgram',
    inSuite: true,
    async run(args) {
      const o = udpOptions(args.flags);
      const full = { ...UDP_DEFAULTS, ...(o.quick === true ? UDP_QUICK : {}), ...o };
      const r = await withProgress('udp', udpSteps(full), (p) => runUdp(o, p));
      return r.summary.every((s) => s.failedRuns === 0);
    },
  },
  md: {
    describe: 'message director, one node: participant → participant dg/s and p50/p99 at 50 % load, pandanet MD vs node:net router (Astron quoted)',
    inSuite: true,
    async run(args) {
      const o = mdOptions(args.flags);
      const full = { ...MD_DEFAULTS, ...(o.quick === true ? MD_QUICK : {}), ...o };
      const r = await withProgress('md', mdSteps(full), (p) => runMd(o, p));
      return r.summary.every((s) => s.failedRuns === 0);
    },
  },
  'md-mesh': {
    describe: 'message directors, two nodes over a nats-server: cross-node dg/s and p50/p99 at 50 % load vs raw NATS pub/sub (Astron tree quoted); post-removes after kill -9',
    inSuite: false,
    async run(args) {
      const base = mdOptions(args.flags);
      delete base.tickBaseline;
      const o: Partial<MdMeshOptions> = { ...base };
      const kr = intFlag(args.flags, 'kill-reps', 0);
      if (kr !== undefined) o.killReps = kr;
      const nb = listFlag(args.flags, 'nats-batches')?.map(Number);
      if (nb !== undefined) o.natsBatches = nb;
      if (args.flags.has('no-loopback')) o.loopback = false;
      const full = { ...MD_MESH_DEFAULTS, ...(o.quick === true ? MD_MESH_QUICK : {}), ...o };
      const r = await withProgress('md-mesh', mdMeshSteps(full), (p) => runMdMesh(o, p));
      return r.summary.every((s) => s.failedRuns === 0) && r.kill.every((s) => s.errors.length === 0);
    },
  },
  accept: {
    describe: 'accept rate (connect + 1 datagram + close, 2,000 clients) and spread over 2 I/O threads: fd hand-off vs reusePort, Node 26',
    inSuite: false,
    async run(args) {
      const f = args.flags;
      const o: Partial<AcceptOptions> = {};
      const c = common(f);
      if (c.runs !== undefined) o.runs = c.runs;
      if (c.quick !== undefined) o.quick = c.quick;
      if (c.save !== undefined) o.save = c.save;
      if (c.timeoutMs !== undefined) o.timeoutMs = c.timeoutMs;
      if (c.threads !== undefined) o.threads = c.threads[0]!;
      const n = intFlag(f, 'connections');
      if (n !== undefined) o.connections = n;
      const k = intFlag(f, 'concurrency');
      if (k !== undefined) o.concurrency = k;
      const node = f.get('node');
      if (typeof node === 'string') o.node = node;
      const r = await withProgress('accept', acceptSteps(o), (p) => runAccept(o, p));
      return r.summary.every((s) => s.failedRuns === 0);
    },
  },
  'echo-nodes': {
    describe: 'echo (t1, t2, no work) under the machine\'s Node and --nodes 26 (from the cache), alternating, one invocation',
    inSuite: false,
    async run(args) {
      const f = args.flags;
      const o: Partial<EchoNodesOptions> = {};
      const c = common(f);
      if (c.runs !== undefined) o.runs = c.runs;
      if (c.quick !== undefined) o.quick = c.quick;
      if (c.save !== undefined) o.save = c.save;
      if (c.threads !== undefined) o.threads = c.threads;
      const nodes = listFlag(f, 'nodes');
      if (nodes !== undefined) o.nodes = nodes;
      const r = await withProgress('echo-nodes', echoNodesSteps(o), (p) => runEchoNodes(o, p));
      return r.failed === 0;
    },
  },
  'ws-echo': {
    describe: 'WebSocket echo: 100 ws clients × 64 B, 32 in flight, pandanet t1/t2 (drainData) vs a plain ws server, 0 and 2 µs of work',
    inSuite: false,
    async run(args) {
      const f = args.flags;
      const { quietWaitMs: _unused, threads, ...c } = common(f);
      const o: Partial<WsEchoOptions> = { ...c };
      if (threads !== undefined) o.threads = threads.filter((t) => t > 0);
      for (const [flag, key] of [['connections', 'connections'], ['per-connection', 'perConnection'], ['in-flight', 'inFlight']] as const) {
        const v = intFlag(f, flag);
        if (v !== undefined) o[key] = v;
      }
      const work = listFlag(f, 'work')?.map(Number);
      if (work !== undefined && work.some((w) => !Number.isFinite(w) || w < 0)) throw new Error('--work needs numbers ≥ 0 (µs)');
      if (work !== undefined) o.workUs = work;
      const r = await runWsEcho(o);
      return r.summary.every((s) => s.failedRuns === 0);
    },
  },
  micro: {
    describe: 'in-memory micro benchmarks from build/bench/micro/*.js (only when named)',
    inSuite: false,
    async run(args) {
      const runs = intFlag(args.flags, 'runs');
      const only = listFlag(args.flags, 'only');
      const out = await runMicro({
        ...(runs !== undefined ? { runs } : {}),
        ...(only !== undefined ? { only } : {}),
        quick: args.flags.has('quick'),
        timeoutMs: (intFlag(args.flags, 'micro-timeout-s') ?? 300) * 1000,
      });
      return out.every((x) => x.ok);
    },
  },
};

function usage(): string {
  return [
    'usage: node build/bench/run.js [workload…] [options]   (npm run bench -- [workload…] [options])',
    '',
    `workloads (with none named, the suite runs: ${Object.keys(WORKLOADS).filter((n) => WORKLOADS[n]!.inSuite).join(', ')}):`,
    ...Object.entries(WORKLOADS).map(([name, w]) => `  ${name.padEnd(9)} ${w.describe}`),
    '  (by hand: node build/bench/e2e/md-flood.js [--threads 0,1,2] [--pings N] [--flood N], a flood beside a routing pair)',
    '',
    'options for every workload:',
    '  --quick            smoke test: the whole suite in under a minute (windows too short for careful figures)',
    '  --runs N           rounds (each configuration once per round, rotating order)',
    '  --threads 0,1,2    pandanet thread counts',
    '  --no-save          no files in bench/results',
    '  --quiet-wait-s S   before each run, wait up to S s for other load < 0.25 cores (0: off)',
    '  --timeout-s S      hard limit per run',
    '  echo:      --connections N --per-connection N --warmup N (0: none) --in-flight N --client-threads N (Node load) --work 0,2,10',
    '             --drain drainData,getData[,getDataReuse,getDataCork] --idle backoff|spin|wait --io-spin-us N --drain-hold-us N --out FILE --profile DIR',
    '             --load native|node|auto (auto, the default: the C epoll client, built with cc at bench time, else the Node client, said so;',
    '             native,node: every config under both loads in the same rounds)',
    '             --baselines chunk,realistic (node:net chunk echo; node:net parsing, copying and replying per datagram)',
    '  latency:   --loads 0.25,0.5,0.9 --connections N --measure-ms MS --idle backoff|wait --drain-hold-us N --load native|node|auto (fixed-rate client)',
    '  broadcast: --connections N --duration-s S --transport tcp|ws (ws: WebSocket clients, baseline a plain ws server)',
    '  scale:     --connections N --idle-s S',
    '  budget:    --rate N (datagrams/s of the fixed phase) --measure-ms MS --load native|node|auto (fixed-rate client)',
    '  udp:       --measure-ms MS',
    '  md:        --participants N --in-flight N --client-threads N --loads 0.5 --measure-ms MS --no-tick-baseline --tick-us US (open-loop ticker; md 1000, md-mesh 250)',
    '  md-mesh:   the md flags (--threads: each node\'s I/O threads), --nats-batches 1,32 --kill-reps N --no-loopback (ASTROND=/path/astrond adds a two-node Astron tree)',
    '  accept:    --node 26 (a Node major from the cache, or system) --connections N --concurrency N --threads N',
    '  echo-nodes: --nodes 24,26 --threads 1,2',
    '  ws-echo:   --connections N --per-connection N --in-flight N --work 0,2 --threads 1,2',
    '  micro:     --micro-timeout-s 300 --only datagram,ring,runtime-calls',
    '',
    'Results: bench/results/<workload>-<date>.{json,md} and <workload>-<date>-<chart>.svg',
  ].join('\n');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), VALUED);
  if (args.flags.has('help')) {
    console.log(usage());
    return 0;
  }
  for (const key of args.flags.keys()) if (!KNOWN.has(key)) throw new Error(`unknown option --${key}\n${usage()}`);
  for (const n of args.names) if (!(n in WORKLOADS)) throw new Error(`unknown workload "${n}"\n${usage()}`);
  const names = args.names.length > 0 ? args.names : Object.keys(WORKLOADS).filter((n) => WORKLOADS[n]!.inSuite);

  const t0 = performance.now();
  console.log(`# pandanet benchmarks: ${names.join(', ')}${args.flags.has('quick') ? ' (--quick)' : ''}`);
  console.log('');
  console.log(`Machine: ${describeMachine(machineInfo())}`);
  console.log('');
  let ok = true;
  const outcome: string[] = [];
  for (const name of names) {
    console.log(`## ${name}`);
    console.log('');
    const w0 = performance.now();
    try {
      const good = await WORKLOADS[name]!.run(args);
      if (!good) ok = false;
      outcome.push(`${name}: ${good ? 'ok' : 'some runs failed'} (${Math.round((performance.now() - w0) / 1000)} s)`);
    } catch (err) {
      ok = false;
      outcome.push(`${name}: FAILED (${err instanceof Error ? err.message : String(err)})`);
      console.error(`workload ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    console.log('');
  }
  console.log(`Suite: ${outcome.join('; ')}; ${Math.round((performance.now() - t0) / 1000)} s in all`);
  return ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 2;
  },
);
