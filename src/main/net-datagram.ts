/**
 * Panda's `NetDatagram`: a {@link Datagram} plus the connection it came from (or goes to) and the
 * peer's address.
 *
 * Thread: main thread only (it refers to main-thread Connection objects).
 * @module
 */
import { Datagram } from '../datagram/datagram.js';
import type { Connection } from './connection.js';
import { NetAddress } from './net-address.js';

/** A datagram with its connection and peer address. Thread: main thread only. */
export class NetDatagram extends Datagram {
  private connection: Connection | null = null;
  private address: NetAddress | null = null;

  /** Empty, or a copy of `other` (a plain Datagram's copy has no connection or address). */
  constructor(other?: Datagram | Uint8Array) {
    super(other as Datagram);
    if (other instanceof NetDatagram) {
      this.connection = other.connection;
      this.address = other.address;
    }
  }
  /** Where it came from / goes to. */
  setConnection(connection: Connection | null): void {
    this.connection = connection;
  }
  /** The connection, or null. */
  getConnection(): Connection | null {
    return this.connection;
  }
  /**
   * The peer address (UDP: sender; TCP: the connection's peer). Keeps a copy, as Panda's
   * `NetDatagram` stores the address by value: changing `address` afterwards changes nothing here.
   */
  setAddress(address: NetAddress): void {
    this.address = new NetAddress(address);
  }
  /**
   * @internal Readers fill a datagram with the connection's own address object without a copy per
   * datagram; that object is never handed out ({@link getAddress} copies), so nobody can change it.
   */
  _setSharedAddress(address: NetAddress): void {
    this.address = address;
  }
  /**
   * A copy of the peer address (an unspecified address when none was set): changing it changes
   * neither this datagram nor its connection.
   */
  getAddress(): NetAddress {
    return this.address === null ? new NetAddress() : new NetAddress(this.address);
  }
  /** Empties the bytes and drops the connection and address. */
  override clear(): void {
    super.clear();
    this.connection = null;
    this.address = null;
  }
  /** A copy with the same connection and address. */
  override copy(): NetDatagram {
    return new NetDatagram(this);
  }
}
