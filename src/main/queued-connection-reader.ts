/**
 * Panda's `QueuedConnectionReader`: received datagrams wait in a queue until the application takes
 * them with `getData`. See {@link ConnectionReader} for threaded vs polled behaviour.
 *
 * Thread: main thread only.
 * @module
 */
import { Datagram } from '../datagram/datagram.js';
import { ErrorCode, PandaNetError, ValueRangeError } from '../errors.js';
import type { ConnectionCore } from './connection.js';
import type { ConnectionManager } from './connection-manager.js';
import { ConnectionReader, coreOfReader, type DatagramVisitor } from './connection-reader.js';
import type { NetAddress } from './net-address.js';
import { NetDatagram } from './net-datagram.js';

/**
 * Reads datagrams from the connections it monitors into a queue.
 * Thread: main thread only.
 */
export class QueuedConnectionReader extends ConnectionReader {
  private target: Datagram | null = null;
  private readonly fill = (conn: ConnectionCore, data: Uint8Array, offset: number, length: number, address: NetAddress | null): void => {
    const dg = this.target!;
    dg.clear();
    dg.appendData(data, offset, length);
    if (dg instanceof NetDatagram && conn.facade !== null) {
      dg.setConnection(conn.facade);
      dg._setSharedAddress(address ?? conn.peer);
    }
  };

  /** `numThreads` 0: polled (Panda's contract); N > 0: N I/O threads deliver as data arrives. */
  constructor(manager: ConnectionManager, numThreads: number) {
    super(manager, numThreads, 'tcp');
  }

  /** Polls (polled mode), then says whether `getData` will return a datagram. */
  dataAvailable(): boolean {
    const core = coreOfReader(this);
    core.poll();
    return core.available();
  }

  /**
   * Moves the oldest datagram into `datagram`: bytes, and for a NetDatagram its connection and peer
   * address. False if the queue is empty. Never polls (as in Panda).
   *
   * In a loop of `getData` calls (the manual's loop), the replies sent between them are batched as
   * `drainData` batches its visitor's: from the second `getData` in a task, they leave when the loop
   * takes a datagram of another connection after `NetConfig.drainHoldUs` (250 µs by default), when
   * `getData` or `dataAvailable` finds the queue empty, and at the latest when the task's
   * synchronous code returns. A reply after a single `getData` leaves at once.
   */
  getData(datagram: Datagram): boolean {
    if (!(datagram instanceof Datagram)) throw new PandaNetError(ErrorCode.INVALID_ARGUMENT, 'getData takes a Datagram or NetDatagram to fill');
    this.target = datagram;
    try {
      return coreOfReader(this).takeForApp(this.fill);
    } finally {
      this.target = null;
    }
  }

  /**
   * Hot-loop drain (not in Panda): calls `visit(connection, data, offset, length)` for up to `max`
   * queued datagrams, oldest first, without making an object per datagram. The bytes are valid only
   * during the call: copy what you keep. Returns how many were visited. Does not poll.
   *
   * Sends `visit` makes (through any ConnectionWriter of this manager) are written when the drain
   * moves on to another connection or returns, so the replies to one connection's run of datagrams
   * leave in one TCP write instead of one each; in a long drain, a sleeping I/O thread is woken for
   * them at most once per `NetConfig.drainHoldUs` (250 µs by default). Sends made outside
   * `drainData` go out at once.
   *
   * Thread: main thread only.
   */
  drainData(visit: DatagramVisitor, max = Number.POSITIVE_INFINITY): number {
    return coreOfReader(this).drain(visit, max);
  }

  /**
   * Waits, without blocking the thread, until `dataAvailable()` would return true, or `timeoutMs`
   * passes (not in Panda, whose threaded readers offer no wait; `ConnectionManager.waitForReaders`
   * covers polled ones only). Resolves true when there is data, false on timeout. The I/O threads
   * wake the waiting thread when they deliver: an event-driven server needs no polling loop.
   *
   * ```ts
   * while (await reader.waitForDataAsync(1000)) reader.drainData(visit);
   * ```
   *
   * A `shutdown()` of the reader ends a wait in progress (false). Throws `ValueRangeError` for a
   * negative or NaN timeout (`Infinity` waits until data or shutdown). Thread: main thread only.
   */
  waitForDataAsync(timeoutMs: number): Promise<boolean> {
    if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(new ValueRangeError(`waitForDataAsync: timeoutMs must be a number ≥ 0, got ${String(timeoutMs)}`));
    }
    return coreOfReader(this).waitForData(timeoutMs);
  }

  /** Cap on queued datagrams (default `net-max-response-queue`, 50,000). Lowering it keeps what is queued. */
  setMaxQueueSize(size: number): void {
    coreOfReader(this).setMaxQueueSize(size);
  }
  /** Cap on queued datagrams. */
  getMaxQueueSize(): number {
    return coreOfReader(this).getMaxQueueSize();
  }
  /** Datagrams queued now. */
  getCurrentQueueSize(): number {
    return coreOfReader(this).queueSize();
  }
  /** Sticky: a datagram was dropped because the queue was at its cap. */
  getOverflowFlag(): boolean {
    return coreOfReader(this).overflow();
  }
  /** Clears the overflow flag. */
  resetOverflowFlag(): void {
    coreOfReader(this).resetOverflow();
  }
  /** Datagrams dropped for the cap since this reader was made (not in Panda). */
  getDroppedCount(): number {
    return coreOfReader(this).dropped();
  }
}
