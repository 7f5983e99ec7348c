/**
 * The peer address carried in front of a UDP datagram in a ring record (both directions):
 * ```
 * +--------+----------------------+-----------+----------------+
 * | u8 len | ASCII IP (len bytes) | u16 LE port | datagram ...  |
 * +--------+----------------------+-----------+----------------+
 * ```
 * Pure module. Thread: any.
 * @module
 */

/** Bytes the address prefix of `ip` takes. */
export function addressRecordLength(ip: string): number {
  return 1 + ip.length + 2;
}

/** Writes the prefix for `ip`:`port` into `out` at `offset`; returns bytes written. `ip` is ASCII. */
export function writeAddressRecord(ip: string, port: number, out: Uint8Array, offset: number): number {
  const n = ip.length;
  out[offset] = n;
  for (let i = 0; i < n; i++) out[offset + 1 + i] = ip.charCodeAt(i);
  out[offset + 1 + n] = port & 0xff;
  out[offset + 2 + n] = port >>> 8;
  return 3 + n;
}

/** A standalone prefix for `ip`:`port`. */
export function encodeAddressRecord(ip: string, port: number): Uint8Array {
  const out = new Uint8Array(addressRecordLength(ip));
  writeAddressRecord(ip, port, out, 0);
  return out;
}

/** Reads a prefix at `offset`: the IP, the port, and where the datagram starts. */
export function readAddressRecord(data: Uint8Array, offset: number): { ip: string; port: number; next: number } {
  const n = data[offset] ?? 0;
  let ip = '';
  for (let i = 0; i < n; i++) ip += String.fromCharCode(data[offset + 1 + i] ?? 0);
  const port = (data[offset + 1 + n] ?? 0) | ((data[offset + 2 + n] ?? 0) << 8);
  return { ip, port, next: offset + 3 + n };
}
