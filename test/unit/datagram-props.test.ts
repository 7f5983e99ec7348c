/**
 * Property tests: every Datagram writer round-trips through its DatagramIterator getter at and inside
 * its limits, its bytes equal an independent reference encoding (DataView / TextEncoder), and mixed
 * sequences of fields concatenate exactly. Also: the iterator never moves on a failed fixed-size read
 * of arbitrary bytes, and equality/ordering agree with plain byte comparison.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Datagram, DatagramIterator } from '../../src/datagram/index.js';
import { DatagramOverrunError, InvalidUtf8Error, PandaNetError } from '../../src/errors.js';

const RUNS = { numRuns: 300 };
const utf8 = new TextEncoder();

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function bytesOf(n: number, fill: (dv: DataView) => void): Uint8Array {
  const out = new Uint8Array(n);
  fill(new DataView(out.buffer));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One field: how to write it, the reference bytes, how to read it back, and the value expected. */
interface FieldCase {
  label: string;
  write: (d: Datagram) => void;
  ref: Uint8Array;
  read: (it: DatagramIterator) => unknown;
  value: unknown;
}

const smallInts = [
  { name: 'Int8', min: -128, max: 127, size: 1, be: false },
  { name: 'Uint8', min: 0, max: 255, size: 1, be: false },
  { name: 'Int16', min: -32768, max: 32767, size: 2, be: true },
  { name: 'Uint16', min: 0, max: 65535, size: 2, be: true },
  { name: 'Int32', min: -2147483648, max: 2147483647, size: 4, be: true },
  { name: 'Uint32', min: 0, max: 4294967295, size: 4, be: true },
] as const;

type Setter = (dv: DataView, v: number, little: boolean) => void;
const setters: Record<string, Setter> = {
  Int8: (dv, v) => dv.setInt8(0, v),
  Uint8: (dv, v) => dv.setUint8(0, v),
  Int16: (dv, v, le) => dv.setInt16(0, v, le),
  Uint16: (dv, v, le) => dv.setUint16(0, v, le),
  Int32: (dv, v, le) => dv.setInt32(0, v, le),
  Uint32: (dv, v, le) => dv.setUint32(0, v, le),
};

type Dyn = Record<string, (...a: unknown[]) => unknown>;

/** An integer at the limits more often than uniform sampling would give. */
function intAt(min: number, max: number): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(min, max, min + 1, max - 1, 0), fc.integer({ min, max }));
}

function bigAt(min: bigint, max: bigint): fc.Arbitrary<bigint> {
  return fc.oneof(fc.constantFrom(min, max, min + 1n, max - 1n, 0n), fc.bigInt({ min, max }));
}

function smallIntField(t: (typeof smallInts)[number], be: boolean): fc.Arbitrary<FieldCase> {
  const name = `${be ? 'Be' : ''}${t.name}`;
  return intAt(t.min, t.max).map((v) => ({
    label: `add${name}(${v})`,
    write: (d) => (d as unknown as Dyn)[`add${name}`]!(v),
    ref: bytesOf(t.size, (dv) => setters[t.name]!(dv, v, !be)),
    read: (it) => (it as unknown as Dyn)[`get${name}`]!(),
    value: v,
  }));
}

function int64Field(signed: boolean, be: boolean): fc.Arbitrary<FieldCase> {
  const name = `${be ? 'Be' : ''}${signed ? 'Int64' : 'Uint64'}`;
  const range = signed ? bigAt(-(1n << 63n), (1n << 63n) - 1n) : bigAt(0n, (1n << 64n) - 1n);
  // Sometimes pass the value as a number when that is exact.
  return fc.tuple(range, fc.boolean()).map(([v, asNumber]) => {
    const n = Number(v);
    const arg = asNumber && Number.isSafeInteger(n) ? n : v;
    return {
      label: `add${name}(${String(arg)})`,
      write: (d) => (d as unknown as Dyn)[`add${name}`]!(arg),
      ref: bytesOf(8, (dv) => (signed ? dv.setBigInt64(0, v, !be) : dv.setBigUint64(0, v, !be))),
      read: (it) => (it as unknown as Dyn)[`get${name}`]!(),
      value: v,
    };
  });
}

/** Float32 values from any bit pattern except NaNs (whose payload JS may canonicalise). */
const float32Bits = fc.integer({ min: 0, max: 0xffffffff }).filter((b) => (b & 0x7f800000) !== 0x7f800000 || (b & 0x7fffff) === 0);
const float64Bits = fc
  .bigInt({ min: 0n, max: (1n << 64n) - 1n })
  .filter((b) => ((b >> 52n) & 0x7ffn) !== 0x7ffn || (b & ((1n << 52n) - 1n)) === 0n);

function floatField(width: 32 | 64, be: boolean): fc.Arbitrary<FieldCase> {
  const name = `${be ? 'Be' : ''}Float${width}`;
  const arb: fc.Arbitrary<Uint8Array> =
    width === 32
      ? float32Bits.map((b) => bytesOf(4, (dv) => dv.setUint32(0, b, !be)))
      : float64Bits.map((b) => bytesOf(8, (dv) => dv.setBigUint64(0, b, !be)));
  return arb.map((ref) => {
    const dv = new DataView(ref.buffer);
    const v = width === 32 ? dv.getFloat32(0, !be) : dv.getFloat64(0, !be);
    return {
      label: `add${name}(${Object.is(v, -0) ? '-0' : v})`,
      write: (d) => (d as unknown as Dyn)[`add${name}`]!(v),
      ref,
      read: (it) => (it as unknown as Dyn)[`get${name}`]!(),
      value: v,
    };
  });
}

const text = fc.string({ unit: 'binary', maxLength: 80 });
const longText = fc.string({ unit: 'binary', minLength: 60, maxLength: 400 });
/** ASCII (the decoder's fast paths: ≤ 16 bytes, ≤ 32 bytes, longer), with a non-ASCII tail sometimes. */
const asciiText = fc.tuple(fc.string({ unit: 'binary-ascii', maxLength: 70 }), fc.constantFrom('', 'é', '😀', '\u0080')).map(([a, t]) => a + t);
const anyText = fc.oneof(text, longText, asciiText);

function prefixed(n: number, size: 2 | 4, body: Uint8Array): Uint8Array {
  const head = bytesOf(size, (dv) => (size === 2 ? dv.setUint16(0, n, true) : dv.setUint32(0, n, true)));
  return concat([head, body]);
}

const stringField: fc.Arbitrary<FieldCase> = anyText.map((s) => ({
  label: `addString(${JSON.stringify(s)})`,
  write: (d) => d.addString(s),
  ref: prefixed(utf8.encode(s).length, 2, utf8.encode(s)),
  read: (it) => it.getString(),
  value: s,
}));

const string32Field: fc.Arbitrary<FieldCase> = anyText.map((s) => ({
  label: `addString32(${JSON.stringify(s)})`,
  write: (d) => d.addString32(s),
  ref: prefixed(utf8.encode(s).length, 4, utf8.encode(s)),
  read: (it) => it.getString32(),
  value: s,
}));

const zStringField: fc.Arbitrary<FieldCase> = anyText.map((s) => {
  const cut = s.includes('\0') ? s.slice(0, s.indexOf('\0')) : s;
  return {
    label: `addZString(${JSON.stringify(s)})`,
    write: (d) => d.addZString(s),
    ref: concat([utf8.encode(cut), new Uint8Array(1)]),
    read: (it) => it.getZString(),
    value: cut,
  };
});

const fixedStringField: fc.Arbitrary<FieldCase> = fc
  .tuple(text.filter((s) => !s.includes('\0')), fc.nat({ max: 16 }))
  .map(([s, extra]) => {
    const b = utf8.encode(s);
    const size = b.length + extra;
    return {
      label: `addFixedString(${JSON.stringify(s)}, ${size})`,
      write: (d) => d.addFixedString(s, size),
      ref: concat([b, new Uint8Array(extra)]),
      read: (it) => it.getFixedString(size),
      value: s,
    };
  });

/** Any UTF-16 content, lone surrogates included: wstrings carry code units verbatim. */
const utf16 = fc.oneof(
  text,
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 60 }).map((u) => String.fromCharCode(...u)),
);

const wstringField: fc.Arbitrary<FieldCase> = utf16.map((s) => ({
  label: `addWstring(${JSON.stringify(s)})`,
  write: (d) => d.addWstring(s),
  ref: concat([
    bytesOf(4, (dv) => dv.setUint32(0, s.length, true)),
    bytesOf(2 * s.length, (dv) => {
      for (let i = 0; i < s.length; i++) dv.setUint16(2 * i, s.charCodeAt(i), true);
    }),
  ]),
  read: (it) => it.getWstring(),
  value: s,
}));

const blob = fc.uint8Array({ maxLength: 300 });
const blobField: fc.Arbitrary<FieldCase> = blob.map((b) => ({
  label: `addBlob(${b.length})`,
  write: (d) => d.addBlob(b),
  ref: prefixed(b.length, 2, b),
  read: (it) => it.getBlob(),
  value: b,
}));
const blob32Field: fc.Arbitrary<FieldCase> = blob.map((b) => ({
  label: `addBlob32(${b.length})`,
  write: (d) => d.addBlob32(b),
  ref: prefixed(b.length, 4, b),
  read: (it) => it.getBlob32(),
  value: b,
}));
const appendField: fc.Arbitrary<FieldCase> = blob.map((b) => ({
  label: `appendData(${b.length})`,
  write: (d) => d.appendData(b),
  ref: b,
  read: (it) => it.extractBytes(b.length),
  value: b,
}));
const padField: fc.Arbitrary<FieldCase> = fc.nat({ max: 40 }).map((n) => ({
  label: `padBytes(${n})`,
  write: (d) => d.padBytes(n),
  ref: new Uint8Array(n),
  read: (it) => it.extractBytes(n),
  value: new Uint8Array(n),
}));
const boolField: fc.Arbitrary<FieldCase> = fc.boolean().map((v) => ({
  label: `addBool(${v})`,
  write: (d) => d.addBool(v),
  ref: Uint8Array.of(v ? 1 : 0),
  read: (it) => it.getBool(),
  value: v,
}));

const allFieldKinds: Array<[string, fc.Arbitrary<FieldCase>]> = [
  ...smallInts.map((t) => [`add${t.name}`, smallIntField(t, false)] as [string, fc.Arbitrary<FieldCase>]),
  ...smallInts.filter((t) => t.be).map((t) => [`addBe${t.name}`, smallIntField(t, true)] as [string, fc.Arbitrary<FieldCase>]),
  ['addInt64', int64Field(true, false)],
  ['addUint64', int64Field(false, false)],
  ['addBeInt64', int64Field(true, true)],
  ['addBeUint64', int64Field(false, true)],
  ['addFloat32', floatField(32, false)],
  ['addFloat64', floatField(64, false)],
  ['addBeFloat32', floatField(32, true)],
  ['addBeFloat64', floatField(64, true)],
  ['addBool', boolField],
  ['addString', stringField],
  ['addString32', string32Field],
  ['addZString', zStringField],
  ['addFixedString', fixedStringField],
  ['addWstring', wstringField],
  ['addBlob', blobField],
  ['addBlob32', blob32Field],
  ['appendData', appendField],
  ['padBytes', padField],
];

function checkRoundTrip(fields: FieldCase[]): void {
  const d = new Datagram();
  for (const f of fields) f.write(d);
  expect(hex(d.getMessage())).toBe(hex(concat(fields.map((f) => f.ref))));
  const it = new DatagramIterator(d);
  let at = 0;
  for (const f of fields) {
    const got = f.read(it);
    if (typeof f.value === 'number') expect(Object.is(got, f.value), `${f.label} → ${String(got)}`).toBe(true);
    else expect(got, f.label).toEqual(f.value);
    at += f.ref.length;
    expect(it.getCurrentIndex(), f.label).toBe(at);
  }
  expect(it.getRemainingSize()).toBe(0);
}

describe('round trips per type, at the limits', () => {
  it.each(allFieldKinds)('%s', (_name, arb) => {
    fc.assert(
      fc.property(arb, (f) => checkRoundTrip([f])),
      RUNS,
    );
  });

  it('stdfloat round-trips with either flag', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.double(), (dbl, v) => {
        const d = new Datagram();
        d.setStdfloatDouble(dbl);
        d.addStdfloat(v);
        expect(d.getLength()).toBe(dbl ? 8 : 4);
        const got = new DatagramIterator(d).getStdfloat();
        const want = dbl ? v : Math.fround(v);
        if (Number.isNaN(want)) expect(got).toBeNaN();
        else expect(Object.is(got, want)).toBe(true);
      }),
      RUNS,
    );
  });

  it('strings at the 16-bit limit: ≤ 65535 bytes round-trips, more throws', () => {
    fc.assert(
      fc.property(fc.constantFrom('a', 'é', '€', '😀'), fc.integer({ min: -3, max: 3 }), (ch, delta) => {
        const per = utf8.encode(ch).length;
        const count = Math.floor(65535 / per) + delta;
        const s = ch.repeat(count);
        const d = new Datagram();
        if (count * per > 65535) {
          expect(() => d.addString(s)).toThrow(PandaNetError);
          expect(d.getLength()).toBe(0);
        } else {
          d.addString(s);
          expect(new DatagramIterator(d).getString()).toBe(s);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('mixed sequences', () => {
  it('any sequence of fields concatenates exactly and reads back in order', () => {
    const anyField = fc.oneof(...allFieldKinds.map(([, a]) => a));
    fc.assert(
      fc.property(fc.array(anyField, { maxLength: 40 }), (fields) => checkRoundTrip(fields)),
      RUNS,
    );
  });

  it('reusing a cleared datagram gives the same bytes as a fresh one', () => {
    const anyField = fc.oneof(...allFieldKinds.map(([, a]) => a));
    fc.assert(
      fc.property(fc.array(anyField, { maxLength: 20 }), fc.array(anyField, { maxLength: 20 }), (first, second) => {
        const reused = new Datagram();
        for (const f of first) f.write(reused);
        reused.clear();
        for (const f of second) f.write(reused);
        const fresh = new Datagram();
        for (const f of second) f.write(fresh);
        expect(reused.equals(fresh)).toBe(true);
        expect(hex(reused.getMessage())).toBe(hex(fresh.getMessage()));
      }),
      { numRuns: 150 },
    );
  });
});

describe('iterator robustness on arbitrary bytes', () => {
  type Op = (it: DatagramIterator) => unknown;
  const fixed: Array<[Op, number]> = [
    [(it) => it.getInt8(), 1],
    [(it) => it.getUint16(), 2],
    [(it) => it.getBeInt32(), 4],
    [(it) => it.getUint64(), 8],
    [(it) => it.getFloat32(), 4],
    [(it) => it.getBeFloat64(), 8],
  ];
  const variable: Op[] = [
    (it) => it.getString(),
    (it) => it.getString32(),
    (it) => it.getZString(),
    (it) => it.getWstring(),
    (it) => it.getBlob(),
    (it) => it.getBlob32(),
    (it) => it.getFixedString(3),
    (it) => it.extractBytes(5),
  ];

  it('reads either succeed or throw a typed error; failed fixed-size reads never move', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.oneof(fc.nat({ max: fixed.length - 1 }).map((i) => ({ fixed: i })), fc.nat({ max: variable.length - 1 }).map((i) => ({ variable: i }))), {
          maxLength: 30,
        }),
        (bytes, ops) => {
          const it = new DatagramIterator(new Datagram(bytes));
          for (const op of ops) {
            const before = it.getCurrentIndex();
            if ('fixed' in op) {
              const [read, size] = fixed[op.fixed]!;
              if (before + size > bytes.length) {
                expect(() => read(it)).toThrow(DatagramOverrunError);
                expect(it.getCurrentIndex()).toBe(before);
              } else {
                read(it);
                expect(it.getCurrentIndex()).toBe(before + size);
              }
            } else {
              try {
                variable[op.variable]!(it);
              } catch (e) {
                expect(e instanceof DatagramOverrunError || e instanceof InvalidUtf8Error).toBe(true);
              }
            }
            expect(it.getCurrentIndex()).toBeGreaterThanOrEqual(before);
            expect(it.getCurrentIndex()).toBeLessThanOrEqual(bytes.length);
          }
        },
      ),
      RUNS,
    );
  });
});

describe('equality and ordering agree with byte comparison', () => {
  it('equals ⇔ same bytes ⇔ compareTo 0; compareTo is lexicographic; hashes of equal datagrams match', () => {
    const small = fc.uint8Array({ maxLength: 6, max: 3 });
    fc.assert(
      fc.property(small, small, (a, b) => {
        const da = new Datagram(a);
        const db = new Datagram(b);
        let ref = 0;
        for (let i = 0; i < Math.min(a.length, b.length) && ref === 0; i++) ref = Math.sign(a[i]! - b[i]!);
        if (ref === 0) ref = Math.sign(a.length - b.length);
        expect(da.compareTo(db)).toBe(ref);
        expect(db.compareTo(da)).toBe(ref === 0 ? 0 : -ref);
        expect(da.equals(db)).toBe(ref === 0);
        if (ref === 0) expect(da.getHash()).toBe(db.getHash());
      }),
      RUNS,
    );
  });

  it('dumpHex has one line per 16 bytes, each showing the bytes in hex', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat({ max: 6 }), (bytes, indent) => {
        const lines = new Datagram(bytes).dumpHex(indent).split('\n');
        expect(lines.pop()).toBe('');
        expect(lines.length).toBe(Math.ceil(bytes.length / 16));
        lines.forEach((line, i) => {
          const chunk = bytes.subarray(16 * i, 16 * i + 16);
          expect(line.length).toBe(indent + 4 + 1 + 48 + 2 + chunk.length);
          expect(line.slice(indent + 5, indent + 5 + 3 * chunk.length)).toBe(Array.from(chunk, (x) => ` ${x.toString(16).padStart(2, '0')}`).join(''));
        });
      }),
      RUNS,
    );
  });
});
