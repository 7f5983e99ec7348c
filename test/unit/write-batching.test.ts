/**
 * Write batching (`src/main/runtime/write-batching.ts`) over a real outbound ring: held TCP sends to
 * one connection become one batch record (`OutOp.SEND_TCP_BATCH`: a u32 count, then the datagrams with
 * their length headers), published exactly when due, in order with the plain records around them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BATCH_COUNT_BYTES, readBatchCount } from '../../src/protocol/control.js';
import { POSITION_MASK } from '../../src/shared-memory/layout.js';
import { createRecordView, SpscRing } from '../../src/shared-memory/spsc-ring.js';
import type { IoThread } from '../../src/main/io-thread.js';
import { WriteBatching } from '../../src/main/runtime/write-batching.js';
import { bytesFor, POS_MOD, ringAt } from '../helpers/ring.js';

const CAP = 4096;

/** A stand-in for an I/O thread: just its outbound ring (the producer side is this thread). */
function fakeThread(ring: SpscRing): IoThread {
  return { index: 0, alive: true, isAlive: () => true, outRing: ring } as unknown as IoThread;
}

/** Batching over one fake thread: `append` = sendFramed, `write` = a plain record, no waiting. */
function batchingOver(ring: SpscRing) {
  const thread = fakeThread(ring);
  const out = new WriteBatching([thread], 0.25);
  return {
    out,
    append: (id: number, meta: number, prefix: 0 | 2 | 4, src: Uint8Array, offset: number, length: number): boolean => out.sendFramed(thread, id, meta, prefix, src.subarray(offset), length, 0),
    write: (id: number, meta: number, bytes: Uint8Array): boolean => out.send(thread, id, meta, bytes, bytes.length, 0),
  };
}

describe('batch records', () => {
  interface Item {
    id: number;
    meta: number;
    bytes: Uint8Array;
  }

  /** The items of the batch record at `data[offset, offset + length)` (prefix size = `meta & 7`, 2 or 4). */
  function splitBatch(ring: SpscRing, id: number, meta: number, data: Uint8Array, offset: number, length: number): Item[] {
    const prefix = meta & 7;
    const count = readBatchCount(data, offset);
    expect(count).toBeGreaterThan(0);
    const items: Item[] = [];
    let at = offset + BATCH_COUNT_BYTES;
    for (let k = 0; k < count; k++) {
      const len = prefix === 2 ? data[at]! | (data[at + 1]! << 8) : (data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24)) >>> 0;
      at += prefix;
      items.push({ id, meta, bytes: data.slice(at, at + len) });
      at += len;
    }
    expect(at).toBe(offset + length); // the count and the length agree
    return items;
  }

  /** Consumes every visible record into `into`: batch records split into items, plain ones (meta `plain`) whole. */
  function takeItems(ring: SpscRing, into: Item[], plain = -1): void {
    ring.drain(1 << 30, (id, meta, data, offset, length) => {
      if (meta === plain) into.push({ id, meta, bytes: data.slice(offset, offset + length) });
      else into.push(...splitBatch(ring, id, meta, data, offset, length));
    });
  }

  it('joins held appends for one (id, meta) into one record, publishes it exactly when due, and keeps order (fast-check model)', () => {
    type Op =
      | { k: 'append'; id: number; prefix: 2 | 4; len: number; seed: number }
      | { k: 'hold' }
      | { k: 'release'; stop: boolean }
      | { k: 'write'; len: number }
      | { k: 'take' };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 8, arbitrary: fc.record({ k: fc.constant('append' as const), id: fc.integer({ min: 1, max: 3 }), prefix: fc.constantFrom(2 as const, 4 as const), len: fc.oneof(fc.integer({ min: 0, max: 140 }), fc.integer({ min: 0, max: 900 })), seed: fc.integer() }) },
      { weight: 1, arbitrary: fc.constant({ k: 'hold' as const }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('release' as const), stop: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('write' as const), len: fc.integer({ min: 0, max: 300 }) }) },
      { weight: 3, arbitrary: fc.constant({ k: 'take' as const }) },
    );
    const startArb = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: CAP - 1 }).map((x) => x & ~3), fc.integer({ min: 0, max: 4 * CAP }).map((x) => (POS_MOD - x) & ~3 & POSITION_MASK));
    fc.assert(
      fc.property(startArb, fc.array(opArb, { maxLength: 120 }), (start, ops) => {
        const ring = ringAt(start);
        const b = batchingOver(ring);
        const sent: Item[] = [];
        const got: Item[] = [];
        let holds = 0;
        const PLAIN = 0x40; // meta of plain records (tryWrite), told apart from batches below
        const takeAll = (): void => takeItems(ring, got, PLAIN);
        for (const op of ops) {
          switch (op.k) {
            case 'hold':
              b.out.hold();
              holds++;
              break;
            case 'release': {
              const stop = op.stop && holds > 0; // each stop ends one hold
              b.out.release(stop);
              if (stop) holds--;
              takeAll();
              expect(got).toEqual(sent); // a release publishes the open batch
              break;
            }
            case 'write': {
              const bytes = bytesFor(op.len, op.len);
              if (b.write(9, PLAIN, bytes)) sent.push({ id: 9, meta: PLAIN, bytes });
              takeAll();
              expect(got).toEqual(sent); // a plain record seals the batch before it
              break;
            }
            case 'take':
              takeAll();
              expect(sent.slice(0, got.length)).toEqual(got);
              break;
            case 'append': {
              const bytes = bytesFor(op.seed, op.len);
              const meta = op.prefix | (op.id << 8);
              const ok = b.append(op.id, meta, op.prefix, bytes, 0, bytes.length);
              if (ok) sent.push({ id: op.id, meta, bytes });
              takeAll();
              if (ok && holds > 0) expect(got.length).toBeLessThan(sent.length); // the new item waits in the open batch
              else expect(got).toEqual(sent); // published at once, or a refusal published the open batch
              break;
            }
          }
          expect(sent.slice(0, got.length)).toEqual(got);
        }
        while (holds-- > 0) b.out.release(true);
        b.out.release(false);
        takeAll();
        expect(got).toEqual(sent);
      }),
      { numRuns: 300 },
    );
  });

  it('writes one record per run of held appends, with the items framed as Panda TCP frames', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const b = batchingOver(ring);
    const src = Uint8Array.from({ length: 10 }, (_, i) => i + 1);
    b.out.hold();
    expect(b.append(5, 2, 2, src, 2, 3)).toBe(true);
    expect(b.append(5, 2, 2, src, 0, 0)).toBe(true);
    expect(b.append(5, 2, 2, src, 7, 3)).toBe(true);
    expect(ring.size).toBe(0); // held: nothing visible yet
    expect(b.append(6, 2, 2, src, 0, 1)).toBe(true); // another id: the first batch is published
    expect(ring.size).toBe(1);
    const v = createRecordView();
    expect(ring.peek(v)).toBe(true);
    expect([v.id, v.meta, readBatchCount(ring.data, v.offset)]).toEqual([5, 2, 3]);
    expect([...ring.data.slice(v.offset + 4, v.offset + v.length)]).toEqual([3, 0, 3, 4, 5, 0, 0, 3, 0, 8, 9, 10]);
    ring.advance();
    b.out.release(true);
    expect(ring.peek(v)).toBe(true);
    expect([v.id, readBatchCount(ring.data, v.offset), ...ring.data.slice(v.offset + 4, v.offset + v.length)]).toEqual([6, 1, 1, 0, 1]);
    ring.advance();
    // not held: every append is its own record at once; prefix 0 concatenates raw items
    expect(b.append(7, 8, 0, src, 0, 2)).toBe(true);
    expect(b.append(7, 8, 0, src, 2, 2)).toBe(true);
    expect(ring.size).toBe(2);
    for (const want of [[1, 2], [3, 4]]) {
      expect(ring.peek(v)).toBe(true);
      expect([readBatchCount(ring.data, v.offset), ...ring.data.slice(v.offset + 4, v.offset + v.length)]).toEqual([1, ...want]);
      ring.advance();
    }
  });

  it('refuses an item that will never fit, and one that does not fit now (publishing the open batch)', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const b = batchingOver(ring);
    const big = new Uint8Array(ring.maxPayload);
    expect(b.out.maxFramedPayload(fakeThread(ring), 2)).toBe(ring.maxPayload - 6);
    expect(b.append(1, 2, 2, big, 0, ring.maxPayload - 6)).toBe(true); // 4 + 2 + n = maxPayload: fits an empty ring
    expect(b.append(1, 2, 2, big, 0, ring.maxPayload - 5)).toBe(false); // never fits
    b.out.hold();
    let n = 0;
    while (b.append(2, 2, 2, big, 0, 100)) n++;
    expect(n).toBeGreaterThan(10);
    expect(ring.size).toBe(2); // the refusal published the open batch behind the first record
    const got: Item[] = [];
    ring.drain(1, () => undefined);
    takeItems(ring, got);
    expect(got.length).toBe(n);
    b.out.release(true);
  });
});
