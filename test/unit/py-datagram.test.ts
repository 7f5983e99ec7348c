/**
 * PyDatagram / PyDatagramIterator: spec §12 items 20–21, the §8.1 constants, server headers, and
 * putArg/getArg round trips for every sub-atomic type, with and without a divisor (documented intent
 * per quirk Q19: uint16 byte-length prefixes for every array type).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONTROL_CHANNEL,
  Datagram,
  DatagramIterator,
  PyDatagram,
  PyDatagramIterator,
  pythonRound,
  STBlob,
  STBlob32,
  STChar,
  STFloat64,
  STInt16,
  STInt16array,
  STInt32,
  STInt32array,
  STInt64,
  STInt8,
  STInt8array,
  STInvalid,
  STString,
  STUint16,
  STUint16array,
  STUint32,
  STUint32array,
  STUint32uint8array,
  STUint64,
  STUint8,
  STUint8array,
  SubatomicType,
} from '../../src/datagram/index.js';
import {
  DatagramOverrunError,
  ErrorCode,
  InvalidArgumentError,
  PandaNetError,
  TooLongError,
  ValueRangeError,
} from '../../src/errors.js';

function hex(d: Datagram | Uint8Array): string {
  const b = d instanceof Datagram ? d.getMessage() : d;
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

function put(arg: Parameters<PyDatagram['putArg']>[0], t: number, divisor?: number): PyDatagram {
  const d = new PyDatagram();
  d.putArg(arg, t, divisor);
  return d;
}

function expectUnchanged(dg: Datagram, fn: () => unknown, check: (e: unknown) => void): void {
  const before = hex(dg);
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'should throw').toBeDefined();
  check(thrown);
  expect(hex(dg)).toBe(before);
}

describe('§8.1 constants', () => {
  it('match the DCSubatomicType table', () => {
    expect(SubatomicType).toEqual({
      STInt8: 0, STInt16: 1, STInt32: 2, STInt64: 3, STUint8: 4, STUint16: 5, STUint32: 6, STUint64: 7,
      STFloat64: 8, STString: 9, STBlob: 10, STBlob32: 11, STInt16array: 12, STInt32array: 13,
      STUint16array: 14, STUint32array: 15, STInt8array: 16, STUint8array: 17, STUint32uint8array: 18,
      STChar: 19, STInvalid: 20,
    });
    const individual = {
      STInt8, STInt16, STInt32, STInt64, STUint8, STUint16, STUint32, STUint64, STFloat64, STString, STBlob,
      STBlob32, STInt16array, STInt32array, STUint16array, STUint32array, STInt8array, STUint8array,
      STUint32uint8array, STChar, STInvalid,
    };
    expect(individual).toEqual(SubatomicType);
    expect(CONTROL_CHANNEL).toBe(1);
  });
});

describe('headers and channels (§8.2, §12 item 20)', () => {
  it('item 20: addServerHeader(0x1122334455667788, 5, 0x0102)', () => {
    const d = new PyDatagram();
    d.addServerHeader(0x1122334455667788n, 5, 0x0102);
    expect(hex(d)).toBe('01 88 77 66 55 44 33 22 11 05 00 00 00 00 00 00 00 02 01');
    const it = new PyDatagramIterator(d);
    expect(it.getInt8()).toBe(1);
    expect(it.getChannel()).toBe(0x1122334455667788n);
    expect(it.getChannel()).toBe(5n);
    expect(it.getUint16()).toBe(0x0102);
  });

  it('addServerControlHeader writes int8 1, CONTROL_CHANNEL, code (11 bytes)', () => {
    const d = new PyDatagram();
    d.addServerControlHeader(2001);
    expect(hex(d)).toBe('01 01 00 00 00 00 00 00 00 d1 07');
  });

  it('addOldServerHeader writes the intended layout with uint64 65 for "A" (Q19 fix)', () => {
    const d = new PyDatagram();
    d.addOldServerHeader(7, 9n, 0x0304);
    expect(hex(d)).toBe('07 00 00 00 00 00 00 00 09 00 00 00 00 00 00 00 41 00 00 00 00 00 00 00 04 03');
    expect(d.getLength()).toBe(26);
  });

  it('headers are atomic: a bad argument appends nothing', () => {
    const d = new PyDatagram(Uint8Array.of(0xaa));
    expectUnchanged(d, () => d.addServerHeader(1, 2, 70000), (e) => expect(e).toBeInstanceOf(ValueRangeError));
    expectUnchanged(d, () => d.addServerHeader(1, -2, 1), (e) => expect(e).toBeInstanceOf(ValueRangeError));
    expectUnchanged(d, () => d.addOldServerHeader(1, 2, -1), (e) => expect(e).toBeInstanceOf(ValueRangeError));
    expectUnchanged(d, () => d.addServerControlHeader(1.5), (e) => expect(e).toBeInstanceOf(ValueRangeError));
  });

  it('addChannel/getChannel are uint64 (exact bigint)', () => {
    const d = new PyDatagram();
    d.addChannel(18446744073709551615n);
    d.addChannel(4000);
    const it = new PyDatagramIterator(d);
    expect(it.getChannel()).toBe(18446744073709551615n);
    expect(it.getChannel()).toBe(4000n);
  });

  it('PyDatagram keeps the Datagram API; copy() is a PyDatagram; the iterator holds its datagram', () => {
    const d = new PyDatagram();
    d.addString('hi');
    const c = d.copy();
    expect(c).toBeInstanceOf(PyDatagram);
    expect(c.equals(d)).toBe(true);
    const it = new PyDatagramIterator();
    expect(it.getDatagram()).toBeNull();
    it.assign(c, 2);
    expect(it.getDatagram()).toBe(c);
    expect(it.getRemainingBytes()).toEqual(new TextEncoder().encode('hi'));
    expect(new PyDatagramIterator(new Datagram(Uint8Array.of(1, 2)), 1).getUint8()).toBe(2);
  });
});

describe('pythonRound (Python 3 round-half-to-even)', () => {
  it.each([
    [2.5, 2], [3.5, 4], [-2.5, -2], [0.5, 0], [1.5, 2], [-0.5, 0], [-1.5, -2], [0.49999999999999994, 0],
    [2.4, 2], [2.6, 3], [-2.6, -3], [1e300, 1e300], [4503599627370497, 4503599627370497], [0, 0], [-0, 0],
    [0.35 * 10, 4], [0.25 * 10, 2], [2.675 * 100, 268],
  ])('round(%d) = %d', (x, want) => {
    const r = pythonRound(x);
    expect(r).toBe(want);
    expect(Object.is(r, -0)).toBe(false);
  });

  it('rejects non-finite and non-number input', () => {
    expect(() => pythonRound(Infinity)).toThrow(ValueRangeError);
    expect(() => pythonRound(NaN)).toThrow(ValueRangeError);
    expect(() => pythonRound('1' as never)).toThrow(InvalidArgumentError);
  });

  it('agrees with a reference: nearest integer, exact ties to even', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e15, max: 1e15, noNaN: true }), (x) => {
        const r = pythonRound(x);
        expect(Number.isInteger(r)).toBe(true);
        const diff = Math.abs(x - r);
        expect(diff).toBeLessThanOrEqual(0.5);
        if (diff === 0.5) expect(Math.abs(r % 2)).toBe(0);
      }),
    );
  });
});

describe('putArg layouts (§8.3, §12 item 21)', () => {
  it('item 21: int16 array and half-even divisor rounding', () => {
    expect(hex(put([1, 2, 3], STInt16array))).toBe('06 00 01 00 02 00 03 00');
    expect(hex(put(0.25, STInt16, 10))).toBe('02 00');
    expect(hex(put(0.35, STInt16, 10))).toBe('04 00');
  });

  it.each<[string, Parameters<PyDatagram['putArg']>[0], number, number | undefined, string]>([
    ['STInt8', -2, STInt8, undefined, 'fe'],
    ['STInt8 truncates like int()', 3.9, STInt8, undefined, '03'],
    ['STInt8 truncates toward zero', -3.9, STInt8, undefined, 'fd'],
    ['STInt32', -2, STInt32, undefined, 'fe ff ff ff'],
    ['STInt64 bigint', -2n, STInt64, undefined, 'fe ff ff ff ff ff ff ff'],
    ['STUint8', 255, STUint8, undefined, 'ff'],
    ['STUint16', 0x1234, STUint16, undefined, '34 12'],
    ['STUint32', 0xdeadbeef, STUint32, undefined, 'ef be ad de'],
    ['STUint64', 0x0123456789abcdefn, STUint64, undefined, 'ef cd ab 89 67 45 23 01'],
    ['STFloat64', 1.5, STFloat64, undefined, '00 00 00 00 00 00 f8 3f'],
    ['STFloat64 with divisor stores an integral float', 1.25, STFloat64, 2, '00 00 00 00 00 00 00 40'],
    ['STString', 'Hi', STString, undefined, '02 00 48 69'],
    ['STBlob', Uint8Array.of(0, 255), STBlob, undefined, '02 00 00 ff'],
    ['STBlob32', Uint8Array.of(0, 255), STBlob32, undefined, '02 00 00 00 00 ff'],
    ['STInt8array', [-1, 1], STInt8array, undefined, '02 00 ff 01'],
    ['STUint8array', [1, 255], STUint8array, undefined, '02 00 01 ff'],
    ['STUint8array with divisor: uint16 byte length (Q19 intent)', [1.5, 2.5], STUint8array, 2, '02 00 03 05'],
    ['STInt8array with divisor', [-0.5, 0.5], STInt8array, 4, '02 00 fe 02'],
    ['STUint16array', [1, 65535], STUint16array, undefined, '04 00 01 00 ff ff'],
    ['STInt32array', [-1], STInt32array, undefined, '04 00 ff ff ff ff'],
    ['STUint32array', [1, 2], STUint32array, undefined, '08 00 01 00 00 00 02 00 00 00'],
    ['STUint32uint8array', [[1, 2], [0xffffffff, 255]], STUint32uint8array, undefined, '0a 00 01 00 00 00 02 ff ff ff ff ff'],
    ['STUint32uint8array with divisor', [[0.5, 1.5]], STUint32uint8array, 2, '05 00 01 00 00 00 03'],
    ['typed arrays are accepted', Int16Array.of(-1, 2), STInt16array, undefined, '04 00 ff ff 02 00'],
    ['empty array', [], STUint32array, undefined, '00 00'],
  ])('%s', (_name, arg, t, divisor, bytes) => {
    expect(hex(put(arg, t, divisor))).toBe(bytes);
  });
});

describe('putArg / getArg errors', () => {
  it('unknown types throw NO_SUCH_TYPE with Python\'s message; nothing written, nothing read', () => {
    for (const t of [STChar, STInvalid, 21, -1, 2.5]) {
      const d = new PyDatagram(Uint8Array.of(1, 2, 3));
      for (const divisor of [1, 10]) {
        expectUnchanged(d, () => d.putArg(1, t, divisor), (e) => {
          expect(e).toBeInstanceOf(PandaNetError);
          expect((e as PandaNetError).code).toBe(ErrorCode.NO_SUCH_TYPE);
          expect((e as Error).message).toBe(`Error: No such type as: ${t}`);
        });
        const it = new PyDatagramIterator(d);
        expect(() => it.getArg(t, divisor)).toThrow(`Error: No such type as: ${t}`);
        expect(it.getCurrentIndex()).toBe(0);
      }
    }
  });

  it('STString / STBlob / STBlob32 reject a divisor', () => {
    const d = new PyDatagram();
    d.addString('abc');
    for (const [t, arg] of [[STString, 'x'], [STBlob, Uint8Array.of(1)], [STBlob32, Uint8Array.of(1)]] as const) {
      expectUnchanged(d, () => d.putArg(arg, t, 10), (e) => expect(e).toBeInstanceOf(InvalidArgumentError));
      const it = new PyDatagramIterator(d);
      expect(() => it.getArg(t, 10)).toThrow(InvalidArgumentError);
      expect(it.getCurrentIndex()).toBe(0);
    }
  });

  it('a bad divisor throws InvalidArgumentError', () => {
    const d = new PyDatagram();
    for (const divisor of [0, NaN, Infinity, '2' as never]) {
      expectUnchanged(d, () => d.putArg(1, STInt8, divisor), (e) => expect(e).toBeInstanceOf(InvalidArgumentError));
      expect(() => new PyDatagramIterator(d).getArg(STInt8, divisor)).toThrow(InvalidArgumentError);
    }
  });

  it('is atomic: an out-of-range array element or wrong element kind appends nothing', () => {
    const d = new PyDatagram(Uint8Array.of(0xaa));
    expectUnchanged(d, () => d.putArg([1, 2, 300], STUint8array), (e) => expect(e).toBeInstanceOf(ValueRangeError));
    expectUnchanged(d, () => d.putArg([1, 'x' as never], STInt16array), (e) => expect(e).toBeInstanceOf(InvalidArgumentError));
    expectUnchanged(d, () => d.putArg([[1, 2], [3]] as never, STUint32uint8array), (e) => expect(e).toBeInstanceOf(InvalidArgumentError));
    expectUnchanged(d, () => d.putArg([[1, 256]], STUint32uint8array), (e) => expect(e).toBeInstanceOf(ValueRangeError));
    expectUnchanged(d, () => d.putArg(5 as never, STInt32array), (e) => expect(e).toBeInstanceOf(InvalidArgumentError));
    expectUnchanged(d, () => d.putArg(128, STInt8), (e) => expect(e).toBeInstanceOf(ValueRangeError));
    expectUnchanged(d, () => d.putArg(-1, STUint64), (e) => expect(e).toBeInstanceOf(ValueRangeError));
    expectUnchanged(d, () => d.putArg('1' as never, STInt8), (e) => expect(e).toBeInstanceOf(InvalidArgumentError));
    expectUnchanged(d, () => d.putArg(1 as never, STString), (e) => expect(e).toBeInstanceOf(InvalidArgumentError));
    expectUnchanged(d, () => d.putArg(Infinity, STInt32, 2), (e) => expect(e).toBeInstanceOf(ValueRangeError));
  });

  it('an array whose byte length exceeds the uint16 prefix throws TooLongError', () => {
    const d = new PyDatagram();
    d.putArg(new Array<number>(32767).fill(1), STInt16array); // 65534 bytes: fine
    const before = d.getLength();
    expect(() => d.putArg(new Array<number>(32768).fill(1), STInt16array)).toThrow(TooLongError);
    expect(() => d.putArg(new Array<[number, number]>(13108).fill([1, 1]), STUint32uint8array)).toThrow(TooLongError);
    expect(d.getLength()).toBe(before);
  });

  it('getArg on a truncated array consumes the prefix, then throws', () => {
    const d = new PyDatagram();
    d.addUint16(6); // three int16 announced
    d.addInt16(1);
    const it = new PyDatagramIterator(d);
    expect(() => it.getArg(STInt16array)).toThrow(DatagramOverrunError);
    expect(it.getCurrentIndex()).toBe(2);
    const short = new PyDatagramIterator(new Datagram(Uint8Array.of(1)));
    expect(() => short.getArg(STUint8array)).toThrow(DatagramOverrunError);
    expect(short.getCurrentIndex()).toBe(0);
  });

  it('a prefix that is not a multiple of the element size reads floor(prefix/size) elements', () => {
    const it = new PyDatagramIterator(new Datagram(Uint8Array.of(5, 0, 1, 0, 2, 0, 9)));
    expect(it.getArg(STUint16array)).toEqual([1, 2]);
    expect(it.getCurrentIndex()).toBe(6);
  });
});

// ------------------------------------------------------------------------------------------------
// round trips

interface ScalarType {
  t: number;
  min: number;
  max: number;
}
const scalarInts: Array<[string, ScalarType]> = [
  ['STInt8', { t: STInt8, min: -128, max: 127 }],
  ['STInt16', { t: STInt16, min: -32768, max: 32767 }],
  ['STInt32', { t: STInt32, min: -2147483648, max: 2147483647 }],
  ['STUint8', { t: STUint8, min: 0, max: 255 }],
  ['STUint16', { t: STUint16, min: 0, max: 65535 }],
  ['STUint32', { t: STUint32, min: 0, max: 4294967295 }],
];
const arrayTypes: Array<[string, ScalarType]> = [
  ['STInt8array', { t: STInt8array, min: -128, max: 127 }],
  ['STUint8array', { t: STUint8array, min: 0, max: 255 }],
  ['STInt16array', { t: STInt16array, min: -32768, max: 32767 }],
  ['STUint16array', { t: STUint16array, min: 0, max: 65535 }],
  ['STInt32array', { t: STInt32array, min: -2147483648, max: 2147483647 }],
  ['STUint32array', { t: STUint32array, min: 0, max: 4294967295 }],
];
const divisors = fc.constantFrom(2, 10, 100, 1000, 3, 0.5);

function roundTrip(arg: Parameters<PyDatagram['putArg']>[0], t: number, divisor?: number): unknown {
  const d = put(arg, t, divisor);
  const it = new PyDatagramIterator(d);
  const out = it.getArg(t, divisor);
  expect(it.getRemainingSize()).toBe(0);
  return out;
}

function limits(min: number, max: number): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(min, max, 0), fc.integer({ min, max }));
}

describe('putArg → getArg round trips, divisor 1 (exact)', () => {
  it.each(scalarInts)('%s', (_n, { t, min, max }) => {
    fc.assert(fc.property(limits(min, max), (v) => { expect(roundTrip(v, t)).toBe(v); }));
  });

  it('STInt64 / STUint64 (bigint, exact at the limits; numbers accepted)', () => {
    const i64 = fc.oneof(fc.constantFrom(-(1n << 63n), (1n << 63n) - 1n), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }));
    const u64 = fc.oneof(fc.constantFrom(0n, (1n << 64n) - 1n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
    fc.assert(fc.property(i64, (v) => { expect(roundTrip(v, STInt64)).toBe(v); }));
    fc.assert(fc.property(u64, (v) => { expect(roundTrip(v, STUint64)).toBe(v); }));
    expect(roundTrip(-5, STInt64)).toBe(-5n);
    expect(roundTrip(2 ** 53, STUint64)).toBe(2n ** 53n);
  });

  it('STFloat64 (every double, bit exact)', () => {
    fc.assert(
      fc.property(fc.double(), (v) => {
        const got = roundTrip(v, STFloat64) as number;
        if (Number.isNaN(v)) expect(got).toBeNaN();
        else expect(Object.is(got, v)).toBe(true);
      }),
    );
  });

  it('STString / STBlob / STBlob32', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (s) => { expect(roundTrip(s, STString)).toBe(s); }));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => { expect(roundTrip(b, STBlob)).toEqual(b); }));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => { expect(roundTrip(b, STBlob32)).toEqual(b); }));
  });

  it.each(arrayTypes)('%s', (_n, { t, min, max }) => {
    fc.assert(fc.property(fc.array(limits(min, max), { maxLength: 50 }), (a) => { expect(roundTrip(a, t)).toEqual(a); }));
  });

  it('STUint32uint8array (pairs)', () => {
    const pair = fc.tuple(limits(0, 4294967295), limits(0, 255));
    fc.assert(fc.property(fc.array(pair, { maxLength: 40 }), (a) => { expect(roundTrip(a, STUint32uint8array)).toEqual(a); }));
  });

  it('several args in sequence read back in order', () => {
    const d = new PyDatagram();
    d.putArg(-7, STInt8);
    d.putArg('name', STString);
    d.putArg([[1, 2]], STUint32uint8array);
    d.putArg(2n ** 40n, STUint64);
    d.putArg([3, 4], STUint8array);
    const it = new PyDatagramIterator(d);
    expect(it.getArg(STInt8)).toBe(-7);
    expect(it.getArg(STString)).toBe('name');
    expect(it.getArg(STUint32uint8array)).toEqual([[1, 2]]);
    expect(it.getArg(STUint64)).toBe(2n ** 40n);
    expect(it.getArg(STUint8array)).toEqual([3, 4]);
    expect(it.getRemainingSize()).toBe(0);
  });
});

describe('putArg → getArg round trips with a divisor (fixed point)', () => {
  it.each(scalarInts)('%s: getArg = pythonRound(v × divisor) / divisor', (_n, { t, min, max }) => {
    fc.assert(
      fc.property(limits(min, max), divisors, (k, divisor) => {
        const v = k / divisor;
        const stored = pythonRound(v * divisor);
        fc.pre(stored >= min && stored <= max);
        expect(roundTrip(v, t, divisor)).toBe(stored / divisor);
      }),
    );
  });

  it('arbitrary reals are stored rounded half-to-even', () => {
    fc.assert(
      fc.property(fc.double({ min: -300, max: 300, noNaN: true }), divisors, (v, divisor) => {
        const stored = pythonRound(v * divisor);
        fc.pre(stored >= -32768 && stored <= 32767);
        const d = put(v, STInt16, divisor);
        expect(new DatagramIterator(d).getInt16()).toBe(stored);
        expect(new PyDatagramIterator(d).getArg(STInt16, divisor)).toBe(stored / divisor);
      }),
    );
  });

  it('STInt64 / STUint64 with a divisor return numbers; bigint args scale exactly by integer divisors', () => {
    expect(roundTrip(1.5, STInt64, 10)).toBe(1.5);
    expect(roundTrip(-2.25, STInt64, 4)).toBe(-2.25);
    const d = put(2n ** 60n, STUint64, 4);
    expect(new DatagramIterator(d).getUint64()).toBe(2n ** 62n);
    expect(new PyDatagramIterator(d).getArg(STUint64, 4)).toBe(2 ** 60);
    expect(roundTrip(3n, STInt64, 0.5)).toBe(4); // round(1.5) = 2, then 2 / 0.5
  });

  it('STFloat64 with a divisor stores round(v × divisor)', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), divisors, (v, divisor) => {
        expect(roundTrip(v, STFloat64, divisor)).toBe(pythonRound(v * divisor) / divisor);
      }),
    );
  });

  it.each(arrayTypes)('%s with a divisor', (_n, { t, min, max }) => {
    fc.assert(
      fc.property(fc.array(limits(min, max), { maxLength: 30 }), divisors, (ks, divisor) => {
        const values = ks.map((k) => k / divisor);
        const stored = values.map((v) => pythonRound(v * divisor));
        fc.pre(stored.every((s) => s >= min && s <= max));
        expect(roundTrip(values, t, divisor)).toEqual(stored.map((s) => s / divisor));
      }),
    );
  });

  it('STUint32uint8array with a divisor (both members scaled)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(limits(0, 4294967295), limits(0, 255)), { maxLength: 20 }), divisors, (ks, divisor) => {
        const pairs = ks.map(([a, b]) => [a / divisor, b / divisor] as [number, number]);
        const stored = pairs.map(([a, b]) => [pythonRound(a * divisor), pythonRound(b * divisor)]);
        fc.pre(stored.every(([a, b]) => a! <= 4294967295 && b! <= 255));
        expect(roundTrip(pairs, STUint32uint8array, divisor)).toEqual(stored.map(([a, b]) => [a! / divisor, b! / divisor]));
      }),
    );
  });
});
