/**
 * Panda's `Connection`: one socket (a connected TCP stream or a TCP rendezvous) for its whole life.
 * The object an open call returns, the one a listener reports, the one on every received datagram
 * and the one in the reset queue are the same object (`===`).
 *
 * Thread: main thread only. The socket itself lives on an I/O worker.
 * @module
 */
import { ErrorCode, PandaNetError, ValueRangeError } from '../errors.js';
import type { SocketOptionName } from '../protocol/control.js';
import { considerFlush, flushCollected, type CollectState } from './collect-tcp.js';
import type { IoThread } from './io-thread.js';
import type { ConnectionManager } from './connection-manager.js';
import { NetAddress } from './net-address.js';
import type { WriteBatching } from './runtime/write-batching.js';

/**
 * What a connection is: a TCP stream, a listening socket (TCP or WebSocket), a UDP socket, or a
 * WebSocket client accepted by a WebSocket rendezvous (`openWebSocketServerRendezvous`).
 */
export type ConnectionKind = 'tcp' | 'rendezvous' | 'udp' | 'websocket';

/** True for the kinds that carry a stream of datagrams to one peer: TCP and WebSocket clients. Thread: any. */
export function isStreamKind(kind: ConnectionKind): boolean {
  return kind === 'tcp' || kind === 'websocket';
}

/** Internal state of a connection (never returned to users). */
export interface ConnectionCore {
  readonly id: number;
  /**
   * Slot in the thread's pending-send and taken tables (TCP streams), or -1. Set to -1 when the
   * connection is retired on the main thread, or when a reset says its socket is gone: its thread
   * frees the slot for another stream then, so the old words are no longer this connection's.
   */
  slot: number;
  /**
   * Framed bytes `send` accepted for this stream (handed to the thread, or held by collect-tcp),
   * cumulative (mod 2^32); counted only once accepted. Main thread only (see `PENDING_SLOTS`).
   */
  framedSent: number;
  /**
   * The thread's pending-table word for this stream as last read on the main thread: the framed
   * bytes the kernel had taken then. The word only grows while the stream lives (it is 0 when the
   * stream gets its slot), so this is a lower bound of it (see {@link atPendingLimit}).
   */
  pendingSeen: number;
  readonly kind: ConnectionKind;
  readonly thread: IoThread;
  readonly manager: ConnectionManager;
  /** The manager's outbound side (sends, closes, collect-tcp flushes, blocking calls). */
  readonly out: WriteBatching;
  readonly peer: NetAddress;
  readonly local: NetAddress;
  open: boolean;
  /** The reader or listener monitoring it (one at a time). */
  reader: { readonly id: number } | null;
  /** The facade, set once. */
  facade: Connection | null;
  /** collect-tcp state (TCP streams). */
  readonly collect: CollectState;
  /** Counted on the main thread as datagrams are taken and sent. */
  readonly stats: ConnectionStats;
  /**
   * Datagrams of this connection a polled reader dropped for its queue cap: with `stats.datagramsIn`,
   * what became of the datagrams its stream delivered (see `ConnectionEnds.reset`, which holds a reset until then).
   */
  droppedIn: number;
}

/** Per-connection counters, counted on the main thread (not in Panda). */
export interface ConnectionStats {
  /** Datagrams taken from a reader (getData / drainData). */
  datagramsIn: number;
  bytesIn: number;
  /** Datagrams handed to a writer. */
  datagramsOut: number;
  bytesOut: number;
}

let coreOfImpl: (c: Connection) => ConnectionCore;

function checkInt(name: string, v: number, max = 0x7fffffff): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new ValueRangeError(`${name} must be an integer 0..${max}, got ${v}`);
  return v;
}

/** A network connection. Thread: main thread only. */
export class Connection {
  readonly #core: ConnectionCore;

  static {
    coreOfImpl = (c: Connection): ConnectionCore => c.#core;
  }

  /** @internal Connections are made by the manager and listeners, never by users. */
  constructor(core: ConnectionCore) {
    this.#core = core;
    core.facade = this;
  }

  /**
   * The peer's address. For a rendezvous there is no peer: an unspecified address (Panda).
   * On a dual-stack server an IPv4 peer shows as `::ffff:a.b.c.d`, as in Panda.
   */
  getAddress(): NetAddress {
    return new NetAddress(this.#core.peer);
  }

  /** The local address and port (not in Panda: lets a port-0 server learn its port). */
  getLocalAddress(): NetAddress {
    return new NetAddress(this.#core.local);
  }

  /** The manager that made this connection. */
  getManager(): ConnectionManager {
    return this.#core.manager;
  }

  /** Which I/O thread serves this connection (not in Panda; for stats and tests). */
  getThreadIndex(): number {
    return this.#core.thread.index;
  }

  /** A number unique to this connection within its process (not in Panda). */
  getId(): number {
    return this.#core.id;
  }

  /** True until the application closes it or it is reset (not in Panda). */
  isOpen(): boolean {
    return this.#core.open;
  }

  /** `TCP_NODELAY` on or off (Nagle stays on by default, as in Panda). TCP streams only. */
  setNoDelay(flag: boolean): void {
    this.#option('setNoDelay', 'noDelay', [flag ? 1 : 0], true);
  }

  /**
   * `SO_LINGER`: with `flag`, `close` waits up to ⌊time⌋ seconds for unsent data; without, linger
   * is off. TCP streams only.
   */
  setLinger(flag: boolean, time: number): void {
    if (!Number.isFinite(time) || time < 0) throw new ValueRangeError(`linger time must be a non-negative number of seconds, got ${time}`);
    this.#option('setLinger', 'linger', [flag ? 1 : 0, Math.floor(time)], true);
  }

  /** `SO_REUSEADDR` (any socket; no effect once bound — listeners and clients already have it). */
  setReuseAddr(flag: boolean): void {
    this.#option('setReuseAddr', 'reuseAddr', [flag ? 1 : 0], false);
  }

  /** `SO_KEEPALIVE` (a no-op in Panda; real here, off by default). TCP streams only. */
  setKeepAlive(flag: boolean): void {
    this.#option('setKeepAlive', 'keepAlive', [flag ? 1 : 0], true);
  }

  /** `SO_RCVBUF`, bytes (the kernel doubles and clamps it). Any socket. */
  setRecvBufferSize(size: number): void {
    this.#option('setRecvBufferSize', 'recvBuffer', [checkInt('size', size)], false);
  }

  /** `SO_SNDBUF`, bytes (the kernel doubles and clamps it). TCP streams only, as in Panda. */
  setSendBufferSize(size: number): void {
    this.#option('setSendBufferSize', 'sendBuffer', [checkInt('size', size)], true);
  }

  /** IP time-to-live / IPv6 hop limit (a no-op in Panda; real here). Any socket. */
  setIpTimeToLive(ttl: number): void {
    this.#option('setIpTimeToLive', 'ttl', [checkInt('ttl', ttl, 255)], false);
  }

  /** IP type of service / IPv6 traffic class (a no-op in Panda; real here). Any socket. */
  setIpTypeOfService(tos: number): void {
    this.#option('setIpTypeOfService', 'tos', [checkInt('tos', tos, 255)], false);
  }

  /** `TCP_MAXSEG` (a no-op in Panda; real here, effective before the connection is established). TCP streams only. */
  setMaxSegment(size: number): void {
    this.#option('setMaxSegment', 'maxSegment', [checkInt('size', size)], true);
  }

  /**
   * Bytes sent on this connection that the kernel has not taken yet (approximate: updated by its I/O
   * thread after each write and when the socket drains); 0 once the connection is closed
   * (`closeConnection`, or its reset taken: what its thread still flushes then is not reported here,
   * `shutdown` reports what it could not send), and once a reset says its socket is gone. Not in
   * Panda. Thread: main thread only.
   */
  getPendingSendBytes(): number {
    return pendingSendBytes(this.#core);
  }

  /** Datagrams and bytes in and out on this connection, counted on the main thread (not in Panda). */
  getStats(): ConnectionStats {
    return { ...this.#core.stats };
  }

  /** collect-tcp on or off (default `collect-tcp`, false). See `considerFlush`. */
  setCollectTcp(flag: boolean): void {
    this.#core.collect.enabled = Boolean(flag);
  }
  /** collect-tcp mode. */
  getCollectTcp(): boolean {
    return this.#core.collect.enabled;
  }
  /** Seconds between writes in collect mode (default `collect-tcp-interval`, 0.2). */
  setCollectTcpInterval(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) throw new ValueRangeError(`interval must be a non-negative number of seconds, got ${seconds}`);
    this.#core.collect.interval = seconds;
  }
  /** Seconds between writes in collect mode. */
  getCollectTcpInterval(): number {
    return this.#core.collect.interval;
  }
  /**
   * Collect mode off: writes anything pending now. On: writes it only if the interval has passed
   * since the last write. True unless the connection is gone, or its I/O thread stayed busy past the
   * bounded wait (what was not handed over then stays held, in order, for the next flush).
   */
  considerFlush(): boolean {
    return considerFlush(this.#core);
  }
  /** Writes anything pending now. True unless the connection is gone (or the thread stayed busy: see {@link considerFlush}). */
  flush(): boolean {
    return flushCollected(this.#core);
  }

  /**
   * Reads a socket option back from the I/O thread (not in Panda; for tests and diagnostics).
   * Blocks briefly. Null where the platform cannot read it or the connection is gone.
   */
  getSocketOption(name: SocketOptionName): number[] | null {
    const c = this.#core;
    if (!c.open || !c.thread.alive) return null;
    const r = c.thread.callSync({ op: 'getOption', connId: c.id, name }, 5000, c.out.wait);
    return r.ok ? (r.value ?? null) : null;
  }

  #option(what: string, name: SocketOptionName, values: number[], streamOnly: boolean): void {
    const c = this.#core;
    if (streamOnly && !isStreamKind(c.kind)) throw new PandaNetError(ErrorCode.WRONG_CONNECTION_KIND, `${what} applies to a TCP stream, not a ${c.kind}`);
    if (c.open) c.thread.post({ kind: 'setOption', connId: c.id, option: { name, values } });
  }

  /** Human-readable form, e.g. `Connection#3(tcp [::ffff:127.0.0.1]:5000)`. */
  toString(): string {
    const c = this.#core;
    return `Connection#${c.id}(${c.kind} ${isStreamKind(c.kind) ? c.peer.describe() : c.local.describe()})`;
  }

  /** True for a UDP connection (not in Panda; handy for routing sends). */
  isUdp(): boolean {
    return this.#core.kind === 'udp';
  }

  /** True for a WebSocket client accepted by a WebSocket rendezvous (not in Panda). Thread: main thread only. */
  isWebSocket(): boolean {
    return this.#core.kind === 'websocket';
  }

  /** What this connection is (not in Panda). Thread: main thread only. */
  getKind(): ConnectionKind {
    return this.#core.kind;
  }
}

/** Framed bytes accepted by `send` that the kernel has not taken yet (0 without a slot). */
export function pendingSendBytes(c: ConnectionCore): number {
  if (c.slot < 0) return 0;
  c.pendingSeen = Atomics.load(c.thread.pending, c.slot);
  return (c.framedSent - c.pendingSeen) | 0;
}

/**
 * True if `c` has at least `max` framed bytes the kernel has not taken ({@link pendingSendBytes}).
 * Reads the shared word only when the bytes counted against the last value read reach `max`: that
 * count is an upper bound, so below it the answer is no without touching the line the thread writes.
 */
export function atPendingLimit(c: ConnectionCore, max: number): boolean {
  if (c.slot < 0 || ((c.framedSent - c.pendingSeen) | 0) < max) return false;
  return pendingSendBytes(c) >= max;
}

/** @internal The state behind a connection. Thread: main thread only. */
export function coreOf(c: Connection): ConnectionCore {
  return coreOfImpl(c);
}
