/**
 * Moving an accepted socket to another I/O thread.
 *
 * Node 20 cannot transfer a socket between threads, and a file descriptor adopted by a second thread
 * dies when the first thread's handle closes (see shared/node20-facts.md). `dup()` through koffi gives
 * the target thread its own descriptor, so the accepting thread can destroy its handle at once.
 * Where koffi or libc is unavailable, {@link dupFd} returns -1 and the accepting thread keeps the
 * connection itself (correct, only less evenly spread).
 *
 * Thread: I/O workers only.
 * @module
 */
import { createRequire } from 'node:module';
import type net from 'node:net';

type DupFn = (fd: number) => number;
let dupImpl: DupFn | null | undefined;

function loadDup(): DupFn | null {
  if (process.platform === 'win32') return null;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as { load(name: string): { func(sig: string): (...args: number[]) => number } };
    const libc = koffi.load(process.platform === 'darwin' ? 'libc.dylib' : 'libc.so.6');
    const dup = libc.func('int dup(int)');
    return (fd: number) => dup(fd);
  } catch {
    return null;
  }
}

/** True when descriptors can be duplicated here (koffi and libc loaded). */
export function canTransferFds(): boolean {
  if (dupImpl === undefined) dupImpl = loadDup();
  return dupImpl !== null;
}

/** Duplicates `fd`; -1 when unavailable or the call failed. */
export function dupFd(fd: number): number {
  if (!canTransferFds() || dupImpl === null || dupImpl === undefined) return -1;
  return dupImpl(fd);
}

/** The OS descriptor of a connected socket, or -1 (no handle, or a platform without `fd`). */
export function socketFd(socket: net.Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: number } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}
