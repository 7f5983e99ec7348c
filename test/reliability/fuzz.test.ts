/**
 * Fuzzing with fast-check (issue 8), pure code, no sockets: random and mutated byte streams into
 * TcpFrameDecoder (header sizes 0, 2 and 4, raw mode, settings changed mid-stream, any split),
 * random packets into checkUdpPacket / decodeUdpPacket, and every DatagramIterator (and
 * PyDatagramIterator.getArg) getter on random bytes with random arguments. Only typed errors
 * (PandaNetError subclasses) may come out, never another exception; and nothing is allocated beyond
 * the maximum datagram size: `new Uint8Array(n)` is spied on during every call, and the decoder's
 * `bufferedBytes` / `pendingFrameLength` are checked after every push.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Datagram,
  DatagramIterator,
  FrameTooLargeError,
  InvalidArgumentError,
  MAX_RAW_CHUNK,
  MAX_UDP_PAYLOAD,
  PandaNetError,
  PyDatagramIterator,
  TcpFrameDecoder,
  UDP_RECEIVE_BUFFER,
  UdpPacketError,
  checkUdpPacket,
  decodeUdpPacket,
  encodeTcpFrame,
  type TcpHeaderSize,
} from '../../src/index.js';
import { record } from '../helpers/faults.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 400);

// ---------------------------------------------------------------------------------------------
// allocation spy

const RealUint8Array = Uint8Array;
const g = globalThis as unknown as { Uint8Array: Uint8ArrayConstructor };
let largestAllocation = 0;

/** `new Uint8Array(n)` with a numeric length is recorded while {@link spied} runs. */
class SpyUint8Array extends RealUint8Array {
  constructor(...args: unknown[]) {
    if (typeof args[0] === 'number' && args[0] > largestAllocation) largestAllocation = args[0];
    super(...(args as []));
  }
}

/** Runs `fn` with the spy installed; returns the largest typed-array length allocated by number. */
function spied(fn: () => void): number {
  largestAllocation = 0;
  g.Uint8Array = SpyUint8Array as unknown as Uint8ArrayConstructor;
  try {
    fn();
  } finally {
    g.Uint8Array = RealUint8Array;
  }
  return largestAllocation;
}

/** Calls `fn`; an exception must be a PandaNetError (returned), anything else fails the property. */
function typedOnly(what: string, fn: () => void): PandaNetError | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (err instanceof PandaNetError) return err;
    throw new Error(`${what} threw a non-PandaNetError: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// streams

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new RealUint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

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

type Mutation = { kind: 'flip'; at: number; xor: number } | { kind: 'insert'; at: number; bytes: Uint8Array } | { kind: 'delete'; at: number; n: number } | { kind: 'truncate'; at: number };

function mutate(data: Uint8Array, muts: Mutation[]): Uint8Array {
  let d = data;
  for (const m of muts) {
    const at = d.length === 0 ? 0 : m.at % (d.length + 1);
    if (m.kind === 'flip' && at < d.length) {
      d = d.slice();
      d[at] = d[at]! ^ (m.xor || 0xff);
    } else if (m.kind === 'insert') d = concat([d.subarray(0, at), m.bytes, d.subarray(at)]);
    else if (m.kind === 'delete') d = concat([d.subarray(0, at), d.subarray(Math.min(d.length, at + m.n))]);
    else if (m.kind === 'truncate') d = d.subarray(0, at);
  }
  return d;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

const headerSize = fc.constantFrom<TcpHeaderSize>(0, 2, 4);
// (Not 2^31 − 1 here: a header may then legitimately make the decoder allocate up to 2 GiB; that limit
// is covered by its own test below without any body byte.)
const maxSize = fc.oneof(fc.integer({ min: 0, max: 2048 }), fc.constantFrom(0, 1, 1024, 65_535, 1 << 20));
/** Hostile 4-byte headers mixed into streams: lengths near the limits. */
const hostileHeader = fc.constantFrom(0xffffffff, 0x80000000, 0x7fffffff, 0x7fff0000, 1 << 20, (1 << 20) + 1, 65_535, 65_536, 1025).map((n) => {
  const b = new RealUint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
});

/** A step of a decoding session: push a chunk, or change a setting between chunks. */
type Step = { op: 'push'; chunk: Uint8Array } | { op: 'header'; size: number } | { op: 'raw'; on: boolean } | { op: 'reset' };

interface DecodeStats {
  sessions: number;
  pushes: number;
  frames: number;
  typedErrors: number;
  /** Largest allocation seen during a push, as a fraction of that session's maximum datagram size. */
  largestAllocationOverMax: number;
}
const decodeStats: DecodeStats = { sessions: 0, pushes: 0, frames: 0, typedErrors: 0, largestAllocationOverMax: 0 };

/** Runs a session and checks every invariant after every step. */
function runDecoder(hs: TcpHeaderSize, raw: boolean, max: number, steps: Step[]): void {
  const d = new TcpFrameDecoder({ headerSize: hs, rawMode: raw, maxDatagramSize: max });
  decodeStats.sessions++;
  let pushed = 0;
  let delivered = 0;
  let failed = false;
  for (const step of steps) {
    if (step.op === 'header') {
      const err = typedOnly('setHeaderSize', () => d.setHeaderSize(step.size as TcpHeaderSize));
      if (step.size === 0 || step.size === 2 || step.size === 4) expect(err).toBeNull();
      else expect(err).toBeInstanceOf(InvalidArgumentError);
      continue;
    }
    if (step.op === 'raw') {
      d.setRawMode(step.on);
      continue;
    }
    if (step.op === 'reset') {
      d.reset();
      failed = false;
      expect(d.state).toBe('boundary');
      expect(d.bufferedBytes).toBe(0);
      continue;
    }
    const chunk = step.chunk;
    decodeStats.pushes++;
    let err: PandaNetError | null = null;
    const largest = spied(() => {
      err = typedOnly('TcpFrameDecoder.push', () =>
        d.push(chunk, (payload) => {
          decodeStats.frames++;
          delivered += payload.length;
          // A delivered datagram is never over the limit (raw chunks: never over 1502 bytes).
          expect(payload.length).toBeLessThanOrEqual(Math.max(max, MAX_RAW_CHUNK));
          if (payload.length > max) expect(payload.length).toBeLessThanOrEqual(MAX_RAW_CHUNK);
        }),
      );
    });
    if (max > 0) decodeStats.largestAllocationOverMax = Math.max(decodeStats.largestAllocationOverMax, largest / max);
    // Nothing allocated beyond the maximum datagram size.
    expect(largest, `allocated ${largest} bytes with maxDatagramSize ${max}`).toBeLessThanOrEqual(max);
    if (err !== null) {
      decodeStats.typedErrors++;
      expect(err).toBeInstanceOf(FrameTooLargeError);
      expect((err as FrameTooLargeError).announced).toBeGreaterThan((err as FrameTooLargeError).maximum);
      expect(d.state).toBe('failed');
      failed = true;
    } else {
      expect(failed, 'a failed decoder keeps failing until reset').toBe(false);
    }
    pushed += chunk.length; // (a failing push may still deliver the frames that completed before the bad header)
    // What the decoder holds is bounded by header + maximum, and so is what it expects.
    expect(d.bufferedBytes).toBeLessThanOrEqual(4 + max);
    expect(d.pendingFrameLength).toBeLessThanOrEqual(max);
    expect(delivered).toBeLessThanOrEqual(pushed);
  }
}

const chunkSteps = (data: Uint8Array, cuts: number[]): Step[] => splitAt(data, cuts).map((chunk) => ({ op: 'push' as const, chunk }));

describe('fuzz: TcpFrameDecoder', () => {
  it('random byte streams, any header size, raw or not, any split: only FrameTooLargeError, bounded memory', () => {
    fc.assert(
      fc.property(headerSize, fc.boolean(), maxSize, fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 30 }), (hs, raw, max, data, cuts) => {
        runDecoder(hs, raw, max, chunkSteps(data, cuts));
      }),
      { numRuns: RUNS },
    );
  });

  it('valid streams mutated (flips, insertions, deletions, truncation, hostile headers), split anywhere', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<2 | 4>(2, 4),
        maxSize,
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.array(mutation, { maxLength: 6 }),
        fc.option(fc.tuple(fc.nat(), hostileHeader), { nil: undefined }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (hs, max, payloads, muts, hostile, cuts) => {
          let wire = concat(payloads.map((p) => encodeTcpFrame(p, hs, false)));
          wire = mutate(wire, muts);
          if (hostile !== undefined) wire = mutate(wire, [{ kind: 'insert', at: hostile[0], bytes: hostile[1] }]);
          runDecoder(hs, false, max, chunkSteps(wire, cuts));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('settings changed between chunks (header 0/2/4, invalid sizes, raw on/off, reset): still only typed errors', () => {
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 6, arbitrary: fc.uint8Array({ maxLength: 400 }).map((chunk) => ({ op: 'push' as const, chunk })) },
      { weight: 1, arbitrary: fc.constantFrom(0, 2, 4, 3, -1, 8, 2.5, Number.NaN).map((size) => ({ op: 'header' as const, size })) },
      { weight: 1, arbitrary: fc.boolean().map((on) => ({ op: 'raw' as const, on })) },
      { weight: 1, arbitrary: fc.constant({ op: 'reset' as const }) },
    );
    fc.assert(
      fc.property(headerSize, fc.boolean(), maxSize, fc.array(step, { maxLength: 25 }), (hs, raw, max, steps) => {
        runDecoder(hs, raw, max, steps);
      }),
      { numRuns: RUNS },
    );
  });

  it('a header announcing more than the maximum fails before any allocation of that size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 16 }), fc.integer({ min: 1, max: 0x7fffffff }), fc.boolean(), (max, over, splitHeader) => {
        const announced = Math.min(0xffffffff, max + over);
        const h = new RealUint8Array(4);
        new DataView(h.buffer).setUint32(0, announced, true);
        const steps: Step[] = splitHeader ? [...h].map((b) => ({ op: 'push' as const, chunk: RealUint8Array.of(b) })) : [{ op: 'push', chunk: h }];
        steps.push({ op: 'push', chunk: new RealUint8Array(64) });
        runDecoder(4, false, max, steps);
      }),
      { numRuns: RUNS },
    );
  });

  it('maxDatagramSize 2^31 − 1: a header of 2^31 or more still fails without allocating', () => {
    for (const announced of [0x80000000, 0xfffffffe, 0xffffffff]) {
      const h = new RealUint8Array(4);
      new DataView(h.buffer).setUint32(0, announced, true);
      runDecoder(4, false, 0x7fffffff, [{ op: 'push', chunk: concat([h, new RealUint8Array(16)]) }]);
    }
    record('fuzz-decoder', { ...decodeStats, runsPerProperty: RUNS });
  });
});

describe('fuzz: UDP header check', () => {
  it('checkUdpPacket never throws; decodeUdpPacket throws only UdpPacketError, exactly when check says null', () => {
    let packets = 0;
    let rejected = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2000 }),
          // Valid packets, then mutated.
          fc.tuple(fc.uint8Array({ maxLength: 1600 }), fc.array(mutation, { maxLength: 3 })).map(([p, m]) => {
            let sum = 0;
            for (const b of p) sum = (sum + b) & 0xffff;
            return mutate(concat([RealUint8Array.of(sum & 0xff, sum >>> 8), p]), m);
          }),
        ),
        fc.boolean(),
        (packet, raw) => {
          packets++;
          let checked: Uint8Array | null = null;
          const allocCheck = spied(() => {
            const err = typedOnly('checkUdpPacket', () => {
              checked = checkUdpPacket(packet, raw);
            });
            expect(err, 'checkUdpPacket must not throw').toBeNull();
          });
          let decoded: Uint8Array | null = null;
          let err: PandaNetError | null = null;
          const allocDecode = spied(() => {
            err = typedOnly('decodeUdpPacket', () => {
              decoded = decodeUdpPacket(packet, raw);
            });
          });
          expect(Math.max(allocCheck, allocDecode), 'no allocation while checking a packet').toBeLessThanOrEqual(0);
          if (checked === null) {
            rejected++;
            expect(err).toBeInstanceOf(UdpPacketError);
          } else {
            expect(err).toBeNull();
            expect(decoded).toEqual(checked);
            expect((checked as Uint8Array).length).toBeLessThanOrEqual(raw ? UDP_RECEIVE_BUFFER : MAX_UDP_PAYLOAD);
          }
        },
      ),
      { numRuns: RUNS * 2 },
    );
    record('fuzz-udp', { packets, rejected });
  });
});

// ---------------------------------------------------------------------------------------------
// DatagramIterator

/** Every reading method, with how to call it. Sizes and divisors come from the fuzzer. */
type Call = (it: PyDatagramIterator, arg: number, arg2: number) => unknown;
const CALLS: Record<string, Call> = {
  getBool: (it) => it.getBool(),
  getInt8: (it) => it.getInt8(),
  getUint8: (it) => it.getUint8(),
  getInt16: (it) => it.getInt16(),
  getUint16: (it) => it.getUint16(),
  getInt32: (it) => it.getInt32(),
  getUint32: (it) => it.getUint32(),
  getInt64: (it) => it.getInt64(),
  getUint64: (it) => it.getUint64(),
  getBeInt16: (it) => it.getBeInt16(),
  getBeUint16: (it) => it.getBeUint16(),
  getBeInt32: (it) => it.getBeInt32(),
  getBeUint32: (it) => it.getBeUint32(),
  getBeInt64: (it) => it.getBeInt64(),
  getBeUint64: (it) => it.getBeUint64(),
  getFloat32: (it) => it.getFloat32(),
  getFloat64: (it) => it.getFloat64(),
  getBeFloat32: (it) => it.getBeFloat32(),
  getBeFloat64: (it) => it.getBeFloat64(),
  getStdfloat: (it) => it.getStdfloat(),
  peekInt16: (it) => it.peekInt16(),
  peekUint16: (it) => it.peekUint16(),
  getString: (it) => it.getString(),
  getString32: (it) => it.getString32(),
  getZString: (it) => it.getZString(),
  getFixedString: (it, n) => it.getFixedString(n),
  getWstring: (it) => it.getWstring(),
  getBlob: (it) => it.getBlob(),
  getBlob32: (it) => it.getBlob32(),
  skipBytes: (it, n) => it.skipBytes(n),
  extractBytes: (it, n) => it.extractBytes(n),
  getRemainingBytes: (it) => it.getRemainingBytes(),
  getRemainingSize: (it) => it.getRemainingSize(),
  getCurrentIndex: (it) => it.getCurrentIndex(),
  getDatagram: (it) => it.getDatagram(),
  getChannel: (it) => it.getChannel(),
  getArg: (it, type, divisor) => it.getArg(type, divisor),
};

describe('fuzz: DatagramIterator', () => {
  it('the call table covers every reading method of DatagramIterator and PyDatagramIterator', () => {
    const names = new Set([...Object.getOwnPropertyNames(DatagramIterator.prototype), ...Object.getOwnPropertyNames(PyDatagramIterator.prototype)]);
    const readers = [...names].filter((n) => /^(get|peek|skip|extract)/.test(n));
    expect(readers.filter((n) => !(n in CALLS))).toEqual([]);
  });

  it('every getter on random bytes with random arguments: only PandaNetError, index in range, no allocation beyond the datagram', () => {
    const names = Object.keys(CALLS);
    const arg = fc.oneof(
      fc.integer({ min: 0, max: 64 }),
      fc.constantFrom(0, 1, 2, 4, 8, 65_535, 65_536, 0x7fffffff, 0xffffffff, 2 ** 32, 2 ** 53, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY),
    );
    const typeCode = fc.oneof(fc.integer({ min: -2, max: 40 }), fc.constantFrom(255, 1e9, Number.NaN));
    const divisor = fc.oneof(fc.constant(1), fc.constantFrom(0, -1, 2, 0.5, 1e-300, Number.NaN, Number.POSITIVE_INFINITY));
    let calls = 0;
    let typed = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(),
        fc.boolean(),
        fc.array(fc.tuple(fc.constantFrom(...names), arg, typeCode, divisor), { maxLength: 40 }),
        (bytes, start, stdDouble, program) => {
          const dg = new Datagram(bytes);
          dg.setStdfloatDouble(stdDouble);
          const len = dg.getLength();
          let it: PyDatagramIterator = new PyDatagramIterator();
          const err0 = typedOnly('PyDatagramIterator(dg, offset)', () => {
            it = new PyDatagramIterator(dg, start % (len + 2));
          });
          if (err0 !== null) it = new PyDatagramIterator(dg, 0);
          for (const [name, a, type, div] of program) {
            calls++;
            const largest = spied(() => {
              const err = typedOnly(name, () => CALLS[name]!(it, name === 'getArg' ? type : a, div));
              if (err !== null) typed++;
            });
            expect(largest, `${name} allocated ${largest} bytes from a ${len}-byte datagram`).toBeLessThanOrEqual(Math.max(len, 64));
            expect(it.getCurrentIndex()).toBeGreaterThanOrEqual(0);
            expect(it.getCurrentIndex()).toBeLessThanOrEqual(len);
            expect(it.getRemainingSize()).toBe(len - it.getCurrentIndex());
          }
        },
      ),
      { numRuns: RUNS * 2 },
    );
    record('fuzz-iterator', { calls, typedErrors: typed, methods: names.length });
  });

  it('write(indent) / toString(): any indent gives a string or a typed error (diagnostics must not throw RangeError)', () => {
    const it = new PyDatagramIterator(new Datagram(Uint8Array.of(1, 2, 3)), 1);
    expect(it.toString()).toContain('DatagramIterator');
    for (const indent of [0, 2, 1000, 1 << 20, 0x7fffffff, 0xffffffff, -1, 1.5, Number.NaN]) {
      typedOnly(`write(${indent})`, () => it.write(indent));
      typedOnly(`Datagram.write(${indent})`, () => it.getDatagram()!.write(indent));
    }
  });

  it('an iterator without a datagram: every getter throws a typed error', () => {
    const it = new PyDatagramIterator();
    for (const [name, call] of Object.entries(CALLS)) {
      if (name === 'getCurrentIndex' || name === 'getDatagram') continue;
      const err = typedOnly(name, () => call(it, 1, 1));
      expect(err, name).toBeInstanceOf(PandaNetError);
    }
  });
});
