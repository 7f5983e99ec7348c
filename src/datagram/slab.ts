/**
 * Small byte buffers carved from shared 8 KiB slabs, as Node's `Buffer.allocUnsafe` pools small
 * buffers: a fresh `ArrayBuffer` is an embedder allocation that V8 tracks and sweeps one by one
 * (~150 ns each, measured), a view into a slab costs ~20 ns. Used for datagram storage and for the
 * copies a polled reader queues, both made once per message on hot paths.
 *
 * The price is the one Node pays: a buffer that lives long keeps its whole slab (8 KiB) alive, and
 * a slab buffer's `.buffer` is shared, so it must never be transferred or detached.
 *
 * Thread: any (each thread has its own slabs).
 * @module
 * @internal
 */

/** Bytes per slab. */
export const SLAB_BYTES = 8192;
/** Requests up to this size come from a slab (at least 8 per slab); larger ones get their own buffer. */
export const SLAB_MAX = 1024;

let slab = new ArrayBuffer(SLAB_BYTES);
let used = 0;

/**
 * A fresh, zero-filled `Uint8Array` of exactly `size` bytes: a slice of the current slab when
 * `size ≤ SLAB_MAX` (8-byte aligned; slices are handed out once and never reused), else a buffer of
 * its own.
 *
 * Thread: any.
 * @internal
 */
export function slabBytes(size: number): Uint8Array {
  if (size > SLAB_MAX) return new Uint8Array(size);
  const take = (size + 7) & ~7;
  if (used + take > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    used = 0;
  }
  const bytes = new Uint8Array(slab, used, size);
  used += take;
  return bytes;
}

/**
 * A copy of `src[start, end)` in slab storage (see {@link slabBytes}).
 *
 * Thread: any.
 * @internal
 */
export function slabCopy(src: Uint8Array, start: number, end: number): Uint8Array {
  const out = slabBytes(end - start);
  out.set(src.subarray(start, end));
  return out;
}
