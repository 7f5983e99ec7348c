/**
 * `Datagram`: Panda3D's growable byte buffer with typed little-/big-endian writers (spec §7.1–7.3, §7.6).
 *
 * Layout rules (byte exact with Panda3D 1.11, checked against `shared/vectors`): no header, no
 * alignment, little-endian unless the method name says `Be`; strings are UTF-8 with a byte-count prefix;
 * `addWstring` writes UTF-16 code units (Panda's Windows behaviour, quirk Q18).
 *
 * Deliberate differences from Panda (each is documented on the method):
 * - Every failed write throws a typed error from `../errors.js` and leaves the datagram unchanged
 *   (Panda asserts; Python raises `OverflowError`/`TypeError`).
 * - `addUint64` rejects negatives instead of wrapping modulo 2^64 as Python's binding does.
 * - Strings containing a lone UTF-16 surrogate cannot be UTF-8 encoded: `InvalidArgumentError`
 *   (Python's `str.encode` raises too).
 * - `equals`/`compareTo` compare contents only: an empty datagram equals any other empty datagram (Q17).
 * - `clear()` keeps the allocated capacity so a datagram can be reused without allocating.
 *
 * This module is pure: no I/O, no threads, no Node-only APIs.
 *
 * Thread: any.
 * @module
 */

import { InvalidArgumentError, InvalidUtf8Error, type PandaNetError, TooLongError, ValueRangeError } from '../errors.js';
import { slabBytes } from './slab.js';
import { copyBytes } from '../shared-memory/copy-bytes.js';

const MIN_CAPACITY = 64;
const TWO_32 = 4294967296;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;
/** Strings up to this many UTF-16 units are UTF-8 encoded by a JS loop; longer ones by `TextEncoder`. */
const SHORT_STRING = 64;
/** ASCII byte runs up to this length are decoded without `TextDecoder` (in chunks of `ASCII_CHUNK`). */
const SHORT_DECODE = 32;
const ASCII_CHUNK = 16;
/** Zero runs up to this length are written by a JS loop (cheaper than `fill` for short runs). */
const SHORT_FILL = 64;

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_VIEW = new DataView(EMPTY_BYTES.buffer);
const encoder = new TextEncoder();
// ignoreBOM: a leading EF BB BF is content (Python's bytes.decode('utf-8') keeps it as U+FEFF).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Short, safe description of any value for error messages (never throws).
 *
 * Thread: any.
 * @internal
 */
export function describeValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'bigint':
      return `${v}n`;
    case 'number':
    case 'boolean':
    case 'undefined':
    case 'symbol':
      return String(v);
    case 'function':
      return 'a function';
    default:
      if (v === null) return 'null';
      if (v instanceof Uint8Array) return `a Uint8Array(${v.length})`;
      return Array.isArray(v) ? 'an array' : 'an object';
  }
}

function intError(method: string, v: unknown, min: number | bigint, max: number | bigint): PandaNetError {
  // Writers of 32 bits or less take numbers; 64-bit writers (bigint bounds) also take bigints.
  if (typeof v !== 'number' && (typeof v !== 'bigint' || typeof min !== 'bigint')) {
    return new InvalidArgumentError(`${method}: expected ${typeof min === 'bigint' ? 'a number or a bigint' : 'a number'}, got ${describeValue(v)}`);
  }
  return new ValueRangeError(`${method}: ${describeValue(v)} is not an integer in [${min}, ${max}]`);
}

/** Ranges of the ≤32-bit integer writers, by method name (read only when building an error). */
const INT_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  addInt8: [-128, 127],
  addUint8: [0, 255],
  addInt16: [-32768, 32767],
  addUint16: [0, 65535],
  addBeInt16: [-32768, 32767],
  addBeUint16: [0, 65535],
  addInt32: [-2147483648, 2147483647],
  addUint32: [0, 4294967295],
  addBeInt32: [-2147483648, 2147483647],
  addBeUint32: [0, 4294967295],
};

/** The error for a rejected ≤32-bit integer argument (kept out of line: small hot paths inline). */
function smallIntError(method: string, v: unknown): PandaNetError {
  const [min, max] = INT_RANGES[method]!;
  return intError(method, v, min, max);
}

function notNumber(method: string, v: unknown): PandaNetError {
  return new InvalidArgumentError(`${method}: expected a number, got ${describeValue(v)}`);
}

function notString(method: string, v: unknown): PandaNetError {
  return new InvalidArgumentError(`${method}: expected a string, got ${describeValue(v)}`);
}

function notBytes(method: string, v: unknown): PandaNetError {
  return new InvalidArgumentError(`${method}: expected a Uint8Array, got ${describeValue(v)}`);
}

function loneSurrogate(method: string): PandaNetError {
  return new InvalidArgumentError(`${method}: the string contains a lone UTF-16 surrogate and cannot be encoded as UTF-8`);
}

/** Zeroes `[from, to)` eight bytes per store (much cheaper than `fill` for short runs). */
function zeroShort(view: DataView, from: number, to: number): void {
  let p = from;
  for (; p + 8 <= to; p += 8) view.setFloat64(p, 0);
  for (; p < to; p++) view.setUint8(p, 0);
}

/**
 * Validates a `size_t`-like count (byte counts, sizes): a non-negative safe integer.
 *
 * Thread: any.
 * @internal
 */
export function checkSize(method: string, n: unknown): number {
  if (typeof n === 'number' && n >>> 0 === n) return n; // fast path: a uint32 integer (inlines)
  return checkSizeSlow(method, n);
}

/** Largest indent the text dumps accept (a larger one is a mistake, not a layout). */
export const MAX_INDENT = 1024;

/** @internal Validates an indent: a non-negative integer up to {@link MAX_INDENT}. */
export function checkIndent(method: string, indent: unknown): number {
  const n = checkSize(method, indent);
  if (n > MAX_INDENT) throw new ValueRangeError(`${method}: indent ${n} is over ${MAX_INDENT}`);
  return n;
}

function checkSizeSlow(method: string, n: unknown): number {
  if (typeof n !== 'number') throw notNumber(method, n);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ValueRangeError(`${method}: ${describeValue(n)} is not a non-negative integer`);
  }
  return n;
}

/** Converts a 64-bit writer argument to a validated bigint (the slow path of the 64-bit writers). */
function toInt64(method: string, v: unknown, signed: boolean): bigint {
  const min = signed ? INT64_MIN : 0n;
  const max = signed ? INT64_MAX : UINT64_MAX;
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
  else throw intError(method, v, min, max);
  if (b < min || b > max) throw intError(method, v, min, max);
  return b;
}

/** UTF-8 encodes `s` into a fresh array, rejecting lone surrogates. */
function encodeUtf8(method: string, s: string): Uint8Array {
  if (!(s as unknown as { isWellFormed(): boolean }).isWellFormed()) throw loneSurrogate(method);
  return encoder.encode(s);
}

/**
 * Strictly decodes `bytes[start, end)` as UTF-8 (a leading BOM is kept). Malformed input throws
 * `InvalidUtf8Error` naming `method` and the byte range.
 *
 * Thread: any.
 * @internal
 */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number, method: string): string {
  const n = end - start;
  if (n <= ASCII_CHUNK) {
    let any = 0;
    for (let i = start; i < end; i++) any |= bytes[i]!;
    if (any < 0x80) return asciiChunk(bytes, start, n);
  }
  return decodeUtf8Long(bytes, start, end, method);
}

/** `decodeUtf8` beyond one ASCII chunk: chunks while short and ASCII, else `TextDecoder`. */
function decodeUtf8Long(bytes: Uint8Array, start: number, end: number, method: string): string {
  if (end - start <= SHORT_DECODE) {
    let any = 0;
    for (let i = start; i < end; i++) any |= bytes[i]!;
    if (any < 0x80) {
      let s = '';
      for (let i = start; i < end; i += ASCII_CHUNK) s += asciiChunk(bytes, i, Math.min(ASCII_CHUNK, end - i));
      return s;
    }
  }
  return decodeUtf8Native(bytes, start, end, method);
}

/**
 * `n` (≤ 16) ASCII bytes as a string, with one `String.fromCharCode` call taking explicit arguments:
 * one allocation, several times faster in V8 than appending characters or `TextDecoder` for the
 * short names and tags game messages carry.
 */
function asciiChunk(b: Uint8Array, a: number, n: number): string {
  const f = String.fromCharCode;
  switch (n) {
    case 0:
      return '';
    case 1:
      return f(b[a]!);
    case 2:
      return f(b[a]!, b[a + 1]!);
    case 3:
      return f(b[a]!, b[a + 1]!, b[a + 2]!);
    case 4:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!);
    case 5:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!);
    case 6:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!);
    case 7:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!);
    case 8:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!);
    case 9:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!);
    case 10:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!, b[a + 9]!);
    case 11:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!, b[a + 9]!, b[a + 10]!);
    case 12:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!, b[a + 9]!, b[a + 10]!, b[a + 11]!);
    case 13:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!, b[a + 9]!, b[a + 10]!, b[a + 11]!, b[a + 12]!);
    case 14:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!, b[a + 9]!, b[a + 10]!, b[a + 11]!, b[a + 12]!, b[a + 13]!);
    case 15:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!, b[a + 9]!, b[a + 10]!, b[a + 11]!, b[a + 12]!, b[a + 13]!, b[a + 14]!);
    case 16:
      return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!, b[a + 9]!, b[a + 10]!, b[a + 11]!, b[a + 12]!, b[a + 13]!, b[a + 14]!, b[a + 15]!);
    default:
      return decoder.decode(b.subarray(a, a + n));
  }
}

function decodeUtf8Native(bytes: Uint8Array, start: number, end: number, method: string): string {
  try {
    return decoder.decode(bytes.subarray(start, end));
  } catch {
    throw new InvalidUtf8Error(`${method}: bytes [${start}, ${end}) of the datagram are not valid UTF-8`);
  }
}

/**
 * A growable byte buffer that messages are built in: Panda3D's `Datagram`.
 *
 * Writers append at the end; read the content back with a `DatagramIterator`. Storage is one
 * `Uint8Array` with doubling capacity, so appending is amortised O(1) and allocation-free once warm
 * (reuse a datagram with {@link Datagram.clear}).
 *
 * Failed writes throw (`ValueRangeError`, `TooLongError`, `InvalidArgumentError`) and never leave a
 * partial field behind.
 *
 * Thread: any (a plain value object; not safe for concurrent mutation, and it is not shared between
 * threads — send its bytes).
 */
export class Datagram {
  /**
   * Backing store; bytes at `[0, _length)` are the content, the rest is spare capacity.
   * @internal Read by `DatagramIterator`; do not use.
   */
  _bytes: Uint8Array;
  /** View over the same bytes as `_bytes` (same start, same length). @internal */
  _view: DataView;
  /** Content length in bytes. @internal */
  _length: number;
  /** `_bytes.length`, kept as a plain field for the capacity checks on every write. @internal */
  _capacity: number;
  /** Panda's per-datagram `stdfloat_double` flag. @internal */
  _stdfloatDouble: boolean;

  /**
   * `new Datagram()` is empty; `new Datagram(bytes)` copies the bytes; `new Datagram(other)` copies
   * another datagram (content and `stdfloatDouble` flag). Copies are independent.
   *
   * Thread: any.
   */
  constructor(source?: Uint8Array | Datagram) {
    this._bytes = EMPTY_BYTES;
    this._view = EMPTY_VIEW;
    this._length = 0;
    this._capacity = 0;
    this._stdfloatDouble = false;
    if (source === undefined) return;
    if (source instanceof Datagram) {
      this._stdfloatDouble = source._stdfloatDouble;
      this._setContent(source._bytes, source._length);
    } else if (source instanceof Uint8Array) {
      this._setContent(source, source.length);
    } else {
      throw new InvalidArgumentError(`Datagram: expected a Uint8Array or a Datagram, got ${describeValue(source)}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // storage

  private _setContent(src: Uint8Array, length: number): void {
    if (length > this._capacity) this._allocate(length);
    if (length > 0) this._bytes.set(src.length === length ? src : src.subarray(0, length));
    this._length = length;
  }

  /**
   * Points `_bytes`/`_view` at fresh storage of `capacity` bytes (content not copied). Small storage
   * is a slice of a shared slab (`./slab.ts`): Panda's manual makes a new datagram per message sent
   * and received, and a fresh `ArrayBuffer` each time cost ~150 ns more.
   */
  private _allocate(capacity: number): void {
    const bytes = slabBytes(capacity);
    this._bytes = bytes;
    this._view = new DataView(bytes.buffer, bytes.byteOffset, capacity);
    this._capacity = capacity;
  }

  /** Makes room for `extra` more bytes after `_length`. Called only when capacity is short. */
  private _grow(extra: number): void {
    const need = this._length + extra;
    let cap = this._capacity * 2;
    if (cap < MIN_CAPACITY) cap = MIN_CAPACITY;
    if (cap < need) cap = need;
    const prev = this._bytes;
    this._allocate(cap);
    if (this._length > 0) this._bytes.set(prev.subarray(0, this._length));
  }

  /** Ensures capacity for `extra` bytes past the end; returns the current end offset. */
  private _reserve(extra: number): number {
    const off = this._length;
    if (off + extra > this._capacity) this._grow(extra);
    return off;
  }

  // ---------------------------------------------------------------------------------------------
  // integers

  /**
   * Appends 1 byte: `01` when `value` is truthy, else `00` (Python accepts any object by truthiness).
   *
   * Thread: any.
   */
  addBool(value: boolean): void {
    const off = this._length;
    if (off + 1 > this._capacity) this._grow(1);
    this._bytes[off] = value ? 1 : 0;
    this._length = off + 1;
  }

  /** Appends a signed 8-bit integer (−128…127). Throws `ValueRangeError` otherwise. Thread: any. */
  addInt8(value: number): void {
    if (typeof value !== 'number' || (value << 24) >> 24 !== value) throw smallIntError('addInt8', value);
    const off = this._length;
    if (off + 1 > this._capacity) this._grow(1);
    this._bytes[off] = value & 0xff;
    this._length = off + 1;
  }

  /** Appends an unsigned 8-bit integer (0…255). Throws `ValueRangeError` otherwise. Thread: any. */
  addUint8(value: number): void {
    if (typeof value !== 'number' || (value & 0xff) !== value) throw smallIntError('addUint8', value);
    const off = this._length;
    if (off + 1 > this._capacity) this._grow(1);
    this._bytes[off] = value;
    this._length = off + 1;
  }

  /** Appends a little-endian signed 16-bit integer. Throws `ValueRangeError` when out of range. Thread: any. */
  addInt16(value: number): void {
    if (typeof value !== 'number' || (value << 16) >> 16 !== value) throw smallIntError('addInt16', value);
    const off = this._length;
    if (off + 2 > this._capacity) this._grow(2);
    this._view.setInt16(off, value, true);
    this._length = off + 2;
  }

  /** Appends a little-endian unsigned 16-bit integer. Throws `ValueRangeError` when out of range. Thread: any. */
  addUint16(value: number): void {
    if (typeof value !== 'number' || (value & 0xffff) !== value) throw smallIntError('addUint16', value);
    const off = this._length;
    if (off + 2 > this._capacity) this._grow(2);
    this._view.setUint16(off, value, true);
    this._length = off + 2;
  }

  /** Appends a little-endian signed 32-bit integer. Throws `ValueRangeError` when out of range. Thread: any. */
  addInt32(value: number): void {
    if (typeof value !== 'number' || (value | 0) !== value) throw smallIntError('addInt32', value);
    const off = this._length;
    if (off + 4 > this._capacity) this._grow(4);
    this._view.setInt32(off, value, true);
    this._length = off + 4;
  }

  /** Appends a little-endian unsigned 32-bit integer. Throws `ValueRangeError` when out of range. Thread: any. */
  addUint32(value: number): void {
    if (typeof value !== 'number' || value >>> 0 !== value) throw smallIntError('addUint32', value);
    const off = this._length;
    if (off + 4 > this._capacity) this._grow(4);
    this._view.setUint32(off, value, true);
    this._length = off + 4;
  }

  /**
   * Appends a little-endian signed 64-bit integer. Accepts a bigint or any integer-valued number in
   * range (numbers beyond 2^53 are taken at their exact double value). Thread: any.
   */
  addInt64(value: number | bigint): void {
    this._put64('addInt64', value, true, true);
  }

  /**
   * Appends a little-endian unsigned 64-bit integer (0…2^64−1). Negative values throw
   * `ValueRangeError`: Python's binding silently wraps them modulo 2^64, which we do not replicate.
   * Thread: any.
   */
  addUint64(value: number | bigint): void {
    this._put64('addUint64', value, false, true);
  }

  /** Big-endian {@link Datagram.addInt16}. Thread: any. */
  addBeInt16(value: number): void {
    if (typeof value !== 'number' || (value << 16) >> 16 !== value) throw smallIntError('addBeInt16', value);
    const off = this._length;
    if (off + 2 > this._capacity) this._grow(2);
    this._view.setInt16(off, value, false);
    this._length = off + 2;
  }

  /** Big-endian {@link Datagram.addUint16}. Thread: any. */
  addBeUint16(value: number): void {
    if (typeof value !== 'number' || (value & 0xffff) !== value) throw smallIntError('addBeUint16', value);
    const off = this._length;
    if (off + 2 > this._capacity) this._grow(2);
    this._view.setUint16(off, value, false);
    this._length = off + 2;
  }

  /** Big-endian {@link Datagram.addInt32}. Thread: any. */
  addBeInt32(value: number): void {
    if (typeof value !== 'number' || (value | 0) !== value) throw smallIntError('addBeInt32', value);
    const off = this._length;
    if (off + 4 > this._capacity) this._grow(4);
    this._view.setInt32(off, value, false);
    this._length = off + 4;
  }

  /** Big-endian {@link Datagram.addUint32}. Thread: any. */
  addBeUint32(value: number): void {
    if (typeof value !== 'number' || value >>> 0 !== value) throw smallIntError('addBeUint32', value);
    const off = this._length;
    if (off + 4 > this._capacity) this._grow(4);
    this._view.setUint32(off, value, false);
    this._length = off + 4;
  }

  /** Big-endian {@link Datagram.addInt64}. Thread: any. */
  addBeInt64(value: number | bigint): void {
    this._put64('addBeInt64', value, true, false);
  }

  /** Big-endian {@link Datagram.addUint64} (negatives rejected). Thread: any. */
  addBeUint64(value: number | bigint): void {
    this._put64('addBeUint64', value, false, false);
  }

  private _put64(method: string, value: number | bigint, signed: boolean, little: boolean): void {
    if (typeof value === 'number' && Number.isSafeInteger(value) && (signed || value >= 0)) {
      // Fast path without a bigint: split into two 32-bit halves (exact for safe integers).
      const lo = value >>> 0;
      const hi = Math.floor(value / TWO_32);
      const off = this._reserve(8);
      const view = this._view;
      if (little) {
        view.setUint32(off, lo, true);
        view.setInt32(off + 4, hi, true);
      } else {
        view.setInt32(off, hi, false);
        view.setUint32(off + 4, lo, false);
      }
      this._length = off + 8;
      return;
    }
    const b = toInt64(method, value, signed);
    const off = this._reserve(8);
    if (signed) this._view.setBigInt64(off, b, little);
    else this._view.setBigUint64(off, b, little);
    this._length = off + 8;
  }

  // ---------------------------------------------------------------------------------------------
  // floats

  /** Appends a little-endian IEEE-754 binary32 (the value is rounded to single precision). Thread: any. */
  addFloat32(value: number): void {
    if (typeof value !== 'number') throw notNumber('addFloat32', value);
    const off = this._length;
    if (off + 4 > this._capacity) this._grow(4);
    this._view.setFloat32(off, value, true);
    this._length = off + 4;
  }

  /** Appends a little-endian IEEE-754 binary64. Thread: any. */
  addFloat64(value: number): void {
    if (typeof value !== 'number') throw notNumber('addFloat64', value);
    const off = this._length;
    if (off + 8 > this._capacity) this._grow(8);
    this._view.setFloat64(off, value, true);
    this._length = off + 8;
  }

  /** Big-endian {@link Datagram.addFloat32}. Thread: any. */
  addBeFloat32(value: number): void {
    if (typeof value !== 'number') throw notNumber('addBeFloat32', value);
    const off = this._length;
    if (off + 4 > this._capacity) this._grow(4);
    this._view.setFloat32(off, value, false);
    this._length = off + 4;
  }

  /** Big-endian {@link Datagram.addFloat64}. Thread: any. */
  addBeFloat64(value: number): void {
    if (typeof value !== 'number') throw notNumber('addBeFloat64', value);
    const off = this._length;
    if (off + 8 > this._capacity) this._grow(8);
    this._view.setFloat64(off, value, false);
    this._length = off + 8;
  }

  /**
   * Appends a little-endian float32, or a float64 when {@link Datagram.getStdfloatDouble} is true. The
   * flag is not transmitted: sender and receiver must agree. Thread: any.
   */
  addStdfloat(value: number): void {
    if (this._stdfloatDouble) this.addFloat64(value);
    else this.addFloat32(value);
  }

  /** Sets this datagram's `stdfloat_double` flag (default false; copied with the datagram). Thread: any. */
  setStdfloatDouble(stdfloatDouble: boolean): void {
    this._stdfloatDouble = !!stdfloatDouble;
  }

  /** This datagram's `stdfloat_double` flag. Thread: any. */
  getStdfloatDouble(): boolean {
    return this._stdfloatDouble;
  }

  // ---------------------------------------------------------------------------------------------
  // strings and bytes

  /**
   * UTF-8 encodes `s` at `pos` (capacity for `s.length * 3` bytes must already be reserved);
   * returns the byte count. Does not change `_length`.
   */
  private _encodeAt(method: string, s: string, pos: number): number {
    const n = s.length;
    if (n > SHORT_STRING) return this._encodeLong(method, s, pos);
    // ASCII fast path (small enough to inline); the first non-ASCII unit hands over to the full loop.
    const b = this._bytes;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return this._encodeRest(method, s, i, pos + i) - pos;
      b[pos + i] = c;
    }
    return n;
  }

  /** `_encodeAt` for long strings: native encoder after a well-formedness check. */
  private _encodeLong(method: string, s: string, pos: number): number {
    if (!(s as unknown as { isWellFormed(): boolean }).isWellFormed()) throw loneSurrogate(method);
    return encoder.encodeInto(s, this._bytes.subarray(pos)).written;
  }

  /** UTF-8 encodes `s` from unit `i` at byte `p`; returns the end byte offset. */
  private _encodeRest(method: string, s: string, i: number, p: number): number {
    const b = this._bytes;
    const n = s.length;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        b[p++] = c;
      } else if (c < 0x800) {
        b[p++] = 0xc0 | (c >> 6);
        b[p++] = 0x80 | (c & 0x3f);
      } else if (c < 0xd800 || c > 0xdfff) {
        b[p++] = 0xe0 | (c >> 12);
        b[p++] = 0x80 | ((c >> 6) & 0x3f);
        b[p++] = 0x80 | (c & 0x3f);
      } else {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) throw loneSurrogate(method);
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        b[p++] = 0xf0 | (cp >> 18);
        b[p++] = 0x80 | ((cp >> 12) & 0x3f);
        b[p++] = 0x80 | ((cp >> 6) & 0x3f);
        b[p++] = 0x80 | (cp & 0x3f);
        i++;
      }
    }
    return p;
  }

  /**
   * Appends `uint16 LE byteLength` + the UTF-8 bytes of `value`. More than 65535 bytes:
   * `TooLongError`, nothing appended (Panda asserts and appends nothing). Only strings are accepted
   * (`InvalidArgumentError` otherwise); for binary data use {@link Datagram.addBlob}, which has the
   * identical wire format. Thread: any.
   */
  addString(value: string): void {
    // Short strings inline here; everything else (long, or not a string: an error) goes to
    // `_addStringLong`. Kept small on purpose: V8 inlines a caller's hot calls only up to a bytecode
    // budget, and a small addString leaves room for the caller's other datagram calls.
    if (typeof value !== 'string' || value.length > SHORT_STRING) return this._addStringLong(value);
    const units = value.length;
    const off = this._length;
    if (off + 2 + 3 * units > this._capacity) this._grow(2 + 3 * units);
    const b = this._bytes;
    let p = off + 2;
    for (let i = 0; i < units; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) {
        p = this._encodeRest('addString', value, i, p);
        break;
      }
      b[p++] = c;
    }
    const n = p - off - 2; // at most 3 × SHORT_STRING: the 16-bit prefix always holds it
    b[off] = n;
    b[off + 1] = n >> 8;
    this._length = p;
  }

  /** {@link Datagram.addString} for strings over `SHORT_STRING` units, and for a non-string (throws). */
  private _addStringLong(value: string): void {
    if (typeof value !== 'string') throw notString('addString', value);
    const units = value.length;
    if (units > 0xffff) throw tooLong('addString', units, 0xffff, true);
    const off = this._length;
    if (off + 2 + 3 * units > this._capacity) this._grow(2 + 3 * units);
    const n = this._encodeAt('addString', value, off + 2);
    if (n > 0xffff) throw tooLong('addString', n, 0xffff, false);
    this._view.setUint16(off, n, true);
    this._length = off + 2 + n;
  }

  /** Appends `uint32 LE byteLength` + the UTF-8 bytes of `value` (no practical length limit). Thread: any. */
  addString32(value: string): void {
    if (typeof value !== 'string') throw notString('addString32', value);
    const off = this._reserve(4 + value.length * 3);
    const n = this._encodeAt('addString32', value, off + 4);
    this._view.setUint32(off, n, true);
    this._length = off + 4 + n;
  }

  /**
   * Appends the UTF-8 bytes of `value` up to (excluding) its first NUL character, then a `00`
   * terminator. An embedded NUL silently truncates, as in Panda. Thread: any.
   */
  addZString(value: string): void {
    if (typeof value !== 'string') throw notString('addZString', value);
    const nul = value.indexOf('\0');
    const s = nul < 0 ? value : value.slice(0, nul);
    const off = this._reserve(1 + s.length * 3);
    const n = this._encodeAt('addZString', s, off);
    this._bytes[off + n] = 0;
    this._length = off + n + 1;
  }

  /**
   * Appends exactly `size` bytes: the UTF-8 bytes of a string (or the given bytes), truncated to
   * `size` (which may split a UTF-8 sequence, as in Panda) or padded with `00`. No length prefix.
   * Thread: any.
   */
  addFixedString(value: string | Uint8Array, size: number): void {
    checkSize('addFixedString', size);
    let bytes: Uint8Array;
    if (typeof value === 'string') bytes = encodeUtf8('addFixedString', value);
    else if (value instanceof Uint8Array) bytes = value;
    else throw new InvalidArgumentError(`addFixedString: expected a string or a Uint8Array, got ${describeValue(value)}`);
    const off = this._reserve(size);
    const n = bytes.length < size ? bytes.length : size;
    this._bytes.set(n === bytes.length ? bytes : bytes.subarray(0, n), off);
    this._bytes.fill(0, off + n, off + size);
    this._length = off + size;
  }

  /**
   * Appends `uint32 LE count` + each UTF-16 code unit of `value` as `uint16 LE` (astral characters
   * become surrogate pairs, count 2). This is Panda's Windows behaviour; Linux/macOS Panda truncates
   * each code point to 16 bits instead (quirk Q18, deliberately not replicated). Thread: any.
   */
  addWstring(value: string): void {
    if (typeof value !== 'string') throw notString('addWstring', value);
    const n = value.length;
    const off = this._reserve(4 + 2 * n);
    const view = this._view;
    view.setUint32(off, n, true);
    for (let i = 0, p = off + 4; i < n; i++, p += 2) view.setUint16(p, value.charCodeAt(i), true);
    this._length = off + 4 + 2 * n;
  }

  /**
   * Appends `uint16 LE length` + the bytes. More than 65535 bytes: `TooLongError`, nothing appended.
   * Thread: any.
   */
  addBlob(value: Uint8Array): void {
    if (!(value instanceof Uint8Array)) throw notBytes('addBlob', value);
    const n = value.length;
    if (n > 0xffff) throw tooLong('addBlob', n, 0xffff, false);
    const off = this._reserve(2 + n);
    this._view.setUint16(off, n, true);
    this._bytes.set(value, off + 2);
    this._length = off + 2 + n;
  }

  /** Appends `uint32 LE length` + the bytes. Thread: any. */
  addBlob32(value: Uint8Array): void {
    if (!(value instanceof Uint8Array)) throw notBytes('addBlob32', value);
    const n = value.length;
    const off = this._reserve(4 + n);
    this._view.setUint32(off, n, true);
    this._bytes.set(value, off + 4);
    this._length = off + 4 + n;
  }

  /**
   * Appends raw bytes (copied): all of `data`, or `length` bytes from `offset` (not in Panda, whose
   * C++ form takes a pointer and a size; it saves a `subarray` view per call, as in a `drainData`
   * visitor). Throws `ValueRangeError` for a range outside `data`, with the datagram unchanged.
   * Thread: any.
   */
  appendData(data: Uint8Array, offset?: number, length?: number): void {
    if (!(data instanceof Uint8Array)) throw notBytes('appendData', data);
    if (offset === undefined && length === undefined) {
      const off = this._reserve(data.length);
      this._bytes.set(data, off);
      this._length = off + data.length;
      return;
    }
    const from = offset ?? 0;
    const n = length ?? data.length - from;
    if (from >>> 0 !== from || n >>> 0 !== n || from + n > data.length) {
      throw new ValueRangeError(`appendData: bytes [${describeValue(offset)}, +${describeValue(length)}) are not inside the ${data.length}-byte source`);
    }
    const off = this._reserve(n);
    copyBytes(this._bytes, this._view, off, data, from, n);
    this._length = off + n;
  }

  /** Appends `size` zero bytes (`size` must be a non-negative integer). Thread: any. */
  padBytes(size: number): void {
    checkSize('padBytes', size);
    const off = this._length;
    const end = off + size;
    if (end > this._capacity) this._grow(size);
    if (size > SHORT_FILL) this._bytes.fill(0, off, end);
    else zeroShort(this._view, off, end);
    this._length = end;
  }

  // ---------------------------------------------------------------------------------------------
  // whole-datagram operations

  /** Number of content bytes. Thread: any. */
  getLength(): number {
    return this._length;
  }

  /** A copy of the content. Thread: any. */
  getMessage(): Uint8Array {
    return this._bytes.slice(0, this._length);
  }

  /**
   * The content without copying: a view of the internal storage, valid only until the next write,
   * `clear()` or `assign()` on this datagram (a later write may reallocate or overwrite it). Do not
   * modify it. Use {@link Datagram.getMessage} for a copy you can keep. Its `buffer` may be shared
   * with other datagrams (small datagrams live in shared 8 KiB slabs): never transfer or detach it.
   *
   * Thread: any.
   */
  getMessageView(): Uint8Array {
    return this._bytes.subarray(0, this._length);
  }

  /**
   * Empties the datagram. Unlike Panda (which drops its storage) the allocated capacity is kept, so a
   * cleared datagram can be refilled without allocating. The `stdfloatDouble` flag is kept too.
   *
   * Thread: any.
   */
  clear(): void {
    this._length = 0;
  }

  /** An independent copy (content and `stdfloatDouble` flag). Thread: any. */
  copy(): Datagram {
    return new Datagram(this);
  }

  /**
   * Replaces this datagram's content and `stdfloatDouble` flag with a copy of `other`'s (Python
   * `assign`). Returns `this`. Thread: any.
   */
  assign(other: Datagram): this {
    if (!(other instanceof Datagram)) throw new InvalidArgumentError(`assign: expected a Datagram, got ${describeValue(other)}`);
    if (other !== this) {
      this._stdfloatDouble = other._stdfloatDouble;
      this._setContent(other._bytes, other._length);
    }
    return this;
  }

  /**
   * True when `other` is a datagram with the same content bytes. Only content counts: a fresh or
   * cleared datagram equals `new Datagram(new Uint8Array(0))` (Panda says they differ, quirk Q17),
   * and the `stdfloatDouble` flag is ignored. Thread: any.
   */
  equals(other: Datagram): boolean {
    if (!(other instanceof Datagram)) return false;
    const n = this._length;
    if (other._length !== n) return false;
    const a = this._bytes;
    const b = other._bytes;
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /**
   * Lexicographic byte comparison (a proper prefix sorts first): negative, 0 or positive, like
   * Panda's `operator<` on content (without its no-storage quirk). Thread: any.
   */
  compareTo(other: Datagram): number {
    const a = this._bytes;
    const b = other._bytes;
    const n = Math.min(this._length, other._length);
    for (let i = 0; i < n; i++) {
      const d = a[i]! - b[i]!;
      if (d !== 0) return d < 0 ? -1 : 1;
    }
    return this._length === other._length ? 0 : this._length < other._length ? -1 : 1;
  }

  /**
   * A 32-bit FNV-1a hash of the content (not Panda's value): equal datagrams hash equally.
   * Thread: any.
   */
  getHash(): number {
    const b = this._bytes;
    let h = 0x811c9dc5;
    for (let i = 0, n = this._length; i < n; i++) {
      h ^= b[i]!;
      h = Math.imul(h, 0x01000193);
    }
    return h >>> 0;
  }

  /**
   * The content as Panda's `dump_hex` prints it (§7.6): one line per 16 bytes with `indent` spaces,
   * the offset as 4+ lowercase hex digits, the bytes in hex (3 spaces per missing byte on the last
   * line), two spaces, then the printable ASCII characters (0x20–0x7e; others as `.`). An empty
   * datagram gives `""`. Thread: any.
   */
  dumpHex(indent = 0): string {
    checkIndent('dumpHex', indent);
    const pad = ' '.repeat(indent);
    const b = this._bytes;
    const n = this._length;
    let out = '';
    for (let line = 0; line < n; line += 16) {
      let hex = '';
      let text = '';
      for (let p = line; p < line + 16; p++) {
        if (p < n) {
          const c = b[p]!;
          hex += ` ${HEX[c]!}`;
          text += c >= 0x20 && c <= 0x7e ? String.fromCharCode(c) : '.';
        } else {
          hex += '   ';
        }
      }
      out += `${pad}${line.toString(16).padStart(4, '0')} ${hex}  ${text}\n`;
    }
    return out;
  }

  /**
   * Panda's `write(out, indent)`: `indent` spaces + `"Datagram:"` + newline, then
   * {@link Datagram.dumpHex} with the same indent. Thread: any.
   */
  write(indent = 0): string {
    checkIndent('write', indent);
    return `${' '.repeat(indent)}Datagram:\n${this.dumpHex(indent)}`;
  }

  /** Same as `write(0)` (Python's `str(datagram)`). Thread: any. */
  toString(): string {
    return this.write(0);
  }
}

function tooLong(method: string, n: number, max: number, units: boolean): PandaNetError {
  return new TooLongError(
    units
      ? `${method}: ${n} UTF-16 units encode to more than the ${max} bytes a 16-bit length prefix allows; nothing was appended`
      : `${method}: ${n} bytes exceed the ${max} bytes a 16-bit length prefix allows; nothing was appended`,
  );
}
