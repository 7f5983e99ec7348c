/**
 * Panda's `ConnectionReader` machinery shared by {@link QueuedConnectionReader} and
 * {@link QueuedConnectionListener}: the set of monitored connections, framing settings, the
 * per-thread rings datagrams arrive in, and the queue rules.
 *
 * - `numThreads > 0` (threaded): the I/O threads deliver into shared-memory rings as data arrives;
 *   the rings *are* the queue, drained in place by `getData`, with no syscall and no message event.
 *   The cap is enforced by the threads (newest dropped, overflow flag set).
 * - `numThreads = 0` (polled, Panda's contract): nothing is queued until `poll()` /
 *   `dataAvailable()`; the threads hold what arrives (and stop reading when their ring is full, so
 *   TCP pushes back); polling moves it into the queue, applying the cap. A poll stops moving once
 *   the queue holds a ring's worth of bytes (Panda's poll, too, takes only part of what is there):
 *   the rest waits in the ring, so a slow application pushes back on its peers instead of piling
 *   up their datagrams, and the queue's memory stays within one ring on top of the ring itself.
 *
 * A connection is monitored by one reader at a time. Its datagrams arrive in the order sent, in
 * every mode.
 *
 * Thread: main thread only.
 * @module
 */
import { ErrorCode, PandaNetError, ValueRangeError } from '../errors.js';
import { log } from '../log.js';
import { InMeta, READER_WORDS, ReaderWord, type ReaderConfig } from '../protocol/control.js';
import { slabCopy } from '../datagram/slab.js';
import { readAddressRecord } from '../protocol/address-record.js';
import { validateHeaderSize, type TcpHeaderSize } from '../protocol/tcp-framing.js';
import { DRAIN_PUBLISH_RECORDS, SpscRing, createRecordView } from '../shared-memory/spsc-ring.js';
import { BoundedFifo } from './bounded-fifo.js';
import { coreOf, type Connection, type ConnectionCore, type ConnectionKind } from './connection.js';
import { runtimeOf, type ConnectionManager } from './connection-manager.js';
import type { IoThread } from './io-thread.js';
import { NetAddress } from './net-address.js';
import type { Runtime } from './runtime.js';
import type { ConnectionEnds } from './runtime/connection-ends.js';
import type { ConnectionTable } from './runtime/connection-table.js';
import type { ReaderHooks } from './runtime/reader-registry.js';
import type { ReaderStats } from './runtime/stats.js';
import type { DrainPacer } from './runtime/write-batching.js';

/** `Atomics.waitAsync` (ES2024; present in Node 20, absent from the ES2023 lib typings). */
const AtomicsAsync = Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number, timeout?: number): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
};

/** Below this much room in a polled queue's byte budget, a poll moves datagrams one at a time. */
const NEAR_BUDGET_BYTES = 1 << 20;

/** A datagram held by a polled reader: the bytes were copied out of the ring when polled. */
export interface PolledItem {
  conn: ConnectionCore;
  bytes: Uint8Array;
  /** UDP: the sender. */
  address: NetAddress | null;
}

/**
 * Receives one datagram in a batch drain; `data[offset, offset+length)` is valid only during the
 * call. `address` is the sender for UDP, null for TCP (the connection's `getAddress()`).
 */
export type DatagramVisitor = (connection: Connection, data: Uint8Array, offset: number, length: number, address: NetAddress | null) => void;

/** Internal form of a visitor: the connection's state instead of its facade. */
type Take = (conn: ConnectionCore, data: Uint8Array, offset: number, length: number, address: NetAddress | null) => void;

/** The sender in front of a UDP record, and where the datagram starts. */
function udpSender(data: Uint8Array, offset: number): { address: NetAddress; start: number } {
  const a = readAddressRecord(data, offset);
  return { address: NetAddress.fromHostPort(a.ip, a.port), start: a.next };
}

/**
 * Tells the I/O thread of `conn` that the application took one of its datagrams (or the polled cap
 * dropped it): one plain store into the thread's taken table, which the thread reads to apply the
 * per-connection quota (`NetConfig.maxQueuedPerConnection`, TAKEN_SLOTS in protocol/control.ts).
 */
function tookOne(conn: ConnectionCore): void {
  const s = conn.slot;
  if (s >= 0) conn.thread.taken[s]!++;
}

/** The engine of one reader or listener. */
export class ReaderCore implements ReaderHooks {
  readonly id: number;
  readonly rt: Runtime;
  private readonly conns: ConnectionTable;
  private readonly ends: ConnectionEnds;
  /** Holds and releases the sends a {@link drain} visitor makes. */
  private readonly pacer: DrainPacer;
  readonly numThreads: number;
  readonly polled: boolean;
  readonly role: ConnectionKind;
  readonly control: Int32Array;
  private readonly controlSab: SharedArrayBuffer;
  readonly rings: Array<SpscRing | undefined> = [];
  readonly monitored = new Set<ConnectionCore>();
  readonly pending: BoundedFifo<PolledItem>;
  /** Polled readers: payload bytes in {@link pending}. */
  private pendingBytes = 0;
  /**
   * Polled readers: datagrams a thread had already read from a connection when it was removed from
   * this reader. A poll reads only monitored connections (Panda), so they wait here, in order, until
   * the connection is added back (or is closed).
   */
  private readonly parked = new Map<ConnectionCore, PolledItem[]>();
  headerSize: TcpHeaderSize;
  rawMode = false;
  shut = false;
  /** Listener role: set by QueuedConnectionListener to take accepted connections. */
  accept?: (rendezvous: Connection, address: NetAddress, conn: Connection) => boolean;
  private cursor = 0;
  private readonly view = createRecordView();

  constructor(manager: ConnectionManager, numThreads: number, role: ConnectionKind, id: number) {
    if (!Number.isInteger(numThreads) || numThreads < 0 || numThreads > 64) throw new ValueRangeError(`numThreads must be an integer 0..64, got ${numThreads}`);
    this.id = id;
    this.rt = runtimeOf(manager);
    this.numThreads = numThreads;
    this.polled = numThreads === 0;
    this.role = role;
    this.headerSize = this.rt.config.tcpHeaderSize;
    this.controlSab = new SharedArrayBuffer(READER_WORDS * 4);
    this.control = new Int32Array(this.controlSab);
    this.control[ReaderWord.MAX_QUEUE] = this.rt.config.netMaxResponseQueue;
    this.pending = new BoundedFifo<PolledItem>(this.rt.config.netMaxResponseQueue);
    this.conns = this.rt.conns;
    this.ends = this.rt.ends;
    this.pacer = this.rt.out.pacer();
    this.takePacer = this.rt.out.pacer();
  }

  /** {@link ReaderHooks}: this reader's queue, for stats. */
  stats(): ReaderStats {
    return { id: this.id, polled: this.polled, queued: this.queueSize(), maxQueue: this.getMaxQueueSize(), overflow: this.overflow(), dropped: this.dropped() };
  }

  config(): ReaderConfig {
    return {
      headerSize: this.headerSize,
      rawMode: this.rawMode,
      // A datagram must fit in the reader's ring; past that, the stream would wait forever.
      maxDatagramSize: Math.min(this.rt.config.maxDatagramSize, this.rt.config.ringBytes.reader / 2 - 64),
      enforceCap: !this.polled,
      listener: this.role === 'rendezvous',
    };
  }

  /** {@link ReaderHooks}: a ring for a (new) thread. */
  addThread(thread: IoThread): void {
    const sab = SpscRing.allocate(this.rt.config.ringBytes.reader);
    this.rings[thread.index] = new SpscRing(sab);
    thread.post({ kind: 'addReader', readerId: this.id, ring: sab, control: this.controlSab, config: this.config() });
  }

  /**
   * {@link ReaderHooks}: `thread` died. Polled: move what it delivered into the queue now. Threaded:
   * keep its ring readable (appended after the live threads' rings) until drained, since its
   * replacement gets a fresh ring at the same index.
   */
  retireThread(thread: IoThread): void {
    if (this.polled) {
      this.drainThread(thread);
      return;
    }
    const ring = this.rings[thread.index];
    if (ring !== undefined && ring.size > 0) this.rings.push(ring);
    this.rings[thread.index] = undefined;
  }

  /** Drops drained rings of dead threads (those past the pool's size). */
  private pruneRetired(): void {
    const live = this.rt.threads.length;
    for (let i = this.rings.length - 1; i >= live; i--) {
      const r = this.rings[i];
      if (r === undefined || r.size === 0) this.rings.splice(i, 1);
    }
  }

  broadcastConfig(): void {
    for (const t of this.rt.threads) t.post({ kind: 'configReader', readerId: this.id, config: this.config() });
  }

  add(connection: Connection | null | undefined): boolean {
    if (connection == null) throw new PandaNetError(ErrorCode.NULL_CONNECTION, 'addConnection needs a connection');
    const core = coreOf(connection);
    if ((this.role === 'rendezvous') !== (core.kind === 'rendezvous')) {
      throw new PandaNetError(
        ErrorCode.WRONG_CONNECTION_KIND,
        this.role === 'rendezvous' ? 'a listener monitors rendezvous connections (from openTCPServerRendezvous), not data connections' : 'a reader monitors data connections, not a rendezvous (add it to a QueuedConnectionListener)',
      );
    }
    if (this.shut || !core.open || core.manager !== this.rt.manager || this.monitored.has(core)) return false;
    if (core.reader !== null) {
      log('warning', `connection ${core.id} is already monitored by another reader; remove it there first`);
      return false;
    }
    this.monitored.add(core);
    core.reader = this;
    core.thread.post({ kind: 'attach', connId: core.id, readerId: this.id });
    return true;
  }

  remove(connection: Connection | null | undefined): boolean {
    if (connection == null) return false;
    const core = coreOf(connection);
    if (!this.monitored.has(core)) return false;
    this.monitored.delete(core);
    if (core.reader === this) core.reader = null;
    core.thread.post({ kind: 'detach', connId: core.id, readerId: this.id });
    this.ends.readerLeft(core); // a reset held for its datagrams is reported now
    return true;
  }

  /** {@link ReaderHooks}. */
  forget(core: ConnectionCore): void {
    this.monitored.delete(core);
    this.parked.delete(core);
    if (core.reader === this) core.reader = null;
  }

  private enqueuePolled(item: PolledItem): void {
    if (this.pending.push(item)) this.pendingBytes += item.bytes.length;
    else {
      tookOne(item.conn); // gone for good: it no longer counts against the connection's quota
      Atomics.store(this.control, ReaderWord.OVERFLOW, 1);
      Atomics.add(this.control, ReaderWord.DROPPED, 1); // logged by reportDrops, once per burst
      item.conn.droppedIn++; // accounted for: a reset held for the connection's datagrams need not wait for it
      this.ends.noteTaken(item.conn);
    }
  }

  /** Drops already logged (of the DROPPED word). */
  private dropsLogged = 0;
  /** When {@link reportDrops} last logged (`performance.now()`). */
  private dropsLoggedAt = Number.NEGATIVE_INFINITY;

  /**
   * Logs the datagrams dropped for the queue cap since the last such line: at once after a quiet
   * second, then at most one line per second, with the count (one line per dropped datagram would
   * flood the log exactly when the application is already behind). Called at each poll.
   */
  private reportDrops(): void {
    const dropped = Atomics.load(this.control, ReaderWord.DROPPED);
    const n = (dropped - this.dropsLogged) | 0;
    if (n <= 0) return;
    const now = performance.now();
    if (now - this.dropsLoggedAt < 1000) return;
    this.dropsLogged = dropped;
    this.dropsLoggedAt = now;
    log('error', `queue full: ${n} ${n === 1 ? 'datagram' : 'datagrams'} dropped (cap ${this.getMaxQueueSize()}; ${dropped} since the reader was made)`);
  }

  isOk(connection: Connection | null | undefined): boolean {
    if (connection == null) return false;
    const core = coreOf(connection);
    return core.open && this.monitored.has(core);
  }

  /**
   * Polled readers: move what the threads hold into the queue (the cap applies here), for at most
   * `net-max-poll-cycle` seconds (negative: no bound); at least one datagram moves when one is there.
   */
  poll(): void {
    if (this.shut) return;
    if (!this.polled) return this.reportDrops(); // threaded: the I/O threads drop and count
    this.rt.events.pump();
    if (this.parked.size > 0) {
      // Earlier than anything still in the rings for these connections: queue them first.
      for (const [core, items] of this.parked) {
        if (!core.open) this.parked.delete(core); // closed meanwhile: nobody can take them
        if (!this.monitored.has(core)) continue;
        for (const item of items) this.enqueuePolled(item);
        this.parked.delete(core);
      }
    }
    const budget = this.rt.config.netMaxPollCycle;
    const deadline = budget < 0 ? Number.POSITIVE_INFINITY : performance.now() + budget * 1000;
    for (const t of this.rt.threads) {
      this.drainThread(t, deadline, true);
      if (performance.now() >= deadline) break;
    }
    this.reportDrops();
  }

  /** True if a thread holds datagrams for this reader that are not queued yet (polled readers). */
  holding(): boolean {
    for (const r of this.rings) if (r !== undefined && r.size > 0) return true;
    return false;
  }

  /**
   * {@link ReaderHooks}: move what `thread` already delivered into the polled queue: all of it (before
   * a reset is reported, so the reset follows the data), or, for a poll (`bounded`), until the queue
   * holds a ring's worth of bytes; either way until `deadline`, checked every 256 datagrams.
   */
  drainThread(thread: IoThread, deadline = Number.POSITIVE_INFINITY, bounded = false): void {
    if (!this.polled) return;
    const ring = this.rings[thread.index];
    if (ring === undefined) return;
    const visit = (id: number, meta: number, data: Uint8Array, offset: number, length: number): void => {
      const conn = this.conns.lookup(id);
      if (conn === undefined) return;
      let address: NetAddress | null = null;
      let start = offset;
      if (meta === InMeta.UDP) ({ address, start } = udpSender(data, offset));
      const item: PolledItem = { conn, bytes: slabCopy(data, start, offset + length), address };
      if (this.monitored.has(conn) && !this.parked.has(conn)) this.enqueuePolled(item);
      else if (conn.open) {
        const list = this.parked.get(conn);
        if (list === undefined) this.parked.set(conn, [item]);
        else list.push(item);
      }
    };
    // The queue takes at most a ring's worth of bytes (see the module notes): whole batches while
    // far from that, single datagrams near it, so one batch of large datagrams cannot overshoot.
    const budget = bounded ? ring.capacity : Number.POSITIVE_INFINITY;
    for (;;) {
      const room = budget - this.pendingBytes;
      if (room <= 0) return;
      const n = ring.drain(room > NEAR_BUDGET_BYTES ? 256 : 1, visit);
      if (n === 0) return;
      Atomics.sub(this.control, ReaderWord.QUEUED, n);
      if (performance.now() >= deadline) return;
    }
  }

  /**
   * Resolves true once a datagram is there to take (threaded) or to poll (polled: a thread holds it),
   * false after `timeoutMs`. Sleeps in `Atomics.waitAsync` on the reader's DOORBELL word, which the
   * I/O threads ring after they deliver while WAITING is set: no polling, no timer per check.
   */
  async waitForData(timeoutMs: number): Promise<boolean> {
    const ready = (): boolean => (this.polled ? this.pending.size > 0 || this.holding() : this.available());
    if (ready()) return true;
    const c = this.control;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seq = Atomics.load(c, ReaderWord.DOORBELL);
      Atomics.store(c, ReaderWord.WAITING, 1);
      if (ready()) break;
      const left = deadline - performance.now();
      if (left <= 0 || this.shut) break;
      const r = AtomicsAsync.waitAsync(c, ReaderWord.DOORBELL, seq, left);
      if (r.async) await r.value;
      if (ready() || this.shut) break;
    }
    Atomics.store(c, ReaderWord.WAITING, 0);
    return ready();
  }

  /** True if a datagram can be taken now. */
  available(): boolean {
    if (this.polled) {
      if (this.pending.size > 0) return true;
      this.endTakeHold(); // the application's loop has run dry: its held replies go now
      return false;
    }
    if (this.rings.length > this.rt.threads.length) this.pruneRetired();
    // peek, not size: a record is counted a moment before it can be read, and dataAvailable() must
    // not promise what getData() cannot deliver yet.
    for (const r of this.rings) if (r !== undefined && r.peek(this.view)) return true;
    this.settleTaken(); // caught up (each ring's peek published its tail too)
    this.endTakeHold(); // the application's loop has run dry: its held replies go now
    return false;
  }

  /**
   * Datagrams {@link takeOne} took whose QUEUED decrement is still to be made. The shared word (its
   * cache line is the one every I/O thread adds to as it delivers) and the rings' tails are updated
   * every {@link DRAIN_PUBLISH_RECORDS} takes, when the rings are found empty, and at the latest in a
   * microtask after the take, that is when the application's synchronous loop returns: as a batch
   * drain updates them once per run, not per datagram. Meanwhile the threads' cap check may see the
   * queue up to that many datagrams longer than it is; {@link queueSize} subtracts them.
   */
  private untaken = 0;

  /** Makes the QUEUED decrement {@link takeOne} owes, and publishes the tails it left unpublished. */
  private readonly settleTaken = (): void => {
    if (this.untaken === 0) return;
    Atomics.sub(this.control, ReaderWord.QUEUED, this.untaken);
    this.untaken = 0;
    for (const r of this.rings) r?.publishConsumed();
  };

  /**
   * The manual loop's pacing (`getData` … `send`, as Panda's manual writes it): from the second take
   * in one task on, the sends made between takes are held as a batch drain holds them (one batch
   * record per connection's run, one wake for several runs, {@link DrainPacer}), and let go at a
   * take of another connection once they have waited `NetConfig.drainHoldUs`, when a take or
   * `dataAvailable` finds the queue empty, and at the latest in a microtask: when the application's
   * synchronous loop returns. A lone take holds nothing: a reply followed by a long computation in
   * the same task leaves at once.
   */
  private readonly takePacer: DrainPacer;
  /** Takes by the application in the current task (reset by {@link endTask}). */
  private takesThisTask = 0;
  /** {@link takePacer} holds. */
  private takeHolding = false;
  /** The connection of the datagram {@link takeOne} took last. */
  private lastTaken: ConnectionCore | null = null;

  private readonly endTask = (): void => {
    this.takesThisTask = 0;
    this.endTakeHold();
  };

  private endTakeHold(): void {
    if (!this.takeHolding) return;
    this.takeHolding = false;
    this.takePacer.end();
  }

  /** The application's `getData`: {@link takeOne}, paced (see {@link takePacer}). */
  takeForApp(take: Take): boolean {
    if (!this.takeOne(take)) {
      this.endTakeHold();
      return false;
    }
    if (this.takesThisTask++ === 0) {
      queueMicrotask(this.endTask);
      return true;
    }
    if (!this.takeHolding) {
      this.takeHolding = true;
      this.takePacer.start();
    }
    this.takePacer.visit(this.lastTaken!);
    return true;
  }

  /**
   * Takes the oldest datagram (per connection order; threads served round-robin) and hands it to
   * `take`. False when none.
   */
  takeOne(take: Take): boolean {
    if (this.polled) {
      const item = this.pending.shift();
      if (item === undefined) return false;
      this.pendingBytes -= item.bytes.length;
      this.lastTaken = item.conn;
      tookOne(item.conn);
      item.conn.stats.datagramsIn++;
      item.conn.stats.bytesIn += item.bytes.length;
      this.ends.noteTaken(item.conn);
      take(item.conn, item.bytes, 0, item.bytes.length, item.address);
      return true;
    }
    if (this.rings.length > this.rt.threads.length) this.pruneRetired();
    const rings = this.rings;
    const n = rings.length;
    const view = this.view;
    for (let k = 0; k < n; k++) {
      const i = (this.cursor + k) % n;
      const ring = rings[i];
      if (ring === undefined || !ring.peek(view)) continue;
      this.cursor = i + 1;
      const conn = this.conns.lookup(view.id);
      try {
        if (conn !== undefined) {
          this.lastTaken = conn;
          tookOne(conn);
          conn.stats.datagramsIn++;
          conn.stats.bytesIn += view.length;
          this.ends.noteTaken(conn);
          if (view.meta === InMeta.UDP) {
            const { address, start } = udpSender(ring.data, view.offset);
            take(conn, ring.data, start, view.offset + view.length - start, address);
          } else take(conn, ring.data, view.offset, view.length, null);
        }
      } finally {
        ring.advanceLazy(); // its tail is published as a drain's is (every 64 records, or when empty)
        if (this.untaken++ === 0) queueMicrotask(this.settleTaken);
        else if (this.untaken >= DRAIN_PUBLISH_RECORDS) this.settleTaken();
      }
      if (conn !== undefined) return true;
      k--; // a datagram of a connection this manager no longer knows: skip it, look again
      this.cursor = i;
    }
    this.settleTaken();
    return false;
  }

  /**
   * Batch drain (hot loops): up to `max` datagrams, no object per datagram. Returns the count.
   *
   * The sends the visitor makes are held back from the I/O threads while it works through one
   * connection's datagrams ({@link DrainPacer}: released at a switch to another connection, at most
   * once per `NetConfig.drainHoldUs`, and when the drain returns), so the replies to a run leave in
   * one `write`.
   */
  drain(visit: DatagramVisitor, max: number): number {
    this.pacer.start();
    try {
      return this.drainHeld(visit, max);
    } finally {
      this.pacer.end();
    }
  }

  private drainHeld(visit: DatagramVisitor, max: number): number {
    if (this.polled) {
      let count = 0;
      const take: Take = (conn, data, offset, length, address) => {
        if (conn.facade === null) return;
        this.pacer.visit(conn);
        visit(conn.facade, data, offset, length, address);
      };
      while (count < max && this.takeOne(take)) count++;
      return count;
    }
    // Threaded: the ring's own batched drain (tail published every few records), one counter update
    // per ring, rings served round-robin from where the last call stopped.
    if (this.rings.length > this.rt.threads.length) this.pruneRetired();
    const rings = this.rings;
    const n = rings.length;
    let visitor = this.ringVisitor;
    if (visitor === null) {
      visitor = this.ringVisitor = (id, meta, data, offset, length) => {
        const conn = this.conns.lookup(id);
        if (conn === undefined) return;
        tookOne(conn);
        if (conn.facade === null) return;
        this.pacer.visit(conn);
        conn.stats.datagramsIn++;
        conn.stats.bytesIn += length;
        this.ends.noteTaken(conn);
        if (meta === InMeta.UDP) {
          const { address, start } = udpSender(data, offset);
          this.visit!(conn.facade, data, start, offset + length - start, address);
        } else this.visit!(conn.facade, data, offset, length, null);
      };
    }
    this.visit = visit;
    let count = 0;
    try {
      for (let k = 0; k < n && count < max; k++) {
        const i = (this.cursor + k) % n;
        const ring = rings[i];
        if (ring === undefined) continue;
        const got = ring.drain(max - count, visitor);
        if (got > 0) {
          Atomics.sub(this.control, ReaderWord.QUEUED, got);
          count += got;
        }
      }
      this.cursor = (this.cursor + 1) % Math.max(1, n);
    } finally {
      this.visit = null;
    }
    return count;
  }

  private visit: DatagramVisitor | null = null;
  private ringVisitor: ((id: number, meta: number, data: Uint8Array, offset: number, length: number) => void) | null = null;

  queueSize(): number {
    return this.polled ? this.pending.size : Math.max(0, Atomics.load(this.control, ReaderWord.QUEUED) - this.untaken);
  }

  setMaxQueueSize(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new ValueRangeError(`max queue size must be a non-negative integer, got ${n}`);
    this.pending.maxSize = n;
    Atomics.store(this.control, ReaderWord.MAX_QUEUE, Math.min(n, 0x7fffffff));
  }

  getMaxQueueSize(): number {
    return this.pending.maxSize;
  }

  overflow(): boolean {
    return Atomics.load(this.control, ReaderWord.OVERFLOW) === 1;
  }

  resetOverflow(): void {
    Atomics.store(this.control, ReaderWord.OVERFLOW, 0);
    this.pending.overflow = false;
  }

  dropped(): number {
    return Atomics.load(this.control, ReaderWord.DROPPED);
  }

  setHeaderSize(n: number): void {
    this.headerSize = validateHeaderSize(n);
    this.broadcastConfig();
  }

  setRawMode(flag: boolean): void {
    this.rawMode = Boolean(flag);
    this.broadcastConfig();
  }

  shutdown(): void {
    if (this.shut) return;
    this.shut = true;
    this.endTakeHold();
    for (const core of [...this.monitored]) {
      this.forget(core);
      core.thread.post({ kind: 'detach', connId: core.id, readerId: this.id });
      this.ends.readerLeft(core);
    }
    this.rt.readers.unregister(this.id);
    // A pending waitForData wakes and, finding the reader shut and nothing left, resolves false.
    Atomics.add(this.control, ReaderWord.DOORBELL, 1);
    Atomics.notify(this.control, ReaderWord.DOORBELL);
  }
}

let readerCoreOf: (r: ConnectionReader) => ReaderCore;

/**
 * Panda's `ConnectionReader`: what every reader and listener can do.
 * Thread: main thread only.
 */
export abstract class ConnectionReader {
  readonly #core: ReaderCore;

  static {
    readerCoreOf = (r: ConnectionReader): ReaderCore => r.#core;
  }

  /** @internal */
  protected constructor(manager: ConnectionManager, numThreads: number, role: ConnectionKind) {
    const rt = runtimeOf(manager);
    rt.pool.ensure(numThreads);
    this.#core = rt.readers.register((id) => new ReaderCore(manager, numThreads, role, id));
  }

  /**
   * Starts monitoring `connection`. False if it is already monitored (here or by another reader),
   * closed, or this reader is shut down. Throws for null or the wrong kind of connection (Panda
   * would assert at the first read; we say so at once).
   */
  addConnection(connection: Connection): boolean {
    return this.#core.add(connection);
  }
  /** Stops monitoring `connection` (the socket stays open). False if it was not monitored. */
  removeConnection(connection: Connection): boolean {
    return this.#core.remove(connection);
  }
  /** True if `connection` is monitored here and open. */
  isConnectionOk(connection: Connection): boolean {
    return this.#core.isOk(connection);
  }
  /** Polled mode: move what has arrived into the queue. No-op for threaded readers. */
  poll(): void {
    this.#core.poll();
  }
  /** The manager. */
  getManager(): ConnectionManager {
    return this.#core.rt.manager;
  }
  /** True if made with 0 threads. */
  isPolling(): boolean {
    return this.#core.polled;
  }
  /** The thread count asked for. */
  getNumThreads(): number {
    return this.#core.numThreads;
  }
  /** Raw mode: no framing; each chunk read (≤ 1502 bytes) is one datagram. */
  setRawMode(mode: boolean): void {
    this.#core.setRawMode(mode);
  }
  /** Raw mode flag. */
  getRawMode(): boolean {
    return this.#core.rawMode;
  }
  /** TCP length-prefix size: 0, 2 or 4 (anything else throws; 0 reads as raw mode). */
  setTcpHeaderSize(size: number): void {
    this.#core.setHeaderSize(size);
  }
  /** TCP length-prefix size. */
  getTcpHeaderSize(): number {
    return this.#core.headerSize;
  }
  /** Stops monitoring everything; queued items stay retrievable. Idempotent. */
  shutdown(): void {
    this.#core.shutdown();
  }
}

/** @internal */
export function coreOfReader(r: ConnectionReader): ReaderCore {
  return readerCoreOf(r);
}

