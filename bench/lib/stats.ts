/**
 * Small statistics helpers for benchmark reports: median and range of a sample.
 *
 * Thread: any (pure functions).
 * @module
 */

/** Median and range of a sample (all NaN when it is empty). */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many values the spread was taken over. */
  n: number;
}

/** Median (mean of the two middle values for an even count), min and max of `values`; NaN-free input expected. */
export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mid = n >> 1;
  const median = n % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[n - 1]!, n };
}

/** Rounds to `digits` significant-ish decimals for JSON (keeps integers as they are). */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
