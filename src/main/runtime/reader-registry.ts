/**
 * The readers and listeners of one manager: what the runtime needs from each ({@link ReaderHooks}),
 * their ids and stats sources, and Panda's `wait_for_readers`.
 *
 * Thread: main thread only.
 * @module
 */
import type { Connection, ConnectionCore } from '../connection.js';
import type { IoThread } from '../io-thread.js';
import type { NetAddress } from '../net-address.js';
import type { ReaderStats } from './stats.js';
import { pauseMs, type WriteBatching } from './write-batching.js';

/** What the runtime needs from a reader or listener it serves. */
export interface ReaderHooks {
  readonly id: number;
  /** True for a polled (0-thread) reader. */
  readonly polled: boolean;
  /** Polled readers: a thread holds datagrams not yet polled. */
  holding(): boolean;
  /** Pool grew: make a ring for the new thread and register with it. */
  addThread(thread: IoThread): void;
  /** Move everything already received from `thread` into the queue (before a reset is reported). */
  drainThread(thread: IoThread): void;
  /** A monitored connection was reset or closed: forget it. */
  forget(conn: ConnectionCore): void;
  /** `thread` died: keep what it delivered readable until drained, before its replacement's ring. */
  retireThread(thread: IoThread): void;
  /** Listener role: a rendezvous it monitors accepted `conn`. False if it could not take it. */
  accept?(rendezvous: Connection, address: NetAddress, conn: Connection): boolean;
  /** Its queue, for stats. */
  stats(): ReaderStats;
}

/** Readers and listeners of one manager. Thread: main thread only. */
export class ReaderRegistry {
  readonly #readers = new Map<number, ReaderHooks>();
  readonly #threads: readonly IoThread[];
  readonly #out: WriteBatching;
  readonly #netMaxBlock: number;
  #nextId = 1;

  /**
   * @param threads the pool's thread list (live); `out` does the waiting; `netMaxBlock` (seconds)
   * slices {@link waitForReaders}.
   */
  constructor(threads: readonly IoThread[], out: WriteBatching, netMaxBlock: number) {
    this.#threads = threads;
    this.#out = out;
    this.#netMaxBlock = netMaxBlock;
  }

  /** Makes a reader with a fresh id and gives it a ring on every thread. */
  register<R extends ReaderHooks>(make: (id: number) => R): R {
    const r = make(this.#nextId++);
    this.#readers.set(r.id, r);
    for (const t of this.#threads) r.addThread(t);
    return r;
  }

  /** The reader shut down: the threads drop its rings. */
  unregister(id: number): void {
    this.#readers.delete(id);
    for (const t of this.#threads) t.post({ kind: 'removeReader', readerId: id });
  }

  /** The reader or listener monitoring `core`, if any. */
  of(core: ConnectionCore): ReaderHooks | undefined {
    return core.reader === null ? undefined : this.#readers.get(core.reader.id);
  }

  /** A thread joined the pool: every reader gets a ring on it. */
  addThread(thread: IoThread): void {
    for (const r of this.#readers.values()) r.addThread(thread);
  }

  /** A thread died: every reader keeps what it delivered readable. */
  retireThread(thread: IoThread): void {
    for (const r of this.#readers.values()) r.retireThread(thread);
  }

  /** Every reader's queue. */
  stats(): ReaderStats[] {
    return [...this.#readers.values()].map((r) => r.stats());
  }

  /**
   * Panda's `wait_for_readers`: true as soon as a polled reader or listener has something to poll
   * (datagrams held by a thread, or an accept or reset waiting), false after `timeoutSec` (negative:
   * no limit — bounded here by 24 h). With any threaded reader it is a single check, as in Panda.
   * Blocks the main thread in slices of `net-max-block`.
   */
  waitForReaders(timeoutSec: number): boolean {
    const ready = (): boolean => {
      for (const r of this.#readers.values()) if (r.polled && r.holding()) return true;
      for (const t of this.#threads) if (t.eventRing.size > 0) return true;
      return false;
    };
    if (ready()) return true;
    if ([...this.#readers.values()].some((r) => !r.polled)) return false;
    const slice = Math.max(0.05, Math.min(this.#netMaxBlock * 1000, 1));
    return this.#out.wait(ready, timeoutSec < 0 ? 86_400_000 : timeoutSec * 1000, (ms) => pauseMs(Math.min(slice, ms)));
  }

  /** Non-blocking twin of {@link waitForReaders}: checks every millisecond, yielding between checks. */
  async waitForReadersAsync(timeoutSec: number): Promise<boolean> {
    const deadline = performance.now() + (timeoutSec < 0 ? 86_400_000 : timeoutSec * 1000);
    for (;;) {
      if (this.waitForReaders(0)) return true;
      if (performance.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}
