/**
 * Panda's `QueuedConnectionListener`: accepts TCP connections on the rendezvous connections it
 * monitors and queues `(rendezvous, client address, new connection)` for `getNewConnection`.
 * The new connection is registered with the manager but not added to any reader.
 *
 * Thread: main thread only.
 * @module
 */
import { ErrorCode, PandaNetError, ValueRangeError } from '../errors.js';
import { log } from '../log.js';
import { BoundedFifo } from './bounded-fifo.js';
import type { Connection } from './connection.js';
import type { ConnectionManager } from './connection-manager.js';
import { ConnectionReader, coreOfReader } from './connection-reader.js';
import { NetAddress } from './net-address.js';
import { PointerToConnection } from './pointer-to-connection.js';

interface Accepted {
  rendezvous: Connection;
  address: NetAddress;
  connection: Connection;
}

/**
 * Accepts connections and queues them.
 * Thread: main thread only.
 */
export class QueuedConnectionListener extends ConnectionReader {
  private readonly queue: BoundedFifo<Accepted>;
  private maxConnections = 0;
  private refused = 0;
  /** Connections this listener accepted, pruned of closed ones now and then (so a limit set later counts them). */
  private readonly live = new Set<Connection>();
  private pruneAt = 64;

  /** `numThreads` 0: polled; N > 0: threaded. Accepted connections are spread over the manager's I/O threads. */
  constructor(manager: ConnectionManager, numThreads: number) {
    super(manager, numThreads, 'rendezvous');
    const core = coreOfReader(this);
    this.queue = new BoundedFifo<Accepted>(core.rt.config.netMaxResponseQueue);
    core.accept = (rendezvous, address, connection) => {
      if (this.maxConnections > 0 && this.openAccepted() >= this.maxConnections) {
        this.refused++;
        log('warning', `connection limit ${this.maxConnections} reached: refused ${address.describe()}`);
        return false; // the runtime closes it: the client sees EOF
      }
      if (this.queue.push({ rendezvous, address, connection })) {
        this.live.add(connection);
        if (this.live.size >= this.pruneAt) this.openAccepted(); // amortised: memory stays bounded
        return true;
      }
      log('error', 'queue full: accepted connection closed');
      return false;
    };
  }

  /** Connections this listener accepted that are still open (prunes the closed ones). */
  private openAccepted(): number {
    for (const c of this.live) if (!c.isOpen()) this.live.delete(c);
    this.pruneAt = Math.max(64, this.live.size * 2);
    return this.live.size;
  }

  /** Collects accepts from the I/O threads, then says whether one is waiting. */
  newConnectionAvailable(): boolean {
    coreOfReader(this).rt.events.pump();
    return this.queue.size > 0;
  }

  /**
   * Pops the oldest accepted connection. Forms: `(rendezvous, address, newConnection)` fills all three
   * out-parameters; `(newConnection)` only the connection; `()` returns the connection or null.
   * The out-parameter forms return false when nothing is waiting.
   */
  getNewConnection(rendezvous: PointerToConnection, address: NetAddress, newConnection: PointerToConnection): boolean;
  getNewConnection(newConnection: PointerToConnection): boolean;
  getNewConnection(): Connection | null;
  getNewConnection(a?: PointerToConnection, b?: NetAddress, c?: PointerToConnection): boolean | Connection | null {
    const core = coreOfReader(this);
    if (!core.polled) core.rt.events.pump();
    const item = this.queue.shift();
    if (a === undefined) return item?.connection ?? null;
    const out = c ?? a;
    if (!(out instanceof PointerToConnection)) throw new PandaNetError(ErrorCode.INVALID_ARGUMENT, 'getNewConnection takes PointerToConnection out-parameters');
    if (item === undefined) return false;
    out.assign(item.connection);
    if (c !== undefined) {
      a.assign(item.rendezvous);
      if (b instanceof NetAddress) b.assign(item.address);
    }
    return true;
  }

  /**
   * At most `n` connections accepted by this listener may be open at once (0 = no limit, the
   * default, as in Panda). Past it, new connections are closed at once and counted
   * ({@link getRefusedCount}). Not in Panda.
   */
  setMaxConnections(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new ValueRangeError(`max connections must be a non-negative integer, got ${n}`);
    this.maxConnections = n;
  }
  /** The connection limit (0 = none). */
  getMaxConnections(): number {
    return this.maxConnections;
  }
  /** Connections refused for the limit since this listener was made. */
  getRefusedCount(): number {
    return this.refused;
  }

  /** Cap on queued accepts (default 50,000); past it, new connections are closed and the flag set. */
  setMaxQueueSize(size: number): void {
    if (!Number.isInteger(size) || size < 0) throw new ValueRangeError(`max queue size must be a non-negative integer, got ${size}`);
    this.queue.maxSize = size;
  }
  /** Cap on queued accepts. */
  getMaxQueueSize(): number {
    return this.queue.maxSize;
  }
  /** Accepts waiting. */
  getCurrentQueueSize(): number {
    return this.queue.size;
  }
  /** Sticky: an accept was dropped (and its connection closed) because the queue was full. */
  getOverflowFlag(): boolean {
    return this.queue.overflow;
  }
  /** Clears the overflow flag. */
  resetOverflowFlag(): void {
    this.queue.overflow = false;
  }
}
