/**
 * A UDP socket owned by an I/O worker.
 *
 * Receiving: each packet is checked against Panda's 2-byte additive checksum (raw mode: delivered
 * whole), truncated to 1502 bytes like Panda's receive buffer; short or corrupted packets are dropped
 * and counted (`udpDropped` in the thread stats), never delivered, and never close the socket (Q7).
 * Each datagram reaches the monitoring reader's ring with its sender's address in front.
 * UDP has no flow control: when the reader's ring is full, up to {@link UDP_BACKLOG} packets wait in
 * order; past that, packets are dropped and counted.
 *
 * Sending: the packet arrives framed from the main thread; it leaves from this same socket (so
 * replies come from the port the peer talks to). An IPv4 destination on a dual-stack socket is sent
 * to its IPv4-mapped form.
 *
 * Thread: I/O workers only.
 * @module
 */
import type dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import { log } from '../log.js';
import { InMeta, StatWord } from '../protocol/control.js';
import { addressRecordLength, writeAddressRecord } from '../protocol/address-record.js';
import { checkUdpPacket, UDP_RECEIVE_BUFFER } from '../protocol/udp-header.js';
import type { ReaderSlot, RingWaiter, WorkerStats } from './worker-context.js';

/** Packets held while the reader's ring is full, before UDP starts dropping (counted). */
export const UDP_BACKLOG = 1024;

/** What a UDP endpoint needs from its worker. */
export interface UdpHost {
  readonly stats: WorkerStats;
  release(id: number): void;
}

/** A bound UDP socket. */
export class UdpEndpoint implements RingWaiter {
  readonly id: number;
  readonly socket: dgram.Socket;
  private readonly host: UdpHost;
  private readonly dualStack: boolean;
  private reader: ReaderSlot | null = null;
  private backlog: Uint8Array[] = [];
  private closed = false;

  constructor(id: number, socket: dgram.Socket, dualStack: boolean, host: UdpHost) {
    this.id = id;
    this.socket = socket;
    this.dualStack = dualStack;
    this.host = host;
    socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err: Error) => log('error', `UDP connection ${id}: ${err.message}`));
    host.stats.add(StatWord.CONNECTIONS, 1);
  }

  attach(reader: ReaderSlot): void {
    this.reader = reader;
    if (this.backlog.length > 0) {
      reader.readmit(this.backlog.length);
      reader.block(this);
    }
  }

  /** Stops delivering; packets already received wait for a later attach (new ones are not read). */
  detach(readerId: number): void {
    if (this.reader?.id !== readerId) return;
    this.reader.blocked.delete(this);
    this.reader.unadmit(this.backlog.length);
    this.reader = null;
  }

  private drop(why: string): void {
    this.host.stats.add(StatWord.UDP_DROPPED, 1);
    log('debug', `UDP connection ${this.id}: ${why}`);
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const reader = this.reader;
    if (reader === null || this.closed) return; // unmonitored: Panda never reads it
    const packet = msg.length > UDP_RECEIVE_BUFFER ? msg.subarray(0, UDP_RECEIVE_BUFFER) : msg;
    const payload = checkUdpPacket(packet, reader.config.rawMode);
    if (payload === null) {
      this.drop(packet.length < 2 ? 'did not read entire header' : 'ignoring invalid UDP datagram');
      return;
    }
    const record = new Uint8Array(addressRecordLength(rinfo.address) + payload.length);
    const at = writeAddressRecord(rinfo.address, rinfo.port, record, 0);
    record.set(payload, at);
    this.host.stats.inDatagram(payload.length);
    if (this.backlog.length > 0) {
      this.hold(record, reader);
      return;
    }
    if (!reader.admit()) return;
    if (reader.ring.tryWrite(this.id, InMeta.UDP, record)) reader.ringBell();
    else {
      this.backlog.push(record);
      reader.block(this);
    }
  }

  private hold(record: Uint8Array, reader: ReaderSlot): void {
    if (this.backlog.length >= UDP_BACKLOG) {
      this.drop('reader ring full and backlog full');
      return;
    }
    if (reader.admit()) this.backlog.push(record);
  }

  /** {@link RingWaiter}. */
  retryDelivery(): boolean {
    const reader = this.reader;
    if (reader === null) return true;
    let i = 0;
    while (i < this.backlog.length && reader.ring.tryWrite(this.id, InMeta.UDP, this.backlog[i]!)) i++;
    if (i > 0) {
      this.backlog.splice(0, i);
      reader.ringBell();
    }
    return this.backlog.length === 0;
  }

  /** Sends one framed packet to `ip`:`port`. Failures are logged and counted, never fatal. */
  send(packet: Uint8Array, ip: string, port: number): void {
    if (this.closed) return;
    const target = this.dualStack && isIPv4(ip) ? `::ffff:${ip}` : ip;
    this.host.stats.outDatagram(packet.length);
    // Copy: the ring memory `packet` views is reused as soon as this drain returns.
    this.socket.send(Buffer.from(packet), port, target, (err) => {
      if (err) {
        this.host.stats.add(StatWord.UDP_DROPPED, 1);
        log('warning', `UDP connection ${this.id}: send to ${ip}:${port} failed: ${err.message}`);
      }
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reader !== null) {
      this.reader.blocked.delete(this);
      this.reader.unadmit(this.backlog.length);
    }
    this.reader = null;
    this.backlog = [];
    this.socket.close();
    this.host.stats.add(StatWord.CONNECTIONS, -1);
    this.host.release(this.id);
  }
}
