/**
 * The simulated per-datagram game work of the echo servers (bench/e2e/echo-server.ts, ws-echo): a
 * fixed amount of computation, a count of xorshift steps that costs about `us` microseconds of CPU on
 * an idle core. The count is calibrated once, in the workload's parent process
 * ({@link workIterations}), and the same count goes to every server (node:net chunk echo, node:net
 * realistic, pandanet, ws), so the work costs them alike.
 *
 * Fixed computation, not a busy-wait on the clock: a clock-bound call whose thread is preempted ends
 * on time having used less CPU, which flattered the servers whose main thread shares the cores with
 * its own I/O threads and made "main thread beyond the work" (CPU minus the calibrated work) come
 * out below zero. {@link calibrateWork} measures what one call really costs, for the output.
 *
 * Thread: any (each instance is used by one thread).
 * @module
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** xorshift32 steps in one calibration sample. */
const SAMPLE_STEPS = 200_000;

/** `steps` xorshift32 steps from `seed`; the result keeps the loop from being optimised away. */
function spin(seed: number, steps: number): number {
  let x = seed | 1;
  for (let i = 0; i < steps; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x;
}

/** Where the calibration's steps leave their result (module state, so the loop cannot be dropped). */
let calibrationState = 1;

/**
 * The xorshift step count that costs about `us` µs (0 for 0): the fastest of 9 samples of
 * {@link SAMPLE_STEPS} steps by the wall clock, after a warm-up (the fastest: the least disturbed by
 * other load; a sample is too short for the thread CPU clock, see {@link calibrateWork}). Bounded:
 * about 10 samples' worth of CPU (a few ms). Thread: any.
 */
export function workIterations(us: number): number {
  if (us <= 0) return 0;
  calibrationState = spin(calibrationState, SAMPLE_STEPS); // JIT warm-up
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    calibrationState = spin(calibrationState, SAMPLE_STEPS);
    best = Math.min(best, (performance.now() - t0) * 1000);
  }
  return Math.max(1, Math.round((SAMPLE_STEPS * us) / best));
}


/** One call in this many has its wall time recorded in {@link SimulatedWork.samples} (a power of two). */
const SAMPLE_EVERY = 8;

/**
 * A fixed amount of computation per call, with the wall time it has spent so far and a sample of
 * single calls' wall times: their median is what one call costs in place, under the run's load (a
 * call whose thread was preempted is an outlier the median ignores), where the calibration measured
 * it on an idle core.
 */
export class SimulatedWork {
  #state = 1;
  /** Wall time spent in {@link run}, ns. */
  spentNs = 0n;
  /** Calls of {@link run} so far. */
  calls = 0;
  /** Wall time of every {@link SAMPLE_EVERY}th call, ns (reset it where a measured window begins). */
  readonly samples: RecordableHistogram = createHistogram();

  /**
   * @param us the work asked for, µs (for labels; 0: no work)
   * @param iterations xorshift steps per call, from {@link workIterations} (the parent's count, sent to every server)
   */
  constructor(
    readonly us: number,
    readonly iterations: number,
  ) {}

  /** Runs the call's steps (returns at once for no work). */
  run(): void {
    if (this.iterations === 0) return;
    const start = process.hrtime.bigint();
    this.#state = spin(this.#state, this.iterations);
    const ns = process.hrtime.bigint() - start;
    this.spentNs += ns;
    if ((++this.calls & (SAMPLE_EVERY - 1)) === 0) this.samples.record(Number(ns));
  }

  /** The median of the sampled calls' wall times, µs (NaN before any sample). */
  medianCallUs(): number {
    return this.samples.count === 0 ? Number.NaN : this.samples.percentile(50) / 1000;
  }
}

/** What one call of {@link SimulatedWork.run} costs, measured. */
export interface WorkCalibration {
  requestedUs: number;
  /** xorshift steps per call (what every server runs). */
  iterations: number;
  calls: number;
  /**
   * Wall time per call on this idle thread, µs: what one call costs the thread that runs it, the
   * work function's own clock reads and garbage included. "Beyond the work" subtracts this.
   */
  wallUsPerCall: number;
  /**
   * The process's CPU per call, µs, for reference: a little more than {@link wallUsPerCall}, as
   * V8's helper threads collect the work function's BigInt garbage beside it.
   */
  cpuUsPerCall: number;
  /** The median sampled call's wall time, µs (what the servers' in-place figure is compared with). */
  medianWallUsPerCall: number;
}

/** Blocks {@link calibrateWork} splits its calls into; it reports the median block. */
const CALIBRATION_BLOCKS = 5;

/**
 * Runs `calls` calls of a fresh {@link SimulatedWork} of `iterations` steps (after an unmeasured
 * tenth, for the JIT) on this thread, in {@link CALIBRATION_BLOCKS} blocks, and returns the median
 * block's cost per call (a block that another process's burst slowed does not move it): wall time,
 * and the process's CPU (`process.cpuUsage`, exact to the µs). Not this thread's `/proc` CPU figure:
 * that one is brought up to date only at scheduler ticks, up to 10 ms late, which a block of 20 ms
 * cannot absorb (it read 8.0 µs of CPU per call of a 9.7 µs call, and 2.06–2.39 for the same 2 µs
 * steps from one run to the next). Give each block 20 ms or more. Bounded: `calls` calls.
 */
export function calibrateWork(us: number, iterations: number, calls: number): WorkCalibration {
  const w = new SimulatedWork(us, iterations);
  const warm = Math.max(1, Math.floor(calls / 10));
  for (let i = 0; i < warm; i++) w.run();
  w.samples.reset();
  const perBlock = Math.max(1, Math.floor(calls / CALIBRATION_BLOCKS));
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let b = 0; b < CALIBRATION_BLOCKS; b++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perBlock; i++) w.run();
    wall.push(Number(process.hrtime.bigint() - t0) / 1000 / perBlock);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / perBlock);
  }
  return { requestedUs: us, iterations, calls: perBlock * CALIBRATION_BLOCKS, wallUsPerCall: median(wall), cpuUsPerCall: median(cpu), medianWallUsPerCall: w.medianCallUs() };
}

/** The median of a non-empty list. */
function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
