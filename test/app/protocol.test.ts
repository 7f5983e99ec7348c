/**
 * The demo game's wire messages (src/app/protocol.ts), without sockets: PyDatagram encodings read
 * back both with PyDatagramIterator and in place (what drainData hands the server), sizes, malformed
 * input, and the nearest-entities selection used to fill snapshots.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Datagram, PyDatagram } from '../../src/index.js';
import { selectNearest } from '../../src/app/game-server.js';
import {
  INPUT_BYTES,
  InPlaceReader,
  MAX_SNAPSHOT_ENTITIES,
  MessageType,
  WELCOME_BYTES,
  decodeInput,
  decodeSnapshot,
  encodeInput,
  encodeSnapshot,
  snapshotBytes,
  writeWelcome,
  type InputMessage,
  type SnapshotAck,
} from '../../src/app/protocol.js';

/** `bytes` placed at `offset` inside a larger buffer, as a reader ring would lend them. */
function inRing(bytes: Uint8Array, offset = 37): Uint8Array {
  const ring = new Uint8Array(offset + bytes.length + 11).fill(0xee);
  ring.set(bytes, offset);
  return ring;
}

describe('INPUT', () => {
  it('is 21 bytes, little-endian, in the documented order', () => {
    const dg = encodeInput({ sequence: 0x01020304, x: 1.5, y: -2, sendTimeMs: 1234.5 });
    const b = dg.getMessage();
    expect(b.length).toBe(INPUT_BYTES);
    expect(b[0]).toBe(MessageType.INPUT);
    expect([...b.subarray(1, 5)]).toEqual([4, 3, 2, 1]);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    expect(v.getFloat32(5, true)).toBe(1.5);
    expect(v.getFloat32(9, true)).toBe(-2);
    expect(v.getFloat64(13, true)).toBe(1234.5);
  });

  it('reads back the same with PyDatagramIterator and in place', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.float({ noNaN: true, noDefaultInfinity: true }),
        fc.float({ noNaN: true, noDefaultInfinity: true }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.nat(64),
        (sequence, x, y, sendTimeMs, offset) => {
          const m = { sequence, x, y, sendTimeMs };
          const dg = encodeInput(m);
          expect(decodeInput(dg)).toEqual(m);
          const out: InputMessage = { sequence: -1, x: 0, y: 0, sendTimeMs: 0 };
          expect(new InPlaceReader().input(inRing(dg.getMessage(), offset), offset, dg.getLength(), out)).toBe(true);
          expect(out).toEqual(m);
        },
      ),
    );
  });

  it('in-place reading rejects anything that is not a whole INPUT, leaving the output untouched', () => {
    const good = encodeInput({ sequence: 5, x: 1, y: 2, sendTimeMs: 3 }).getMessage();
    const r = new InPlaceReader();
    const out: InputMessage = { sequence: -1, x: -1, y: -1, sendTimeMs: -1 };
    expect(r.input(good, 0, good.length - 1, out)).toBe(false);
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expect(r.input(longer, 0, longer.length, out)).toBe(false);
    const wrongType = good.slice();
    wrongType[0] = MessageType.SNAPSHOT;
    expect(r.input(wrongType, 0, wrongType.length, out)).toBe(false);
    expect(r.input(good, 0, 0, out)).toBe(false);
    expect(out).toEqual({ sequence: -1, x: -1, y: -1, sendTimeMs: -1 });
  });
});

describe('SNAPSHOT', () => {
  it('stays under 1 KB with the most entities it may carry', () => {
    expect(snapshotBytes(MAX_SNAPSHOT_ENTITIES)).toBeLessThanOrEqual(1024);
    const entities = Array.from({ length: MAX_SNAPSHOT_ENTITIES }, (_, i) => ({ id: i + 1, x: i, y: -i }));
    const dg = encodeSnapshot({ tick: 9, serverTimeMs: 1e12, entities, ack: { sequence: 3, sendTimeMs: 77.25, holdMs: 12.5 } });
    expect(dg.getLength()).toBe(snapshotBytes(MAX_SNAPSHOT_ENTITIES));
  });

  it('round-trips through PyDatagramIterator, and the in-place ack reader skips the entities', () => {
    const entity = fc.record({ id: fc.integer({ min: 0, max: 0xffffffff }), x: fc.float({ noNaN: true }), y: fc.float({ noNaN: true }) });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.double({ noNaN: true }),
        fc.array(entity, { maxLength: MAX_SNAPSHOT_ENTITIES }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.double({ noNaN: true }),
        fc.float({ noNaN: true }),
        (tick, serverTimeMs, entities, sequence, sendTimeMs, holdMs) => {
          const m = { tick, serverTimeMs, entities, ack: { sequence, sendTimeMs, holdMs } };
          const dg = encodeSnapshot(m);
          expect(decodeSnapshot(new Datagram(dg.getMessage()))).toEqual(m);
          const ack: SnapshotAck = { sequence: -1, sendTimeMs: 0, holdMs: 0 };
          expect(new InPlaceReader().snapshotAck(inRing(dg.getMessage()), 37, dg.getLength(), ack)).toBe(tick);
          expect(ack).toEqual(m.ack);
        },
      ),
    );
  });

  it('the in-place ack reader rejects a snapshot whose count disagrees with its length', () => {
    const dg = encodeSnapshot({ tick: 1, serverTimeMs: 0, entities: [{ id: 1, x: 0, y: 0 }], ack: { sequence: 1, sendTimeMs: 0, holdMs: 0 } });
    const b = dg.getMessage();
    const ack: SnapshotAck = { sequence: -1, sendTimeMs: 0, holdMs: 0 };
    expect(new InPlaceReader().snapshotAck(b, 0, b.length - 1, ack)).toBe(-1);
    b[13] = 2; // count 2, bytes for 1
    expect(new InPlaceReader().snapshotAck(b, 0, b.length, ack)).toBe(-1);
    expect(ack.sequence).toBe(-1);
  });
});

describe('WELCOME', () => {
  it('is 11 bytes and reads back in place', () => {
    const dg = new PyDatagram();
    writeWelcome(dg, { entityId: 42, tickRate: 20, worldSize: 1000 });
    const b = dg.getMessage();
    expect(b.length).toBe(WELCOME_BYTES);
    expect(new InPlaceReader().welcome(inRing(b), 37, b.length)).toEqual({ entityId: 42, tickRate: 20, worldSize: 1000 });
    expect(new InPlaceReader().welcome(b, 0, b.length - 1)).toBeNull();
  });
});

describe('selectNearest', () => {
  it('puts exactly the k smallest distances first', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 300 }), fc.nat(), (values, kSeed) => {
        const n = values.length;
        const k = 1 + (kSeed % n);
        const dist = Float64Array.from(values);
        const idx = Int32Array.from({ length: n }, (_, i) => i);
        selectNearest(idx, dist, n, k);
        expect([...idx].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i)); // a permutation
        const chosen = [...idx.subarray(0, k)].map((i) => dist[i]!).sort((a, b) => a - b);
        const expected = [...values].sort((a, b) => a - b).slice(0, k);
        expect(chosen).toEqual(expected);
      }),
    );
  });
});
