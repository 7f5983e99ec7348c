/**
 * Panda's `ConnectionManager` and `QueuedConnectionManager`.
 *
 * Open calls are synchronous, as in Panda: the caller gets a {@link Connection} or `null` (reason
 * logged; {@link ConnectionManager.getLastError} has it), and never waits longer than the operation's
 * own bound plus `syncCallSlack`. Each also has an `Async` twin that never blocks the main thread.
 *
 * Thread: main thread only.
 * @module
 */
import os from 'node:os';
import { ErrorCode, InvalidArgumentError, PandaNetError, ValueRangeError } from '../errors.js';
import type { SyncCall, SyncResult } from '../protocol/control.js';
import { BoundedFifo } from './bounded-fifo.js';
import { coreOf, type Connection, type ConnectionKind } from './connection.js';
import type { IoThread } from './io-thread.js';
import { NetAddress } from './net-address.js';
import { PointerToConnection } from './pointer-to-connection.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, Runtime, type ManagerStats, type ShutdownOptions, type ShutdownReport, type ThreadStats } from './runtime.js';
import { InterfaceList, NetInterface } from './interfaces.js';
import { webSocketSettings, type WebSocketServerOptions } from './websocket-options.js';

export type { WebSocketServerOptions } from './websocket-options.js';

let runtimeOfImpl: (m: ConnectionManager) => Runtime;

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ValueRangeError(`port must be an integer 0..65535, got ${port}`);
  return port;
}

function checkFinite(name: string, v: number): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new ValueRangeError(`${name} must be a number, got ${String(v)}`);
  return v;
}

function checkNonNegative(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ValueRangeError(`${name} must be a non-negative number, got ${v}`);
  return v;
}

/** The bound of a shutdown, from its options (checked: a finite number ≥ 0). */
function shutdownTimeout(options: ShutdownOptions | undefined): number {
  if (options === undefined) return DEFAULT_SHUTDOWN_TIMEOUT_MS;
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`shutdown takes an options object ({ timeoutMs }), got ${String(options)}`);
  const t = options.timeoutMs;
  if (t === undefined) return DEFAULT_SHUTDOWN_TIMEOUT_MS;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw new ValueRangeError(`shutdown timeoutMs must be a finite number ≥ 0, got ${String(t)}`);
  return t;
}

/** Host string for a NetAddress (IPv6 literals unbracketed, as node:net wants). */
function hostOf(a: NetAddress): string {
  return a.getIpString();
}

/**
 * Owns connections and the I/O threads that serve them.
 * Thread: main thread only.
 */
export class ConnectionManager {
  readonly #rt: Runtime;
  readonly #interfaces: InterfaceList;
  /** Panda's `ConnectionManager.Interface`. */
  static readonly Interface = NetInterface;

  static {
    runtimeOfImpl = (m: ConnectionManager): Runtime => m.#rt;
  }

  constructor() {
    this.#rt = new Runtime(this);
    this.#interfaces = new InterfaceList(this.#rt.config.supportIpv6);
  }

  /** Rebuilds the interface list (Panda's `scan_interfaces`). */
  scanInterfaces(): void {
    this.#interfaces.scan();
  }
  /** Number of interface entries (one per address); scans first if never scanned. */
  getNumInterfaces(): number {
    return this.#interfaces.getNumInterfaces();
  }
  /** Interface entry `n`; scans first if never scanned. Throws ValueRangeError out of range (Q21). */
  getInterface(n: number): NetInterface {
    return this.#interfaces.getInterface(n);
  }
  /** Every interface entry; scans first if never scanned. */
  getInterfaces(): NetInterface[] {
    return this.#interfaces.getInterfaces();
  }

  /**
   * Opens a TCP listening socket ("rendezvous"). Forms: `(port, backlog)` — all interfaces, dual-stack
   * unless `supportIpv6` is off; `(host, port, backlog)` — `host` "" means the port form;
   * `(address, backlog)` — that exact address. Returns null (reason logged) on failure.
   * Blocks up to `syncCallSlackMs`.
   */
  openTCPServerRendezvous(port: number, backlog: number): Connection | null;
  openTCPServerRendezvous(host: string, port: number, backlog: number): Connection | null;
  openTCPServerRendezvous(address: NetAddress, backlog: number): Connection | null;
  openTCPServerRendezvous(a: number | string | NetAddress, b: number, c?: number): Connection | null {
    const { host, port, backlog } = this.#rendezvousArgs(a, b, c);
    return this.#open('rendezvous', `listen on ${host === '' ? '*' : host}:${port}`, { op: 'listen', connId: 0, host, port, backlog, reusePort: this.#rt.config.reusePort !== false }, this.#rt.config.syncCallSlackMs);
  }

  /** Non-blocking twin of {@link openTCPServerRendezvous}. */
  openTCPServerRendezvousAsync(port: number, backlog: number): Promise<Connection | null>;
  openTCPServerRendezvousAsync(host: string, port: number, backlog: number): Promise<Connection | null>;
  openTCPServerRendezvousAsync(address: NetAddress, backlog: number): Promise<Connection | null>;
  async openTCPServerRendezvousAsync(a: number | string | NetAddress, b: number, c?: number): Promise<Connection | null> {
    const { host, port, backlog } = this.#rendezvousArgs(a, b, c);
    return this.#openAsync('rendezvous', `listen on ${host === '' ? '*' : host}:${port}`, { op: 'listen', connId: 0, host, port, backlog, reusePort: this.#rt.config.reusePort !== false }, this.#rt.config.syncCallSlackMs);
  }

  /**
   * Opens a WebSocket listening socket (not in Panda): browsers (and any WebSocket client) connect to
   * it, and the listener it is added to (`listener.addConnection(rv)`, like a TCP rendezvous) hands
   * out each client, once its handshake completed, as an ordinary {@link Connection} (kind
   * `'websocket'`, {@link Connection.isWebSocket}): `reader.addConnection`, `writer.send`,
   * `closeConnection` and the reset queue work as for TCP. One binary message carries one datagram's
   * payload (no length header); `writer.send` sends one. A text message (close 1003), a message over
   * `maxPayload` (1009), a protocol violation (1002) or a peer that stops answering pings resets that
   * connection; a handshake that fails (HTTP 400, wrong `origins` 403) never reaches the application.
   * The framing runs on the I/O threads (the `ws` library); `tls` serves wss.
   *
   * Forms as {@link openTCPServerRendezvous}, with the options last. `rv.getLocalAddress().getPort()` is
   * the bound port (port 0: a free one). Returns null (reason logged, {@link getLastError}) when it
   * cannot listen. Throws InvalidArgumentError / ValueRangeError for bad options (a `tls` without
   * `key`, a certificate that does not load, a `maxPayload` over the largest datagram a reader takes).
   * Blocks up to `syncCallSlackMs`. Thread: main thread only.
   */
  openWebSocketServerRendezvous(port: number, backlog: number, options?: WebSocketServerOptions): Connection | null;
  openWebSocketServerRendezvous(host: string, port: number, backlog: number, options?: WebSocketServerOptions): Connection | null;
  openWebSocketServerRendezvous(address: NetAddress, backlog: number, options?: WebSocketServerOptions): Connection | null;
  openWebSocketServerRendezvous(a: number | string | NetAddress, b: number, c?: number | WebSocketServerOptions, d?: WebSocketServerOptions): Connection | null {
    const { call, what } = this.#webSocketArgs(a, b, c, d);
    return this.#open('rendezvous', what, call, this.#rt.config.syncCallSlackMs);
  }

  /** Non-blocking twin of {@link openWebSocketServerRendezvous} (bad options reject with the same errors). Thread: main thread only. */
  openWebSocketServerRendezvousAsync(port: number, backlog: number, options?: WebSocketServerOptions): Promise<Connection | null>;
  openWebSocketServerRendezvousAsync(host: string, port: number, backlog: number, options?: WebSocketServerOptions): Promise<Connection | null>;
  openWebSocketServerRendezvousAsync(address: NetAddress, backlog: number, options?: WebSocketServerOptions): Promise<Connection | null>;
  async openWebSocketServerRendezvousAsync(a: number | string | NetAddress, b: number, c?: number | WebSocketServerOptions, d?: WebSocketServerOptions): Promise<Connection | null> {
    const { call, what } = this.#webSocketArgs(a, b, c, d);
    return this.#openAsync('rendezvous', what, call, this.#rt.config.syncCallSlackMs);
  }

  #webSocketArgs(a: number | string | NetAddress, b: number, c: number | WebSocketServerOptions | undefined, d: WebSocketServerOptions | undefined): { call: SyncCall; what: string } {
    const isString = typeof a === 'string';
    if (isString ? typeof c !== 'number' : typeof c === 'number') throw new InvalidArgumentError('openWebSocketServerRendezvous takes (port, backlog, options?), (host, port, backlog, options?) or (NetAddress, backlog, options?)');
    const { host, port, backlog } = this.#rendezvousArgs(a, b, isString ? (c as number) : undefined);
    const cfg = this.#rt.config;
    // The largest datagram a reader takes (QueuedConnectionReader's bound: it must fit the reader ring).
    const ws = webSocketSettings(isString ? d : (c as WebSocketServerOptions | undefined), Math.min(cfg.maxDatagramSize, cfg.ringBytes.reader / 2 - 64));
    const what = `listen for WebSocket clients (${ws.tls === null ? 'ws' : 'wss'}) on ${host === '' ? '*' : host}:${port}`;
    return { call: { op: 'listen', connId: 0, host, port, backlog, reusePort: cfg.reusePort !== false, ws }, what };
  }

  /**
   * Connects to a TCP server, waiting at most `timeoutMs`. Forms: `(address, timeoutMs)` and
   * `(host, port, timeoutMs)`. Returns null (reason logged) on failure, refusal or timeout.
   */
  openTCPClientConnection(address: NetAddress, timeoutMs: number): Connection | null;
  openTCPClientConnection(host: string, port: number, timeoutMs: number): Connection | null;
  openTCPClientConnection(a: NetAddress | string, b: number, c?: number): Connection | null {
    const { host, port, timeoutMs } = this.#clientArgs(a, b, c);
    return this.#open('tcp', `open TCP connection to server ${host}:${port}`, { op: 'connect', connId: 0, host, port, timeoutMs }, timeoutMs + this.#rt.config.syncCallSlackMs);
  }

  /** Non-blocking twin of {@link openTCPClientConnection}. */
  openTCPClientConnectionAsync(address: NetAddress, timeoutMs: number): Promise<Connection | null>;
  openTCPClientConnectionAsync(host: string, port: number, timeoutMs: number): Promise<Connection | null>;
  async openTCPClientConnectionAsync(a: NetAddress | string, b: number, c?: number): Promise<Connection | null> {
    const { host, port, timeoutMs } = this.#clientArgs(a, b, c);
    return this.#openAsync('tcp', `open TCP connection to server ${host}:${port}`, { op: 'connect', connId: 0, host, port, timeoutMs }, timeoutMs + this.#rt.config.syncCallSlackMs);
  }

  /**
   * Opens a UDP socket, bound at once (port 0 gets an ephemeral port that `getLocalAddress()` reports).
   * Forms: `(port = 0, forBroadcast = false)` — all interfaces, dual-stack unless `supportIpv6` is off;
   * `(host, port, forBroadcast = false)` — bound to that address. Replies leave from the same socket.
   * Returns null (reason logged) on failure, including a host that does not resolve (Panda binds
   * 0.0.0.0:0 instead, Q4).
   */
  openUDPConnection(port?: number, forBroadcast?: boolean): Connection | null;
  openUDPConnection(host: string, port: number, forBroadcast?: boolean): Connection | null;
  openUDPConnection(a?: number | string, b?: number | boolean, c?: boolean): Connection | null {
    const call = this.#udpArgs(a, b, c);
    return this.#open('udp', `bind UDP ${call.host === '' ? '*' : call.host}:${call.port}`, call, this.#rt.config.syncCallSlackMs);
  }

  /** Non-blocking twin of {@link openUDPConnection}. */
  openUDPConnectionAsync(port?: number, forBroadcast?: boolean): Promise<Connection | null>;
  openUDPConnectionAsync(host: string, port: number, forBroadcast?: boolean): Promise<Connection | null>;
  async openUDPConnectionAsync(a?: number | string, b?: number | boolean, c?: boolean): Promise<Connection | null> {
    const call = this.#udpArgs(a, b, c);
    return this.#openAsync('udp', `bind UDP ${call.host === '' ? '*' : call.host}:${call.port}`, call, this.#rt.config.syncCallSlackMs);
  }

  #udpArgs(a: number | string | undefined, b: number | boolean | undefined, c: boolean | undefined): SyncCall & { op: 'udp' } {
    if (a === undefined || typeof a === 'number') {
      return { op: 'udp', connId: 0, host: '', port: checkPort(a ?? 0), broadcast: Boolean(b) };
    }
    if (typeof a === 'string' && typeof b === 'number') return { op: 'udp', connId: 0, host: a, port: checkPort(b), broadcast: Boolean(c) };
    throw new InvalidArgumentError('openUDPConnection takes (port?, forBroadcast?) or (host, port, forBroadcast?)');
  }

  /**
   * Closes a connection now (pending sends are flushed first) and removes it from every reader and
   * listener of this manager. True if it was open here; false if already closed, foreign or null.
   * Never reports a reset.
   */
  closeConnection(connection: Connection | null | undefined): boolean {
    if (connection == null) return false;
    const core = coreOf(connection);
    if (core.manager !== this) return false;
    return this.#rt.ends.close(core);
  }

  /**
   * Blocks until a polled reader or listener of this manager has something to poll (true), or
   * `timeout` seconds pass (false; negative waits without limit). With any threaded reader it only
   * checks once, as in Panda.
   */
  waitForReaders(timeout: number): boolean {
    return this.#rt.readers.waitForReaders(checkFinite('timeout', timeout));
  }

  /** Non-blocking twin of {@link waitForReaders}. */
  waitForReadersAsync(timeout: number): Promise<boolean> {
    return this.#rt.readers.waitForReadersAsync(checkFinite('timeout', timeout));
  }

  /** The OS host name ("" if unavailable). */
  getHostName(): string {
    return ConnectionManager.getHostName();
  }

  /** The OS host name ("" if unavailable). */
  static getHostName(): string {
    try {
      return os.hostname();
    } catch {
      return '';
    }
  }

  /** Why the last open call on this manager returned null (not in Panda). */
  getLastError(): PandaNetError | null {
    return this.#rt.lastError;
  }

  /** Per-I/O-thread counters read from shared memory (not in Panda). */
  getThreadStats(): ThreadStats[] {
    return this.#rt.stats();
  }

  /**
   * Everything worth watching (not in Panda): per-thread counters (from shared memory), open
   * connections, resets, and each reader's and writer's queue. Cheap; no thread round trip.
   */
  getStats(): ManagerStats {
    return this.#rt.managerStats();
  }

  /** Number of I/O threads serving this manager (not in Panda). */
  getNumIoThreads(): number {
    return this.#rt.threads.length;
  }

  /**
   * Closes every connection and stops the I/O threads, without losing what was sent: each thread
   * first takes every send still in its outbound ring (and each CLOSE this call issues, after the
   * sends before it), writes it, and ends each TCP stream (FIN after its last byte); the threads
   * are stopped once every accepted byte was handed to the kernel and every stream ended — or once
   * `options.timeoutMs` (default {@link DEFAULT_SHUTDOWN_TIMEOUT_MS}) passes: then the streams still
   * writing (a peer that does not read) are destroyed, and the report says how much was not sent.
   *
   * Blocks the main thread meanwhile, bounded (`timeoutMs`, plus up to a second for a thread that
   * does not answer); the I/O threads run on their own, so they flush while it waits. Use
   * {@link shutdownAsync} to wait without blocking. Sends held by a `cork` are flushed too.
   *
   * Not needed for the process to exit (threads hold the process only while they own sockets, and
   * `closeConnection` flushes too); useful in tests, hot reloads and orderly stops. Idempotent: a
   * later call returns the first call's report. (Not in Panda, where the destructor does this.)
   * Throws ValueRangeError for a `timeoutMs` that is not a finite number ≥ 0, InvalidArgumentError
   * for options that are not an object; nothing is closed then.
   * Thread: main thread only.
   */
  shutdown(options?: ShutdownOptions): ShutdownReport {
    return this.#rt.shutdown(shutdownTimeout(options));
  }

  /**
   * Non-blocking twin of {@link shutdown}: the same flush, bound and report, awaited. Connections are
   * closed and the threads asked to flush before it returns its promise; a {@link shutdown} made
   * while it waits finishes the job and both return the same report. Rejects with the same typed
   * errors for bad options. Thread: main thread only.
   */
  async shutdownAsync(options?: ShutdownOptions): Promise<ShutdownReport> {
    return this.#rt.shutdownAsync(shutdownTimeout(options));
  }

  /** @internal Test hook: crash I/O thread `index` as a fault would. */
  crashIoThreadForTest(index: number): void {
    this.#rt.pool.crashForTest(index);
  }

  #rendezvousArgs(a: number | string | NetAddress, b: number, c: number | undefined): { host: string; port: number; backlog: number } {
    if (typeof a === 'number') return { host: '', port: checkPort(a), backlog: checkNonNegative('backlog', b) };
    if (typeof a === 'string') {
      if (c === undefined) throw new InvalidArgumentError('openTCPServerRendezvous(host, port, backlog) needs a backlog');
      return { host: a, port: checkPort(b), backlog: checkNonNegative('backlog', c) };
    }
    if (a instanceof NetAddress) return { host: hostOf(a), port: a.getPort(), backlog: checkNonNegative('backlog', b) };
    throw new InvalidArgumentError('openTCPServerRendezvous takes (port, backlog), (host, port, backlog) or (NetAddress, backlog)');
  }

  #clientArgs(a: NetAddress | string, b: number, c: number | undefined): { host: string; port: number; timeoutMs: number } {
    if (typeof a === 'string') {
      if (c === undefined) throw new InvalidArgumentError('openTCPClientConnection(host, port, timeoutMs) needs a timeout');
      return { host: a, port: checkPort(b), timeoutMs: checkNonNegative('timeoutMs', c) };
    }
    if (a instanceof NetAddress) return { host: hostOf(a), port: a.getPort(), timeoutMs: checkNonNegative('timeoutMs', b) };
    throw new InvalidArgumentError('openTCPClientConnection takes (NetAddress, timeoutMs) or (host, port, timeoutMs)');
  }

  #prepare(call: SyncCall): { thread: IoThread; call: SyncCall; id: number } {
    const rt = this.#rt;
    const thread = rt.pool.pick();
    const id = rt.pool.allocConnId();
    return { thread, id, call: { ...call, connId: id } };
  }

  #open(kind: ConnectionKind, what: string, call: SyncCall, timeoutMs: number): Connection | null {
    const p = this.#prepare(call);
    const r: SyncResult = this.#rt.callSync(p.thread, p.call, timeoutMs);
    return this.#rt.finishOpen(kind, p.id, p.thread, what, r);
  }

  async #openAsync(kind: ConnectionKind, what: string, call: SyncCall, timeoutMs: number): Promise<Connection | null> {
    const p = this.#prepare(call);
    const r = await p.thread.callAsync(p.call, timeoutMs);
    return this.#rt.finishOpen(kind, p.id, p.thread, what, r);
  }
}

/** @internal The engine of a manager. Thread: main thread only. */
export function runtimeOf(m: ConnectionManager): Runtime {
  return runtimeOfImpl(m);
}

/**
 * A ConnectionManager that queues connections that died (peer close, error, failed send) for the
 * application to collect with {@link getResetConnection}. Each death is reported once, and only after
 * the application has taken (`getData` / `drainData`) the datagrams that connection delivered before
 * dying: no datagram of a connection reaches the application after its reset. Until then the
 * connection stays open; a peer that half-closed (FIN) still gets the replies sent to it, and taking
 * the reset ends the connection after them. An RST or socket error loses what was not yet written.
 * Thread: main thread only.
 */
export class QueuedConnectionManager extends ConnectionManager {
  readonly #resets: BoundedFifo<Connection>;

  constructor() {
    super();
    const rt = runtimeOf(this);
    this.#resets = new BoundedFifo<Connection>(rt.config.netMaxResponseQueue);
    rt.ends.onReset((conn) => {
      if (!this.#resets.includes(conn)) this.#resets.push(conn);
    });
  }

  /** True if a reset connection is waiting (checks the I/O threads' event rings first). */
  resetConnectionAvailable(): boolean {
    runtimeOf(this).events.pump();
    return this.#resets.size > 0;
  }

  /**
   * Pops the oldest reset connection into `out` (Panda form, returns true/false), or returns it
   * (`getResetConnection()` form, null when none).
   */
  getResetConnection(out: PointerToConnection): boolean;
  getResetConnection(): Connection | null;
  getResetConnection(out?: PointerToConnection): boolean | Connection | null {
    runtimeOf(this).events.pump();
    const c = this.#resets.shift() ?? null;
    if (out === undefined) return c;
    if (!(out instanceof PointerToConnection)) throw new PandaNetError(ErrorCode.INVALID_ARGUMENT, 'getResetConnection takes a PointerToConnection');
    if (c === null) return false;
    out.assign(c);
    return true;
  }

  /** Cap on queued resets (default `net-max-response-queue`, 50,000). */
  setMaxQueueSize(size: number): void {
    this.#resets.maxSize = checkNonNegative('size', size);
  }
  /** Cap on queued resets. */
  getMaxQueueSize(): number {
    return this.#resets.maxSize;
  }
  /** Resets waiting. */
  getCurrentQueueSize(): number {
    return this.#resets.size;
  }
  /** Sticky: a reset was dropped because the queue was full. */
  getOverflowFlag(): boolean {
    return this.#resets.overflow;
  }
  /** Clears the overflow flag. */
  resetOverflowFlag(): void {
    this.#resets.overflow = false;
  }
}
