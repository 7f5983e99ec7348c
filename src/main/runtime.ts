/**
 * The engine behind a ConnectionManager: its pool of I/O threads, connection table, readers, writer
 * slots, and the event pump that turns worker events (accepts, resets) into queue entries.
 *
 * Pool size: the largest `numThreads` of any reader, listener or writer made on the manager, and at
 * least 1. With every component at 0 threads (polled mode) the one thread is a shared network thread:
 * it buffers, and nothing reaches a queue until the application polls (see docs/design.md).
 *
 * Thread: main thread only.
 * @module
 */
import { ErrorCode, PandaNetError, errorFromRecord, type ErrorRecord } from '../errors.js';
import { log } from '../log.js';
import { getNetConfig, type NetConfig } from '../config.js';
import {
  EventKind,
  MAX_WRITERS,
  OutOp,
  POOL_WORDS,
  ShutdownState,
  ShutdownWord,
  PoolWord,
  StatWord,
  WRITER_WORDS,
  outMetaOp,
  outMetaWriter,
  packOutMeta,
  type AcceptedEvent,
  type LogEvent,
  type ResetEvent,
  type SyncResult,
  type WireAddress,
} from '../protocol/control.js';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { IoThread, type ShutdownProbe } from './io-thread.js';
import { SpscRing } from '../shared-memory/spsc-ring.js';
import { Connection, pendingSendBytes, type ConnectionCore, type ConnectionKind } from './connection.js';
import type { ConnectionManager } from './connection-manager.js';
import { NetAddress } from './net-address.js';
import { flushCollected, newCollectState } from './collect-tcp.js';
import type { TcpHeaderSize } from '../protocol/tcp-framing.js';

/** One non-blocking attempt of {@link Runtime.pushOut}: a plain record, or a batch item. */
function tryPush(ring: SpscRing, connId: number, meta: number, payload: Uint8Array, length: number, batchPrefix: -1 | TcpHeaderSize): boolean {
  return batchPrefix === -1 ? ring.tryWriteRange(connId, meta, payload, 0, length) : ring.tryAppend(connId, meta, batchPrefix, payload, 0, length);
}

const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

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
}

/** Per-thread figures, from shared memory (no message needed). */
export interface ThreadStats {
  index: number;
  alive: boolean;
  connections: number;
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  accepts: number;
  resets: number;
  /** Times the thread paused reading a socket: its reader ring was full, or its connection's quota was reached. */
  backpressurePauses: number;
  /**
   * Of {@link backpressurePauses}, those for the connection's quota (`NetConfig.maxQueuedPerConnection`
   * datagrams delivered and not yet taken by the application).
   */
  quotaPauses: number;
  /**
   * TCP writes the thread issued: each carries everything one connection was sent since the
   * thread's previous pass over its outbound ring (`datagramsOut / tcpWrites` is the batching).
   */
  tcpWrites: number;
  /** TCP socket reads the thread took (`datagramsIn / tcpReads`: datagrams per read). */
  tcpReads: number;
  /**
   * Times the thread's outbound loop went to sleep with nothing to send. A send that finds it asleep
   * wakes it, which costs the sender about 8 µs on a VM; `NetConfig.ioSpinUs` makes it sleep less.
   */
  outboundSleeps: number;
  /**
   * Of {@link outboundSleeps}, those that ran out their idle time (1 s) with a send already waiting
   * in the ring: the main thread published it without waking the thread, so it left up to a second
   * late. 0 unless something is wrong.
   */
  outboundMissedWakes: number;
  /** UDP packets dropped: bad checksum, too short, no room, or a failed send. */
  udpDropped: number;
  /** Event-loop utilisation of the thread since the previous call, 0..1. */
  utilization: number;
}

/** One reader's queue, for stats. */
export interface ReaderStats {
  id: number;
  polled: boolean;
  /** Datagrams waiting (threaded: in the rings; polled: in the queue). */
  queued: number;
  maxQueue: number;
  overflow: boolean;
  /** Dropped for the queue cap since the reader was made. */
  dropped: number;
}

/** One writer's queue, for stats. */
export interface WriterStats {
  slot: number;
  threads: number;
  /** Datagrams handed to the I/O threads and not yet taken by them (threaded writers). */
  queued: number;
  maxQueue: number;
}

/** Everything `manager.getStats()` reports. */
export interface ManagerStats {
  threads: ThreadStats[];
  /** Open connections known to the manager (rendezvous and UDP included). */
  connections: number;
  resetsReported: number;
  readers: ReaderStats[];
  writers: WriterStats[];
}

/** Default bound of `manager.shutdown()`, ms. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

/** How long past its bound the main thread still waits for an I/O thread's shutdown report, ms. */
const SHUTDOWN_GRACE_MS = 1000;

/** Options of `manager.shutdown()` and `manager.shutdownAsync()`. Thread: main thread only. */
export interface ShutdownOptions {
  /**
   * How long the I/O threads may take to hand what was sent to the kernel, ms: a finite number ≥ 0
   * (default {@link DEFAULT_SHUTDOWN_TIMEOUT_MS}). Past it, streams still writing are cut (destroyed).
   */
  timeoutMs?: number;
}

/** What `manager.shutdown()` / `shutdownAsync()` report. Thread: main thread only. */
export interface ShutdownReport {
  /**
   * True when nothing was lost: every byte `send` accepted was handed to the kernel and every TCP
   * stream ended with a FIN, within the bound, and every I/O thread reported so.
   */
  flushed: boolean;
  /**
   * TCP bytes (framed, headers included) accepted by `send` and never handed to the kernel: what
   * streams cut at the bound (a peer that does not read) still held. For a stream the peer reset
   * during the flush, or a thread that died or did not answer, it is the last figure known (at most
   * what was waiting when the shutdown began).
   */
  unsentBytes: number;
  /**
   * Outbound records (sends and closes; a run batched by `cork`/`drainData` counts once) that an
   * I/O thread never took from its ring: 0 unless a thread died or did not answer in time.
   */
  unsentDatagrams: number;
  /** Connections that were open when the shutdown began and that it closed (streams, rendezvous, UDP). */
  connections: number;
  /** How long the shutdown took, ms (a later call returns the first call's report as it was). */
  elapsedMs: number;
}

/** A shutdown under way: what the threads were asked, and the figures to fall back on. */
interface ShutdownRun {
  started: number;
  /** `performance.now()` past which the main thread stops waiting for reports. */
  deadline: number;
  connections: number;
  threads: Array<{ thread: IoThread; probe: ShutdownProbe | null; pendingBytes: number }>;
}

/** Turns a wire address into a NetAddress (unspecified family → Panda's "no peer" address). */
export function toNetAddress(w: WireAddress): NetAddress {
  return w.family === 0 ? NetAddress.unspecified() : NetAddress.fromHostPort(w.address, w.port);
}

/** Blocks the main thread briefly (bounded waits only). */
export function pauseMs(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** The engine of one manager. */
export class Runtime {
  readonly config: Readonly<NetConfig>;
  readonly threads: IoThread[] = [];
  readonly pool: Int32Array;
  readonly writerWords: Int32Array;
  private readonly poolSab: SharedArrayBuffer;
  private readonly writerSab: SharedArrayBuffer;
  private readonly writerSlots = new Set<number>();
  readonly connections = new Map<number, ConnectionCore>();
  /** Recently closed connections, so late datagrams still name their connection. Bounded. */
  private readonly recent = new Map<number, ConnectionCore>();
  readonly readers = new Map<number, ReaderHooks>();
  /** Stats of readers and listeners (registered by them). */
  readonly readerStats = new Map<number, () => ReaderStats>();
  private nextReaderId = 1;
  private nextThreadPick = 0;
  private eluLast = new Map<number, { idle: number; active: number }>();
  readonly manager: ConnectionManager;
  /** Called with every connection reset (the Queued manager queues it). */
  onReset: (conn: Connection) => void = () => {};

  constructor(manager: ConnectionManager) {
    this.manager = manager;
    this.config = getNetConfig();
    this.poolSab = new SharedArrayBuffer(POOL_WORDS * 4);
    this.pool = new Int32Array(this.poolSab);
    this.pool[PoolWord.NEXT_CONN_ID] = 1;
    this.writerSab = new SharedArrayBuffer(WRITER_WORDS * 4);
    this.writerWords = new Int32Array(this.writerSab);
  }

  /** Grows the pool to at least `n` threads (and at least 1). */
  ensureThreads(n: number): void {
    const want = Math.max(1, n);
    while (this.threads.length < want) {
      const index = this.threads.length;
      const peers: Array<{ index: number; port: MessagePort }> = [];
      for (const other of this.threads) {
        const ch = new MessageChannel();
        other.post({ kind: 'addPeer', index, port: ch.port1 }, [ch.port1]);
        peers.push({ index: other.index, port: ch.port2 });
      }
      const t = this.spawn(index, peers);
      this.threads.push(t);
      Atomics.store(this.pool, PoolWord.POOL_SIZE, this.threads.length);
      for (const r of this.readers.values()) r.addThread(t);
    }
  }

  private spawn(index: number, peers: Array<{ index: number; port: MessagePort }>): IoThread {
    const init = { poolSab: this.poolSab, writerSab: this.writerSab, peers, supportIpv6: this.config.supportIpv6, idleTimeoutMs: this.config.idleTimeoutMs, ioSpinUs: this.config.ioSpinUs, maxQueuedPerConnection: this.config.maxQueuedPerConnection };
    return new IoThread(index, init, this.config.ringBytes, (dead) => this.onThreadExit(dead));
  }

  /** A live thread for a new connection, round-robin. */
  pickThread(): IoThread {
    this.ensureThreads(1);
    for (let i = 0; i < this.threads.length; i++) {
      const t = this.threads[this.nextThreadPick++ % this.threads.length]!;
      if (t.alive) return t;
    }
    throw new PandaNetError(ErrorCode.WORKER_DIED, 'no live I/O thread');
  }

  allocConnId(): number {
    return Atomics.add(this.pool, PoolWord.NEXT_CONN_ID, 1);
  }

  registerReader(make: (id: number) => ReaderHooks): ReaderHooks {
    const r = make(this.nextReaderId++);
    this.readers.set(r.id, r);
    for (const t of this.threads) r.addThread(t);
    return r;
  }

  unregisterReader(id: number): void {
    this.readers.delete(id);
    this.readerStats.delete(id);
    for (const t of this.threads) t.post({ kind: 'removeReader', readerId: id });
  }

  allocWriterSlot(): number {
    for (let s = 1; s <= MAX_WRITERS; s++) {
      if (!this.writerSlots.has(s)) {
        this.writerSlots.add(s);
        Atomics.store(this.writerWords, s, 0);
        return s;
      }
    }
    throw new PandaNetError(ErrorCode.INVALID_ARGUMENT, `at most ${MAX_WRITERS} writers per manager`);
  }

  freeWriterSlot(slot: number): void {
    this.writerSlots.delete(slot);
  }

  /** Creates the main-thread object for a connection that now exists on `thread`. */
  adoptConnection(id: number, kind: ConnectionKind, thread: IoThread, peer: NetAddress, local: NetAddress, slot = -1): Connection {
    const core: ConnectionCore = {
      slot,
      framedSent: 0,
      id,
      kind,
      thread,
      manager: this.manager,
      peer,
      local,
      open: true,
      reader: null,
      facade: null,
      collect: newCollectState(this.config.collectTcp, this.config.collectTcpInterval),
      stats: { datagramsIn: 0, bytesIn: 0, datagramsOut: 0, bytesOut: 0 },
      droppedIn: 0,
    };
    this.connections.set(id, core);
    return new Connection(core);
  }

  /** The connection behind a ring record id (including recently closed ones). */
  lookup(id: number): ConnectionCore | undefined {
    return this.connections.get(id) ?? this.recent.get(id);
  }

  private retire(core: ConnectionCore): void {
    core.open = false;
    this.connections.delete(core.id);
    this.recent.set(core.id, core);
    if (this.recent.size > 4096) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }

  /** Runs an open on a thread and turns the result into a connection or null (reason logged). */
  finishOpen(kind: ConnectionKind, id: number, thread: IoThread, what: string, r: SyncResult): Connection | null {
    if (!r.ok) {
      log(kind === 'rendezvous' ? 'info' : 'error', `unable to ${what}: ${describe(r.error)}`);
      this.lastError = errorFromRecord(r.error);
      return null;
    }
    log('info', `${kind === 'rendezvous' ? 'listening' : kind === 'udp' ? 'opened UDP connection' : 'opened TCP connection'}: ${what}`);
    return this.adoptConnection(id, kind, thread, toNetAddress(r.peer), toNetAddress(r.local), r.slot ?? -1);
  }

  /** Resets reported since the manager was made. */
  resetsReported = 0;
  /** Writers, for stats. */
  readonly writers = new Set<{ stats(): WriterStats }>();

  /** The error behind the last failed open (not in Panda, which only logs it). */
  lastError: PandaNetError | null = null;

  /**
   * Holds back the wake-ups of the I/O threads' outbound rings (sends are published as usual) until
   * {@link releaseWakes}: a batch drain uses it so that the replies to one connection's run of
   * datagrams reach its thread together and leave in one `write`, instead of one wake-up and one
   * `write` per reply. Nests: holding stops at the outermost `releaseWakes(true)`.
   */
  holdWakes(): void {
    if (this.wakeHolds++ === 0) for (const t of this.threads) t.outRing.holdWake();
  }

  /**
   * Sends the wake-ups {@link holdWakes} held back. With `stop`, ends one {@link holdWakes} (the
   * last one stops holding).
   */
  releaseWakes(stop: boolean): void {
    const last = stop && --this.wakeHolds === 0;
    for (const t of this.threads) t.outRing.releaseWake(last);
  }

  /** Open {@link holdWakes} calls. */
  private wakeHolds = 0;

  /**
   * Pushes one record into `thread`'s outbound ring, waiting (bounded) for room. False when the
   * thread is gone or stays full past `timeoutMs`. With `batchPrefix` (0, 2 or 4), the payload is
   * one item of a batch record ({@link SpscRing.tryAppend}) with a length prefix of that many bytes.
   */
  pushOut(thread: IoThread, connId: number, meta: number, payload: Uint8Array, timeoutMs: number, length = payload.length, batchPrefix: -1 | TcpHeaderSize = -1): boolean {
    const ring = thread.outRing;
    if (tryPush(ring, connId, meta, payload, length, batchPrefix)) return true;
    const need = batchPrefix === -1 ? length : 4 + batchPrefix + length;
    if (need > ring.maxPayload) return false;
    // Full: block (bounded) until the thread frees room — it notifies a waiting producer.
    const deadline = performance.now() + timeoutMs;
    while (thread.alive) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      ring.waitForSpace(need, Math.min(left, 50)); // slices: notice a thread that died meanwhile
      if (tryPush(ring, connId, meta, payload, length, batchPrefix)) return true;
    }
    return false;
  }

  /** Closes `core` locally: no reset is reported (Panda §5.2), not even one held back by {@link reset}. */
  close(core: ConnectionCore): boolean {
    if (core.collect.len > 0) flushCollected(this, core); // Panda flushes first, even a foreign connection
    if (!core.open || this.connections.get(core.id) !== core) return false;
    this.held.delete(core);
    const reader = core.reader === null ? undefined : this.readers.get(core.reader.id);
    reader?.forget(core);
    this.retire(core);
    log('info', `shutting down connection ${core.id} locally`);
    if (core.thread.alive) this.pushOut(core.thread, core.id, packOutMeta(OutOp.CLOSE, 0, false, 0), EMPTY, 2000);
    return true;
  }

  /**
   * Reports `core` reset: removed from its reader, closed, handed to {@link onReset}.
   *
   * `delivered` (from the I/O thread's RESET event): the datagrams its stream put into reader rings
   * before the reset. Until the application has taken that many (or a polled reader dropped them for
   * its cap), the reset is held back — the connection stays open and monitored, and the sends made
   * meanwhile are written — so the application never gets a datagram of a connection after it took
   * its reset. Taking the last of them ({@link noteTaken}) releases it at the next {@link pump} (which
   * `resetConnectionAvailable` runs): not during the take, so the reply to that last datagram still
   * goes out. A connection with no reader is reported at once; one whose reader removes it or shuts
   * down ({@link readerLeft}) at the next pump.
   *
   * Once released, the thread is sent the connection's CLOSE (after the sends before it): a stream
   * whose peer half-closed kept its write side open until now; it ends it (FIN) and lets the socket go.
   */
  reset(core: ConnectionCore, reason: string, delivered = -1): void {
    if (core.facade === null) return;
    const reader = core.reader === null ? undefined : this.readers.get(core.reader.id);
    if (reader !== undefined) {
      reader.drainThread(core.thread);
      if (core.open && delivered > taken(core)) {
        this.held.set(core, { reason, delivered });
        return;
      }
      reader.forget(core);
    }
    this.held.delete(core);
    this.report(core, reason);
  }

  /** Resets held back by {@link reset} until the application has taken the connection's datagrams. */
  private readonly held = new Map<ConnectionCore, { reason: string; delivered: number }>();

  /** Held resets whose datagrams are all accounted for (or whose reader left): released at the next {@link pump}. */
  private readonly ready = new Set<ConnectionCore>();

  /**
   * A reader counted a datagram of `core` as taken (or dropped it for its cap): once everything its
   * stream delivered before its reset is accounted for, the held reset is released at the next
   * {@link pump}. Cheap when no reset is held.
   */
  noteTaken(core: ConnectionCore): void {
    if (this.held.size === 0) return;
    const h = this.held.get(core);
    if (h !== undefined && taken(core) >= h.delivered) this.ready.add(core);
  }

  /** `core` left its reader (removed, or the reader shut down): a reset held for it is released at the next {@link pump}. */
  readerLeft(core: ConnectionCore): void {
    if (this.held.has(core)) this.ready.add(core);
  }

  /** Reports the held resets {@link noteTaken} and {@link readerLeft} made ready, oldest first. */
  private releaseReady(): void {
    for (const core of this.ready) {
      this.ready.delete(core);
      const h = this.held.get(core);
      if (h === undefined) continue; // closed by the application meanwhile, or reported otherwise
      this.held.delete(core);
      const reader = core.reader === null ? undefined : this.readers.get(core.reader.id);
      reader?.forget(core);
      this.report(core, h.reason);
    }
  }

  private report(core: ConnectionCore, reason: string): void {
    if (core.open) {
      if (core.collect.len > 0) flushCollected(this, core); // sends the application made before the reset
      this.retire(core);
      log('info', `connection ${core.id} reset: ${reason}`);
      if (core.kind === 'tcp' && core.thread.alive) this.pushOut(core.thread, core.id, packOutMeta(OutOp.CLOSE, 0, false, 0), EMPTY, 2000);
    }
    this.resetsReported++;
    this.onReset(core.facade!);
  }

  /**
   * Panda's `wait_for_readers`: true as soon as a polled reader or listener has something to poll
   * (datagrams held by a thread, or an accept or reset waiting), false after `timeoutSec` (negative:
   * no limit — bounded here by 24 h). With any threaded reader it is a single check, as in Panda.
   * Blocks the main thread in slices of `net-max-block`.
   */
  waitForReaders(timeoutSec: number): boolean {
    const ready = (): boolean => {
      for (const r of this.readers.values()) if (r.polled && r.holding()) return true;
      for (const t of this.threads) if (t.eventRing.size > 0) return true;
      return false;
    };
    if (ready()) return true;
    if ([...this.readers.values()].some((r) => !r.polled)) return false;
    const deadline = performance.now() + (timeoutSec < 0 ? 86_400_000 : timeoutSec * 1000);
    const slice = Math.max(0.05, Math.min(this.config.netMaxBlock * 1000, 1));
    while (performance.now() < deadline) {
      pauseMs(Math.min(slice, deadline - performance.now()));
      if (ready()) return true;
    }
    return false;
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

  /**
   * Drains every thread's event ring: accepts and resets become queue entries; then reports the held
   * resets whose datagrams the application has taken (see {@link reset}). Cheap when idle.
   */
  pump(): void {
    if (this.ready.size > 0) this.releaseReady();
    for (const t of this.threads) {
      if (t.eventRing.size === 0) continue;
      t.eventRing.drain(1 << 30, (id, kind, data, offset, length) => {
        const body = length === 0 ? undefined : (JSON.parse(decoder.decode(data.subarray(offset, offset + length))) as unknown);
        this.onEvent(t, id, kind, body);
      });
    }
  }

  private onEvent(thread: IoThread, id: number, kind: number, body: unknown): void {
    switch (kind) {
      case EventKind.ACCEPTED: {
        const ev = body as AcceptedEvent;
        const peer = toNetAddress(ev.peer);
        const conn = this.adoptConnection(id, 'tcp', thread, peer, toNetAddress(ev.local), ev.slot);
        const rv = this.connections.get(ev.rendezvousId);
        const listener = rv?.reader === null || rv === undefined ? undefined : this.readers.get(rv.reader.id);
        // A peer that reset before its address was read has none: describe() never throws.
        log('info', `received TCP connection from client ${peer.describe()}`);
        if (rv?.facade == null || listener?.accept === undefined || !listener.accept(rv.facade, peer, conn)) {
          // Panda leaks such a connection (Q10); we close it.
          this.close(this.connections.get(id)!);
        }
        return;
      }
      case EventKind.RESET: {
        const core = this.connections.get(id);
        const ev = body as ResetEvent;
        if (core !== undefined) this.reset(core, ev.reason, ev.delivered ?? -1);
        return;
      }
      case EventKind.LOG: {
        const ev = body as LogEvent;
        log(ev.level, ev.message); // an I/O thread's line: the application's level and sink apply
        return;
      }
      default:
        log('error', `unknown event kind ${kind} from I/O thread ${thread.index}`);
    }
  }

  private onThreadExit(dead: IoThread): void {
    if (this.shutDown) return;
    log('error', `I/O thread ${dead.index} exited (${dead.exitError ?? 'no reason'}); its connections are reset`);
    this.pump();
    // Sends it never took: nobody will write them, but their writers' queue counts must come back.
    // (a fresh view: the consumer's cursor is the dead thread's, read from the shared header)
    dead.outRing.releaseWake(false); // publish a batch the main thread still held open
    const taken = new SpscRing(dead.outRing.sab);
    taken.drain(1 << 30, (_id, meta, _data, offset) => {
      const slot = outMetaWriter(meta);
      if (slot !== 0) Atomics.sub(this.writerWords, slot, outMetaOp(meta) === OutOp.SEND_TCP_BATCH ? taken.batchCount(offset) : 1);
    });
    // Datagrams it already delivered stay readable: readers keep its rings until they are drained.
    for (const r of this.readers.values()) r.retireThread(dead);
    for (const core of [...this.connections.values()]) if (core.thread === dead) this.reset(core, `I/O thread ${dead.index} died`);
    // Replace it so new connections are served (the dead one keeps its index, marked dead).
    this.replaceThread(dead);
  }

  private replaceThread(dead: IoThread): void {
    const peers: Array<{ index: number; port: MessagePort }> = [];
    for (const other of this.threads) {
      if (other === dead || !other.alive) continue;
      const ch = new MessageChannel();
      other.post({ kind: 'addPeer', index: dead.index, port: ch.port1 }, [ch.port1]);
      peers.push({ index: other.index, port: ch.port2 });
    }
    const t = this.spawn(dead.index, peers);
    this.threads[dead.index] = t;
    for (const r of this.readers.values()) r.addThread(t);
  }

  shutDown = false;

  private shutdownRun: ShutdownRun | null = null;
  private shutdownReport: ShutdownReport | null = null;

  /**
   * Closes every connection, lets the I/O threads hand everything sent to the kernel and end their
   * streams (at most `timeoutMs`, then they cut what is left), stops them, and reports. Blocks the
   * main thread meanwhile (bounded: `timeoutMs` plus a grace for a thread that does not answer). A
   * later call returns the first one's report; a call while {@link shutdownAsync} runs waits for it.
   */
  shutdown(timeoutMs: number): ShutdownReport {
    if (this.shutdownReport !== null) return { ...this.shutdownReport };
    const run = this.shutdownRun ?? this.beginShutdown(timeoutMs);
    for (const t of run.threads) if (t.probe !== null) IoThread.waitShutdown(t.probe, run.deadline);
    return this.endShutdown(run);
  }

  /** Non-blocking twin of {@link shutdown}. */
  async shutdownAsync(timeoutMs: number): Promise<ShutdownReport> {
    if (this.shutdownReport !== null) return { ...this.shutdownReport };
    const run = this.shutdownRun ?? this.beginShutdown(timeoutMs);
    for (const t of run.threads) if (t.probe !== null) await IoThread.waitShutdownAsync(t.probe, run.deadline);
    return this.endShutdown(run); // the same report if a synchronous call finished it meanwhile
  }

  /**
   * Closes every connection (its CLOSE follows its sends in the ring) and asks each thread to flush.
   * Each thread's figure to fall back on (it dies, or does not answer) is taken first: the bytes its
   * connections had waiting.
   */
  private beginShutdown(timeoutMs: number): ShutdownRun {
    const started = performance.now();
    const pending = new Map<IoThread, number>();
    for (const core of this.connections.values()) {
      if (core.kind === 'tcp') pending.set(core.thread, (pending.get(core.thread) ?? 0) + Math.max(0, pendingSendBytes(core)));
    }
    const connections = this.connections.size;
    for (const core of [...this.connections.values()]) this.close(core);
    this.shutDown = true;
    const threads = this.threads.map((thread) => ({ thread, probe: thread.requestShutdown(timeoutMs), pendingBytes: pending.get(thread) ?? 0 }));
    this.shutdownRun = { started, deadline: started + timeoutMs + SHUTDOWN_GRACE_MS, connections, threads };
    return this.shutdownRun;
  }

  /** Stops the threads and sums up what they reported (once). */
  private endShutdown(run: ShutdownRun): ShutdownReport {
    if (this.shutdownReport !== null) return { ...this.shutdownReport };
    let unsentBytes = 0;
    let unsentDatagrams = 0;
    let complete = true;
    for (const { thread, probe, pendingBytes } of run.threads) {
      if (probe !== null && Atomics.load(probe.words, ShutdownWord.STATE) === ShutdownState.DONE) {
        unsentBytes += probe.unsent[0] ?? 0;
        if (Atomics.load(probe.words, ShutdownWord.CUT) > 0) complete = false;
      } else {
        complete = false;
        unsentBytes += pendingBytes;
        unsentDatagrams += thread.outRing.size;
        log('error', `I/O thread ${thread.index} did not finish flushing (${probe === null ? 'it was gone' : 'no answer'}); up to ${pendingBytes} bytes were not sent`);
      }
      thread.terminate();
    }
    const flushed = complete && unsentBytes === 0 && unsentDatagrams === 0;
    if (!flushed) log('warning', `shutdown: ${unsentBytes} bytes were not sent (peers that did not read within the bound?)`);
    this.shutdownReport = { flushed, unsentBytes, unsentDatagrams, connections: run.connections, elapsedMs: performance.now() - run.started };
    return { ...this.shutdownReport };
  }

  /** Test hook: crash an I/O thread (`docs/reliability.md`). */
  crashThreadForTest(index: number): void {
    this.threads[index]?.post({ kind: 'crashForTest' });
  }

  managerStats(): ManagerStats {
    return {
      threads: this.stats(),
      connections: this.connections.size,
      resetsReported: this.resetsReported,
      readers: [...this.readerStats.values()].map((f) => f()),
      writers: [...this.writers].map((w) => w.stats()),
    };
  }

  stats(): ThreadStats[] {
    return this.threads.map((t) => {
      const w = t.stats;
      const idle = w[StatWord.ELU_IDLE_MS] ?? 0;
      const active = w[StatWord.ELU_ACTIVE_MS] ?? 0;
      const last = this.eluLast.get(t.index) ?? { idle: 0, active: 0 };
      this.eluLast.set(t.index, { idle, active });
      const dIdle = idle - last.idle;
      const dActive = active - last.active;
      return {
        index: t.index,
        alive: t.alive,
        connections: w[StatWord.CONNECTIONS] ?? 0,
        datagramsIn: w[StatWord.DATAGRAMS_IN] ?? 0,
        bytesIn: w[StatWord.BYTES_IN] ?? 0,
        datagramsOut: w[StatWord.DATAGRAMS_OUT] ?? 0,
        bytesOut: w[StatWord.BYTES_OUT] ?? 0,
        accepts: w[StatWord.ACCEPTS] ?? 0,
        resets: w[StatWord.RESETS] ?? 0,
        backpressurePauses: w[StatWord.BACKPRESSURE_PAUSES] ?? 0,
        quotaPauses: w[StatWord.QUOTA_PAUSES] ?? 0,
        tcpWrites: w[StatWord.TCP_WRITES] ?? 0,
        tcpReads: w[StatWord.TCP_READS] ?? 0,
        outboundSleeps: w[StatWord.OUTBOUND_SLEEPS] ?? 0,
        outboundMissedWakes: w[StatWord.OUTBOUND_MISSED_WAKES] ?? 0,
        udpDropped: w[StatWord.UDP_DROPPED] ?? 0,
        utilization: dIdle + dActive > 0 ? dActive / (dIdle + dActive) : 0,
      };
    });
  }
}

/** Datagrams of `core` the application has taken, or a polled reader dropped for its cap. */
function taken(core: ConnectionCore): number {
  return core.stats.datagramsIn + core.droppedIn;
}

function describe(e: ErrorRecord): string {
  return e.errno !== undefined ? `${e.errno} (${e.message})` : e.message;
}
