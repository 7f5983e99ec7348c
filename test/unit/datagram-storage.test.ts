/**
 * Datagram storage: small datagrams live in slices of shared 8 KiB slabs, large ones in buffers of
 * their own. Whatever the mix of datagrams, sizes, growth, copies and clears, every datagram keeps
 * exactly its own bytes (checked against a plain-array model), and nothing handed out as a copy
 * shares memory with a datagram.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SLAB_BYTES, SLAB_MAX, slabBytes, slabCopy } from '../../src/datagram/slab.js';
import { Datagram, DatagramIterator, NetDatagram } from '../../src/index.js';

type Op =
  | { kind: 'append'; target: number; bytes: Uint8Array }
  | { kind: 'pad'; target: number; size: number }
  | { kind: 'clear'; target: number }
  | { kind: 'copy'; from: number; target: number }
  | { kind: 'fresh'; target: number; bytes: Uint8Array };

const SLOTS = 6;
const slot = fc.integer({ min: 0, max: SLOTS - 1 });
// Sizes around the slab limits: tiny, the 64-byte first capacity, the 1 KiB slab cap, past it.
const size = fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 900, max: 1200 }), fc.integer({ min: 4000, max: 9000 }));
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), target: slot, bytes: size.chain((n) => fc.uint8Array({ minLength: n, maxLength: n })) }),
  fc.record({ kind: fc.constant('pad' as const), target: slot, size }),
  fc.record({ kind: fc.constant('clear' as const), target: slot }),
  fc.record({ kind: fc.constant('copy' as const), from: slot, target: slot }),
  fc.record({ kind: fc.constant('fresh' as const), target: slot, bytes: size.chain((n) => fc.uint8Array({ minLength: n, maxLength: n })) }),
);

describe('slab storage', () => {
  it('hands out exact sizes, 8-byte aligned, never overlapping, and large ones in buffers of their own', () => {
    const live: Uint8Array[] = [];
    for (let i = 0; i < 400; i++) {
      const size = (i * 37) % (SLAB_MAX + 40); // crosses SLAB_MAX now and then
      const b = slabBytes(size);
      expect(b.length).toBe(size);
      if (size > SLAB_MAX) {
        expect(b.byteOffset).toBe(0);
        expect(b.buffer.byteLength).toBe(size);
      } else {
        expect(b.byteOffset % 8).toBe(0);
        expect(b.buffer.byteLength).toBe(SLAB_BYTES);
      }
      b.fill(i & 0xff);
      live.push(b);
    }
    // Every buffer still holds its own fill: no two handed-out ranges overlap.
    live.forEach((b, i) => expect(b.every((x) => x === (i & 0xff))).toBe(true));
  });

  it('slabCopy copies exactly the range, independent of the source', () => {
    const src = Uint8Array.from({ length: 100 }, (_, i) => i);
    const c = slabCopy(src, 10, 30);
    expect(Array.from(c)).toEqual(Array.from({ length: 20 }, (_, i) => i + 10));
    src.fill(0);
    expect(c[0]).toBe(10);
  });
});

describe('Datagram storage (slabs)', () => {
  it('every datagram keeps exactly its own bytes through any mix of writes, growth, copies and clears', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const dgs = Array.from({ length: SLOTS }, () => new Datagram());
        const model: number[][] = Array.from({ length: SLOTS }, () => []);
        for (const o of ops) {
          switch (o.kind) {
            case 'append':
              dgs[o.target]!.appendData(o.bytes);
              model[o.target]!.push(...o.bytes);
              break;
            case 'pad':
              dgs[o.target]!.padBytes(o.size);
              for (let i = 0; i < o.size; i++) model[o.target]!.push(0);
              break;
            case 'clear':
              dgs[o.target]!.clear();
              model[o.target] = [];
              break;
            case 'copy':
              dgs[o.target] = dgs[o.from]!.copy();
              model[o.target] = [...model[o.from]!];
              break;
            case 'fresh':
              dgs[o.target] = new Datagram(o.bytes);
              model[o.target] = [...o.bytes];
              break;
          }
          // Check all of them after every step: a write must never show up in another datagram.
          for (let k = 0; k < SLOTS; k++) expect(Array.from(dgs[k]!.getMessageView())).toEqual(model[k]);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('many short-lived datagrams (several slabs) stay independent of the ones still alive', () => {
    const kept: Array<[Datagram, number]> = [];
    for (let i = 0; i < 2000; i++) {
      const d = new Datagram();
      d.addUint32(i);
      d.addString(`entity-${i}`);
      if (i % 97 === 0) kept.push([d, i]);
    }
    for (const [d, i] of kept) {
      const it = new DatagramIterator(d);
      expect(it.getUint32()).toBe(i);
      expect(it.getString()).toBe(`entity-${i}`);
      expect(it.getRemainingSize()).toBe(0);
    }
  });

  it('copies handed out own their memory: getMessage, getRemainingBytes, extractBytes', () => {
    const d = new NetDatagram();
    d.appendData(new Uint8Array([1, 2, 3, 4]));
    const msg = d.getMessage();
    const it = new DatagramIterator(d);
    const rest = it.getRemainingBytes();
    const extracted = new DatagramIterator(d).extractBytes(4);
    for (const copy of [msg, rest, extracted]) {
      expect(copy.byteOffset).toBe(0);
      expect(copy.buffer.byteLength).toBe(4);
    }
    msg[0] = 99;
    expect(Array.from(d.getMessageView())).toEqual([1, 2, 3, 4]);
  });
});
