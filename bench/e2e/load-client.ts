/**
 * The echo benchmark's load generator: a separate process (forked by the orchestrator) that opens
 * the connections and drives the load from a piscina pool of `clientThreads` worker threads.
 *
 * piscina fits here: the load is a finite, CPU-bound job that splits into independent shares; each
 * task owns its connections only for the bounded run and returns its counts. The pool is made with
 * `atomics: 'disabled'` (an idle piscina worker must not sit in Atomics.wait while a sibling task
 * still runs sockets on it) and an idle timeout longer than any run. The tasks start together: each
 * connects, then waits on a shared "go" word that this thread sets when the orchestrator says go.
 * With `warmupPerConnection`, an unmeasured pass on connections of its own runs first, on the same
 * threads, so that the measured pass does not include the client's own JIT warm-up.
 *
 * Usage (by the orchestrator only): `fork(load-client.js, [JSON ClientParams])`, IPC per
 * `protocol.ts`.
 *
 * Thread: main thread of the load-client process.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { waitAsync } from '../lib/wait-async.js';
import { SyncWord, type LoadTask } from './load-task.js';
import { paramsFromArgv, type ClientCommand, type ClientMessage, type ClientParams, type TaskResult } from './protocol.js';

function send(m: ClientMessage): void {
  process.send?.(m);
}

/** Resolves on each command of a kind from the orchestrator, in order. */
function commands(): (kind: ClientCommand['kind']) => Promise<void> {
  const waiting = new Map<string, Array<() => void>>();
  const early = new Map<string, number>();
  process.on('message', (m: ClientCommand) => {
    if (m.kind !== 'go' && m.kind !== 'next') throw new Error(`unknown command ${JSON.stringify(m)}`);
    const w = waiting.get(m.kind)?.shift();
    if (w !== undefined) w();
    else early.set(m.kind, (early.get(m.kind) ?? 0) + 1);
  });
  return (kind) =>
    new Promise<void>((resolve) => {
      const n = early.get(kind) ?? 0;
      if (n > 0) {
        early.set(kind, n - 1);
        resolve();
      } else waiting.set(kind, [...(waiting.get(kind) ?? []), resolve]);
    });
}

/**
 * One pass: the tasks open their connections and report READY; then `ready` to the orchestrator,
 * wait for `go`, run, and send the `result`.
 */
async function pass(pool: Piscina<LoadTask, TaskResult>, p: ClientParams, perConnection: number, threads: number, next: (kind: ClientCommand['kind']) => Promise<void>): Promise<void> {
  const syncSab = new SharedArrayBuffer(8);
  const sync = new Int32Array(syncSab);
  const tasks: Array<Promise<TaskResult>> = [];
  let first = 0;
  for (let t = 0; t < threads; t++) {
    const n = Math.floor(p.connections / threads) + (t < p.connections % threads ? 1 : 0);
    tasks.push(
      pool.run({
        host: p.host,
        port: p.port,
        firstConnection: first,
        connections: n,
        perConnection,
        inFlight: p.inFlight,
        payloadBytes: p.payloadBytes,
        sync: syncSab,
        deadlineMs: p.taskDeadlineMs,
      }),
    );
    first += n;
  }

  // Every task connected (READY == threads), bounded.
  const readyBy = performance.now() + 30_000;
  while (Atomics.load(sync, SyncWord.READY) < threads) {
    if (performance.now() > readyBy) throw new Error('load tasks did not connect within 30 s');
    const seen = Atomics.load(sync, SyncWord.READY);
    await waitAsync(sync, SyncWord.READY, seen, 100);
  }
  send({ kind: 'ready' });
  await next('go');
  const goAbs = performance.timeOrigin + performance.now();
  const cpu0 = process.cpuUsage();
  Atomics.store(sync, SyncWord.GO, 1);
  Atomics.notify(sync, SyncWord.GO);

  const results = await Promise.all(tasks);
  const cpu = process.cpuUsage(cpu0);
  const done = results.flatMap((r) => r.connectionDoneAbsMs).sort((a, b) => a - b);
  const medianDone = done.length === 0 ? Number.NaN : done[Math.floor((done.length - 1) / 2)]! - goAbs;
  const echoes = results.reduce((s, r) => s + r.echoes, 0);
  const mismatches = results.reduce((s, r) => s + r.mismatches, 0);
  const end = Math.max(...results.map((r) => r.endAbsMs));
  const errors = results.flatMap((r) => r.errors);
  if (results.some((r) => r.timedOut)) errors.push('a load task hit its deadline');
  send({ kind: 'result', echoes, expected: p.connections * perConnection, mismatches, elapsedMs: end - goAbs, medianConnectionDoneMs: medianDone, clientCpuUs: cpu.user + cpu.system, tasks: results.map((r) => ({ ...r, connectionDoneAbsMs: [] })), errors });
}

async function main(): Promise<void> {
  const p = paramsFromArgv<ClientParams>();
  const threads = Math.max(1, Math.min(p.clientThreads, p.connections));
  const pool = new Piscina<LoadTask, TaskResult>({
    filename: new URL('./load-task.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: 1,
    idleTimeout: 10 * 60_000,
    atomics: 'disabled',
  });
  const next = commands();
  // The warm-up pass runs on the same piscina threads as the measured one: their code is then warm.
  if (p.warmupPerConnection > 0) {
    await pass(pool, p, p.warmupPerConnection, threads, next);
    await next('next'); // the server's warm-up window is closed: the measured connections count in the next one
  }
  await pass(pool, p, p.perConnection, threads, next);
  await pool.destroy();
  process.disconnect?.();
}

main().catch((err: unknown) => {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
