/**
 * The open-loop senders' ticker (md and md-mesh workloads: bench/e2e/md-task.ts,
 * bench/e2e/md-nats-peer.ts). An open-loop sender writes, at each tick, every datagram due so far;
 * the delay it reports runs from each datagram's due time, so the ticker's own lateness is part
 * of the figure (no coordinated omission) — and a coarse ticker adds its own delay to every
 * percentile. `setTimeout(f, 1)` fires every 1–2 ms (libuv's timers are whole milliseconds and the
 * poll timeout rounds up): a datagram due just after a tick waits up to ~2 ms before it is written,
 * more than the 2 ms p99 the mesh is asked for.
 *
 * `tickUs < 1000` uses a clock thread instead: a tiny worker that sleeps `tickUs` in
 * `Atomics.wait` (sub-millisecond timeouts) and then bumps and notifies a shared word; the sender
 * awaits `Atomics.waitAsync` on that word, so its event loop keeps running (sockets are read
 * meanwhile) and it wakes within the clock's period. `tickUs ≥ 1000` keeps `setTimeout(f, 1)`
 * (the md workload's original ticker). The clock thread runs only between `start` and `stop`.
 *
 * Thread: any thread with an event loop (the piscina tasks of md-client, the md-nats-peer process).
 * @module
 */
import { Worker } from 'node:worker_threads';

const CLOCK = `
const { workerData } = require('node:worker_threads');
const w = new Int32Array(workerData.sab);
const ms = workerData.periodMs;
while (Atomics.load(w, 1) === 0) {
  Atomics.wait(w, 1, 0, ms);
  Atomics.add(w, 0, 1);
  Atomics.notify(w, 0);
}
`;

/** A ticker (see the module notes). Thread: the thread that made it. */
export interface Ticker {
  /** Resolves at the next tick. */
  next(): Promise<void>;
  /** Stops the clock thread (if any); resolves once it exited. */
  stop(): Promise<void>;
}

/** Starts a ticker with a period of `tickUs` µs (≥ 1000: `setTimeout(f, 1)`). */
export function startTicker(tickUs: number): Ticker {
  if (!(tickUs > 0)) throw new Error(`tickUs must be > 0, got ${tickUs}`);
  if (tickUs >= 1000) {
    return { next: () => new Promise((r) => setTimeout(r, 1)), stop: () => Promise.resolve() };
  }
  const sab = new SharedArrayBuffer(8);
  const w = new Int32Array(sab);
  const worker = new Worker(CLOCK, { eval: true, workerData: { sab, periodMs: tickUs / 1000 } });
  worker.unref();
  return {
    async next() {
      const r = Atomics.waitAsync(w, 0, Atomics.load(w, 0));
      if (r.async) await r.value;
    },
    async stop() {
      Atomics.store(w, 1, 1);
      Atomics.notify(w, 1);
      await worker.terminate();
    },
  };
}
