/**
 * The writers of one manager: their queue-counter slots (one shared word each, which the I/O threads
 * decrement as they take the writer's sends) and their stats sources.
 *
 * Thread: main thread only.
 * @module
 */
import { ErrorCode, PandaNetError } from '../../errors.js';
import { MAX_WRITERS, OutOp, WRITER_WORDS, outMetaOp, outMetaWriter, readBatchCount } from '../../protocol/control.js';
import type { WriterStats } from './stats.js';

/** Something that reports one writer's queue. */
export interface WriterStatsSource {
  stats(): WriterStats;
}

/** Writer slots and queue words of one manager. Thread: main thread only. */
export class WriterRegistry {
  /** Shared with every I/O thread (see {@link words}). */
  readonly sab = new SharedArrayBuffer(WRITER_WORDS * 4);
  /** Per writer slot: datagrams handed to the threads and not yet taken by them. */
  readonly words = new Int32Array(this.sab);
  readonly #slots = new Set<number>();
  readonly #sources = new Set<WriterStatsSource>();

  /** A free slot (its word zeroed) for a new writer, reported by `source`. */
  add(source: WriterStatsSource): number {
    for (let s = 1; s <= MAX_WRITERS; s++) {
      if (!this.#slots.has(s)) {
        this.#slots.add(s);
        Atomics.store(this.words, s, 0);
        this.#sources.add(source);
        return s;
      }
    }
    throw new PandaNetError(ErrorCode.INVALID_ARGUMENT, `at most ${MAX_WRITERS} writers per manager`);
  }

  /** The writer of `slot` was shut down. */
  remove(slot: number, source: WriterStatsSource): void {
    this.#slots.delete(slot);
    this.#sources.delete(source);
  }

  /**
   * An outbound record no thread will ever take (its thread died): gives its datagrams back to its
   * writer's queue count. `data[offset]` is the record's payload.
   */
  uncount(meta: number, data: Uint8Array, offset: number): void {
    const slot = outMetaWriter(meta);
    if (slot !== 0) Atomics.sub(this.words, slot, outMetaOp(meta) === OutOp.SEND_TCP_BATCH ? readBatchCount(data, offset) : 1);
  }

  /** Every writer's queue. */
  stats(): WriterStats[] {
    return [...this.#sources].map((w) => w.stats());
  }
}
