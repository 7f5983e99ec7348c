/**
 * `PyDatagramIterator`: the `direct.distributed` helper subclass of {@link DatagramIterator}
 * (spec §8.3–8.4): `getChannel` and `getArg`, the exact inverse of `PyDatagram.putArg`.
 *
 * Upstream bugs not replicated (quirk Q19): every array is read with a `uint16` byte-length prefix
 * (upstream reads a `uint8` count for 8-bit arrays when a divisor is given) and `STUint32uint8array`
 * is readable (upstream computes a float count on Python 3 and raises).
 *
 * Thread: any.
 * @module
 */

import { DatagramOverrunError, InvalidArgumentError } from '../errors.js';
import { DatagramIterator } from './datagram-iterator.js';
import { checkDivisor, noSuchType } from './py-datagram.js';
import { SubatomicType } from './subatomic-type.js';

/**
 * What `getArg` returns: a number for the ≤32-bit integer types and `STFloat64`; a bigint for
 * `STInt64`/`STUint64` (a number when a divisor is given); a string for `STString`; a `Uint8Array`
 * for `STBlob`/`STBlob32`; a `number[]` for the arrays; `[number, number][]` for
 * `STUint32uint8array`. Thread: any.
 */
export type GetArgValue = number | bigint | string | Uint8Array | number[] | Array<[number, number]>;

/**
 * A {@link DatagramIterator} with Panda's `direct.distributed` helpers. It holds a reference to its
 * datagram (as Panda 1.11 does since issue #1262). All base methods are available.
 *
 * Thread: any (a plain value object).
 */
export class PyDatagramIterator extends DatagramIterator {
  /** Reads a channel id: alias of `getUint64` (exact bigint). Thread: any. */
  getChannel(): bigint {
    return this.getUint64();
  }

  /**
   * Reads a value written by `PyDatagram.putArg(value, subatomicType, divisor)`. With `divisor` ≠ 1
   * numeric results are divided by it (64-bit values are converted to a number first, as Python's
   * `int / float` does). Arrays: the `uint16` byte-length prefix is consumed first; if the elements
   * then overrun, `DatagramOverrunError` is thrown with the index just after the prefix (the rule of
   * `getBlob`). A prefix that is not a multiple of the element size reads `floor(prefix / size)`
   * elements and leaves the remainder unread, as upstream does.
   *
   * Errors: `DatagramOverrunError`; `InvalidUtf8Error` (`STString`); `InvalidArgumentError` for a bad
   * divisor or a divisor with `STString`/`STBlob`/`STBlob32` (index unchanged; upstream would
   * consume the string and then raise `TypeError`); `PandaNetError` code `NO_SUCH_TYPE` for other
   * type codes (index unchanged).
   *
   * Thread: any.
   */
  getArg(subatomicType: SubatomicType | number, divisor = 1): GetArgValue {
    checkDivisor('getArg', divisor);
    const scaled = divisor !== 1;
    switch (subatomicType) {
      case SubatomicType.STInt8:
        return scaled ? this.getInt8() / divisor : this.getInt8();
      case SubatomicType.STInt16:
        return scaled ? this.getInt16() / divisor : this.getInt16();
      case SubatomicType.STInt32:
        return scaled ? this.getInt32() / divisor : this.getInt32();
      case SubatomicType.STInt64:
        return scaled ? Number(this.getInt64()) / divisor : this.getInt64();
      case SubatomicType.STUint8:
        return scaled ? this.getUint8() / divisor : this.getUint8();
      case SubatomicType.STUint16:
        return scaled ? this.getUint16() / divisor : this.getUint16();
      case SubatomicType.STUint32:
        return scaled ? this.getUint32() / divisor : this.getUint32();
      case SubatomicType.STUint64:
        return scaled ? Number(this.getUint64()) / divisor : this.getUint64();
      case SubatomicType.STFloat64:
        return scaled ? this.getFloat64() / divisor : this.getFloat64();
      case SubatomicType.STString:
        if (scaled) throw new InvalidArgumentError('getArg: STString does not accept a divisor');
        return this.getString();
      case SubatomicType.STBlob:
        if (scaled) throw new InvalidArgumentError('getArg: STBlob does not accept a divisor');
        return this.getBlob();
      case SubatomicType.STBlob32:
        if (scaled) throw new InvalidArgumentError('getArg: STBlob32 does not accept a divisor');
        return this.getBlob32();
      case SubatomicType.STInt8array:
        return this._getArray(1, divisor, () => this.getInt8());
      case SubatomicType.STUint8array:
        return this._getArray(1, divisor, () => this.getUint8());
      case SubatomicType.STInt16array:
        return this._getArray(2, divisor, () => this.getInt16());
      case SubatomicType.STUint16array:
        return this._getArray(2, divisor, () => this.getUint16());
      case SubatomicType.STInt32array:
        return this._getArray(4, divisor, () => this.getInt32());
      case SubatomicType.STUint32array:
        return this._getArray(4, divisor, () => this.getUint32());
      case SubatomicType.STUint32uint8array: {
        const count = this._arrayPrefix(5);
        const out: Array<[number, number]> = [];
        for (let k = 0; k < count; k++) {
          const a = this.getUint32();
          const b = this.getUint8();
          out.push(scaled ? [a / divisor, b / divisor] : [a, b]);
        }
        return out;
      }
      default:
        throw noSuchType(subatomicType);
    }
  }

  /** Consumes the uint16 byte-length prefix; returns the element count after checking the body fits. */
  private _arrayPrefix(size: number): number {
    const bytes = this.getUint16();
    const count = Math.floor(bytes / size);
    const remaining = this.getRemainingSize();
    if (count * size > remaining) {
      throw new DatagramOverrunError(
        `getArg: ${count} array elements (${count * size} bytes) at index ${this._index} overrun the datagram (${remaining} bytes left)`,
      );
    }
    return count;
  }

  private _getArray(size: number, divisor: number, get: () => number): number[] {
    const count = this._arrayPrefix(size);
    const out = new Array<number>(count);
    for (let k = 0; k < count; k++) out[k] = divisor === 1 ? get() : get() / divisor;
    return out;
  }
}
