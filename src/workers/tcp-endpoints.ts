/**
 * The sockets an I/O worker owns: connected TCP streams and TCP rendezvous (listening) sockets.
 *
 * A stream reads only while a reader monitors it (Panda reads nothing from unmonitored sockets, so
 * the kernel buffers and TCP pushes back). Complete datagrams go into the monitoring reader's ring in
 * arrival order; when the ring is full, or when the connection has its quota of datagrams waiting for
 * the application (`NetConfig.maxQueuedPerConnection`), the stream stops reading and keeps the
 * datagrams it already decoded, in order, until there is room: nothing is dropped except by a
 * threaded reader's queue cap, which counts (admits) a datagram when it enters the ring.
 * Outbound records are batched into one `write` per stream per drain of the outbound ring.
 *
 * Thread: I/O workers only.
 * @module
 */
import type net from 'node:net';
import { FrameTooLargeError, toErrorRecord, type ErrorRecord } from '../errors.js';
import { log } from '../log.js';
import { EventKind, StatWord, type ResetEvent, type WireAddress } from '../protocol/control.js';
import { TcpFrameDecoder } from '../protocol/tcp-framing.js';
import type { EventPublisher, ReaderSlot, RingWaiter, WorkerStats } from './worker-context.js';

/** What endpoints need from their worker. */
export interface EndpointHost {
  readonly events: EventPublisher;
  readonly stats: WorkerStats;
  /** Pending-send bytes per stream slot, read by the main thread. */
  readonly pending: Int32Array;
  /** Datagrams the application took, per stream slot (written by the main thread; TAKEN_SLOTS). */
  readonly taken: Int32Array;
  /** `NetConfig.maxQueuedPerConnection`; 0 = off. */
  readonly maxQueuedPerConnection: number;
  /** `stream` stopped reading for its quota: call its {@link TcpStream.retryQuota} until it is done. */
  waitForQuota(stream: TcpStream): void;
  /** Forget an endpoint whose socket is gone. */
  release(id: number): void;
  /** A rendezvous accepted a socket (still paused). */
  accepted(rendezvous: TcpRendezvous, socket: net.Socket): void;
}

/** Converts Node's view of a socket end into the wire form. */
export function wireAddress(address: string | undefined, family: string | undefined, port: number | undefined): WireAddress {
  if (address === undefined || port === undefined) return { family: 0, address: '', port: 0 };
  return { family: family === 'IPv6' ? 6 : 4, address, port };
}

/** What {@link copyOf} returns for an empty datagram (a flood of them is kept one read at a time). */
const EMPTY = new Uint8Array(0);

/**
 * How long a stream whose peer half-closed keeps its write side open waiting for the main thread's
 * CLOSE (sent once the application has taken the reset): a bound, so that an application that never
 * takes its data or resets cannot keep the descriptor forever. The replies it sends meanwhile are written.
 */
const HALF_OPEN_LIMIT_MS = 30_000;

/** Below 4 KiB, Buffer.allocUnsafe takes from Node's pool: cheap per flush. */
const INITIAL_OUT = 2048;

/**
 * A copy of `buf[offset, offset + length)` that owns its memory. Not `buf.slice()`: on a Node Buffer
 * (the shared `onread` buffer) `slice` is a view, which the next read would overwrite.
 */
function copyOf(buf: Uint8Array, offset: number, length: number): Uint8Array {
  if (length === 0) return EMPTY; // never written to: one object for every empty datagram kept
  const out = new Uint8Array(length);
  out.set(buf.subarray(offset, offset + length));
  return out;
}

/**
 * A connected TCP socket: Panda's length-prefixed datagrams. Its delivery into the reader rings (order,
 * backlog, ring-full and quota back-pressure, resets after the data) is also that of a WebSocket
 * stream (`websocket-endpoints.ts`), which extends it and replaces the framing (the `protected` hooks).
 */
export class TcpStream implements RingWaiter {
  readonly id: number;
  readonly socket: net.Socket;
  protected readonly host: EndpointHost;
  protected reader: ReaderSlot | null = null;
  private decoder: TcpFrameDecoder | null = null;
  /**
   * Datagrams decoded but not yet in a ring (copies), oldest first: read while the reader's ring was
   * full or the quota used up, or after a detach. Not counted in the reader's queue (QUEUED) until
   * they enter its ring.
   */
  private backlog: Uint8Array[] = [];
  /**
   * Datagrams this stream wrote into a reader ring, cumulative (the threads' cap drops are not
   * counted). The quota compares it with what the application took; the RESET event carries it, and
   * the main thread holds the reset until the application has taken that many datagrams of the
   * connection, so a reset never overtakes them.
   */
  private delivered = 0;
  /**
   * Quota: `delivered` may reach this before the application's count is read again (Infinity: no
   * quota). Set from that count, so the hot path pays one comparison per datagram.
   */
  private quotaMark = Number.POSITIVE_INFINITY;
  /** Quota: datagrams waiting for the application = (delivered − taken − quotaBase) mod 2^32. */
  private quotaBase = 0;
  private pendingReset: ResetReason | null = null;
  protected out: Buffer = Buffer.allocUnsafe(INITIAL_OUT);
  protected outLen = 0;
  /**
   * `ended`: the peer half-closed (FIN) and the reset was reported; the socket stays writable, so the
   * replies the application sends before it takes the reset are written, until the main thread's
   * CLOSE ({@link closeLocal}) ends it (Panda keeps the socket until the application closes it).
   */
  protected state: 'open' | 'ended' | 'closing' | 'gone' = 'open';
  /** The peer half-closed: the reset, when reported, keeps the socket writable (state `ended`). */
  private peerEnded = false;
  /** The {@link HALF_OPEN_LIMIT_MS} bound of a half-closed stream (cleared when the stream goes). */
  private halfOpenTimer: ReturnType<typeof setTimeout> | null = null;
  /** Bytes read before any reader attached (normally none). */
  private early: Uint8Array[] = [];
  /**
   * Bytes passed to `socket.write`, cumulative (mod 2^32). Less `writableLength`, the bytes the kernel
   * has taken: the one figure this thread publishes (see {@link publishPending}).
   */
  protected written = 0;
  /** When bytes last arrived (or reading last (re)started), for the idle timeout. */
  protected lastRx = performance.now();
  private readonly onFrame = (buf: Uint8Array, offset: number, length: number): void => this.deliver(buf, offset, length);

  /** Slot in the pending-send table, or -1. */
  readonly slot: number;

  /** `tcpFraming` false: the subclass reads the socket itself (a WebSocket's library does) and reports its end with {@link closed}. */
  constructor(id: number, socket: net.Socket, host: EndpointHost, slot: number, tcpFraming = true) {
    this.id = id;
    this.socket = socket;
    this.host = host;
    this.slot = slot;
    socket.pause();
    socket.on('drain', () => this.publishPending());
    if (tcpFraming) {
      // Plain Uint8Array views: the stream's code then only ever sees one kind of array (see IoWorker.readView).
      socket.on('data', (chunk: Buffer) => this.onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)));
      socket.on('end', () => this.onPeerEnd());
      socket.on('error', (err: Error) => this.fail({ reason: `socket error: ${err.message}`, error: toErrorRecord(err) }));
      socket.on('close', () => this.closed('socket closed'));
    }
    host.stats.add(StatWord.CONNECTIONS, 1);
  }

  /** The socket closed: a reset (`reason`) if the stream was open, else the end of a close. */
  protected closed(reason: string, error?: ErrorRecord): void {
    if (this.state === 'open') this.fail(error === undefined ? { reason } : { reason, error });
    else if (this.state === 'closing' || this.state === 'ended') this.gone();
  }

  /** Stops reading the socket (back-pressure, detach). */
  protected pauseInput(): void {
    this.socket.pause();
  }

  /** Reads the socket again. */
  protected resumeInput(): void {
    this.socket.resume();
  }

  /** Bytes handed to the socket that the kernel has not taken yet (see {@link publishPending}). */
  protected unsentBytes(): number {
    return this.socket.writableLength;
  }

  /** Ends the socket at once after a failure (a WebSocket first says why, with a close frame). */
  protected abortSocket(): void {
    this.socket.destroy();
  }

  /**
   * Starts delivering to `reader` (Panda: `reader.add_connection`). A frame half-read before a
   * `detach` continues where it stopped, and datagrams read but not yet delivered go to `reader` first.
   */
  attach(reader: ReaderSlot): void {
    if (this.state !== 'open') return;
    const { headerSize, rawMode, maxDatagramSize } = reader.config;
    this.reader = reader;
    this.lastRx = performance.now();
    if (this.decoder === null) this.decoder = new TcpFrameDecoder({ headerSize, rawMode, maxDatagramSize });
    else this.reconfigure(reader);
    if (this.slot >= 0 && this.host.maxQueuedPerConnection > 0) {
      // Counted from here: what an earlier reader still holds of this stream does not count.
      this.quotaBase = (this.delivered - Atomics.load(this.host.taken, this.slot)) | 0;
      this.quotaMark = this.delivered + this.host.maxQueuedPerConnection;
    }
    if (this.early.length > 0) for (const chunk of this.early.splice(0)) this.onData(chunk);
    if (this.backlog.length > 0) reader.block(this);
    else this.resumeInput();
  }

  /**
   * Stops reading for `readerId`; bytes stay in the kernel (Panda: `remove_connection`). The decoder
   * keeps a half-read frame and the backlog keeps what was read, for a later `attach`.
   */
  detach(readerId: number): void {
    if (this.reader?.id !== readerId) return;
    this.reader.blocked.delete(this);
    this.reader = null;
    this.pauseInput();
  }

  /** The reader changed its framing settings: apply them from the next datagram on. */
  reconfigure(reader: ReaderSlot): void {
    if (this.reader === reader && this.decoder !== null) {
      this.decoder.setHeaderSize(reader.config.headerSize);
      this.decoder.setRawMode(reader.config.rawMode);
    }
  }

  /**
   * `onread` form of {@link onData}: `buf` is the thread's shared read buffer, valid only during the
   * call (everything kept from it is copied by the decoder or the backlog).
   */
  onRead(nread: number, buf: Uint8Array): void {
    this.onData(buf.subarray(0, nread));
  }

  private onData(chunk: Uint8Array): void {
    const decoder = this.decoder;
    if (this.state !== 'open') return; // closing: discard until the peer's FIN
    if (decoder === null) {
      // Bytes before the first attach (the socket is paused until then, so this is a safety net):
      // keep a copy and replay it when a reader attaches.
      this.early.push(chunk.slice());
      this.socket.pause();
      return;
    }
    this.lastRx = performance.now();
    this.host.stats.add(StatWord.TCP_READS, 1);
    const reader = this.reader;
    try {
      decoder.pushRange(chunk, this.onFrame);
    } catch (err) {
      const reason = err instanceof FrameTooLargeError ? `invalid TCP datagram: ${err.message}` : `framing error: ${String(err)}`;
      log('warning', `connection ${this.id}: ${reason}; closing it`);
      this.fail({ reason, error: toErrorRecord(err) });
    } finally {
      reader?.ringBell(); // what the chunk delivered (before a failure too) wakes a waiting reader
    }
  }

  protected deliver(buf: Uint8Array, offset: number, length: number): void {
    const reader = this.reader;
    this.host.stats.inDatagram(length);
    if (reader === null || this.backlog.length > 0) {
      // Read after a detach (the rest of a chunk), or behind datagrams that wait: keep it, in order.
      this.backlog.push(copyOf(buf, offset, length));
      return;
    }
    if (this.delivered >= this.quotaMark && !this.quotaLeft()) {
      // The connection has its quota waiting for the application: keep this datagram and everything
      // after it, stop reading (TCP pushes back on the sender) until the application caught up.
      this.backlog.push(copyOf(buf, offset, length));
      this.pauseInput();
      this.host.stats.add(StatWord.BACKPRESSURE_PAUSES, 1);
      this.host.stats.add(StatWord.QUOTA_PAUSES, 1);
      this.host.waitForQuota(this);
      return;
    }
    if (!reader.admit()) return;
    if (reader.ring.tryWriteRange(this.id, 0, buf, offset, length)) {
      this.delivered++;
      return;
    }
    // Ring full: keep this datagram and everything after it, stop reading, wait for room.
    reader.unadmit(1);
    this.backlog.push(copyOf(buf, offset, length));
    this.pauseInput();
    this.host.stats.add(StatWord.BACKPRESSURE_PAUSES, 1);
    reader.block(this);
  }

  /** Quota: datagrams delivered and not yet taken by the application. */
  private outstanding(): number {
    let n = (this.delivered - Atomics.load(this.host.taken, this.slot) - this.quotaBase) | 0;
    if (n < 0) {
      // More taken than delivered since the base was set (a reused slot's late takes, or an earlier
      // reader's datagrams taken after an attach): start again from here.
      this.quotaBase = (this.quotaBase + n) | 0;
      n = 0;
    }
    return n;
  }

  /** Quota: reads the application's count; false if the quota is used up, else moves the mark. */
  private quotaLeft(): boolean {
    const left = this.host.maxQueuedPerConnection - this.outstanding();
    if (left <= 0) return false;
    this.quotaMark = this.delivered + left;
    return true;
  }

  /**
   * Called by the worker's quota timer while this stream waits for the application: once it has
   * taken some, delivers what waits (within the quota) and resumes reading when nothing waits any
   * more. True once it no longer waits for the application (it may wait for ring room then, or for
   * the quota again: it registers itself again).
   */
  retryQuota(): boolean {
    const reader = this.reader;
    if (reader === null || this.backlog.length === 0) return true; // detached or closed meanwhile
    if (this.outstanding() >= this.host.maxQueuedPerConnection) return false;
    if (!this.retryDelivery()) reader.block(this);
    return true;
  }

  /**
   * {@link RingWaiter}: move the backlog into the ring (counted by the reader's cap as each enters,
   * within the quota); resume reading once it is empty. False while the ring is full; a stream that
   * stops for its quota registers with the worker's quota timer and returns true.
   */
  retryDelivery(): boolean {
    const reader = this.reader;
    if (reader === null) return true;
    const backlog = this.backlog;
    let i = 0;
    let full = false;
    let quota = false;
    while (i < backlog.length) {
      if (this.delivered >= this.quotaMark && !this.quotaLeft()) {
        quota = true;
        break;
      }
      if (reader.admit()) {
        if (!reader.ring.tryWrite(this.id, 0, backlog[i]!)) {
          reader.unadmit(1);
          full = true;
          break;
        }
        this.delivered++;
      } // else dropped for the reader's cap (counted by admit)
      i++;
    }
    if (i > 0) {
      backlog.splice(0, i);
      reader.ringBell();
    }
    if (full) return false;
    if (quota) {
      this.host.waitForQuota(this);
      return true;
    }
    if (this.pendingReset !== null) this.reportReset(this.pendingReset);
    else if (this.state === 'open') {
      this.lastRx = performance.now(); // waiting for ring room is not the peer's idleness
      this.resumeInput();
    }
    return true;
  }

  /** Idle timeout: a monitored stream that received nothing for `limitMs` is reset. */
  checkIdle(now: number, limitMs: number): void {
    if (this.state !== 'open' || this.reader === null || this.backlog.length > 0 || this.pendingReset !== null) return;
    if (now - this.lastRx >= limitMs) this.fail({ reason: `idle timeout: nothing received for ${limitMs} ms` });
  }

  /** Tells the main thread how many framed bytes the kernel has taken (its high-water mark). */
  protected publishPending(): void {
    // A late write callback of a gone stream must not touch a slot that may already be reused.
    if (this.slot >= 0 && this.state !== 'gone') Atomics.store(this.host.pending, this.slot, (this.written - this.unsentBytes()) | 0);
  }

  /**
   * Appends one record of bytes already framed by the main thread (a collect-tcp flush: one or more
   * datagrams with their headers, or raw payload) to this drain's outgoing batch, as they lie.
   * Counted as one datagram of `length` bytes.
   */
  queueSend(data: Uint8Array, offset: number, length: number): boolean {
    if (this.state !== 'open' && this.state !== 'ended') return false;
    this.reserveOut(length);
    this.out.set(data.subarray(offset, offset + length), this.outLen);
    this.outLen += length;
    this.host.stats.outDatagram(length);
    return true;
  }

  /**
   * Appends `count` datagrams already framed with `headerSize`-byte headers (a batch record) to this
   * drain's outgoing batch, as they lie.
   */
  queueFramed(data: Uint8Array, offset: number, length: number, count: number, headerSize: number): boolean {
    if (this.state !== 'open' && this.state !== 'ended') return false;
    this.reserveOut(length);
    this.out.set(data.subarray(offset, offset + length), this.outLen);
    this.outLen += length;
    this.host.stats.outDatagrams(count, length - count * headerSize);
    return true;
  }

  /** Grows the outgoing batch buffer so that `more` bytes fit after what it holds. */
  private reserveOut(more: number): void {
    const need = this.outLen + more;
    if (need <= this.out.length) return;
    let cap = this.out.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.out.copy(next, 0, 0, this.outLen);
    this.out = next;
  }

  /**
   * Writes the batch with one `write`. Usually the kernel takes it all inside `write` (the stream then
   * holds nothing: `writableLength` is 0) and the buffer is reused. Otherwise the socket keeps the
   * buffer until the kernel has it, so a fresh one is started (cheaper than copying the batch).
   */
  flushOutput(): void {
    if (this.outLen === 0 || (this.state !== 'open' && this.state !== 'ended')) return;
    const size = this.outLen;
    this.outLen = 0;
    this.written = (this.written + size) | 0;
    this.socket.write(this.out.subarray(0, size), this.onWritten);
    if (this.socket.writableLength !== 0) this.out = Buffer.allocUnsafe(Math.min(Math.max(INITIAL_OUT, size), 1 << 20));
    this.host.stats.add(StatWord.TCP_WRITES, 1);
    this.publishPending();
  }

  /** A write reached the kernel: the pending figure went down. */
  protected readonly onWritten = (): void => this.publishPending();

  /** Forgets the reader and what waits for it (closing); the backlog was never counted in its queue. */
  protected dropReader(): void {
    if (this.reader !== null) this.reader.blocked.delete(this);
    this.reader = null;
    this.decoder = null;
    this.backlog = [];
  }

  /**
   * The application closed the connection, or (state `ended`) took the reset of a peer that
   * half-closed: flush, then FIN; no reset is reported.
   */
  closeLocal(): void {
    if (this.state !== 'open' && this.state !== 'ended') return;
    this.flushOutput();
    this.state = 'closing';
    this.dropReader();
    this.socket.end();
    // Read (and discard) until the peer's FIN, so the socket closes now rather than at the timeout.
    this.socket.resume();
    // Bounded: a peer that never reads cannot keep the descriptor forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
    if (this.socket.destroyed) this.gone();
  }

  /** Kills the socket at once (worker shutdown). */
  destroy(): void {
    if (this.state === 'gone') return;
    this.state = 'closing';
    this.dropReader();
    this.socket.destroy();
    this.gone();
  }

  /**
   * The peer half-closed (FIN): a reset, reported after the datagrams it sent, but the write side stays
   * open until the main thread's CLOSE (or {@link HALF_OPEN_LIMIT_MS}), so replies still go out.
   */
  private onPeerEnd(): void {
    if (this.state !== 'open' || this.pendingReset !== null) return;
    this.peerEnded = true;
    // Bounded: a CLOSE that never comes (an application that never takes the data or the reset, or
    // a backlog that never drains) cannot keep the descriptor forever.
    this.halfOpenTimer = setTimeout(() => {
      if (this.peerEnded && (this.state === 'ended' || this.state === 'open')) this.socket.destroy();
    }, HALF_OPEN_LIMIT_MS);
    this.halfOpenTimer.unref();
    if (this.backlog.length > 0) {
      this.pendingReset = { reason: 'closed by peer' };
      return;
    }
    this.reportReset({ reason: 'closed by peer' });
  }

  protected fail(why: ResetReason): void {
    if (this.state === 'ended') {
      // A write error or RST after the peer's FIN: the reset is reported already; release the socket.
      this.socket.destroy();
      return;
    }
    if (this.state !== 'open') return;
    this.peerEnded = false; // an error after a FIN still waiting for ring room: destroy after all
    this.abortSocket();
    if (this.pendingReset !== null) return; // reported once the backlog is delivered
    if (this.backlog.length > 0) {
      // Datagrams that arrived before the failure go first; the reset follows them (Panda §5.3).
      this.pendingReset = why;
      return;
    }
    this.reportReset(why);
  }

  private reportReset(why: ResetReason): void {
    this.pendingReset = null;
    this.reader = null;
    this.decoder = null;
    this.host.stats.add(StatWord.RESETS, 1);
    log('debug', `connection ${this.id} reset: ${why.reason}`); // the main thread logs the reset at info when it reports it
    const halfOpen = this.peerEnded && !this.socket.destroyed;
    const ev: ResetEvent = { ...why, delivered: this.delivered, socketGone: !halfOpen };
    this.host.events.publish(this.id, EventKind.RESET, ev);
    if (halfOpen) {
      // Half-closed: keep writing the application's replies until its CLOSE (bounded, see onPeerEnd).
      this.state = 'ended';
      return;
    }
    this.state = 'closing';
    this.gone();
  }

  protected gone(): void {
    if (this.state === 'gone') return;
    this.state = 'gone';
    if (this.halfOpenTimer !== null) clearTimeout(this.halfOpenTimer); // the stream need not outlive its socket
    if (this.slot >= 0) Atomics.store(this.host.pending, this.slot, 0); // reset for the slot's next user
    this.host.stats.add(StatWord.CONNECTIONS, -1);
    this.host.release(this.id);
  }
}

/** Why a stream was reset (the RESET event's reason, and the error behind it). */
export interface ResetReason {
  reason: string;
  error?: ErrorRecord;
}

/** A listening TCP socket. Accepts are surfaced only while a listener monitors it. */
export class TcpRendezvous {
  readonly id: number;
  readonly server: net.Server;
  private readonly host: EndpointHost;
  private listening = false;
  private readonly waiting: net.Socket[] = [];

  constructor(id: number, server: net.Server, host: EndpointHost) {
    this.id = id;
    this.server = server;
    this.host = host;
    server.on('connection', (socket: net.Socket) => {
      if (this.listening) host.accepted(this, socket);
      else this.waiting.push(socket);
    });
    server.on('error', (err: Error) => log('error', `error when accepting on rendezvous ${id}: ${err.message}`));
  }

  /** A listener monitors this rendezvous: surface waiting and future accepts. */
  attach(): void {
    this.listening = true;
    for (const s of this.waiting.splice(0)) this.host.accepted(this, s);
  }

  /** No listener monitors it any more: hold new accepts. */
  detach(): void {
    this.listening = false;
  }

  /** Stops listening and closes held sockets. */
  close(): void {
    for (const s of this.waiting.splice(0)) s.destroy();
    this.server.close();
    this.host.release(this.id);
  }
}
