/**
 * Panda's `RecentConnectionReader` (spec §2.6.2): a reader that keeps only the most recent datagram.
 *
 * As in Panda it always asks for exactly one I/O thread (the manager's pool grows to at least one;
 * other components of the same manager may use 0, 1 or more). Datagrams arrive in the reader's
 * shared-memory rings as they come off the sockets; `dataAvailable()` and `getData()` drain what is
 * there, keeping only the newest, with no syscall and no message event. So "most recent" means the
 * newest datagram the I/O threads have delivered when you ask.
 *
 * Differences from Panda:
 * - `dataAvailable()` collects what has arrived before answering (Panda only reads a flag that its
 *   thread sets; the outcome is the same: true once a datagram is held).
 * - Q11 fix: `getData(netDatagram)` fills the connection and the peer address (Panda loses them).
 * - Between checks, the rings hold what arrived (up to `net-max-response-queue` datagrams or the ring
 *   size): past that a UDP sender's newest packets are dropped and a TCP sender is paused (back-pressure)
 *   until the next check; Panda's thread overwrites continuously. Check every frame and it makes no
 *   difference.
 *
 * Thread: main thread only.
 * @module
 */
import { Datagram } from '../datagram/datagram.js';
import { ErrorCode, PandaNetError } from '../errors.js';
import type { ConnectionCore } from './connection.js';
import type { ConnectionManager } from './connection-manager.js';
import { ConnectionReader, coreOfReader } from './connection-reader.js';
import { NetAddress } from './net-address.js';
import { NetDatagram } from './net-datagram.js';

/**
 * Reads datagrams from the connections it monitors, keeping only the newest.
 * Thread: main thread only.
 */
export class RecentConnectionReader extends ConnectionReader {
  /** Bytes of the held datagram (reused; grows as needed). */
  #buf = new Uint8Array(256);
  #len = 0;
  #conn: ConnectionCore | null = null;
  #address: NetAddress | null = null;
  #held = false;
  /** Datagrams replaced by a newer one before they were taken. */
  #superseded = 0;

  readonly #keep = (conn: ConnectionCore, data: Uint8Array, offset: number, length: number, address: NetAddress | null): void => {
    if (this.#held) this.#superseded++;
    if (this.#buf.length < length) this.#buf = new Uint8Array(Math.max(length, this.#buf.length * 2));
    this.#buf.set(data.subarray(offset, offset + length), 0);
    this.#len = length;
    this.#conn = conn;
    this.#address = address;
    this.#held = true;
  };

  /**
   * A reader on `manager` with one I/O thread (Panda's constructor takes no thread count).
   * Thread: main thread only.
   */
  constructor(manager: ConnectionManager) {
    super(manager, 1, 'tcp');
  }

  /**
   * Collects everything that has arrived, keeping only the newest datagram, then says whether one is
   * held for {@link getData}.
   * Thread: main thread only.
   */
  dataAvailable(): boolean {
    this.#collect();
    return this.#held;
  }

  /**
   * Moves the newest datagram into `datagram` and forgets it: its bytes, and for a
   * {@link NetDatagram} also its connection and peer address (the UDP sender, or the TCP
   * connection's peer) — Q11 fix, Panda leaves them empty. Collects what has arrived first, like
   * {@link dataAvailable}. False (and `datagram` untouched) when none is held.
   * @throws PandaNetError `ERR_PANDANET_INVALID_ARGUMENT` if `datagram` is not a Datagram.
   * Thread: main thread only.
   */
  getData(datagram: Datagram): boolean {
    if (!(datagram instanceof Datagram)) throw new PandaNetError(ErrorCode.INVALID_ARGUMENT, 'getData takes a Datagram or NetDatagram to fill');
    this.#collect();
    if (!this.#held) return false;
    datagram.clear();
    datagram.appendData(this.#buf.subarray(0, this.#len));
    const conn = this.#conn!;
    if (datagram instanceof NetDatagram && conn.facade !== null) {
      datagram.setConnection(conn.facade);
      datagram._setSharedAddress(this.#address ?? conn.peer);
    }
    this.#held = false;
    this.#conn = null;
    this.#address = null;
    this.#len = 0;
    return true;
  }

  /**
   * Datagrams that were replaced by a newer one before the application took them, since this reader
   * was made (not in Panda).
   * Thread: main thread only.
   */
  getSupersededCount(): number {
    return this.#superseded;
  }

  /**
   * Drains the rings into the one-datagram slot. Bounded by what was queued when it started (plus a
   * little), so a flood cannot keep it looping.
   */
  #collect(): void {
    const core = coreOfReader(this);
    let budget = core.queueSize() + 1024;
    while (budget-- > 0 && core.takeOne(this.#keep));
  }
}
