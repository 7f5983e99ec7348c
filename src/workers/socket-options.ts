/**
 * Socket options Node does not expose (linger, buffer sizes on TCP, TTL, TOS, max segment,
 * SO_REUSEADDR), set and read with `setsockopt` / `getsockopt` through koffi on the thread that owns
 * the socket. Where koffi or libc is missing, setting is a logged no-op (Panda ignores option errors
 * too) and reading returns null.
 *
 * Thread: I/O workers only.
 * @module
 */
import { createRequire } from 'node:module';
import { log } from '../log.js';
import type { SocketOptionName } from '../protocol/control.js';

type SetFn = (fd: number, level: number, name: number, value: number[], len: number) => number;
type GetFn = (fd: number, level: number, name: number, out: number[], len: number[]) => number;

let fns: { set: SetFn; get: GetFn } | null | undefined;

function load(): { set: SetFn; get: GetFn } | null {
  if (process.platform !== 'linux') return null; // option numbers below are Linux's
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as { load(name: string): { func(sig: string): (...args: unknown[]) => number } };
    const libc = koffi.load('libc.so.6');
    return {
      set: libc.func('int setsockopt(int, int, int, _In_ int32_t *, uint32_t)') as SetFn,
      get: libc.func('int getsockopt(int, int, int, _Out_ int32_t *, _Inout_ uint32_t *)') as GetFn,
    };
  } catch {
    return null;
  }
}

const SOL_SOCKET = 1;
const IPPROTO_IP = 0;
const IPPROTO_TCP = 6;
const IPPROTO_IPV6 = 41;

/** Linux (level, option, int count) of each option; IPv6 sockets use the IPv6 forms of TTL/TOS. */
function spec(name: SocketOptionName, ipv6: boolean): [number, number, number] {
  switch (name) {
    case 'reuseAddr':
      return [SOL_SOCKET, 2, 1];
    case 'keepAlive':
      return [SOL_SOCKET, 9, 1];
    case 'broadcast':
      return [SOL_SOCKET, 6, 1];
    case 'sendBuffer':
      return [SOL_SOCKET, 7, 1];
    case 'recvBuffer':
      return [SOL_SOCKET, 8, 1];
    case 'linger':
      return [SOL_SOCKET, 13, 2];
    case 'noDelay':
      return [IPPROTO_TCP, 1, 1];
    case 'maxSegment':
      return [IPPROTO_TCP, 2, 1];
    case 'ttl':
      return ipv6 ? [IPPROTO_IPV6, 16, 1] : [IPPROTO_IP, 2, 1];
    case 'tos':
      return ipv6 ? [IPPROTO_IPV6, 67, 1] : [IPPROTO_IP, 1, 1];
  }
}

function api(): { set: SetFn; get: GetFn } | null {
  if (fns === undefined) fns = load();
  return fns;
}

/** Sets `name` to `values` on descriptor `fd`. False (logged) when it could not be set. */
export function setSocketOption(fd: number, ipv6: boolean, name: SocketOptionName, values: number[]): boolean {
  const f = api();
  if (f === null || fd < 0) {
    log('info', `socket option ${name} not supported here; ignored`);
    return false;
  }
  const [level, opt, count] = spec(name, ipv6);
  const v = values.slice(0, count);
  while (v.length < count) v.push(0);
  const rc = f.set(fd, level, opt, v, 4 * count);
  if (rc !== 0) log('warning', `setsockopt(${name}) failed on fd ${fd}`);
  return rc === 0;
}

/** Reads `name` from descriptor `fd`, or null where unavailable. */
export function getSocketOption(fd: number, ipv6: boolean, name: SocketOptionName): number[] | null {
  const f = api();
  if (f === null || fd < 0) return null;
  const [level, opt, count] = spec(name, ipv6);
  const out = new Array<number>(count).fill(0);
  const len = [4 * count];
  return f.get(fd, level, opt, out, len) === 0 ? out : null;
}
