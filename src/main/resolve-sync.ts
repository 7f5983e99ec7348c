/**
 * Host-name resolution for {@link NetAddress.setHost}, which Panda defines as synchronous
 * (`getaddrinfo` with `AI_ADDRCONFIG`, first answer only — spec §2.5, §9.3).
 *
 * Node has no synchronous `getaddrinfo`, so {@link resolveHostSync} starts a short-lived worker thread that
 * runs `dns.lookup` and blocks the caller with `Atomics.wait` on a `SharedArrayBuffer` until the worker
 * writes the answer or the timeout passes. Each call costs a worker start-up (typically a few tens of
 * milliseconds) plus the lookup itself; callers that can await should use {@link resolveHostAsync}.
 * Numeric literals never come here: NetAddress parses them itself.
 *
 * @module
 */

import { promises as dnsPromises, ADDRCONFIG } from 'node:dns';
import { Worker } from 'node:worker_threads';
import { InvalidArgumentError, ValueRangeError } from '../errors.js';
import { workerExecArgv } from './worker-exec-argv.js';

/** One resolved address: numeric IP string (IPv6 without brackets, may carry `%scope`) and its family. Thread: any. */
export interface ResolvedHost {
  /** Numeric address, e.g. `"93.184.216.34"` or `"2001:db8::1"`. */
  address: string;
  /** 4 or 6. */
  family: 4 | 6;
}

/** Default bound, in milliseconds, on one synchronous resolution. Thread: any. */
export const DEFAULT_RESOLVE_TIMEOUT_MS = 5000;

/** Bytes reserved for the answer string (an IPv6 address with a scope fits easily). */
const ANSWER_BYTES = 256;
/** Int32 slots before the answer bytes: state, family, answer length. */
const HEADER_BYTES = 12;
const STATE_PENDING = 0;
const STATE_OK = 1;
const STATE_FAILED = 2;

/**
 * Source of the resolver worker. It is plain CommonJS evaluated with `eval: true`, so it works the same
 * whether this module is loaded from `src/` (vitest) or `dist/`.
 */
const WORKER_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const dns = require('node:dns');
const { sab, hostname } = workerData;
const head = new Int32Array(sab, 0, 3);
const bytes = new Uint8Array(sab, ${HEADER_BYTES});
function finish(state, family, address) {
  if (state === ${STATE_OK}) {
    const enc = new TextEncoder().encode(address);
    if (enc.length > bytes.length) { state = ${STATE_FAILED}; }
    else { bytes.set(enc); head[1] = family; head[2] = enc.length; }
  }
  Atomics.store(head, 0, state);
  Atomics.notify(head, 0);
}
try {
  dns.lookup(hostname, { hints: dns.ADDRCONFIG }, (err, address, family) => {
    if (err || typeof address !== 'string' || (family !== 4 && family !== 6)) finish(${STATE_FAILED}, 0, '');
    else finish(${STATE_OK}, family, address);
  });
} catch (e) {
  finish(${STATE_FAILED}, 0, '');
}
`;

function checkHostname(hostname: string): void {
  if (typeof hostname !== 'string') {
    throw new InvalidArgumentError(`hostname must be a string, not ${typeof hostname}`);
  }
}

/**
 * Resolves `hostname` synchronously to its first address (`dns.lookup` with `ADDRCONFIG`, any family, the
 * system's order — like Panda's single `getaddrinfo` answer).
 *
 * Cost: starts and tears down a worker thread per call (≈ tens of ms) and blocks the calling thread for
 * that long plus the DNS time, up to `timeoutMs`. Avoid it on a game loop; prefer {@link resolveHostAsync}.
 *
 * @param hostname Name to resolve. Numeric literals work too, but NetAddress never sends them here.
 * @param timeoutMs Upper bound on the wait, in milliseconds (default 5000).
 * @returns The first address, or `null` on any failure (unknown name, no network, worker failure, timeout).
 * @throws InvalidArgumentError if `hostname` is not a string; ValueRangeError for a bad `timeoutMs`.
 *
 * Thread: any, but it blocks the caller.
 */
export function resolveHostSync(hostname: string, timeoutMs = DEFAULT_RESOLVE_TIMEOUT_MS): ResolvedHost | null {
  checkHostname(hostname);
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new ValueRangeError(`timeoutMs ${String(timeoutMs)} must be a non-negative number`);
  }
  if (hostname.length === 0) return null;

  const sab = new SharedArrayBuffer(HEADER_BYTES + ANSWER_BYTES);
  const head = new Int32Array(sab, 0, 3);
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: workerExecArgv(),
      workerData: { sab, hostname },
      // The worker never prints; do not wire its stdio to this thread's event loop.
      stdout: true,
      stderr: true,
    });
  } catch {
    return null;
  }
  worker.unref();
  // A crash before the answer leaves the state PENDING: the wait below then ends at its timeout.
  worker.on('error', () => {});
  try {
    const waited = Atomics.wait(head, 0, STATE_PENDING, timeoutMs);
    if (waited === 'timed-out' && Atomics.load(head, 0) === STATE_PENDING) return null;
    if (Atomics.load(head, 0) !== STATE_OK) return null;
    const family = Atomics.load(head, 1);
    const len = Atomics.load(head, 2);
    if ((family !== 4 && family !== 6) || len <= 0 || len > ANSWER_BYTES) return null;
    // TextDecoder refuses views of shared memory: copy out first.
    const address = new TextDecoder().decode(new Uint8Array(sab, HEADER_BYTES, len).slice());
    return { address, family };
  } finally {
    void worker.terminate().catch(() => {});
  }
}

/**
 * Asynchronous counterpart of {@link resolveHostSync}: first answer of `dns.promises.lookup` with
 * `ADDRCONFIG`, or `null` on failure. Does not block.
 *
 * @throws InvalidArgumentError (as a rejection) if `hostname` is not a string.
 *
 * Thread: any.
 */
export async function resolveHostAsync(hostname: string): Promise<ResolvedHost | null> {
  checkHostname(hostname);
  if (hostname.length === 0) return null;
  try {
    const r = await dnsPromises.lookup(hostname, { hints: ADDRCONFIG });
    if (r.family !== 4 && r.family !== 6) return null;
    return { address: r.address, family: r.family };
  } catch {
    return null;
  }
}
