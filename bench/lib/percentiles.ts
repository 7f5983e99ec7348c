/**
 * Exact latency percentiles from a bounded sample.
 *
 * {@link Recorder} keeps every value (µs) in a preallocated Float64Array; a run is bounded in time
 * and rate, so the sample is bounded (a 2 M-value cap = 16 MiB; past it values are counted in
 * `overflow` and left out, and the summary says so). Percentiles are nearest-rank over the sorted
 * sample: p99 is the smallest value with at least 99 % of the sample at or below it. No histogram
 * buckets, so no bucket rounding: for our sizes sorting is cheap (1 M doubles in ~80 ms).
 *
 * Thread: any.
 * @module
 */

/** Percentile summary of a sample, µs. */
export interface Percentiles {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  /** Values that did not fit the recorder (left out of the figures above). */
  overflow: number;
}

/** Nearest-rank percentile `q` (0..1) of an ascending sample; NaN when empty. */
export function nearestRank(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
  return sorted[rank - 1]!;
}

/** Summary of `values` (sorted in place). */
export function summarizeSample(values: Float64Array, overflow = 0): Percentiles {
  values.sort();
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  return {
    count: n,
    min: n > 0 ? values[0]! : Number.NaN,
    p50: nearestRank(values, 0.5),
    p90: nearestRank(values, 0.9),
    p99: nearestRank(values, 0.99),
    p999: nearestRank(values, 0.999),
    max: n > 0 ? values[n - 1]! : Number.NaN,
    mean: n > 0 ? sum / n : Number.NaN,
    overflow,
  };
}

/** A bounded recorder of values. */
export class Recorder {
  private buf: Float64Array;
  private n = 0;
  overflow = 0;

  /** Starts with room for `initial` values and grows up to `cap`. */
  constructor(
    initial = 65_536,
    private readonly cap = 2_000_000,
  ) {
    this.buf = new Float64Array(Math.min(initial, cap));
  }

  record(v: number): void {
    if (this.n === this.buf.length) {
      if (this.n >= this.cap) {
        this.overflow++;
        return;
      }
      const next = new Float64Array(Math.min(this.cap, this.buf.length * 2));
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
  }

  get count(): number {
    return this.n;
  }

  /** The recorded values (a view; copy before recording more). */
  values(): Float64Array {
    return this.buf.subarray(0, this.n);
  }
}

/** Concatenates samples (for merging threads' recorders). */
export function concatSamples(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
