/**
 * Entry point of an I/O worker thread.
 *
 * A worker owns sockets (libuv handles can't leave the thread that made them). It:
 * - runs blocking operations (listen, connect) for the main thread, answering through the call slot
 *   (synchronous callers) or a `reply` message (the `Async` twins);
 * - reads monitored sockets, frames datagrams and publishes them into each reader's ring;
 * - drains its outbound ring (sends and closes, in the order the main thread issued them);
 * - publishes accepts and resets through its event ring, after the datagrams that preceded them;
 * - spreads accepted connections over the pool by duplicating their descriptor to a peer worker;
 * - tells the main thread whether it owns any live handle, so the process can exit when none are left.
 *
 * It never blocks in `Atomics.wait` (that would stop its sockets); it waits with `Atomics.waitAsync`.
 *
 * Thread: I/O workers only.
 * @module
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { parentPort, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { toErrorRecord, SocketError } from '../errors.js';
import { followLogLevel, log, setLogSink } from '../log.js';
import {
  CALL_SLOT_HEADER_BYTES,
  CallWord,
  EventKind,
  OutOp,
  PoolWord,
  StatWord,
  outMetaHeader,
  outMetaOp,
  outMetaWriter,
  PENDING_SLOTS,
  SHUTDOWN_UNSENT_OFFSET,
  ShutdownState,
  ShutdownWord,
  type AcceptedEvent,
  type AdoptMessage,
  type PeerMessage,
  type ConnectionOption,
  type SocketOptionName,
  type ControlMessage,
  type SyncCall,
  type SyncResult,
  type WorkerInit,
  type WorkerNotice,
  type WebSocketSettings,
  type WireAddress,
  BATCH_COUNT_BYTES,
  readBatchCount,
} from '../protocol/control.js';
import { SpscRing } from '../shared-memory/spsc-ring.js';
import { canTransferFds, dupFd, handleFd, socketFd } from './fd-transfer.js';
import { getSocketOption, setSocketOption } from './socket-options.js';
import { readAddressRecord } from '../protocol/address-record.js';
import { TcpRendezvous, TcpStream, wireAddress, type EndpointHost } from './tcp-endpoints.js';
import { UdpEndpoint } from './udp-endpoint.js';
import { WebSocketContext, WebSocketStream } from './websocket-endpoints.js';
import { ReusePortGroups, acceptWithOnread } from './reuse-port.js';
import { EventPublisher, ReaderSlot, WorkerStats } from './worker-context.js';

const DRAIN_BUDGET = 8192;
/**
 * How often (ms) streams paused for their quota look whether the application has caught up. The
 * timer runs only while some stream waits; the main thread sends nothing (it only counts).
 */
const QUOTA_RECHECK_MS = 1;
const IDLE_WAIT_MS = 1000;
const encoder = new TextEncoder();

/**
 * Bytes given to `socket.write` that the kernel has not taken yet: those Node still buffers, plus
 * those libuv holds of the write in flight (`writableLength` counts a partly written chunk whole).
 * Node's long-standing `_bytesDispatched` and `_handle.writeQueueSize`; `writableLength` without them.
 */
function notInKernel(socket: net.Socket): number {
  const s = socket as net.Socket & { _bytesDispatched?: number; _handle?: { writeQueueSize?: number } | null };
  const dispatched = s._bytesDispatched;
  const queued = s._handle?.writeQueueSize;
  if (typeof dispatched !== 'number' || typeof queued !== 'number') return socket.writableLength;
  return Math.max(0, socket.bytesWritten - dispatched) + queued;
}

class IoWorker implements EndpointHost {
  readonly index: number;
  readonly events: EventPublisher;
  readonly stats: WorkerStats;
  private readonly pool: Int32Array;
  private readonly out: SpscRing;
  private readonly callWords: Int32Array;
  private readonly callBytes: Uint8Array;
  private readonly writerWords: Int32Array;
  private readonly readers = new Map<number, ReaderSlot>();
  private readonly streams = new Map<number, TcpStream>();
  private readonly rendezvous = new Map<number, TcpRendezvous>();
  private readonly udp = new Map<number, UdpEndpoint>();
  /** WebSocket rendezvous this thread listens on or serves clients of, by rendezvous id. */
  private readonly wsContexts = new Map<number, WebSocketContext>();
  readonly peers = new Map<number, MessagePort>();
  readonly supportIpv6: boolean;
  /** Rendezvous with one `reusePort` socket per thread (Node ≥ 22.12 on Linux): see reuse-port.ts. */
  private readonly groups: ReusePortGroups;
  /** Sockets of a group accepted with `onread` (acceptWithOnread), until their stream exists. */
  private readonly readHolders = new WeakMap<net.Socket, { stream?: TcpStream }>();
  private readonly dirty = new Set<TcpStream>();
  readonly pending: Int32Array;
  readonly taken: Int32Array;
  readonly maxQueuedPerConnection: number;
  /** Streams paused for their quota (see {@link waitForQuota}). */
  private readonly quotaWaiters = new Set<TcpStream>();
  private quotaTimer: NodeJS.Timeout | null = null;
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private readonly idleTimeoutMs: number;
  /** `NetConfig.ioSpinUs`, in ms. */
  private readonly spinMs: number;
  /**
   * One read buffer for every stream of this thread (Node's `onread`): reads allocate nothing, and
   * the decoder copies what it keeps. Saves a Buffer per read and the GC work behind it.
   */
  private readonly readBuffer = Buffer.allocUnsafe(64 * 1024);
  /**
   * The same memory as a plain Uint8Array: what the streams see. The copies into the rings then meet
   * one kind of array only (a Buffer is a subclass with its own map: code that saw both went
   * polymorphic and was deoptimized and recompiled whenever the other kind turned up).
   */
  private readonly readView = new Uint8Array(this.readBuffer.buffer, this.readBuffer.byteOffset, this.readBuffer.length);

  /** `onread` options routing reads to the stream `get()` returns. */
  private onread(get: () => TcpStream | undefined): { buffer: Buffer; callback: (n: number, buf: Buffer) => boolean } {
    return {
      buffer: this.readBuffer,
      callback: (n, buf) => {
        get()?.onRead(n, buf === this.readBuffer ? this.readView : new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
        return true;
      },
    };
  }
  private callsDone = 0;
  /** What {@link reportLive} last told the main thread (null: nothing yet). */
  private lastReportedLive: boolean | null = null;
  private shuttingDown = false;

  constructor(init: WorkerInit) {
    this.index = init.index;
    this.pool = new Int32Array(init.poolSab);
    this.events = new EventPublisher(init.eventRing);
    this.out = new SpscRing(init.outRing);
    this.callWords = new Int32Array(init.callSlot, 0, CALL_SLOT_HEADER_BYTES / 4);
    // Runs on an uncaught exception or process.exit() here (not on a heap-limit abort): a main thread
    // blocked waiting on this thread learns of the death now, not when its wait's bound runs out.
    const words = this.callWords;
    process.once('exit', () => {
      Atomics.store(words, CallWord.EXITED, 1);
      Atomics.notify(words, CallWord.STATE);
    });
    this.callBytes = new Uint8Array(init.callSlot, CALL_SLOT_HEADER_BYTES);
    this.stats = new WorkerStats(init.statsSab);
    this.writerWords = new Int32Array(init.writerSab);
    this.supportIpv6 = init.supportIpv6;
    this.pending = new Int32Array(init.pendingSab);
    this.taken = new Int32Array(init.takenSab);
    this.maxQueuedPerConnection = init.maxQueuedPerConnection;
    this.idleTimeoutMs = init.idleTimeoutMs;
    this.spinMs = init.ioSpinUs / 1000;
    this.groups = new ReusePortGroups({
      index: this.index,
      supportIpv6: this.supportIpv6,
      poolSize: () => Atomics.load(this.pool, PoolWord.POOL_SIZE),
      peers: this.peers,
      addRendezvous: (connId, server, listening, ws) => {
        // Its accepted sockets read into this thread's shared buffer, as adopted ones do (not a
        // WebSocket's: `ws` reads with 'data' events).
        if (ws !== undefined) this.wsContext(connId, ws).home = true;
        else
          acceptWithOnread(server, () => {
            const holder: { stream?: TcpStream } = {};
            return { onread: this.onread(() => holder.stream), made: (socket) => this.readHolders.set(socket, holder) };
          });
        const rv = new TcpRendezvous(connId, server, this);
        this.rendezvous.set(connId, rv);
        if (listening) rv.attach();
        this.reportLive(false);
      },
      rendezvousOp: (connId, op) => {
        const rv = this.rendezvous.get(connId);
        if (op === 'attach') rv?.attach();
        else if (op === 'detach') rv?.detach();
        else rv?.close();
      },
    });
    // This thread's lines go to the main thread's sink, at the main thread's level.
    followLogLevel(init.logLevel);
    setLogSink((level, message) => this.events.log(level, message));
    for (const p of init.peers) this.addPeer(p.index, p.port);
    this.drainLoop();
    this.sampleLoop();
    if (this.idleTimeoutMs > 0) this.idleLoop();
  }

  /** A slot in the pending-send table, or -1 when the table is full (no high-water mark then). */
  private allocSlot(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    return this.nextSlot < PENDING_SLOTS ? this.nextSlot++ : -1;
  }

  /** {@link EndpointHost}: re-checks `stream` every {@link QUOTA_RECHECK_MS} until it reads again. */
  waitForQuota(stream: TcpStream): void {
    this.quotaWaiters.add(stream);
    if (this.quotaTimer === null) this.quotaTimer = setTimeout(this.quotaTick, QUOTA_RECHECK_MS).unref();
  }

  private readonly quotaTick = (): void => {
    this.quotaTimer = null;
    const waiting = [...this.quotaWaiters];
    this.quotaWaiters.clear();
    // A stream that stops for its quota again re-registers itself (waitForQuota).
    for (const s of waiting) if (!s.retryQuota()) this.quotaWaiters.add(s);
    if (this.quotaWaiters.size > 0 && this.quotaTimer === null && !this.shuttingDown) this.quotaTimer = setTimeout(this.quotaTick, QUOTA_RECHECK_MS).unref();
  };

  private idleLoop(): void {
    const limit = this.idleTimeoutMs;
    const timer = setInterval(() => {
      const now = performance.now();
      for (const s of [...this.streams.values()]) s.checkIdle(now, limit);
    }, Math.max(20, Math.min(1000, limit / 4)));
    timer.unref();
  }

  // ---- control ----

  handle(msg: ControlMessage): void {
    switch (msg.kind) {
      case 'call':
        void this.run(msg.call).then((r) => (msg.reply === 'slot' ? this.replySync(msg.callId, r) : this.replyMessage(msg.callId, r)));
        return;
      case 'addPeer':
        this.addPeer(msg.index, msg.port);
        return;
      case 'addReader':
        this.readers.set(msg.readerId, new ReaderSlot(msg.readerId, msg.ring, msg.control, msg.config));
        return;
      case 'configReader': {
        const slot = this.readers.get(msg.readerId);
        if (slot === undefined) return;
        slot.config = msg.config;
        for (const s of this.streams.values()) s.reconfigure(slot);
        return;
      }
      case 'removeReader': {
        for (const s of this.streams.values()) s.detach(msg.readerId);
        for (const u of this.udp.values()) u.detach(msg.readerId);
        this.readers.delete(msg.readerId);
        return;
      }
      case 'attach': {
        const slot = this.readers.get(msg.readerId);
        if (slot === undefined) return;
        const stream = this.streams.get(msg.connId);
        const udp = this.udp.get(msg.connId);
        if (stream !== undefined) stream.attach(slot);
        else if (udp !== undefined) udp.attach(slot);
        else if (this.rendezvous.has(msg.connId)) {
          this.rendezvous.get(msg.connId)?.attach();
          this.groups.forward(msg.connId, 'rvAttach');
        }
        return;
      }
      case 'detach':
        this.streams.get(msg.connId)?.detach(msg.readerId);
        this.udp.get(msg.connId)?.detach(msg.readerId);
        if (this.rendezvous.has(msg.connId)) {
          this.rendezvous.get(msg.connId)?.detach();
          this.groups.forward(msg.connId, 'rvDetach');
        }
        return;
      case 'setOption':
        this.setOption(msg.connId, msg.option);
        return;
      case 'crashForTest':
        // Dies at once: no message posted after this one is taken (a call sent next is never answered).
        throw new Error('I/O worker crash injected by a test');
      case 'shutdown':
        this.shutdown(msg.timeoutMs, msg.report);
        return;
      case 'init':
        throw new Error('I/O worker initialised twice');
      default: {
        const never: never = msg;
        throw new Error(`unknown control message ${JSON.stringify(never)}`);
      }
    }
  }

  private addPeer(index: number, port: MessagePort): void {
    this.peers.set(index, port);
    port.on('message', (m: PeerMessage) => (m.kind === 'adopt' ? this.adopt(m) : this.groups.onMessage(index, port, m)));
    port.on('close', () => this.groups.peerClosed(index, port));
    port.unref();
    this.groups.peerAdded(index);
  }

  private replySync(callId: number, result: SyncResult): void {
    const bytes = encoder.encode(JSON.stringify(result));
    const n = Math.min(bytes.length, this.callBytes.length);
    this.callBytes.set(bytes.subarray(0, n));
    Atomics.store(this.callWords, CallWord.LENGTH, n);
    Atomics.store(this.callWords, CallWord.CALL_ID, callId);
    Atomics.store(this.callWords, CallWord.STATE, 1);
    Atomics.notify(this.callWords, CallWord.STATE);
  }

  private replyMessage(callId: number, result: SyncResult): void {
    const notice: WorkerNotice = { kind: 'reply', callId, result };
    parentPort?.postMessage(notice);
  }

  /** Runs one blocking operation; never throws (errors become `{ ok: false }`). */
  async run(call: SyncCall): Promise<SyncResult> {
    try {
      switch (call.op) {
        case 'listen':
          if (this.groups.applies(call.reusePort)) return await this.groups.open(call.connId, call.host, call.port, call.backlog, call.ws);
          return await this.listen(call.connId, call.host, call.port, call.backlog, call.reusePort, call.ws);
        case 'connect':
          return await this.connect(call.connId, call.host, call.port, call.timeoutMs);
        case 'udp':
          return await this.openUdp(call.connId, call.host, call.port, call.broadcast);
        case 'getOption':
          return this.getOption(call.connId, call.name);
        default: {
          const never: never = call;
          throw new Error(`unknown call ${JSON.stringify(never)}`);
        }
      }
    } catch (err) {
      return { ok: false, error: toErrorRecord(err) };
    } finally {
      this.callsDone++;
      this.reportLive(true);
    }
  }

  /** A rendezvous of one socket on this thread; with several threads, accepts are handed off by descriptor. */
  private listen(connId: number, host: string, port: number, backlog: number, reusePortAllowed = false, ws?: WebSocketSettings): Promise<SyncResult> {
    if (Atomics.load(this.pool, PoolWord.POOL_SIZE) >= 2) {
      const why = !reusePortAllowed ? 'NetConfig.reusePort is off' : `Node ${process.versions.node} on ${process.platform} has no reusePort`;
      log('debug', `rendezvous ${connId}: one socket on I/O thread ${this.index}, accepts handed to the pool by descriptor (${why})`);
    }
    const attempt = (bindHost: string): Promise<SyncResult> =>
      new Promise((resolve) => {
        // Half-open sockets: a peer's FIN leaves the write side open until the application has taken
        // the reset, so its replies still go out (TcpStream.onPeerEnd).
        const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
        const onError = (err: NodeJS.ErrnoException): void => {
          server.close();
          resolve({ ok: false, error: toErrorRecord(Object.assign(err, { address: bindHost, port })) });
        };
        server.once('error', onError);
        server.listen({ host: bindHost, port, backlog: Math.max(1, backlog), ipv6Only: false }, () => {
          server.off('error', onError);
          if (ws !== undefined) this.wsContext(connId, ws).home = true;
          this.rendezvous.set(connId, new TcpRendezvous(connId, server, this));
          const a = server.address() as net.AddressInfo;
          resolve({ ok: true, local: wireAddress(a.address, a.family, a.port), peer: wireAddress(undefined, undefined, undefined) });
        });
      });
    if (host !== '') return attempt(host);
    if (!this.supportIpv6) return attempt('0.0.0.0');
    // Panda's port-only rendezvous: dual-stack [::]; fall back to IPv4 where the kernel has no IPv6 (#558).
    return attempt('::').then((r) => (r.ok || r.error.errno !== 'EAFNOSUPPORT' ? r : attempt('0.0.0.0')));
  }

  private connect(connId: number, host: string, port: number, timeoutMs: number): Promise<SyncResult> {
    return new Promise((resolve) => {
      let stream: TcpStream | undefined;
      const socket = net.connect({ host, port, allowHalfOpen: true, onread: this.onread(() => stream) });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ ok: false, error: toErrorRecord(new SocketError(`connect to ${host}:${port} timed out after ${timeoutMs} ms`, { syscall: 'connect', errno: 'ETIMEDOUT', address: host, port })) });
      }, Math.max(0, timeoutMs));
      socket.once('error', (err: Error) => {
        clearTimeout(timer);
        resolve({ ok: false, error: toErrorRecord(err) });
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        const slot = this.allocSlot();
        stream = new TcpStream(connId, socket, this, slot);
        this.streams.set(connId, stream);
        resolve({
          ok: true,
          local: wireAddress(socket.localAddress, socket.localFamily, socket.localPort),
          peer: wireAddress(socket.remoteAddress, socket.remoteFamily, socket.remotePort),
          slot,
        });
      });
    });
  }

  private openUdp(connId: number, host: string, port: number, broadcast: boolean): Promise<SyncResult> {
    const attempt = (type: 'udp4' | 'udp6', bindHost: string): Promise<SyncResult> =>
      new Promise((resolve) => {
        const socket = dgram.createSocket({ type, ipv6Only: false });
        const onError = (err: NodeJS.ErrnoException): void => {
          socket.close();
          resolve({ ok: false, error: toErrorRecord(Object.assign(err, { address: bindHost, port })) });
        };
        socket.once('error', onError);
        socket.bind({ port, address: bindHost, exclusive: true }, () => {
          socket.off('error', onError);
          if (broadcast) socket.setBroadcast(true);
          const dualStack = type === 'udp6'; // ipv6Only is off: IPv4 destinations go out IPv4-mapped
          this.udp.set(connId, new UdpEndpoint(connId, socket, dualStack, this));
          const a = socket.address();
          resolve({ ok: true, local: wireAddress(a.address, a.family, a.port), peer: wireAddress(undefined, undefined, undefined) });
        });
      });
    if (host !== '') return attempt(net.isIPv6(host) ? 'udp6' : 'udp4', host);
    if (!this.supportIpv6) return attempt('udp4', '0.0.0.0');
    return attempt('udp6', '::').then((r) => (r.ok || r.error.errno !== 'EAFNOSUPPORT' ? r : attempt('udp4', '0.0.0.0')));
  }

  /** The descriptor of any endpoint, and whether it is an IPv6 socket. */
  private descriptor(connId: number): { fd: number; ipv6: boolean } | null {
    const stream = this.streams.get(connId);
    if (stream !== undefined) return { fd: socketFd(stream.socket), ipv6: stream.socket.localFamily === 'IPv6' };
    const udp = this.udp.get(connId);
    if (udp !== undefined) return { fd: handleFd(udp.socket), ipv6: udp.socket.address().family === 'IPv6' };
    const rv = this.rendezvous.get(connId);
    if (rv !== undefined) return { fd: handleFd(rv.server), ipv6: (rv.server.address() as net.AddressInfo | null)?.family === 'IPv6' };
    return null;
  }

  private setOption(connId: number, option: ConnectionOption): void {
    const stream = this.streams.get(connId);
    const on = (option.values[0] ?? 0) !== 0;
    // Node's own setters where they exist (they keep Node's view of the socket consistent).
    if (stream !== undefined && option.name === 'noDelay') return void stream.socket.setNoDelay(on);
    if (stream !== undefined && option.name === 'keepAlive') return void stream.socket.setKeepAlive(on);
    const d = this.descriptor(connId);
    if (d !== null) setSocketOption(d.fd, d.ipv6, option.name, option.values);
  }

  private getOption(connId: number, name: SocketOptionName): SyncResult {
    const d = this.descriptor(connId);
    const none = wireAddress(undefined, undefined, undefined);
    return { ok: true, local: none, peer: none, value: d === null ? null : getSocketOption(d.fd, d.ipv6, name) };
  }

  // ---- accepts ----

  /** {@link EndpointHost}: place an accepted socket on a thread of the pool. */
  accepted(rv: TcpRendezvous, socket: net.Socket): void {
    const connId = Atomics.add(this.pool, PoolWord.NEXT_CONN_ID, 1);
    const peer = wireAddress(socket.remoteAddress, socket.remoteFamily, socket.remotePort);
    const local = wireAddress(socket.localAddress, socket.localFamily, socket.localPort);
    this.stats.add(StatWord.ACCEPTS, 1);
    const ws = this.wsContexts.get(rv.id);
    // A reusePort group: the kernel already chose this thread; it serves what it accepts.
    if (this.groups.owns(rv.id)) {
      if (ws !== undefined) return this.handshake(connId, rv.id, socket, peer, local, ws);
      const stream = this.register(connId, socket, rv.id, peer, local);
      const holder = this.readHolders.get(socket);
      if (holder !== undefined) holder.stream = stream;
      return;
    }
    const size = Math.max(1, Atomics.load(this.pool, PoolWord.POOL_SIZE));
    const target = Atomics.add(this.pool, PoolWord.NEXT_TARGET, 1) % size;
    const port = target === this.index ? undefined : this.peers.get(target);
    // A WebSocket client served here keeps its socket as it is (`ws` reads with 'data' events, not `onread`).
    if (ws !== undefined && port === undefined) return this.handshake(connId, rv.id, socket, peer, local, ws);
    // Hand the socket over by descriptor — to the target thread, or to this one (which re-adopts it
    // so it can read with `onread`, which an accepted socket cannot). Without dup(), keep it as is.
    const fd = canTransferFds() ? socketFd(socket) : -1;
    const copy = fd >= 0 ? dupFd(fd) : -1;
    if (copy >= 0) {
      const msg: AdoptMessage = { kind: 'adopt', connId, fd: copy, rendezvousId: rv.id, peer, local };
      if (ws !== undefined) msg.ws = ws.settings;
      if (port !== undefined) port.postMessage(msg);
      else this.adopt(msg);
      socket.destroy();
      return;
    }
    if (ws !== undefined) return this.handshake(connId, rv.id, socket, peer, local, ws);
    this.register(connId, socket, rv.id, peer, local);
  }

  /** This thread's context of WebSocket rendezvous `rvId` (made from `settings` on first use). */
  private wsContext(rvId: number, settings: WebSocketSettings): WebSocketContext {
    let ctx = this.wsContexts.get(rvId);
    if (ctx === undefined) {
      ctx = new WebSocketContext(settings, {
        handshakeFailed: () => {
          this.stats.add(StatWord.WS_HANDSHAKE_FAILURES, 1);
          this.reportLive(false);
        },
        idle: (idle) => {
          if (!idle.home && this.wsContexts.get(rvId) === idle) this.wsContexts.delete(rvId);
        },
      });
      this.wsContexts.set(rvId, ctx);
    }
    return ctx;
  }

  /**
   * Runs the WebSocket handshake of an accepted socket; once it completed, serves the client as a
   * stream and publishes the accept (a failed handshake never reaches the main thread).
   */
  private handshake(connId: number, rendezvousId: number, socket: net.Socket, peer: WireAddress, local: WireAddress, ctx: WebSocketContext): void {
    ctx.handshake(socket, (ws, wsSocket) => {
      const slot = this.allocSlot();
      const stream = new WebSocketStream(connId, ws, wsSocket, this, slot, ctx);
      ctx.addStream(stream);
      this.streams.set(connId, stream);
      const ev: AcceptedEvent = { rendezvousId, websocket: true, slot, peer, local };
      this.events.publish(connId, EventKind.ACCEPTED, ev);
      this.reportLive(false);
    });
    this.reportLive(false);
  }

  private adopt(m: AdoptMessage): void {
    if (m.ws !== undefined) {
      const raw = new net.Socket({ fd: m.fd, readable: true, writable: true, allowHalfOpen: true, pauseOnCreate: true } as net.SocketConstructorOpts);
      this.handshake(m.connId, m.rendezvousId, raw, m.peer, m.local, this.wsContext(m.rendezvousId, m.ws));
      return;
    }
    let stream: TcpStream | undefined;
    const opts = { fd: m.fd, readable: true, writable: true, allowHalfOpen: true, pauseOnCreate: true, onread: this.onread(() => stream) };
    const socket = new net.Socket(opts as net.SocketConstructorOpts);
    stream = this.register(m.connId, socket, m.rendezvousId, m.peer, m.local);
  }

  private register(connId: number, socket: net.Socket, rendezvousId: number, peer: ReturnType<typeof wireAddress>, local: ReturnType<typeof wireAddress>): TcpStream {
    const slot = this.allocSlot();
    const stream = new TcpStream(connId, socket, this, slot);
    this.streams.set(connId, stream);
    const ev: AcceptedEvent = { rendezvousId, slot, peer, local };
    this.events.publish(connId, EventKind.ACCEPTED, ev);
    this.reportLive(false);
    return stream;
  }

  /** {@link EndpointHost}: forget an endpoint. */
  release(id: number): void {
    const stream = this.streams.get(id);
    if (stream !== undefined && stream.slot >= 0) this.freeSlots.push(stream.slot);
    this.streams.delete(id);
    if (this.rendezvous.delete(id)) {
      const ctx = this.wsContexts.get(id);
      if (ctx !== undefined) {
        // The rendezvous closed: its clients live on (as TCP ones do); handshakes under way end.
        ctx.home = false;
        ctx.destroyHandshakes();
        if (ctx.handshakes === 0) this.wsContexts.delete(id);
      }
    }
    this.udp.delete(id);
    this.reportLive(false);
  }

  // ---- outbound ring ----

  /** Takes every record left in the outbound ring now and writes what they queued (set by {@link drainLoop}). */
  private drainRest: () => void = () => {};

  private drainLoop(): void {
    const onRecord = (id: number, meta: number, data: Uint8Array, offset: number, length: number): void => {
      const slot = outMetaWriter(meta);
      const op = outMetaOp(meta);
      if (op === OutOp.SEND_TCP_BATCH) {
        const count = readBatchCount(data, offset);
        if (slot !== 0) Atomics.sub(this.writerWords, slot, count);
        const s = this.streams.get(id);
        if (s !== undefined && s.queueFramed(data, offset + BATCH_COUNT_BYTES, length - BATCH_COUNT_BYTES, count, outMetaHeader(meta)) /* 0 in raw mode: the writer frames with header 0 */) this.dirty.add(s);
        return;
      }
      if (slot !== 0) Atomics.sub(this.writerWords, slot, 1);
      if (op === OutOp.SEND_TCP) {
        const s = this.streams.get(id);
        if (s !== undefined && s.queueSend(data, offset, length)) this.dirty.add(s); // pre-framed (collect-tcp)
      } else if (op === OutOp.SEND_UDP) {
        const u = this.udp.get(id);
        if (u !== undefined) {
          const a = readAddressRecord(data, offset);
          u.send(data.subarray(a.next, offset + length), a.ip, a.port);
        }
      } else if (op === OutOp.CLOSE) {
        const s = this.streams.get(id);
        if (s !== undefined) {
          this.dirty.delete(s);
          s.closeLocal();
        } else {
          (this.udp.get(id) ?? this.rendezvous.get(id))?.close();
          this.groups.forward(id, 'rvClose');
        }
      }
    };
    /** Takes up to `budget` records, then writes what they queued (one write per stream). */
    const drainOut = (budget: number): number => {
      const n = this.out.drain(budget, onRecord);
      for (const s of this.dirty) s.flushOutput();
      this.dirty.clear();
      return n;
    };
    this.drainRest = () => {
      while (drainOut(DRAIN_BUDGET) === DRAIN_BUDGET);
    };
    // With spinMs, keep turning (setImmediate lets the sockets' I/O run in between) until nothing
    // has come for spinMs, then sleep: a send made meanwhile needs no wake-up.
    let lastActive = 0;
    const spinMs = this.spinMs;
    const step = (): void => {
      if (this.shuttingDown) return; // shutdown() took the rest of the ring itself
      const n = drainOut(DRAIN_BUDGET);
      let again = n === DRAIN_BUDGET;
      if (!again && spinMs > 0) {
        const now = performance.now();
        if (n > 0) lastActive = now;
        again = now - lastActive < spinMs;
      }
      if (again) setImmediate(step);
      else {
        this.stats.add(StatWord.OUTBOUND_SLEEPS, 1);
        void this.out.waitForDataAsync(IDLE_WAIT_MS).then(() => {
          this.stats.words[StatWord.OUTBOUND_MISSED_WAKES] = this.out.missedWakes;
          step();
        });
      }
    };
    step();
  }

  // ---- liveness and stats ----

  private handleCount(): number {
    let handshakes = 0;
    for (const ctx of this.wsContexts.values()) handshakes += ctx.handshakes;
    return this.streams.size + this.rendezvous.size + this.udp.size + handshakes;
  }

  /**
   * Tells the main thread whether this worker owns any handle, which is all its ref/unref decision
   * needs: only when that changes, or after a call (a count would cost both threads a message per
   * accept and per close).
   */
  private reportLive(force: boolean): void {
    const live = this.handleCount() > 0;
    if (!force && live === this.lastReportedLive) return;
    this.lastReportedLive = live;
    const notice: WorkerNotice = { kind: 'live', live, callsDone: this.callsDone };
    parentPort?.postMessage(notice);
  }

  private sampleLoop(): void {
    let last = performance.eventLoopUtilization();
    const timer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      const d = performance.eventLoopUtilization(now, last);
      last = now;
      this.stats.add(StatWord.ELU_IDLE_MS, d.idle);
      this.stats.add(StatWord.ELU_ACTIVE_MS, d.active);
    }, 250);
    timer.unref();
  }

  /**
   * Flushes and stops (the main thread's `shutdown`). The main thread published every send and the
   * CLOSE of each of its connections before it posted the message, but this message can come before
   * the drain loop took them: take them all now, in order. Then end every stream (FIN after its last
   * byte) and wait, at most `timeoutMs`, until each has handed everything to the kernel; cut what is
   * left at the bound. Reports on `reportSab` ({@link ShutdownWord}); the main thread then terminates
   * this thread.
   */
  private shutdown(timeoutMs: number, reportSab: SharedArrayBuffer): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const words = new Int32Array(reportSab, 0, 2);
    const unsent = new Float64Array(reportSab, SHUTDOWN_UNSENT_OFFSET, 1);
    let cut = 0;
    let bytes = 0;
    let reported = false;
    const report = (state: number): void => {
      if (reported) return;
      reported = true;
      unsent[0] = bytes;
      Atomics.store(words, ShutdownWord.CUT, cut);
      Atomics.store(words, ShutdownWord.STATE, state);
      Atomics.notify(words, ShutdownWord.STATE);
    };
    // A thread that dies meanwhile must not leave the main thread waiting for the bound.
    process.once('exit', () => report(ShutdownState.EXITED));
    this.drainRest();
    // What the main thread did not close (a socket it has not heard of yet) is closed the same way.
    for (const s of [...this.streams.values()]) s.closeLocal();
    for (const r of [...this.rendezvous.values()]) r.close();
    for (const ctx of this.wsContexts.values()) ctx.destroyHandshakes();
    this.groups.clear();
    for (const u of [...this.udp.values()]) u.close();
    // Each stream still writing: bytes not yet in the kernel, as last seen.
    const flushing = new Map<net.Socket, number>();
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (reported) return;
      clearTimeout(timer);
      report(ShutdownState.DONE);
      for (const p of this.peers.values()) p.close();
      parentPort?.close();
    };
    const settle = (socket: net.Socket): void => {
      const left = flushing.get(socket);
      if (left === undefined) return;
      flushing.delete(socket);
      if (!socket.writableFinished) {
        // Closed before its FIN went out (the peer reset it): what was still waiting is lost.
        cut++;
        bytes += left;
      }
      if (flushing.size === 0) finish();
    };
    for (const s of this.streams.values()) {
      const socket = s.socket;
      if (socket.writableFinished || socket.destroyed) continue;
      flushing.set(socket, notInKernel(socket));
      socket.once('finish', () => settle(socket)); // everything in the kernel, FIN sent
      socket.once('close', () => settle(socket));
    }
    if (flushing.size === 0) return finish();
    timer = setTimeout(() => {
      // The bound: a peer that does not read keeps the rest.
      for (const socket of [...flushing.keys()]) {
        flushing.set(socket, notInKernel(socket));
        if (!socket.writableFinished) socket.destroy();
        settle(socket);
      }
      finish();
    }, timeoutMs);
  }
}

let worker: IoWorker | null = null;
parentPort?.on('message', (msg: ControlMessage) => {
  if (msg.kind === 'init') {
    worker = new IoWorker(msg);
    return;
  }
  if (worker === null) throw new Error(`I/O worker got ${msg.kind} before init`);
  worker.handle(msg);
});
