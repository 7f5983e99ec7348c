/**
 * Write batching: the one home of everything that holds sends back from the I/O threads so that a
 * connection's run of replies leaves in one TCP `write` (docs/design.md §2, "Replies to a run leave
 * together"), and of the main thread's waits for its I/O threads.
 *
 * - **Holding** ({@link WriteBatching.hold} … {@link WriteBatching.release}, nesting): sends are
 *   published to the outbound rings as usual, but a sleeping I/O thread is not woken; consecutive
 *   TCP sends to one connection join one open **batch record** (`OutOp.SEND_TCP_BATCH`, framed here:
 *   `[u32 count]` then the datagrams with their length headers), published when the hold is released
 *   (or earlier, when another record must follow it in the ring). `drainData` holds while it works
 *   through a connection's run ({@link DrainPacer}); `writer.cork()` … `uncork()` holds on request,
 *   paced by a `DrainPacer` of its own.
 * - **Waiting** ({@link WriteBatching.wait}): every place the main thread blocks until an I/O thread
 *   has done something (room in a full ring, room in a writer's queue, a synchronous call's reply, a
 *   shutdown) waits through this one function, which first publishes what is held and sends the held
 *   wakes — a thread asleep on a held wake would never make the progress waited for.
 *
 * Thread: main thread only.
 * @module
 */
import { BATCH_COUNT_BYTES } from '../../protocol/control.js';
import type { TcpHeaderSize } from '../../protocol/tcp-framing.js';
import type { SpscRing } from '../../shared-memory/spsc-ring.js';
import type { IoThread } from '../io-thread.js';

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the main thread for `ms` (bounded waits only: a `sleep` of {@link WriteBatching.wait}). Thread: main thread only. */
export function pauseMs(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** How long one sleep of {@link WriteBatching.wait} lasts at most, ms (it notices a dead thread between slices). */
const WAIT_SLICE_MS = 50;

/** Datagrams between two readings of the clock in a batch drain (see {@link DrainPacer.visit}). */
const CLOCK_EVERY = 8;

/** The batch record a thread's outbound ring has open (main-thread state, one per thread). */
class OpenBatch {
  readonly ring: SpscRing;
  /** Payload offset of the open batch in the ring's data, or -1 when none is open. */
  at = -1;
  id = 0;
  meta = 0;
  prefix = 0;
  count = 0;
  constructor(ring: SpscRing) {
    this.ring = ring;
  }
}

/** Writes `length` as a little-endian length header of `prefix` bytes (0, 2 or 4) at `data[at]`. */
function putLength(data: Uint8Array, at: number, prefix: number, length: number): void {
  if (prefix === 0) return;
  data[at] = length;
  data[at + 1] = length >>> 8;
  if (prefix === 4) {
    data[at + 2] = length >>> 16;
    data[at + 3] = length >>> 24;
  }
}

/** Writes the batch count word (u32, little-endian; 4-aligned) at `data[at]`. */
function putCount(data: Uint8Array, at: number, count: number): void {
  data[at] = count;
  data[at + 1] = count >>> 8;
  data[at + 2] = count >>> 16;
  data[at + 3] = count >>> 24;
}

/** The outbound side of one manager's I/O threads. Thread: main thread only. */
export class WriteBatching {
  /** The pool's thread list (live: grows and is patched as threads are added or replaced). */
  readonly #threads: readonly IoThread[];
  /** Open {@link hold} calls. */
  #holds = 0;
  /** Per thread index: its open batch (remade when the thread at that index is replaced). */
  readonly #batches: Array<OpenBatch | undefined> = [];
  /** `NetConfig.drainHoldUs` in ms: how long a {@link DrainPacer} holds the wakes of a long drain. */
  readonly holdMs: number;

  /**
   * @param threads the pool's thread list, read live.
   * @param holdMs `NetConfig.drainHoldUs`, in ms.
   */
  constructor(threads: readonly IoThread[], holdMs: number) {
    this.#threads = threads;
    this.holdMs = holdMs;
  }

  /**
   * Starts holding: sends are published but sleeping threads are not woken, and a connection's
   * consecutive TCP sends join one batch record, until the matching {@link release}. Nests.
   */
  hold(): void {
    if (this.#holds++ === 0) for (const t of this.#threads) t.outRing.holdWake();
  }

  /**
   * Publishes every open batch and sends the held wakes; with `stop`, also ends one {@link hold} (the
   * outermost one stops holding).
   */
  release(stop: boolean): void {
    const last = stop && --this.#holds === 0;
    for (const t of this.#threads) t.outRing.releaseWake(last); // publishes the ring's open record first
  }

  /**
   * The one place the main thread waits for its I/O threads. First publishes what is held and sends
   * the held wakes (a thread asleep on a held wake would never do what is waited for), then runs
   * `begin` (posting the request, say), then, until `done()` holds, sleeps in slices of at most 50 ms
   * with `sleep(ms)` (which should return early when the awaited thing may have happened), while
   * `live()` and for at most `timeoutMs`. True when `done()` held. (An arrow: pass it as it is.)
   */
  readonly wait = (done: () => boolean, timeoutMs: number, sleep: (ms: number) => void, live: () => boolean = () => true, begin?: () => void): boolean => {
    this.release(false);
    begin?.();
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (done()) return true;
      if (!live()) return false;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      sleep(Math.min(left, WAIT_SLICE_MS));
    }
  };

  /**
   * Pushes one plain record into `thread`'s outbound ring (`payload[0, length)`), waiting (bounded,
   * through {@link wait}) for room. False when the thread is gone or its ring stays full past
   * `timeoutMs`, or the record can never fit.
   */
  send(thread: IoThread, connId: number, meta: number, payload: Uint8Array, length: number, timeoutMs: number): boolean {
    const ring = thread.outRing;
    if (ring.tryWriteRange(connId, meta, payload, 0, length)) return true;
    if (length > ring.maxPayload) return false;
    return this.wait(() => ring.tryWriteRange(connId, meta, payload, 0, length), timeoutMs, (ms) => ring.waitForSpace(length, ms), () => thread.isAlive());
  }

  /**
   * Pushes one TCP datagram, `payload[0, length)` framed with a `prefix`-byte length header, as an
   * item of a batch record (`meta` says `OutOp.SEND_TCP_BATCH`): while sends are held it joins the
   * connection's open batch; otherwise it is published at once as a batch of one. Waits (bounded)
   * for room as {@link send}. The caller checks that `length` fits `prefix`.
   */
  sendFramed(thread: IoThread, connId: number, meta: number, prefix: TcpHeaderSize, payload: Uint8Array, length: number, timeoutMs: number): boolean {
    if (this.#tryItem(thread, connId, meta, prefix, payload, length)) return true;
    const ring = thread.outRing;
    const need = BATCH_COUNT_BYTES + prefix + length;
    if (need > ring.maxPayload) return false;
    return this.wait(() => this.#tryItem(thread, connId, meta, prefix, payload, length), timeoutMs, (ms) => ring.waitForSpace(need, ms), () => thread.isAlive());
  }

  /** Largest datagram {@link sendFramed} can ever take on `thread` with a `prefix`-byte header. */
  maxFramedPayload(thread: IoThread, prefix: TcpHeaderSize): number {
    return thread.outRing.maxPayload - BATCH_COUNT_BYTES - prefix;
  }

  /** Largest record {@link send} can ever take on `thread`. */
  maxPayload(thread: IoThread): number {
    return thread.outRing.maxPayload;
  }

  /** One non-blocking try of {@link sendFramed}. */
  #tryItem(thread: IoThread, id: number, meta: number, prefix: TcpHeaderSize, src: Uint8Array, length: number): boolean {
    let b = this.#batches[thread.index];
    if (b === undefined || b.ring !== thread.outRing) b = this.#batches[thread.index] = new OpenBatch(thread.outRing);
    const ring = b.ring;
    const data = ring.data;
    const item = prefix + length;
    if (b.at >= 0 && b.id === id && b.meta === meta && b.prefix === prefix) {
      const at = ring.tryExtend(item); // -1 too when the ring published the batch meanwhile
      if (at >= 0) {
        putLength(data, at, prefix, length);
        ring.copyIn(at + prefix, src, 0, length);
        putCount(data, b.at, ++b.count);
        return true;
      }
    }
    const at = ring.tryOpen(id, meta, BATCH_COUNT_BYTES + item); // publishes an open batch first
    b.at = -1;
    if (at < 0) return false;
    putCount(data, at, 1);
    putLength(data, at + BATCH_COUNT_BYTES, prefix, length);
    ring.copyIn(at + BATCH_COUNT_BYTES + prefix, src, 0, length);
    if (this.#holds === 0) {
      ring.publishOpen(); // nothing held: a batch of one, at once
      return true;
    }
    b.at = at;
    b.id = id;
    b.meta = meta;
    b.prefix = prefix;
    b.count = 1;
    return true;
  }

  /** A pacer for one reader's batch drains (see {@link DrainPacer}). */
  pacer(): DrainPacer {
    return new DrainPacer(this);
  }
}

/**
 * The timing policy of a batch drain (`drainData`): sends the visitor makes are held while it works
 * through one connection's datagrams, and released when the drain moves to another connection (at
 * most once per `NetConfig.drainHoldUs`) or returns: the replies to a run of datagrams leave in one
 * `write`, and a sleeping I/O thread is woken once for several connections' replies. One per reader
 * (its drains), and one per writer (its `cork`, visited at each send). Thread: main thread only.
 *
 * Why the wakes are paced at all: a wake costs the main thread about 8 µs of CPU on a VM and the
 * woken thread more, and a drain that woke a sleeping I/O thread at every switch to another
 * connection paid that every few datagrams. Echo with 2 µs of work per datagram, 1 I/O thread,
 * 100 × 10,000 datagrams: a bound of 50 µs woke the thread every 35 datagrams (I/O thread 1.45 µs of
 * CPU per datagram), 250 µs every 75 (0.86); in a sweep, 1 ms every 150–200 (0.68–0.86).
 * bench/results/ab-drain-hold-2026-12-07.md has the A/B.
 */
export class DrainPacer {
  readonly #out: WriteBatching;
  /** The connection whose datagrams the current drain is visiting. */
  #last: object | null = null;
  /** When the held sends last went out (`performance.now()`). */
  #heldSince = 0;
  /** Datagrams visited since the clock was last read (it is read at most every {@link CLOCK_EVERY}). */
  #sinceCheck = 0;

  constructor(out: WriteBatching) {
    this.#out = out;
  }

  /** A drain begins: sends are held until {@link end} (call it in a `finally`). */
  start(): void {
    this.#out.hold();
    this.#heldSince = performance.now();
    this.#sinceCheck = 0;
  }

  /** The drain returned or threw: what it held goes out. */
  end(): void {
    this.#last = null;
    this.#out.release(true);
  }

  /**
   * The drain is about to visit a datagram of `conn`: on a switch to another connection, the held
   * sends go out once they have waited `NetConfig.drainHoldUs`; the clock is read at a switch, at
   * most every {@link CLOCK_EVERY} datagrams.
   */
  visit(conn: object): void {
    this.#sinceCheck++;
    if (conn === this.#last) return;
    if (this.#last !== null && this.#sinceCheck >= CLOCK_EVERY) {
      this.#sinceCheck = 0;
      const now = performance.now();
      if (now - this.#heldSince >= this.#out.holdMs) {
        this.#out.release(false);
        this.#heldSince = now;
      }
    }
    this.#last = conn;
  }
}
