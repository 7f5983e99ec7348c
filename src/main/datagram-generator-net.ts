/**
 * Panda's `DatagramGeneratorNet` (spec §2.12): a {@link QueuedConnectionReader} that hands out
 * datagrams one at a time through the `DatagramGenerator` interface, waiting for the next one.
 *
 * Panda's `get_datagram` blocks without limit until a datagram is queued (false only once the reader
 * monitors no connection). Here every wait is bounded:
 * - {@link DatagramGeneratorNet.getDatagram} blocks the main thread for at most `timeoutMs`
 *   (default 5 s), checking the rings between sleeps of at most 1 ms on a private
 *   SharedArrayBuffer cell (`Atomics.wait`). The I/O threads keep receiving meanwhile: data lands in
 *   shared memory, so no event-loop turn is needed.
 * - {@link DatagramGeneratorNet.getDatagramAsync} waits the same way without blocking, yielding to
 *   the event loop between checks.
 *
 * Queue cap: Panda's generator threads block when the queue is full instead of dropping. Likewise this
 * reader starts with no queue cap, so nothing is dropped for the cap; what bounds the queue is the
 * reader's ring: when it is full a TCP sender is paused (back-pressure) and UDP packets wait in a
 * small backlog, then are dropped. `setMaxQueueSize(n)` restores Panda's queued-reader cap (drops).
 *
 * Thread: main thread only.
 * @module
 */
import type { Datagram } from '../datagram/datagram.js';
import { ValueRangeError } from '../errors.js';
import type { ConnectionManager } from './connection-manager.js';
import { coreOfReader } from './connection-reader.js';
import { QueuedConnectionReader } from './queued-connection-reader.js';

/** Default bound of the waiting calls, ms. Thread: any. */
export const DEFAULT_GENERATOR_TIMEOUT_MS = 5000;

/** Longest single sleep of the blocking wait, ms. */
const MAX_SLICE_MS = 1;
/** How long the async wait yields with setImmediate before it sleeps 1 ms per check, ms. */
const ASYNC_SPIN_MS = 2;
/** No cap: only the ring bounds the queue (see the module notes). */
const NO_CAP = 0x7fffffff;

function checkTimeout(timeoutMs: number): number {
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new ValueRangeError(`timeoutMs must be a finite number ≥ 0, got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}

/**
 * A reader used as a source of datagrams, one at a time.
 * Thread: main thread only.
 */
export class DatagramGeneratorNet extends QueuedConnectionReader {
  /** Never notified: `Atomics.wait` on it is a bounded sleep. */
  readonly #sleepCell = new Int32Array(new SharedArrayBuffer(4));

  /**
   * `numThreads` 0: polled (each check polls); N > 0: N I/O threads deliver as data arrives. The
   * queue starts uncapped (see the module notes).
   * Thread: main thread only.
   */
  constructor(manager: ConnectionManager, numThreads: number) {
    super(manager, numThreads);
    coreOfReader(this).setMaxQueueSize(NO_CAP);
  }

  /**
   * Moves the next datagram into `datagram` (a NetDatagram also gets its connection and address),
   * blocking the main thread until one is queued — at most `timeoutMs` (finite; default 5000).
   * Returns false at the deadline, or at once when nothing is queued and the reader monitors no
   * connection ({@link isEof}). A connection reset is noticed while waiting; its last datagrams are
   * still returned first.
   * @throws ValueRangeError for a negative or non-finite `timeoutMs`.
   * Thread: main thread only (blocks it; prefer {@link getDatagramAsync} in a server).
   */
  getDatagram(datagram: Datagram, timeoutMs: number = DEFAULT_GENERATOR_TIMEOUT_MS): boolean {
    const deadline = performance.now() + checkTimeout(timeoutMs);
    for (;;) {
      const r = this.#tryOnce(datagram);
      if (r !== null) return r;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(this.#sleepCell, 0, 0, Math.min(MAX_SLICE_MS, left));
    }
  }

  /**
   * Non-blocking {@link getDatagram}: resolves true once a datagram was moved into `datagram`, false
   * at the deadline (`timeoutMs`, finite; default 5000) or at end of input ({@link isEof}). Yields to
   * the event loop between checks.
   * @throws (as a rejection) ValueRangeError for a negative or non-finite `timeoutMs`.
   * Thread: main thread only.
   */
  async getDatagramAsync(datagram: Datagram, timeoutMs: number = DEFAULT_GENERATOR_TIMEOUT_MS): Promise<boolean> {
    const start = performance.now();
    const deadline = start + checkTimeout(timeoutMs);
    for (;;) {
      const r = this.#tryOnce(datagram);
      if (r !== null) return r;
      const now = performance.now();
      if (now >= deadline) return false;
      if (now - start < ASYNC_SPIN_MS) await new Promise<void>((resolve) => setImmediate(resolve));
      else await new Promise<void>((resolve) => setTimeout(resolve, Math.min(MAX_SLICE_MS, deadline - now)));
    }
  }

  /**
   * True when the reader monitors no connection (none added yet, or all removed, closed or reset):
   * `getDatagram` then returns false once the queue is empty. Reflects resets the manager has
   * already noticed (polling or waiting notices them).
   * Thread: main thread only.
   */
  isEof(): boolean {
    return coreOfReader(this).monitored.size === 0;
  }

  /** Always false, as in Panda (errors surface as connection resets). Thread: main thread only. */
  isError(): boolean {
    return false;
  }

  /**
   * One check: true = taken, false = end of input, null = nothing yet. Resets are collected first,
   * so any datagram a dead connection delivered before dying is in the rings by the time it is no
   * longer monitored.
   */
  #tryOnce(datagram: Datagram): boolean | null {
    coreOfReader(this).rt.events.pump();
    if (this.dataAvailable() && this.getData(datagram)) return true;
    if (this.isEof()) return false;
    return null;
  }
}
