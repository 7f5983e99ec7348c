/**
 * The `udp` workload's load generator: a separate process running `clientThreads` piscina tasks
 * (bench/e2e/udp-task.ts) that start together on a shared "go" word.
 *
 * Thread: main thread of the udp-client process.
 * @module
 */
import { Piscina } from 'piscina';
import { waitAsync } from '../lib/wait-async.js';
import { paramsFromArgv } from './protocol.js';
import { UdpWord, type UdpTaskInit, type UdpTaskResult } from './udp-task.js';

export interface UdpClientParams {
  port: number;
  clientThreads: number;
  socketsPerThread: number;
  window: number;
  payloadBytes: number;
  warmupMs: number;
  measureMs: number;
  lossTimeoutMs: number;
}

export type UdpClientCommand = { kind: 'go' };
export type UdpClientMessage =
  | { kind: 'ready' }
  | { kind: 'result'; sent: number; received: number; measuredReceived: number; lost: number; badReplies: number; clientCpuUs: number; errors: string[] }
  | { kind: 'error'; message: string };

function send(m: UdpClientMessage): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  const p = paramsFromArgv<UdpClientParams>();
  const pool = new Piscina<UdpTaskInit, UdpTaskResult>({
    filename: new URL('./udp-task.js', import.meta.url).href,
    minThreads: p.clientThreads,
    maxThreads: p.clientThreads,
    concurrentTasksPerWorker: 1,
    idleTimeout: 10 * 60_000,
    atomics: 'disabled',
  });
  const sab = new SharedArrayBuffer(8);
  const sync = new Int32Array(sab);
  const tasks = Array.from({ length: p.clientThreads }, () =>
    pool.run({ port: p.port, sockets: p.socketsPerThread, window: p.window, payloadBytes: p.payloadBytes, warmupMs: p.warmupMs, measureMs: p.measureMs, lossTimeoutMs: p.lossTimeoutMs, sync: sab }),
  );
  const readyBy = performance.now() + 30_000;
  while (Atomics.load(sync, UdpWord.READY) < p.clientThreads) {
    if (performance.now() > readyBy) throw new Error('udp tasks not ready within 30 s');
    await waitAsync(sync, UdpWord.READY, Atomics.load(sync, UdpWord.READY), 100);
  }
  let cpu0 = process.cpuUsage();
  process.on('message', (m: UdpClientCommand) => {
    if (m.kind === 'go') {
      cpu0 = process.cpuUsage();
      Atomics.store(sync, UdpWord.GO, 1);
      Atomics.notify(sync, UdpWord.GO);
    }
  });
  send({ kind: 'ready' });
  const rs = await Promise.all(tasks);
  const cpu = process.cpuUsage(cpu0);
  const sum = (f: (r: UdpTaskResult) => number): number => rs.reduce((s, r) => s + f(r), 0);
  send({ kind: 'result', sent: sum((r) => r.sent), received: sum((r) => r.received), measuredReceived: sum((r) => r.measuredReceived), lost: sum((r) => r.lost), badReplies: sum((r) => r.badReplies), clientCpuUs: cpu.user + cpu.system, errors: rs.flatMap((r) => r.errors) });
  await pool.destroy();
  process.disconnect?.();
}

main().catch((err: unknown) => {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100).unref();
});
