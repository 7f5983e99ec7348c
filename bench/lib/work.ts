/**
 * The simulated per-datagram game work of the echo benchmarks: a busy-wait on the main thread.
 *
 * Thread: any.
 * @module
 */

/** Busy-waits `ns` nanoseconds (0: returns at once); returns the nanoseconds it actually spent. Thread: any. */
export function busyWait(ns: bigint): bigint {
  if (ns === 0n) return 0n;
  const start = process.hrtime.bigint();
  const end = start + ns;
  let now = start;
  while (now < end) now = process.hrtime.bigint();
  return now - start;
}
