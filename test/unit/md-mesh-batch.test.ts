/**
 * A batch from another mesh node (`Director.receiveMeshBatch`, src/md/director.ts): every datagram
 * reaches each local subscriber once, grouped by recipient, in the batch's order per recipient;
 * truncated datagrams are dropped and counted, a cut-off last frame ends the batch.
 */
import { describe, expect, it } from 'vitest';
import { Director, type DirectorOutput, type MdParticipantRecord } from '../../src/md/director.js';

/** `01 · u64 to[0] … · u64 from · u16 type · u8 seq` */
function dg(to: number[], from: number, seq: number): Buffer {
  const b = Buffer.alloc(1 + 8 * to.length + 8 + 2 + 1);
  b[0] = to.length;
  to.forEach((c, i) => b.writeBigUInt64LE(BigInt(c), 1 + 8 * i));
  b.writeBigUInt64LE(BigInt(from), 1 + 8 * to.length);
  b.writeUInt16LE(2001, 9 + 8 * to.length);
  b[b.length - 1] = seq;
  return b;
}
/** Mesh batch framing: `[u16 LE length][datagram]…`. */
function batch(dgs: Buffer[]): Buffer {
  return Buffer.concat(dgs.flatMap((d) => [Buffer.from([d.length & 0xff, d.length >> 8]), d]));
}

function setup(): { d: Director<string>; got: Array<{ to: string; from: number; seq: number }>; logs: string[] } {
  const got: Array<{ to: string; from: number; seq: number }> = [];
  const logs: string[] = [];
  const out: DirectorOutput<string> = {
    route: (data, offset, length, to, n) => {
      const b = Buffer.from(data.subarray(offset, offset + length));
      const count = b[0]!;
      for (let i = 0; i < n; i++) got.push({ to: to[i]!.conn, from: Number(b.readBigUInt64LE(1 + 8 * count)), seq: b[length - 1]! });
    },
    controlUp: () => undefined,
    terminated: () => undefined,
    log: (_l, m) => logs.push(m),
  };
  return { d: new Director<string>(out, { upstream: false }), got, logs };
}

describe('Director.receiveMeshBatch', () => {
  it('delivers each datagram once per local subscriber, grouped by recipient, in order per recipient', () => {
    const { d, got } = setup();
    const a: MdParticipantRecord<string> = d.addParticipant('a');
    const b = d.addParticipant('b');
    d.map.subscribeChannel(a, 100);
    d.map.subscribeChannel(b, 200);
    d.map.subscribeRange(b, 150, 250);
    const dgs = [dg([100], 1, 0), dg([200], 1, 1), dg([100], 2, 2), dg([100, 200], 1, 3), dg([999], 1, 4), dg([210, 200], 2, 5), dg([100], 1, 6)];
    expect(d.receiveMeshBatch(batch(dgs), batch(dgs).length)).toBe(7);
    // a first (its datagram came first), then b; each in the batch's order; 999 nobody; 5 once to b.
    expect(got).toEqual([
      { to: 'a', from: 1, seq: 0 },
      { to: 'a', from: 2, seq: 2 },
      { to: 'a', from: 1, seq: 3 },
      { to: 'a', from: 1, seq: 6 },
      { to: 'b', from: 1, seq: 1 },
      { to: 'b', from: 1, seq: 3 },
      { to: 'b', from: 2, seq: 5 },
    ]);
    expect(d.counters).toMatchObject({ routed: 6, deliveries: 7, droppedNoSubscriber: 1 });
    expect([a.datagramsOut, b.datagramsOut]).toEqual([4, 3]);
  });

  it('drops a truncated datagram (counted, logged), stops at a cut-off frame, and starts afresh on the next batch', () => {
    const { d, got, logs } = setup();
    const a = d.addParticipant('a');
    d.map.subscribeChannel(a, 100);
    const bad = Buffer.from([1, 100, 0, 0]); // 1 recipient, 3 of its 8 bytes
    const full = batch([dg([100], 1, 0), bad, dg([100], 1, 1)]);
    const cut = Buffer.concat([full, Buffer.from([50, 0, 1, 2])]); // a frame of 50 bytes with 2 present
    expect(d.receiveMeshBatch(cut, cut.length)).toBe(3);
    expect(got.map((g) => g.seq)).toEqual([0, 1]);
    expect(d.counters.truncated).toBe(1);
    expect(logs.some((l) => l.includes('truncated'))).toBe(true);
    // Many datagrams (the scratch grows), a new batch: only its own.
    got.length = 0;
    const many = batch(Array.from({ length: 3000 }, (_, i) => dg([100], 1, i & 0xff)));
    expect(d.receiveMeshBatch(many, many.length)).toBe(3000);
    expect(got.length).toBe(3000);
    expect(got.every((g, i) => g.seq === (i & 0xff) && g.to === 'a')).toBe(true);
  });
});
