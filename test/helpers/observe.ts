/**
 * An observation window whose length is a minimum, never a threshold: `body` runs (yielding between
 * rounds) until at least `ms` have passed AND `enough()` holds (a count of rounds, bytes trickled...),
 * bounded by a deadline that throws. A slow machine makes the window longer; it cannot make a count
 * asserted afterwards come out short (as a fixed window's count could).
 *
 * Thread: main (test code).
 */
import { yieldOnce } from './net.js';

export interface ObserveOptions {
  /** The window's minimum length, ms. */
  ms: number;
  /** Checked after each round: the window ends once it holds (and `ms` have passed). */
  enough: () => boolean;
  /** Hard bound on the whole window, ms (default 20,000): past it, an error naming `what`. */
  deadlineMs?: number;
  /** What `enough` waits for, for the error message. */
  what: string | (() => string);
}

export async function observeAtLeast(opts: ObserveOptions, body: () => void | Promise<void>): Promise<void> {
  const start = performance.now();
  const deadline = start + (opts.deadlineMs ?? 20_000);
  for (;;) {
    await body();
    const now = performance.now();
    if (now - start >= opts.ms && opts.enough()) return;
    if (now >= deadline) {
      const what = typeof opts.what === 'function' ? opts.what() : opts.what;
      throw new Error(`observation window: ${what} not reached within ${opts.deadlineMs ?? 20_000} ms`);
    }
    await yieldOnce();
  }
}
