/**
 * The fixed-rate echo client: a separate process (forked by the orchestrator) whose connections
 * run in a piscina pool of `clientThreads` worker threads (one long task per thread, driven over a
 * MessagePort; bench/e2e/rate-task.ts). It connects once, then runs the phases the orchestrator
 * asks for — `max` (closed loop) or `rate` (open loop, fixed rate, no coordinated omission) — and
 * answers each with merged exact percentiles (bench/lib/percentiles.ts).
 *
 * The pool is made with `atomics: 'disabled'` (an idle piscina worker must not sit in Atomics.wait
 * while a sibling task still runs sockets) and an idle timeout longer than any run.
 *
 * Usage (by the orchestrator only): `fork(rate-client.js, [JSON RateClientParams])`.
 *
 * Thread: main thread of the rate-client process.
 * @module
 */
import { TaskInboxes } from '../lib/task-inboxes.js';
import { Piscina } from 'piscina';
import { concatSamples, summarizeSample, type Percentiles } from '../lib/percentiles.js';
import { paramsFromArgv } from './protocol.js';
import type { RateTaskCommand, RateTaskInit, RateTaskMessage, RateTaskPhaseResult } from './rate-task.js';

/** Client parameters. */
export interface RateClientParams {
  host: string;
  port: number;
  connections: number;
  clientThreads: number;
  payloadBytes: number;
}

/** parent → client */
export type RateClientCommand =
  | { kind: 'phase'; mode: 'max'; inFlight: number; warmupMs: number; measureMs: number; drainMs: number }
  | { kind: 'phase'; mode: 'rate'; ratePerSec: number; warmupMs: number; measureMs: number; drainMs: number }
  | { kind: 'end' };

/** A phase's merged outcome. */
export interface RatePhaseResult {
  kind: 'phaseResult';
  mode: 'max' | 'rate';
  /** Asked rate (rate phase), datagrams/s. */
  ratePerSec: number;
  sent: number;
  received: number;
  /** max: echoes per second in the measured part; rate: datagrams due per second in it. */
  achievedPerSec: number;
  /** Echoes (of datagrams due in the measured part) that came back. */
  measuredReceived: number;
  missing: number;
  /** Datagrams the server dropped (gaps in a connection's sequence). */
  dropped: number;
  mismatches: number;
  /** Round trip from the due time (the CO-free figure), from the actual write, and the ticker's lateness, µs. */
  latency: Percentiles | null;
  service: Percentiles | null;
  sendLag: Percentiles | null;
  /** Client process CPU over the phase (all threads), µs; and each task thread's. */
  clientCpuUs: number;
  taskCpuUs: number[];
}

export type RateClientMessage = { kind: 'ready' } | RatePhaseResult | { kind: 'error'; message: string };

function send(m: RateClientMessage): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  const p = paramsFromArgv<RateClientParams>();
  const threads = Math.max(1, Math.min(p.clientThreads, p.connections));
  const pool = new Piscina<RateTaskInit, void>({
    filename: new URL('./rate-task.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: 1,
    idleTimeout: 10 * 60_000,
    atomics: 'disabled',
  });
  const boxes = new TaskInboxes<RateTaskMessage>((t, message) => {
    send({ kind: 'error', message: `task ${t}: ${message}` });
    setTimeout(() => process.exit(1), 100).unref();
  });
  const ports = boxes.ports;
  const tasks: Array<Promise<void>> = [];
  let first = 0;
  for (let t = 0; t < threads; t++) {
    const n = Math.floor(p.connections / threads) + (t < p.connections % threads ? 1 : 0);
    const control = boxes.open(t);
    const init: RateTaskInit = { host: p.host, port: p.port, firstConnection: first, connections: n, payloadBytes: p.payloadBytes, control };
    tasks.push(pool.run(init, { transferList: [control] }));
    first += n;
  }
  const next = (t: number): Promise<RateTaskMessage> => boxes.next(t);
  for (let t = 0; t < threads; t++) {
    const m = await next(t);
    if (m.kind !== 'ready') throw new Error(`task ${t}: expected ready, got ${m.kind}`);
  }
  send({ kind: 'ready' });

  let phaseId = 0;
  let queue: Promise<void> = Promise.resolve();
  process.on('message', (cmd: RateClientCommand) => {
    queue = queue.then(async () => {
      if (cmd.kind === 'end') {
        for (const port of ports) port.postMessage({ kind: 'end' } satisfies RateTaskCommand);
        await Promise.all(tasks);
        await pool.destroy();
        process.disconnect?.();
        return;
      }
      const id = ++phaseId;
      const cpu0 = process.cpuUsage();
      for (let t = 0; t < threads; t++) {
        const share: RateTaskCommand =
          cmd.mode === 'max'
            ? { kind: 'phase', id, mode: 'max', inFlight: cmd.inFlight, warmupMs: cmd.warmupMs, measureMs: cmd.measureMs, drainMs: cmd.drainMs }
            : { kind: 'phase', id, mode: 'rate', ratePerSec: cmd.ratePerSec / threads, warmupMs: cmd.warmupMs, measureMs: cmd.measureMs, drainMs: cmd.drainMs };
        ports[t]!.postMessage(share);
      }
      const parts: RateTaskPhaseResult[] = [];
      for (let t = 0; t < threads; t++) {
        const m = await next(t);
        if (m.kind !== 'phaseResult') throw new Error(`task ${t}: expected phaseResult, got ${m.kind}`);
        parts.push(m);
      }
      const cpu = process.cpuUsage(cpu0);
      const sum = (f: (r: RateTaskPhaseResult) => number): number => parts.reduce((s, r) => s + f(r), 0);
      const measuredMs = parts[0]!.measuredMs;
      const rate = cmd.mode === 'rate';
      send({
        kind: 'phaseResult',
        mode: cmd.mode,
        ratePerSec: rate ? cmd.ratePerSec : Number.NaN,
        sent: sum((r) => r.sent),
        received: sum((r) => r.received),
        achievedPerSec: (sum((r) => r.measured) / measuredMs) * 1000,
        measuredReceived: sum((r) => r.measuredReceived),
        missing: sum((r) => r.missing),
        dropped: sum((r) => r.dropped),
        mismatches: sum((r) => r.mismatches),
        latency: rate ? summarizeSample(concatSamples(parts.map((r) => r.latency)), sum((r) => r.overflow)) : null,
        service: rate ? summarizeSample(concatSamples(parts.map((r) => r.service))) : null,
        sendLag: rate ? summarizeSample(concatSamples(parts.map((r) => r.sendLag))) : null,
        clientCpuUs: cpu.user + cpu.system,
        taskCpuUs: parts.map((r) => Math.round(r.cpuUs)),
      });
    }).catch((err: unknown) => {
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
