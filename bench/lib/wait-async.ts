/**
 * `Atomics.waitAsync` with types (ES2024: present in Node 20, absent from the ES2023 lib typings
 * the project compiles against). Resolves to how the wait ended; never blocks the calling thread.
 *
 * Thread: any.
 * @module
 */

interface AtomicsWithWaitAsync {
  waitAsync(
    typedArray: Int32Array,
    index: number,
    value: number,
    timeout?: number,
  ): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}

/** Waits (asynchronously, at most `timeoutMs`) while `arr[index] === value`. */
export async function waitAsync(arr: Int32Array, index: number, value: number, timeoutMs: number): Promise<'ok' | 'not-equal' | 'timed-out'> {
  const r = (Atomics as unknown as AtomicsWithWaitAsync).waitAsync(arr, index, value, timeoutMs);
  return r.async ? await r.value : r.value;
}
