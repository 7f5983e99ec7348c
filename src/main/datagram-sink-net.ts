/**
 * Panda's `DatagramSinkNet` (spec §2.12): a {@link ConnectionWriter} used as a `DatagramSink`, sending
 * every datagram put into it to one target TCP connection.
 *
 * Thread: main thread only.
 * @module
 */
import type { Datagram } from '../datagram/datagram.js';
import { ErrorCode, PandaNetError } from '../errors.js';
import { coreOf, type Connection } from './connection.js';
import type { ConnectionManager } from './connection-manager.js';
import { ConnectionWriter } from './connection-writer.js';

/**
 * A writer with a target connection.
 * Thread: main thread only.
 */
export class DatagramSinkNet extends ConnectionWriter {
  #target: Connection | null = null;

  /**
   * `numThreads` 0: immediate writer; N > 0: queued writer served by N I/O threads.
   * Thread: main thread only.
   */
  constructor(manager: ConnectionManager, numThreads: number) {
    super(manager, numThreads);
  }

  /**
   * Sets the connection {@link putDatagram} sends to; `null` clears it.
   * @throws PandaNetError `ERR_PANDANET_WRONG_CONNECTION_KIND` for a UDP or rendezvous connection
   *   (Panda would assert at the first put).
   * Thread: main thread only.
   */
  setTarget(connection: Connection | null): void {
    if (connection != null) {
      const kind = coreOf(connection).kind;
      if (kind !== 'tcp') throw new PandaNetError(ErrorCode.WRONG_CONNECTION_KIND, `a DatagramSinkNet target must be a connected TCP stream, not a ${kind}`);
    }
    this.#target = connection ?? null;
  }

  /** The target connection, or null. Thread: main thread only. */
  getTarget(): Connection | null {
    return this.#target;
  }

  /**
   * Sends `datagram` to the target with `block = true` (a threaded writer waits, bounded, for queue
   * room). False when there is no target, or the send fails (a closed target is also reported through
   * the manager's reset queue, as any send).
   * Thread: main thread only.
   */
  putDatagram(datagram: Datagram): boolean {
    const target = this.#target;
    if (target === null) return false;
    return this.send(datagram, target, true);
  }

  /**
   * True when there is no target, or the target is closed or reset (Panda: only "no target").
   * Thread: main thread only.
   */
  isError(): boolean {
    return this.#target === null || !this.#target.isOpen();
  }

  /**
   * Flushes the target (Panda: `target.flush()`): writes what its collect-tcp buffer holds now.
   * True when there is nothing to flush (no target, or collect-tcp off: every send is already in the
   * I/O thread's ring, and the thread writes all it finds each time it drains) or the bytes were handed
   * over; false if the target is closed or reset.
   * Thread: main thread only.
   */
  flush(): boolean {
    return this.#target === null ? true : this.#target.flush();
  }
}
