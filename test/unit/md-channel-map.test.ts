/**
 * The MD routing index (src/md/channel-map.ts): lookups, once-per-subscriber matching, and the
 * upstream messages of Astron's tree rules, checked against a naive model (fast-check) and against
 * the sequence of Astron's own test_messagedirector.py range test.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ChannelMap, type RouteTarget } from '../../src/md/channel-map.js';
import { MAX_CHANNEL, channelKey, keyToBigInt, writeChannelKey, type ChannelKey, type MdControl } from '../../src/md/protocol.js';

interface Sub extends RouteTarget {
  id: number;
}
const subs = (n: number): Sub[] => Array.from({ length: n }, (_, id) => ({ id, routeStamp: 0 }));
const ids = (xs: Sub[]): number[] => xs.map((x) => x.id).sort((a, b) => a - b);
const k = (x: number | bigint): ChannelKey => channelKey(x);

/** Upstream messages with bigint channels, for comparison. */
function norm(m: MdControl | null): string | null {
  if (m === null) return null;
  switch (m.kind) {
    case 'addChannel':
    case 'removeChannel':
      return `${m.kind} ${keyToBigInt(m.channel)}`;
    case 'addRange':
    case 'removeRange':
      return `${m.kind} ${keyToBigInt(m.lo)}..${keyToBigInt(m.hi)}`;
    default:
      return m.kind;
  }
}

// ---------------------------------------------------------------------------------------------
// the naive model: bigint interval lists, linear scans

type Iv = [bigint, bigint];
function joinAll(list: Iv[]): Iv[] {
  const s = [...list].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Iv[] = [];
  for (const [lo, hi] of s) {
    const last = out[out.length - 1];
    if (last !== undefined && lo <= last[1] + 1n) {
      if (hi > last[1]) last[1] = hi;
    } else out.push([lo, hi]);
  }
  return out;
}
function minus(list: Iv[], lo: bigint, hi: bigint): Iv[] {
  const out: Iv[] = [];
  for (const [a, b] of list) {
    if (b < lo || a > hi) out.push([a, b]);
    else {
      if (a < lo) out.push([a, lo - 1n]);
      if (b > hi) out.push([hi + 1n, b]);
    }
  }
  return out;
}
const inIvs = (list: Iv[], c: bigint): boolean => list.some(([a, b]) => a <= c && c <= b);

class Model {
  readonly chans = new Map<number, Set<bigint>>();
  readonly ranges = new Map<number, Iv[]>();
  constructor(n: number) {
    for (let i = 0; i < n; i++) {
      this.chans.set(i, new Set());
      this.ranges.set(i, []);
    }
  }
  has(p: number, c: bigint): boolean {
    return this.chans.get(p)!.has(c) || inIvs(this.ranges.get(p)!, c);
  }
  channelHeldByOther(p: number, c: bigint): boolean {
    for (const [q, s] of this.chans) if (q !== p && s.has(c)) return true;
    return false;
  }
  othersRanges(p: number): Iv[] {
    return joinAll([...this.ranges].filter(([q]) => q !== p).flatMap(([, r]) => r));
  }
  addChannel(p: number, c: bigint): string | null {
    if (this.has(p, c)) return null;
    const first = !this.channelHeldByOther(p, c);
    this.chans.get(p)!.add(c);
    return first ? `addChannel ${c}` : null;
  }
  removeChannel(p: number, c: bigint): string | null {
    if (!this.has(p, c)) return null;
    const had = this.chans.get(p)!.delete(c);
    return had && !this.channelHeldByOther(p, c) ? `removeChannel ${c}` : null;
  }
  addRange(p: number, lo: bigint, hi: bigint): string | null {
    if (lo > hi) return null;
    this.ranges.set(p, joinAll([...this.ranges.get(p)!, [lo, hi]]));
    let left: Iv[] = [[lo, hi]];
    for (const [a, b] of this.othersRanges(p)) left = minus(left, a, b);
    return left.length > 0 ? `addRange ${lo}..${hi}` : null;
  }
  removeRange(p: number, lo: bigint, hi: bigint): string[] {
    const all = joinAll([...this.ranges.values()].flat());
    if (all.length === 0) return [];
    const a = lo > all[0]![0] ? lo : all[0]![0];
    const b = hi < all[all.length - 1]![1] ? hi : all[all.length - 1]![1];
    let silent: Iv[] = [];
    if (a <= b) {
      silent = [[a, b]];
      for (const [x, y] of this.othersRanges(p)) silent = minus(silent, x, y);
      this.ranges.set(p, minus(this.ranges.get(p)!, a, b));
    }
    const s = this.chans.get(p)!;
    for (const c of [...s]) if (lo <= c && c <= hi) s.delete(c);
    return silent.map(([x, y]) => `removeRange ${x}..${y}`);
  }
  removeAll(p: number): string[] {
    const out: string[] = [];
    for (const c of [...this.chans.get(p)!]) {
      const m = this.removeChannel(p, c);
      if (m !== null) out.push(m);
    }
    for (const [lo, hi] of [...this.ranges.get(p)!]) out.push(...this.removeRange(p, lo, hi));
    return out;
  }
  lookup(c: bigint): number[] {
    return [...this.chans.keys()].filter((q) => this.has(q, c));
  }
}

// ---------------------------------------------------------------------------------------------

const edge = [0n, 1n, 2n ** 53n - 2n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, MAX_CHANNEL - 1n, MAX_CHANNEL];
const chan = fc.oneof(fc.bigInt({ min: 0n, max: 40n }), fc.constantFrom(...edge), fc.bigInt({ min: 0n, max: MAX_CHANNEL }));
type Op =
  | { kind: 'addChannel' | 'removeChannel'; p: number; c: bigint }
  | { kind: 'addRange' | 'removeRange'; p: number; lo: bigint; hi: bigint }
  | { kind: 'removeAll'; p: number };
const P = 4;
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom('addChannel' as const, 'removeChannel' as const), p: fc.nat(P - 1), c: chan }),
  fc.record({ kind: fc.constantFrom('addRange' as const, 'removeRange' as const), p: fc.nat(P - 1), lo: chan, hi: chan }).map((o) =>
    // mostly ordered ranges; now and then an empty (lo > hi) one
    o.lo > o.hi && (o.lo + o.hi) % 5n !== 0n ? { ...o, lo: o.hi, hi: o.lo } : o,
  ),
  fc.record({ kind: fc.constant('removeAll' as const), p: fc.nat(P - 1) }),
);

function recipients(channels: bigint[]): Uint8Array {
  const data = new Uint8Array(8 * channels.length);
  channels.forEach((c, i) => writeChannelKey(data, 8 * i, k(c)));
  return data;
}

describe('ChannelMap', () => {
  it('answers lookups and emits the tree rules exactly as the naive model (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.array(chan, { maxLength: 12 }), (ops, probes) => {
        const ps = subs(P);
        const map = new ChannelMap<Sub>();
        const model = new Model(P);
        const probe = new Set<bigint>([...probes, ...edge]);
        for (const o of ops) {
          const p = ps[o.p]!;
          switch (o.kind) {
            case 'addChannel':
              expect(norm(map.subscribeChannel(p, k(o.c))), `${o.kind} ${o.c}`).toBe(model.addChannel(o.p, o.c));
              probe.add(o.c);
              break;
            case 'removeChannel':
              expect(norm(map.unsubscribeChannel(p, k(o.c)))).toBe(model.removeChannel(o.p, o.c));
              break;
            case 'addRange':
              expect(norm(map.subscribeRange(p, k(o.lo), k(o.hi))), `addRange ${o.lo}..${o.hi}`).toBe(model.addRange(o.p, o.lo, o.hi));
              break;
            case 'removeRange':
              expect(map.unsubscribeRange(p, k(o.lo), k(o.hi)).map(norm), `removeRange ${o.lo}..${o.hi}`).toEqual(model.removeRange(o.p, o.lo, o.hi));
              break;
            case 'removeAll':
              expect(map.unsubscribeAll(p).map(norm)).toEqual(model.removeAll(o.p));
              break;
          }
          if (o.kind === 'addRange' || o.kind === 'removeRange') {
            for (const c of [o.lo, o.hi]) for (const d of [-1n, 0n, 1n]) if (c + d >= 0n && c + d <= MAX_CHANNEL) probe.add(c + d);
          }
        }
        for (const c of probe) expect(ids(map.lookup(k(c))), `lookup ${c}`).toEqual(model.lookup(c));
        for (let q = 0; q < P; q++) {
          expect(map.rangesOf(ps[q]!).map((r) => [keyToBigInt(r.lo), keyToBigInt(r.hi)])).toEqual(model.ranges.get(q));
        }
        // collect: one datagram to all probes (duplicates included), each subscriber once, never the sender
        const list = [...probe, ...probe];
        const data = recipients(list);
        const out: Sub[] = [];
        for (const sender of [null, ps[0]!]) {
          const n = map.collect(data, 0, list.length, out, sender);
          const want = new Set(list.flatMap((c) => model.lookup(c)));
          if (sender !== null) want.delete(sender.id);
          expect(ids(out.slice(0, n))).toEqual([...want].sort((a, b) => a - b));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('inclusive ends, 2^64 − 1 included', () => {
    const [a, b] = subs(2);
    const map = new ChannelMap<Sub>();
    map.subscribeRange(a!, k(MAX_CHANNEL - 5n), k(MAX_CHANNEL));
    map.subscribeRange(b!, 0, 0);
    expect(ids(map.lookup(k(MAX_CHANNEL)))).toEqual([0]);
    expect(ids(map.lookup(k(MAX_CHANNEL - 5n)))).toEqual([0]);
    expect(ids(map.lookup(k(MAX_CHANNEL - 6n)))).toEqual([]);
    expect(ids(map.lookup(0))).toEqual([1]);
    expect(ids(map.lookup(1))).toEqual([]);
    expect(map.unsubscribeRange(a!, 0, k(MAX_CHANNEL)).map(norm)).toEqual([`removeRange ${MAX_CHANNEL - 5n}..${MAX_CHANNEL}`]);
    expect(map.rangeSpan()).toEqual({ lo: 0, hi: 0 });
  });

  it("Astron's test_ranges sequence gives the same upstream messages", () => {
    const [c1, c2] = subs(2) as [Sub, Sub];
    const map = new ChannelMap<Sub>();
    const add = (p: Sub, lo: number, hi: number): string | null => norm(map.subscribeRange(p, lo, hi));
    const rem = (p: Sub, lo: number, hi: number): Array<string | null> => map.unsubscribeRange(p, lo, hi).map(norm);
    expect(add(c1, 1000, 1999)).toBe('addRange 1000..1999');
    expect(rem(c1, 1300, 1700)).toEqual(['removeRange 1300..1700']);
    expect(add(c1, 1900, 2100)).toBe('addRange 1900..2100');
    expect(rem(c1, 1000, 1999)).toEqual(['removeRange 1000..1999']);
    expect(map.unsubscribeAll(c1).map(norm)).toEqual(['removeRange 2000..2100']);
    expect(add(c1, 3000, 5000)).toBe('addRange 3000..5000');
    expect(rem(c1, 2950, 3043)).toEqual(['removeRange 3000..3043']);
    expect(rem(c1, 4763, 6000)).toEqual(['removeRange 4763..5000']);
    expect(rem(c1, 3951, 4049)).toEqual(['removeRange 3951..4049']);
    expect(rem(c1, 4030, 4070)).toEqual(['removeRange 4030..4070']);
    expect(rem(c1, 3891, 4040)).toEqual(['removeRange 3891..4040']);
    expect(rem(c1, 3700, 4200)).toEqual(['removeRange 3700..4200']);
    expect(add(c2, 3500, 4500)).toBe('addRange 3500..4500');
    expect(rem(c1, 3650, 3800)).toEqual([]);
    expect(rem(c1, 3475, 3525)).toEqual(['removeRange 3475..3499']);
    expect(rem(c2, 3620, 4300)).toEqual(['removeRange 3650..4200']);
    expect(map.unsubscribeAll(c2).map(norm)).toEqual(['removeRange 3500..3525']);
    expect(add(c2, 1000, 5000)).toBe('addRange 1000..5000');
    expect(rem(c2, 1000, 5000)).toEqual(['removeRange 1000..3043', 'removeRange 3475..3525', 'removeRange 3650..4200', 'removeRange 4763..5000']);
  });

  it('channel subscriptions: first subscriber ADD, last leaver REMOVE, REMOVE of something never added is a no-op', () => {
    const [a, b] = subs(2) as [Sub, Sub];
    const map = new ChannelMap<Sub>();
    expect(norm(map.unsubscribeChannel(a, 5))).toBeNull();
    expect(map.unsubscribeRange(a, 1, 9)).toEqual([]);
    expect(norm(map.subscribeChannel(a, 12345654321))).toBe('addChannel 12345654321');
    expect(norm(map.subscribeChannel(b, 12345654321))).toBeNull();
    expect(norm(map.subscribeChannel(a, 12345654321))).toBeNull();
    expect(norm(map.unsubscribeChannel(a, 12345654321))).toBeNull();
    expect(map.unsubscribeAll(b).map(norm)).toEqual(['removeChannel 12345654321']);
    expect(map.channelCount).toBe(0);
    expect(map.segmentCount).toBe(1);
  });

  it('matches a datagram with many recipients without quadratic work (each subscriber once)', () => {
    const ps = subs(1000);
    const map = new ChannelMap<Sub>();
    for (const p of ps) map.subscribeChannel(p, 7);
    for (const p of ps) map.subscribeRange(p, 0, 100);
    const list = Array.from({ length: 255 }, () => 7n);
    const out: Sub[] = [];
    expect(map.collect(recipients(list), 0, 255, out, ps[3]!)).toBe(999);
    expect(new Set(out.slice(0, 999)).size).toBe(999);
    expect(out.slice(0, 999)).not.toContain(ps[3]);
  });
});
