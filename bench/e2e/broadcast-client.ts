/**
 * The broadcast workload's game clients: a separate process whose connections run in a piscina
 * pool (bench/e2e/broadcast-task.ts); "go" and "stop" reach the tasks through shared words.
 * Merges the tasks' counts and delay samples (exact percentiles).
 *
 * Usage (by the orchestrator only): `fork(broadcast-client.js, [JSON BroadcastClientParams])`.
 *
 * Thread: main thread of the broadcast-client process.
 * @module
 */
import { Piscina } from 'piscina';
import { concatSamples, summarizeSample, type Percentiles } from '../lib/percentiles.js';
import { waitAsync } from '../lib/wait-async.js';
import { BcWord, type BroadcastTaskInit, type BroadcastTaskResult } from './broadcast-task.js';
import { paramsFromArgv } from './protocol.js';

export interface BroadcastClientParams {
  host: string;
  transport: 'tcp' | 'ws';
  port: number;
  connections: number;
  clientThreads: number;
  payloadBytes: number;
  inputHz: number;
  inputBytes: number;
  deadlineMs: number;
}

export type BroadcastClientCommand = { kind: 'go' } | { kind: 'stop' };

export type BroadcastClientMessage =
  | { kind: 'ready'; connections: number }
  | {
      kind: 'result';
      connections: number;
      received: number;
      gaps: number;
      mismatches: number;
      inputsSent: number;
      /** Datagrams each connection still missed at the end, summed against the highest tick any connection saw. */
      tailMissing: number;
      delay: Percentiles;
      /** From the tick's scheduled time to receipt. */
      tickDelay: Percentiles;
      clientCpuUs: number;
      errors: string[];
    }
  | { kind: 'error'; message: string };

function send(m: BroadcastClientMessage): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  const p = paramsFromArgv<BroadcastClientParams>();
  const threads = Math.max(1, Math.min(p.clientThreads, p.connections));
  const pool = new Piscina<BroadcastTaskInit, BroadcastTaskResult>({
    filename: new URL('./broadcast-task.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: 1,
    idleTimeout: 10 * 60_000,
    atomics: 'disabled',
  });
  const sab = new SharedArrayBuffer(16);
  const sync = new Int32Array(sab);
  const tasks: Array<Promise<BroadcastTaskResult>> = [];
  let first = 0;
  for (let t = 0; t < threads; t++) {
    const n = Math.floor(p.connections / threads) + (t < p.connections % threads ? 1 : 0);
    tasks.push(pool.run({ host: p.host, port: p.port, transport: p.transport, firstConnection: first, connections: n, payloadBytes: p.payloadBytes, inputHz: p.inputHz, inputBytes: p.inputBytes, sync: sab, deadlineMs: p.deadlineMs }));
    first += n;
  }
  const readyBy = performance.now() + 60_000;
  while (Atomics.load(sync, BcWord.READY) < threads) {
    if (performance.now() > readyBy) throw new Error('clients did not connect within 60 s');
    await waitAsync(sync, BcWord.READY, Atomics.load(sync, BcWord.READY), 100);
  }
  let cpu0 = process.cpuUsage();
  process.on('message', (m: BroadcastClientCommand) => {
    if (m.kind === 'go') {
      cpu0 = process.cpuUsage();
      Atomics.store(sync, BcWord.GO, 1);
      Atomics.notify(sync, BcWord.GO);
    } else if (m.kind === 'stop') {
      Atomics.store(sync, BcWord.STOP, 1);
      Atomics.notify(sync, BcWord.STOP);
    }
  });
  send({ kind: 'ready', connections: p.connections });
  const results = await Promise.all(tasks);
  const cpu = process.cpuUsage(cpu0);
  const lastTicks = results.flatMap((r) => r.lastTick);
  const top = Math.max(-1, ...lastTicks);
  const sum = (f: (r: BroadcastTaskResult) => number): number => results.reduce((s, r) => s + f(r), 0);
  send({
    kind: 'result',
    connections: sum((r) => r.connections),
    received: sum((r) => r.received),
    gaps: sum((r) => r.gaps),
    mismatches: sum((r) => r.mismatches),
    inputsSent: sum((r) => r.inputsSent),
    tailMissing: lastTicks.reduce((s, t) => s + (top - t), 0),
    delay: summarizeSample(concatSamples(results.map((r) => r.delaysUs))),
    tickDelay: summarizeSample(concatSamples(results.map((r) => r.tickDelaysUs))),
    clientCpuUs: cpu.user + cpu.system,
    errors: results.flatMap((r) => r.errors),
  });
  await pool.destroy();
  process.disconnect?.();
}

main().catch((err: unknown) => {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
