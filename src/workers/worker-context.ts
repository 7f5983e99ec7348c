/**
 * State one I/O worker shares between its endpoints: the rings it produces into, the readers it
 * serves, its statistics, and the event publisher.
 *
 * Thread: I/O workers only.
 * @module
 */
import { SpscRing } from '../shared-memory/spsc-ring.js';
import { EventKind, ReaderWord, StatWord, type LogEvent, type ReaderConfig } from '../protocol/control.js';

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Something that can be told "the reader ring you were waiting for has room again". */
export interface RingWaiter {
  /** Called when room may be available; returns true once it no longer waits. */
  retryDelivery(): boolean;
}

/** One reader as seen by a worker: its ring (this worker → main) and shared control words. */
export class ReaderSlot {
  readonly id: number;
  readonly ring: SpscRing;
  readonly control: Int32Array;
  config: ReaderConfig;
  /** Endpoints whose datagrams wait for room in {@link ring}, in arrival order. */
  readonly blocked = new Set<RingWaiter>();
  private waiting = false;

  constructor(id: number, ring: SharedArrayBuffer, control: SharedArrayBuffer, config: ReaderConfig) {
    this.id = id;
    this.ring = new SpscRing(ring);
    this.control = new Int32Array(control);
    this.config = config;
  }

  /**
   * Accounts for one datagram about to be queued. For a threaded reader past its cap, drops it:
   * sets the overflow flag, counts it and returns false (Panda's documented queue cap).
   */
  admit(): boolean {
    const queued = Atomics.add(this.control, ReaderWord.QUEUED, 1);
    if (this.config.enforceCap && queued >= Atomics.load(this.control, ReaderWord.MAX_QUEUE)) {
      Atomics.sub(this.control, ReaderWord.QUEUED, 1);
      Atomics.store(this.control, ReaderWord.OVERFLOW, 1);
      Atomics.add(this.control, ReaderWord.DROPPED, 1);
      return false;
    }
    return true;
  }

  /**
   * After delivering into {@link ring}: wakes the main thread if it waits for this reader's data
   * (`waitForDataAsync`). The main thread sets WAITING before it checks the rings, this runs after
   * the ring's publish: with sequentially consistent atomics one of the two sees the other.
   */
  ringBell(): void {
    const c = this.control;
    if (Atomics.load(c, ReaderWord.WAITING) !== 0 && Atomics.compareExchange(c, ReaderWord.WAITING, 1, 0) === 1) {
      Atomics.add(c, ReaderWord.DOORBELL, 1);
      Atomics.notify(c, ReaderWord.DOORBELL);
    }
  }

  /** Takes back `n` datagrams counted by {@link admit} that will not reach the ring after all. */
  unadmit(n: number): void {
    if (n > 0) Atomics.sub(this.control, ReaderWord.QUEUED, n);
  }

  /** Counts `n` already-admitted datagrams moved here from another reader (no cap: they were read). */
  readmit(n: number): void {
    if (n > 0) Atomics.add(this.control, ReaderWord.QUEUED, n);
  }

  /** Registers `w` to be retried when the ring drains, and starts one wait for the whole slot. */
  block(w: RingWaiter): void {
    this.blocked.add(w);
    if (this.waiting) return;
    this.waiting = true;
    const again = (): void => {
      void this.ring.waitForSpaceAsync(this.ring.maxPayload, 50).then(() => {
        for (const b of this.blocked) {
          if (b.retryDelivery()) this.blocked.delete(b);
          else break; // still no room: keep order, wait again
        }
        if (this.blocked.size > 0) again();
        else this.waiting = false;
      });
    };
    again();
  }
}

/**
 * Most log lines an {@link EventPublisher} keeps waiting for room in the event ring (the main thread
 * drains it only when the application polls); the lines past it are counted, not kept.
 */
const MAX_WAITING_LOG_LINES = 1000;

/** Publishes events to the main thread through the event ring, keeping order when it is full. */
export class EventPublisher {
  private readonly ring: SpscRing;
  private readonly backlog: Array<{ id: number; kind: number; payload: Uint8Array }> = [];
  private waiting = false;
  /** {@link EventKind.LOG} records in {@link backlog}. */
  private waitingLogLines = 0;
  /** Log lines dropped since the last one published (the backlog held its maximum of them). */
  private droppedLogLines = 0;

  constructor(ring: SharedArrayBuffer) {
    this.ring = new SpscRing(ring);
  }

  /** Queues one event; never drops it. */
  publish(connId: number, kind: EventKind, body?: unknown): void {
    const payload = body === undefined ? EMPTY : encoder.encode(JSON.stringify(body));
    if (this.backlog.length === 0 && this.ring.tryWrite(connId, kind, payload)) return;
    this.backlog.push({ id: connId, kind, payload });
    if (kind === EventKind.LOG) this.waitingLogLines++;
    this.flushLater();
  }

  /**
   * Publishes one log line ({@link EventKind.LOG}, connection id 0): the main thread logs it through
   * its own sink. Unlike other events, a line may be dropped: while the event ring stays full, at
   * most {@link MAX_WAITING_LOG_LINES} wait; past that they are counted, and the next line that
   * fits is preceded by one warning with the count.
   */
  log(level: LogEvent['level'], message: string): void {
    if (this.waitingLogLines >= MAX_WAITING_LOG_LINES) {
      this.droppedLogLines++;
      return;
    }
    if (this.droppedLogLines > 0) {
      const line: LogEvent = { level: 'warning', message: `${this.droppedLogLines} log line(s) of an I/O thread dropped: its event ring stayed full (the application did not poll)` };
      this.droppedLogLines = 0;
      this.publish(0, EventKind.LOG, line);
    }
    const line: LogEvent = { level, message };
    this.publish(0, EventKind.LOG, line);
  }

  private flushLater(): void {
    if (this.waiting) return;
    this.waiting = true;
    void this.ring.waitForSpaceAsync(256, 50).then(() => {
      this.waiting = false;
      while (this.backlog.length > 0) {
        const e = this.backlog[0]!;
        if (!this.ring.tryWrite(e.id, e.kind, e.payload)) break;
        this.backlog.shift();
        if (e.kind === EventKind.LOG) this.waitingLogLines--;
      }
      if (this.backlog.length > 0) this.flushLater();
    });
  }
}

/** Per-worker counters in shared memory (single writer: this worker). */
export class WorkerStats {
  readonly words: Float64Array;
  constructor(sab: SharedArrayBuffer) {
    this.words = new Float64Array(sab);
  }
  add(word: number, n: number): void {
    this.words[word] = (this.words[word] ?? 0) + n;
  }
  inDatagram(bytes: number): void {
    this.words[StatWord.DATAGRAMS_IN]! += 1;
    this.words[StatWord.BYTES_IN]! += bytes;
  }
  outDatagram(bytes: number): void {
    this.outDatagrams(1, bytes);
  }
  /** `count` datagrams of `bytes` payload bytes in all. */
  outDatagrams(count: number, bytes: number): void {
    this.words[StatWord.DATAGRAMS_OUT]! += count;
    this.words[StatWord.BYTES_OUT]! += bytes;
  }
}
