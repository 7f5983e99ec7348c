/**
 * Datagram / DatagramIterator behaviour: spec §12 items 1–7, §7.5 encodings, §7.6 dump format, the
 * iterator's index rules on failure, argument validation (errors leave the datagram unchanged),
 * equality and copy semantics.
 */
import { describe, expect, it } from 'vitest';
import { Datagram, DatagramIterator } from '../../src/datagram/index.js';
import {
  DatagramOverrunError,
  ErrorCode,
  InvalidArgumentError,
  InvalidUtf8Error,
  PandaNetError,
  TooLongError,
  ValueRangeError,
} from '../../src/errors.js';

function hex(bytes: Uint8Array | Datagram): string {
  const b = bytes instanceof Datagram ? bytes.getMessage() : bytes;
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

function fromHex(h: string): Uint8Array {
  const parts = h.split(/\s+/).filter((p) => p.length > 0);
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

function dgOf(h: string): Datagram {
  return new Datagram(fromHex(h));
}

/** Asserts `fn` throws `cls` and leaves `dg`'s bytes exactly as they were. */
function expectUnchanged(dg: Datagram, fn: () => unknown, cls: new (...a: never[]) => Error): void {
  const before = dg.getMessage();
  expect(fn).toThrow(cls);
  expect(hex(dg)).toBe(hex(before));
}

describe('§7.5 encoding examples / §12 item 1 (bytes and round trip)', () => {
  type Row = [string, (d: Datagram) => void, string, (it: DatagramIterator) => unknown, unknown];
  const rows: Row[] = [
    ['addBool(true)', (d) => d.addBool(true), '01', (it) => it.getBool(), true],
    ['addInt16(-2)', (d) => d.addInt16(-2), 'fe ff', (it) => it.getInt16(), -2],
    ['addBeInt16(-2)', (d) => d.addBeInt16(-2), 'ff fe', (it) => it.getBeInt16(), -2],
    ['addUint32(0xDEADBEEF)', (d) => d.addUint32(0xdeadbeef), 'ef be ad de', (it) => it.getUint32(), 0xdeadbeef],
    ['addInt64(-1001001001001001)', (d) => d.addInt64(-1001001001001001), 'd7 5f ea 4a 98 71 fc ff', (it) => it.getInt64(), -1001001001001001n],
    ['addInt64(-1001001001001001n)', (d) => d.addInt64(-1001001001001001n), 'd7 5f ea 4a 98 71 fc ff', (it) => it.getInt64(), -1001001001001001n],
    ['addUint64(0x0123456789ABCDEFn)', (d) => d.addUint64(0x0123456789abcdefn), 'ef cd ab 89 67 45 23 01', (it) => it.getUint64(), 0x0123456789abcdefn],
    ['addBeUint64(0x0123456789ABCDEFn)', (d) => d.addBeUint64(0x0123456789abcdefn), '01 23 45 67 89 ab cd ef', (it) => it.getBeUint64(), 0x0123456789abcdefn],
    ['addFloat32(1.0)', (d) => d.addFloat32(1.0), '00 00 80 3f', (it) => it.getFloat32(), 1],
    ['addFloat64(1.0)', (d) => d.addFloat64(1.0), '00 00 00 00 00 00 f0 3f', (it) => it.getFloat64(), 1],
    ['addBeFloat64(1.0)', (d) => d.addBeFloat64(1.0), '3f f0 00 00 00 00 00 00', (it) => it.getBeFloat64(), 1],
    ['addBeFloat32(1.0)', (d) => d.addBeFloat32(1.0), '3f 80 00 00', (it) => it.getBeFloat32(), 1],
    ['addString("Hi")', (d) => d.addString('Hi'), '02 00 48 69', (it) => it.getString(), 'Hi'],
    ['addString("é")', (d) => d.addString('é'), '02 00 c3 a9', (it) => it.getString(), 'é'],
    ['addString32("Hi")', (d) => d.addString32('Hi'), '02 00 00 00 48 69', (it) => it.getString32(), 'Hi'],
    ['addZString("ab\\0cd")', (d) => d.addZString('ab\x00cd'), '61 62 00', (it) => it.getZString(), 'ab'],
    ['addFixedString("abc", 5)', (d) => d.addFixedString('abc', 5), '61 62 63 00 00', (it) => it.getFixedString(5), 'abc'],
    ['addFixedString("abcdef", 3)', (d) => d.addFixedString('abcdef', 3), '61 62 63', (it) => it.getFixedString(3), 'abc'],
    ['addWstring("hé")', (d) => d.addWstring('hé'), '02 00 00 00 68 00 e9 00', (it) => it.getWstring(), 'hé'],
    ['addBlob(00 ff)', (d) => d.addBlob(fromHex('00 ff')), '02 00 00 ff', (it) => it.getBlob(), fromHex('00 ff')],
    ['addBlob32(00 ff)', (d) => d.addBlob32(fromHex('00 ff')), '02 00 00 00 00 ff', (it) => it.getBlob32(), fromHex('00 ff')],
    ['addInt8(-128)', (d) => d.addInt8(-128), '80', (it) => it.getInt8(), -128],
    ['addUint8(255)', (d) => d.addUint8(255), 'ff', (it) => it.getUint8(), 255],
    ['addBeUint16(0x1234)', (d) => d.addBeUint16(0x1234), '12 34', (it) => it.getBeUint16(), 0x1234],
    ['addBeInt32(-2)', (d) => d.addBeInt32(-2), 'ff ff ff fe', (it) => it.getBeInt32(), -2],
    ['addBeUint32(0xDEADBEEF)', (d) => d.addBeUint32(0xdeadbeef), 'de ad be ef', (it) => it.getBeUint32(), 0xdeadbeef],
    ['addBeInt64(-2)', (d) => d.addBeInt64(-2), 'ff ff ff ff ff ff ff fe', (it) => it.getBeInt64(), -2n],
    ['padBytes(3)', (d) => d.padBytes(3), '00 00 00', (it) => it.extractBytes(3), fromHex('00 00 00')],
    ['appendData(de ad)', (d) => d.appendData(fromHex('de ad')), 'de ad', (it) => it.getRemainingBytes(), fromHex('de ad')],
  ];
  it.each(rows)('%s → %s', (_name, write, bytes, read, value) => {
    const d = new Datagram();
    write(d);
    expect(hex(d)).toBe(bytes);
    const it = new DatagramIterator(d);
    expect(read(it)).toEqual(value);
  });

  it('addStdfloat follows the datagram flag on both sides', () => {
    const d = new Datagram();
    d.addStdfloat(1.5);
    expect(hex(d)).toBe('00 00 c0 3f');
    d.setStdfloatDouble(true);
    d.addStdfloat(1.5);
    expect(hex(d)).toBe('00 00 c0 3f 00 00 00 00 00 00 f8 3f');
    const it = new DatagramIterator(d);
    d.setStdfloatDouble(false);
    expect(it.getStdfloat()).toBe(1.5);
    d.setStdfloatDouble(true); // read at call time
    expect(it.getStdfloat()).toBe(1.5);
    expect(it.getRemainingSize()).toBe(0);
  });

  it('addFloat32 rounds to single precision', () => {
    const d = new Datagram();
    d.addFloat32(0.1);
    expect(hex(d)).toBe('cd cc cc 3d');
    expect(new DatagramIterator(d).getFloat32()).toBe(Math.fround(0.1));
  });

  it('64-bit writers take bigints and integer numbers beyond 2^53 exactly', () => {
    const d = new Datagram();
    d.addInt64(2 ** 60);
    d.addUint64(2 ** 63);
    d.addInt64(-(2 ** 63));
    d.addUint64(18446744073709551615n);
    d.addInt64(-9223372036854775808n);
    d.addBeInt64(9223372036854775807n);
    const it = new DatagramIterator(d);
    expect(it.getInt64()).toBe(1n << 60n);
    expect(it.getUint64()).toBe(1n << 63n);
    expect(it.getInt64()).toBe(-(1n << 63n));
    expect(it.getUint64()).toBe(18446744073709551615n);
    expect(it.getInt64()).toBe(-9223372036854775808n);
    expect(it.getBeInt64()).toBe(9223372036854775807n);
  });

  it('bool writer uses truthiness like Python; getter is byte != 0', () => {
    const d = new Datagram();
    d.addBool(0 as unknown as boolean);
    d.addBool('x' as unknown as boolean);
    d.appendData(fromHex('02'));
    const it = new DatagramIterator(d);
    expect([it.getBool(), it.getBool(), it.getBool()]).toEqual([false, true, true]);
  });
});

describe('§12 items 2–6: reads past the end and the length limit', () => {
  it('item 2: getString on 05 00 41 throws and leaves the index after the prefix', () => {
    const it = new DatagramIterator(dgOf('05 00 41'));
    expect(() => it.getString()).toThrow(DatagramOverrunError);
    expect(it.getCurrentIndex()).toBe(2);
  });

  it('item 3: getUint32 on 3 bytes throws, index stays 0', () => {
    const it = new DatagramIterator(dgOf('01 02 03'));
    expect(() => it.getUint32()).toThrow(DatagramOverrunError);
    expect(it.getCurrentIndex()).toBe(0);
  });

  it('item 4: getZString without terminator throws, index unchanged; 61 00 → "a", index 2', () => {
    const bad = new DatagramIterator(dgOf('61 62'));
    expect(() => bad.getZString()).toThrow(DatagramOverrunError);
    expect(bad.getCurrentIndex()).toBe(0);
    const good = new DatagramIterator(dgOf('61 00'));
    expect(good.getZString()).toBe('a');
    expect(good.getCurrentIndex()).toBe(2);
    expect(() => good.getZString()).toThrow(DatagramOverrunError); // at the exact end
    expect(good.getCurrentIndex()).toBe(2);
  });

  it('item 5: getFixedString(4) on 61 00 62 63 → "a", index 4', () => {
    const it = new DatagramIterator(dgOf('61 00 62 63'));
    expect(it.getFixedString(4)).toBe('a');
    expect(it.getCurrentIndex()).toBe(4);
  });

  it('item 6: addString of 65536 bytes throws TooLongError and appends nothing', () => {
    const d = dgOf('aa');
    expectUnchanged(d, () => d.addString('x'.repeat(65536)), TooLongError);
    // Fewer than 65536 UTF-16 units but more than 65535 bytes once encoded.
    expectUnchanged(d, () => d.addString('€'.repeat(21846)), TooLongError);
    expect(d.getLength()).toBe(1);
    d.addString('€'.repeat(21845)); // exactly 65535 bytes
    expect(d.getLength()).toBe(1 + 2 + 65535);
    const it = new DatagramIterator(d, 1);
    expect(it.getString()).toBe('€'.repeat(21845));
  });

  it('addBlob of 65536 bytes throws TooLongError; 65535 is fine; blob32 has no limit', () => {
    const d = new Datagram();
    expectUnchanged(d, () => d.addBlob(new Uint8Array(65536)), TooLongError);
    d.addBlob(new Uint8Array(65535).fill(7));
    d.addBlob32(new Uint8Array(70000).fill(9));
    const it = new DatagramIterator(d);
    expect(it.getBlob()).toEqual(new Uint8Array(65535).fill(7));
    expect(it.getBlob32()).toEqual(new Uint8Array(70000).fill(9));
  });
});

describe('§7.6 dump_hex / write (§12 item 7)', () => {
  it('reproduces the 5-byte example', () => {
    expect(dgOf('01 02 00 48 69').dumpHex()).toBe(`0000  01 02 00 48 69${' '.repeat(33)}  ...Hi\n`);
  });

  it('reproduces the 20-byte, indent 2 example', () => {
    const d = new Datagram(Uint8Array.from({ length: 20 }, (_, i) => 0x41 + i));
    expect(d.dumpHex(2)).toBe(
      '  0000  41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50  ABCDEFGHIJKLMNOP\n' +
        '  0010  51 52 53 54                                      QRST\n',
    );
  });

  it('prints nothing for an empty datagram; space is printable, 0x7f and high bytes are not', () => {
    expect(new Datagram().dumpHex()).toBe('');
    expect(dgOf('20 7e 7f 80 ff 21').dumpHex()).toBe(`0000  20 7e 7f 80 ff 21${' '.repeat(30)}   ~...!\n`);
  });

  it('prints offsets past 0xffff with more digits', () => {
    const d = new Datagram(new Uint8Array(0x10001));
    const lines = d.dumpHex().split('\n');
    expect(lines[lines.length - 2]!.startsWith('10000  00 ')).toBe(true);
  });

  it('toString() is Panda write(): "Datagram:" then the dump; write(indent) indents both', () => {
    const d = dgOf('01 02 00 48 69');
    expect(d.toString()).toBe(`Datagram:\n${d.dumpHex()}`);
    expect(String(d)).toBe(`Datagram:\n${d.dumpHex()}`);
    expect(d.write(3)).toBe(`   Datagram:\n${d.dumpHex(3)}`);
  });

  it('iterator toString() is Panda write() as a Linux build prints it', () => {
    const d = dgOf('01 02 00 48 69 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00');
    const it = new DatagramIterator(d);
    expect(it.toString()).toBe(`DatagramIterator:\n  _current_index 0 (of 20) / 0x0 (of 0x0x14)\n${d.write(2)}`);
    it.skipBytes(5);
    expect(it.write(1)).toBe(` DatagramIterator:\n   _current_index 5 (of 20) / 0x0x5 (of 0x0x14)\n${d.write(3)}`);
    expect(new DatagramIterator().toString()).toBe('DatagramIterator:\n  _current_index 0 (_datagram is null)\n');
  });
});

describe('argument validation: typed errors, datagram unchanged', () => {
  const d = dgOf('aa bb');
  type IntCase = [string, (v: never) => void, number, number];
  const ints: IntCase[] = [
    ['addInt8', (v) => d.addInt8(v), -128, 127],
    ['addUint8', (v) => d.addUint8(v), 0, 255],
    ['addInt16', (v) => d.addInt16(v), -32768, 32767],
    ['addUint16', (v) => d.addUint16(v), 0, 65535],
    ['addBeInt16', (v) => d.addBeInt16(v), -32768, 32767],
    ['addBeUint16', (v) => d.addBeUint16(v), 0, 65535],
    ['addInt32', (v) => d.addInt32(v), -2147483648, 2147483647],
    ['addUint32', (v) => d.addUint32(v), 0, 4294967295],
    ['addBeInt32', (v) => d.addBeInt32(v), -2147483648, 2147483647],
    ['addBeUint32', (v) => d.addBeUint32(v), 0, 4294967295],
  ];
  it.each(ints)('%s rejects out-of-range and non-integers', (_n, add, min, max) => {
    for (const bad of [min - 1, max + 1, 0.5, NaN, Infinity, -Infinity]) {
      expectUnchanged(d, () => add(bad as never), ValueRangeError);
    }
    for (const bad of ['1', 1n, null, undefined, {}, true]) expectUnchanged(d, () => add(bad as never), InvalidArgumentError);
    const before = d.getLength();
    add(min as never);
    add(max as never);
    d.clear();
    d.appendData(fromHex('aa bb'));
    expect(before).toBe(2);
  });

  it('64-bit writers reject out-of-range values, non-integers and negatives for uint64', () => {
    const cases: Array<[(v: never) => void, unknown[], unknown[]]> = [
      [(v) => d.addInt64(v), [2 ** 63, -(2 ** 63) - 4096, 1n << 63n, -(1n << 63n) - 1n, 0.5, NaN, Infinity], ['1', null]],
      [(v) => d.addBeInt64(v), [2 ** 63, 1n << 63n, 1.5], [{}]],
      [(v) => d.addUint64(v), [-1, -1n, 2 ** 64, 1n << 64n, 0.5, -0.5], ['1', undefined]],
      [(v) => d.addBeUint64(v), [-1, 1n << 64n], [false]],
    ];
    for (const [add, ranges, types] of cases) {
      for (const bad of ranges) expectUnchanged(d, () => add(bad as never), ValueRangeError);
      for (const bad of types) expectUnchanged(d, () => add(bad as never), InvalidArgumentError);
    }
  });

  it('float writers reject non-numbers but accept NaN and infinities', () => {
    for (const add of [
      (v: never) => d.addFloat32(v),
      (v: never) => d.addFloat64(v),
      (v: never) => d.addBeFloat32(v),
      (v: never) => d.addBeFloat64(v),
      (v: never) => d.addStdfloat(v),
    ]) {
      for (const bad of ['1', 1n, null, undefined]) expectUnchanged(d, () => add(bad as never), InvalidArgumentError);
    }
    const f = new Datagram();
    f.addFloat32(NaN);
    f.addFloat64(-Infinity);
    const it = new DatagramIterator(f);
    expect(it.getFloat32()).toBeNaN();
    expect(it.getFloat64()).toBe(-Infinity);
  });

  it('string writers reject non-strings and lone surrogates (short and long strings)', () => {
    for (const add of [
      (v: never) => d.addString(v),
      (v: never) => d.addString32(v),
      (v: never) => d.addZString(v),
      (v: never) => d.addWstring(v),
    ]) {
      for (const bad of [new Uint8Array([65]), 1, null, undefined]) expectUnchanged(d, () => add(bad as never), InvalidArgumentError);
    }
    for (const s of ['a\ud800', '\udc00b', 'x'.repeat(100) + '\ud800', '\udfff' + 'y'.repeat(100)]) {
      expectUnchanged(d, () => d.addString(s), InvalidArgumentError);
      expectUnchanged(d, () => d.addString32(s), InvalidArgumentError);
      expectUnchanged(d, () => d.addZString(s), InvalidArgumentError);
      expectUnchanged(d, () => d.addFixedString(s, 8), InvalidArgumentError);
    }
    expectUnchanged(d, () => d.addFixedString(5 as never, 2), InvalidArgumentError);
    expectUnchanged(d, () => d.addFixedString('a', -1), ValueRangeError);
    expectUnchanged(d, () => d.addFixedString('a', 1.5), ValueRangeError);
  });

  it('byte writers reject non-Uint8Array; padBytes rejects negative or fractional sizes', () => {
    for (const add of [(v: never) => d.addBlob(v), (v: never) => d.addBlob32(v), (v: never) => d.appendData(v)]) {
      for (const bad of ['ab', [1, 2], new ArrayBuffer(2), null]) expectUnchanged(d, () => add(bad as never), InvalidArgumentError);
    }
    expectUnchanged(d, () => d.padBytes(-1), ValueRangeError);
    expectUnchanged(d, () => d.padBytes(0.5), ValueRangeError);
    expectUnchanged(d, () => d.padBytes('2' as never), InvalidArgumentError);
  });

  it('appendData(data, offset, length) copies exactly that range, short (word copy) and long, and rejects a range outside data', () => {
    const src = Uint8Array.from({ length: 400 }, (_, i) => (i * 37 + 11) & 0xff);
    for (const [offset, length] of [[0, 0], [3, 1], [1, 7], [5, 64], [2, 129], [0, 400], [399, 1], [13, 250]] as const) {
      const e = new Datagram();
      e.addUint8(0xee); // the destination is unaligned too
      e.appendData(src, offset, length);
      expect([...e.getMessage()]).toEqual([0xee, ...src.subarray(offset, offset + length)]);
    }
    const whole = new Datagram();
    whole.appendData(src, 10); // length defaults to the rest
    expect(whole.getMessage()).toEqual(src.slice(10));
    for (const [offset, length] of [[-1, 2], [0, 401], [399, 2], [1.5, 2], [0, -1], [401, 0], [Number.NaN, 1]] as const) {
      expectUnchanged(d, () => d.appendData(src, offset, length), ValueRangeError);
    }
  });

  it('constructor rejects anything but bytes or a datagram', () => {
    expect(() => new Datagram('abc' as never)).toThrow(InvalidArgumentError);
    expect(() => new Datagram([1, 2] as never)).toThrow(InvalidArgumentError);
  });

  it('errors carry their permanent codes', () => {
    try {
      new Datagram().addUint8(256);
      expect.fail('should throw');
    } catch (e) {
      expect(e).toBeInstanceOf(PandaNetError);
      expect((e as PandaNetError).code).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
    }
    try {
      new DatagramIterator(new Datagram()).getUint8();
      expect.fail('should throw');
    } catch (e) {
      expect((e as PandaNetError).code).toBe(ErrorCode.READ_OVERRUN);
    }
  });
});

describe('strings', () => {
  it('addZString truncates at the first NUL; getZString stops at the terminator', () => {
    const d = new Datagram();
    d.addZString('héllo\x00world');
    d.addZString('');
    expect(hex(d)).toBe('68 c3 a9 6c 6c 6f 00 00');
    const it = new DatagramIterator(d);
    expect(it.getZString()).toBe('héllo');
    expect(it.getZString()).toBe('');
  });

  it('addFixedString may split a UTF-8 sequence (as Panda); takes bytes too; pads with zeros', () => {
    const d = new Datagram();
    d.addFixedString('é', 1);
    d.addFixedString(fromHex('01 02'), 4);
    d.addFixedString('', 0);
    expect(hex(d)).toBe('c3 01 02 00 00');
    const it = new DatagramIterator(d);
    expect(() => it.getFixedString(1)).toThrow(InvalidUtf8Error);
    expect(it.getCurrentIndex()).toBe(1); // consumed like Panda's C++ getter
    expect(it.getFixedString(4)).toBe('\x01\x02');
    expect(it.getFixedString(0)).toBe(''); // zero-length at the end succeeds
  });

  it('strings keep a leading BOM and astral characters (UTF-8 4-byte sequences)', () => {
    const d = new Datagram();
    const s = '\ufeffa😀z';
    d.addString(s);
    d.addString32(s);
    d.addZString(s);
    d.addString('😀'.repeat(40)); // long-string encoder path
    expect(hex(d).startsWith('09 00 ef bb bf 61 f0 9f 98 80 7a')).toBe(true);
    const it = new DatagramIterator(d);
    expect(it.getString()).toBe(s);
    expect(it.getString32()).toBe(s);
    expect(it.getZString()).toBe(s);
    expect(it.getString()).toBe('😀'.repeat(40));
  });

  it('addWstring writes UTF-16 code units: an astral character is a surrogate pair (Q18)', () => {
    const d = new Datagram();
    d.addWstring('a😀');
    expect(hex(d)).toBe('03 00 00 00 61 00 3d d8 00 de');
    expect(new DatagramIterator(d).getWstring()).toBe('a😀');
  });

  it('getWstring keeps unpaired surrogates and long strings', () => {
    const d = new Datagram();
    d.addWstring('\ud800x');
    const long = 'ab€😀'.repeat(3000);
    d.addWstring(long);
    const it = new DatagramIterator(d);
    expect(it.getWstring()).toBe('\ud800x');
    expect(it.getWstring()).toBe(long);
  });

  it('invalid UTF-8 throws InvalidUtf8Error with the whole field consumed (Panda parity)', () => {
    const it = new DatagramIterator(dgOf('02 00 c3 28  03 00 00 00 ff fe fd  80 00  41'));
    expect(() => it.getString()).toThrow(InvalidUtf8Error);
    expect(it.getCurrentIndex()).toBe(4);
    expect(() => it.getString32()).toThrow(InvalidUtf8Error);
    expect(it.getCurrentIndex()).toBe(11);
    expect(() => it.getZString()).toThrow(InvalidUtf8Error);
    expect(it.getCurrentIndex()).toBe(13);
    expect(it.getUint8()).toBe(0x41);
    // Long runs go through TextDecoder: still strict.
    const long = new Datagram();
    long.addBlob(Uint8Array.from({ length: 100 }, (_, i) => (i === 90 ? 0xff : 0x61)));
    const it2 = new DatagramIterator(long);
    expect(() => it2.getString()).toThrow(InvalidUtf8Error);
    expect(it2.getCurrentIndex()).toBe(102);
  });
});

describe('iterator index rules (§7.4)', () => {
  it('fixed-size getters fail at the end without moving', () => {
    const it = new DatagramIterator(dgOf('01 02 03 04 05 06 07'));
    it.skipBytes(7);
    const getters: Array<() => unknown> = [
      () => it.getBool(), () => it.getInt8(), () => it.getUint8(), () => it.getInt16(), () => it.getUint16(),
      () => it.getInt32(), () => it.getUint32(), () => it.getInt64(), () => it.getUint64(),
      () => it.getBeInt16(), () => it.getBeUint16(), () => it.getBeInt32(), () => it.getBeUint32(),
      () => it.getBeInt64(), () => it.getBeUint64(), () => it.getFloat32(), () => it.getFloat64(),
      () => it.getBeFloat32(), () => it.getBeFloat64(), () => it.getStdfloat(), () => it.peekInt16(),
      () => it.peekUint16(),
    ];
    for (const g of getters) {
      expect(g).toThrow(DatagramOverrunError);
      expect(it.getCurrentIndex()).toBe(7);
    }
    const mid = new DatagramIterator(dgOf('01 02 03 04 05 06 07'), 1);
    expect(() => mid.getInt64()).toThrow(DatagramOverrunError);
    expect(() => mid.getFloat64()).toThrow(DatagramOverrunError);
    expect(mid.getCurrentIndex()).toBe(1);
  });

  it('length-prefixed getters consume the prefix, then fail on the body', () => {
    const cases: Array<[string, (it: DatagramIterator) => unknown, number]> = [
      ['05 00 41', (it) => it.getString(), 2],
      ['05 00 00 00 41', (it) => it.getString32(), 4],
      ['05 00 41', (it) => it.getBlob(), 2],
      ['05 00 00 00 41', (it) => it.getBlob32(), 4],
      ['02 00 00 00 41 00 42', (it) => it.getWstring(), 4],
    ];
    for (const [bytes, get, after] of cases) {
      const it = new DatagramIterator(dgOf(bytes));
      expect(() => get(it)).toThrow(DatagramOverrunError);
      expect(it.getCurrentIndex()).toBe(after);
    }
  });

  it('a prefix that itself overruns leaves the index unmoved', () => {
    for (const [bytes, get] of [
      ['05', (it: DatagramIterator) => it.getString()],
      ['05 00 00', (it: DatagramIterator) => it.getString32()],
      ['01', (it: DatagramIterator) => it.getBlob()],
      ['01 00', (it: DatagramIterator) => it.getBlob32()],
      ['01 00 00', (it: DatagramIterator) => it.getWstring()],
    ] as const) {
      const it = new DatagramIterator(dgOf(bytes));
      expect(() => get(it)).toThrow(DatagramOverrunError);
      expect(it.getCurrentIndex()).toBe(0);
    }
  });

  it('zero-length reads at the end succeed where Panda allows them', () => {
    const it = new DatagramIterator(dgOf('00 00'));
    expect(it.getString()).toBe(''); // prefix ends at the end
    expect(it.getCurrentIndex()).toBe(2);
    expect(it.extractBytes(0)).toEqual(new Uint8Array(0));
    it.skipBytes(0);
    expect(it.getFixedString(0)).toBe('');
    expect(it.getRemainingBytes()).toEqual(new Uint8Array(0));
    expect(it.getRemainingSize()).toBe(0);
  });

  it('skipBytes / extractBytes / getFixedString overruns leave the index unmoved', () => {
    const it = new DatagramIterator(dgOf('61 62 63'), 1);
    expect(() => it.skipBytes(3)).toThrow(DatagramOverrunError);
    expect(() => it.extractBytes(3)).toThrow(DatagramOverrunError);
    expect(() => it.getFixedString(3)).toThrow(DatagramOverrunError);
    expect(it.getCurrentIndex()).toBe(1);
    expect(() => it.skipBytes(-1)).toThrow(ValueRangeError);
    expect(() => it.extractBytes(1.5)).toThrow(ValueRangeError);
    expect(it.extractBytes(2)).toEqual(fromHex('62 63'));
  });

  it('peek does not advance; getRemainingBytes does not advance and copies', () => {
    const d = dgOf('fe ff 01 02');
    const it = new DatagramIterator(d);
    expect(it.peekInt16()).toBe(-2);
    expect(it.peekUint16()).toBe(0xfffe);
    expect(it.getCurrentIndex()).toBe(0);
    it.skipBytes(2);
    const rest = it.getRemainingBytes();
    expect(rest).toEqual(fromHex('01 02'));
    expect(it.getCurrentIndex()).toBe(2);
    expect(it.getRemainingSize()).toBe(2);
    rest[0] = 99;
    expect(it.getUint8()).toBe(1);
  });

  it('byte getters return copies', () => {
    const d = new Datagram();
    d.addBlob(fromHex('01 02'));
    d.appendData(fromHex('03'));
    const it = new DatagramIterator(d);
    const blob = it.getBlob();
    const raw = it.extractBytes(1);
    blob[0] = 9;
    raw[0] = 9;
    expect(hex(d)).toBe('02 00 01 02 03');
  });

  it('constructor / assign validate the offset; no datagram means every read throws', () => {
    const d = dgOf('01 02 03');
    expect(new DatagramIterator(d, 3).getRemainingSize()).toBe(0);
    expect(() => new DatagramIterator(d, 4)).toThrow(ValueRangeError);
    expect(() => new DatagramIterator(d, -1)).toThrow(ValueRangeError);
    expect(() => new DatagramIterator(d, 0.5)).toThrow(ValueRangeError);
    expect(() => new DatagramIterator(undefined, 1)).toThrow(ValueRangeError);
    const it = new DatagramIterator();
    expect(it.getDatagram()).toBeNull();
    expect(() => it.getUint8()).toThrow(DatagramOverrunError);
    expect(() => it.getZString()).toThrow(DatagramOverrunError);
    expect(() => it.getRemainingSize()).toThrow(DatagramOverrunError);
    expect(() => it.getRemainingBytes()).toThrow(DatagramOverrunError);
    expect(() => it.assign(d, 9)).toThrow(ValueRangeError);
    expect(it.getDatagram()).toBeNull(); // unchanged after a failed assign
    expect(it.assign(d, 1)).toBe(it);
    expect(it.getDatagram()).toBe(d);
    expect(it.getUint8()).toBe(2);
    expect(() => it.assign('x' as never)).toThrow(InvalidArgumentError);
  });

  it('sees writes made after it was created, across reallocations', () => {
    const d = new Datagram();
    const it = new DatagramIterator(d);
    expect(() => it.getUint32()).toThrow(DatagramOverrunError);
    for (let i = 0; i < 1000; i++) d.addUint32(i * 7);
    d.addString('tail');
    for (let i = 0; i < 1000; i++) expect(it.getUint32()).toBe(i * 7);
    expect(it.getString()).toBe('tail');
    d.clear(); // shrinks below the index
    expect(it.getRemainingSize()).toBe(0);
    expect(it.getRemainingBytes()).toEqual(new Uint8Array(0));
    expect(() => it.getUint8()).toThrow(DatagramOverrunError);
  });
});

describe('equality, ordering, hashing', () => {
  it('compares contents only (Q17: no-storage equals empty storage)', () => {
    const fresh = new Datagram();
    const empty = new Datagram(new Uint8Array(0));
    const cleared = dgOf('01');
    cleared.clear();
    expect(fresh.equals(empty)).toBe(true);
    expect(empty.equals(cleared)).toBe(true);
    const a = dgOf('01 02');
    const b = dgOf('01 02');
    b.setStdfloatDouble(true);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(dgOf('01 03'))).toBe(false);
    expect(a.equals(dgOf('01'))).toBe(false);
    expect(a.equals('x' as never)).toBe(false);
    expect(a.getHash()).toBe(b.getHash());
    expect(fresh.getHash()).toBe(empty.getHash());
    expect(a.getHash()).not.toBe(dgOf('02 01').getHash());
  });

  it('compareTo is lexicographic, a proper prefix first', () => {
    expect(dgOf('01 02').compareTo(dgOf('01 02'))).toBe(0);
    expect(dgOf('01 02').compareTo(dgOf('01 03'))).toBe(-1);
    expect(dgOf('02').compareTo(dgOf('01 ff'))).toBe(1);
    expect(dgOf('01').compareTo(dgOf('01 00'))).toBe(-1);
    expect(new Datagram().compareTo(dgOf('00'))).toBe(-1);
    expect(dgOf('ff').compareTo(new Datagram())).toBe(1);
  });
});

describe('copies and views', () => {
  it('Datagram(bytes), Datagram(other), copy() and assign() are independent copies', () => {
    const src = fromHex('01 02 03');
    const a = new Datagram(src);
    src[0] = 0xff;
    expect(hex(a)).toBe('01 02 03');
    a.setStdfloatDouble(true);
    const b = new Datagram(a);
    const c = a.copy();
    const e = new Datagram().assign(a);
    a.addUint8(4);
    a.getMessageView()[0] = 0xee;
    for (const x of [b, c, e]) {
      expect(hex(x)).toBe('01 02 03');
      expect(x.getStdfloatDouble()).toBe(true);
    }
    b.addUint8(9);
    expect(hex(c)).toBe('01 02 03');
    expect(e.assign(e)).toBe(e); // self-assign is a no-op
    expect(hex(e)).toBe('01 02 03');
  });

  it('assign replaces content and flag, reusing or growing storage', () => {
    const big = new Datagram(new Uint8Array(200).fill(1));
    const small = dgOf('05');
    big.assign(small);
    expect(hex(big)).toBe('05');
    small.assign(new Datagram(new Uint8Array(300).fill(2)));
    expect(small.getLength()).toBe(300);
    expect(small.getMessage()).toEqual(new Uint8Array(300).fill(2));
    expect(() => small.assign(new Uint8Array(1) as never)).toThrow(InvalidArgumentError);
  });

  it('getMessage copies; getMessageView is zero-copy over current content', () => {
    const d = dgOf('01 02');
    const copy = d.getMessage();
    const view = d.getMessageView();
    expect(view.length).toBe(2);
    copy[0] = 9;
    expect(hex(d)).toBe('01 02');
    view[0] = 7;
    expect(hex(d)).toBe('07 02');
  });

  it('clear keeps capacity but padBytes/addFixedString still write zeros over old bytes', () => {
    const d = new Datagram(new Uint8Array(16).fill(0xff));
    d.clear();
    expect(d.getLength()).toBe(0);
    d.padBytes(4);
    d.addFixedString('a', 4);
    expect(hex(d)).toBe('00 00 00 00 61 00 00 00');
  });

  it('appending its own view is safe even when the storage reallocates', () => {
    const d = new Datagram();
    for (let i = 0; i < 64; i++) d.addUint8(i);
    d.appendData(d.getMessageView()); // forces growth past the 64-byte capacity
    const m = d.getMessage();
    expect(m.length).toBe(128);
    for (let i = 0; i < 128; i++) expect(m[i]).toBe(i % 64);
  });
});

describe('string decoder fast paths', () => {
  it('ASCII strings of every length up to 70, with and without a non-ASCII tail, round-trip', () => {
    for (let n = 0; n <= 70; n++) {
      const ascii = Array.from({ length: n }, (_, i) => String.fromCharCode(0x20 + ((i * 7) % 95))).join('');
      for (const s of [ascii, `${ascii}é`, `é${ascii}`, `${ascii}\x7f`]) {
        const d = new Datagram();
        d.addString(s);
        d.addZString(s);
        d.addFixedString(s, 80);
        const it = new DatagramIterator(d);
        expect(it.getString()).toBe(s);
        expect(it.getZString()).toBe(s);
        expect(it.getFixedString(80)).toBe(s);
      }
    }
  });

  it('a byte ≥ 0x80 anywhere in a short run is decoded strictly', () => {
    for (let n = 1; n <= 40; n++) {
      for (let at = 0; at < n; at += 5) {
        const bytes = new Uint8Array(n).fill(0x61);
        bytes[at] = 0x80;
        const d = new Datagram();
        d.addBlob(bytes);
        expect(() => new DatagramIterator(d).getString()).toThrow(InvalidUtf8Error);
      }
    }
  });
});
