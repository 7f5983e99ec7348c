/**
 * Helpers for the ring tests (`test/unit/spsc-ring.test.ts`, `test/unit/write-batching.test.ts`):
 * deterministic payloads and rings that start at a chosen position.
 *
 * Thread: any (test helper).
 * @module
 */
import { HEAD, HEADER_INT32, POSITION_MASK, READ, TAIL, WRITTEN } from '../../src/shared-memory/layout.js';
import { SpscRing } from '../../src/shared-memory/spsc-ring.js';

/** Deterministic 32-bit mixer (the spsc-ring test's worker sources repeat the formula). */
export function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** `len` deterministic bytes for `seed`. */
export function bytesFor(seed: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let j = 0; j < len; j++) out[j] = mix(seed + j) & 0xff;
  return out;
}

/** Positions live modulo 2^31 in HEAD/TAIL (bit 31 of HEAD is the consumer's sleeping flag). */
export const POS_MOD = 2 ** 31;

/** A ring of `capacity` data bytes whose HEAD/TAIL positions and WRITTEN/READ counters start at the given values. */
export function ringAt(pos: number, count = 0, capacity = 4096): SpscRing {
  const sab = SpscRing.allocate(capacity);
  const h = new Int32Array(sab, 0, HEADER_INT32);
  h[HEAD] = pos & POSITION_MASK;
  h[TAIL] = pos & POSITION_MASK;
  h[WRITTEN] = count | 0;
  h[READ] = count | 0;
  return new SpscRing(sab);
}
