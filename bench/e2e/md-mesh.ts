/**
 * The `md-mesh` workload (issue 16's bench): two message-director nodes joined through NATS,
 * cross-node traffic only, against raw NATS pub/sub in the same run; then post-removes after
 * kill -9 of a node.
 *
 * Each run starts its own `nats-server -js` (Debian's, `/usr/sbin/nats-server` or `$NATS_SERVER`)
 * on a free 127.0.0.1 port with a fresh storage directory, and kills it at the end.
 * - `pandanet mesh tN`: two `MessageDirector` processes (bench/e2e/md-router.ts, `N` I/O threads
 *   each, a fresh NATS cluster name per run) and the `md` workload's client (bench/e2e/md-client.ts)
 *   in cross-node mode: even participants on node 1, odd on node 2, each sending only to
 *   participants on the other node, every datagram checked (recipient, sender, order, size). The
 *   phases are the md workload's (bench/e2e/md.ts `runMdKind`): closed-loop max, settling, open loop
 *   at 50 % of that max, delay from the due time (no coordinated omission).
 * - `raw NATS` / `raw NATS ×B`: two Node processes (bench/e2e/md-nats-peer.ts) publishing to each
 *   other over core NATS, one datagram per message / up to B per message, same datagram size,
 *   same total in flight (participants × inFlight), same phases and method.
 * - `Astron MD tree (measured)`, when `$ASTROND` names a native astrond build (outside this
 *   repository): a root astrond and a child astrond connected to it (Astron's tree), even
 *   participants on the root, odd on the child, the same client and phases. Without it the
 *   ~75 k datagrams/s of ../shared/astron-md-protocol.md is quoted. Targets: cross-node ≥ 1.5× the
 *   tree, p99 ≤ 2 ms at 50 % load.
 * - `Astron tree, cross-branch (measured)`, with `$ASTROND` too: a root and two children, the
 *   participants on the children only, so every datagram crosses the root (child → root → child):
 *   the path of traffic between branches of a real tree, which the mesh replaces.
 * - `client loopback`: the same client in cross-node mode against one plain `node:net` router,
 *   at the round's mesh rate: the floor the client, its ticker and one trivial hop set.
 * - Open-loop senders tick every `tickUs` (250 µs by default here, a clock thread:
 *   bench/e2e/md-ticker.ts) instead of `setTimeout(f, 1)` (1–2 ms apart), whose lateness counted
 *   in every latency figure; the tables show it (ticker lateness) and the delay from the write.
 * - kill -9: a survivor node with a participant subscribed to a channel, a third node (a child
 *   process) holding a participant with a post-remove for that channel; once the post-remove is in
 *   the cluster's KV bucket, SIGKILL; the time until the survivor's participant receives it.
 *   `killReps` times per `deadAfterMs` setting (default 3000 and 1000).
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Child } from '../lib/child.js';
import { f2, int, k, mdTable, range, us } from '../lib/format.js';
import { bounded, errText, type RunContext } from '../lib/harness.js';
import { concatSamples, summarizeSample, type Percentiles } from '../lib/percentiles.js';
import type { Progress } from '../lib/progress.js';
import { markdownHeader, resultBase, resultHeader, saveResult, type ResultHeader } from '../lib/report.js';
import { Quiet } from '../lib/quiet.js';
import { round, spread, type Spread } from '../lib/stats.js';
import { MD_DEFAULTS, MD_QUICK, runMdKind, type MdOptions } from './md.js';
import type { NatsPeerCommand, NatsPeerMessage, NatsPeerParams, NatsPeerPhaseResult } from './md-nats-peer.js';
import type { MdRouterCommand, MdRouterMessage, MdRouterParams } from './md-router.js';
import { monoMs } from './md-task.js';

const PEER = new URL('./md-nats-peer.js', import.meta.url);
const ROUTER = new URL('./md-router.js', import.meta.url);

/** A two-node Astron MD tree's cross-node figure (../shared/astron-md-protocol.md), datagrams/s; quoted, not measured here. */
export const ASTRON_TREE_REFERENCE_PER_SEC = 75_000;
/** Issue 16's targets: cross-node throughput at least this many times the Astron tree's, and p99 at 50 % load at most this (µs). */
export const MESH_TARGET_TIMES = 1.5;
export const MESH_TARGET_P99_US = 2000;

/** Options of the md-mesh workload (the md workload's, plus these). */
export interface MdMeshOptions extends MdOptions {
  /** Raw NATS baselines: datagrams per NATS message at most (1 = one each). */
  natsBatches: number[];
  /** kill -9 step: repetitions per `deadAfterMs` setting (0: skip the step). */
  killReps: number;
  /** kill -9 step: `deadAfterMs` settings (undefined = the default, 3000). */
  deadAfterMs: number[];
  /**
   * The client's own floor: the same client in cross-node mode against one plain `node:net` router
   * (bench/e2e/md-router-baseline.ts, one write per destination per loop turn), open loop at the
   * rate of the round's first mesh kind — what the client, its ticker and one trivial hop add.
   */
  loopback: boolean;
  /**
   * A native `astrond` (Astron's build, outside this repository; default `$ASTROND`): when set, a
   * two-node Astron MD tree (root + child, participants split across them, the same client) runs in
   * every round and the mesh's throughput ratio is taken to it, same round. Unset: the quoted figure.
   */
  astrond: string | null;
}

export const MD_MESH_DEFAULTS: MdMeshOptions = { ...MD_DEFAULTS, threads: [1], natsBatches: [1, 32], killReps: 5, deadAfterMs: [3000, 1000], timeoutMs: 90_000, tickUs: 250, loopback: true, astrond: process.env['ASTROND'] ?? null };
/** `--quick`: the md workload's quick settings, one raw NATS kind, two kill -9 repetitions at 1000 ms. */
export const MD_MESH_QUICK: Partial<MdMeshOptions> = { ...MD_QUICK, natsBatches: [1], killReps: 2, deadAfterMs: [1000] };

interface MeshRun {
  round: number;
  kind: string;
  ok: boolean;
  error?: string;
  datagramsPerSec: number;
  /** Open-loop load points: rate asked, delivered, percentiles (µs) from the due time, from the actual write, and the senders' ticker lateness. */
  points: Array<{ load: number; ratePerSec: number; deliveredPerSec: number; latency: Percentiles | null; service: Percentiles | null; sendLag: Percentiles | null; missing: number }>;
  ratioToRaw?: number;
  ratioToAstronTree: number;
  /** This run's throughput over the measured Astron tree's of the same round (with `astrond`). */
  ratioToAstronMeasured?: number;
  /** The same over the measured cross-branch tree's (root between two children) of the same round. */
  ratioToAstronCrossBranch?: number;
  /** Process CPU of the routers / peers per datagram in the max phase, µs. */
  cpuUsPerDg: number;
  /** Of that, the routers' main threads' (routing, NATS), µs; the rest is their I/O threads' (mesh and Astron tree runs). */
  mainCpuUsPerDg?: number;
  /** Mesh: each node's `getStats()` after the max phase; and datagrams per NATS message they sent (all nodes). */
  routerStats?: unknown;
  datagramsPerNatsMessage?: number;
  /** Other processes' load (cores) sampled just before the run (after the quiet wait). */
  loadBefore?: number;
  wallMs: number;
}

interface MeshSummary {
  kind: string;
  datagramsPerSec: Spread;
  ratioToRaw: Spread | null;
  ratioToAstronTree: Spread;
  ratioToAstronMeasured: Spread | null;
  ratioToAstronCrossBranch: Spread | null;
  cpuUsPerDg: Spread;
  points: Array<{ load: number; ratePerSec: Spread; p50: Spread; p99: Spread; p999: Spread; serviceP99: Spread; sendLagP99: Spread; missing: number }>;
  /** Other processes' load before the runs (cores). */
  loadBefore: Spread;
  okRuns: number;
  failedRuns: number;
}

interface KillSeries {
  deadAfterMs: number;
  /** ms from SIGKILL to the post-remove's delivery, per repetition. */
  ms: number[];
  errors: string[];
  summary: Spread;
}

export interface MdMeshResult extends ResultHeader {
  options: MdMeshOptions;
  astronTreeReferencePerSec: number;
  runs: MeshRun[];
  summary: MeshSummary[];
  kill: KillSeries[];
  targets: Array<{ kind: string; target: string; value: number; pass: boolean }>;
  totalWallMs: number;
}

/** The kinds a round runs in rotation (the loopback baseline runs last in each round: it needs the mesh's rate). */
function rotated(o: MdMeshOptions): string[] {
  return [...o.natsBatches.map((b) => (b === 1 ? 'raw NATS' : `raw NATS ×${b}`)), ...o.threads.map((t) => `pandanet mesh t${t}`), ...(o.astrond !== null ? [ASTRON_TREE, ASTRON_CROSS] : [])];
}

const ASTRON_TREE = 'Astron MD tree (measured)';
/** Three astronds: a root and two children, the participants on the children (every datagram crosses the root). */
const ASTRON_CROSS = 'Astron tree, cross-branch (measured)';

const LOOPBACK = 'client loopback';

function kinds(o: MdMeshOptions): string[] {
  return [...rotated(o), ...(o.loopback ? [LOOPBACK] : [])];
}

/** Planned progress steps. */
export function mdMeshSteps(o: MdMeshOptions): number {
  return o.runs * kinds(o).length + (o.killReps > 0 ? o.deadAfterMs.length : 0);
}

/** A free TCP port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `nats-server -js` on a free port with a fresh storage directory (bounded: 10 s); `stop` kills it and removes the directory. */
async function startNats(): Promise<{ url: string; stop: () => Promise<void> }> {
  const bin = process.env['NATS_SERVER'] ?? '/usr/sbin/nats-server';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pandanet-bench-nats-'));
  const proc = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (s: string) => {
    log = (log + s).slice(-4000);
  });
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGKILL');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const until = performance.now() + 10_000;
  while (!log.includes('Server is ready')) {
    if (proc.exitCode !== null || performance.now() > until) {
      await stop();
      throw new Error(`nats-server on port ${port} not ready: ${log.slice(-800)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: `nats://127.0.0.1:${port}`, stop };
}

let clusterSeq = 0;
const clusterName = (what: string): string => `bench-${what}-${process.pid}-${++clusterSeq}`;

type PhaseCmd = Extract<NatsPeerCommand, { kind: 'phase' }>;
type PhaseAsk = PhaseCmd extends infer C ? (C extends PhaseCmd ? Omit<C, 'startMs'> : never) : never;

/** Two raw NATS peers through one phase; the merged outcome. */
async function natsPhase(ctx: RunContext, peers: Array<Child<NatsPeerMessage, NatsPeerCommand>>, cmd: PhaseAsk): Promise<{ sent: number; received: number; deliveredPerSec: number; missing: number; mismatches: number; errors: string[]; latency: Float64Array; service: Float64Array; sendLag: Float64Array; cpuUs: number }> {
  const startMs = monoMs() + 20;
  for (const p of peers) p.send({ ...cmd, startMs } as NatsPeerCommand);
  const parts: NatsPeerPhaseResult[] = [];
  for (const p of peers) parts.push(await p.next('phaseResult', ctx.left()));
  const sum = (f: (x: (typeof parts)[number]) => number): number => parts.reduce((s, x) => s + f(x), 0);
  return {
    sent: sum((x) => x.sent),
    received: sum((x) => x.received),
    deliveredPerSec: sum((x) => x.measuredReceived) / (cmd.measureMs / 1000),
    missing: parts.some((x) => x.missing < 0) ? -1 : sum((x) => x.missing),
    mismatches: sum((x) => x.mismatches),
    errors: parts.map((x) => x.firstError).filter((e) => e !== ''),
    latency: concatSamples(parts.map((x) => Float64Array.from(x.latency))),
    service: concatSamples(parts.map((x) => Float64Array.from(x.service))),
    sendLag: concatSamples(parts.map((x) => Float64Array.from(x.sendLag))),
    cpuUs: sum((x) => x.cpuUs),
  };
}

async function runRawNats(o: MdMeshOptions, kind: string, batch: number, roundNo: number): Promise<MeshRun> {
  const t0 = performance.now();
  const run: MeshRun = { round: roundNo, kind, ok: false, datagramsPerSec: Number.NaN, points: [], ratioToAstronTree: Number.NaN, cpuUsPerDg: Number.NaN, wallMs: 0 };
  const nats = await startNats();
  try {
    await bounded(o.timeoutMs, async (ctx) => {
      const prefix = `bench.raw.${clusterName('raw')}`;
      const peers = ([0, 1] as const).map((me) => ctx.spawn<NatsPeerMessage, NatsPeerCommand>(PEER, { servers: nats.url, prefix, me, batch, datagramBytes: o.datagramBytes } satisfies NatsPeerParams, `nats-peer ${kind} ${me}`));
      for (const p of peers) await p.next('ready', ctx.left());
      const bad = (r: Awaited<ReturnType<typeof natsPhase>>, what: string): string =>
        r.mismatches > 0 || r.missing !== 0 ? `${what}: ${r.mismatches} out of order or corrupt, ${r.missing < 0 ? 'end marker missing' : `${r.missing} missing`}${r.errors.length > 0 ? ` (first: ${r.errors[0]})` : ''}` : '';
      // Same total in flight as the md client: participants × inFlight, half from each peer.
      const max = await natsPhase(ctx, peers, { kind: 'phase', id: 1, mode: 'max', inFlight: (o.participants / 2) * o.inFlight, warmupMs: o.maxWarmupMs, measureMs: o.maxMeasureMs, drainMs: o.drainMs });
      const b = bad(max, 'max phase');
      if (b !== '') throw new Error(b);
      run.datagramsPerSec = max.deliveredPerSec;
      run.ratioToAstronTree = run.datagramsPerSec / ASTRON_TREE_REFERENCE_PER_SEC;
      run.cpuUsPerDg = max.cpuUs / Math.max(1, max.received);
      const failures: string[] = [];
      let id = 2;
      if (o.settleMs > 0) {
        const low = Math.max(100, Math.round(run.datagramsPerSec * Math.min(...o.loads)));
        const s = await natsPhase(ctx, peers, { kind: 'phase', id: id++, mode: 'rate', ratePerSec: low / 2, warmupMs: 0, measureMs: o.settleMs, drainMs: o.drainMs, tickUs: o.tickUs });
        const sb = bad(s, 'settling phase');
        if (sb !== '') failures.push(sb);
      }
      for (const load of o.loads) {
        const rate = Math.max(100, Math.round(run.datagramsPerSec * load));
        const ph = await natsPhase(ctx, peers, { kind: 'phase', id: id++, mode: 'rate', ratePerSec: rate / 2, warmupMs: o.warmupMs, measureMs: o.measureMs, drainMs: o.drainMs, tickUs: o.tickUs });
        const pb = bad(ph, `${Math.round(load * 100)} % load`);
        if (pb !== '') failures.push(pb);
        const pct = (x: Float64Array): Percentiles | null => (x.length > 0 ? summarizeSample(x) : null);
        run.points.push({ load, ratePerSec: rate, deliveredPerSec: ph.deliveredPerSec, latency: pct(ph.latency), service: pct(ph.service), sendLag: pct(ph.sendLag), missing: Math.max(0, ph.missing) });
      }
      for (const p of peers) p.send({ kind: 'end' });
      for (const p of peers) await p.exit(Math.min(3000, ctx.left()));
      if (failures.length > 0) throw new Error(failures.join('; '));
    });
    run.ok = true;
  } catch (err) {
    run.error = errText(err);
  } finally {
    await nats.stop();
  }
  run.wallMs = performance.now() - t0;
  return run;
}

/** A run of the md client through `params` (the mesh's two nodes, or the loopback router), as a MeshRun. */
async function runClientKind(o: MdMeshOptions, kind: string, params: MdRouterParams | MdRouterParams[], roundNo: number, ratesPerSec?: number[]): Promise<MeshRun> {
  const t0 = performance.now();
  {
    const r = await runMdKind(o, kind, params, roundNo, ASTRON_TREE_REFERENCE_PER_SEC, ratesPerSec);
    const run: MeshRun = {
      round: roundNo,
      kind,
      ok: r.ok,
      ...(r.error !== undefined ? { error: r.error } : {}),
      datagramsPerSec: r.datagramsPerSec,
      points: r.points.map((p) => ({ load: p.load, ratePerSec: p.ratePerSec, deliveredPerSec: p.deliveredPerSec, latency: p.latency, service: p.service, sendLag: p.sendLag, missing: p.missing })),
      ratioToAstronTree: r.ratioToAstron,
      cpuUsPerDg: r.max?.processCpuUsPerDg ?? Number.NaN,
      ...(r.max !== null && r.max !== undefined ? { mainCpuUsPerDg: r.max.mainCpuUsPerDg } : {}),
      routerStats: r.routerStats,
      wallMs: performance.now() - t0,
    };
    if (Array.isArray(r.routerStats)) {
      const st = r.routerStats as Array<{ meshDatagramsOut?: number; meshBatchesOut?: number } | null>;
      const dg = st.reduce((x, y) => x + (y?.meshDatagramsOut ?? 0), 0);
      const msgs = st.reduce((x, y) => x + (y?.meshBatchesOut ?? 0), 0);
      if (msgs > 0) run.datagramsPerNatsMessage = round(dg / msgs, 2);
    }
    return run;
  }
}

/** A two-node Astron tree: astrond root on one free port, astrond child on another connected to it. */
async function runAstronTree(o: MdMeshOptions, kind: string, roundNo: number): Promise<MeshRun> {
  const root = await freePort();
  const child = await freePort();
  const bin = o.astrond!;
  return runClientKind(o, kind, [
    { router: 'astron', threads: 0, name: 'astron-root', astron: { bin, port: root } },
    { router: 'astron', threads: 0, name: 'astron-child', astron: { bin, port: child, upstreamPort: root } },
  ], roundNo);
}

/**
 * A three-node Astron tree: a root and two children connected to it, participants on the children
 * only, so every datagram goes child → root → child (Astron's cross-branch path).
 */
async function runAstronCrossBranch(o: MdMeshOptions, kind: string, roundNo: number): Promise<MeshRun> {
  const [root, a, b] = [await freePort(), await freePort(), await freePort()];
  const bin = o.astrond!;
  return runClientKind(o, kind, [
    { router: 'astron', threads: 0, name: 'astron-root', relayOnly: true, astron: { bin, port: root } },
    { router: 'astron', threads: 0, name: 'astron-child-a', astron: { bin, port: a, upstreamPort: root } },
    { router: 'astron', threads: 0, name: 'astron-child-b', astron: { bin, port: b, upstreamPort: root } },
  ], roundNo);
}

async function runMesh(o: MdMeshOptions, kind: string, threads: number, roundNo: number): Promise<MeshRun> {
  const nats = await startNats();
  try {
    const cluster = clusterName('mesh');
    const params: MdRouterParams[] = [1, 2].map((n) => ({ router: 'pandanet', threads, name: `n${n}`, nats: { servers: nats.url, cluster } }));
    return await runClientKind(o, kind, params, roundNo);
  } finally {
    await nats.stop();
  }
}

/** An Astron frame (u16 LE length + datagram). */
function frame(body: Buffer): Buffer {
  const b = Buffer.alloc(2 + body.length);
  b.writeUInt16LE(body.length, 0);
  body.copy(b, 2);
  return b;
}
/** A datagram to one channel: `01 · u64 to · u64 from · u16 msgtype · payload`. */
function mdDatagram(to: number, from: number, msgType: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(19 + payload.length);
  b[0] = 1;
  b.writeBigUInt64LE(BigInt(to), 1);
  b.writeBigUInt64LE(BigInt(from), 9);
  b.writeUInt16LE(msgType, 17);
  payload.copy(b, 19);
  return b;
}
/** A control datagram (recipient CONTROL = 1): `01 · u64 1 · u16 msgtype · body`. */
function control(msgType: number, body: Buffer): Buffer {
  const b = Buffer.alloc(11 + body.length);
  b[0] = 1;
  b.writeBigUInt64LE(1n, 1);
  b.writeUInt16LE(msgType, 9);
  body.copy(b, 11);
  return b;
}

function connectTo(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** kill -9 step for one `deadAfterMs`: `reps` times, a fresh doomed node; ms from SIGKILL to the post-remove's delivery. */
async function killSeries(o: MdMeshOptions, deadAfterMs: number, progress: Progress): Promise<KillSeries> {
  const ms: number[] = [];
  const errors: string[] = [];
  const nats = await startNats();
  try {
    await bounded(30_000 + o.killReps * (deadAfterMs * 3 + 10_000), async (ctx) => {
      const cluster = clusterName('kill');
      const np = { servers: nats.url, cluster, deadAfterMs };
      const survivor = ctx.spawn<MdRouterMessage, MdRouterCommand>(ROUTER, { router: 'pandanet', threads: 1, name: 'survivor', nats: np } satisfies MdRouterParams, 'md-router survivor');
      const sPort = (await survivor.next('listening', ctx.left())).port;
      const a = await connectTo(sPort);
      let got: Buffer = Buffer.alloc(0);
      let gotAt = 0;
      a.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
        if (gotAt === 0) gotAt = performance.now();
      });
      a.on('error', () => undefined);
      const chan = Buffer.alloc(8);
      chan.writeBigUInt64LE(700n);
      a.write(frame(control(9000, chan))); // ADD_CHANNEL 700
      const { connect } = await import('@nats-io/transport-node');
      const { Kvm } = await import('@nats-io/kv');
      const nc = await connect({ servers: nats.url });
      try {
        for (let rep = 0; rep < o.killReps; rep++) {
          const doomed = ctx.spawn<MdRouterMessage, MdRouterCommand>(ROUTER, { router: 'pandanet', threads: 1, name: `doomed${rep}`, nats: np } satisfies MdRouterParams, `md-router doomed ${rep}`);
          const dPort = (await doomed.next('listening', ctx.left())).port;
          const v = await connectTo(dPort);
          v.on('error', () => undefined);
          const pr = mdDatagram(700, 9000 + rep, 4244, Buffer.from([rep]));
          const body = Buffer.alloc(8 + 2 + pr.length);
          body.writeBigUInt64LE(BigInt(5 + rep), 0);
          body.writeUInt16LE(pr.length, 8);
          pr.copy(body, 10);
          v.write(frame(control(9010, body))); // ADD_POST_REMOVE
          // Wait until the post-remove is in the cluster's KV bucket (bounded).
          const kv = await new Kvm(nc).open(`pandanet-md-${cluster}`);
          const until = performance.now() + 10_000;
          let stored = 0;
          while (stored === 0) {
            if (performance.now() > until) throw new Error(`deadAfterMs ${deadAfterMs} rep ${rep}: the post-remove never reached the KV bucket`);
            stored = 0;
            for await (const key of await kv.keys('pr.>')) if (key.length > 0) stored++;
            if (stored === 0) await new Promise((r) => setTimeout(r, 20));
          }
          got = Buffer.alloc(0);
          gotAt = 0;
          const t0 = performance.now();
          doomed.proc.kill('SIGKILL');
          const want = frame(pr);
          const by = t0 + deadAfterMs * 3 + 10_000;
          while (gotAt === 0 && performance.now() < by) await new Promise((r) => setTimeout(r, 1));
          if (gotAt === 0) errors.push(`rep ${rep}: not delivered within ${Math.round(by - t0)} ms`);
          else {
            ms.push(round(gotAt - t0, 1));
            await new Promise((r) => setTimeout(r, 50)); // a duplicate would show here
            if (!got.equals(want)) errors.push(`rep ${rep}: received ${got.length} bytes, not exactly the post-remove once`);
          }
          v.destroy();
          await doomed.exit(Math.min(3000, ctx.left())).catch(() => undefined);
          // Its KV key is gone once fired; the next rep's wait looks for the new one.
          const clearBy = performance.now() + 5000;
          for (;;) {
            let left = 0;
            for await (const key of await kv.keys('pr.>')) if (key.length > 0) left++;
            if (left === 0 || performance.now() > clearBy) break;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      } finally {
        await nc.close();
        a.destroy();
        survivor.send({ kind: 'stop' });
        await survivor.exit(Math.min(3000, ctx.left())).catch(() => undefined);
      }
    });
  } catch (err) {
    errors.push(errText(err));
  } finally {
    await nats.stop();
  }
  progress.step();
  progress.log(`md-mesh kill -9, deadAfterMs ${deadAfterMs}: ${ms.map((x) => `${x} ms`).join(', ')}${errors.length > 0 ? `; errors: ${errors.join('; ')}` : ''}`);
  return { deadAfterMs, ms, errors, summary: spread(ms) };
}

/** The spread of the values that are there, or null when none is (a ratio this kind has no baseline for). */
function spreadOfPresent(xs: ReadonlyArray<number | undefined>): Spread | null {
  const present = xs.filter((x): x is number => x !== undefined);
  return present.length > 0 ? spread(present) : null;
}

function summarize(o: MdMeshOptions, runs: MeshRun[]): MeshSummary[] {
  return kinds(o).map((kind) => {
    const mine = runs.filter((r) => r.kind === kind);
    const ok = mine.filter((r) => r.ok);
    return {
      kind,
      datagramsPerSec: spread(ok.map((r) => r.datagramsPerSec)),
      ratioToRaw: spreadOfPresent(ok.map((r) => r.ratioToRaw)),
      ratioToAstronTree: spread(ok.map((r) => r.ratioToAstronTree)),
      ratioToAstronMeasured: spreadOfPresent(ok.map((r) => r.ratioToAstronMeasured)),
      ratioToAstronCrossBranch: spreadOfPresent(ok.map((r) => r.ratioToAstronCrossBranch)),
      cpuUsPerDg: spread(ok.map((r) => r.cpuUsPerDg)),
      points: o.loads.map((load) => {
        const ps = ok.map((r) => r.points.find((p) => p.load === load)).filter((p) => p !== undefined);
        return {
          load,
          ratePerSec: spread(ps.map((p) => p.ratePerSec)),
          p50: spread(ps.map((p) => p.latency?.p50 ?? Number.NaN)),
          p99: spread(ps.map((p) => p.latency?.p99 ?? Number.NaN)),
          p999: spread(ps.map((p) => p.latency?.p999 ?? Number.NaN)),
          serviceP99: spread(ps.map((p) => p.service?.p99 ?? Number.NaN)),
          sendLagP99: spread(ps.map((p) => p.sendLag?.p99 ?? Number.NaN)),
          missing: ps.reduce((s, p) => s + p.missing, 0),
        };
      }),
      loadBefore: spread(mine.map((r) => r.loadBefore ?? Number.NaN)),
      okRuns: ok.length,
      failedRuns: mine.length - ok.length,
    };
  });
}

/** The throughput and latency table. */
export function mdMeshTable(r: MdMeshResult): string {
  const rows: string[][] = r.summary.map((s) => {
    const p = s.points[0];
    return [
      s.kind,
      range(s.datagramsPerSec, k),
      s.kind === 'raw NATS' ? '1' : range(s.ratioToRaw, f2),
      range(s.ratioToAstronTree, f2),
      range(s.ratioToAstronMeasured, f2),
      range(s.ratioToAstronCrossBranch, f2),
      range(s.cpuUsPerDg, f2),
      p === undefined ? '—' : `${Math.round(p.load * 100)} %: ${range(p.ratePerSec, k)}`,
      p === undefined ? '—' : range(p.p50, us),
      p === undefined ? '—' : range(p.p99, us),
      p === undefined ? '—' : range(p.p999, us),
      p === undefined ? '—' : range(p.serviceP99, us),
      p === undefined ? '—' : range(p.sendLagP99, us),
      p === undefined ? '—' : int(p.missing),
      range(s.loadBefore, f2),
      `${s.okRuns}/${s.okRuns + s.failedRuns}`,
    ];
  });
  rows.push(['Astron MD tree, two nodes (reference: quoted from the protocol notes)', `~${k(r.astronTreeReferencePerSec)}`, '—', '1', '—', '—', '—', '—', '—', '—', '—', '—', '—', '—', '—', '—']);
  return mdTable(
    ['path (cross-node)', 'datagrams/s median (min–max)', '× raw NATS, one per message (same round)', `× Astron tree (quoted ~${k(r.astronTreeReferencePerSec)}/s)`, '× Astron tree measured (same round)', '× Astron cross-branch tree measured (same round)', 'routers’ / peers’ process CPU µs/dg', 'open-loop load: offered dg/s', 'p50', 'p99', 'p99.9', 'p99 from the actual write', 'senders’ ticker lateness p99', 'missing (all runs)', 'other processes’ load before the run, cores', 'ok/runs'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  );
}

/** The kill -9 table. */
export function mdMeshKillTable(r: MdMeshResult): string {
  return mdTable(
    ['deadAfterMs', 'SIGKILL → post-remove delivered: min', 'median', 'max', 'repetitions ok', 'errors'],
    ['r', 'r', 'r', 'r', 'r', 'l'],
    r.kill.map((s) => [int(s.deadAfterMs), `${f2(s.summary.min)} ms`, `${f2(s.summary.median)} ms`, `${f2(s.summary.max)} ms`, `${s.ms.length}/${r.options.killReps}`, s.errors.length === 0 ? '—' : s.errors.join('; ')]),
  );
}

/** Runs the md-mesh workload. */
export async function runMdMesh(options: Partial<MdMeshOptions>, progress: Progress): Promise<MdMeshResult> {
  const o: MdMeshOptions = { ...MD_MESH_DEFAULTS, ...(options.quick === true ? MD_MESH_QUICK : {}), ...options };
  const threads = Math.max(1, o.clientThreads);
  if (o.participants % (2 * threads) !== 0) throw new Error(`md-mesh: participants must be a multiple of 2 × client threads (${2 * threads}), each thread's share even`);
  if (o.loads.length === 0) throw new Error('md-mesh: loads must not be empty');
  const started = performance.now();
  const header = resultHeader('md-mesh');
  const ks = kinds(o);
  const runs: MeshRun[] = [];
  console.log(
    `md-mesh: two nodes over a nats-server started per run; ${o.participants} participants (half on each node, each sending only to the other node's), ${o.datagramBytes} B datagrams, ${o.inFlight} in flight per participant; raw NATS peers with the same total in flight (${o.natsBatches.map((b) => `${b}/message`).join(', ')}); ${o.runs} rounds; open loop at ${o.loads.map((l) => `${l * 100} %`).join('/')}; ${o.astrond !== null ? `Astron trees measured (two nodes; root between two children) (${o.astrond})` : `Astron tree ~${k(ASTRON_TREE_REFERENCE_PER_SEC)} dg/s (quoted)`}; ticker ${o.tickUs} µs${o.loopback ? '; client loopback at the mesh rate' : ''}; kill -9: ${o.killReps} × deadAfterMs ${o.deadAfterMs.join('/')}`,
  );
  const quiet = new Quiet({ perRunMs: o.quietWaitMs, cores: 0.25, budgetMs: Math.max(o.quietBudgetMs, o.quietWaitMs * ks.length * o.runs) });
  const rot = rotated(o);
  for (let roundNo = 1; roundNo <= o.runs; roundNo++) {
    const shift = (roundNo - 1) % rot.length;
    const thisRound: MeshRun[] = [];
    for (const kind of [...rot.slice(shift), ...rot.slice(0, shift), ...ks.filter((x) => !rot.includes(x))]) {
      progress.setNote(`md-mesh ${kind} round ${roundNo}`);
      const loadBefore = (await quiet.wait()).load;
      const meshRates = (): number[] | undefined => {
        const m = thisRound.find((r) => r.kind.startsWith('pandanet mesh') && r.ok);
        return m === undefined ? undefined : o.loads.map((l) => m.points.find((p) => p.load === l)?.ratePerSec ?? Math.round(m.datagramsPerSec * l));
      };
      const run = kind.startsWith('raw NATS')
        ? await runRawNats(o, kind, kind === 'raw NATS' ? 1 : Number(kind.slice('raw NATS ×'.length)), roundNo)
        : kind === LOOPBACK
          ? await runClientKind(o, kind, { router: 'baseline', threads: 0, flush: 'tick', crossLoopback: true }, roundNo, meshRates())
          : kind === ASTRON_TREE
            ? await runAstronTree(o, kind, roundNo)
            : kind === ASTRON_CROSS
              ? await runAstronCrossBranch(o, kind, roundNo)
              : await runMesh(o, kind, Number(kind.slice('pandanet mesh t'.length)), roundNo);
      run.loadBefore = round(loadBefore, 2);
      runs.push(run);
      thisRound.push(run);
      progress.step();
      progress.log(
        run.ok
          ? `md-mesh r${roundNo} ${kind.padEnd(18)} max ${k(run.datagramsPerSec)} dg/s (${f2(run.ratioToAstronTree)}× Astron tree), ${f2(run.cpuUsPerDg)} µs/dg${run.mainCpuUsPerDg !== undefined ? ` (main threads ${f2(run.mainCpuUsPerDg)})` : ''}${run.datagramsPerNatsMessage !== undefined ? `, ${f2(run.datagramsPerNatsMessage)} dg per NATS message (max phase, warm-up included)` : ''}; ${run.points.map((p) => `${k(p.ratePerSec)}/s (${p.load * 100}%): p50 ${us(p.latency?.p50 ?? Number.NaN)} p99 ${us(p.latency?.p99 ?? Number.NaN)} p99.9 ${us(p.latency?.p999 ?? Number.NaN)}, from write p99 ${us(p.service?.p99 ?? Number.NaN)}, ticker lateness p99 ${us(p.sendLag?.p99 ?? Number.NaN)}`).join('; ')} (${(run.wallMs / 1000).toFixed(1)} s; other load before ${f2(loadBefore)} cores)`
          : `md-mesh r${roundNo} ${kind} FAILED: ${run.error}`,
      );
    }
    const raw = thisRound.find((r) => r.kind === 'raw NATS');
    for (const r of thisRound) if (r.ok && raw?.ok === true && r !== raw) r.ratioToRaw = r.datagramsPerSec / raw.datagramsPerSec;
    const astron = thisRound.find((r) => r.kind === ASTRON_TREE);
    for (const r of thisRound) if (r.ok && astron?.ok === true) r.ratioToAstronMeasured = r.datagramsPerSec / astron.datagramsPerSec;
    const cross = thisRound.find((r) => r.kind === ASTRON_CROSS);
    for (const r of thisRound) if (r.ok && cross?.ok === true) r.ratioToAstronCrossBranch = r.datagramsPerSec / cross.datagramsPerSec;
  }
  const kill: KillSeries[] = [];
  if (o.killReps > 0) for (const d of o.deadAfterMs) kill.push(await killSeries(o, d, progress));
  const summary = summarize(o, runs);
  const targets: MdMeshResult['targets'] = [];
  for (const s of summary) {
    if (!s.kind.startsWith('pandanet') || s.okRuns === 0) continue;
    if (s.ratioToAstronMeasured !== null) {
      targets.push({ kind: s.kind, target: `cross-node ≥ ${MESH_TARGET_TIMES}× the two-node Astron tree (measured, same round)`, value: round(s.ratioToAstronMeasured.median, 2), pass: s.ratioToAstronMeasured.median >= MESH_TARGET_TIMES });
    } else {
      targets.push({ kind: s.kind, target: `cross-node ≥ ${MESH_TARGET_TIMES}× the two-node Astron tree (~${k(ASTRON_TREE_REFERENCE_PER_SEC)} dg/s, reference)`, value: round(s.ratioToAstronTree.median, 2), pass: s.ratioToAstronTree.median >= MESH_TARGET_TIMES });
    }
    if (s.ratioToAstronCrossBranch !== null) {
      targets.push({ kind: s.kind, target: `cross-node ≥ ${MESH_TARGET_TIMES}× the cross-branch Astron tree (root between two children; measured, same round)`, value: round(s.ratioToAstronCrossBranch.median, 2), pass: s.ratioToAstronCrossBranch.median >= MESH_TARGET_TIMES });
    }
    const p = s.points.find((x) => x.load === 0.5);
    if (p !== undefined) targets.push({ kind: s.kind, target: `p99 ≤ ${MESH_TARGET_P99_US / 1000} ms at 50 % load (µs)`, value: Math.round(p.p99.median), pass: p.p99.median <= MESH_TARGET_P99_US });
  }
  const result: MdMeshResult = { ...header, options: o, astronTreeReferencePerSec: ASTRON_TREE_REFERENCE_PER_SEC, runs, summary, kill, targets, totalWallMs: Math.round(performance.now() - started) };
  const t1 = mdMeshTable(result);
  const t2 = kill.length > 0 ? mdMeshKillTable(result) : '';
  const targetLines = targets.map((t) => `- ${t.pass ? 'MET' : 'MISSED'} ${t.kind}: ${t.target}: ${t.value}${t.target.includes('µs') ? '' : '×'}`);
  const failures = runs.filter((r) => !r.ok).map((r) => `- ${r.kind} round ${r.round}: ${r.error}`);
  console.log('');
  console.log(t1);
  if (t2 !== '') console.log(`\n${t2}`);
  console.log('');
  for (const l of targetLines) console.log(l);
  if (failures.length > 0) console.log(`\nFailed runs (left out of the medians):\n${failures.join('\n')}`);
  if (o.save) {
    const base = resultBase('md-mesh', header.date, o.quick);
    const md = `${markdownHeader('Message directors, two nodes over NATS (cross-node)', header, [
      `${o.participants} participants, half on each of two \`MessageDirector\` processes joined through one nats-server (started per run, JetStream on), each sending ${o.datagramBytes} B Astron-header datagrams only to participants on the other node, every datagram checked; client in a separate process (${o.clientThreads} piscina threads); ${o.runs} rounds, kinds in a rotating order, fresh processes and nats-server per run`,
      `Raw NATS: two Node processes publishing to each other (\`@nats-io/transport-node\`, core pub/sub), ${o.natsBatches.map((b) => (b === 1 ? 'one datagram per message' : `up to ${b} datagrams per message`)).join(' / ')}, the same total in flight (${o.participants} × ${o.inFlight}) and the same phases`,
      `Throughput: closed loop, ${o.maxWarmupMs} ms warm-up, ${o.maxMeasureMs} ms measured. Latency: open loop at ${o.loads.map((l) => `${l * 100} %`).join('/')} of each path's own max, delay from the due time (no coordinated omission), ${o.warmupMs} + ${o.measureMs} ms`,
      o.astrond !== null
        ? `Astron: a two-node Astron MD tree measured in every round — a root \`astrond\` and a child connected to it (a native build of Astron's source at ${o.astrond}, message director only), even participants on the root, odd on the child, the same client, checks and phases; ratios are to it, same round (the quoted ~${k(ASTRON_TREE_REFERENCE_PER_SEC)}/s is shown for reference). Also a cross-branch tree: a root and two children, the participants on the children only, so every datagram goes child → root → child`
        : `Astron: ~${k(ASTRON_TREE_REFERENCE_PER_SEC)} datagrams/s cross-node through a two-node Astron MD tree (a Node client, this box), quoted from the protocol reference; not measured in this run`,
      `Open-loop senders tick every ${o.tickUs} µs (${o.tickUs >= 1000 ? '`setTimeout(f, 1)`' : 'a clock thread, bench/e2e/md-ticker.ts'}); “ticker lateness” is how late the senders wrote each datagram after its due time, “from the actual write” the delay without it${o.loopback ? '; “client loopback”: the same client against one plain `node:net` router at the round’s mesh rate, the floor the client and one trivial hop set' : ''}`,
    ])}\n## Cross-node throughput and latency\n\n${t1}\n${t2 !== '' ? `\n## Post-removes after kill -9 of a node\n\n${t2}\n` : ''}\n## Targets\n\n${targetLines.join('\n')}\n${failures.length > 0 ? `\n## Failed runs (left out of the medians)\n\n${failures.join('\n')}\n` : ''}`;
    console.log(`\nfiles: ${saveResult(base, result, md).join(', ')}`);
  }
  return result;
}
