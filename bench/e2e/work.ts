/**
 * The simulated per-datagram game work of the echo servers (bench/e2e/echo-server.ts): a busy-wait
 * of `us` microseconds on `process.hrtime.bigint()`. Every server kind (node:net chunk echo,
 * node:net realistic, pandanet) calls this same code once per datagram, so the work costs them
 * alike; {@link calibrateWork} measures what one call really costs (the busy-wait overshoots by the
 * last clock read, and the call itself costs something), once per workload, for the output.
 *
 * Thread: any (each instance is used by one thread).
 * @module
 */
import { threadCpuUs } from '../lib/thread-cpu.js';

/** A busy-wait of a fixed length, with the wall time it has spent so far. */
export class SimulatedWork {
  private readonly ns: bigint;
  /** Wall time spent in {@link run}, ns. */
  spentNs = 0n;

  constructor(readonly us: number) {
    this.ns = BigInt(Math.round(us * 1000));
  }

  /** Busy-waits `us` µs (returns at once for 0). */
  run(): void {
    if (this.ns === 0n) return;
    const start = process.hrtime.bigint();
    const end = start + this.ns;
    let now = start;
    while (now < end) now = process.hrtime.bigint();
    this.spentNs += now - start;
  }
}

/** What one call of {@link SimulatedWork.run} costs, measured. */
export interface WorkCalibration {
  requestedUs: number;
  calls: number;
  /** Wall time per call, µs (includes the overshoot past the deadline and the call). */
  wallUsPerCall: number;
  /** This thread's CPU per call, µs (/proc/thread-self/schedstat; NaN off Linux). */
  cpuUsPerCall: number;
}

/**
 * Runs `calls` calls of a fresh {@link SimulatedWork} of `us` µs (after an unmeasured tenth, for the
 * JIT) on this thread and returns the cost per call. Bounded: `calls` × `us` of busy-waiting.
 */
export function calibrateWork(us: number, calls: number): WorkCalibration {
  const w = new SimulatedWork(us);
  const warm = Math.max(1, Math.floor(calls / 10));
  for (let i = 0; i < warm; i++) w.run();
  const c0 = threadCpuUs();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) w.run();
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = threadCpuUs() - c0;
  return { requestedUs: us, calls, wallUsPerCall: wallNs / 1000 / calls, cpuUsPerCall: cpu / calls };
}
