/**
 * Issue 20's measurements, two workloads:
 *
 * - `accept`: accept rate and spread over the I/O threads, hand-off against `reusePort`, beside a plain
 *   `node:net` server doing the same. A pandanet server (bench/e2e/accept-server.ts, 2 I/O threads by
 *   default; its loop sleeps 1 ms after 64 empty turns) closes each connection once its first
 *   datagram arrived; a load client (accept-client.ts, another process) runs 2,000 clients, 64 at
 *   a time: connect, send one datagram, wait for the close. Connections/s = clients / (first connect
 *   to last close); server process CPU per connection (all threads) is reported too, as it moves less
 *   with other load on a shared machine. Every configuration runs in every round, in rotating order; `--node 26` runs
 *   server and client on the newest Node 26 from the cache (scripts/node-version.sh), since Node 20
 *   has no `reusePort`.
 * - `echo-nodes`: the echo workload (bench/e2e/echo.ts, 1 and 2 threads, no work) under each Node
 *   binary in turn — the machine's, and `--nodes 26` (majors, from the cache) — one echo round per
 *   Node per round, alternating, in one invocation; on the newer Node also with `reusePort` off
 *   (`PANDANET_BENCH_REUSE_PORT=off`), so the two accept paths' effect on echo shows apart.
 *
 * Thread: main thread of the orchestrating process.
 * @module
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Progress } from '../lib/progress.js';
import { markdownHeader, resultBase, resultHeader, saveResult } from '../lib/report.js';
import { round, spread, type Spread } from '../lib/stats.js';
import type { AcceptClientDone, AcceptClientParams } from './accept-client.js';
import type { AcceptServerMessage, AcceptServerParams } from './accept-server.js';
import type { EchoResult } from './echo.js';

const SERVER = fileURLToPath(new URL('./accept-server.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./accept-client.js', import.meta.url));
const RUN = fileURLToPath(new URL('../run.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** The `node` binary of a major from the cache (fetched if needed), or this process's for 'system'. */
export function nodeBinary(major: string): string {
  if (major === 'system' || major === process.versions.node.split('.')[0]) return process.execPath;
  const bin = execFileSync('bash', [join(REPO, 'scripts/node-version.sh'), major], { encoding: 'utf8', timeout: 120_000 }).trim();
  return join(bin, 'node');
}

function nodeVersion(execPath: string): string {
  return execFileSync(execPath, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
}

/** Forks `module` with `execPath`; resolves with the first message of `kind`, rejects on exit or after `timeoutMs`. */
function nextMessage<T extends { kind: string }>(proc: ChildProcess, kind: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no ${kind} within ${timeoutMs} ms`)), timeoutMs);
    const onMsg = (m: T): void => {
      if (m.kind === kind) done(null, m);
    };
    const onExit = (code: number | null): void => done(new Error(`child exited (${code}) before ${kind}`));
    const done = (err: Error | null, m?: T): void => {
      clearTimeout(timer);
      proc.off('message', onMsg);
      proc.off('exit', onExit);
      if (err !== null) reject(err);
      else resolve(m!);
    };
    proc.on('message', onMsg);
    proc.on('exit', onExit);
  });
}

function start(module: string, params: unknown, execPath: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return fork(module, [JSON.stringify(params)], { execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json', env });
}

/** Options of the accept workload. */
export interface AcceptOptions {
  runs: number;
  connections: number;
  concurrency: number;
  threads: number;
  /** Node major for server and client ('system': this process's). */
  node: string;
  timeoutMs: number;
  quick: boolean;
  save: boolean;
}

export const ACCEPT_DEFAULTS: AcceptOptions = { runs: 3, connections: 2000, concurrency: 64, threads: 2, node: '26', timeoutMs: 60_000, quick: false, save: true };
export const ACCEPT_QUICK: Partial<AcceptOptions> = { runs: 1, connections: 200 };

type AcceptConfig = 'node:net' | 'handoff' | 'reusePort';
const ACCEPT_CONFIGS: AcceptConfig[] = ['node:net', 'handoff', 'reusePort'];

interface AcceptRun {
  config: AcceptConfig;
  /** 1-minute load average after the run (other helpers' work on a shared machine shows here). */
  loadAvg: number;
  round: number;
  ok: boolean;
  error?: string;
  connectionsPerSec: number;
  /** Server process CPU (every thread) per connection, µs: less sensitive to other load than the rate. */
  serverCpuUsPerConnection: number;
  elapsedMs: number;
  errors: number;
  accepts: number[];
  path: string;
}

export interface AcceptSummary {
  config: string;
  path: string;
  connectionsPerSec: Spread;
  serverCpuUsPerConnection: Spread;
  /** Share of the accepts taken by each I/O thread, median over runs. */
  acceptShare: number[];
  okRuns: number;
  failedRuns: number;
}

export function acceptSteps(o: Partial<AcceptOptions>): number {
  const full = { ...ACCEPT_DEFAULTS, ...(o.quick === true ? ACCEPT_QUICK : {}), ...o };
  return full.runs * ACCEPT_CONFIGS.length;
}

async function acceptRun(config: AcceptConfig, roundNo: number, o: AcceptOptions, execPath: string): Promise<AcceptRun> {
  const params: AcceptServerParams = config === 'node:net' ? { threads: 0, reusePort: false, baseline: true } : { threads: o.threads, reusePort: config === 'handoff' ? false : 'auto' };
  const server = start(SERVER, params, execPath);
  let client: ChildProcess | null = null;
  try {
    const ready = await nextMessage<AcceptServerMessage & { kind: 'ready' }>(server, 'ready', 15_000);
    client = start(CLIENT, { port: ready.port, connections: o.connections, concurrency: o.concurrency } satisfies AcceptClientParams, execPath);
    await nextMessage(client, 'ready', 15_000);
    server.send({ kind: 'start' });
    client.send({ kind: 'go' });
    const done = await nextMessage<AcceptClientDone>(client, 'done', o.timeoutMs);
    server.send({ kind: 'stop' });
    const stats = await nextMessage<AcceptServerMessage & { kind: 'stats' }>(server, 'stats', 10_000);
    const ok = done.errors === 0 && done.completed === o.connections;
    return {
      config,
      loadAvg: round(loadavg()[0] ?? 0, 2),
      round: roundNo,
      ok,
      ...(ok ? {} : { error: `${done.errors} errors (${done.firstError}), ${done.completed} completed` }),
      connectionsPerSec: (done.completed / done.elapsedMs) * 1000,
      serverCpuUsPerConnection: stats.cpuUs / Math.max(1, done.completed),
      elapsedMs: done.elapsedMs,
      errors: done.errors,
      accepts: stats.accepts,
      path: stats.path,
    };
  } catch (err) {
    return { config, loadAvg: round(loadavg()[0] ?? 0, 2), round: roundNo, ok: false, error: String(err), connectionsPerSec: Number.NaN, serverCpuUsPerConnection: Number.NaN, elapsedMs: Number.NaN, errors: 0, accepts: [], path: '?' };
  } finally {
    server.kill('SIGKILL');
    client?.kill('SIGKILL');
  }
}

/** Runs the accept workload; prints and (by default) saves the results. */
export async function runAccept(opts: Partial<AcceptOptions>, progress: Progress): Promise<{ summary: AcceptSummary[] }> {
  const o: AcceptOptions = { ...ACCEPT_DEFAULTS, ...(opts.quick === true ? ACCEPT_QUICK : {}), ...opts };
  const header = resultHeader('accept');
  const execPath = nodeBinary(o.node);
  const version = nodeVersion(execPath);
  const runs: AcceptRun[] = [];
  for (let r = 0; r < o.runs; r++) {
    const order = ACCEPT_CONFIGS.map((_, i) => ACCEPT_CONFIGS[(i + r) % ACCEPT_CONFIGS.length]!);
    for (const config of order) {
      runs.push(await acceptRun(config, r, o, execPath));
      progress.step();
    }
  }
  const summary: AcceptSummary[] = ACCEPT_CONFIGS.map((config) => {
    const mine = runs.filter((x) => x.config === config);
    const ok = mine.filter((x) => x.ok);
    const shares = ok.map((x) => {
      const total = x.accepts.reduce((a, b) => a + b, 0);
      return x.accepts.map((n) => (total > 0 ? n / total : 0));
    });
    const acceptShare = Array.from({ length: config === 'node:net' ? 1 : o.threads }, (_, i) => round(spread(shares.map((s) => s[i] ?? 0)).median, 3));
    return { config, path: ok[0]?.path ?? '?', connectionsPerSec: spread(ok.map((x) => x.connectionsPerSec)), serverCpuUsPerConnection: spread(ok.map((x) => x.serverCpuUsPerConnection)), acceptShare, okRuns: ok.length, failedRuns: mine.length - ok.length };
  });
  const fmt = (s: Spread): string => `${Math.round(s.median)} (${Math.round(s.min)}–${Math.round(s.max)})`;
  const lines = [
    markdownHeader('accept: hand-off vs reusePort', header, [`accept: ${o.connections} clients (connect, one datagram, server closes), ${o.concurrency} at a time, ${o.threads} I/O threads, Node ${version}, ${o.runs} rounds`]),
    '',
    '| config | path | connections/s, median (range) | server CPU µs per connection, median (range) | accepts per thread (median share) | runs ok/failed |',
    '|---|---|---|---|---|---|',
    ...summary.map((s) => `| ${s.config} | ${s.path} | ${fmt(s.connectionsPerSec)} | ${fmt(s.serverCpuUsPerConnection)} | ${s.acceptShare.map((x) => `${Math.round(x * 100)} %`).join(' / ')} | ${s.okRuns}/${s.failedRuns} |`),
  ];
  const h = summary.find((s) => s.config === 'handoff')!;
  const rp = summary.find((s) => s.config === 'reusePort')!;
  /** `a` / `b`, per round (both from the same round), as a spread. */
  const sameRound = (a: AcceptConfig, b: AcceptConfig): Spread =>
    spread(
      runs
        .filter((x) => x.config === a && x.ok)
        .map((x) => {
          const base = runs.find((y) => y.config === b && y.round === x.round && y.ok);
          return base === undefined ? Number.NaN : x.connectionsPerSec / base.connectionsPerSec;
        }),
    );
  const ratio = sameRound('reusePort', 'handoff');
  const fmtRatio = (q: Spread): string => `${round(q.median, 2)}× (${round(q.min, 2)}–${round(q.max, 2)})`;
  lines.push('', `reusePort / hand-off, same round: ${fmtRatio(ratio)}; medians ${Math.round(rp.connectionsPerSec.median)} vs ${Math.round(h.connectionsPerSec.median)} connections/s`);
  lines.push(`hand-off / node:net: ${fmtRatio(sameRound('handoff', 'node:net'))}; reusePort / node:net: ${fmtRatio(sameRound('reusePort', 'node:net'))}`);
  for (const x of runs) lines.push(`- round ${x.round} ${x.config}: ${x.ok ? `${Math.round(x.connectionsPerSec)} connections/s, ${Math.round(x.serverCpuUsPerConnection)} µs CPU each, accepts ${x.accepts.join('/')}` : `FAILED: ${x.error ?? ''}`} (load average ${x.loadAvg})`);
  const md = lines.join('\n');
  console.log(`\n${md}\n`);
  if (o.save) {
    const base = resultBase('accept', header.date, o.quick);
    const files = saveResult(base, { ...header, node: version, options: o, runs, summary, ratio }, md);
    console.log(`saved ${files.join(', ')}`);
  }
  return { summary };
}

/** Options of the echo-nodes workload. */
export interface EchoNodesOptions {
  runs: number;
  /** Node majors besides the machine's ('system' is always first). */
  nodes: string[];
  threads: number[];
  quick: boolean;
  save: boolean;
  timeoutMs: number;
}

export const ECHO_NODES_DEFAULTS: EchoNodesOptions = { runs: 3, nodes: ['26'], threads: [1, 2], quick: false, save: true, timeoutMs: 600_000 };
export const ECHO_NODES_QUICK: Partial<EchoNodesOptions> = { runs: 1, threads: [1] };

interface EchoNodesVariant {
  label: string;
  execPath: string;
  version: string;
  env: NodeJS.ProcessEnv;
}

export function echoNodesSteps(o: Partial<EchoNodesOptions>): number {
  const full = { ...ECHO_NODES_DEFAULTS, ...(o.quick === true ? ECHO_NODES_QUICK : {}), ...o };
  return full.runs * (1 + full.nodes.length * 2);
}

/** Runs one echo round (`run.js echo --runs 1`) under `v`; returns its configs' datagrams/s and ratios. */
function echoRound(v: EchoNodesVariant, o: EchoNodesOptions): Promise<EchoResult | string> {
  const out = join(tmpdir(), `pandanet-echo-nodes-${process.pid}-${Date.now()}.json`);
  const args = [RUN, 'echo', '--runs', '1', '--threads', o.threads.join(','), '--work', '0', '--out', out, ...(o.quick ? ['--quick'] : [])];
  return new Promise((resolve) => {
    const proc = fork(args[0]!, args.slice(1), { execPath: v.execPath, stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: v.env });
    const timer = setTimeout(() => proc.kill('SIGKILL'), o.timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(readFileSync(out, 'utf8')) as EchoResult;
        rmSync(out, { force: true });
        resolve(r);
      } catch (err) {
        resolve(`echo under ${v.label} exited ${code}: ${String(err)}`);
      }
    });
  });
}

/** Runs the echo workload under each Node in turn; prints and (by default) saves the comparison. */
export async function runEchoNodes(opts: Partial<EchoNodesOptions>, progress: Progress): Promise<{ failed: number }> {
  const o: EchoNodesOptions = { ...ECHO_NODES_DEFAULTS, ...(opts.quick === true ? ECHO_NODES_QUICK : {}), ...opts };
  const header = resultHeader('echo-nodes');
  const variants: EchoNodesVariant[] = [{ label: `Node ${process.version}`, execPath: process.execPath, version: process.version, env: process.env }];
  for (const major of o.nodes) {
    const execPath = nodeBinary(major);
    const version = nodeVersion(execPath);
    variants.push({ label: `Node ${version}`, execPath, version, env: process.env });
    variants.push({ label: `Node ${version}, reusePort off`, execPath, version, env: { ...process.env, PANDANET_BENCH_REUSE_PORT: 'off' } });
  }
  const results = new Map<string, Array<{ round: number; config: string; dps: number; ratio: number; cpuUs: number; ok: boolean }>>();
  let failed = 0;
  for (let r = 0; r < o.runs; r++) {
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const res = await echoRound(v, o);
      progress.step();
      const list = results.get(v.label) ?? [];
      results.set(v.label, list);
      if (typeof res === 'string') {
        failed++;
        console.error(res);
        continue;
      }
      for (const c of res.configs) {
        const run = c.runs[0];
        if (run === undefined || !run.ok) failed++;
        list.push({ round: r, config: c.id, dps: run?.datagramsPerSec ?? Number.NaN, ratio: c.summary.ratioToBaseline?.median ?? Number.NaN, cpuUs: run?.processCpuUsPerDatagram ?? Number.NaN, ok: run?.ok === true });
      }
    }
  }
  const configs = [...new Set([...results.values()].flat().map((x) => x.config))];
  const lines = [
    markdownHeader('echo under several Node versions', header, [`echo under several Nodes, ${o.runs} rounds (alternating order), threads ${o.threads.join(', ')}, no work; datagrams/s median (range), ratio to node:net on the same Node in the same round (median); server process CPU per datagram, µs, median (range)`]),
    '',
    `| config | ${variants.map((v) => v.label).join(' | ')} |`,
    `|---|${variants.map(() => '---').join('|')}|`,
  ];
  for (const c of configs) {
    const cells = variants.map((v) => {
      const xs = (results.get(v.label) ?? []).filter((x) => x.config === c && x.ok);
      const d = spread(xs.map((x) => x.dps));
      const q = spread(xs.map((x) => x.ratio));
      const u = spread(xs.map((x) => x.cpuUs));
      return xs.length === 0 ? '—' : `${Math.round(d.median / 1000)}k (${Math.round(d.min / 1000)}–${Math.round(d.max / 1000)}k)${Number.isFinite(q.median) ? `, ${round(q.median, 2)}×` : ''}; ${round(u.median, 2)} µs (${round(u.min, 2)}–${round(u.max, 2)})`;
    });
    lines.push(`| ${c} | ${cells.join(' | ')} |`);
  }
  const md = lines.join('\n');
  console.log(`\n${md}\n`);
  if (o.save) {
    const base = resultBase('echo-nodes', header.date, o.quick);
    const files = saveResult(base, { ...header, options: o, variants: variants.map((v) => ({ label: v.label, version: v.version })), results: Object.fromEntries(results) }, md);
    console.log(`saved ${files.join(', ')}`);
  }
  return { failed };
}
