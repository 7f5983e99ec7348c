/**
 * WebSocket clients on an I/O thread: the handshake of an accepted socket and the stream that serves
 * it once it is a WebSocket. The framing is the `ws` library's, run here, where the socket lives; the
 * main thread sees the same rings and records as for TCP: one binary message is one datagram record.
 *
 * - {@link WebSocketContext}: one per WebSocket rendezvous on each thread that serves its clients. An
 *   accepted socket (this thread's own accept, or one handed over by descriptor) goes into a
 *   non-listening `http.Server` (wrapped in TLS first for wss); its `upgrade` is checked (path,
 *   origin) and completed by `ws` (`noServer`), and only then does the stream exist and the accept
 *   reach the main thread. A handshake that fails is answered with an HTTP error and destroyed.
 *   It also pings its streams every `pingIntervalMs`.
 * - {@link WebSocketStream}: a {@link TcpStream} whose framing is WebSocket messages: the delivery into
 *   the reader rings (backlog, ring-full and quota back-pressure with `ws.pause()` / `resume()`,
 *   resets after the data) and the pending-send tally are TcpStream's own.
 *
 * Thread: I/O workers only.
 * @module
 */
import http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import { WebSocket, WebSocketServer, type RawData, type ServerOptions } from 'ws';
import { log } from '../log.js';
import { StatWord, type WebSocketSettings } from '../protocol/control.js';
import { TcpStream, type EndpointHost } from './tcp-endpoints.js';

/** How long a closing handshake may take before the socket is destroyed, ms (`ws`'s `closeTimeout`). */
const CLOSE_TIMEOUT_MS = 5000;
/** Below 4 KiB, Buffer.allocUnsafe takes from Node's pool. */
const INITIAL_OUT = 2048;
/** Bytes of the length header the main thread frames each WebSocket datagram with (little-endian). */
const ITEM_HEADER = 4;
const BINARY = { binary: true } as const;

/** Bytes of a server frame's header for a payload of `len` bytes (RFC 6455 §5.2). */
function frameHeaderBytes(len: number): number {
  return len < 126 ? 2 : len < 0x10000 ? 4 : 10;
}

/** Answers a handshake that will not become a WebSocket with `status`, then destroys the socket. */
function refuse(socket: net.Socket, status: number, why: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${why}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** What a stream reports to its context. */
interface StreamOwner {
  readonly settings: WebSocketSettings;
  removeStream(stream: WebSocketStream): void;
}

/** A WebSocket client after its handshake: one binary message is one datagram. */
export class WebSocketStream extends TcpStream {
  private readonly ws: WebSocket;
  private readonly owner: StreamOwner;
  /** Reading is stopped (no reader yet, back-pressure, detach): a missing pong is not the peer's fault. */
  private inputPaused = true;
  /** A ping went out and its pong has not come back. */
  private awaitingPong = false;
  /** Failed or closing: what still arrives is discarded. */
  private done = false;

  constructor(id: number, ws: WebSocket, socket: net.Socket, host: EndpointHost, slot: number, owner: StreamOwner) {
    super(id, socket, host, slot, false);
    this.ws = ws;
    this.owner = owner;
    ws.pause(); // until a reader attaches (Panda reads nothing from an unmonitored connection)
    ws.on('message', this.onMessage);
    ws.on('pong', () => {
      this.awaitingPong = false;
      this.lastRx = performance.now();
    });
    // A protocol violation: `ws` has already started the close with its status (1002, 1007, 1009).
    ws.on('error', (err: Error & { code?: string }) => this.fail({ reason: `WebSocket protocol error${err.code === undefined ? '' : ` ${err.code}`}: ${err.message}` }));
    ws.on('close', (code: number, reason: Buffer) => this.closed(`WebSocket closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`));
  }

  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    if (this.done || this.state !== 'open') return;
    if (!isBinary) {
      this.ws.close(1003, 'binary messages only');
      this.fail({ reason: 'text message (closed with 1003: binary messages only)' });
      return;
    }
    const b = data as Buffer; // binaryType 'nodebuffer': one Buffer, fragments joined
    this.lastRx = performance.now();
    this.host.stats.add(StatWord.TCP_READS, 1);
    this.deliver(new Uint8Array(b.buffer, b.byteOffset, b.length), 0, b.length);
    this.reader?.ringBell();
  };

  protected override pauseInput(): void {
    this.inputPaused = true;
    this.ws.pause();
  }

  protected override resumeInput(): void {
    this.inputPaused = false;
    this.awaitingPong = false; // a ping sent while paused may have its pong still in the kernel
    this.ws.resume();
  }

  /** What `ws` and the socket still hold (the main thread's figure counts 4 header bytes per datagram: close enough). */
  protected override unsentBytes(): number {
    return this.ws.bufferedAmount;
  }

  /** A failure: say so with a close frame if nobody did yet, and read on until the peer's close (discarding). */
  protected override abortSocket(): void {
    this.done = true;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1011, 'connection reset');
    this.ws.resume();
  }

  /**
   * Sends every whole datagram of this drain's batch as one binary message each: framed here into one
   * buffer and one `write` ({@link writeFrames}), or, with permessage-deflate, through `ws.send` under
   * one socket cork. A datagram split over two records (a collect-tcp flush cut at the ring's record
   * size) waits for its rest.
   */
  override flushOutput(): void {
    if (this.outLen === 0 || (this.state !== 'open' && this.state !== 'ended')) return;
    const ws = this.ws;
    const buf = this.out;
    const end = this.outLen;
    if (ws.readyState !== WebSocket.OPEN) {
      this.outLen = 0; // closing: nothing more goes out
      return;
    }
    let at = 0;
    if (this.owner.settings.perMessageDeflate) {
      // Compressed messages go through `ws` (it owns the deflate stream and its order).
      let last = -1;
      this.socket.cork();
      while (end - at >= ITEM_HEADER) {
        const len = buf.readUInt32LE(at);
        if (end - at - ITEM_HEADER < len) break;
        if (last >= 0) ws.send(buf.subarray(last + ITEM_HEADER, at), BINARY);
        last = at;
        at += ITEM_HEADER + len;
      }
      if (last >= 0) ws.send(buf.subarray(last + ITEM_HEADER, at), BINARY, this.onWritten);
      this.socket.uncork();
    } else {
      at = this.writeFrames(buf, end);
      if (at === 0) return;
    }
    this.written = (this.written + at) | 0;
    this.host.stats.add(StatWord.TCP_WRITES, 1);
    const rest = end - at;
    // permessage-deflate (and the socket behind it) may still hold views of this buffer: start a fresh
    // one. The frames of the other path were written from a buffer of their own.
    if (this.owner.settings.perMessageDeflate) {
      const next = Buffer.allocUnsafe(Math.max(INITIAL_OUT, rest * 2));
      buf.copy(next, 0, at, end);
      this.out = next;
    } else if (rest > 0) buf.copyWithin(0, at, end);
    this.outLen = rest;
    this.publishPending();
  }

  /**
   * Writes every whole datagram of `buf[0, end)` as an unmasked binary frame (RFC 6455 §5.2; a server
   * never masks), all of them in one buffer and one `write` — what `ws.send` would put on the wire,
   * without its cost per message (with permessage-deflate off, `ws` keeps no state about data frames;
   * its own pings and close frames go through the same socket, in order). Returns the bytes of `buf`
   * consumed (0: no whole datagram yet).
   */
  private writeFrames(buf: Buffer, end: number): number {
    let at = 0;
    let size = 0;
    while (end - at >= ITEM_HEADER) {
      const len = buf.readUInt32LE(at);
      if (end - at - ITEM_HEADER < len) break;
      size += frameHeaderBytes(len) + len;
      at += ITEM_HEADER + len;
    }
    if (at === 0) return 0;
    const frames = Buffer.allocUnsafe(size); // the socket keeps it until written: never reused
    let to = 0;
    for (let from = 0; from < at; ) {
      const len = buf.readUInt32LE(from);
      frames[to] = 0x82; // FIN, opcode 2 (binary)
      if (len < 126) {
        frames[to + 1] = len;
        to += 2;
      } else if (len < 0x10000) {
        frames[to + 1] = 126;
        frames.writeUInt16BE(len, to + 2);
        to += 4;
      } else {
        frames[to + 1] = 127;
        frames.writeUInt32BE(0, to + 2);
        frames.writeUInt32BE(len, to + 6);
        to += 10;
      }
      buf.copy(frames, to, from + ITEM_HEADER, from + ITEM_HEADER + len);
      to += len;
      from += ITEM_HEADER + len;
    }
    this.socket.write(frames, this.onWritten);
    return at;
  }

  /** The application closed the connection: flush, then a normal close (1000), bounded by `ws`'s close timeout. */
  override closeLocal(): void {
    if (this.state !== 'open' && this.state !== 'ended') return;
    this.flushOutput();
    this.state = 'closing';
    this.dropReader();
    this.done = true;
    this.ws.close(1000);
    this.ws.resume(); // read (and discard) until the peer's close frame
    if (this.ws.readyState === WebSocket.CLOSED) this.gone();
  }

  /**
   * The keep-alive, every `pingIntervalMs`: a peer that has not answered the previous ping is reset.
   * Not while this side stopped reading (its pong would wait unread in the kernel).
   */
  heartbeat(): void {
    if (this.done || this.state !== 'open' || this.inputPaused) return;
    if (this.awaitingPong) {
      this.done = true;
      this.ws.terminate();
      this.fail({ reason: `no pong within ${this.owner.settings.pingIntervalMs} ms` });
      return;
    }
    this.awaitingPong = true;
    this.ws.ping();
  }

  protected override gone(): void {
    if (this.state === 'gone') return;
    super.gone();
    this.owner.removeStream(this);
  }
}

/** What a {@link WebSocketContext} tells its thread. */
export interface WebSocketContextHooks {
  /** A socket's handshake failed (it is gone): the thread's count of live handles changed. */
  handshakeFailed(): void;
  /** The context serves nothing any more (no stream, no handshake). */
  idle(ctx: WebSocketContext): void;
}

/** A handshake under way. */
interface Pending {
  open: (ws: WebSocket, socket: net.Socket) => void;
  timer: NodeJS.Timeout;
}

/**
 * One WebSocket rendezvous on one I/O thread: runs the handshakes of the sockets this thread serves,
 * and pings its streams. `home`: the rendezvous's listening socket is on this thread.
 */
export class WebSocketContext implements StreamOwner {
  readonly settings: WebSocketSettings;
  /** The rendezvous listens on this thread (the context lives as long as it does). */
  home = false;
  private readonly server = http.createServer();
  private readonly wss: WebSocketServer;
  private readonly secure: tls.SecureContext | null;
  private readonly pending = new Map<net.Socket, Pending>();
  private readonly streams = new Set<WebSocketStream>();
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly hooks: WebSocketContextHooks;

  constructor(settings: WebSocketSettings, hooks: WebSocketContextHooks) {
    this.settings = settings;
    this.hooks = hooks;
    this.secure = settings.tls === null ? null : tls.createSecureContext({ cert: settings.tls.cert, key: settings.tls.key });
    // `closeTimeout` is ws ≥ 8.19's (not yet in @types/ws).
    const options: ServerOptions & { closeTimeout: number } = { noServer: true, clientTracking: false, maxPayload: settings.maxPayload, perMessageDeflate: settings.perMessageDeflate, closeTimeout: CLOSE_TIMEOUT_MS };
    this.wss = new WebSocketServer(options);
    this.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(426, { Connection: 'close', Upgrade: 'websocket', 'Content-Type': 'text/plain' });
      res.end('this port serves WebSocket clients only\n');
    });
    this.server.on('clientError', (_err: Error, socket: net.Socket) => refuse(socket, 400, 'bad request'));
  }

  /** Handshakes under way. */
  get handshakes(): number {
    return this.pending.size;
  }

  /**
   * Runs the handshake of an accepted socket (paused); `open` gets the WebSocket once it completed.
   * A socket that fails it (bad request, wrong path or origin, TLS failure, too slow) is destroyed.
   */
  handshake(raw: net.Socket, open: (ws: WebSocket, socket: net.Socket) => void): void {
    const socket: net.Socket = this.secure === null ? raw : new tls.TLSSocket(raw, { isServer: true, secureContext: this.secure });
    const timer = setTimeout(() => socket.destroy(), this.settings.handshakeTimeoutMs);
    this.pending.set(socket, { open, timer });
    const onError = (): void => void socket.destroy();
    raw.on('error', onError);
    if (socket !== raw) socket.on('error', onError);
    socket.once('close', () => {
      raw.destroy();
      if (this.pending.delete(socket)) {
        clearTimeout(timer);
        this.hooks.handshakeFailed();
        this.checkIdle();
      }
    });
    if (socket === raw) this.server.emit('connection', raw);
    else socket.once('secure', () => this.server.emit('connection', socket));
    raw.resume();
  }

  private upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const p = this.pending.get(socket);
    if (p === undefined) return void socket.destroy();
    const { path, origins } = this.settings;
    if (path !== null && new URL(req.url ?? '/', 'http://x').pathname !== path) return refuse(socket, 400, 'wrong path');
    const origin = req.headers.origin;
    if (origins !== null && (origin === undefined || !origins.includes(origin))) {
      log('debug', `WebSocket handshake refused: origin ${origin ?? '(none)'} not allowed`);
      return refuse(socket, 403, 'origin not allowed');
    }
    // ws answers a bad handshake (key, version, extensions) with 400 and destroys the socket itself.
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      clearTimeout(p.timer);
      this.pending.delete(socket);
      p.open(ws, socket);
    });
  }

  /** Serves `stream` (pinged from now on). */
  addStream(stream: WebSocketStream): void {
    this.streams.add(stream);
    if (this.pingTimer === null && this.settings.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => {
        for (const s of this.streams) s.heartbeat();
      }, this.settings.pingIntervalMs);
      this.pingTimer.unref();
    }
  }

  /** {@link StreamOwner}: `stream` is gone. */
  removeStream(stream: WebSocketStream): void {
    if (!this.streams.delete(stream)) return;
    this.checkIdle();
  }

  /** Destroys the sockets still in their handshake (thread shutdown, or the rendezvous closed). */
  destroyHandshakes(): void {
    for (const socket of [...this.pending.keys()]) socket.destroy();
  }

  private checkIdle(): void {
    if (this.streams.size > 0) return;
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (this.pending.size === 0) this.hooks.idle(this);
  }
}
