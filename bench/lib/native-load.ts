/**
 * The echo benchmark's cheap load generator: builds bench/native/echo-client.c (one thread, epoll)
 * with the machine's C compiler at bench time, picks the load (`native` when it builds, else the
 * Node client, saying why), and drives the binary with the same messages as the Node load client
 * (bench/e2e/protocol.ts), so the orchestrator treats both alike.
 *
 * Build: `<cc> -O2 -o build/bench/native/echo-client bench/native/echo-client.c`, with `<cc>` the
 * first of `$CC`, `cc`, `gcc`, `clang` that answers `--version`. Built at most once per process, and
 * only when the binary is missing or older than the source (mtime; an up-to-date binary is used
 * even where no compiler is left); compiled to a temporary name and renamed, so two builds at once
 * never leave a half-written binary.
 *
 * Driving: the binary runs with `--control`: before each pass it opens its connections and prints
 * `{"kind":"ready"}`; a line `go` starts the pass, which ends with one `{"kind":"result",…}` line;
 * between the warm-up and the measured pass it waits for `next`. Each `result` line is turned into
 * the Node client's `result` message (one task: the client's single thread).
 *
 * The same binary with `--phases` is the fixed-rate client of the latency and budget workloads
 * ({@link NativeRateClient}, speaking the Node rate client's messages).
 *
 * What it does not do: build off Linux (epoll).
 *
 * Thread: main thread of the orchestrating process.
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ClientCommand, ClientMessage, ClientParams } from '../e2e/protocol.js';
import type { RateClientCommand, RateClientMessage, RateClientParams } from '../e2e/rate-client.js';
import type { RateTaskPhaseResult } from '../e2e/rate-task.js';
import type { Percentiles } from './percentiles.js';
import { InboxProcess, ProcessInbox } from './process-inbox.js';

/** Which load generator drives a workload. */
export type LoadKind = 'native' | 'node';

/** The load a workload was asked for: `auto` is native when it builds, else node. */
export type LoadRequest = LoadKind | 'auto';

/** Outcome of {@link buildNativeClient}. */
export type NativeBuild =
  | { ok: true; path: string; compiler: string; cached: boolean }
  | { ok: false; reason: string };

/** The load picked for a workload, and what to tell the reader about it. */
export interface LoadChoice {
  load: LoadKind;
  requested: LoadRequest;
  /** The native binary (when `load` is native). */
  binary?: string;
  /** One line for the output and the results: which load, and why. */
  note: string;
}

/** A running load client, native or Node: what the echo orchestrator needs of it. */
export interface LoadProcess {
  next<K extends ClientMessage['kind']>(kind: K, timeoutMs: number): Promise<Extract<ClientMessage, { kind: K }>>;
  send(m: ClientCommand): void;
  /** Resolves when the process has exited, SIGKILLing it after `graceMs`. */
  exit(graceMs: number): Promise<void>;
  kill(): void;
}

/** The repository root: the nearest folder above this module holding bench/native/echo-client.c. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'bench', 'native', 'echo-client.c'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error('bench/native/echo-client.c not found above this module');
}

/** Path of the C source. */
export function nativeClientSource(): string {
  return join(repoRoot(), 'bench', 'native', 'echo-client.c');
}

/** Where the binary is built by default: build/bench/native/echo-client. */
export function nativeClientDefaultPath(): string {
  return join(repoRoot(), 'build', 'bench', 'native', 'echo-client');
}

/** The first compiler of `candidates` that answers `--version`, or null. */
export function findCompiler(candidates: readonly string[] = defaultCompilers()): string | null {
  for (const cc of candidates) {
    const r = spawnSync(cc, ['--version'], { stdio: 'ignore', timeout: 10_000 });
    if (r.error === undefined && r.status === 0) return cc;
  }
  return null;
}

/** `$CC` (when set), then cc, gcc, clang. */
export function defaultCompilers(): string[] {
  const env = process.env['CC'];
  return [...(env !== undefined && env !== '' ? [env] : []), 'cc', 'gcc', 'clang'];
}

const built = new Map<string, NativeBuild>();

/**
 * Builds the native client unless an up-to-date binary is there (binary mtime ≥ source mtime);
 * at most once per process and output path (a later call answers `cached: true`; passing
 * `compilers` skips that memo and looks again). Never throws: a failure is returned with its reason.
 */
export function buildNativeClient(opts: { outPath?: string; compilers?: readonly string[] } = {}): NativeBuild {
  const out = resolve(opts.outPath ?? nativeClientDefaultPath());
  const memo = built.get(out);
  if (memo !== undefined && opts.compilers === undefined) return memo.ok ? { ...memo, cached: true } : memo;
  const result = ((): NativeBuild => {
    if (process.platform !== 'linux') return { ok: false, reason: `the native client needs Linux (epoll); this is ${process.platform}` };
    let src: string;
    try {
      src = nativeClientSource();
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
    // An up-to-date binary is used as it is, compiler or not.
    if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return { ok: true, path: out, compiler: 'none needed', cached: true };
    const cc = findCompiler(opts.compilers ?? defaultCompilers());
    if (cc === null) return { ok: false, reason: `no C compiler found (tried ${(opts.compilers ?? defaultCompilers()).join(', ')})` };
    mkdirSync(dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    const r = spawnSync(cc, ['-O2', '-Wall', '-o', tmp, src], { encoding: 'utf8', timeout: 120_000 });
    if (r.error !== undefined || r.status !== 0) {
      rmSync(tmp, { force: true });
      const why = r.error?.message ?? `${cc} exited ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-4).join(' | ')}`;
      return { ok: false, reason: `compiling ${src} failed: ${why}` };
    }
    renameSync(tmp, out);
    return { ok: true, path: out, compiler: cc, cached: false };
  })();
  if (opts.compilers === undefined) built.set(out, result);
  return result;
}

/**
 * Picks the load: `node` when asked; `auto` → native when it builds, else node with the reason in
 * the note; `native` → native, or an Error with the reason (asked for explicitly, it is not
 * silently replaced).
 */
export function chooseLoad(requested: LoadRequest, build: () => NativeBuild = () => buildNativeClient()): LoadChoice {
  if (requested === 'node') return { load: 'node', requested, note: 'load: Node client (--load node: piscina worker threads, bench/e2e/load-task.ts)' };
  const b = build();
  if (b.ok) {
    return {
      load: 'native',
      requested,
      binary: b.path,
      note: `load: native C client (one thread, epoll; bench/native/echo-client.c, ${b.cached ? 'up-to-date build' : `built now with ${b.compiler} -O2`} at ${b.path})`,
    };
  }
  if (requested === 'native') throw new Error(`--load native: ${b.reason}`);
  return { load: 'node', requested, note: `load: Node client — FALLBACK, the native client is not available (${b.reason})` };
}

/** The binary's arguments for the orchestrator's client parameters. */
export function nativeArgs(p: ClientParams): string[] {
  return [
    '--control',
    '--host', p.host,
    '--port', String(p.port),
    '--connections', String(p.connections),
    '--count', String(p.perConnection),
    '--window', String(p.inFlight),
    '--size', String(p.payloadBytes),
    '--warmup', String(p.warmupPerConnection),
    '--deadline-ms', String(p.taskDeadlineMs),
  ];
}

/** A `result` line of the binary, as printed. */
export interface NativeResultLine {
  kind: 'result';
  pass: 'warmup' | 'measured';
  connections: number;
  datagrams: number;
  expected: number;
  mismatches: number;
  elapsedMs: number;
  medianConnectionDoneMs: number;
  cpuUs: number;
  userUs: number;
  sysUs: number;
  timedOut: boolean;
  errors: string[];
}

/** The Node client's `result` message for a native result line. */
export function toClientResult(r: NativeResultLine): Extract<ClientMessage, { kind: 'result' }> {
  const errors = [...r.errors];
  if (r.timedOut && !errors.some((e) => e.includes('deadline'))) errors.push('the native client hit its deadline');
  return {
    kind: 'result',
    echoes: r.datagrams,
    expected: r.expected,
    mismatches: r.mismatches,
    elapsedMs: r.elapsedMs,
    medianConnectionDoneMs: r.medianConnectionDoneMs < 0 ? Number.NaN : r.medianConnectionDoneMs,
    clientCpuUs: r.cpuUs,
    tasks: [{ connections: r.connections, echoes: r.datagrams, mismatches: r.mismatches, errors: r.errors, startAbsMs: 0, endAbsMs: r.elapsedMs, connectionDoneAbsMs: [], threadCpuUs: r.cpuUs, timedOut: r.timedOut }],
    errors,
  };
}

/**
 * A native client process driven by lines: commands are written to its stdin (`encode`), each
 * stdout line is parsed as JSON and turned into a message (`decode`). Every wait is bounded; an
 * exit or a timeout rejects. {@link kill} SIGKILLs.
 */
export class NativeProcess<In extends { kind: string }, Out> extends InboxProcess<In> {
  readonly proc: ChildProcess;
  protected readonly inbox: ProcessInbox<In>;

  constructor(
    binary: string,
    args: string[],
    readonly label: string,
    private readonly decode: (raw: { kind: string } & Record<string, unknown>, line: string) => In,
    private readonly encode: (m: Out) => string,
  ) {
    super();
    this.proc = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const inbox = new ProcessInbox<In>(this.proc, label, (m) => new Error(m));
    this.inbox = inbox;
    this.proc.stdin?.on('error', () => {}); // EPIPE after the client exits: the exit is reported instead
    createInterface({ input: this.proc.stdout! }).on('line', (line) => inbox.push(this.parse(line)));
    // 'close': stdout fully read, so a last result line is delivered before the exit is reported.
    this.proc.on('close', (code, signal) => inbox.gone(signal !== null ? `killed by ${signal}` : `exited with code ${code}`));
    this.proc.on('error', (err) => inbox.gone(`failed: ${err.message}`));
  }

  private parse(line: string): In {
    try {
      return this.decode(JSON.parse(line) as { kind: string } & Record<string, unknown>, line);
    } catch (err) {
      return { kind: 'error', message: `unparsable line from ${this.label}: ${line.slice(0, 200)} (${(err as Error).message})` } as unknown as In;
    }
  }

  /** Writes the command's line to the client's stdin (ignored once it is gone). */
  send(m: Out): void {
    if (!this.inbox.isGone) this.proc.stdin?.write(`${this.encode(m)}\n`);
  }
}

/** The echo workload's native client (`--control`), speaking the Node load client's messages. */
export class NativeLoadClient extends NativeProcess<ClientMessage, ClientCommand> implements LoadProcess {
  constructor(binary: string, params: ClientParams, label: string) {
    super(
      binary,
      nativeArgs(params),
      label,
      (raw, line) => (raw.kind === 'ready' ? { kind: 'ready' } : raw.kind === 'result' ? toClientResult(raw as unknown as NativeResultLine) : { kind: 'error', message: `unexpected line from the native client: ${line.slice(0, 200)}` }),
      (m) => m.kind,
    );
  }
}

/** A percentile object as the native client prints it (null for NaN). */
type NativePercentiles = { [K in keyof Percentiles]: number | null };

/** Percentiles with the native client's nulls turned back into NaN. */
function percentilesOf(p: NativePercentiles | null): Percentiles | null {
  if (p === null) return null;
  const n = (x: number | null): number => (x === null ? Number.NaN : x);
  return { count: n(p.count), min: n(p.min), p50: n(p.p50), p90: n(p.p90), p99: n(p.p99), p999: n(p.p999), max: n(p.max), mean: n(p.mean), overflow: n(p.overflow) };
}

/**
 * A `phaseResult` line of the binary in `--phases` mode, as printed: the Node rate task's phase
 * result (the same counters), with the phase's mode, percentiles instead of sample arrays, and the
 * binary's errors.
 */
export type NativePhaseLine = Omit<RateTaskPhaseResult, 'latency' | 'service' | 'sendLag' | 'overflow'> & {
  mode: 'max' | 'rate';
  latency: NativePercentiles | null;
  service: NativePercentiles | null;
  sendLag: NativePercentiles | null;
  errors: string[];
};

/** The Node rate client's `phaseResult` for a native phase line (`ratePerSec`: the phase's asked rate). */
export function toRatePhaseResult(r: NativePhaseLine, ratePerSec: number): RateClientMessage {
  if (r.errors.length > 0) return { kind: 'error', message: `native rate client: ${r.errors.join('; ')}` };
  return {
    kind: 'phaseResult',
    mode: r.mode,
    ratePerSec: r.mode === 'rate' ? ratePerSec : Number.NaN,
    sent: r.sent,
    received: r.received,
    achievedPerSec: (r.measured / r.measuredMs) * 1000,
    measuredReceived: r.measuredReceived,
    missing: r.missing,
    dropped: r.dropped,
    mismatches: r.mismatches,
    latency: percentilesOf(r.latency),
    service: percentilesOf(r.service),
    sendLag: percentilesOf(r.sendLag),
    clientCpuUs: r.cpuUs,
    taskCpuUs: [Math.round(r.cpuUs)],
  };
}

/**
 * The latency and budget workloads' native client (`--phases`), speaking the Node rate client's
 * messages (bench/e2e/rate-client.ts): one thread for all connections, a 1 ms ticker like the
 * Node client's.
 */
export class NativeRateClient extends NativeProcess<RateClientMessage, RateClientCommand> {
  private phaseId = 0;
  private lastRate = Number.NaN;

  constructor(binary: string, params: RateClientParams, label: string) {
    let self: NativeRateClient | null = null;
    super(
      binary,
      ['--phases', '--host', params.host, '--port', String(params.port), '--connections', String(params.connections), '--size', String(params.payloadBytes)],
      label,
      (raw, line) => {
        if (raw.kind === 'ready') return { kind: 'ready' };
        if (raw.kind === 'phaseResult') return toRatePhaseResult(raw as unknown as NativePhaseLine, self?.lastRate ?? Number.NaN);
        if (raw.kind === 'error') return { kind: 'error', message: `native rate client: ${String(raw['message'])}` };
        return { kind: 'error', message: `unexpected line from the native rate client: ${line.slice(0, 200)}` };
      },
      (m) => {
        if (m.kind === 'end') return 'end';
        const id = ++this.phaseId;
        if (m.mode === 'max') return `max ${id} ${m.inFlight} ${m.warmupMs} ${m.measureMs} ${m.drainMs}`;
        this.lastRate = m.ratePerSec;
        return `rate ${id} ${m.ratePerSec} ${m.warmupMs} ${m.measureMs} ${m.drainMs}`;
      },
    );
    self = this;
  }
}
