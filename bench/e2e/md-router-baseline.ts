/**
 * The `md` workload's baseline: a plain single-threaded `node:net` message router, the simple
 * implementation a Node developer would write for Astron's MD protocol (channels only).
 *
 * What it does, all on the main thread's event loop:
 * - each accepted socket (TCP_NODELAY on) is a participant; each `data` chunk is parsed frame by
 *   frame (uint16 LE length prefix, a partial frame kept for the next chunk);
 * - a control datagram (one recipient, channel 1, no sender) with ADD_CHANNEL / REMOVE_CHANNEL
 *   updates a `Map<channel, Set<participant>>`; other control codes are ignored (no ranges, no
 *   post-removes: the bench does not use them);
 * - any other datagram goes, unchanged, to every participant subscribed to any of its recipients,
 *   once per participant (a stamp per datagram) and never back to its sender; a datagram with no
 *   subscriber is dropped;
 * - writes are batched per read chunk: the frames of one chunk bound for one participant go out in
 *   one `socket.write` (one write per read chunk per destination). With `flush: 'tick'` (a variant,
 *   not the default) they are held until the event loop's next `setImmediate` instead, so one write
 *   per destination carries what every chunk of that loop turn routed to it;
 * - a truncated datagram (or a control message missing its argument) destroys the sender's socket;
 *   a socket that closes loses its subscriptions.
 *
 * What it does not do: ranges, post-removes, an upstream link, any bound on what it buffers for a
 * participant that does not read (`socket.write` queues without limit), logging.
 *
 * Channels are keyed as numbers up to 2^53 − 1 (a bigint above), read with two `readUInt32LE`.
 *
 * Thread: main thread of the router process.
 * @module
 */
import net from 'node:net';

/** Counters of the baseline router. */
export interface BaselineRouterStats {
  participants: number;
  /** Data datagrams read (control messages not included). */
  datagramsIn: number;
  /** Copies written to participants. */
  datagramsOut: number;
  controls: number;
  noSubscriber: number;
  terminated: number;
}

const ADD_CHANNEL = 9000;
const REMOVE_CHANNEL = 9001;
const TWO_32 = 0x1_0000_0000;

type Key = number | bigint;

class Participant {
  pending: Buffer | null = null;
  readonly channels = new Set<Key>();
  out: Buffer[] = [];
  mark = 0;
  constructor(readonly socket: net.Socket) {}
}

function keyAt(buf: Buffer, at: number): Key {
  const lo = buf.readUInt32LE(at);
  const hi = buf.readUInt32LE(at + 4);
  return hi < 0x20_0000 ? hi * TWO_32 + lo : buf.readBigUInt64LE(at);
}

/** When the router writes what it routed: after each read chunk, or once per event-loop turn. */
export type BaselineFlush = 'chunk' | 'tick';

/** Starts the router on `host:port` (0: ephemeral); resolves with the port and live counters. */
export function startBaselineRouter(host: string, port: number, flushMode: BaselineFlush = 'chunk'): Promise<{ server: net.Server; port: number; stats: BaselineRouterStats }> {
  const stats: BaselineRouterStats = { participants: 0, datagramsIn: 0, datagramsOut: 0, controls: 0, noSubscriber: 0, terminated: 0 };
  const subs = new Map<Key, Set<Participant>>();
  let touched: Participant[] = [];
  let stamp = 0;
  let flushQueued = false;

  const flush = (): void => {
    flushQueued = false;
    const list = touched;
    touched = [];
    for (const q of list) {
      if (!q.socket.destroyed) q.socket.write(q.out.length === 1 ? q.out[0]! : Buffer.concat(q.out));
      q.out = [];
    }
  };

  const unsubscribe = (p: Participant, k: Key): void => {
    const set = subs.get(k);
    if (set === undefined) return;
    set.delete(p);
    if (set.size === 0) subs.delete(k);
  };
  const drop = (p: Participant): void => {
    for (const k of p.channels) unsubscribe(p, k);
    p.channels.clear();
  };

  /** Routes the frames of `buf`; returns false when the sender must be terminated. */
  const route = (p: Participant, buf: Buffer): boolean => {
    const n = buf.length;
    let off = 0;
    let ok = true;
    while (n - off >= 2) {
      const len = buf.readUInt16LE(off);
      if (n - off - 2 < len) break;
      const at = off + 2;
      const end = at + len;
      off = end;
      if (len < 1) {
        ok = false;
        break;
      }
      const count = buf[at]!;
      const rcpt = at + 1;
      const afterRcpt = rcpt + 8 * count;
      if (afterRcpt > end) {
        ok = false;
        break;
      }
      if (count === 1 && keyAt(buf, rcpt) === 1) {
        // Control: no sender field.
        if (afterRcpt + 2 > end) {
          ok = false;
          break;
        }
        stats.controls++;
        const msg = buf.readUInt16LE(afterRcpt);
        if (msg === ADD_CHANNEL || msg === REMOVE_CHANNEL) {
          if (afterRcpt + 10 > end) {
            ok = false;
            break;
          }
          const k = keyAt(buf, afterRcpt + 2);
          if (msg === ADD_CHANNEL) {
            if (!p.channels.has(k)) {
              p.channels.add(k);
              let set = subs.get(k);
              if (set === undefined) subs.set(k, (set = new Set()));
              set.add(p);
            }
          } else if (p.channels.delete(k)) unsubscribe(p, k);
        }
        continue;
      }
      if (afterRcpt + 10 > end) {
        ok = false; // no room for the sender and the message type
        break;
      }
      stats.datagramsIn++;
      const frame = buf.subarray(at - 2, end);
      const s = ++stamp;
      let sent = 0;
      for (let i = 0; i < count; i++) {
        const set = subs.get(keyAt(buf, rcpt + 8 * i));
        if (set === undefined) continue;
        for (const q of set) {
          if (q === p || q.mark === s) continue;
          q.mark = s;
          if (q.out.length === 0) touched.push(q);
          q.out.push(frame);
          sent++;
        }
      }
      if (sent === 0) stats.noSubscriber++;
      stats.datagramsOut += sent;
    }
    if (flushMode === 'chunk') flush();
    else if (!flushQueued && touched.length > 0) {
      flushQueued = true;
      setImmediate(flush);
    }
    if (ok && off < n) p.pending = Buffer.from(buf.subarray(off));
    return ok;
  };

  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    stats.participants++;
    const p = new Participant(socket);
    let dead = false;
    socket.on('data', (chunk: Buffer) => {
      if (dead) return;
      let buf = chunk;
      if (p.pending !== null) {
        buf = Buffer.concat([p.pending, chunk]);
        p.pending = null;
      }
      if (!route(p, buf)) {
        dead = true;
        stats.terminated++;
        drop(p);
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      stats.participants--;
      drop(p);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 1024 }, () => resolve({ server, port: (server.address() as net.AddressInfo).port, stats }));
  });
}
