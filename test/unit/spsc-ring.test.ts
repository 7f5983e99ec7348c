/**
 * SpscRing: single-thread behaviour (FIFO, wrap, full, limits, counters, two-part writes, waits),
 * a fast-check model test, and cross-thread runs against a worker that loads the ring transpiled
 * from src/ into a temp dir (no build of the rest of the project needed).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCode, InvalidArgumentError } from '../../src/errors.js';
import {
  CACHE_LINE_BYTES,
  HEAD,
  HEADER_BYTES,
  HEADER_INT32,
  POSITION_MASK,
  PRODUCER_WAITING,
  READ,
  SLEEPING_BIT,
  SPACE_SEQ,
  TAIL,
  WRITTEN,
} from '../../src/shared-memory/layout.js';
import { createRecordView, DRAIN_PUBLISH_RECORDS, RECORD_HEADER_BYTES, SpscRing } from '../../src/shared-memory/spsc-ring.js';
import { bytesFor, mix, POS_MOD, ringAt as ringAtPos } from '../helpers/ring.js';

const CAP = 4096;
const MAX_PAYLOAD = CAP / 2 - RECORD_HEADER_BYTES; // 2036

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** A ring whose HEAD/TAIL positions and WRITTEN/READ counters start at the given values. */
function ringAt(pos: number, count = 0, capacity = CAP): SpscRing {
  return ringAtPos(pos, count, capacity);
}

function header(ring: SpscRing): Int32Array {
  return new Int32Array(ring.sab, 0, HEADER_INT32);
}

/** Has the consumer flagged itself as sleeping (bit 31 of HEAD)? */
function sleeping(h: Int32Array): boolean {
  return (Atomics.load(h, HEAD) & (SLEEPING_BIT | 0)) !== 0;
}

interface Rec {
  id: number;
  meta: number;
  bytes: Uint8Array;
}

function readOne(ring: SpscRing): Rec | undefined {
  const v = createRecordView();
  if (!ring.peek(v)) return undefined;
  const rec = { id: v.id, meta: v.meta, bytes: ring.data.slice(v.offset, v.offset + v.length) };
  ring.advance();
  return rec;
}

describe('layout', () => {
  it('puts every mutable header word on its own cache line inside the header', () => {
    const words = [HEAD, WRITTEN, TAIL, READ, PRODUCER_WAITING, SPACE_SEQ];
    const lines = words.map((w) => Math.floor((w * 4) / CACHE_LINE_BYTES));
    expect(new Set(lines).size).toBe(words.length);
    expect(lines).not.toContain(0); // line 0 is the read-only config line
    for (const w of words) expect(w).toBeLessThan(HEADER_INT32);
    expect(HEADER_BYTES % CACHE_LINE_BYTES).toBe(0);
    expect(RECORD_HEADER_BYTES).toBe(12);
    expect(SLEEPING_BIT & POSITION_MASK).toBe(0);
    expect((SLEEPING_BIT | POSITION_MASK) >>> 0).toBe(0xffffffff);
  });
});

describe('SpscRing allocation', () => {
  it('accepts powers of two from 4 KiB to 1 GiB and rejects the rest with InvalidArgumentError', () => {
    for (const cap of [4096, 8192, 65536]) {
      const ring = new SpscRing(SpscRing.allocate(cap));
      expect(ring.capacity).toBe(cap);
      expect(ring.data.length).toBe(cap);
      expect(ring.maxPayload).toBe(cap / 2 - 12);
      expect(ring.sab.byteLength).toBe(HEADER_BYTES + cap);
    }
    for (const bad of [0, 2048, 4095, 4097, 6144, 1.5, Number.NaN, -4096, 2 ** 31, Infinity]) {
      expect(() => SpscRing.allocate(bad)).toThrow(InvalidArgumentError);
    }
    try {
      SpscRing.allocate(5000);
      expect.unreachable();
    } catch (err) {
      expect((err as InvalidArgumentError).code).toBe(ErrorCode.INVALID_ARGUMENT);
    }
  });

  it('refuses to attach to a buffer that is not a ring', () => {
    expect(() => new SpscRing(new SharedArrayBuffer(HEADER_BYTES + CAP))).toThrow(InvalidArgumentError);
    expect(() => new SpscRing(new SharedArrayBuffer(16))).toThrow(InvalidArgumentError);
    expect(() => new SpscRing(new ArrayBuffer(HEADER_BYTES + CAP) as unknown as SharedArrayBuffer)).toThrow(
      InvalidArgumentError,
    );
  });
});

describe('SpscRing, single thread', () => {
  it('keeps FIFO order, ids, meta (u32) and payloads', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const sent: Rec[] = [];
    for (let i = 0; i < 20; i++) {
      const r = { id: (0xfffffff0 + i) >>> 0, meta: mix(i), bytes: bytesFor(i * 1000, i * 7) };
      expect(ring.tryWrite(r.id, r.meta, r.bytes)).toBe(true);
      sent.push(r);
    }
    expect(ring.size).toBe(20);
    const got: Rec[] = [];
    for (let r = readOne(ring); r !== undefined; r = readOne(ring)) got.push(r);
    expect(got).toEqual(sent);
    expect(ring.size).toBe(0);
  });

  it('peek does not consume; advance without peek throws', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const v = createRecordView();
    expect(ring.peek(v)).toBe(false);
    expect(() => ring.advance()).toThrow(InvalidArgumentError);
    ring.tryWrite(7, 8, new Uint8Array([1, 2, 3]));
    expect(ring.peek(v)).toBe(true);
    const first = { ...v };
    expect(ring.peek(v)).toBe(true);
    expect(v).toEqual(first);
    expect(first).toMatchObject({ id: 7, meta: 8, length: 3 });
    ring.advance();
    expect(() => ring.advance()).toThrow(InvalidArgumentError);
    expect(ring.peek(v)).toBe(false);
  });

  it('stores id and meta as u32', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    ring.tryWrite(-1, 2 ** 32 + 5, new Uint8Array(0));
    const v = createRecordView();
    expect(ring.peek(v)).toBe(true);
    expect(v.id).toBe(0xffffffff);
    expect(v.meta).toBe(5);
    expect(v.length).toBe(0);
  });

  it('writes a two-part record (a then b) contiguously', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const a = bytesFor(1, 5);
    const b = bytesFor(2, 70);
    expect(ring.tryWrite(1, 0, a, b)).toBe(true);
    expect(ring.tryWrite(2, 0, new Uint8Array(0), b)).toBe(true);
    expect(ring.tryWrite(3, 0, a, new Uint8Array(0))).toBe(true);
    expect(ring.tryWrite(4, 0, bytesFor(3, 40), bytesFor(4, 3))).toBe(true);
    expect(readOne(ring)?.bytes).toEqual(new Uint8Array([...a, ...b]));
    expect(readOne(ring)?.bytes).toEqual(b);
    expect(readOne(ring)?.bytes).toEqual(a);
    expect(readOne(ring)?.bytes).toEqual(new Uint8Array([...bytesFor(3, 40), ...bytesFor(4, 3)]));
    // a two-part record over maxPayload is refused as a whole
    expect(ring.tryWrite(5, 0, new Uint8Array(MAX_PAYLOAD - 10), new Uint8Array(11))).toBe(false);
    expect(ring.tryWrite(5, 0, new Uint8Array(MAX_PAYLOAD - 10), new Uint8Array(10))).toBe(true);
  });

  it('returns false when full and writes nothing', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const payload = bytesFor(9, 64);
    let n = 0;
    while (ring.tryWrite(n, 0, payload)) n++;
    expect(n).toBe(Math.floor(CAP / (RECORD_HEADER_BYTES + 64))); // 53 records of 76 bytes
    const h = header(ring);
    const snapshot = {
      data: ring.data.slice(),
      head: h[HEAD],
      written: ring.written,
      size: ring.size,
      free: ring.freeBytes(),
    };
    expect(snapshot.free).toBe(CAP - n * 76);
    for (let i = 0; i < 10; i++) expect(ring.tryWrite(999, 999, payload)).toBe(false);
    expect(ring.data).toEqual(snapshot.data);
    expect({ data: ring.data, head: h[HEAD], written: ring.written, size: ring.size, free: ring.freeBytes() }).toEqual(
      snapshot,
    );
    // a record that still fits is accepted
    expect(ring.tryWrite(1000, 0, bytesFor(1, snapshot.free - RECORD_HEADER_BYTES))).toBe(true);
    expect(ring.freeBytes()).toBe(0);
    // freeing one record makes room for one more
    expect(readOne(ring)?.id).toBe(0);
    expect(ring.tryWrite(1001, 0, payload)).toBe(true);
  });

  it('accepts maxPayload on an empty ring wherever the positions are, and rejects maxPayload+1 / +4', () => {
    expect(MAX_PAYLOAD).toBe(2036);
    const positions = [0, 4, CAP / 2 - 4, CAP / 2, CAP / 2 + 4, CAP - 12, CAP - 4, POS_MOD - 4, POS_MOD - CAP / 2 - 4];
    for (const pos of positions) {
      const ring = ringAt(pos);
      expect(ring.maxPayload).toBe(MAX_PAYLOAD);
      expect(ring.tryWrite(1, 0, new Uint8Array(MAX_PAYLOAD + 4))).toBe(false);
      expect(ring.tryWrite(1, 0, new Uint8Array(MAX_PAYLOAD + 1))).toBe(false);
      expect(ring.size).toBe(0);
      const p = bytesFor(pos, MAX_PAYLOAD);
      expect(ring.tryWrite(2, 3, p)).toBe(true);
      const r = readOne(ring);
      expect(r?.id).toBe(2);
      expect(r?.bytes).toEqual(p);
      expect(ring.freeBytes()).toBe(CAP);
    }
  });

  it('wraps with a pad marker and keeps payloads contiguous', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    // leave 16 bytes before the end: a 20-byte record must wrap
    expect(ring.tryWrite(0, 0, new Uint8Array(MAX_PAYLOAD))).toBe(true); // 2048 bytes
    expect(ring.tryWrite(1, 0, new Uint8Array(CAP / 2 - 16 - RECORD_HEADER_BYTES))).toBe(true); // 2032 bytes
    expect(readOne(ring)?.id).toBe(0);
    expect(readOne(ring)?.id).toBe(1);
    const p = bytesFor(5, 20);
    expect(ring.tryWrite(2, 0, p)).toBe(true);
    const v = createRecordView();
    expect(ring.peek(v)).toBe(true);
    expect(v.offset).toBe(RECORD_HEADER_BYTES); // moved to the start of the data region
    expect(ring.data.subarray(v.offset, v.offset + v.length)).toEqual(p);
    // the 16 pad bytes count as used until the record after them is consumed
    expect(ring.freeBytes()).toBe(CAP - 16 - align4(RECORD_HEADER_BYTES + 20));
    ring.advance();
    expect(ring.freeBytes()).toBe(CAP);
  });

  it('counts written and read (u32, wrapping) and size === written - read', () => {
    const start = 2 ** 32 - 3;
    const ring = ringAt(0, start);
    expect(ring.written).toBe(start);
    expect(ring.read).toBe(start);
    for (let i = 0; i < 6; i++) ring.tryWrite(i, 0, new Uint8Array(i));
    expect(ring.written).toBe(3);
    expect(ring.size).toBe(6);
    readOne(ring);
    readOne(ring);
    expect(ring.read).toBe(2 ** 32 - 1);
    expect(ring.size).toBe(4);
    expect(ring.size).toBe((ring.written - ring.read) >>> 0);
    while (readOne(ring) !== undefined);
    expect(ring.read).toBe(3);
    expect(ring.size).toBe(0);
  });

  it('drain consumes in order, up to max, zero-copy, and consumes a record whose callback throws', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    for (let i = 0; i < 10; i++) ring.tryWrite(i, i * 2, bytesFor(i, i + 1));
    const seen: number[] = [];
    const n = ring.drain(4, (id, meta, data, offset, length) => {
      expect(data).toBe(ring.data);
      expect(meta).toBe(id * 2);
      expect(data.slice(offset, offset + length)).toEqual(bytesFor(id, id + 1));
      seen.push(id);
    });
    expect(n).toBe(4);
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(() =>
      ring.drain(100, (id) => {
        if (id === 5) throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(ring.size).toBe(4); // 4 and 5 consumed
    expect(ring.drain(100, (id) => seen.push(id))).toBe(4);
    expect(seen.slice(4)).toEqual([6, 7, 8, 9]);
    expect(ring.drain(100, () => undefined)).toBe(0);
  });

  it('advanceLazy consumes at once but publishes TAIL every DRAIN_PUBLISH_RECORDS records, when peek finds the ring empty, and at drain or publishConsumed', () => {
    const ring = new SpscRing(SpscRing.allocate(1 << 16));
    const h = header(ring);
    const v = createRecordView();
    const take = (): number => {
      expect(ring.peek(v)).toBe(true);
      const id = v.id;
      ring.advanceLazy();
      return id;
    };
    for (let i = 0; i < 200; i++) expect(ring.tryWrite(i, 0, bytesFor(i, 8))).toBe(true);
    const tail0 = Atomics.load(h, TAIL);
    for (let i = 0; i < DRAIN_PUBLISH_RECORDS - 1; i++) expect(take()).toBe(i);
    expect(Atomics.load(h, TAIL), 'not published before 64 records').toBe(tail0);
    expect(ring.read, 'READ published with TAIL').toBe(0);
    expect(take()).toBe(DRAIN_PUBLISH_RECORDS - 1);
    expect(ring.read).toBe(DRAIN_PUBLISH_RECORDS);
    expect(Atomics.load(h, TAIL)).not.toBe(tail0);
    // A few more, then publishConsumed.
    for (let i = 0; i < 3; i++) take();
    expect(ring.read).toBe(DRAIN_PUBLISH_RECORDS);
    ring.publishConsumed();
    expect(ring.read).toBe(DRAIN_PUBLISH_RECORDS + 3);
    // A few more, then a drain publishes them with its own.
    for (let i = 0; i < 5; i++) take();
    expect(ring.drain(10, () => undefined)).toBe(10);
    expect(ring.read).toBe(DRAIN_PUBLISH_RECORDS + 18);
    // The rest one by one: the peek that finds the ring empty publishes the last of them.
    while (ring.peek(v)) ring.advanceLazy();
    expect(ring.read).toBe(200);
    expect(ring.size).toBe(0);
    expect(() => ring.advanceLazy()).toThrow(InvalidArgumentError);
  });

  it('advanceLazy wakes a producer waiting for space once it publishes', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const h = header(ring);
    while (ring.tryWrite(1, 0, new Uint8Array(100)));
    Atomics.store(h, PRODUCER_WAITING, 112); // a producer waits for a 100-byte record
    const seq = Atomics.load(h, SPACE_SEQ);
    const v = createRecordView();
    for (let i = 0; i < 3; i++) {
      expect(ring.peek(v)).toBe(true);
      ring.advanceLazy(); // three records free room for the one waited for, wherever the wrap falls
    }
    expect(Atomics.load(h, SPACE_SEQ), 'not before TAIL is published').toBe(seq);
    ring.publishConsumed();
    expect(Atomics.load(h, SPACE_SEQ)).toBe(seq + 1);
    expect(Atomics.load(h, PRODUCER_WAITING)).toBe(0);
  });

  it('keeps content and order exact over random write/read sequences (fast-check model)', () => {
    type Op = { w: true; len: number; seed: number; split: number } | { w: false; k: number };
    const lenArb = fc.oneof(
      fc.constant(0),
      fc.constant(MAX_PAYLOAD),
      fc.constant(MAX_PAYLOAD + 4),
      fc.integer({ min: 0, max: 64 }),
      fc.integer({ min: 0, max: MAX_PAYLOAD }),
    );
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ w: fc.constant(true as const), len: lenArb, seed: fc.integer(), split: fc.double({ min: 0, max: 1, noNaN: true }) }) },
      { weight: 2, arbitrary: fc.record({ w: fc.constant(false as const), k: fc.integer({ min: 1, max: 8 }) }) },
    );
    const startArb = fc.oneof(
      fc.constant(0),
      fc.integer({ min: 0, max: CAP - 1 }).map((x) => x & ~3),
      fc.integer({ min: 0, max: 4 * CAP }).map((x) => (POS_MOD - x) & ~3 & POSITION_MASK), // crosses the 2^31 wrap
    );
    fc.assert(
      fc.property(startArb, fc.array(opArb, { maxLength: 150 }), (start, ops) => {
        const ring = ringAt(start, 2 ** 32 - 40); // counters cross the u32 wrap too
        // reference model of positions: the exact space rule, written independently
        let mHead = start;
        let mTail = start;
        const queue: { id: number; meta: number; bytes: Uint8Array; need: number }[] = [];
        let nextId = 0;
        let accepted = 0;
        const check = (): void => {
          expect(ring.size).toBe(queue.length);
          expect(ring.freeBytes()).toBe(CAP - (mHead - mTail));
        };
        const consume = (): void => {
          const want = queue.shift()!;
          const got = readOne(ring);
          expect(got).toEqual({ id: want.id, meta: want.meta, bytes: want.bytes });
          mTail += want.need;
        };
        for (const op of ops) {
          if (op.w) {
            const bytes = bytesFor(op.seed, op.len);
            const wasEmpty = queue.length === 0;
            const rec = align4(RECORD_HEADER_BYTES + op.len);
            const toEnd = CAP - (mHead % CAP);
            const need = rec <= toEnd ? rec : toEnd + rec;
            const fits = op.len <= MAX_PAYLOAD && need <= CAP - (mHead - mTail);
            const cut = Math.floor(op.split * op.len);
            const id = nextId++;
            const meta = mix(op.seed) ^ 0x80000000;
            const ok =
              op.split < 0.5
                ? ring.tryWrite(id, meta, bytes)
                : ring.tryWrite(id, meta, bytes.subarray(0, cut), bytes.subarray(cut));
            expect(ok).toBe(fits);
            if (ok) {
              queue.push({ id, meta: meta >>> 0, bytes, need });
              mHead += need;
              accepted++;
            }
            if (op.len <= MAX_PAYLOAD && wasEmpty) expect(ok).toBe(true);
          } else {
            for (let i = 0; i < op.k && queue.length > 0; i++) consume();
            if (queue.length === 0) expect(ring.peek(createRecordView())).toBe(false);
          }
          check();
        }
        while (queue.length > 0) consume();
        check();
        expect(ring.written).toBe((2 ** 32 - 40 + accepted) >>> 0);
        expect(ring.read).toBe(ring.written);
      }),
      { numRuns: 300 },
    );
  });
});

describe('SpscRing waits, single thread', () => {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  /** 'pending' if `p` has not settled after the event loop turned over a few times. */
  async function state<T>(p: Promise<T>): Promise<T | 'pending'> {
    return Promise.race([p, sleep(5).then(() => 'pending' as const)]);
  }

  it('waitForData times out on an empty ring and returns at once when data is there', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    expect(ring.waitForData(0)).toBe('timed-out');
    const t0 = performance.now();
    expect(ring.waitForData(30)).toBe('timed-out');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(29);
    expect(sleeping(header(ring))).toBe(false);
    ring.tryWrite(1, 0, new Uint8Array(1));
    const t1 = performance.now();
    expect(ring.waitForData(10_000)).toBe('ok');
    expect(performance.now() - t1).toBeLessThan(10_000); // at once: not at its own timeout
  });

  it('does not notify when nobody sleeps', () => {
    const notify = vi.spyOn(Atomics, 'notify');
    try {
      const ring = new SpscRing(SpscRing.allocate(CAP));
      for (let i = 0; i < 10; i++) ring.tryWrite(i, 0, new Uint8Array(8));
      while (readOne(ring) !== undefined);
      for (let i = 0; i < 10; i++) ring.tryWrite(i, 0, new Uint8Array(8));
      expect(ring.drain(100, () => undefined)).toBe(10);
      expect(notify).not.toHaveBeenCalled();
      expect(header(ring)[SPACE_SEQ]).toBe(0);
    } finally {
      notify.mockRestore();
    }
  });

  it('holdWake: writes to a sleeping consumer notify only at releaseWake; a wait for space releases first', async () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const h = header(ring);
    const p = ring.waitForDataAsync(10_000);
    expect(sleeping(h)).toBe(true);
    const notify = vi.spyOn(Atomics, 'notify');
    try {
      ring.holdWake();
      expect(ring.tryWrite(1, 0, new Uint8Array([1]))).toBe(true);
      expect(ring.tryWrite(2, 0, new Uint8Array([2]))).toBe(true);
      expect(notify).not.toHaveBeenCalled(); // the wake is owed, not sent
      expect(await state(p)).toBe('pending'); // the consumer still sleeps
      ring.releaseWake(false);
      expect(notify).toHaveBeenCalledTimes(1);
      expect(await p).toBe('ok');
      ring.releaseWake(false);
      expect(notify).toHaveBeenCalledTimes(1); // nothing owed any more
      expect(readOne(ring)?.id).toBe(1);
      expect(readOne(ring)?.id).toBe(2);

      // Still holding: the next sleep is owed a wake again; waitForSpace must pay it before blocking.
      const q = ring.waitForDataAsync(10_000);
      expect(ring.tryWrite(3, 0, new Uint8Array(ring.maxPayload))).toBe(true);
      expect(notify).toHaveBeenCalledTimes(1);
      expect(ring.waitForSpace(ring.maxPayload, 1)).toBe('timed-out'); // the ring is full: it waits ...
      expect(notify).toHaveBeenCalledTimes(2); // ... after releasing the wake it held
      expect(await q).toBe('ok');
      expect(readOne(ring)?.id).toBe(3);

      // Stopped: writes notify at once again.
      ring.releaseWake(true);
      const r = ring.waitForDataAsync(10_000);
      expect(ring.tryWrite(4, 0, new Uint8Array([4]))).toBe(true);
      expect(notify).toHaveBeenCalledTimes(3);
      expect(await r).toBe('ok');
    } finally {
      notify.mockRestore();
    }
  });

  it('missedWakes counts a sleep that ran out its time with a record published and no wake', async () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const woken = ring.waitForDataAsync(10_000);
    expect(ring.tryWrite(1, 0, new Uint8Array([1]))).toBe(true); // woken: not missed
    expect(await woken).toBe('ok');
    expect(readOne(ring)?.id).toBe(1);
    expect(await ring.waitForDataAsync(1)).toBe('timed-out'); // nothing published: not missed
    expect(ring.missedWakes).toBe(0);
    ring.holdWake();
    const late = ring.waitForDataAsync(20);
    expect(ring.tryWrite(2, 0, new Uint8Array([2]))).toBe(true); // published, wake held back (never released)
    expect(await late).toBe('ok'); // found at the end of its sleep
    expect(ring.missedWakes).toBe(1);
    ring.releaseWake(true);
  });

  it('waitForDataAsync wakes on a write and times out on an empty ring', async () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const h = header(ring);
    const p = ring.waitForDataAsync(10_000);
    expect(sleeping(h)).toBe(true);
    expect(await state(p)).toBe('pending');
    const notify = vi.spyOn(Atomics, 'notify');
    try {
      const t0 = performance.now();
      expect(ring.tryWrite(5, 6, new Uint8Array([9]))).toBe(true);
      expect(sleeping(h)).toBe(false); // the write cleared the flag ...
      expect(ring.tryWrite(6, 6, new Uint8Array([9]))).toBe(true);
      expect(notify).toHaveBeenCalledTimes(1); // ... and only that write notified
      expect(await p).toBe('ok');
      expect(performance.now() - t0).toBeLessThan(10_000); // woken by the write, not ended by its own timeout
    } finally {
      notify.mockRestore();
    }
    expect(readOne(ring)?.id).toBe(5);
    expect(readOne(ring)?.id).toBe(6);

    const t1 = performance.now();
    expect(await ring.waitForDataAsync(40)).toBe('timed-out');
    expect(performance.now() - t1).toBeGreaterThanOrEqual(39);
    expect(sleeping(h)).toBe(false); // a timed-out wait takes its flag back
    expect(await ring.waitForDataAsync(0)).toBe('timed-out');
  });

  it('waitForSpaceAsync resolves once the record fits, honours a larger bytesNeeded, and times out', async () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const h = header(ring);
    const payload = new Uint8Array(64);
    while (ring.tryWrite(0, 0, payload));
    expect(ring.waitForSpace(64, 0)).toBe('timed-out');

    const p = ring.waitForSpaceAsync(64, 10_000);
    expect(h[PRODUCER_WAITING]).toBe(76);
    expect(await state(p)).toBe('pending');
    readOne(ring);
    expect(await p).toBe('ok');
    expect(h[PRODUCER_WAITING]).toBe(0);
    expect(h[SPACE_SEQ]).toBe(1);
    expect(ring.tryWrite(0, 0, payload)).toBe(true);

    // low watermark: waiting for 1000 bytes is not woken by freeing 76
    const q = ring.waitForSpaceAsync(1000, 10_000);
    readOne(ring);
    expect(await state(q)).toBe('pending');
    expect(h[SPACE_SEQ]).toBe(1);
    /** Would a payload of `len` bytes fit now? (the space rule, from the header words) */
    const fitsNow = (len: number): boolean => {
      const head = h[HEAD]! >>> 0;
      const used = (head - (h[TAIL]! >>> 0)) >>> 0;
      const rec = align4(RECORD_HEADER_BYTES + len);
      const toEnd = CAP - (head % CAP);
      return CAP - used >= (rec <= toEnd ? rec : toEnd + rec);
    };
    // While the record does not fit, the wait stays pending (a settled promise shows at once, so a
    // premature wake-up cannot hide); once it fits, the wait resolves (no 5 ms guess about when).
    let consumed = 1;
    while (!fitsNow(1000)) {
      expect(await state(q)).toBe('pending');
      readOne(ring);
      consumed++;
    }
    expect(await q).toBe('ok');
    expect(consumed).toBeGreaterThan(2);
    expect(fitsNow(1000)).toBe(true);
    expect(h[SPACE_SEQ]).toBe(2); // exactly one wake-up for the watermark wait
    expect(ring.tryWrite(0, 0, new Uint8Array(1000))).toBe(true);

    while (ring.tryWrite(0, 0, payload));
    const t0 = performance.now();
    expect(await ring.waitForSpaceAsync(64, 40)).toBe('timed-out');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(39);
    expect(h[PRODUCER_WAITING]).toBe(0);
    expect(ring.waitForSpace(64, 20)).toBe('timed-out');
    expect(h[PRODUCER_WAITING]).toBe(0);
    while (readOne(ring) !== undefined);
    expect(ring.waitForSpace(64, 1000)).toBe('ok');
    // bytesNeeded above maxPayload means maxPayload, which always fits an empty ring
    expect(await ring.waitForSpaceAsync(1e9, 1000)).toBe('ok');
  });

  it('rejects bad wait arguments with InvalidArgumentError', async () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    expect(() => ring.waitForData(-1)).toThrow(InvalidArgumentError);
    expect(() => ring.waitForData(Number.NaN)).toThrow(InvalidArgumentError);
    await expect(ring.waitForDataAsync(-5)).rejects.toThrow(InvalidArgumentError);
    await expect(ring.waitForSpaceAsync(-1, 10)).rejects.toThrow(InvalidArgumentError);
    await expect(ring.waitForSpaceAsync(1.5, 10)).rejects.toThrow(InvalidArgumentError);
    expect(() => ring.waitForSpace(8, Number.NaN)).toThrow(InvalidArgumentError);
  });
});

// ------------------------------------------------------------------------------------------------
// cross-thread: the worker runs the ring transpiled from src/ into a temp dir
// ------------------------------------------------------------------------------------------------

/** JS twin of mix() and of the length / byte rules, for the worker sources. */
const SHARED_JS = `
function mix(x) {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}
function lenFor(i, seed, max) {
  const r = mix((i ^ seed) >>> 0);
  const k = r % 100;
  return k === 0 ? r % (max + 1) : k === 1 ? 0 : k === 2 ? max : (r >>> 8) % 200;
}
function byteFor(i, j) { return (i * 7 + j * 13 + (i >>> 8)) & 255; }
`;

function lenFor(i: number, seed: number, max: number): number {
  const r = mix((i ^ seed) >>> 0);
  const k = r % 100;
  return k === 0 ? r % (max + 1) : k === 1 ? 0 : k === 2 ? max : (r >>> 8) % 200;
}
function byteFor(i: number, j: number): number {
  return (i * 7 + j * 13 + (i >>> 8)) & 255;
}

/** Worker: produces workerData.count records; waits with waitForSpaceAsync when full. */
const PRODUCER_JS = `
const ring = new SpscRing(workerData.sab);
const { count, seed, deadline } = workerData;
const buf = new Uint8Array(ring.maxPayload);
let waits = 0;
for (let i = 0; i < count; i++) {
  const len = lenFor(i, seed, ring.maxPayload);
  for (let j = 0; j < len; j++) buf[j] = byteFor(i, j);
  const cut = i % 3 === 0 ? len >> 1 : len;
  const a = buf.subarray(0, cut);
  const b = cut < len ? buf.subarray(cut, len) : undefined;
  while (!ring.tryWrite(i, (len ^ 0x5a5a5a5a) >>> 0, a, b)) {
    waits++;
    if ((await ring.waitForSpaceAsync(len, 200)) === 'timed-out' && Date.now() > deadline) {
      throw new Error('producer: no space before the deadline at record ' + i);
    }
  }
}
return { waits };
`;

/** Worker: consumes workerData.count records with drain + waitForDataAsync and checks them. */
const CONSUMER_JS = `
const ring = new SpscRing(workerData.sab);
const { count, seed, deadline } = workerData;
let next = 0;
let bad = null;
let sleeps = 0;
const onRecord = (id, meta, data, off, len) => {
  if (bad === null) {
    const want = lenFor(next, seed, ring.maxPayload);
    if (id !== next || len !== want || meta !== ((want ^ 0x5a5a5a5a) >>> 0)) {
      bad = 'record ' + next + ': id ' + id + ' len ' + len + ' meta ' + meta;
    } else {
      for (let j = 0; j < len; j++) if (data[off + j] !== byteFor(next, j)) { bad = 'record ' + next + ' byte ' + j; break; }
    }
  }
  next++;
};
while (next < count && bad === null) {
  if (ring.drain(256, onRecord) === 0) {
    sleeps++;
    if ((await ring.waitForDataAsync(200)) === 'timed-out' && Date.now() > deadline) {
      throw new Error('consumer: no data before the deadline after record ' + next);
    }
  }
}
return { next, bad, sleeps, size: ring.size };
`;

/** Worker: one waitForDataAsync with workerData.timeoutMs, reports result and the record. */
const WAITER_JS = `
const ring = new SpscRing(workerData.sab);
parentPort.postMessage({ kind: 'waiting' });
const t0 = Date.now();
const result = await ring.waitForDataAsync(workerData.timeoutMs);
const elapsed = Date.now() - t0;
const got = [];
ring.drain(10, (id) => got.push(id));
return { result, elapsed, got };
`;

interface WorkerOutcome {
  /** Settles when the worker posts its result or fails. */
  done: Promise<unknown>;
  /** Set synchronously by the event handlers (read it after yielding to the event loop). */
  error: string | undefined;
  messages: unknown[];
}

describe('SpscRing across threads', () => {
  const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  let tmp = '';
  let ringUrl = '';
  const workers = new Set<Worker>();

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'pandanet-ring-test-'));
    writeFileSync(join(tmp, 'package.json'), '{ "type": "module" }\n');
    for (const rel of ['src/errors.ts', 'src/shared-memory/layout.ts', 'src/shared-memory/copy-bytes.ts', 'src/shared-memory/spsc-ring.ts']) {
      const out = ts.transpileModule(readFileSync(join(repoRoot, rel), 'utf8'), {
        fileName: rel,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      });
      const dest = join(tmp, rel.replace(/\.ts$/, '.js'));
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, out.outputText);
    }
    ringUrl = pathToFileURL(join(tmp, 'src/shared-memory/spsc-ring.js')).href;
  });

  afterEach(async () => {
    await Promise.all([...workers].map((w) => w.terminate()));
    workers.clear();
  });

  afterAll(() => {
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  /** Starts an eval worker running `body` (an async function body with SpscRing in scope). */
  function start(body: string, data: Record<string, unknown>): { worker: Worker; outcome: WorkerOutcome } {
    const src = `
const { parentPort, workerData } = require('node:worker_threads');
${SHARED_JS}
// Atomics.waitAsync alone does not keep a worker alive; this timer does, until the body ends.
const keepAlive = setInterval(() => {}, 1000);
import(workerData.ringUrl)
  .then(async ({ SpscRing }) => { ${body} })
  .then(
    (result) => parentPort.postMessage({ kind: 'done', result }),
    (err) => parentPort.postMessage({ kind: 'error', message: String((err && err.stack) || err) }),
  )
  .finally(() => clearInterval(keepAlive));
`;
    const worker = new Worker(src, { eval: true, workerData: { ...data, ringUrl } });
    workers.add(worker);
    const outcome: WorkerOutcome = { done: Promise.resolve(), error: undefined, messages: [] };
    outcome.done = new Promise((resolve, reject) => {
      let reported = false;
      const fail = (why: string): void => {
        outcome.error ??= why;
        reject(new Error(why));
      };
      worker.on('message', (m: { kind: string; result?: unknown; message?: string }) => {
        outcome.messages.push(m);
        if (m.kind === 'done' || m.kind === 'error') reported = true;
        if (m.kind === 'done') resolve(m.result);
        else if (m.kind === 'error') fail(m.message ?? 'worker error');
      });
      worker.on('error', (err) => fail(String(err)));
      // A worker that reported and then exited is done: Node emits the last messages and 'exit' in
      // one go when the main thread was busy, before the test's await could see the 'done'.
      worker.on('exit', (code) => {
        if (!reported) fail(`worker exited with code ${code} before reporting`);
      });
    });
    outcome.done.catch(() => undefined); // observed through outcome.error / awaited by the tests
    return { worker, outcome };
  }

  function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('worker → main: 200,000 records of random lengths arrive complete and in order', { timeout: 90_000 }, async () => {
    const N = 200_000;
    const SEED = 0x1234_5678;
    const COUNT0 = 2 ** 32 - 100_000;
    const ring = ringAt(POS_MOD - 2 * CAP, COUNT0); // positions cross 2^31 and counters 2^32 on the way
    const { outcome } = start(PRODUCER_JS, { sab: ring.sab, count: N, seed: SEED, deadline: Date.now() + 60_000 });

    let next = 0;
    let bad: string | undefined;
    const onRecord = (id: number, meta: number, data: Uint8Array, off: number, len: number): void => {
      if (bad === undefined) {
        const want = lenFor(next, SEED, ring.maxPayload);
        if (id !== next || len !== want || meta !== ((want ^ 0x5a5a5a5a) >>> 0)) {
          bad = `record ${next}: id ${id}, length ${len} (want ${want}), meta ${meta}`;
        } else {
          for (let j = 0; j < len; j++) {
            if (data[off + j] !== byteFor(next, j)) {
              bad = `record ${next}: byte ${j} is ${data[off + j]}, want ${byteFor(next, j)}`;
              break;
            }
          }
        }
      }
      next++;
    };
    const deadline = performance.now() + 60_000;
    while (next < N && bad === undefined && outcome.error === undefined && performance.now() < deadline) {
      if (ring.drain(512, onRecord) === 0 && ring.waitForData(25) === 'timed-out') {
        await yieldToLoop(); // let worker errors / exit events in
      }
    }
    expect(outcome.error).toBeUndefined();
    expect(bad).toBeUndefined();
    expect(next).toBe(N);
    const result = (await withTimeout(outcome.done, 10_000, 'producer')) as { waits: number };
    expect(result.waits).toBeGreaterThan(0); // the 4 KiB ring really filled up
    expect(ring.size).toBe(0);
    expect(ring.written).toBe((COUNT0 + N) >>> 0);
    expect(ring.read).toBe((COUNT0 + N) >>> 0);
    expect(ring.peek(createRecordView())).toBe(false);
  });

  it('main → worker: waitForSpaceAsync on main, drain + waitForDataAsync in the worker', { timeout: 90_000 }, async () => {
    const N = 50_000;
    const SEED = 0x0bad_cafe;
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const { outcome } = start(CONSUMER_JS, { sab: ring.sab, count: N, seed: SEED, deadline: Date.now() + 60_000 });
    const deadline = performance.now() + 60_000;
    const buf = new Uint8Array(ring.maxPayload);
    let waits = 0;
    for (let i = 0; i < N && outcome.error === undefined; i++) {
      const len = lenFor(i, SEED, ring.maxPayload);
      for (let j = 0; j < len; j++) buf[j] = byteFor(i, j);
      while (!ring.tryWrite(i, (len ^ 0x5a5a5a5a) >>> 0, buf.subarray(0, len))) {
        waits++;
        if ((await ring.waitForSpaceAsync(len, 200)) === 'timed-out') {
          if (outcome.error !== undefined) break;
          if (performance.now() > deadline) throw new Error(`main producer: no space before the deadline at ${i}`);
        }
      }
    }
    const result = (await withTimeout(outcome.done, 30_000, 'consumer')) as { next: number; bad: string | null; size: number };
    expect(outcome.error).toBeUndefined();
    expect(result.bad).toBeNull();
    expect(result.next).toBe(N);
    expect(result.size).toBe(0);
    expect(waits).toBeGreaterThan(0);
    expect(ring.read).toBe(N);
  });

  it('waitForDataAsync in a worker wakes on a write from main, and times out on an empty ring', { timeout: 30_000 }, async () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const h = header(ring);
    const a = start(WAITER_JS, { sab: ring.sab, timeoutMs: 10_000 });
    // wait until the worker has declared itself asleep, then write
    const deadline = performance.now() + 10_000;
    while (!sleeping(h) && a.outcome.error === undefined && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(a.outcome.error).toBeUndefined();
    expect(sleeping(h)).toBe(true);
    expect(ring.tryWrite(42, 0, new Uint8Array(3))).toBe(true);
    const woke = (await withTimeout(a.outcome.done, 10_000, 'waiter')) as { result: string; elapsed: number; got: number[] };
    expect(woke.result).toBe('ok');
    expect(woke.got).toEqual([42]);
    expect(sleeping(h)).toBe(false);

    const ring2 = new SpscRing(SpscRing.allocate(CAP));
    const b = start(WAITER_JS, { sab: ring2.sab, timeoutMs: 100 });
    const slept = (await withTimeout(b.outcome.done, 10_000, 'waiter')) as { result: string; elapsed: number; got: number[] };
    expect(slept.result).toBe('timed-out');
    expect(slept.elapsed).toBeGreaterThanOrEqual(99);
    expect(slept.got).toEqual([]);
  });
});

describe('tryWriteRange', () => {
  it('writes exactly src[offset, offset+length), small (byte loop) and large (set), across the wrap', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 50 })), { minLength: 1, maxLength: 60 }), (ops) => {
        const ring = new SpscRing(SpscRing.allocate(4096));
        const view = createRecordView();
        const src = new Uint8Array(700);
        for (let i = 0; i < src.length; i++) src[i] = (i * 31 + 7) & 0xff;
        ops.forEach(([length, offset], k) => {
          expect(ring.tryWriteRange(k, k * 3, src, offset, length)).toBe(true);
          expect(ring.peek(view)).toBe(true);
          expect([view.id, view.meta, view.length]).toEqual([k, k * 3, length]);
          expect(ring.data.slice(view.offset, view.offset + view.length)).toEqual(src.slice(offset, offset + length));
          ring.advance();
        });
        expect(ring.size).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses (writes nothing) when the record does not fit', () => {
    const ring = new SpscRing(SpscRing.allocate(4096));
    const src = new Uint8Array(100);
    let n = 0;
    while (ring.tryWriteRange(n, 0, src, 0, 100)) n++;
    const before = ring.written;
    expect(ring.tryWriteRange(999, 0, src, 0, 100)).toBe(false);
    expect(ring.written).toBe(before);
    expect(ring.tryWriteRange(1, 0, src, 0, ring.maxPayload + 4)).toBe(false);
  });
});

describe('open records (tryOpen / tryExtend / publishOpen)', () => {
  it('an open record is filled and grown in place, invisible until published; any other producer call publishes it first', () => {
    const ring = new SpscRing(SpscRing.allocate(CAP));
    const v = createRecordView();
    const at = ring.tryOpen(5, 2, 3);
    expect(at).toBeGreaterThanOrEqual(0);
    ring.copyIn(at, Uint8Array.from([1, 2, 3]), 0, 3);
    const more = ring.tryExtend(2);
    expect(more).toBe(at + 3);
    ring.copyIn(more, Uint8Array.from([9, 4, 5, 9]), 1, 2);
    expect(ring.size).toBe(0);
    expect(ring.peek(v)).toBe(false);
    expect(ring.tryWrite(6, 0, Uint8Array.from([7]))).toBe(true); // publishes the open record before itself
    expect(ring.size).toBe(2);
    expect(ring.peek(v)).toBe(true);
    expect([v.id, v.meta, ...ring.data.slice(v.offset, v.offset + v.length)]).toEqual([5, 2, 1, 2, 3, 4, 5]);
    ring.advance();
    expect(ring.peek(v) && v.id).toBe(6);
    ring.advance();
    expect(ring.tryExtend(1)).toBe(-1); // nothing open any more
    expect(ring.tryOpen(7, 0, 0)).toBeGreaterThanOrEqual(0);
    ring.publishOpen();
    ring.publishOpen(); // nothing open: no-op
    expect(ring.size).toBe(1);
    expect(ring.tryOpen(8, 0, ring.maxPayload + 1)).toBe(-1); // never fits
    expect(ring.drain(10, () => undefined)).toBe(1);
    const big = ring.tryOpen(8, 0, ring.maxPayload - 4);
    expect(big).toBeGreaterThanOrEqual(0);
    expect(ring.tryExtend(8)).toBe(-1); // past maxPayload
    expect(ring.tryExtend(4)).toBeGreaterThanOrEqual(0);
    ring.releaseWake(false); // publishes it too
    expect(ring.peek(v) && v.length).toBe(ring.maxPayload);
  });
});
