/**
 * `PyDatagram`: the `direct.distributed` helper subclass of {@link Datagram} (spec §8.2–8.3): message
 * headers for Panda's distributed-object servers and `putArg`, which writes a value by sub-atomic
 * type code, optionally as fixed point (`value × divisor`, rounded half-to-even like Python 3).
 *
 * Where upstream Python is broken we implement the documented intent (quirk Q19):
 * - `addOldServerHeader` writes `uint64 channel · uint64 sender · uint64 65 ('A') · uint16 code`
 *   (upstream passes the string `'A'` to `addUint64` and raises `TypeError` after 16 bytes).
 * - Every array type, including the 8-bit arrays and `STUint32uint8array` (pairs given as
 *   `[uint32, uint8]`), is prefixed with a `uint16` **byte** length, with or without a divisor;
 *   `PyDatagramIterator.getArg` reads exactly that back (upstream reads an 8-bit count for 8-bit
 *   arrays with a divisor, and cannot read `STUint32uint8array` on Python 3).
 *
 * Other choices: `putArg` is atomic (on any error nothing is appended; upstream may leave a partial
 * array); a divisor must be a finite non-zero number; an unknown type code throws `PandaNetError` with
 * code `NO_SUCH_TYPE` and Python's message `Error: No such type as: <n>` (also when a divisor is given,
 * where upstream words it "type does not accept divisor").
 *
 * Thread: any.
 * @module
 */

import { ErrorCode, InvalidArgumentError, PandaNetError, TooLongError, ValueRangeError } from '../errors.js';
import { Datagram, describeValue } from './datagram.js';
import { CONTROL_CHANNEL, SubatomicType } from './subatomic-type.js';

/**
 * Python 3's `round(x)` for a float: nearest integer, ties to even (2.5 → 2, 3.5 → 4, −2.5 → −2),
 * applied to the exact binary value of `x` (so `round(0.35 * 10)` is 4 because `0.35 * 10 === 3.5`).
 * Non-finite input throws `ValueRangeError` (Python raises `OverflowError` / `ValueError`). Never
 * returns −0.
 *
 * Thread: any.
 */
export function pythonRound(x: number): number {
  if (typeof x !== 'number') throw new InvalidArgumentError(`pythonRound: expected a number, got ${describeValue(x)}`);
  if (!Number.isFinite(x)) throw new ValueRangeError(`pythonRound: cannot round ${x} to an integer`);
  const f = Math.floor(x);
  const frac = x - f; // exact for every finite double
  let r: number;
  if (frac > 0.5) r = f + 1;
  else if (frac < 0.5) r = f;
  else r = f % 2 === 0 ? f : f + 1;
  return r + 0; // −0 → 0
}

/** A pair written by `STUint32uint8array`: `[uint32, uint8]`. Thread: any. */
export type Uint32Uint8Pair = readonly [number | bigint, number | bigint];

/**
 * What `putArg` accepts: numbers/bigints for the integer types and `STFloat64`, a string for
 * `STString`, bytes for `STBlob`/`STBlob32`, an array (or typed array) for the array types, an array
 * of `[uint32, uint8]` pairs for `STUint32uint8array`. Thread: any.
 */
export type PutArgValue =
  | number
  | bigint
  | string
  | Uint8Array
  | ArrayLike<number | bigint>
  | ArrayLike<Uint32Uint8Pair>;

/** @internal Throws unless `divisor` is a finite non-zero number. Thread: any. */
export function checkDivisor(method: string, divisor: unknown): number {
  if (typeof divisor !== 'number' || !Number.isFinite(divisor) || divisor === 0) {
    throw new InvalidArgumentError(`${method}: the divisor must be a finite non-zero number, got ${describeValue(divisor)}`);
  }
  return divisor;
}

/** @internal The `NO_SUCH_TYPE` error, with Python's message. Thread: any. */
export function noSuchType(subatomicType: unknown): PandaNetError {
  const shown = typeof subatomicType === 'number' || typeof subatomicType === 'string' ? String(subatomicType) : describeValue(subatomicType);
  return new PandaNetError(ErrorCode.NO_SUCH_TYPE, `Error: No such type as: ${shown}`);
}

/** Python's `int(x)` (divisor 1) or `int(round(x * divisor))`, for a scalar integer argument. */
function toInteger(arg: unknown, divisor: number): number | bigint {
  if (typeof arg === 'number') return divisor === 1 ? Math.trunc(arg) + 0 : pythonRound(arg * divisor);
  if (typeof arg === 'bigint') {
    if (divisor === 1) return arg;
    return Number.isInteger(divisor) ? arg * BigInt(divisor) : pythonRound(Number(arg) * divisor);
  }
  throw new InvalidArgumentError(`putArg: expected a number or a bigint, got ${describeValue(arg)}`);
}

/** {@link toInteger} for fields of 32 bits or less (their writers take numbers). */
function toSmallInteger(arg: unknown, divisor: number): number {
  const v = toInteger(arg, divisor);
  return typeof v === 'bigint' ? Number(v) : v;
}

function asList(arg: unknown): ArrayLike<unknown> {
  if (Array.isArray(arg)) return arg;
  if (ArrayBuffer.isView(arg) && !(arg instanceof DataView)) return arg as unknown as ArrayLike<unknown>;
  throw new InvalidArgumentError(`putArg: expected an array, got ${describeValue(arg)}`);
}

/**
 * A {@link Datagram} with Panda's `direct.distributed` helpers: `addChannel`, server headers and
 * `putArg`. All base methods are available.
 *
 * Thread: any (a plain value object).
 */
export class PyDatagram extends Datagram {
  /** An independent copy, as a `PyDatagram`. Thread: any. */
  override copy(): PyDatagram {
    return new PyDatagram(this);
  }

  /** Appends a channel id: alias of `addUint64` (8 bytes LE). Thread: any. */
  addChannel(channel: number | bigint): void {
    this.addUint64(channel);
  }

  /**
   * Appends an Astron-style server header: `int8 1` (recipient count) · `uint64 channel` ·
   * `uint64 sender` · `uint16 code` (19 bytes). Atomic: on a bad argument nothing is appended.
   * Thread: any.
   */
  addServerHeader(channel: number | bigint, sender: number | bigint, code: number): void {
    const start = this._length;
    try {
      this.addInt8(1);
      this.addChannel(channel);
      this.addChannel(sender);
      this.addUint16(code);
    } catch (err) {
      this._length = start;
      throw err;
    }
  }

  /**
   * Appends a control header: `int8 1` · `uint64 CONTROL_CHANNEL (1)` · `uint16 code` (11 bytes).
   * Thread: any.
   */
  addServerControlHeader(code: number): void {
    const start = this._length;
    try {
      this.addInt8(1);
      this.addChannel(CONTROL_CHANNEL);
      this.addUint16(code);
    } catch (err) {
      this._length = start;
      throw err;
    }
  }

  /**
   * Appends the legacy header as upstream intended: `uint64 channel` · `uint64 sender` ·
   * `uint64 65` (the character `'A'`) · `uint16 code` (26 bytes). Upstream raises `TypeError` after
   * the first 16 bytes on Python 3; this is the fix (quirk Q19). Atomic. Thread: any.
   */
  addOldServerHeader(channel: number | bigint, sender: number | bigint, code: number): void {
    const start = this._length;
    try {
      this.addChannel(channel);
      this.addChannel(sender);
      this.addChannel(0x41);
      this.addUint16(code);
    } catch (err) {
      this._length = start;
      throw err;
    }
  }

  /**
   * Appends `arg` encoded as `subatomicType` (spec §8.3). With `divisor` ≠ 1 numbers are written as
   * fixed point: `pythonRound(arg × divisor)` (for `STFloat64` too, which then stores an integral
   * float). Integer arguments are truncated toward zero like Python's `int()` when `divisor` is 1.
   *
   * Arrays: `uint16` byte length (`count × element size`; 5 per `STUint32uint8array` pair), then the
   * elements little-endian. More than 65535 bytes: `TooLongError`.
   *
   * Errors (nothing is appended on any of them): `ValueRangeError` for a value out of its field's
   * range, `InvalidArgumentError` for a wrong argument kind, a bad divisor, or a divisor with
   * `STString`/`STBlob`/`STBlob32`; `PandaNetError` code `NO_SUCH_TYPE` for `STChar`, `STInvalid` or
   * any other code.
   *
   * Thread: any.
   */
  putArg(arg: PutArgValue, subatomicType: SubatomicType | number, divisor = 1): void {
    checkDivisor('putArg', divisor);
    const start = this._length;
    try {
      this._putArg(arg, subatomicType, divisor);
    } catch (err) {
      this._length = start;
      throw err;
    }
  }

  private _putArg(arg: unknown, t: unknown, divisor: number): void {
    switch (t) {
      case SubatomicType.STInt8:
        return this.addInt8(toSmallInteger(arg, divisor));
      case SubatomicType.STInt16:
        return this.addInt16(toSmallInteger(arg, divisor));
      case SubatomicType.STInt32:
        return this.addInt32(toSmallInteger(arg, divisor));
      case SubatomicType.STInt64:
        return this.addInt64(toInteger(arg, divisor));
      case SubatomicType.STUint8:
        return this.addUint8(toSmallInteger(arg, divisor));
      case SubatomicType.STUint16:
        return this.addUint16(toSmallInteger(arg, divisor));
      case SubatomicType.STUint32:
        return this.addUint32(toSmallInteger(arg, divisor));
      case SubatomicType.STUint64:
        return this.addUint64(toInteger(arg, divisor));
      case SubatomicType.STFloat64: {
        let v: number;
        if (typeof arg === 'number') v = arg;
        else if (typeof arg === 'bigint') v = Number(arg);
        else throw new InvalidArgumentError(`putArg: STFloat64 expects a number, got ${describeValue(arg)}`);
        return this.addFloat64(divisor === 1 ? v : pythonRound(v * divisor));
      }
      case SubatomicType.STString:
        if (divisor !== 1) throw new InvalidArgumentError('putArg: STString does not accept a divisor');
        return this.addString(arg as string);
      case SubatomicType.STBlob:
        if (divisor !== 1) throw new InvalidArgumentError('putArg: STBlob does not accept a divisor');
        return this.addBlob(arg as Uint8Array);
      case SubatomicType.STBlob32:
        if (divisor !== 1) throw new InvalidArgumentError('putArg: STBlob32 does not accept a divisor');
        return this.addBlob32(arg as Uint8Array);
      case SubatomicType.STInt8array:
        return this._putArray(arg, 1, divisor, (v) => this.addInt8(v));
      case SubatomicType.STUint8array:
        return this._putArray(arg, 1, divisor, (v) => this.addUint8(v));
      case SubatomicType.STInt16array:
        return this._putArray(arg, 2, divisor, (v) => this.addInt16(v));
      case SubatomicType.STUint16array:
        return this._putArray(arg, 2, divisor, (v) => this.addUint16(v));
      case SubatomicType.STInt32array:
        return this._putArray(arg, 4, divisor, (v) => this.addInt32(v));
      case SubatomicType.STUint32array:
        return this._putArray(arg, 4, divisor, (v) => this.addUint32(v));
      case SubatomicType.STUint32uint8array: {
        const list = asList(arg);
        this._putArrayPrefix(list.length, 5);
        for (let k = 0; k < list.length; k++) {
          const pair = list[k] as ArrayLike<unknown> | null | undefined;
          if (pair === null || typeof pair !== 'object' || !(pair.length >= 2)) {
            throw new InvalidArgumentError(`putArg: STUint32uint8array element ${k} is not a [uint32, uint8] pair`);
          }
          this.addUint32(toSmallInteger(pair[0], divisor));
          this.addUint8(toSmallInteger(pair[1], divisor));
        }
        return;
      }
      default:
        throw noSuchType(t);
    }
  }

  private _putArrayPrefix(count: number, size: number): void {
    const bytes = count * size;
    if (bytes > 0xffff) {
      throw new TooLongError(`putArg: ${count} elements take ${bytes} bytes; the uint16 length prefix allows 65535`);
    }
    this.addUint16(bytes);
  }

  private _putArray(arg: unknown, size: number, divisor: number, add: (v: number) => void): void {
    const list = asList(arg);
    this._putArrayPrefix(list.length, size);
    for (let k = 0; k < list.length; k++) add(toSmallInteger(list[k], divisor));
  }
}
