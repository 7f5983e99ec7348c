/**
 * `DatagramIterator`: Panda3D's cursor that reads typed fields back out of a {@link Datagram}
 * (spec §7.4).
 *
 * Index rules on failure (identical to Panda's, where Panda asserts we throw `DatagramOverrunError`):
 * - Fixed-size getters, `getZString`, `getFixedString`, `skipBytes`, `extractBytes`: the index does
 *   not move.
 * - Length-prefixed getters (`getString`, `getString32`, `getWstring`, `getBlob`, `getBlob32`): the
 *   prefix is consumed first; if the body then overruns, the error is thrown with the index just
 *   after the prefix. If the prefix itself overruns, the index does not move.
 * - Invalid UTF-8 (`InvalidUtf8Error`, strict decoding): the field is consumed exactly as Panda's C++
 *   getter consumed it before Python's decoder raised `UnicodeDecodeError` — i.e. the index is after
 *   the whole field (prefix + body, or through the NUL / the fixed size). Code ported from Python that
 *   catches the error and keeps reading sees the same index.
 *
 * The iterator holds a reference to its datagram (Panda issue #1262 does not apply) and reads the
 * datagram's current storage on every call, so writes to the datagram after the iterator was created
 * are visible and a reallocation is harmless.
 *
 * Thread: any.
 * @module
 */

import { DatagramOverrunError, InvalidArgumentError, ValueRangeError } from '../errors.js';
import { checkIndent, checkSize, Datagram, decodeUtf8, describeValue } from './datagram.js';

function overrun(it: DatagramIterator, method: string, size: number): DatagramOverrunError {
  const dg = it._datagram;
  if (dg === null) return new DatagramOverrunError(`${method}: the DatagramIterator has no datagram`);
  return new DatagramOverrunError(
    `${method}: reading ${size} byte(s) at index ${it._index} overruns the datagram (length ${dg._length})`,
  );
}

function noDatagram(method: string): DatagramOverrunError {
  return new DatagramOverrunError(`${method}: the DatagramIterator has no datagram`);
}

/** The error for an invalid `assign`/constructor target or offset. */
function badTarget(datagram: unknown, offset: unknown): InvalidArgumentError | ValueRangeError {
  if (!(datagram instanceof Datagram)) {
    return new InvalidArgumentError(`DatagramIterator.assign: expected a Datagram, got ${describeValue(datagram)}`);
  }
  checkSize('DatagramIterator.assign', offset);
  return new ValueRangeError(`DatagramIterator: offset ${describeValue(offset)} is past the end of the datagram (length ${datagram._length})`);
}

/** libstdc++'s `operator<<(const void*)` for an integer: `0` or `0x…` (Panda prints indexes that way). */
function voidPtr(n: number): string {
  return n === 0 ? '0' : `0x${n.toString(16)}`;
}

/**
 * Reads fields sequentially from a {@link Datagram}: Panda3D's `DatagramIterator`.
 *
 * Numeric getters read straight from the datagram's `DataView` and allocate nothing; 64-bit getters
 * return exact `bigint`s; string getters decode strict UTF-8; byte getters return copies.
 *
 * Thread: any (a plain value object).
 */
export class DatagramIterator {
  /** The datagram being read, or null. @internal */
  _datagram: Datagram | null;
  /** Current read offset. @internal */
  _index: number;

  /**
   * `new DatagramIterator()` has no datagram (every read throws until {@link DatagramIterator.assign});
   * `new DatagramIterator(dg, offset)` starts reading at `offset`. An offset that is not an integer in
   * `[0, dg.getLength()]` throws `ValueRangeError` (Panda asserts but still builds the iterator).
   *
   * Thread: any.
   */
  constructor(datagram?: Datagram, offset = 0) {
    this._datagram = null;
    this._index = 0;
    if (datagram === undefined || datagram === null) {
      if (offset !== 0) throw new ValueRangeError(`DatagramIterator: offset ${describeValue(offset)} given without a datagram`);
      return;
    }
    this.assign(datagram, offset);
  }

  /**
   * Re-targets the iterator at `datagram`, reading from `offset` (default 0). Validation as in the
   * constructor; on error the iterator is unchanged. Returns `this`. Thread: any.
   */
  assign(datagram: Datagram, offset = 0): this {
    if (!(datagram instanceof Datagram) || typeof offset !== 'number' || offset >>> 0 !== offset || offset > datagram._length) {
      throw badTarget(datagram, offset);
    }
    this._datagram = datagram;
    this._index = offset;
    return this;
  }

  // ---------------------------------------------------------------------------------------------
  // fixed-size getters: on overrun the index does not move

  /** Reads 1 byte; true when non-zero. Thread: any. */
  getBool(): boolean {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 1 > dg._length) throw overrun(this, 'getBool', 1);
    this._index = i + 1;
    return dg._bytes[i] !== 0;
  }

  /** Reads a signed 8-bit integer. Thread: any. */
  getInt8(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 1 > dg._length) throw overrun(this, 'getInt8', 1);
    this._index = i + 1;
    return (dg._bytes[i]! << 24) >> 24;
  }

  /** Reads an unsigned 8-bit integer. Thread: any. */
  getUint8(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 1 > dg._length) throw overrun(this, 'getUint8', 1);
    this._index = i + 1;
    return dg._bytes[i]!;
  }

  /** Reads a little-endian signed 16-bit integer. Thread: any. */
  getInt16(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 2 > dg._length) throw overrun(this, 'getInt16', 2);
    this._index = i + 2;
    return dg._view.getInt16(i, true);
  }

  /** Reads a little-endian unsigned 16-bit integer. Thread: any. */
  getUint16(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 2 > dg._length) throw overrun(this, 'getUint16', 2);
    this._index = i + 2;
    return dg._view.getUint16(i, true);
  }

  /** Reads a little-endian signed 32-bit integer. Thread: any. */
  getInt32(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 4 > dg._length) throw overrun(this, 'getInt32', 4);
    this._index = i + 4;
    return dg._view.getInt32(i, true);
  }

  /** Reads a little-endian unsigned 32-bit integer. Thread: any. */
  getUint32(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 4 > dg._length) throw overrun(this, 'getUint32', 4);
    this._index = i + 4;
    return dg._view.getUint32(i, true);
  }

  /** Reads a little-endian signed 64-bit integer, exactly, as a bigint. Thread: any. */
  getInt64(): bigint {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 8 > dg._length) throw overrun(this, 'getInt64', 8);
    this._index = i + 8;
    return dg._view.getBigInt64(i, true);
  }

  /** Reads a little-endian unsigned 64-bit integer, exactly, as a bigint. Thread: any. */
  getUint64(): bigint {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 8 > dg._length) throw overrun(this, 'getUint64', 8);
    this._index = i + 8;
    return dg._view.getBigUint64(i, true);
  }

  /** Big-endian {@link DatagramIterator.getInt16}. Thread: any. */
  getBeInt16(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 2 > dg._length) throw overrun(this, 'getBeInt16', 2);
    this._index = i + 2;
    return dg._view.getInt16(i, false);
  }

  /** Big-endian {@link DatagramIterator.getUint16}. Thread: any. */
  getBeUint16(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 2 > dg._length) throw overrun(this, 'getBeUint16', 2);
    this._index = i + 2;
    return dg._view.getUint16(i, false);
  }

  /** Big-endian {@link DatagramIterator.getInt32}. Thread: any. */
  getBeInt32(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 4 > dg._length) throw overrun(this, 'getBeInt32', 4);
    this._index = i + 4;
    return dg._view.getInt32(i, false);
  }

  /** Big-endian {@link DatagramIterator.getUint32}. Thread: any. */
  getBeUint32(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 4 > dg._length) throw overrun(this, 'getBeUint32', 4);
    this._index = i + 4;
    return dg._view.getUint32(i, false);
  }

  /** Big-endian {@link DatagramIterator.getInt64}. Thread: any. */
  getBeInt64(): bigint {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 8 > dg._length) throw overrun(this, 'getBeInt64', 8);
    this._index = i + 8;
    return dg._view.getBigInt64(i, false);
  }

  /** Big-endian {@link DatagramIterator.getUint64}. Thread: any. */
  getBeUint64(): bigint {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 8 > dg._length) throw overrun(this, 'getBeUint64', 8);
    this._index = i + 8;
    return dg._view.getBigUint64(i, false);
  }

  /** Reads a little-endian binary32, widened to a number. Thread: any. */
  getFloat32(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 4 > dg._length) throw overrun(this, 'getFloat32', 4);
    this._index = i + 4;
    return dg._view.getFloat32(i, true);
  }

  /** Reads a little-endian binary64. Thread: any. */
  getFloat64(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 8 > dg._length) throw overrun(this, 'getFloat64', 8);
    this._index = i + 8;
    return dg._view.getFloat64(i, true);
  }

  /** Big-endian {@link DatagramIterator.getFloat32}. Thread: any. */
  getBeFloat32(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 4 > dg._length) throw overrun(this, 'getBeFloat32', 4);
    this._index = i + 4;
    return dg._view.getFloat32(i, false);
  }

  /** Big-endian {@link DatagramIterator.getFloat64}. Thread: any. */
  getBeFloat64(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 8 > dg._length) throw overrun(this, 'getBeFloat64', 8);
    this._index = i + 8;
    return dg._view.getFloat64(i, false);
  }

  /**
   * Reads a float32, or a float64 when the **datagram's** `stdfloatDouble` flag is set (read at call
   * time). Thread: any.
   */
  getStdfloat(): number {
    const dg = this._datagram;
    if (dg !== null && dg._stdfloatDouble) return this.getFloat64();
    return this.getFloat32();
  }

  /** Reads a little-endian int16 without advancing (Panda 1.11+). Thread: any. */
  peekInt16(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 2 > dg._length) throw overrun(this, 'peekInt16', 2);
    return dg._view.getInt16(i, true);
  }

  /** Reads a little-endian uint16 without advancing (Panda 1.11+). Thread: any. */
  peekUint16(): number {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + 2 > dg._length) throw overrun(this, 'peekUint16', 2);
    return dg._view.getUint16(i, true);
  }

  // ---------------------------------------------------------------------------------------------
  // strings

  /**
   * Reads `uint16 LE n` + n bytes of strict UTF-8. Overrun of the body: the prefix stays consumed.
   * Invalid UTF-8: `InvalidUtf8Error` with the whole field consumed (see the module notes).
   * Thread: any.
   */
  getString(): string {
    const dg = this._datagram;
    let i = this._index;
    if (dg === null || i + 2 > dg._length) throw overrun(this, 'getString', 2);
    const n = dg._view.getUint16(i, true);
    i += 2;
    this._index = i;
    if (i + n > dg._length) throw overrun(this, 'getString', n);
    this._index = i + n;
    return decodeUtf8(dg._bytes, i, i + n, 'getString');
  }

  /** Reads `uint32 LE n` + n bytes of strict UTF-8; rules as {@link DatagramIterator.getString}. Thread: any. */
  getString32(): string {
    const dg = this._datagram;
    let i = this._index;
    if (dg === null || i + 4 > dg._length) throw overrun(this, 'getString32', 4);
    const n = dg._view.getUint32(i, true);
    i += 4;
    this._index = i;
    if (i + n > dg._length) throw overrun(this, 'getString32', n);
    this._index = i + n;
    return decodeUtf8(dg._bytes, i, i + n, 'getString32');
  }

  /**
   * Reads bytes up to a `00` terminator (consumed) as strict UTF-8. No terminator before the end:
   * `DatagramOverrunError`, index unchanged. Thread: any.
   */
  getZString(): string {
    const dg = this._datagram;
    const i = this._index;
    if (dg === null) throw noDatagram('getZString');
    const len = dg._length;
    const z = i < len ? dg._bytes.indexOf(0, i) : -1;
    if (z < 0 || z >= len) {
      throw new DatagramOverrunError(`getZString: no NUL terminator between index ${i} and the end of the datagram (length ${len})`);
    }
    this._index = z + 1;
    return decodeUtf8(dg._bytes, i, z, 'getZString');
  }

  /**
   * Reads exactly `size` bytes and returns the part before the first `00`, as strict UTF-8. Overrun:
   * index unchanged. `size` 0 at the end succeeds (`""`). Thread: any.
   */
  getFixedString(size: number): string {
    checkSize('getFixedString', size);
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + size > dg._length) throw overrun(this, 'getFixedString', size);
    this._index = i + size;
    const b = dg._bytes;
    let e = i;
    const end = i + size;
    while (e < end && b[e] !== 0) e++;
    return decodeUtf8(b, i, e, 'getFixedString');
  }

  /**
   * Reads `uint32 LE count` + count UTF-16 code units (`uint16 LE` each) into a string. Unpaired
   * surrogates are kept as they are (Panda can produce them too). Overrun of the body: the count
   * stays consumed. Thread: any.
   */
  getWstring(): string {
    const dg = this._datagram;
    let i = this._index;
    if (dg === null || i + 4 > dg._length) throw overrun(this, 'getWstring', 4);
    const count = dg._view.getUint32(i, true);
    i += 4;
    this._index = i;
    if (i + 2 * count > dg._length) throw overrun(this, 'getWstring', 2 * count);
    const view = dg._view;
    let s = '';
    const units: number[] = [];
    for (let k = 0; k < count; k++) {
      units.push(view.getUint16(i + 2 * k, true));
      if (units.length === 4096) {
        s += String.fromCharCode(...units);
        units.length = 0;
      }
    }
    if (units.length > 0) s += String.fromCharCode(...units);
    this._index = i + 2 * count;
    return s;
  }

  // ---------------------------------------------------------------------------------------------
  // bytes

  /** Reads `uint16 LE n` + n bytes; returns a copy. Overrun of the body: prefix consumed. Thread: any. */
  getBlob(): Uint8Array {
    const dg = this._datagram;
    let i = this._index;
    if (dg === null || i + 2 > dg._length) throw overrun(this, 'getBlob', 2);
    const n = dg._view.getUint16(i, true);
    i += 2;
    this._index = i;
    if (i + n > dg._length) throw overrun(this, 'getBlob', n);
    this._index = i + n;
    return dg._bytes.slice(i, i + n);
  }

  /** Reads `uint32 LE n` + n bytes; returns a copy. Overrun of the body: prefix consumed. Thread: any. */
  getBlob32(): Uint8Array {
    const dg = this._datagram;
    let i = this._index;
    if (dg === null || i + 4 > dg._length) throw overrun(this, 'getBlob32', 4);
    const n = dg._view.getUint32(i, true);
    i += 4;
    this._index = i;
    if (i + n > dg._length) throw overrun(this, 'getBlob32', n);
    this._index = i + n;
    return dg._bytes.slice(i, i + n);
  }

  /** Advances by `size` bytes. Overrun: index unchanged. `skipBytes(0)` at the end succeeds. Thread: any. */
  skipBytes(size: number): void {
    checkSize('skipBytes', size);
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + size > dg._length) throw overrun(this, 'skipBytes', size);
    this._index = i + size;
  }

  /** Reads `size` bytes and returns a copy. Overrun: index unchanged. Thread: any. */
  extractBytes(size: number): Uint8Array {
    checkSize('extractBytes', size);
    const dg = this._datagram;
    const i = this._index;
    if (dg === null || i + size > dg._length) throw overrun(this, 'extractBytes', size);
    this._index = i + size;
    return dg._bytes.slice(i, i + size);
  }

  /** A copy of the bytes from the index to the end; does **not** advance. Thread: any. */
  getRemainingBytes(): Uint8Array {
    const dg = this._datagram;
    if (dg === null) throw noDatagram('getRemainingBytes');
    const i = this._index;
    return i >= dg._length ? new Uint8Array(0) : dg._bytes.slice(i, dg._length);
  }

  /**
   * `length − index` (0 if the datagram has since shrunk below the index). Throws
   * `DatagramOverrunError` without a datagram (Panda crashes). Thread: any.
   */
  getRemainingSize(): number {
    const dg = this._datagram;
    if (dg === null) throw noDatagram('getRemainingSize');
    const r = dg._length - this._index;
    return r > 0 ? r : 0;
  }

  /** The current read offset. Thread: any. */
  getCurrentIndex(): number {
    return this._index;
  }

  /** The datagram being read, or null when there is none. Thread: any. */
  getDatagram(): Datagram | null {
    return this._datagram;
  }

  /**
   * Panda's `write(out, indent)`, as a Linux (libstdc++) build prints it: `DatagramIterator:`, then
   * indented by 2 more, `_current_index N (of L) / 0x<N> (of 0x<L>)` where `<N>` is printed like a
   * C++ `void*` (`0` or `0x…`, hence e.g. `0x0x14`), then the datagram's `write` at indent + 2.
   * Without a datagram the second line ends ` (_datagram is null)`. Thread: any.
   */
  write(indent = 0): string {
    checkIndent('write', indent);
    const dg = this._datagram;
    let out = `${' '.repeat(indent)}DatagramIterator:\n${' '.repeat(indent + 2)}_current_index ${this._index}`;
    if (dg === null) return `${out} (_datagram is null)\n`;
    out += ` (of ${dg._length}) / 0x${voidPtr(this._index)} (of 0x${voidPtr(dg._length)})\n`;
    return out + dg.write(indent + 2);
  }

  /** Same as `write(0)` (Python's `str(iterator)`). Thread: any. */
  toString(): string {
    return this.write(0);
  }
}
