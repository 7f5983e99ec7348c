/**
 * Replays every datagram vector captured from real Panda3D 1.11 (`shared/vectors/manifest.json`).
 *
 * For each vector:
 * - encode: each field's `add_*` call is replayed on one pandanet `Datagram`; the result must equal
 *   Panda's bytes (`file` and `hex`), field by field, except for the deviations listed in
 *   `deviation()` (only Q18: astral characters in `add_wstring`), whose bytes are checked against
 *   our documented encoding instead;
 * - decode: a `DatagramIterator` over **Panda's** bytes reads each field back with the matching
 *   getter; results must equal `read_back` (floats by exact bit pattern) and the index must land on
 *   each field's `offset + length`.
 *
 * The replay is driven by the method name and the argument encodings described in the manifest notes.
 * Unknown methods, argument keys or patterns fail the test, so a new kind of vector can't be skipped.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Datagram, DatagramIterator } from '../../src/datagram/index.js';
import { InvalidArgumentError, InvalidUtf8Error, TooLongError } from '../../src/errors.js';

// ------------------------------------------------------------------------------------------------
// manifest

interface ByteString {
  length?: number;
  hex?: string;
  utf8?: string;
  pattern?: string;
  hex_prefix?: string;
  note?: string;
  codepoints?: number[];
}

interface Field {
  method: string;
  args: Record<string, unknown>;
  offset: number;
  length: number;
  hex?: string;
  read_back: Record<string, unknown>;
}

interface DatagramVector {
  name: string;
  file: string;
  length: number;
  hex?: string;
  note?: string;
  fields: Field[];
}

interface Manifest {
  panda3d_version: string;
  notes: string[];
  datagrams: DatagramVector[];
}

const manifestUrl = new URL('../../../shared/vectors/manifest.json', import.meta.url);
const manifest = JSON.parse(readFileSync(manifestUrl, 'utf8')) as Manifest;

function readVectorFile(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(rel, manifestUrl)));
}

// ------------------------------------------------------------------------------------------------
// helpers

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function hexToBytes(hex: string): Uint8Array {
  expect(hex).toMatch(/^([0-9a-f]{2})*$/);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
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

function expectKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) expect.fail(`${where}: unknown key "${k}" — teach the replay about it`);
  }
}

/** The only generated pattern the manifest uses; any other fails loudly. */
function patternBytes(pattern: string, length: number): Uint8Array {
  if (pattern !== "byte i = 'a' + i%26") expect.fail(`unknown byte pattern ${JSON.stringify(pattern)}`);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = 0x61 + (i % 26);
  return out;
}

interface Decoded {
  bytes: Uint8Array;
  /** The value as a JS string, when the bytes are text (`utf8` given, or a pattern). */
  text: string | undefined;
}

/** Decodes a manifest byte string `{length, hex, utf8}` / `{length, pattern}`. */
function byteString(v: unknown, where: string): Decoded {
  expect(v, where).toBeTypeOf('object');
  const bs = v as ByteString;
  expectKeys(bs as Record<string, unknown>, ['length', 'hex', 'utf8', 'pattern'], where);
  let bytes: Uint8Array;
  let text: string | undefined;
  if (bs.pattern !== undefined) {
    expect(bs.length, where).toBeTypeOf('number');
    bytes = patternBytes(bs.pattern, bs.length!);
    text = strictUtf8.decode(bytes);
  } else {
    expect(bs.hex, where).toBeTypeOf('string');
    bytes = hexToBytes(bs.hex!);
    text = bs.utf8;
    if (text !== undefined) expect(toHex(utf8.encode(text)), `${where}: utf8 vs hex`).toBe(bs.hex);
  }
  if (bs.length !== undefined) expect(bytes.length, `${where}: length`).toBe(bs.length);
  return { bytes, text };
}

/** Parses `"0x…"` bits (8 hex digits: binary32, 16: binary64) into the JS number they denote. */
function floatFromBits(bits: unknown, where: string): { width: 32 | 64; value: number; bits: bigint } {
  expect(bits, where).toMatch(/^0x([0-9a-f]{8}|[0-9a-f]{16})$/);
  const s = bits as string;
  const dv = new DataView(new ArrayBuffer(8));
  if (s.length === 10) {
    dv.setUint32(0, parseInt(s.slice(2), 16));
    return { width: 32, value: dv.getFloat32(0), bits: BigInt(s) };
  }
  dv.setBigUint64(0, BigInt(s));
  return { width: 64, value: dv.getFloat64(0), bits: BigInt(s) };
}

function bitsOf(value: number, width: 32 | 64): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  if (width === 32) {
    dv.setFloat32(0, value);
    return BigInt(dv.getUint32(0));
  }
  dv.setFloat64(0, value);
  return dv.getBigUint64(0);
}

/** snake_case Panda name → camelCase alias (spec §0.1). */
function camel(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

type AnyMethod = (...args: unknown[]) => unknown;

function method(target: object, name: string, where: string): AnyMethod {
  const fn = (target as Record<string, unknown>)[name];
  if (typeof fn !== 'function') expect.fail(`${where}: ${target.constructor.name} has no method ${name}`);
  return (fn as AnyMethod).bind(target);
}

// ------------------------------------------------------------------------------------------------
// method kinds

type Kind =
  | { kind: 'bool' }
  | { kind: 'int'; bits: 8 | 16 | 32 }
  | { kind: 'int64' }
  | { kind: 'float'; width: 32 | 64 }
  | { kind: 'stdfloat' }
  | { kind: 'string'; prefix: 0 | 2 | 4 } // 0 = NUL-terminated
  | { kind: 'fixed_string' }
  | { kind: 'wstring' }
  | { kind: 'blob'; prefix: 2 | 4 }
  | { kind: 'pad' }
  | { kind: 'append' };

function kindOf(m: string): Kind {
  let r: RegExpExecArray | null;
  if (m === 'add_bool') return { kind: 'bool' };
  if ((r = /^add_(?:be_)?u?int(8|16|32|64)$/.exec(m))) {
    return r[1] === '64' ? { kind: 'int64' } : { kind: 'int', bits: Number(r[1]) as 8 | 16 | 32 };
  }
  if ((r = /^add_(?:be_)?float(32|64)$/.exec(m))) return { kind: 'float', width: Number(r[1]) as 32 | 64 };
  switch (m) {
    case 'add_stdfloat':
      return { kind: 'stdfloat' };
    case 'add_string':
      return { kind: 'string', prefix: 2 };
    case 'add_string32':
      return { kind: 'string', prefix: 4 };
    case 'add_z_string':
      return { kind: 'string', prefix: 0 };
    case 'add_fixed_string':
      return { kind: 'fixed_string' };
    case 'add_wstring':
      return { kind: 'wstring' };
    case 'add_blob':
      return { kind: 'blob', prefix: 2 };
    case 'add_blob32':
      return { kind: 'blob', prefix: 4 };
    case 'pad_bytes':
      return { kind: 'pad' };
    case 'append_data':
      return { kind: 'append' };
    default:
      return expect.fail(`unknown datagram method in the manifest: ${m} — add it to the replay`);
  }
}

/** The getter that reads back what `add_*` wrote. */
function getterName(m: string): string {
  if (m === 'pad_bytes') return 'skipBytes';
  if (m === 'append_data') return 'extractBytes';
  return camel(m.replace(/^add_/, 'get_'));
}

/**
 * Fields where pandanet deliberately differs from the captured bytes. Returns our expected bytes,
 * or undefined when we must match Panda exactly.
 */
function deviation(f: Field): { reason: string; bytes: Uint8Array } | undefined {
  if (f.method === 'add_wstring') {
    const cps = (f.args.value as ByteString).codepoints!;
    if (cps.some((c) => c > 0xffff)) {
      // Q18: Linux Panda writes one wchar_t per code point truncated to 16 bits; we write UTF-16 units.
      const s = String.fromCodePoint(...cps);
      const out = new Uint8Array(4 + 2 * s.length);
      const dv = new DataView(out.buffer);
      dv.setUint32(0, s.length, true);
      for (let i = 0; i < s.length; i++) dv.setUint16(4 + 2 * i, s.charCodeAt(i), true);
      return { reason: 'Q18 wstring as UTF-16 code units', bytes: out };
    }
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------------
// encode: replay one field

interface EncodeResult {
  /** The bytes this field must have produced in our datagram. */
  expected: Uint8Array;
  /** True when the write was expected to fail (and did, leaving the datagram unchanged). */
  failed: boolean;
}

function expectThrowsUnchanged(dg: Datagram, fn: () => unknown, errorClass: new (...a: never[]) => Error, where: string): void {
  const before = dg.getMessage();
  expect(fn, where).toThrow(errorClass);
  expect(toHex(dg.getMessage()), `${where}: datagram unchanged after the error`).toBe(toHex(before));
}

function encodeField(dg: Datagram, f: Field, pandaBytes: Uint8Array, where: string): EncodeResult {
  const k = kindOf(f.method);
  const name = camel(f.method);
  const add = method(dg, name, where);
  const args = f.args;
  const dev = deviation(f);
  const expected = dev ? dev.bytes : pandaBytes;
  const ok = (): EncodeResult => ({ expected, failed: false });

  switch (k.kind) {
    case 'bool':
      expectKeys(args, ['value'], where);
      expect(args.value, where).toBeTypeOf('boolean');
      add(args.value);
      return ok();
    case 'int':
      expectKeys(args, ['value'], where);
      expect(Number.isInteger(args.value), where).toBe(true);
      add(args.value);
      return ok();
    case 'int64': {
      expectKeys(args, ['value'], where);
      expect(args.value, where).toMatch(/^-?\d+$/);
      const b = BigInt(args.value as string);
      add(b);
      // The number overload must agree wherever a number can hold the value exactly.
      const n = Number(b);
      if (Number.isSafeInteger(n)) {
        const alt = new Datagram();
        method(alt, name, where)(n);
        expect(toHex(alt.getMessage()), `${where}: number overload`).toBe(toHex(pandaBytes));
      }
      return ok();
    }
    case 'float': {
      expectKeys(args, ['value', 'bits', 'note'], where);
      // bits are authoritative (the argument as passed: binary64, or binary32 for float inputs);
      // `value` is informative only (vector 101 prints a binary32 denormal as 0).
      add(floatFromBits(args.bits, where).value);
      return ok();
    }
    case 'stdfloat':
      expectKeys(args, ['value', 'stdfloat_double'], where);
      expect(args.value, where).toBeTypeOf('number');
      expect(args.stdfloat_double, where).toBeTypeOf('boolean');
      dg.setStdfloatDouble(args.stdfloat_double as boolean);
      add(args.value);
      return ok();
    case 'string': {
      expectKeys(args, ['value'], where);
      const v = byteString(args.value, where);
      if (k.prefix === 2 && v.bytes.length > 0xffff) {
        // Panda asserts and writes nothing; we throw TooLongError and write nothing.
        expect(f.length, `${where}: Panda wrote nothing`).toBe(0);
        expectThrowsUnchanged(dg, () => add(v.text ?? ''), TooLongError, where);
        return { expected: new Uint8Array(0), failed: true };
      }
      if (v.text !== undefined) {
        add(v.text);
        return ok();
      }
      // Binary (non-UTF-8) bytes: Python's str-only setters can't express them either. Our setter
      // rejects bytes; the wire-identical byte-level call must then produce Panda's bytes.
      expectThrowsUnchanged(dg, () => add(v.bytes), InvalidArgumentError, where);
      if (k.prefix === 2) dg.addBlob(v.bytes);
      else if (k.prefix === 4) dg.addBlob32(v.bytes);
      else {
        const nul = v.bytes.indexOf(0);
        const prefix = nul < 0 ? v.bytes : v.bytes.subarray(0, nul);
        let text: string | undefined;
        try {
          text = strictUtf8.decode(prefix);
        } catch {
          text = undefined;
        }
        if (text !== undefined) dg.addZString(text);
        else {
          dg.appendData(prefix);
          dg.addUint8(0);
        }
      }
      return ok();
    }
    case 'fixed_string': {
      expectKeys(args, ['value', 'size'], where);
      const v = byteString(args.value, where);
      expect(Number.isInteger(args.size), where).toBe(true);
      add(v.text ?? v.bytes, args.size);
      // The bytes overload must agree with the string overload.
      const alt = new Datagram();
      alt.addFixedString(v.bytes, args.size as number);
      expect(toHex(alt.getMessage()), `${where}: bytes overload`).toBe(toHex(pandaBytes));
      return ok();
    }
    case 'wstring': {
      expectKeys(args, ['value'], where);
      const cps = (args.value as ByteString).codepoints;
      expect(Array.isArray(cps), where).toBe(true);
      expectKeys(args.value as Record<string, unknown>, ['codepoints'], where);
      add(String.fromCodePoint(...cps!));
      return ok();
    }
    case 'blob': {
      expectKeys(args, ['value'], where);
      const v = byteString(args.value, where);
      if (k.prefix === 2 && v.bytes.length > 0xffff) {
        expect(f.length, `${where}: Panda wrote nothing`).toBe(0);
        expectThrowsUnchanged(dg, () => add(v.bytes), TooLongError, where);
        return { expected: new Uint8Array(0), failed: true };
      }
      add(v.bytes);
      return ok();
    }
    case 'pad':
      expectKeys(args, ['size'], where);
      add(args.size);
      return ok();
    case 'append': {
      expectKeys(args, ['value'], where);
      add(byteString(args.value, where).bytes);
      return ok();
    }
  }
}

// ------------------------------------------------------------------------------------------------
// decode: read one field back from Panda's bytes

function decodeField(it: DatagramIterator, f: Field, where: string): void {
  const k = kindOf(f.method);
  const rb = f.read_back;
  const start = it.getCurrentIndex();
  expect(start, `${where}: index before`).toBe(f.offset);
  if ('note' in rb && Object.keys(rb).length === 1) {
    // "nothing was written": there is nothing to read back.
    expect(f.length, where).toBe(0);
    return;
  }
  const get = method(it, getterName(f.method), where);

  switch (k.kind) {
    case 'bool':
    case 'int':
      expectKeys(rb, ['value'], where);
      expect(get(), where).toBe(rb.value);
      break;
    case 'int64':
      expectKeys(rb, ['value'], where);
      expect(get(), where).toBe(BigInt(rb.value as string));
      break;
    case 'float':
    case 'stdfloat': {
      expectKeys(rb, ['value', 'bits'], where);
      const want = floatFromBits(rb.bits, where);
      if (k.kind === 'stdfloat') it.getDatagram()!.setStdfloatDouble(f.args.stdfloat_double as boolean);
      const got = get() as number;
      expect(typeof got, where).toBe('number');
      expect(bitsOf(got, want.width), `${where}: bits`).toBe(want.bits);
      if (Number.isNaN(want.value)) expect(got, where).toBeNaN();
      else expect(Object.is(got, want.value), `${where}: ${got} vs ${want.value}`).toBe(true);
      break;
    }
    case 'string':
    case 'fixed_string': {
      expectKeys(rb, ['length', 'hex', 'utf8', 'hex_prefix', 'pattern'], where);
      let text: string | undefined;
      let bytes: Uint8Array | undefined;
      if (rb.pattern !== undefined) {
        // "see generator": the same pattern as the argument.
        const arg = byteString(f.args.value, where);
        bytes = arg.bytes;
        text = arg.text;
        expect(toHex(bytes).startsWith(rb.hex_prefix as string), `${where}: hex_prefix`).toBe(true);
      } else {
        const v = byteString({ length: rb.length, hex: rb.hex, utf8: rb.utf8 }, where);
        bytes = v.bytes;
        text = v.text;
      }
      expect(bytes.length, where).toBe(rb.length);
      const call = (): unknown => (k.kind === 'fixed_string' ? get(f.args.size) : get());
      if (text !== undefined) {
        expect(call(), where).toBe(text);
      } else {
        // Not UTF-8: strict decoding refuses; the field is consumed as Panda's C++ getter consumed it.
        expect(call, where).toThrow(InvalidUtf8Error);
        expect(it.getCurrentIndex(), `${where}: index after InvalidUtf8Error`).toBe(f.offset + f.length);
        const raw = new DatagramIterator(it.getDatagram()!, f.offset);
        const got =
          k.kind === 'string' && (f.method === 'add_string' || f.method === 'add_string32')
            ? f.method === 'add_string'
              ? raw.getBlob()
              : raw.getBlob32()
            : raw.extractBytes(bytes.length);
        expect(toHex(got), where).toBe(toHex(bytes));
      }
      break;
    }
    case 'wstring': {
      expectKeys(rb, ['codepoints'], where);
      const s = get() as string;
      // Panda returns one wide char per uint16 read; compare UTF-16 units.
      expect(Array.from({ length: s.length }, (_, i) => s.charCodeAt(i)), where).toEqual(rb.codepoints);
      break;
    }
    case 'blob':
      expectKeys(rb, ['length', 'hex', 'utf8'], where);
      expect(toHex(get() as Uint8Array), where).toBe(rb.hex);
      break;
    case 'pad':
      expectKeys(rb, ['skipped'], where);
      get(rb.skipped);
      break;
    case 'append':
      expectKeys(rb, ['length', 'hex'], where);
      expect(toHex(get(rb.length) as Uint8Array), where).toBe(rb.hex);
      break;
  }
  expect(it.getCurrentIndex(), `${where}: index after`).toBe(f.offset + f.length);
}

// ------------------------------------------------------------------------------------------------

describe('Panda3D datagram vectors (shared/vectors/manifest.json)', () => {
  it('has the vectors this suite was written against', () => {
    expect(manifest.panda3d_version).toMatch(/^1\.11/);
    expect(manifest.datagrams.length).toBeGreaterThanOrEqual(134);
    // Every method named anywhere is one the replay knows (kindOf fails loudly otherwise).
    for (const v of manifest.datagrams) for (const f of v.fields) kindOf(f.method);
  });

  it.each(manifest.datagrams.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const panda = readVectorFile(v.file);
    expect(panda.length, 'file length').toBe(v.length);
    if (v.hex !== undefined) expect(toHex(panda), 'file vs hex').toBe(v.hex);

    // Fields tile the datagram in order.
    let end = 0;
    for (const f of v.fields) {
      expect(f.offset, `${f.method} offset`).toBe(end);
      end += f.length;
      if (f.hex !== undefined) expect(toHex(panda.subarray(f.offset, f.offset + f.length))).toBe(f.hex);
    }
    expect(end, 'fields cover the file').toBe(panda.length);

    // Encode.
    const dg = new Datagram();
    const expectedParts: Uint8Array[] = [];
    let deviations = 0;
    let failures = 0;
    v.fields.forEach((f, i) => {
      const where = `${v.name} field ${i} ${f.method}`;
      const before = dg.getLength();
      const pandaBytes = panda.subarray(f.offset, f.offset + f.length);
      const r = encodeField(dg, f, pandaBytes, where);
      const mine = dg.getMessage().subarray(before);
      expect(toHex(mine), where).toBe(toHex(r.expected));
      expectedParts.push(r.expected);
      if (r.failed) failures++;
      const dev = deviation(f);
      if (dev) {
        deviations++;
        // Our own encoding round-trips to the original string.
        const back = new DatagramIterator(dg, before);
        expect(back.getWstring(), `${where}: ${dev.reason} round trip`).toBe(
          String.fromCodePoint(...(f.args.value as ByteString).codepoints!),
        );
      }
    });
    expect(toHex(dg.getMessage()), 'whole datagram').toBe(toHex(concat(expectedParts)));
    if (deviations === 0) expect(toHex(dg.getMessage()), 'identical to Panda').toBe(toHex(panda));
    if (v.name.endsWith('_too_long')) expect(failures, 'a _too_long vector must exercise the limit').toBeGreaterThan(0);

    // Decode Panda's bytes.
    const src = new Datagram(panda);
    const it = new DatagramIterator(src);
    v.fields.forEach((f, i) => decodeField(it, f, `${v.name} field ${i} ${f.method}`));
    expect(it.getRemainingSize(), 'everything read').toBe(0);
  });
});
