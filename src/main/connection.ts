/**
 * Panda's `Connection`: one socket (a connected TCP stream or a TCP rendezvous) for its whole life.
 * The object an open call returns, the one a listener reports, the one on every received datagram
 * and the one in the reset queue are the same object (`===`).
 *
 * Thread: main thread only. The socket itself lives on an I/O worker.
 * @module
 */
import { ErrorCode, PandaNetError } from '../errors.js';
import type { IoThread } from './io-thread.js';
import type { ConnectionManager } from './connection-manager.js';
import { NetAddress } from './net-address.js';

/** What a connection is. */
export type ConnectionKind = 'tcp' | 'rendezvous' | 'udp';

/** Internal state of a connection (never returned to users). */
export interface ConnectionCore {
  readonly id: number;
  readonly kind: ConnectionKind;
  readonly thread: IoThread;
  readonly manager: ConnectionManager;
  readonly peer: NetAddress;
  readonly local: NetAddress;
  open: boolean;
  /** The reader or listener monitoring it (one at a time). */
  reader: { readonly id: number } | null;
  /** The facade, set once. */
  facade: Connection | null;
}

let coreOfImpl: (c: Connection) => ConnectionCore;

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
    this.requireStream('setNoDelay');
    this.#core.thread.post({ kind: 'setOption', connId: this.#core.id, option: { name: 'noDelay', value: flag } });
  }

  /** `SO_KEEPALIVE` on or off (a no-op in Panda; real here; off by default). TCP streams only. */
  setKeepAlive(flag: boolean): void {
    this.requireStream('setKeepAlive');
    this.#core.thread.post({ kind: 'setOption', connId: this.#core.id, option: { name: 'keepAlive', value: flag } });
  }

  private requireStream(what: string): void {
    if (this.#core.kind !== 'tcp') throw new PandaNetError(ErrorCode.WRONG_CONNECTION_KIND, `${what} applies to a TCP stream, not a ${this.#core.kind}`);
  }

  /** Human-readable form, e.g. `Connection#3(tcp [::ffff:127.0.0.1]:5000)`. */
  toString(): string {
    const c = this.#core;
    return `Connection#${c.id}(${c.kind} ${c.kind === 'tcp' ? c.peer.toString() : c.local.toString()})`;
  }

  /** True for a UDP connection (not in Panda; handy for routing sends). */
  isUdp(): boolean {
    return this.#core.kind === 'udp';
  }
}

/** @internal The state behind a connection. Thread: main thread only. */
export function coreOf(c: Connection): ConnectionCore {
  return coreOfImpl(c);
}
