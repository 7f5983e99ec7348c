/**
 * Benchmark dispatcher: `node build/bench/run.js [workload…] [options]` (what `npm run bench` runs
 * after compiling with `tsconfig.bench.json`). With no workload named, runs them all in order.
 *
 * Workloads:
 * - `echo`  end-to-end echo over loopback, load from another process, baseline in the same run
 *           (bench/e2e/echo.ts);
 * - `micro` the in-memory micro benchmarks compiled into build/bench/micro (bench/lib/micro.ts).
 *
 * Options: `--runs N`, `--quick`, and for echo `--connections N`, `--per-connection N`,
 * `--in-flight N`, `--client-threads N`, `--threads 0,1,2`, `--work 0,2`,
 * `--drain drainData,getData`, `--idle backoff|spin`, `--timeout-s S`, `--quiet-wait-s S`, `--no-save`, `--out FILE`, `--profile DIR`;
 * for micro `--micro-timeout-s S`, `--only ring,datagram`. `--help` lists them.
 *
 * Prints the machine first. Exit code 1 if a workload failed outright or any run failed.
 *
 * Thread: main thread.
 * @module
 */
import { intFlag, listFlag, parseArgs, type ParsedArgs } from './lib/args.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { runMicro } from './lib/micro.js';
import { runEcho, type EchoOptions } from './e2e/echo.js';
import type { DrainMode, IdleMode } from './e2e/protocol.js';

interface Workload {
  describe: string;
  run(args: ParsedArgs): Promise<boolean>;
}

const VALUED = new Set(['runs', 'connections', 'per-connection', 'in-flight', 'client-threads', 'threads', 'work', 'drain', 'idle', 'timeout-s', 'micro-timeout-s', 'only', 'profile', 'quiet-wait-s', 'out']);
const KNOWN = new Set([...VALUED, 'quick', 'no-save', 'help']);

function echoOptions(f: ParsedArgs['flags']): Partial<EchoOptions> {
  const o: Partial<EchoOptions> = {};
  if (f.has('quick')) o.quick = true;
  const set = <K extends keyof EchoOptions>(key: K, v: EchoOptions[K] | undefined): void => {
    if (v !== undefined) o[key] = v;
  };
  set('runs', intFlag(f, 'runs'));
  set('connections', intFlag(f, 'connections'));
  set('perConnection', intFlag(f, 'per-connection'));
  set('inFlight', intFlag(f, 'in-flight'));
  set('clientThreads', intFlag(f, 'client-threads'));
  const quiet = intFlag(f, 'quiet-wait-s', 0);
  if (quiet !== undefined) o.quietWaitMs = quiet * 1000;
  const timeout = intFlag(f, 'timeout-s');
  if (timeout !== undefined) o.timeoutMs = timeout * 1000;
  const threads = listFlag(f, 'threads')?.map(Number);
  if (threads !== undefined && threads.some((t) => !Number.isInteger(t) || t < 0)) throw new Error('--threads needs integers ≥ 0');
  set('threads', threads);
  const work = listFlag(f, 'work')?.map(Number);
  if (work !== undefined && work.some((w) => !Number.isFinite(w) || w < 0)) throw new Error('--work needs numbers ≥ 0 (µs)');
  set('workUs', work);
  const drains = listFlag(f, 'drain');
  if (drains !== undefined && drains.some((d) => d !== 'getData' && d !== 'getDataReuse' && d !== 'drainData')) throw new Error('--drain takes drainData, getData and/or getDataReuse');
  set('drains', drains as DrainMode[] | undefined);
  const idle = f.get('idle');
  if (idle !== undefined && idle !== 'spin' && idle !== 'backoff') throw new Error('--idle takes spin or backoff');
  set('idle', idle as IdleMode | undefined);
  if (f.has('no-save')) o.save = false;
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
  return o;
}

const WORKLOADS: Record<string, Workload> = {
  echo: {
    describe: 'end-to-end echo: baseline node:net vs pandanet t0/t1/t2, without and with 2 µs of work',
    async run(args) {
      const r = await runEcho(echoOptions(args.flags));
      return r.configs.every((c) => c.summary.failedRuns === 0);
    },
  },
  micro: {
    describe: 'in-memory micro benchmarks from build/bench/micro/*.js',
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
    'workloads (all when none is named):',
    ...Object.entries(WORKLOADS).map(([name, w]) => `  ${name.padEnd(6)} ${w.describe}`),
    '',
    'options: --runs N  --quick (a smoke test: windows too short for CPU figures)  --no-save',
    '  echo:  --connections N --per-connection N --in-flight N --client-threads N --threads 0,1,2',
    '         --work 0,2 --drain drainData,getData[,getDataReuse] --idle backoff|spin --timeout-s 60',
    '         --out FILE (JSON path; default bench/results/echo-<date>.json)',
    '         --quiet-wait-s 10 (wait before each run for other load to drop; 0: off)',
    '         --profile DIR (V8 CPU profiles of the server processes, for diagnosis)',
    '  micro: --micro-timeout-s 300 --only ring,datagram',
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
  const names = args.names.length > 0 ? args.names : Object.keys(WORKLOADS);

  console.log(`# pandanet benchmarks: ${names.join(', ')}`);
  console.log('');
  console.log(`Machine: ${describeMachine(machineInfo())}`);
  console.log('');
  let ok = true;
  for (const name of names) {
    console.log(`## ${name}`);
    console.log('');
    try {
      if (!(await WORKLOADS[name]!.run(args))) ok = false;
    } catch (err) {
      ok = false;
      console.error(`workload ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    console.log('');
  }
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
