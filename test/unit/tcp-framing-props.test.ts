import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameTooLargeError } from '../../src/errors.js';
import { MAX_RAW_CHUNK, TcpFrameDecoder, type TcpHeaderSize, encodeTcpFrame } from '../../src/protocol/tcp-framing.js';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Splits `data` at the given cut points (taken modulo length+1, sorted, duplicates allowed → empty chunks). */
function splitAt(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = cuts.map((c) => c % (data.length + 1)).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  out.push(data.subarray(prev));
  return out;
}

const headerSize = fc.constantFrom<TcpHeaderSize>(2, 4);
const payloads = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 });

describe('TcpFrameDecoder properties', () => {
  it('framed payloads, concatenated and split anywhere, decode to the same datagram list', () => {
    fc.assert(
      fc.property(headerSize, payloads, fc.array(fc.nat(), { maxLength: 40 }), (hs, list, cuts) => {
        const wire = concat(list.map((p) => encodeTcpFrame(p, hs, false)));
        const d = new TcpFrameDecoder({ headerSize: hs, rawMode: false });
        const got: Uint8Array[] = [];
        for (const chunk of splitAt(wire, cuts)) d.push(chunk, (p) => got.push(p.slice()));
        expect(got).toEqual(list);
        expect(d.bufferedBytes).toBe(0);
        expect(d.state).toBe('boundary');
      }),
      { numRuns: 300 },
    );
  });

  it('the same stream pushed one byte at a time decodes identically', () => {
    fc.assert(
      fc.property(headerSize, fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), (hs, list) => {
        const wire = concat(list.map((p) => encodeTcpFrame(p, hs, false)));
        const d = new TcpFrameDecoder({ headerSize: hs, rawMode: false });
        const got: Uint8Array[] = [];
        for (let i = 0; i < wire.length; i++) d.push(wire.subarray(i, i + 1), (p) => got.push(p.slice()));
        expect(got).toEqual(list);
      }),
      { numRuns: 200 },
    );
  });

  it('raw mode: any split gives chunks of ≤ 1502 bytes that concatenate to the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.array(fc.nat(), { maxLength: 10 }), (data, cuts) => {
        const d = new TcpFrameDecoder({ headerSize: 2, rawMode: true });
        const got: Uint8Array[] = [];
        for (const chunk of splitAt(data, cuts)) d.push(chunk, (p) => got.push(p.slice()));
        expect(got.every((c) => c.length > 0 && c.length <= MAX_RAW_CHUNK)).toBe(true);
        expect(concat(got)).toEqual(data);
      }),
      { numRuns: 200 },
    );
  });

  /** Runs `wire` through a decoder; only frames or FrameTooLargeError, never past `max`. */
  function fuzzOnce(hs: TcpHeaderSize, max: number, wire: Uint8Array, cuts: number[]): void {
    const d = new TcpFrameDecoder({ headerSize: hs, rawMode: false, maxDatagramSize: max });
    try {
      for (const chunk of splitAt(wire, cuts)) {
        d.push(chunk, (p) => {
          expect(p.length).toBeLessThanOrEqual(max);
        });
        expect(d.bufferedBytes).toBeLessThanOrEqual(hs + max);
        expect(d.pendingFrameLength).toBeLessThanOrEqual(max);
      }
    } catch (e) {
      if (!(e instanceof FrameTooLargeError)) throw e;
      expect(e.announced).toBeGreaterThan(max);
      expect(d.state).toBe('failed');
      expect(d.bufferedBytes).toBe(0);
      expect(() => d.push(new Uint8Array(1), () => {})).toThrow(FrameTooLargeError);
    }
  }

  it('fuzz: random byte streams produce only frames or FrameTooLargeError', () => {
    fc.assert(
      fc.property(
        headerSize,
        fc.integer({ min: 0, max: 600 }),
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (hs, max, wire, cuts) => fuzzOnce(hs, max, wire, cuts),
      ),
      { numRuns: 500 },
    );
  });

  it('fuzz: mutated valid streams produce only frames or FrameTooLargeError', () => {
    fc.assert(
      fc.property(
        headerSize,
        fc.integer({ min: 0, max: 400 }),
        payloads,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (hs, max, list, mutations, cuts) => {
          const wire = concat(list.map((p) => encodeTcpFrame(p, hs, false)));
          if (wire.length === 0) return;
          for (const [at, val] of mutations) wire[at % wire.length] = val;
          fuzzOnce(hs, max, wire, cuts);
        },
      ),
      { numRuns: 500 },
    );
  });
});
