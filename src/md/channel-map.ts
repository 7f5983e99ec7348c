/**
 * The message director's routing index: who is subscribed to which 64-bit channel, and what the
 * tree (the upstream link) must be told when that changes.
 *
 * - **Channel subscriptions**: a `Map` from {@link ChannelKey} to the subscribers of that channel.
 * - **Range subscriptions**: an interval map over the whole channel space `[0, 2^64 − 1]`, kept as
 *   sorted segment starts with the subscriber list of each segment (Astron's `ChannelMap` keeps a
 *   `boost::icl::interval_map` of subscriber sets; this is the same map, flattened). Adjacent segments
 *   with the same subscribers are joined. "Who holds channel c" is one binary search: O(log n).
 * - **Each subscriber's own range set** (sorted, disjoint, adjacent intervals joined), for the
 *   slicing semantics of REMOVE_RANGE: it is a set operation per subscriber, no reference counts.
 *
 * All intervals are inclusive at both ends; 2^64 − 1 is a valid upper end.
 *
 * The mutators return the control messages the node must send **upstream** (Astron's tree rules):
 * ADD_CHANNEL for the first channel subscriber, REMOVE_CHANNEL when the last one leaves, ADD_RANGE in
 * full when some part of it was held by no other subscriber, REMOVE_RANGE for the requested range
 * clamped to the span of all range subscriptions minus what other subscribers still hold (possibly
 * several pieces, possibly none). A root node ignores them.
 *
 * Matching a datagram ({@link ChannelMap.collect}) is allocation-free for channels up to 2^53 − 1 and
 * linear in the number of (recipient, subscriber) pairs: each subscriber carries a route stamp, so one
 * that matches several recipients is collected once without a per-datagram `Set`.
 *
 * Pure module. Thread: any (one owner; not shared between threads).
 * @module
 */
import { MAX_CHANNEL, readChannelKey, type ChannelKey, type MdControl } from './protocol.js';

/** What the index needs of a subscriber: a stamp it may overwrite while matching. Thread: any. */
export interface RouteTarget {
  /** Scratch for {@link ChannelMap.collect}: the generation of the last match that took it. Start at 0. */
  routeStamp: number;
}

/** An inclusive interval of channels. Thread: any. */
export interface ChannelRange {
  lo: ChannelKey;
  hi: ChannelKey;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** One past the largest channel (a sentinel, never a channel). */
const END = MAX_CHANNEL + 1n;

/** `k + 1` in canonical form (2^64 for the largest channel: the sentinel {@link END}). */
function succ(k: ChannelKey): ChannelKey {
  if (typeof k === 'number') return k < MAX_SAFE ? k + 1 : BigInt(k) + 1n;
  return k + 1n;
}

/** `k − 1` in canonical form (`k` > 0). */
function pred(k: ChannelKey): ChannelKey {
  if (typeof k === 'number') return k - 1;
  const p = k - 1n;
  return p <= BigInt(MAX_SAFE) ? Number(p) : p;
}

function maxKey(a: ChannelKey, b: ChannelKey): ChannelKey {
  return a >= b ? a : b;
}
function minKey(a: ChannelKey, b: ChannelKey): ChannelKey {
  return a <= b ? a : b;
}

const EMPTY: readonly never[] = Object.freeze([]);

/** A sorted list of disjoint, non-adjacent inclusive intervals (a joining interval set). */
class RangeSet {
  readonly items: ChannelRange[] = [];

  contains(c: ChannelKey): boolean {
    const a = this.items;
    let lo = 0;
    let hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = a[mid]!;
      if (c < r.lo) hi = mid - 1;
      else if (c > r.hi) lo = mid + 1;
      else return true;
    }
    return false;
  }

  add(lo: ChannelKey, hi: ChannelKey): void {
    const out: ChannelRange[] = [];
    let nlo = lo;
    let nhi = hi;
    let placed = false;
    for (const r of this.items) {
      if (succ(r.hi) < nlo) out.push(r);
      else if (r.lo > succ(nhi)) {
        if (!placed) {
          out.push({ lo: nlo, hi: nhi });
          placed = true;
        }
        out.push(r);
      } else {
        nlo = minKey(nlo, r.lo);
        nhi = maxKey(nhi, r.hi);
      }
    }
    if (!placed) out.push({ lo: nlo, hi: nhi });
    this.items.length = 0;
    this.items.push(...out);
  }

  subtract(lo: ChannelKey, hi: ChannelKey): void {
    const out: ChannelRange[] = [];
    for (const r of this.items) {
      if (r.hi < lo || r.lo > hi) {
        out.push(r);
        continue;
      }
      if (r.lo < lo) out.push({ lo: r.lo, hi: pred(lo) });
      if (r.hi > hi) out.push({ lo: succ(hi), hi: r.hi });
    }
    this.items.length = 0;
    this.items.push(...out);
  }
}

/** What the index keeps per subscriber. */
interface SubscriberState {
  channels: Set<ChannelKey>;
  ranges: RangeSet;
}

/**
 * The routing index of one message director (see the module notes). `P` is the subscriber type
 * (a participant object). Thread: the owner's thread only.
 */
export class ChannelMap<P extends RouteTarget> {
  /** Channel subscriptions: subscribers in subscription order. */
  readonly #channels = new Map<ChannelKey, P[]>();
  /** Interval map: segment `i` covers `[starts[i], starts[i+1] − 1]` (the last one up to 2^64 − 1). */
  readonly #starts: ChannelKey[] = [0];
  /** Subscribers of each segment (never mutated in place: replaced on change). */
  readonly #segs: Array<readonly P[]> = [EMPTY];
  readonly #state = new Map<P, SubscriberState>();
  #gen = 0;

  /** Number of channels with at least one channel subscriber. */
  get channelCount(): number {
    return this.#channels.size;
  }

  /** Number of segments of the interval map (1 when there is no range subscription). */
  get segmentCount(): number {
    return this.#starts.length;
  }

  #stateOf(p: P): SubscriberState {
    let s = this.#state.get(p);
    if (s === undefined) {
      s = { channels: new Set(), ranges: new RangeSet() };
      this.#state.set(p, s);
    }
    return s;
  }

  /** Index of the segment holding `c`. */
  #find(c: ChannelKey): number {
    const s = this.#starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s[mid]! <= c) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Makes `at` a segment start (no-op past the last channel); returns its segment index. */
  #split(at: ChannelKey): number {
    if (at > MAX_CHANNEL) return this.#starts.length;
    const i = this.#find(at);
    if (this.#starts[i] === at) return i;
    this.#starts.splice(i + 1, 0, at);
    this.#segs.splice(i + 1, 0, this.#segs[i]!);
    return i + 1;
  }

  /** Joins adjacent segments with the same subscribers, around `[from, to)`. */
  #coalesce(from: number, to: number): void {
    let i = Math.max(1, from);
    let end = Math.min(this.#starts.length, to + 1);
    while (i < end) {
      if (sameMembers(this.#segs[i - 1]!, this.#segs[i]!)) {
        this.#starts.splice(i, 1);
        this.#segs.splice(i, 1);
        end--;
      } else i++;
    }
  }

  /** Applies `f` to the subscriber list of every segment in `[lo, hi]`. */
  #updateSegments(lo: ChannelKey, hi: ChannelKey, f: (subs: readonly P[]) => readonly P[]): void {
    const a = this.#split(lo);
    const b = this.#split(succ(hi));
    for (let i = a; i < b; i++) this.#segs[i] = f(this.#segs[i]!);
    this.#coalesce(a - 1, b + 1);
  }

  /** True if `p` holds `c` by a channel subscription or one of its own ranges (Astron's `is_subscribed`). */
  isSubscribed(p: P, c: ChannelKey): boolean {
    const s = this.#state.get(p);
    return s !== undefined && (s.channels.has(c) || s.ranges.contains(c));
  }

  /**
   * ADD_CHANNEL `c` for `p`. No-op if `p` already holds `c` (by channel or its own range). Returns the
   * upstream message (ADD_CHANNEL) when `p` is the first channel subscriber of `c`, else null.
   */
  subscribeChannel(p: P, c: ChannelKey): MdControl | null {
    if (this.isSubscribed(p, c)) return null;
    this.#stateOf(p).channels.add(c);
    const subs = this.#channels.get(c);
    if (subs === undefined) {
      this.#channels.set(c, [p]);
      return { kind: 'addChannel', channel: c };
    }
    subs.push(p);
    return null;
  }

  /**
   * REMOVE_CHANNEL `c` for `p`. Returns the upstream message (REMOVE_CHANNEL) when `p` was the last
   * channel subscriber of `c`, else null (also when `p` never subscribed: REMOVE of something never
   * added is a no-op).
   */
  unsubscribeChannel(p: P, c: ChannelKey): MdControl | null {
    const s = this.#state.get(p);
    if (s === undefined || !(s.channels.has(c) || s.ranges.contains(c))) return null;
    s.channels.delete(c);
    return this.#dropChannelSubscriber(p, c) ? { kind: 'removeChannel', channel: c } : null;
  }

  /** Removes `p` from the subscribers of `c`; true if that emptied them. */
  #dropChannelSubscriber(p: P, c: ChannelKey): boolean {
    const subs = this.#channels.get(c);
    if (subs === undefined) return false;
    const i = subs.indexOf(p);
    if (i < 0) return false;
    subs.splice(i, 1);
    if (subs.length > 0) return false;
    this.#channels.delete(c);
    return true;
  }

  /**
   * ADD_RANGE `[lo, hi]` for `p` (inclusive; `lo > hi` is an empty range: no-op). Returns the upstream
   * message (ADD_RANGE `[lo, hi]`, in full) when some part of it is held by no other range subscriber.
   */
  subscribeRange(p: P, lo: ChannelKey, hi: ChannelKey): MdControl | null {
    if (lo > hi) return null;
    this.#stateOf(p).ranges.add(lo, hi);
    this.#updateSegments(lo, hi, (subs) => (subs.includes(p) ? subs : [...subs, p]));
    const a = this.#find(lo);
    const b = this.#find(hi);
    for (let i = a; i <= b; i++) {
      const subs = this.#segs[i]!;
      if (subs.length === 1 && subs[0] === p) return { kind: 'addRange', lo, hi };
    }
    return null;
  }

  /**
   * REMOVE_RANGE `[lo, hi]` for `p`: removes it from `p`'s range set (slicing its ranges) and drops
   * `p`'s channel subscriptions inside `[lo, hi]` (as Astron; without upstream REMOVE_CHANNEL).
   * Returns the upstream REMOVE_RANGE messages: `[lo, hi]` clamped to the span of all range
   * subscriptions, minus what other subscribers still hold by range, as maximal pieces in ascending
   * order (none when there is no range subscription at all, or others hold all of it).
   */
  unsubscribeRange(p: P, lo: ChannelKey, hi: ChannelKey): MdControl[] {
    const out: MdControl[] = [];
    const span = this.rangeSpan();
    if (span === null) return out;
    const a = maxKey(lo, span.lo);
    const b = minKey(hi, span.hi);
    if (a <= b) {
      // The parts that go silent: no subscriber, or `p` alone.
      let i = this.#find(a);
      const n = this.#starts.length;
      let pieceLo: ChannelKey | null = null;
      let pieceHi: ChannelKey = a;
      for (; i < n; i++) {
        const segLo = maxKey(this.#starts[i]!, a);
        if (segLo > b) break;
        const segHi = minKey(i + 1 < n ? pred(this.#starts[i + 1]!) : MAX_CHANNEL, b);
        const subs = this.#segs[i]!;
        const silent = subs.length === 0 || (subs.length === 1 && subs[0] === p);
        if (silent) {
          if (pieceLo === null) pieceLo = segLo;
          pieceHi = segHi;
        } else if (pieceLo !== null) {
          out.push({ kind: 'removeRange', lo: pieceLo, hi: pieceHi });
          pieceLo = null;
        }
      }
      if (pieceLo !== null) out.push({ kind: 'removeRange', lo: pieceLo, hi: pieceHi });
      const s = this.#state.get(p);
      if (s !== undefined) s.ranges.subtract(a, b);
      this.#updateSegments(a, b, (subs) => (subs.includes(p) ? subs.filter((q) => q !== p) : subs));
    }
    const s = this.#state.get(p);
    if (s !== undefined) {
      for (const c of [...s.channels]) {
        if (lo <= c && c <= hi) {
          s.channels.delete(c);
          this.#dropChannelSubscriber(p, c);
        }
      }
    }
    return out;
  }

  /**
   * Removes every subscription of `p` (it left). Returns the upstream messages, as Astron's
   * `unsubscribe_all`: REMOVE_CHANNEL for each channel it was the last subscriber of, then the
   * REMOVE_RANGEs of each of its ranges in turn.
   */
  unsubscribeAll(p: P): MdControl[] {
    const s = this.#state.get(p);
    if (s === undefined) return [];
    const out: MdControl[] = [];
    for (const c of [...s.channels]) {
      const m = this.unsubscribeChannel(p, c);
      if (m !== null) out.push(m);
    }
    for (const r of [...s.ranges.items]) out.push(...this.unsubscribeRange(p, r.lo, r.hi));
    this.#state.delete(p);
    return out;
  }

  /** The lowest and highest channel held by any range subscription, or null if there is none. */
  rangeSpan(): ChannelRange | null {
    const n = this.#starts.length;
    let first = 0;
    while (first < n && this.#segs[first]!.length === 0) first++;
    if (first === n) return null;
    let last = n - 1;
    while (this.#segs[last]!.length === 0) last--;
    return { lo: this.#starts[first]!, hi: last + 1 < n ? pred(this.#starts[last + 1]!) : MAX_CHANNEL };
  }

  /** Everything held by range subscriptions, as maximal intervals in ascending order (for a resync upstream). */
  coveredRanges(): ChannelRange[] {
    const out: ChannelRange[] = [];
    const n = this.#starts.length;
    for (let i = 0; i < n; i++) {
      if (this.#segs[i]!.length === 0) continue;
      const lo = this.#starts[i]!;
      const hi = i + 1 < n ? pred(this.#starts[i + 1]!) : MAX_CHANNEL;
      const prev = out[out.length - 1];
      if (prev !== undefined && succ(prev.hi) === lo) prev.hi = hi;
      else out.push({ lo, hi });
    }
    return out;
  }

  /** How many subscribers hold `c` by a channel subscription (ranges not counted). */
  channelSubscriberCount(c: ChannelKey): number {
    return this.#channels.get(c)?.length ?? 0;
  }

  /** Channels with at least one channel subscriber (for a resync upstream). */
  subscribedChannels(): ChannelKey[] {
    return [...this.#channels.keys()];
  }

  /** The channels `p` subscribed to (not counting its ranges). */
  channelsOf(p: P): ChannelKey[] {
    return [...(this.#state.get(p)?.channels ?? [])];
  }

  /** `p`'s own range set, ascending. */
  rangesOf(p: P): ChannelRange[] {
    return (this.#state.get(p)?.ranges.items ?? []).map((r) => ({ lo: r.lo, hi: r.hi }));
  }

  /** Who holds channel `c` (channel subscribers, then range subscribers; each once). Allocates: for tests and tools. */
  lookup(c: ChannelKey): P[] {
    const out: P[] = [];
    const gen = ++this.#gen;
    for (const q of this.#channels.get(c) ?? EMPTY) {
      if (q.routeStamp !== gen) {
        q.routeStamp = gen;
        out.push(q);
      }
    }
    for (const q of this.#segs[this.#find(c)]!) {
      if (q.routeStamp !== gen) {
        q.routeStamp = gen;
        out.push(q);
      }
    }
    return out;
  }

  /**
   * The hot path: collects into `out` (from index 0) every subscriber of any of the `count` recipient
   * channels stored as little-endian uint64s at `data[at]`, each once, never `exclude` (the sender).
   * Returns how many were collected. No allocation for channels up to 2^53 − 1; O(count · log n +
   * matches). The caller checked the bounds.
   */
  collect(data: Uint8Array, at: number, count: number, out: P[], exclude: P | null): number {
    const gen = ++this.#gen;
    if (exclude !== null) exclude.routeStamp = gen;
    const channels = this.#channels;
    const ranged = this.#starts.length > 1 || this.#segs[0]!.length > 0;
    let n = 0;
    for (let r = 0; r < count; r++) {
      const key = readChannelKey(data, at + 8 * r);
      const subs = channels.get(key);
      if (subs !== undefined) {
        for (let i = 0; i < subs.length; i++) {
          const q = subs[i]!;
          if (q.routeStamp !== gen) {
            q.routeStamp = gen;
            out[n++] = q;
          }
        }
      }
      if (ranged) {
        const seg = this.#segs[this.#find(key)]!;
        for (let i = 0; i < seg.length; i++) {
          const q = seg[i]!;
          if (q.routeStamp !== gen) {
            q.routeStamp = gen;
            out[n++] = q;
          }
        }
      }
    }
    return n;
  }
}

function sameMembers<P>(a: readonly P[], b: readonly P[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (const x of a) if (!b.includes(x)) return false;
  return true;
}

/** @internal For tests: the canonical successor/predecessor of a key. */
export const _keyMath = { succ, pred, END };
