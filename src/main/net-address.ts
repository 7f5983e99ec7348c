/**
 * `NetAddress`: Panda3D's IPv4/IPv6 socket-address value type (spec §2.5, §9.3).
 *
 * Divergences from Panda, all deliberate:
 * - Ports are validated (integer 0..65535, else {@link ValueRangeError}) instead of being reduced modulo
 *   65,536.
 * - Q5: equality and hashing are correct for IPv6 (same family, bytes, scope and port).
 * - Q6: `getIp()` of `::1` is `0x0100007f` (127.0.0.1 read little-endian), not Panda's `0x1000007f`.
 * - `setHost("localhost")` always gives IPv4 `127.0.0.1` (Panda takes the first `getaddrinfo` answer,
 *   which may be `::1`).
 * - Panda's ASSERT cases (`getIpString`/`toString` of an unspecified address, `getIp` of a genuine IPv6
 *   address) throw {@link InvalidArgumentError}.
 *
 * @module
 */

import { isIP } from 'node:net';
import { InvalidArgumentError, ValueRangeError } from '../errors.js';
import { resolveHostAsync, resolveHostSync } from './resolve-sync.js';

/** Address family of a {@link NetAddress}: 4, 6, or 0 for "unspecified" (no address at all). Thread: any. */
export type NetAddressFamily = 0 | 4 | 6;

interface ParsedIp {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
  /** IPv6 zone (`eth0`, `3`, ...) without the `%`; '' when none. */
  scope: string;
}

/**
 * A socket address: family, IP and port, plus the scope of a link-local IPv6 address.
 *
 * Mutable, like Panda's: the setters change it in place. Copy with `new NetAddress(other)`.
 *
 * Thread: any (an instance is not shared between threads; workers exchange plain strings and ports).
 */
export class NetAddress {
  #family: NetAddressFamily = 4;
  /** Network-order bytes: 4 for IPv4, 16 for IPv6, 0 for unspecified. */
  #bytes: Uint8Array = new Uint8Array(4);
  /** Canonical numeric form without the scope: `1.2.3.4`, `::1`, `::ffff:1.2.3.4`; '' when unspecified. */
  #ip = '0.0.0.0';
  #scope = '';
  #port = 0;

  /**
   * `new NetAddress()` is IPv4 `0.0.0.0:0`; `new NetAddress(other)` copies `other`.
   * @throws InvalidArgumentError if `other` is given and is not a NetAddress.
   *
   * Thread: any.
   */
  constructor(other?: NetAddress) {
    if (other === undefined) return;
    if (!(other instanceof NetAddress)) {
      throw new InvalidArgumentError('NetAddress copy constructor needs a NetAddress');
    }
    this.#copyFrom(other);
  }

  /**
   * Copies `other` into this address (Panda's assignment; used to fill out-parameters).
   *
   * Thread: any.
   */
  assign(other: NetAddress): void {
    this.#copyFrom(other);
  }

  /**
   * An address from a numeric IP literal (IPv4 dotted quad, or IPv6 without brackets, optionally with
   * `%scope`, as Node reports peers) and a port. Never resolves names.
   * @throws InvalidArgumentError if `ip` is not a numeric literal; ValueRangeError for a bad port.
   *
   * Thread: any.
   */
  static fromHostPort(ip: string, port: number): NetAddress {
    checkPort(port);
    const parsed = typeof ip === 'string' ? parseIpLiteral(ip) : null;
    if (parsed === null) {
      throw new InvalidArgumentError(`not a numeric IPv4 or IPv6 address: ${JSON.stringify(ip)}`);
    }
    const a = new NetAddress();
    a.#setParsed(parsed, port);
    return a;
  }

  /**
   * An address of unspecified family (family 0, port 0): what Panda reports as the address of a UDP or
   * listening connection. `isAny()` is true; `getIpString()`, `getIp()` and `toString()` throw.
   *
   * Thread: any.
   */
  static unspecified(): NetAddress {
    const a = new NetAddress();
    a.#family = 0;
    a.#bytes = new Uint8Array(0);
    a.#ip = '';
    return a;
  }

  /**
   * Sets IPv4 `0.0.0.0:port`. Always returns true.
   * @throws ValueRangeError for a port outside 0..65535 or not an integer.
   *
   * Thread: any.
   */
  setAny(port: number): boolean {
    checkPort(port);
    this.#setV4(0, 0, 0, 0, port);
    return true;
  }

  /**
   * Sets IPv4 loopback `127.0.0.1:port`. Always returns true.
   * @throws ValueRangeError for a bad port.
   *
   * Thread: any.
   */
  setLocalhost(port: number): boolean {
    checkPort(port);
    this.#setV4(127, 0, 0, 1, port);
    return true;
  }

  /**
   * Sets IPv4 broadcast `255.255.255.255:port`. Always returns true.
   * @throws ValueRangeError for a bad port.
   *
   * Thread: any.
   */
  setBroadcast(port: number): boolean {
    checkPort(port);
    this.#setV4(255, 255, 255, 255, port);
    return true;
  }

  /**
   * Sets the address from a host name or numeric literal, like Panda's `set_host`:
   * - `"255.255.255.255"` → broadcast;
   * - numeric IPv4 / IPv6 literals (no brackets, no port; IPv6 may carry `%scope`) are parsed at once and
   *   stored in canonical form (IPv6 lower-case and compressed, IPv4-mapped as `::ffff:a.b.c.d`);
   * - `"localhost"` (any case) → IPv4 `127.0.0.1` without a lookup (divergence: Panda may pick `::1`);
   * - any other name is resolved synchronously with `resolveHostSync` (first answer, any family),
   *   which blocks for a worker start-up plus the DNS time (tens of ms at least, 5 s at most).
   *
   * @returns true on success; false if the name does not resolve, leaving this address unchanged.
   * @throws ValueRangeError for a bad port (checked first); InvalidArgumentError if `hostname` is not a string.
   *
   * Thread: any, but a name that is neither a literal nor "localhost" blocks the caller.
   */
  setHost(hostname: string, port: number): boolean {
    checkPort(port);
    const quick = this.#setHostWithoutLookup(hostname, port);
    if (quick !== null) return quick;
    return this.#setResolved(resolveHostSync(hostname), port);
  }

  /**
   * Non-blocking {@link setHost}: same rules, but names are resolved with `dns.promises.lookup`. The
   * address changes when the promise settles (to true); on false it is unchanged.
   * @throws (as a rejection) ValueRangeError for a bad port; InvalidArgumentError for a non-string host.
   *
   * Thread: any.
   */
  async setHostAsync(hostname: string, port: number): Promise<boolean> {
    checkPort(port);
    const quick = this.#setHostWithoutLookup(hostname, port);
    if (quick !== null) return quick;
    return this.#setResolved(await resolveHostAsync(hostname), port);
  }

  /** Back to IPv4 `0.0.0.0:0`. Thread: any. */
  clear(): void {
    this.#setV4(0, 0, 0, 0, 0);
  }

  /** The port, 0..65535. Thread: any. */
  getPort(): number {
    return this.#port;
  }

  /**
   * Changes the port, keeping family and IP.
   * @throws ValueRangeError for a port outside 0..65535 or not an integer.
   *
   * Thread: any.
   */
  setPort(port: number): void {
    checkPort(port);
    this.#port = port;
  }

  /**
   * Numeric host: `"1.2.3.4"`, `"::1"`, `"fe80::1%eth0"`, `"::ffff:1.2.3.4"`.
   * @throws InvalidArgumentError for an unspecified address (Panda ASSERTs).
   *
   * Thread: any.
   */
  getIpString(): string {
    if (this.#family === 0) throw new InvalidArgumentError('getIpString() of an address of unspecified family');
    return this.#scope === '' ? this.#ip : `${this.#ip}%${this.#scope}`;
  }

  /** True for `0.0.0.0`, `::` (any port) and for an unspecified address. Thread: any. */
  isAny(): boolean {
    return this.#bytes.every((b) => b === 0);
  }

  /**
   * Deprecated Panda accessor: the 4 IPv4 bytes in network order read as a little-endian uint32
   * (`1.2.3.4` → `0x04030201`, what x86 Panda returns). IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible
   * (`::a.b.c.d`, a.b.c.d above 0.0.0.1) IPv6 addresses give their IPv4 part; `::1` gives `0x0100007f`
   * (Q6 fix).
   * @throws InvalidArgumentError for any other IPv6 address (including `::`) and for an unspecified address.
   *
   * Thread: any.
   */
  getIp(): number {
    const b = this.#ipv4Bytes();
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }

  /**
   * Byte `n` (0 = leftmost) of the dotted quad; IPv6 follows the {@link getIp} rules.
   * @throws ValueRangeError if `n` is not an integer in 0..3; InvalidArgumentError as {@link getIp}.
   *
   * Thread: any.
   */
  getIpComponent(n: number): number {
    if (!Number.isInteger(n) || n < 0 || n > 3) {
      throw new ValueRangeError(`IP component index ${String(n)} must be 0, 1, 2 or 3`);
    }
    return this.#ipv4Bytes()[n]!;
  }

  /** 4, 6, or 0 for an unspecified address. Thread: any. */
  getFamily(): NetAddressFamily {
    return this.#family;
  }

  /** True for an IPv6 address (IPv4-mapped ones included). Thread: any. */
  isIpv6(): boolean {
    return this.#family === 6;
  }

  /**
   * Same family, same IP bytes, same scope and same port (correct for IPv6: Q5 fix). An IPv4 address and
   * its IPv4-mapped IPv6 form are different, as in Panda.
   *
   * Thread: any.
   */
  equals(other: NetAddress): boolean {
    if (!(other instanceof NetAddress)) return false;
    if (this.#family !== other.#family || this.#port !== other.#port || this.#scope !== other.#scope) return false;
    const a = this.#bytes;
    const b = other.#bytes;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /**
   * Unsigned 32-bit hash consistent with {@link equals}. IPv4: Panda's `getIp() ^ (port << 16)`. IPv6:
   * the four 32-bit words of the address XORed together, mixed with the scope, then `^ (port << 16)`.
   *
   * Thread: any.
   */
  getHash(): number {
    const b = this.#bytes;
    let h = 0;
    for (let i = 0; i + 3 < b.length; i += 4) {
      h ^= b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    }
    if (this.#family === 6) h ^= 0x6a09e667; // keep ::a.b.c.d apart from a.b.c.d
    for (let i = 0; i < this.#scope.length; i++) h = Math.imul(h ^ this.#scope.charCodeAt(i), 0x01000193);
    return (h ^ (this.#port << 16)) >>> 0;
  }

  /**
   * `"1.2.3.4:80"`, IPv6 `"[::1]:80"` / `"[fe80::1%eth0]:80"` (Panda's `output`).
   * @throws InvalidArgumentError for an unspecified address.
   *
   * Thread: any.
   */
  toString(): string {
    if (this.#family === 0) throw new InvalidArgumentError('toString() of an address of unspecified family');
    return this.#family === 6 ? `[${this.getIpString()}]:${this.#port}` : `${this.#ip}:${this.#port}`;
  }

  /**
   * Like {@link toString} but never throws: an address of unspecified family (a peer that vanished
   * before its address was read, or a UDP/rendezvous connection's `getAddress()`) reads
   * `(no address)`. For logs. Not in Panda.
   *
   * Thread: any.
   */
  describe(): string {
    return this.#family === 0 ? '(no address)' : this.toString();
  }

  /** Literal / broadcast / localhost handling shared by setHost and setHostAsync; null = needs a lookup. */
  #setHostWithoutLookup(hostname: string, port: number): boolean | null {
    if (typeof hostname !== 'string') {
      throw new InvalidArgumentError(`hostname must be a string, not ${typeof hostname}`);
    }
    if (hostname === '255.255.255.255') {
      this.#setV4(255, 255, 255, 255, port);
      return true;
    }
    const parsed = parseIpLiteral(hostname);
    if (parsed !== null) {
      this.#setParsed(parsed, port);
      return true;
    }
    if (hostname.toLowerCase() === 'localhost') {
      this.#setV4(127, 0, 0, 1, port);
      return true;
    }
    if (hostname.length === 0) return false;
    return null;
  }

  #setResolved(r: { address: string } | null, port: number): boolean {
    const parsed = r === null ? null : parseIpLiteral(r.address);
    if (parsed === null) return false;
    this.#setParsed(parsed, port);
    return true;
  }

  #setV4(a: number, b: number, c: number, d: number, port: number): void {
    this.#family = 4;
    this.#bytes = Uint8Array.of(a, b, c, d);
    this.#ip = `${a}.${b}.${c}.${d}`;
    this.#scope = '';
    this.#port = port;
  }

  #setParsed(p: ParsedIp, port: number): void {
    this.#family = p.family;
    this.#bytes = p.bytes;
    this.#ip = p.family === 4 ? formatIpv4(p.bytes, 0) : formatIpv6(p.bytes);
    this.#scope = p.scope;
    this.#port = port;
  }

  #copyFrom(o: NetAddress): void {
    this.#family = o.#family;
    this.#bytes = o.#bytes.slice();
    this.#ip = o.#ip;
    this.#scope = o.#scope;
    this.#port = o.#port;
  }

  /** The IPv4 equivalent of this address, per the getIp rules. */
  #ipv4Bytes(): Uint8Array {
    const b = this.#bytes;
    if (this.#family === 4) return b;
    if (this.#family === 0) throw new InvalidArgumentError('no IPv4 value: the address family is unspecified');
    let zeros10 = true;
    for (let i = 0; i < 10; i++) if (b[i] !== 0) zeros10 = false;
    if (zeros10) {
      if (b[10] === 0xff && b[11] === 0xff) return b.subarray(12, 16); // ::ffff:a.b.c.d (mapped)
      if (b[10] === 0 && b[11] === 0) {
        const v4 = (((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0);
        if (v4 > 1) return b.subarray(12, 16); // ::a.b.c.d (compatible; glibc's IN6_IS_ADDR_V4COMPAT)
        if (v4 === 1) return Uint8Array.of(127, 0, 0, 1); // ::1 → 127.0.0.1 (Q6 fix)
      }
    }
    throw new InvalidArgumentError(`IPv6 address ${this.getIpString()} has no IPv4 value`);
  }
}

/** Throws ValueRangeError unless `port` is an integer in 0..65535. */
function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ValueRangeError(`port ${String(port)} must be an integer in 0..65535`);
  }
}

/** Parses a numeric IPv4 or IPv6 literal (node:net `isIP` rules); null if it is not one. */
function parseIpLiteral(s: string): ParsedIp | null {
  const kind = isIP(s);
  if (kind === 4) return { family: 4, bytes: Uint8Array.from(s.split('.'), Number), scope: '' };
  if (kind !== 6) return null;

  let text = s;
  let scope = '';
  const pct = text.indexOf('%');
  if (pct >= 0) {
    scope = text.slice(pct + 1);
    text = text.slice(0, pct);
  }
  if (text.includes('.')) {
    // Trailing dotted quad → two hex groups.
    const cut = text.lastIndexOf(':') + 1;
    const q = text.slice(cut).split('.').map(Number);
    text = `${text.slice(0, cut)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const dbl = text.indexOf('::');
  const head = dbl >= 0 ? groups(text.slice(0, dbl)) : groups(text);
  const tail = dbl >= 0 ? groups(text.slice(dbl + 2)) : [];
  if (head.length + tail.length > 8) return null;
  const bytes = new Uint8Array(16);
  const put = (g: string, w: number): void => {
    const v = parseInt(g, 16);
    bytes[2 * w] = v >>> 8;
    bytes[2 * w + 1] = v & 0xff;
  };
  head.forEach((g, i) => put(g, i));
  tail.forEach((g, i) => put(g, 8 - tail.length + i));
  return { family: 6, bytes, scope };
}

function formatIpv4(b: Uint8Array, at: number): string {
  return `${b[at]!}.${b[at + 1]!}.${b[at + 2]!}.${b[at + 3]!}`;
}

/**
 * Canonical IPv6 text as glibc's `inet_ntop` writes it (what Panda prints on Linux): lower-case hex without
 * leading zeros, the longest run (first on a tie) of two or more zero groups as `::`, and a trailing
 * dotted quad for IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) addresses.
 */
function formatIpv6(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && words[i] === 0) {
      if (curBase < 0) {
        curBase = i;
        curLen = 1;
      } else {
        curLen++;
      }
    } else if (curBase >= 0) {
      if (curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (bestLen < 2) bestBase = -1;

  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += formatIpv4(b, 12);
      return out;
    }
    out += words[i]!.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}
