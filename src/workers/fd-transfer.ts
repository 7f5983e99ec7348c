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
import net from 'node:net';

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
  return handleFd(socket);
}

/**
 * The OS descriptor behind a Node socket, server or dgram socket (their libuv handle's `fd`), or -1.
 * Node keeps a dgram socket's handle under an internal symbol; we look for any own property whose
 * value has a numeric `fd`.
 */
export function handleFd(obj: object): number {
  if (obj instanceof net.Socket || obj instanceof net.Server) {
    const direct = (obj as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
    return typeof direct === 'number' && direct >= 0 ? direct : -1;
  }
  // dgram.Socket: its `_handle` getter is deprecated (DEP0112); its state sits under a symbol.
  for (const key of Object.getOwnPropertySymbols(obj)) {
    const state = (obj as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[key];
    const fd = state?.handle?.fd;
    if (typeof fd === 'number' && fd >= 0) return fd;
  }
  return -1;
}
