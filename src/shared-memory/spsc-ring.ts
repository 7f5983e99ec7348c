/**
 * Single-producer single-consumer ring of variable-length records over one SharedArrayBuffer.
 *
 * The buffer layout (header words, record format, wrap marker) is defined and drawn in
 * `./layout.js`; this module only uses the names from there.
 *
 * Threads. Any two threads may share a ring: each attaches its own `SpscRing` to the same
 * SharedArrayBuffer. Exactly one thread may call the producer methods ({@link SpscRing.tryWrite},
 * {@link SpscRing.tryOpen} and the other open-record methods, {@link SpscRing.holdWake},
 * {@link SpscRing.waitForSpaceAsync}, {@link SpscRing.waitForSpace}) and exactly one thread the
 * consumer methods ({@link SpscRing.peek}, {@link SpscRing.advance}, {@link SpscRing.drain},
 * `waitForData*`). Attach the producer's and the consumer's `SpscRing` before either side starts
 * (or at a quiescent moment): the constructor snapshots the positions. `freeBytes()`, `size`,
 * `written` and `read` may be read from any thread.
 *
 * Memory ordering. The producer writes the record (header words and payload, plain stores), then
 * publishes it with an atomic update of HEAD; the consumer reads HEAD atomically before it touches
 * the record. Symmetrically the consumer finishes reading a record before it stores TAIL, and the
 * producer reads TAIL atomically before it reuses the space. Plain stores made before an atomic
 * store are visible to any thread whose atomic load sees that store (JS memory model,
 * synchronizes-with), which is all the ordering a ring needs.
 *
 * Wake-ups, and nothing else, cost a notify:
 *  - Consumer asleep: the consumer sets bit 31 of HEAD with `compareExchange` from the exact empty
 *    value it saw (flag and emptiness re-check in one atomic step), then waits on HEAD. The
 *    producer publishes with `Atomics.exchange` and notifies only if the old value had the bit.
 *    One atomic op per write instead of a store plus a load of a separate word (see layout.ts).
 *  - Producer waiting: it stores the record size it needs in PRODUCER_WAITING, re-checks TAIL, then
 *    waits on SPACE_SEQ (Dekker handshake: the consumer stores TAIL, then loads PRODUCER_WAITING;
 *    with sequentially consistent atomics at least one side sees the other). The consumer clears
 *    the word, bumps SPACE_SEQ and notifies only once the requested space is really there.
 *
 * Performance notes (Node 20, where each Atomics call is a ~30 ns builtin call): `tryWrite` does
 * one atomic RMW per record (plus one `TAIL` load when its cached view of the free space runs
 * out); `drain` publishes TAIL once per {@link DRAIN_PUBLISH_RECORDS} records or capacity/8 bytes
 * and reloads HEAD only when its cached view is exhausted.
 *
 * What it does not do. It never allocates on the tryWrite/peek/advance/drain paths, never grows,
 * never blocks inside tryWrite, and never drops a record: a full ring is reported by `false`.
 * It does not guard against two producers or two consumers (that corrupts the ring; `peek`/`drain`
 * throw if they read an impossible length). Waits are always bounded by a timeout; a worker that
 * owns sockets must use the async waits (never `waitForData`/`waitForSpace`, which block the thread
 * in `Atomics.wait`). A worker whose only pending work is an `Atomics.waitAsync` is exited by Node
 * after ~50 ms: keeping the worker alive (a referenced port listener or timer) is the caller's job.
 *
 * @module
 */

import { InvalidArgumentError } from '../errors.js';
import { copyBytes } from './copy-bytes.js';
import {
  CAPACITY,
  HEAD,
  HEADER_BYTES,
  HEADER_INT32,
  LAYOUT_VERSION,
  MAGIC,
  MAX_CAPACITY,
  MIN_CAPACITY,
  PAD_MARKER,
  POSITION_MASK,
  PRODUCER_WAITING,
  READ,
  REC_ID,
  REC_LENGTH,
  REC_META,
  RECORD_HEADER_BYTES,
  RING_LAYOUT_VERSION,
  RING_MAGIC,
  SLEEPING_BIT,
  SPACE_SEQ,
  TAIL,
  WRITTEN,
} from './layout.js';

export { RECORD_HEADER_BYTES } from './layout.js';

/** Where one record lies in {@link SpscRing.data}; filled by {@link SpscRing.peek}. */
export interface RingRecordView {
  /** The record's id (u32). */
  id: number;
  /** The record's meta word (u32). */
  meta: number;
  /** Byte offset of the payload in {@link SpscRing.data}. */
  offset: number;
  /** Payload length in bytes. */
  length: number;
}

/** A fresh, zeroed {@link RingRecordView} to reuse across {@link SpscRing.peek} calls. Thread: any. */
export function createRecordView(): RingRecordView {
  return { id: 0, meta: 0, offset: 0, length: 0 };
}

/** {@link SpscRing.drain} publishes TAIL (and so frees space) at least every this many records. */
export const DRAIN_PUBLISH_RECORDS = 64;

/** Result of the bounded waits. */
export type WaitResult = 'ok' | 'timed-out';

/** `Atomics.waitAsync` (ES2024; present in Node 20, absent from the ES2023 lib typings). */
interface AtomicsWithWaitAsync {
  waitAsync(
    typedArray: Int32Array,
    index: number,
    value: number,
    timeout?: number,
  ): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}
const AtomicsAsync = Atomics as unknown as AtomicsWithWaitAsync;

/** HEAD word value with the consumer's sleeping flag set, as the Int32 the header holds. */
const SLEEPING = SLEEPING_BIT | 0;

/** Bytes a record with a payload of `length` bytes occupies (header + payload, padded to 4). */
function recordBytes(length: number): number {
  return (RECORD_HEADER_BYTES + length + 3) & ~3;
}

function checkTimeout(timeoutMs: number): void {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new InvalidArgumentError(`timeoutMs must be a number >= 0, got ${String(timeoutMs)}`);
  }
}

function checkCapacity(capacity: number, what: string): void {
  if (
    typeof capacity !== 'number' ||
    !Number.isInteger(capacity) ||
    capacity < MIN_CAPACITY ||
    capacity > MAX_CAPACITY ||
    (capacity & (capacity - 1)) !== 0
  ) {
    throw new InvalidArgumentError(
      `${what} must be a power of two from ${MIN_CAPACITY} to ${MAX_CAPACITY} bytes, got ${String(capacity)}`,
    );
  }
}

/**
 * Single-producer single-consumer ring of records `[u32 length][u32 id][u32 meta] payload` over a
 * SharedArrayBuffer made by {@link SpscRing.allocate}.
 *
 * Thread: one producer thread and one consumer thread, each with its own instance on the same SAB
 * (see the module header). Producer and consumer may also be the same thread.
 */
export class SpscRing {
  /**
   * Allocates the SharedArrayBuffer for a ring with `capacity` data bytes (a power of two from
   * 4 KiB to 1 GiB) plus the header. Throws {@link InvalidArgumentError} otherwise.
   * Thread: any.
   */
  static allocate(capacity: number): SharedArrayBuffer {
    checkCapacity(capacity, 'capacity');
    const sab = new SharedArrayBuffer(HEADER_BYTES + capacity);
    const h = new Int32Array(sab, 0, HEADER_INT32);
    Atomics.store(h, CAPACITY, capacity | 0);
    Atomics.store(h, LAYOUT_VERSION, RING_LAYOUT_VERSION);
    Atomics.store(h, MAGIC, RING_MAGIC);
    return sab;
  }

  /** The shared buffer (header + data); post it to the other thread to attach there. */
  readonly sab: SharedArrayBuffer;
  /** Bytes in the data region (power of two). */
  readonly capacity: number;
  /** The data region; a record's payload is contiguous at `[view.offset, view.offset + view.length)`. */
  readonly data: Uint8Array;
  /**
   * Largest payload {@link tryWrite} will ever accept: `capacity / 2 - RECORD_HEADER_BYTES`
   * (already a multiple of 4). A record this large always fits in an empty ring, whatever the
   * positions, so a writer can reject bigger items up front instead of waiting forever.
   */
  readonly maxPayload: number;

  readonly #h: Int32Array;
  readonly #d32: Uint32Array;
  /** The data region as a DataView (for {@link copyBytes}). */
  readonly #dv: DataView;
  readonly #mask: number;

  // producer-local state (positions are modulo 2^31)
  #head: number;
  #tailCache: number;
  #written: number;
  /** While set, a wake the consumer is owed is held back until {@link releaseWake}. */
  #holdWake = false;
  #wakeOwed = false;
  /** The record {@link tryOpen} reserved and has not published yet (see {@link tryOpen}). */
  #open = false;
  /** Byte offset of the open record's header in {@link data}. */
  #openOff = 0;
  /** Padding (wrap) bytes before the open record, part of what it takes from the ring. */
  #openPad = 0;
  /** Payload bytes of the open record so far. */
  #openLen = 0;

  // consumer-local state
  #tail: number;
  /** The TAIL value last stored (the consumer's {@link #tail} runs ahead of it between publishes). */
  #publishedTail: number;
  /** Records consumed by {@link advanceLazy} since TAIL was last stored. */
  #unpublished = 0;
  #headCache: number;
  #read: number;
  #next = 0;
  #peeked = false;

  /**
   * Attaches to a SharedArrayBuffer made by {@link SpscRing.allocate}. Throws
   * {@link InvalidArgumentError} if `sab` is not one. Thread: any.
   */
  constructor(sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_BYTES + MIN_CAPACITY) {
      throw new InvalidArgumentError('SpscRing needs a SharedArrayBuffer made by SpscRing.allocate()');
    }
    const h = new Int32Array(sab, 0, HEADER_INT32);
    if (Atomics.load(h, MAGIC) !== RING_MAGIC || Atomics.load(h, LAYOUT_VERSION) !== RING_LAYOUT_VERSION) {
      throw new InvalidArgumentError('SharedArrayBuffer is not an SpscRing of this layout version');
    }
    const capacity = Atomics.load(h, CAPACITY) >>> 0;
    checkCapacity(capacity, 'ring header capacity');
    if (sab.byteLength !== HEADER_BYTES + capacity) {
      throw new InvalidArgumentError(
        `SharedArrayBuffer is ${sab.byteLength} bytes; the ring header says ${HEADER_BYTES + capacity}`,
      );
    }
    this.sab = sab;
    this.capacity = capacity;
    this.data = new Uint8Array(sab, HEADER_BYTES, capacity);
    this.maxPayload = (capacity / 2 - RECORD_HEADER_BYTES) & ~3;
    this.#h = h;
    this.#d32 = new Uint32Array(sab, HEADER_BYTES, capacity / 4);
    this.#dv = new DataView(sab, HEADER_BYTES, capacity);
    this.#mask = capacity - 1;
    const head = Atomics.load(h, HEAD) & POSITION_MASK;
    const tail = Atomics.load(h, TAIL) & POSITION_MASK;
    this.#head = head;
    this.#tailCache = tail;
    this.#written = Atomics.load(h, WRITTEN) >>> 0;
    this.#tail = tail;
    this.#publishedTail = tail;
    this.#headCache = head;
    this.#read = Atomics.load(h, READ) >>> 0;
  }

  // ------------------------------------------------------------------------------------------
  // producer
  // ------------------------------------------------------------------------------------------

  /**
   * Appends one record: header `[u32 payloadLength][u32 id][u32 meta]`, then `a`, then `b` if
   * given, padded to 4 bytes. `id` and `meta` are stored as `>>> 0` (u32).
   *
   * Returns `false` and writes nothing if the record does not fit now, or if
   * `a.length + b.length > maxPayload` (it never will). Publishes the payload before HEAD; wakes the
   * consumer only if it said it is sleeping. Never allocates, never blocks.
   * Thread: the producer.
   */
  tryWrite(id: number, meta: number, a: Uint8Array, b?: Uint8Array): boolean {
    if (this.#open) this.#publishOpen();
    const lenA = a.length;
    const len = b === undefined ? lenA : lenA + b.length;
    const p = this.#begin(id, meta, len);
    if (p < 0) return false;
    if (lenA !== 0) copyBytes(this.data, this.#dv, p, a, 0, lenA);
    if (b !== undefined && b.length !== 0) copyBytes(this.data, this.#dv, p + lenA, b, 0, b.length);
    this.#publish();
    return true;
  }

  /**
   * {@link tryWrite} of `src[offset, offset + length)`, without making a view of it. (A byte-by-byte
   * copy is about twice as slow as `set` of a `subarray` into shared memory; {@link copyBytes}' word
   * copy is faster than both for short payloads.)
   * Thread: the producer.
   */
  tryWriteRange(id: number, meta: number, src: Uint8Array, offset: number, length: number): boolean {
    if (this.#open) this.#publishOpen();
    const p = this.#begin(id, meta, length);
    if (p < 0) return false;
    if (length !== 0) copyBytes(this.data, this.#dv, p, src, offset, length);
    this.#publish();
    return true;
  }

  /**
   * Reserves a record of `length` payload bytes for `(id, meta)` and leaves it **open**: not yet
   * published, so the producer can fill `data[offset, offset + length)` (returned offset) in place,
   * grow it with {@link tryExtend}, and publish it with {@link publishOpen}. Any other producer call
   * ({@link tryWrite}, {@link tryWriteRange}, another `tryOpen`, {@link releaseWake}, the waits)
   * publishes an open record first, so records keep their order; the producer must have written a
   * complete payload before making one. The ring does not look inside the payload.
   *
   * Returns -1, reserving nothing, if the record does not fit now (an open record is still published
   * first, so waiting for the consumer makes progress) or never fits (over {@link maxPayload}).
   * Thread: the producer.
   */
  tryOpen(id: number, meta: number, length: number): number {
    if (this.#open) this.#publishOpen();
    const p = this.#begin(id, meta, length);
    if (p < 0) return -1;
    this.#open = true;
    this.#openOff = p - RECORD_HEADER_BYTES;
    this.#openPad = this.#pendingNeed - recordBytes(length);
    this.#openLen = length;
    return p;
  }

  /**
   * Grows the open record ({@link tryOpen}) by `more` bytes in place; returns where they go in
   * {@link data}, or -1 if there is no open record or it cannot grow there (past {@link maxPayload},
   * past the end of the data region, or into space the consumer has not freed). Publishes nothing.
   * Thread: the producer.
   */
  tryExtend(more: number): number {
    if (!this.#open) return -1;
    const len = this.#openLen + more;
    if (len > this.maxPayload) return -1;
    const rec = recordBytes(len);
    if (this.#openOff + rec > this.capacity) return -1;
    const need = this.#openPad + rec;
    const cap = this.capacity;
    const head = this.#head;
    if (cap - ((head - this.#tailCache) & POSITION_MASK) < need) {
      this.#tailCache = Atomics.load(this.#h, TAIL) & POSITION_MASK;
      if (cap - ((head - this.#tailCache) & POSITION_MASK) < need) return -1;
    }
    const at = this.#openOff + RECORD_HEADER_BYTES + this.#openLen;
    this.#openLen = len;
    return at;
  }

  /** Publishes the open record ({@link tryOpen}), if any (waking as {@link tryWrite} does). Thread: the producer. */
  publishOpen(): void {
    if (this.#open) this.#publishOpen();
  }

  /**
   * Copies `src[offset, offset + length)` into {@link data} at `at` (a place the producer reserved:
   * an open record's payload), by words for short copies ({@link copyBytes}). Thread: the producer.
   */
  copyIn(at: number, src: Uint8Array, offset: number, length: number): void {
    if (length !== 0) copyBytes(this.data, this.#dv, at, src, offset, length);
  }

  /** Publishes the open record: final length, then HEAD (wakes as {@link #publish}). */
  #publishOpen(): void {
    this.#open = false;
    this.#d32[(this.#openOff >> 2) + REC_LENGTH] = this.#openLen;
    this.#pendingNeed = this.#openPad + recordBytes(this.#openLen);
    this.#publish();
  }

  /** Bytes the record being written takes (set by {@link #begin}, used by {@link #publish}). */
  #pendingNeed = 0;

  /**
   * Reserves a record of `len` payload bytes and writes its header; returns where the payload goes,
   * or -1 if it does not fit now (or ever: over {@link maxPayload}). Nothing is visible until
   * {@link #publish}.
   */
  #begin(id: number, meta: number, len: number): number {
    if (len > this.maxPayload) return -1;
    const rec = recordBytes(len);
    const cap = this.capacity;
    const head = this.#head;
    let off = head & this.#mask;
    const contiguous = cap - off;
    const need = rec <= contiguous ? rec : contiguous + rec;
    if (cap - ((head - this.#tailCache) & POSITION_MASK) < need) {
      this.#tailCache = Atomics.load(this.#h, TAIL) & POSITION_MASK;
      if (cap - ((head - this.#tailCache) & POSITION_MASK) < need) return -1;
    }
    const d32 = this.#d32;
    if (rec > contiguous) {
      d32[off >> 2] = PAD_MARKER;
      off = 0;
    }
    const w = off >> 2;
    d32[w + REC_LENGTH] = len;
    d32[w + REC_ID] = id;
    d32[w + REC_META] = meta;
    this.#pendingNeed = need;
    return off + RECORD_HEADER_BYTES;
  }

  /** Publishes the record {@link #begin} reserved: counter, then HEAD; wakes a sleeping consumer. */
  #publish(): void {
    const h = this.#h;
    const written = (this.#written + 1) >>> 0;
    this.#written = written;
    h[WRITTEN] = written | 0; // plain store, published by the HEAD update below
    const newHead = (this.#head + this.#pendingNeed) & POSITION_MASK;
    this.#head = newHead;
    // Publish, clear the sleeping bit and learn whether it was set: one atomic step.
    if ((Atomics.exchange(h, HEAD, newHead) & SLEEPING) !== 0) {
      if (this.#holdWake) this.#wakeOwed = true;
      else Atomics.notify(h, HEAD);
    }
  }

  /**
   * Producer: from now on, records are published as usual but a sleeping consumer is not woken until
   * {@link releaseWake} (lets a producer finish a run of records the consumer should take in one
   * go). Never hold a wake across a wait for the consumer: release it first.
   * Thread: the producer.
   */
  holdWake(): void {
    this.#holdWake = true;
  }

  /**
   * Producer: wakes the consumer now if a held-back wake is owed; with `stop`, also stops holding.
   * Thread: the producer.
   */
  releaseWake(stop: boolean): void {
    if (this.#open) this.#publishOpen();
    if (stop) this.#holdWake = false;
    if (this.#wakeOwed) {
      this.#wakeOwed = false;
      Atomics.notify(this.#h, HEAD);
    }
  }

  /**
   * Free bytes in the data region right now (`capacity` minus bytes in use, headers and padding
   * included). Conservative: the consumer may free more at any moment. A record of `n` payload bytes
   * needs `12 + align4(n)` of them, plus the bytes left before the end of the region when it has to
   * wrap; use {@link waitForSpaceAsync} with the payload length to wait for exactly "it fits".
   * Thread: any.
   */
  freeBytes(): number {
    const h = this.#h;
    const tail = Atomics.load(h, TAIL); // tail first: a stale tail only overstates use
    const head = Atomics.load(h, HEAD);
    const used = (head - tail) & POSITION_MASK;
    return used > this.capacity ? 0 : this.capacity - used;
  }

  /**
   * Resolves `'ok'` as soon as a record with a payload of `bytesNeeded` bytes fits (so the next
   * {@link tryWrite} of that size succeeds), or `'timed-out'` after `timeoutMs` (`Infinity` allowed).
   * `bytesNeeded` above {@link maxPayload} is treated as `maxPayload`; passing more than you are
   * about to write is a low-watermark that batches wake-ups. Uses `Atomics.waitAsync`: safe in a
   * worker that owns sockets. Sets PRODUCER_WAITING, re-checks, then waits; the consumer notifies
   * only when the space is there. One wait at a time; do not write while it is pending.
   * Thread: the producer.
   */
  async waitForSpaceAsync(bytesNeeded: number, timeoutMs: number): Promise<WaitResult> {
    const rec = this.#checkSpaceArgs(bytesNeeded, timeoutMs);
    if (this.#open) this.#publishOpen(); // the consumer must see it to free space
    if (this.#fits(rec)) return 'ok';
    this.releaseWake(false);
    const h = this.#h;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seq = Atomics.load(h, SPACE_SEQ);
      Atomics.store(h, PRODUCER_WAITING, rec);
      if (this.#fits(rec)) break;
      const remaining = deadline - performance.now();
      if (remaining <= 0) break;
      const r = AtomicsAsync.waitAsync(h, SPACE_SEQ, seq, remaining);
      if (r.async) await r.value;
      Atomics.store(h, PRODUCER_WAITING, 0);
      if (this.#fits(rec)) return 'ok';
    }
    Atomics.store(h, PRODUCER_WAITING, 0);
    return this.#fits(rec) ? 'ok' : 'timed-out';
  }

  /**
   * Synchronous twin of {@link waitForSpaceAsync} (an addition to the core API) for a producer on
   * the main thread: blocks in `Atomics.wait` for at most `timeoutMs`. Never call it from a thread
   * that owns sockets. Thread: the producer.
   */
  waitForSpace(bytesNeeded: number, timeoutMs: number): WaitResult {
    const rec = this.#checkSpaceArgs(bytesNeeded, timeoutMs);
    if (this.#open) this.#publishOpen(); // the consumer must see it to free space
    if (this.#fits(rec)) return 'ok';
    this.releaseWake(false); // the consumer frees the space: it must not sleep on a held wake
    const h = this.#h;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seq = Atomics.load(h, SPACE_SEQ);
      Atomics.store(h, PRODUCER_WAITING, rec);
      if (this.#fits(rec)) break;
      const remaining = deadline - performance.now();
      if (remaining <= 0) break;
      Atomics.wait(h, SPACE_SEQ, seq, remaining);
      Atomics.store(h, PRODUCER_WAITING, 0);
      if (this.#fits(rec)) return 'ok';
    }
    Atomics.store(h, PRODUCER_WAITING, 0);
    return this.#fits(rec) ? 'ok' : 'timed-out';
  }

  #checkSpaceArgs(bytesNeeded: number, timeoutMs: number): number {
    if (typeof bytesNeeded !== 'number' || !Number.isInteger(bytesNeeded) || bytesNeeded < 0) {
      throw new InvalidArgumentError(`bytesNeeded must be an integer >= 0, got ${String(bytesNeeded)}`);
    }
    checkTimeout(timeoutMs);
    return recordBytes(Math.min(bytesNeeded, this.maxPayload));
  }

  /** Producer: does a record of `rec` bytes fit at the current head? Reloads TAIL. */
  #fits(rec: number): boolean {
    const cap = this.capacity;
    const head = this.#head;
    const contiguous = cap - (head & this.#mask);
    const need = rec <= contiguous ? rec : contiguous + rec;
    const tail = Atomics.load(this.#h, TAIL) & POSITION_MASK;
    this.#tailCache = tail;
    return cap - ((head - tail) & POSITION_MASK) >= need;
  }

  // ------------------------------------------------------------------------------------------
  // consumer
  // ------------------------------------------------------------------------------------------

  /**
   * Records published and not yet consumed: `(written - read) >>> 0`, a snapshot. WRITTEN is
   * published with HEAD, so once {@link peek} has seen a record, `size` counts it; `size` may
   * count one record whose HEAD update is still in flight, so decide with `peek()`/`drain()`, not
   * with `size`. Thread: any.
   */
  get size(): number {
    return (Atomics.load(this.#h, WRITTEN) - Atomics.load(this.#h, READ)) >>> 0;
  }

  /**
   * Fills `out` with the next record (id, meta, payload offset in {@link data}, length) without
   * consuming it; `false` if the ring is empty. Skips a wrap marker transparently. Calling it again
   * before {@link advance} returns the same record. The payload stays valid until `advance()`.
   * Thread: the consumer.
   */
  peek(out: RingRecordView): boolean {
    let pos = this.#tail;
    if (pos === this.#headCache) {
      this.#headCache = Atomics.load(this.#h, HEAD) & POSITION_MASK;
      if (pos === this.#headCache) {
        if (this.#unpublished !== 0) this.#publishTail(); // caught up: what advanceLazy kept goes out
        return false;
      }
    }
    const d32 = this.#d32;
    let off = pos & this.#mask;
    let len = d32[off >> 2]!;
    if (len === PAD_MARKER) {
      pos = (pos + this.capacity - off) & POSITION_MASK;
      off = 0;
      len = d32[0]!;
    }
    if (len > this.maxPayload) throw corrupted(len, off);
    const w = off >> 2;
    out.id = d32[w + REC_ID]!;
    out.meta = d32[w + REC_META]!;
    out.offset = off + RECORD_HEADER_BYTES;
    out.length = len;
    this.#next = (pos + recordBytes(len)) & POSITION_MASK;
    this.#peeked = true;
    return true;
  }

  /**
   * Consumes the record last returned by {@link peek}: stores READ, then TAIL (`Atomics.store`),
   * and wakes the producer if it is waiting and the space it waits for is now there. Throws
   * {@link InvalidArgumentError} if there is no peeked record. Thread: the consumer.
   */
  advance(): void {
    if (!this.#peeked) throw new InvalidArgumentError('SpscRing.advance() without a successful peek()');
    this.#peeked = false;
    this.#tail = this.#next;
    this.#read = (this.#read + 1) >>> 0;
    this.#publishTail();
  }

  /**
   * {@link advance} for a consumer taking records one at a time in a hot loop: the local tail moves
   * at once, but TAIL (the space the producer sees, and a waiting producer's wake) is published as
   * {@link drain} publishes it: every {@link DRAIN_PUBLISH_RECORDS} records or `capacity / 8` bytes,
   * when {@link peek} finds the ring empty, at the next {@link drain}, or at {@link publishConsumed}.
   * Thread: the consumer.
   */
  advanceLazy(): void {
    if (!this.#peeked) throw new InvalidArgumentError('SpscRing.advanceLazy() without a successful peek()');
    this.#peeked = false;
    const tail = (this.#tail = this.#next);
    this.#read = (this.#read + 1) >>> 0;
    if (++this.#unpublished >= DRAIN_PUBLISH_RECORDS || ((tail - this.#publishedTail) & POSITION_MASK) >= this.capacity >>> 3) this.#publishTail();
  }

  /** Publishes what {@link advanceLazy} consumed and has not published yet. Thread: the consumer. */
  publishConsumed(): void {
    if (this.#unpublished !== 0) this.#publishTail();
  }

  /** Consumer: makes the local tail and read count visible, then wakes a waiting producer if it now fits. */
  #publishTail(): void {
    const h = this.#h;
    h[READ] = this.#read | 0; // plain store, published by the TAIL store below
    Atomics.store(h, TAIL, this.#tail);
    this.#publishedTail = this.#tail;
    this.#unpublished = 0;
    const waiting = Atomics.load(h, PRODUCER_WAITING);
    if (waiting !== 0) this.#maybeWakeProducer(waiting);
  }

  #maybeWakeProducer(rec: number): void {
    const h = this.#h;
    const cap = this.capacity;
    const head = Atomics.load(h, HEAD) & POSITION_MASK;
    const contiguous = cap - (head & this.#mask);
    const need = rec <= contiguous ? rec : contiguous + rec;
    if (
      cap - ((head - this.#tail) & POSITION_MASK) >= need &&
      Atomics.compareExchange(h, PRODUCER_WAITING, rec, 0) === rec
    ) {
      Atomics.add(h, SPACE_SEQ, 1);
      Atomics.notify(h, SPACE_SEQ);
    }
  }

  /**
   * Zero-copy drain of up to `max` records: calls `fn(id, meta, data, offset, length)` for each,
   * with the payload at `data[offset .. offset + length)`, and counts the record consumed when the
   * call returns. The payload is only valid during the call. A record is consumed even if `fn`
   * throws; the error propagates and later records stay queued. `fn` must not call
   * peek/advance/drain. Returns the number of records consumed.
   *
   * To save shared-memory traffic, TAIL is published (and a waiting producer woken) every
   * {@link DRAIN_PUBLISH_RECORDS} records or `capacity / 8` bytes, and when drain returns or throws;
   * so the producer sees the space freed by a long drain a little late, never later than that.
   * Thread: the consumer.
   */
  drain(max: number, fn: (id: number, meta: number, data: Uint8Array, offset: number, length: number) => void): number {
    const h = this.#h;
    const d32 = this.#d32;
    const data = this.data;
    const mask = this.#mask;
    const cap = this.capacity;
    const maxPayload = this.maxPayload;
    const publishBytes = cap >>> 3;
    let tail = this.#tail;
    let head = this.#headCache;
    let published = this.#publishedTail;
    let unpublished = this.#unpublished;
    let n = 0;
    this.#peeked = false;
    try {
      while (n < max) {
        if (tail === head) {
          head = Atomics.load(h, HEAD) & POSITION_MASK;
          this.#headCache = head;
          if (tail === head) break;
        }
        let off = tail & mask;
        let len = d32[off >> 2]!;
        if (len === PAD_MARKER) {
          tail = (tail + cap - off) & POSITION_MASK;
          off = 0;
          len = d32[0]!;
        }
        if (len > maxPayload) throw corrupted(len, off);
        const w = off >> 2;
        const id = d32[w + REC_ID]!;
        const meta = d32[w + REC_META]!;
        tail = (tail + recordBytes(len)) & POSITION_MASK;
        // consumed as soon as fn returns or throws; made visible below or in finally
        this.#tail = tail;
        this.#read = (this.#read + 1) >>> 0;
        n++;
        unpublished++;
        fn(id, meta, data, off + RECORD_HEADER_BYTES, len);
        if (unpublished >= DRAIN_PUBLISH_RECORDS || ((tail - published) & POSITION_MASK) >= publishBytes) {
          this.#publishTail();
          published = tail;
          unpublished = 0;
        }
      }
    } finally {
      if (unpublished !== 0) this.#publishTail();
    }
    return n;
  }

  /**
   * Resolves `'ok'` once a record is available, or `'timed-out'` after `timeoutMs` (`Infinity`
   * allowed). Sets the sleeping flag (re-checking emptiness in the same atomic step), then
   * `Atomics.waitAsync`; safe in a worker that owns sockets. One wait at a time.
   * Thread: the consumer.
   */
  async waitForDataAsync(timeoutMs: number): Promise<WaitResult> {
    checkTimeout(timeoutMs);
    const deadline = performance.now() + timeoutMs;
    let timedOut = false;
    for (;;) {
      const sleepValue = this.#prepareSleep();
      if (sleepValue === 0) return this.#woke(timedOut);
      const remaining = deadline - performance.now();
      if (remaining <= 0) return this.#cancelSleep(sleepValue);
      const r = AtomicsAsync.waitAsync(this.#h, HEAD, sleepValue, remaining);
      timedOut = r.async ? (await r.value) === 'timed-out' : r.value === 'timed-out';
    }
  }

  /**
   * Blocks in `Atomics.wait` until a record is available (`'ok'`) or `timeoutMs` passes
   * (`'timed-out'`). For the main thread only: a worker that owns sockets must use
   * {@link waitForDataAsync}. Always pass a finite timeout on the main thread: a crashed producer
   * never wakes it. Thread: the consumer.
   */
  waitForData(timeoutMs: number): WaitResult {
    checkTimeout(timeoutMs);
    const deadline = performance.now() + timeoutMs;
    let timedOut = false;
    for (;;) {
      const sleepValue = this.#prepareSleep();
      if (sleepValue === 0) return this.#woke(timedOut);
      const remaining = deadline - performance.now();
      if (remaining <= 0) return this.#cancelSleep(sleepValue);
      timedOut = Atomics.wait(this.#h, HEAD, sleepValue, remaining) === 'timed-out';
    }
  }

  /**
   * Consumer: 0 if a record is published; otherwise sets the sleeping bit on the (empty) HEAD value
   * and returns the HEAD word to wait on. Any producer update changes that word (new position, bit
   * cleared), so a wait on it cannot miss a record.
   */
  #prepareSleep(): number {
    const h = this.#h;
    const tail = this.#tail;
    for (;;) {
      const cur = Atomics.load(h, HEAD);
      const head = cur & POSITION_MASK;
      this.#headCache = head;
      if (head !== tail) return 0;
      if ((cur & SLEEPING) !== 0) return cur; // already flagged by an earlier wait
      const sleepValue = cur | SLEEPING;
      if (Atomics.compareExchange(h, HEAD, cur, sleepValue) === cur) return sleepValue;
      // HEAD moved between the load and the CAS: there is data now; loop to confirm
    }
  }

  /** Consumer: clears the sleeping bit after a timeout, unless the producer already did (it wrote). */
  #cancelSleep(sleepValue: number): WaitResult {
    const h = this.#h;
    if (Atomics.compareExchange(h, HEAD, sleepValue, sleepValue & POSITION_MASK) === sleepValue) return 'timed-out';
    const head = Atomics.load(h, HEAD) & POSITION_MASK;
    this.#headCache = head;
    return head !== this.#tail ? this.#woke(true) : 'timed-out';
  }

  /** A wait found a record; `timedOut`: its sleep ran out its time first (counted, see {@link missedWakes}). */
  #woke(timedOut: boolean): WaitResult {
    if (timedOut) this.#missedWakes++;
    return 'ok';
  }

  #missedWakes = 0;

  /**
   * Waits of this consumer ({@link waitForData}, {@link waitForDataAsync}) whose sleep ran out its
   * time although a record had been published meanwhile: the producer published without waking it
   * (a held wake never released, say). 0 in a correct program, but for a record published in the
   * instant the sleep times out. Thread: the consumer.
   */
  get missedWakes(): number {
    return this.#missedWakes;
  }

  /** Records written since allocate (u32, wrapping). Thread: any. */
  get written(): number {
    return Atomics.load(this.#h, WRITTEN) >>> 0;
  }

  /** Records consumed since allocate (u32, wrapping). Thread: any. */
  get read(): number {
    return Atomics.load(this.#h, READ) >>> 0;
  }
}

function corrupted(len: number, off: number): InvalidArgumentError {
  return new InvalidArgumentError(`SpscRing corrupted: record length ${len} at offset ${off} (two producers?)`);
}
