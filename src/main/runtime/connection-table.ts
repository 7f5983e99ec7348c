/**
 * The connections of one manager, by id: the open ones, and a bounded cache of recently closed ones
 * so that datagrams still in a ring name their connection. Makes the main-thread object of each new
 * connection.
 *
 * Thread: main thread only.
 * @module
 */
import type { NetConfig } from '../../config.js';
import { newCollectState } from '../collect-tcp.js';
import { Connection, type ConnectionCore, type ConnectionKind } from '../connection.js';
import type { ConnectionManager } from '../connection-manager.js';
import type { IoThread } from '../io-thread.js';
import type { NetAddress } from '../net-address.js';
import type { WriteBatching } from './write-batching.js';

/** Closed connections remembered for late datagrams. */
const RECENT_MAX = 4096;

/** Open and recently closed connections of one manager. Thread: main thread only. */
export class ConnectionTable {
  readonly #manager: ConnectionManager;
  readonly #config: Readonly<NetConfig>;
  readonly #out: WriteBatching;
  readonly #open = new Map<number, ConnectionCore>();
  /** Recently closed connections, oldest first. Bounded by {@link RECENT_MAX}. */
  readonly #recent = new Map<number, ConnectionCore>();

  constructor(manager: ConnectionManager, config: Readonly<NetConfig>, out: WriteBatching) {
    this.#manager = manager;
    this.#config = config;
    this.#out = out;
  }

  /** Creates the main-thread object for a connection that now exists on `thread`. */
  adopt(id: number, kind: ConnectionKind, thread: IoThread, peer: NetAddress, local: NetAddress, slot = -1): Connection {
    const core: ConnectionCore = {
      slot,
      framedSent: 0,
      pendingSeen: 0,
      id,
      kind,
      thread,
      manager: this.#manager,
      out: this.#out,
      peer,
      local,
      open: true,
      reader: null,
      facade: null,
      collect: newCollectState(this.#config.collectTcp, this.#config.collectTcpInterval),
      stats: { datagramsIn: 0, bytesIn: 0, datagramsOut: 0, bytesOut: 0 },
      droppedIn: 0,
    };
    this.#open.set(id, core);
    return new Connection(core);
  }

  /** The connection behind a ring record id (including recently closed ones). */
  lookup(id: number): ConnectionCore | undefined {
    return this.#open.get(id) ?? this.#recent.get(id);
  }

  /** The open connection `id`. */
  get(id: number): ConnectionCore | undefined {
    return this.#open.get(id);
  }

  /** True if `core` is open in this table. */
  has(core: ConnectionCore): boolean {
    return this.#open.get(core.id) === core;
  }

  /** Marks `core` closed: it moves to the recent cache, and lets go of its thread's table slot. */
  retire(core: ConnectionCore): void {
    core.open = false;
    core.slot = -1;
    this.#open.delete(core.id);
    this.#recent.set(core.id, core);
    if (this.#recent.size > RECENT_MAX) {
      const oldest = this.#recent.keys().next().value;
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
  }

  /** Open connections (rendezvous and UDP included). */
  get size(): number {
    return this.#open.size;
  }

  /** A snapshot of the open connections. */
  list(): ConnectionCore[] {
    return [...this.#open.values()];
  }
}
