/**
 * The `md` workload's client: a separate process (forked by the orchestrator) whose participants
 * run in a piscina pool of `clientThreads` worker threads (one long task per thread, driven over a
 * MessagePort; bench/e2e/md-task.ts). It connects and subscribes every participant once, then runs
 * the phases the orchestrator asks for — `max` (closed loop) or `rate` (open loop, fixed rate, no
 * coordinated omission) — all tasks together from a common start time, and answers each with the
 * merged counts and exact percentiles (bench/lib/percentiles.ts).
 *
 * The pool is made with `atomics: 'disabled'` (an idle piscina worker must not sit in Atomics.wait
 * while a sibling task still runs sockets) and an idle timeout longer than any run.
 *
 * Usage (by the orchestrator only): `fork(md-client.js, [JSON MdClientParams])`.
 *
 * Thread: main thread of the md-client process.
 * @module
 */
import { TaskInboxes } from '../lib/task-inboxes.js';
import { Piscina } from 'piscina';
import { concatSamples, summarizeSample, type Percentiles } from '../lib/percentiles.js';
import { Counter, monoMs, type MdTaskCommand, type MdTaskInit, type MdTaskMessage, type MdTaskPhaseResult } from './md-task.js';
import { paramsFromArgv } from './protocol.js';

/** Client parameters. */
export interface MdClientParams {
  host: string;
  port: number;
  /** Cross-node mode: odd participants connect here and everyone sends only to the other node (see MdTaskInit.port2). */
  port2?: number;
  participants: number;
  clientThreads: number;
  datagramBytes: number;
  channelBase: number;
}

/** parent → client */
export type MdClientCommand =
  | { kind: 'phase'; mode: 'max'; inFlight: number; warmupMs: number; measureMs: number; drainMs: number }
  | { kind: 'phase'; mode: 'rate'; ratePerSec: number; warmupMs: number; measureMs: number; drainMs: number; tickUs?: number }
  | { kind: 'end' };

/** A phase's merged outcome. */
export interface MdPhaseResult {
  kind: 'phaseResult';
  mode: 'max' | 'rate';
  /** Asked rate (rate phase), datagrams/s. */
  ratePerSec: number;
  sent: number;
  received: number;
  /** max: deliveries per second in the measured part; rate: deliveries of datagrams due in it, per second. */
  deliveredPerSec: number;
  /** rate: datagrams due in the measured part, per second. */
  offeredPerSec: number;
  /** Sent in the phase and not arrived when the drain ended (all tasks). */
  missing: number;
  lost: number;
  mismatches: number;
  stale: number;
  errors: string[];
  /** rate phase: delay from the due time (CO-free), from the actual write, and the ticker's lateness, µs. */
  latency: Percentiles | null;
  service: Percentiles | null;
  sendLag: Percentiles | null;
  /** Client process CPU over the phase (all threads), µs; and each task thread's. */
  clientCpuUs: number;
  taskCpuUs: number[];
}

export type MdClientMessage = { kind: 'ready' } | MdPhaseResult | { kind: 'error'; message: string };

function send(m: MdClientMessage): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  const p = paramsFromArgv<MdClientParams>();
  // Each task needs two participants at least (its probes go from one to another).
  const threads = Math.max(1, Math.min(p.clientThreads, Math.floor(p.participants / 2)));
  const pool = new Piscina<MdTaskInit, void>({
    filename: new URL('./md-task.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: 1,
    idleTimeout: 10 * 60_000,
    atomics: 'disabled',
  });
  const countersSab = new SharedArrayBuffer(4 * 4);
  const counters = new Int32Array(countersSab);
  const boxes = new TaskInboxes<MdTaskMessage>((t, message) => {
    send({ kind: 'error', message: `task ${t}: ${message}` });
    setTimeout(() => process.exit(1), 100).unref();
  });
  const ports = boxes.ports;
  const tasks: Array<Promise<void>> = [];
  let first = 0;
  for (let t = 0; t < threads; t++) {
    const n = Math.floor(p.participants / threads) + (t < p.participants % threads ? 1 : 0);
    const control = boxes.open(t);
    const init: MdTaskInit = { host: p.host, port: p.port, ...(p.port2 !== undefined ? { port2: p.port2 } : {}), participants: p.participants, tasks: threads, first, count: n, datagramBytes: p.datagramBytes, channelBase: p.channelBase, counters: countersSab, control };
    tasks.push(pool.run(init, { transferList: [control] }));
    first += n;
  }
  const next = (t: number): Promise<MdTaskMessage> => boxes.next(t);
  for (let t = 0; t < threads; t++) {
    const m = await next(t);
    if (m.kind !== 'ready') throw new Error(`task ${t}: expected ready, got ${m.kind}`);
  }
  send({ kind: 'ready' });

  let phaseId = 0;
  let queue: Promise<void> = Promise.resolve();
  process.on('message', (cmd: MdClientCommand) => {
    queue = queue
      .then(async () => {
        if (cmd.kind === 'end') {
          for (const port of ports) port.postMessage({ kind: 'end' } satisfies MdTaskCommand);
          await Promise.all(tasks);
          await pool.destroy();
          process.disconnect?.();
          return;
        }
        const id = ++phaseId;
        Atomics.store(counters, Counter.SENT, 0);
        Atomics.store(counters, Counter.RECV, 0);
        Atomics.store(counters, Counter.DONE, 0);
        const cpu0 = process.cpuUsage();
        const startMs = monoMs() + 20; // every task starts at the same time
        for (let t = 0; t < threads; t++) {
          const share: MdTaskCommand =
            cmd.mode === 'max'
              ? { kind: 'phase', id, mode: 'max', inFlight: cmd.inFlight, startMs, warmupMs: cmd.warmupMs, measureMs: cmd.measureMs, drainMs: cmd.drainMs }
              : { kind: 'phase', id, mode: 'rate', ratePerSec: cmd.ratePerSec / threads, startMs, warmupMs: cmd.warmupMs, measureMs: cmd.measureMs, drainMs: cmd.drainMs, ...(cmd.tickUs !== undefined ? { tickUs: cmd.tickUs } : {}) };
          ports[t]!.postMessage(share);
        }
        const parts: MdTaskPhaseResult[] = [];
        for (let t = 0; t < threads; t++) {
          const m = await next(t);
          if (m.kind !== 'phaseResult') throw new Error(`task ${t}: expected phaseResult, got ${m.kind}`);
          parts.push(m);
        }
        const cpu = process.cpuUsage(cpu0);
        const sum = (f: (r: MdTaskPhaseResult) => number): number => parts.reduce((s, r) => s + f(r), 0);
        const rate = cmd.mode === 'rate';
        const measuredS = cmd.measureMs / 1000;
        send({
          kind: 'phaseResult',
          mode: cmd.mode,
          ratePerSec: rate ? cmd.ratePerSec : Number.NaN,
          sent: sum((r) => r.sent),
          received: sum((r) => r.received),
          deliveredPerSec: sum((r) => r.measuredReceived) / measuredS,
          offeredPerSec: rate ? sum((r) => r.measuredSent) / measuredS : Number.NaN,
          missing: Math.max(0, Atomics.load(counters, Counter.SENT) - Atomics.load(counters, Counter.RECV)),
          lost: sum((r) => r.lost),
          mismatches: sum((r) => r.mismatches),
          stale: sum((r) => r.stale),
          errors: parts.map((r) => r.firstError).filter((e) => e !== ''),
          latency: rate ? summarizeSample(concatSamples(parts.map((r) => r.latency)), sum((r) => r.overflow)) : null,
          service: rate ? summarizeSample(concatSamples(parts.map((r) => r.service))) : null,
          sendLag: rate ? summarizeSample(concatSamples(parts.map((r) => r.sendLag))) : null,
          clientCpuUs: cpu.user + cpu.system,
          taskCpuUs: parts.map((r) => Math.round(r.cpuUs)),
        });
      })
      .catch((err: unknown) => {
        send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
        setTimeout(() => process.exit(1), 100).unref();
      });
  });
}

main().catch((err: unknown) => {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
