/**
 * The machine may be shared (other sessions run tests on it). Before a run, wait (bounded) until
 * other processes' load drops; during a run, record how much CPU other processes used, so a
 * reader can tell a noisy run from a slow server.
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import { machineBusyUs } from './thread-cpu.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Machine load (cores) over `ms`, while this process idles (so it is other processes' load). */
export async function sampleLoad(ms: number): Promise<number> {
  const b0 = machineBusyUs();
  const t0 = performance.now();
  await sleep(ms);
  return (machineBusyUs() - b0) / ((performance.now() - t0) * 1000);
}

/** How long to wait for quiet: per run, and in all (a budget shared by a workload's runs). */
export interface QuietPolicy {
  /** Per run, ms (0: no wait, only a 300 ms load sample). */
  perRunMs: number;
  /** Load (cores) considered quiet. */
  cores: number;
  /** Total for the workload, ms. */
  budgetMs: number;
}

/** A workload's quiet-waiting state. */
export class Quiet {
  spentMs = 0;
  constructor(readonly policy: QuietPolicy) {}

  /** Waits (within both limits) for the machine to be quiet; returns the last load seen and the time waited. */
  async wait(): Promise<{ load: number; waitedMs: number }> {
    const t0 = performance.now();
    const limit = Math.min(this.policy.perRunMs, Math.max(0, this.policy.budgetMs - this.spentMs));
    let load = await sampleLoad(300);
    while (load > this.policy.cores && performance.now() - t0 < limit) {
      await sleep(700);
      load = await sampleLoad(300);
    }
    const waitedMs = performance.now() - t0;
    this.spentMs += waitedMs;
    return { load, waitedMs };
  }
}

/** Machine busy time (µs, all cores) now; pair two readings with {@link otherLoadCores}. */
export const busyNow = machineBusyUs;

/**
 * Cores' worth of CPU used by processes other than ours over a window: machine busy time minus our
 * processes' CPU (µs), over the window's length.
 */
export function otherLoadCores(busyDeltaUs: number, ourCpuUs: number, windowMs: number): number {
  return Math.max(0, busyDeltaUs - ourCpuUs) / (windowMs * 1000);
}
