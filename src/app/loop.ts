/**
 * Timing for the game server and the bots: a fixed-step loop that keeps its rate over time, and the
 * network pump that runs every millisecond or so.
 *
 * Why a re-armed `setTimeout` and not `setInterval` for the fixed step: Node re-arms an interval from
 * the moment its callback ran, so each tick inherits the previous one's lateness and the loop drifts
 * (a 20 Hz loop loses about a tick a minute on a busy box). Correcting that inside a `setInterval`
 * callback means running two steps back to back now and then. Here every step is scheduled against
 * an absolute timeline (`start + n · period`), so lateness never accumulates; when the process falls
 * more than `maxCatchUp` steps behind (a GC pause, a suspended laptop) the loop skips ahead and counts
 * the skipped steps instead of bursting them out.
 *
 * Thread: main thread (any event loop).
 * @module
 */

/** What a {@link FixedStepLoop} has done. */
export interface LoopStats {
  /** Steps run. */
  steps: number;
  /** Steps that started more than half a period late. */
  late: number;
  /** Steps skipped because the loop fell more than `maxCatchUp` steps behind. */
  skipped: number;
  /** Sum and maximum of the time spent inside `step`, ms. */
  busyMs: number;
  maxBusyMs: number;
}

/** Options of a {@link FixedStepLoop}. */
export interface FixedStepLoopOptions {
  /** The clock, ms (default `performance.now`). */
  now?: () => number;
  /** Most overdue steps run in one go before skipping ahead (default 3). */
  maxCatchUp?: number;
}

/** Calls `step(n, scheduledAtMs)` at `rateHz`, on an absolute timeline. */
export class FixedStepLoop {
  readonly periodMs: number;
  readonly stats: LoopStats = { steps: 0, late: 0, skipped: 0, busyMs: 0, maxBusyMs: 0 };
  readonly #step: (n: number, scheduledAtMs: number) => void;
  readonly #now: () => number;
  readonly #maxCatchUp: number;
  #timer: NodeJS.Timeout | null = null;
  #next = 0;
  #n = 0;

  constructor(rateHz: number, step: (n: number, scheduledAtMs: number) => void, opts: FixedStepLoopOptions = {}) {
    if (!Number.isFinite(rateHz) || rateHz <= 0) throw new RangeError(`rate must be a positive number of Hz, got ${rateHz}`);
    this.periodMs = 1000 / rateHz;
    this.#step = step;
    this.#now = opts.now ?? (() => performance.now());
    this.#maxCatchUp = opts.maxCatchUp ?? 3;
  }

  /** Starts stepping; the first step runs one period from now. Idempotent. */
  start(): void {
    if (this.#timer !== null) return;
    this.#next = this.#now() + this.periodMs;
    this.#arm();
  }

  /** Stops stepping. Idempotent. */
  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  #arm(): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, this.#next - this.#now()));
  }

  #fire(): void {
    let now = this.#now();
    const behind = Math.floor((now - this.#next) / this.periodMs);
    if (behind > this.#maxCatchUp) {
      const skip = behind - this.#maxCatchUp;
      this.#next += skip * this.periodMs;
      this.stats.skipped += skip;
    }
    while (this.#timer !== null && now >= this.#next) {
      if (now - this.#next > this.periodMs / 2) this.stats.late++;
      const t0 = now;
      this.#step(++this.#n, this.#next);
      now = this.#now();
      const busy = now - t0;
      this.stats.steps++;
      this.stats.busyMs += busy;
      if (busy > this.stats.maxBusyMs) this.stats.maxBusyMs = busy;
      this.#next += this.periodMs;
    }
    if (this.#timer !== null) this.#arm();
  }
}

/** Runs `fn` about every `intervalMs` (default 1 ms) until stopped. */
export class Pump {
  readonly #fn: () => void;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;

  constructor(fn: () => void, intervalMs = 1) {
    this.#fn = fn;
    this.#intervalMs = intervalMs;
  }

  /** Idempotent. */
  start(): void {
    if (this.#timer === null) this.#timer = setInterval(this.#fn, this.#intervalMs);
  }

  /** Idempotent. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
