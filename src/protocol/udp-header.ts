/**
 * Panda3D's UDP packet format (spec §6.2–§6.4): a 2-byte little-endian additive checksum followed by the
 * payload, or, in raw mode, the payload alone.
 *
 * Pure code: no sockets, no threads.
 *
 * Divergence from Panda (spec §6.3 / Q7): an empty packet is dropped in checksum mode (it is shorter than
 * the header) and delivered as an empty datagram in raw mode; it never closes anything.
 *
 * Thread: any.
 * @module
 */

import { UdpPacketError } from '../errors.js';

/** Panda's `maximum_udp_datagram`: the largest payload it expects (the sender only warns above it). Thread: any. */
export const MAX_UDP_PAYLOAD = 1500;

/**
 * Size of Panda's UDP receive buffer (`MAX_UDP_PAYLOAD` + 2-byte header). Longer packets are truncated to
 * this many bytes before they are checked.
 *
 * Thread: any.
 */
export const UDP_RECEIVE_BUFFER = 1502;

/** Size of the checksum header. Thread: any. */
export const UDP_HEADER_SIZE = 2;

/**
 * Panda's UDP checksum: the sum of all payload bytes (unsigned) modulo 65,536. Not a CRC, not ones'
 * complement. Empty payload → 0.
 *
 * Thread: any.
 */
export function udpChecksum(payload: Uint8Array): number {
  let sum = 0;
  const n = payload.length;
  for (let i = 0; i < n; i++) sum += payload[i]!;
  return sum % 65536;
}

/**
 * Builds the bytes of one UDP packet: checksum (LE) + payload, or a copy of the payload in raw mode.
 * No size limit is enforced (Panda's sender only warns above {@link MAX_UDP_PAYLOAD}); the caller decides
 * whether to warn. Always returns a new array.
 *
 * Thread: any.
 */
export function encodeUdpPacket(payload: Uint8Array, rawMode: boolean): Uint8Array {
  if (rawMode) return payload.slice();
  const out = new Uint8Array(UDP_HEADER_SIZE + payload.length);
  const sum = udpChecksum(payload);
  out[0] = sum & 0xff;
  out[1] = sum >>> 8;
  out.set(payload, UDP_HEADER_SIZE);
  return out;
}

/**
 * Non-throwing receive check for the hot path: returns the payload as a view of `packet` (zero copy;
 * copy it to keep it past `packet`'s lifetime) or `null` when Panda would drop the packet.
 *
 * The packet is first truncated to {@link UDP_RECEIVE_BUFFER} bytes, as Panda's receive buffer does.
 * Checksum mode: fewer than 2 bytes → null; checksum mismatch → null. Raw mode: the (truncated) packet is
 * the payload, an empty packet gives an empty payload.
 *
 * Thread: any.
 */
export function checkUdpPacket(packet: Uint8Array, rawMode: boolean): Uint8Array | null {
  const n = Math.min(packet.length, UDP_RECEIVE_BUFFER);
  if (rawMode) return n === packet.length ? packet : packet.subarray(0, n);
  if (n < UDP_HEADER_SIZE) return null;
  const payload = packet.subarray(UDP_HEADER_SIZE, n);
  return udpChecksum(payload) === (packet[0]! | (packet[1]! << 8)) ? payload : null;
}

/**
 * Throwing form of {@link checkUdpPacket}: returns the payload view or throws {@link UdpPacketError} with
 * Panda's log text — `"did not read entire header"` for a packet under 2 bytes, `"ignoring invalid UDP
 * datagram"` for a checksum mismatch (including most packets truncated from over 1502 bytes).
 *
 * Thread: any.
 */
export function decodeUdpPacket(packet: Uint8Array, rawMode: boolean): Uint8Array {
  const payload = checkUdpPacket(packet, rawMode);
  if (payload !== null) return payload;
  if (packet.length < UDP_HEADER_SIZE) throw new UdpPacketError('did not read entire header');
  throw new UdpPacketError('ignoring invalid UDP datagram');
}
