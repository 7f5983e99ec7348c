/**
 * Panda's `ConnectionWriter`: frames datagrams and sends them on TCP connections.
 *
 * Every send travels to the connection's I/O thread through that thread's outbound shared-memory
 * ring, in the order `send` was called (sends and closes share the ring, so a close never overtakes
 * a send). The thread batches all records it finds into one `write` per connection.
 *
 * - `numThreads > 0` (threaded, Panda's queued writer): at most `getMaxQueueSize()` datagrams
 *   (default `net-max-write-queue`, 10,000) wait for the threads; past it `send` returns false
 *   (or, with `block`, waits — bounded — for room).
 * - `numThreads = 0` (Panda's immediate writer): no queue cap; `send` hands the datagram over at
 *   once and returns true unless the connection is already dead.
 *
 * Thread: main thread only.
 * @module
 */
import { Datagram } from '../datagram/datagram.js';
import { ErrorCode, FrameTooLargeError, InvalidArgumentError, PandaNetError, TooLongError, ValueRangeError } from '../errors.js';
import { OutOp, outMetaWriter, packOutMeta } from '../protocol/control.js';
import { maxFramePayload, validateHeaderSize, type TcpHeaderSize } from '../protocol/tcp-framing.js';
import { MAX_UDP_PAYLOAD, UDP_HEADER_SIZE, udpChecksum } from '../protocol/udp-header.js';
import { addressRecordLength, writeAddressRecord } from '../protocol/address-record.js';
import { log } from '../log.js';
import { atPendingLimit, coreOf, isStreamKind, type Connection, type ConnectionCore } from './connection.js';
import { NetAddress } from './net-address.js';
import { collectSend } from './collect-tcp.js';
import { runtimeOf, type ConnectionManager } from './connection-manager.js';
import type { Runtime } from './runtime.js';
import type { WriterStats } from './runtime/stats.js';
import { pauseMs, type DrainPacer } from './runtime/write-batching.js';

/** How long `send` may wait for ring room or (with `block`) queue room, ms. */
const SEND_WAIT_MS = 2000;

/**
 * Sends datagrams.
 * Thread: main thread only.
 */
export class ConnectionWriter {
  readonly #rt: Runtime;
  readonly #numThreads: number;
  readonly #slot: number;
  #headerSize: TcpHeaderSize;
  #raw = false;
  #maxQueue: number;
  #shut = false;
  /** Open {@link cork} calls of this writer. */
  #corks = 0;
  /** Paces a long cork as `drainData` paces its drain: what is held goes out at a switch to another connection once it has waited `NetConfig.drainHoldUs`. */
  readonly #pacer: DrainPacer;

  /** `numThreads` 0: immediate writer; N > 0: queued writer served by N I/O threads. */
  constructor(manager: ConnectionManager, numThreads: number) {
    if (!Number.isInteger(numThreads) || numThreads < 0 || numThreads > 64) throw new ValueRangeError(`numThreads must be an integer 0..64, got ${numThreads}`);
    this.#rt = runtimeOf(manager);
    this.#rt.pool.ensure(numThreads);
    this.#numThreads = numThreads;
    this.#slot = this.#rt.writers.add(this.#statsSource);
    this.#pacer = this.#rt.out.pacer();
    this.#headerSize = this.#rt.config.tcpHeaderSize;
    this.#maxQueue = this.#rt.config.netMaxWriteQueue;
    this.#updateFrameLimit();
  }

  readonly #statsSource = {
    stats: (): WriterStats => ({ slot: this.#slot, threads: this.#numThreads, queued: this.getCurrentQueueSize(), maxQueue: this.#maxQueue }),
  };

  /**
   * Sends `datagram` on the TCP `connection` (or, as one binary message, on a WebSocket client:
   * this writer's raw mode and header size do not apply to it). Returns false if a threaded writer's queue is full
   * (and `block` is false), or if the connection is already closed or reset (a closed connection is
   * also reported through the manager's reset queue, as in Panda), or if it already has
   * `maxPendingSendBytes` waiting. Throws for a writer that was shut down, a null or non-TCP
   * connection, a datagram too long for the header size or the outbound ring (`TooLongError`), or
   * one larger than the manager's `maxDatagramSize` with a 2- or 4-byte header (`FrameTooLargeError`,
   * what a pandanet reader with the same configuration would refuse). A refused or thrown send is not
   * counted anywhere (pending bytes, queue, `getStats`).
   */
  send(datagram: Datagram, connection: Connection, block?: boolean): boolean;
  /**
   * Sends `datagram` on the UDP `connection` to `address` (Panda's UDP form), with Panda's 2-byte
   * checksum header unless in raw mode. Over 1500 bytes: a warning, and it is sent anyway (as Panda).
   */
  send(datagram: Datagram, connection: Connection, address: NetAddress, block?: boolean): boolean;
  send(datagram: Datagram, connection: Connection, a?: boolean | NetAddress, b?: boolean): boolean {
    if (this.#shut) throw new PandaNetError(ErrorCode.SHUT_DOWN, 'send on a ConnectionWriter that was shut down');
    if (!(datagram instanceof Datagram)) throw new InvalidArgumentError('send needs a Datagram');
    if (connection == null) throw new PandaNetError(ErrorCode.NULL_CONNECTION, 'send needs a connection');
    const core = coreOf(connection);
    if (a instanceof NetAddress) return this.#sendUdp(datagram, core, a, Boolean(b));
    const block = Boolean(a);
    if (!isStreamKind(core.kind)) throw new PandaNetError(ErrorCode.WRONG_CONNECTION_KIND, `send(datagram, connection) needs a connected TCP stream, not a ${core.kind}${core.kind === 'udp' ? ' (pass the destination address)' : ''}`);
    const length = datagram._length;
    // A WebSocket client: one message per datagram, whatever this writer's TCP framing; the I/O thread
    // takes each datagram out of the ring by a 4-byte length header.
    const ws = core.kind === 'websocket';
    const raw = this.#raw && !ws;
    const header: TcpHeaderSize = ws ? 4 : raw ? 0 : this.#headerSize;
    if (length > (ws ? this.#rt.config.maxDatagramSize : this.#frameLimit)) this.#refuseFrame(length, header);
    const rt = this.#rt;
    if (!core.open || !core.thread.alive) {
      runtimeOf(core.manager).ends.reset(core, 'send on a closed connection'); // reported to its own manager
      return false;
    }
    // Per-connection high-water mark: a peer that stops reading gets false, not unbounded memory.
    if (atPendingLimit(core, rt.config.maxPendingSendBytes)) return false;
    if (this.#corks > 0) this.#pacer.visit(core);
    // Straight from the datagram's storage, framed in the ring: while a drainData holds the wakes, a
    // connection's run of replies becomes one batch record, which its thread writes with one copy.
    const accepted =
      core.collect.enabled || core.collect.len > 0
        ? collectSend(core, datagram.getMessageView(), header, raw)
        : this.#enqueue(core, packOutMeta(OutOp.SEND_TCP_BATCH, header, raw, this.#slotFor(core)), datagram._bytes, length, block, header);
    if (!accepted) return false;
    // Counted only once accepted: a refused (or thrown) send leaves no trace in the pending tally or the stats.
    core.framedSent = (core.framedSent + length + header) | 0;
    core.stats.datagramsOut++;
    core.stats.bytesOut += length;
    return true;
  }

  /**
   * Largest payload `send` frames: the header's limit, and the manager's `maxDatagramSize` (what a
   * pandanet reader with the same configuration accepts); no limit in raw mode or with header 0, where
   * no length header announces anything. Kept up to date by {@link setRawMode} / {@link setTcpHeaderSize}.
   */
  #frameLimit = Infinity;

  #updateFrameLimit(): void {
    const header = this.#raw ? 0 : this.#headerSize;
    this.#frameLimit = header === 0 ? Infinity : Math.min(maxFramePayload(header), this.#rt.config.maxDatagramSize);
  }

  /** Throws the error for a datagram over {@link #frameLimit}; nothing was sent or counted. */
  #refuseFrame(length: number, header: TcpHeaderSize): never {
    if (length > maxFramePayload(header)) {
      throw new TooLongError(`datagram of ${length} bytes is too long for a ${header}-byte TCP header; nothing sent`);
    }
    const max = this.#rt.config.maxDatagramSize;
    throw new FrameTooLargeError(length, max, `datagram of ${length} bytes exceeds maxDatagramSize (${max}), which a pandanet reader with this configuration would refuse; nothing sent (raise maxDatagramSize with setNetConfig for peers that accept more)`);
  }

  /** Where {@link #sendUdp} builds each record (address, checksum header, payload). */
  #udpScratch = new Uint8Array(256);

  #sendUdp(datagram: Datagram, core: ConnectionCore, address: NetAddress, block: boolean): boolean {
    if (core.kind !== 'udp') throw new PandaNetError(ErrorCode.WRONG_CONNECTION_KIND, `send(datagram, connection, address) needs a UDP connection, not a ${core.kind}`);
    const payload = datagram.getMessageView();
    if (payload.length > MAX_UDP_PAYLOAD) log('warning', `UDP datagram of ${payload.length} bytes exceeds ${MAX_UDP_PAYLOAD}; sending anyway`);
    if (!core.open || !core.thread.alive) {
      runtimeOf(core.manager).ends.reset(core, 'send on a closed connection');
      return false;
    }
    const ip = address.getIpString();
    const at = addressRecordLength(ip);
    const headerBytes = this.#raw ? 0 : UDP_HEADER_SIZE;
    // The record is copied into the outbound ring before #enqueue returns: one scratch buffer serves
    // every send (a fresh ArrayBuffer per UDP send cost ~150 ns).
    const length = at + headerBytes + payload.length;
    if (this.#udpScratch.length < length) this.#udpScratch = new Uint8Array(Math.max(length, 2 * this.#udpScratch.length));
    const record = this.#udpScratch;
    writeAddressRecord(ip, address.getPort(), record, 0);
    if (!this.#raw) {
      const sum = udpChecksum(payload);
      record[at] = sum & 0xff;
      record[at + 1] = sum >>> 8;
    }
    record.set(payload, at + headerBytes);
    if (!this.#enqueue(core, packOutMeta(OutOp.SEND_UDP, 0, this.#raw, this.#slotFor(core)), record, length, block, -1)) return false;
    core.stats.datagramsOut++; // counted only once accepted
    core.stats.bytesOut += payload.length;
    return true;
  }

  /**
   * The queue-counter slot for a send: this writer's, for a threaded writer and a connection of its own
   * manager. A connection of another manager is served by that manager's threads, which count on that
   * manager's words, so such sends are not counted (no cap; Panda allows them, we just can't cap them).
   */
  #slotFor(core: ConnectionCore): number {
    return this.#numThreads > 0 && core.manager === this.#rt.manager ? this.#slot : 0;
  }

  /**
   * Hands one record (or, with `batchPrefix` ≥ 0, one TCP datagram to frame with a header of that many
   * bytes: {@link WriteBatching.sendFramed}) to the connection's thread, honouring a threaded writer's
   * queue cap.
   */
  #enqueue(core: ConnectionCore, meta: number, record: Uint8Array, length: number, block: boolean, batchPrefix: -1 | TcpHeaderSize): boolean {
    const out = this.#rt.out;
    const words = this.#rt.writers.words;
    const slot = outMetaWriter(meta);
    // The shared word is read only when the bound kept here says the queue may be full: the threads
    // only ever take from it, so the value this writer last saw (plus its own sends since) is an
    // upper bound, and below the cap the shared word is not touched but for the one add.
    if (slot !== 0 && this.#queuedAtMost >= this.#maxQueue) {
      this.#queuedAtMost = Atomics.load(words, slot);
      if (this.#queuedAtMost >= this.#maxQueue && !(block && this.#waitForQueueRoom())) return false;
    }
    if (slot !== 0) this.#queuedAtMost = Atomics.add(words, slot, 1) + 1;
    if (batchPrefix === -1 ? out.send(core.thread, core.id, meta, record, length, SEND_WAIT_MS) : out.sendFramed(core.thread, core.id, meta, batchPrefix, record, length, SEND_WAIT_MS)) return true;
    if (slot !== 0) this.#queuedAtMost = Atomics.sub(words, slot, 1) - 1;
    const limit = batchPrefix === -1 ? out.maxPayload(core.thread) : out.maxFramedPayload(core.thread, batchPrefix);
    if (length > limit) throw new TooLongError(`datagram of ${length} bytes exceeds the outbound ring's ${limit}-byte limit`);
    return false;
  }

  /**
   * An upper bound of this writer's shared queue word (datagrams handed over, not yet taken): the
   * value it last read or wrote there. The I/O threads only decrement the word, so it is never below
   * the word's value; {@link #enqueue} reads the word only once this reaches the cap.
   */
  #queuedAtMost = 0;

  /** `send(…, true)` on a full queue: waits (bounded) until the threads have taken some. */
  #waitForQueueRoom(): boolean {
    const words = this.#rt.writers.words;
    return this.#rt.out.wait(() => (this.#queuedAtMost = Atomics.load(words, this.#slot)) < this.#maxQueue, SEND_WAIT_MS, (ms) => pauseMs(Math.min(ms, 0.1)), () => !this.#shut);
  }

  /**
   * Holds the sends back from the I/O threads until {@link uncork} (not in Panda; Node's
   * `writable.cork()`): what is sent meanwhile to one connection is handed over as one batch and
   * leaves in one TCP write, instead of waking a thread and making a write for each send. This is
   * what `drainData` does on its own; `cork` gives the manual `getData` loop the same:
   *
   * ```ts
   * writer.cork();
   * while (reader.dataAvailable()) if (reader.getData(dg)) writer.send(reply(dg), dg.getConnection()!);
   * writer.uncork();
   * ```
   *
   * It holds the wake-ups of every I/O thread of this writer's manager, so sends of the manager's
   * other writers wait too. Nothing is held past `uncork`, nor past anything that waits for a thread
   * (a full ring or queue, `send(…, true)`, a synchronous call such as an open): those send what is
   * held first. A `closeConnection` made while corked takes effect after the sends before it, at the
   * `uncork` at the latest. A long cork is paced as `drainData` paces its drain: when a send goes to
   * another TCP or WebSocket connection than the one before it and what is held has waited
   * `NetConfig.drainHoldUs` (250 µs by default), it goes out (and the threads are woken), so replies
   * never wait for the end of a long loop while the peers wait for them. Sends made while corked can
   * also go out earlier, when a thread that is awake anyway takes them. Nests: each `cork` needs its
   * `uncork`. Thread: main thread only.
   */
  cork(): void {
    if (this.#shut) throw new PandaNetError(ErrorCode.SHUT_DOWN, 'cork on a ConnectionWriter that was shut down');
    this.#corks++;
    this.#pacer.start();
  }

  /**
   * Ends one {@link cork}; the last one hands what was held to the I/O threads and wakes them. Without
   * an open `cork` it does nothing (as Node's `uncork`). Thread: main thread only.
   */
  uncork(): void {
    if (this.#corks === 0) return;
    this.#corks--;
    this.#pacer.end();
  }

  /** Open {@link cork} calls of this writer (Node's `writableCorked`). Thread: main thread only. */
  getCorked(): number {
    return this.#corks;
  }

  /** True if `datagram` fits in one UDP packet (≤ 1500 bytes). */
  isValidForUdp(datagram: Datagram): boolean {
    return datagram.getLength() <= MAX_UDP_PAYLOAD;
  }
  /** Cap on queued datagrams (threaded writers). */
  setMaxQueueSize(size: number): void {
    if (!Number.isInteger(size) || size < 0) throw new ValueRangeError(`max queue size must be a non-negative integer, got ${size}`);
    this.#maxQueue = size;
  }
  /** Cap on queued datagrams. */
  getMaxQueueSize(): number {
    return this.#maxQueue;
  }
  /** Datagrams handed to the threads and not yet taken by them (0 for an immediate writer). */
  getCurrentQueueSize(): number {
    return this.#numThreads > 0 ? Math.max(0, Atomics.load(this.#rt.writers.words, this.#slot)) : 0;
  }
  /** The manager. */
  getManager(): ConnectionManager {
    return this.#rt.manager;
  }
  /** True if made with 0 threads. */
  isImmediate(): boolean {
    return this.#numThreads === 0;
  }
  /** The thread count asked for. */
  getNumThreads(): number {
    return this.#numThreads;
  }
  /** Raw mode: send payloads without a length header. */
  setRawMode(mode: boolean): void {
    this.#raw = Boolean(mode);
    this.#updateFrameLimit();
  }
  /** Raw mode flag. */
  getRawMode(): boolean {
    return this.#raw;
  }
  /** TCP length-prefix size: 0, 2 or 4 (anything else throws). */
  setTcpHeaderSize(size: number): void {
    this.#headerSize = validateHeaderSize(size);
    this.#updateFrameLimit();
  }
  /** TCP length-prefix size. */
  getTcpHeaderSize(): number {
    return this.#headerSize;
  }
  /**
   * Stops the writer: later `send` calls throw. Datagrams already handed over are still written
   * (Panda discards them, Q12; we flush, since they are already in the thread's ring). Idempotent.
   */
  shutdown(): void {
    if (this.#shut) return;
    while (this.#corks > 0) this.uncork(); // nothing this writer held stays held
    this.#shut = true;
    this.#rt.writers.remove(this.#slot, this.#statsSource);
  }
}
