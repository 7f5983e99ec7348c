/**
 * Panda's collect-tcp (spec §6.6): with collect mode on, a connection's sends accumulate in one
 * buffer and are written at most once per interval — piggy-backed on a send, or when the
 * application calls `considerFlush()` / `flush()`. Nothing is flushed in the background.
 *
 * The buffer holds framed bytes (header + payload, or raw payload); a flush hands the whole buffer
 * to the connection's I/O thread as one pre-framed record. The last-flush time starts at 0 on a
 * clock whose zero is process start, as Panda's does, so during the first interval of the process
 * sends are held like any other.
 *
 * Thread: main thread only.
 * @module
 */
import { getNetClock } from '../config.js';
import { OutOp, packOutMeta } from '../protocol/control.js';
import { frameHeader, type TcpHeaderSize } from '../protocol/tcp-framing.js';
import type { ConnectionCore } from './connection.js';

/** Per-connection collect state. */
export interface CollectState {
  enabled: boolean;
  /** Seconds. */
  interval: number;
  buf: Uint8Array;
  len: number;
  /** Clock time (seconds) of the last flush; 0 at first, as in Panda. */
  lastFlush: number;
}

/** Fresh state with the configured defaults. */
export function newCollectState(enabled: boolean, interval: number): CollectState {
  return { enabled, interval, buf: new Uint8Array(0), len: 0, lastFlush: 0 };
}

function append(st: CollectState, payload: Uint8Array, headerSize: TcpHeaderSize, raw: boolean): void {
  const need = st.len + payload.length + 4;
  if (need > st.buf.length) {
    const next = new Uint8Array(Math.max(need, st.buf.length * 2, 256));
    next.set(st.buf.subarray(0, st.len));
    st.buf = next;
  }
  if (!raw) st.len += frameHeader(payload.length, headerSize, st.buf, st.len);
  st.buf.set(payload, st.len);
  st.len += payload.length;
}

/**
 * Writes what is pending (even nothing: the flush time moves), in pieces of at most the outbound
 * ring's record size. False if the connection is gone (what was held is dropped with it) or if the
 * thread's ring stayed full past the wait: what was not handed over then stays held, in order, for
 * the next flush (it was accepted by `send` and is counted as pending).
 */
export function flushCollected(core: ConnectionCore): boolean {
  const st = core.collect;
  st.lastFlush = getNetClock()();
  if (st.len === 0) return core.open;
  if (!core.open || !core.thread.alive) {
    st.len = 0;
    return false;
  }
  const piece = core.thread.outRing.maxPayload;
  const meta = packOutMeta(OutOp.SEND_TCP, 0, true, 0);
  let done = 0;
  // The ring copies each piece before send returns: views of the buffer are enough.
  while (done < st.len) {
    const n = Math.min(piece, st.len - done);
    if (!core.out.send(core.thread, core.id, meta, st.buf.subarray(done, done + n), n, 2000)) break;
    done += n;
  }
  const all = done === st.len;
  if (all || !core.thread.alive) {
    st.len = 0;
    return all;
  }
  st.buf.copyWithin(0, done, st.len);
  st.len -= done;
  return false;
}

/** Flushes if collect mode is off or the interval has passed (or the clock went backwards). */
export function considerFlush(core: ConnectionCore): boolean {
  const st = core.collect;
  const now = getNetClock()();
  if (!st.enabled || now - st.lastFlush >= st.interval || now < st.lastFlush) return flushCollected(core);
  return true;
}

/**
 * A send on a collecting connection: buffer it, then flush if the interval allows. True if the
 * datagram was accepted: handed over, or still held for a later flush; false only if the connection
 * died meanwhile (nothing held survives that).
 */
export function collectSend(core: ConnectionCore, payload: Uint8Array, headerSize: TcpHeaderSize, raw: boolean): boolean {
  append(core.collect, payload, headerSize, raw);
  return considerFlush(core) || core.collect.len > 0;
}
