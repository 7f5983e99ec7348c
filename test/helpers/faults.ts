/**
 * Helpers for the reliability suite (test/reliability): descriptor and memory probes, a server
 * application loop (accept, echo, collect resets, count per connection), raw `node:net` peers that
 * speak Panda's framing by hand (echo clients, ping-pong with round-trip times, flooders, peers that
 * never read), configuration and log capture scoped to one test.
 *
 * Like test/helpers/net.ts, everything that opens something registers its cleanup with
 * `onTestFinished`, so it must be called from inside a test body, and every wait has a deadline.
 *
 * Thread: main thread (vitest worker) only.
 * @module
 */
import { appendFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { onTestFinished } from 'vitest';
import {
  Datagram,
  getLogLevel,
  setLogLevel,
  setLogSink,
  type Connection,
} from '../../src/index.js';
import { DEFAULT_WAIT_MS, takeResets, waitFor, yieldOnce, type Server } from './net.js';

// ---------------------------------------------------------------------------------------------
// descriptors and memory

/** Open file descriptors of this process (every thread's: I/O workers share the table). */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** What each open descriptor points at (`socket:[…]`, `anon_inode:[eventpoll]`, …), for failure messages. */
export function fdTable(): Map<string, string> {
  const out = new Map<string, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed between the listing and the readlink (the listing's own descriptor, for one)
    }
  }
  return out;
}

/** Summary of descriptor kinds: `{ socket: 12, 'anon_inode:[eventfd]': 4, … }`. */
export function fdKinds(): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const target of fdTable().values()) {
    const kind = target.startsWith('socket:') ? 'socket' : target.startsWith('pipe:') ? 'pipe' : target.startsWith('/') ? 'file' : target;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

/**
 * Waits until the descriptor count is back at or below `baseline` (closes are asynchronous: a
 * destroyed socket's descriptor goes at the next turn of its thread's loop). Returns the count.
 */
export async function waitForFds(baseline: number, opts: { timeoutMs?: number; tick?: () => void; what?: string } = {}): Promise<number> {
  let now = fdCount();
  await waitFor(
    () => (now = fdCount()) <= baseline,
    {
      timeoutMs: opts.timeoutMs ?? DEFAULT_WAIT_MS,
      what: () => `${opts.what ?? 'descriptors'} to come back to ${baseline} (now ${now}: ${JSON.stringify(fdKinds())})`,
      ...(opts.tick === undefined ? {} : { tick: opts.tick }),
    },
  );
  return now;
}

let gcFn: (() => void) | null | undefined;

/**
 * Forces a full garbage collection when possible (`--expose-gc` cannot be given per test file, so the
 * flag is turned on at run time and `gc` taken from a fresh context). Returns false if unavailable.
 */
export function forceGc(): boolean {
  if (gcFn === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  if (gcFn === null) return false;
  gcFn();
  gcFn();
  return true;
}

export const MiB = 1 << 20;

/** Resident set size of the whole process (main thread, I/O workers, buffers), bytes. */
export function rss(): number {
  return process.memoryUsage.rss();
}

/** Main-thread V8 heap in use, bytes. */
export function heapUsed(): number {
  return process.memoryUsage().heapUsed;
}

/** Samples the RSS as often as it is called and keeps the peak. */
export class RssWatch {
  readonly start = rss();
  peak = this.start;
  sample(): void {
    const r = rss();
    if (r > this.peak) this.peak = r;
  }
  /** Peak growth over the start, bytes. */
  get growth(): number {
    return this.peak - this.start;
  }
}

// ---------------------------------------------------------------------------------------------
// configuration and logs

export { withNetConfig } from './net.js';

/** Captures the main thread's log lines (level `info` and up) until the test finishes. */
export function captureLog(): string[] {
  const lines: string[] = [];
  const saved = getLogLevel();
  setLogLevel('info');
  setLogSink((lvl, message) => lines.push(`${lvl}: ${message}`));
  onTestFinished(() => {
    setLogLevel(saved);
    setLogSink((lvl, message) => process.stderr.write(`:net(${lvl}): ${message}\n`));
  });
  return lines;
}

/** The log lines that report `conn` reset (the runtime logs `connection <id> reset: <reason>`). */
export function resetLines(log: readonly string[], conn: Connection): string[] {
  const tag = `connection ${conn.getId()} reset`;
  return log.filter((l) => l.includes(tag));
}

// ---------------------------------------------------------------------------------------------
// framing by hand (independent of the decoder under test)

/** A length-prefixed frame (little-endian 2- or 4-byte header). */
export function frameOf(payload: Uint8Array, headerSize: 2 | 4 = 2): Buffer {
  const out = Buffer.allocUnsafe(headerSize + payload.length);
  if (headerSize === 2) out.writeUInt16LE(payload.length, 0);
  else out.writeUInt32LE(payload.length, 0);
  out.set(payload, headerSize);
  return out;
}

/** A 4-byte payload holding `n` (little-endian). */
export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

/** Splits a byte stream into frames; keeps partial frames across chunks. */
export class FrameSplitter {
  private pending: Buffer = Buffer.alloc(0);
  constructor(private readonly headerSize: 2 | 4 = 2) {}
  push(chunk: Buffer, onFrame: (payload: Buffer) => void): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const hs = this.headerSize;
    let pos = 0;
    for (;;) {
      if (buf.length - pos < hs) break;
      const len = hs === 2 ? buf.readUInt16LE(pos) : buf.readUInt32LE(pos);
      if (buf.length - pos - hs < len) break;
      onFrame(buf.subarray(pos + hs, pos + hs + len));
      pos += hs + len;
    }
    buf = buf.subarray(pos);
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }
}

// ---------------------------------------------------------------------------------------------
// raw peers

/** A raw `node:net` client on 127.0.0.1. */
export interface Peer {
  socket: net.Socket;
  /** Frames received (when reading with framing), payload copies. */
  frames: Buffer[];
  /** Bytes received in total. */
  bytesIn: number;
  ended: boolean;
  closed: boolean;
  error: Error | null;
  /** Frames handed to `socket.write` by {@link sendFrame}. */
  sent: number;
  /** Times `socket.write` returned false (the kernel and Node's buffer were full). */
  writeFalse: number;
  /** Writes one frame (not awaited). */
  sendFrame(payload: Uint8Array): boolean;
  /** Starts reading (a peer made with `read: false` reads nothing until this). */
  startReading(): void;
}

export interface PeerOptions {
  /** Read and split frames (default true). False: the socket never reads until `startReading()`. */
  read?: boolean;
  /** Frame header size of what this peer sends and reads (default 2). */
  headerSize?: 2 | 4;
  /** Keep received frames (default true); false only counts bytes. */
  keepFrames?: boolean;
  timeoutMs?: number;
}

/** Connects a raw peer to 127.0.0.1:`port`; destroyed when the test finishes. */
export async function connectPeer(port: number, opts: PeerOptions = {}): Promise<Peer> {
  const hs = opts.headerSize ?? 2;
  const keep = opts.keepFrames ?? true;
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  onTestFinished(() => {
    socket.destroy();
  });
  const splitter = new FrameSplitter(hs);
  const peer: Peer = {
    socket,
    frames: [],
    bytesIn: 0,
    ended: false,
    closed: false,
    error: null,
    sent: 0,
    writeFalse: 0,
    sendFrame(payload) {
      peer.sent++;
      const ok = socket.write(frameOf(payload, hs));
      if (!ok) peer.writeFalse++;
      return ok;
    },
    startReading() {
      if (reading) return;
      reading = true;
      socket.on('data', (c: Buffer) => {
        peer.bytesIn += c.length;
        if (keep) splitter.push(c, (f) => peer.frames.push(Buffer.from(f)));
      });
      socket.resume();
    },
  };
  let reading = false;
  socket.on('end', () => {
    peer.ended = true;
  });
  socket.on('close', () => {
    peer.closed = true;
  });
  socket.on('error', (err) => {
    peer.error = err;
  });
  if (opts.read ?? true) peer.startReading();
  else socket.pause();
  let connected = false;
  socket.once('connect', () => {
    connected = true;
  });
  await waitFor(() => connected || peer.error !== null || peer.closed, { timeoutMs: opts.timeoutMs ?? DEFAULT_WAIT_MS, what: `raw connect to 127.0.0.1:${port}` });
  if (peer.error !== null) throw peer.error;
  if (!connected) throw new Error(`raw connect to 127.0.0.1:${port} closed before connecting`);
  return peer;
}

/** True once the server has closed the peer's connection (FIN seen, or the socket closed / reset). */
export function sawEof(p: Peer): boolean {
  return p.ended || p.closed;
}

/**
 * One round trip: `peer` sends `u32(n)`; resolves when the echo comes back (the server app echoes it).
 * Returns the round-trip time, ms.
 */
export async function roundTrip(peer: Peer, app: ServerApp, n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<number> {
  const from = peer.frames.length;
  const t0 = performance.now();
  peer.sendFrame(u32(n));
  // Other frames may arrive meanwhile (the server can send on its own); look for this echo among them.
  const isEcho = (f: Buffer): boolean => f.length === 4 && f.readUInt32LE(0) === n >>> 0;
  const found = (): boolean => {
    for (let i = from; i < peer.frames.length; i++) if (isEcho(peer.frames[i]!)) return true;
    return false;
  };
  await waitFor(() => found() || sawEof(peer), { timeoutMs, what: () => `echo #${n} (peer has ${peer.frames.length} frames)`, tick: app.tick });
  if (!found()) throw new Error(`peer closed while waiting for echo #${n}`);
  return performance.now() - t0;
}

/**
 * A ping-pong client driven by the test loop: one frame in flight; every `step()` sends the next
 * one as soon as the previous echo arrived, and records round-trip times and completion times.
 */
export class PingPong {
  readonly rtts: number[] = [];
  readonly doneAt: number[] = [];
  private seq = 0;
  private sentAt = 0;
  private waiting = false;
  constructor(readonly peer: Peer) {}
  step(): void {
    const p = this.peer;
    if (this.waiting) {
      if (p.frames.length === 0) return;
      const f = p.frames.shift()!;
      if (f.readUInt32LE(0) !== this.seq) throw new Error(`ping-pong: echo ${f.readUInt32LE(0)} != ${this.seq}`);
      const now = performance.now();
      this.rtts.push(now - this.sentAt);
      this.doneAt.push(now);
      this.waiting = false;
      this.seq++;
    }
    if (sawEof(p)) return;
    this.sentAt = performance.now();
    p.sendFrame(u32(this.seq));
    this.waiting = true;
  }
  get completed(): number {
    return this.rtts.length;
  }
  /** Round trips completed in [from, to). */
  completedBetween(from: number, to: number): number {
    return this.doneAt.filter((t) => t >= from && t < to).length;
  }
  /** Longest wait between consecutive completions (and from `from` to the first) inside [from, to). */
  longestGap(from: number, to: number): number {
    let last = from;
    let gap = 0;
    for (const t of this.doneAt) {
      if (t < from || t >= to) continue;
      gap = Math.max(gap, t - last);
      last = t;
    }
    return Math.max(gap, to - last);
  }
}

/** Percentile of `xs` (nearest rank), 0 for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

// ---------------------------------------------------------------------------------------------
// the server application

/** What the server app does with one received datagram. */
export type OnDatagram = (conn: Connection, data: Uint8Array, offset: number, length: number) => 'echo' | 'keep' | 'drop';

/** A server application loop around a {@link Server}: accepts, reads, echoes, collects resets. */
export interface ServerApp {
  server: Server;
  /** Every reset taken from the manager, in order (a connection twice here is a double report). */
  resets: Connection[];
  /** Datagrams received per connection. */
  received: Map<Connection, number>;
  /** Datagrams kept (`'keep'`), per connection, copies. */
  kept: Map<Connection, Uint8Array[]>;
  /** Echo sends that returned false. */
  echoFailures: number;
  /** Accept, read (up to `budget` datagrams), echo, collect resets. Never throws for network events. */
  tick: () => void;
  /** Waits until `n` connections were accepted in total; returns them. */
  waitAccepted: (n: number, timeoutMs?: number) => Promise<Connection[]>;
  /** Waits for the next `n` accepts after those already returned by this call; returns them. */
  acceptNext: (n?: number, timeoutMs?: number) => Promise<Connection[]>;
  /** Waits until `conn` (each of them) was reported reset. */
  waitReset: (conns: readonly Connection[], timeoutMs?: number) => Promise<void>;
  /** Times each connection was reported reset. */
  resetCount: (conn: Connection) => number;
}

/**
 * Makes the application loop. The default handler echoes every datagram. Reading is bounded per
 * tick (`budget` datagrams) so a flood cannot keep the loop from yielding.
 */
export function serverApp(server: Server, onDatagram: OnDatagram = () => 'echo', budget = 4096): ServerApp {
  const dg = new Datagram();
  const resets: Connection[] = [];
  const received = new Map<Connection, number>();
  const kept = new Map<Connection, Uint8Array[]>();
  const app: ServerApp = {
    server,
    resets,
    received,
    kept,
    echoFailures: 0,
    tick: () => {
      // newConnectionAvailable() first: in polled mode it is what polls the accept queue.
      while (server.listener.newConnectionAvailable()) {
        const c = server.listener.getNewConnection();
        if (c === null) break;
        server.accepted.push(c);
        server.reader.addConnection(c);
      }
      let left = budget;
      while (left > 0 && server.reader.dataAvailable()) {
        const n = server.reader.drainData((conn, data, offset, length) => {
          received.set(conn, (received.get(conn) ?? 0) + 1);
          const what = onDatagram(conn, data, offset, length);
          if (what === 'echo') {
            dg.clear();
            dg.appendData(data.subarray(offset, offset + length));
            if (!server.writer.send(dg, conn)) app.echoFailures++;
          } else if (what === 'keep') {
            let list = kept.get(conn);
            if (list === undefined) kept.set(conn, (list = []));
            list.push(data.slice(offset, offset + length));
          }
        }, left);
        if (n === 0) break;
        left -= n;
      }
      takeResets(server.manager, resets);
    },
    waitAccepted: async (n, timeoutMs) => {
      await waitFor(() => server.accepted.length >= n, { timeoutMs, what: () => `${n} accepted connection(s) (have ${server.accepted.length})`, tick: app.tick });
      return server.accepted.slice(0, n);
    },
    waitReset: async (conns, timeoutMs) => {
      await waitFor(() => conns.every((c) => resets.includes(c)), {
        timeoutMs,
        what: () => `${conns.length} reset(s) (have ${conns.filter((c) => resets.includes(c)).length}; ${resets.length} in all)`,
        tick: app.tick,
      });
    },
    acceptNext: async (n = 1, timeoutMs) => {
      const from = cursor;
      cursor += n;
      await app.waitAccepted(from + n, timeoutMs);
      return server.accepted.slice(from, from + n);
    },
    resetCount: (conn) => resets.filter((c) => c === conn).length,
  };
  let cursor = 0;
  return app;
}

/** The server-side connection of a raw peer (matched by the peer's local port). */
export function serverSideOf(app: ServerApp, peer: Peer): Connection | undefined {
  const port = peer.socket.localPort;
  return app.server.accepted.find((c) => c.getAddress().getPort() === port);
}

/** Yields `n` times while ticking `app`: a barrier during which nothing more is expected to happen. */
export async function settle(app: ServerApp, n = 50): Promise<void> {
  for (let i = 0; i < n; i++) {
    app.tick();
    await yieldOnce();
  }
}

/** Runs `body` repeatedly (yielding between rounds) until `ms` have passed; a bounded observation window. */
export async function observeFor(ms: number, body: () => void | Promise<void>): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    await body();
    await yieldOnce();
  }
}

/**
 * Gives every I/O thread of the server one stream and closes it again, so that one-time descriptors
 * are already open before a test takes its baseline (libuv opens a reserve descriptor on /dev/null
 * for its EMFILE handling when a loop gets its first stream). Returns after the resets were taken;
 * clears them from `app.resets`.
 */
export async function warmUp(app: ServerApp): Promise<void> {
  const n = Math.max(1, app.server.manager.getNumIoThreads());
  const peers: Peer[] = [];
  for (let i = 0; i < n; i++) peers.push(await connectPeer(app.server.port));
  const conns = await app.acceptNext(n);
  for (const p of peers) p.socket.destroy();
  await app.waitReset(conns);
  app.resets.length = 0;
}

/**
 * Appends one JSON line of measurements to the file named by `RELIABILITY_REPORT` (if set), so the
 * figures in docs/reliability.md come from real runs. No-op otherwise.
 */
export function record(what: string, data: Record<string, unknown>): void {
  const file = process.env['RELIABILITY_REPORT'];
  if (file === undefined || file === '') return;
  appendFileSync(file, `${JSON.stringify({ what, at: new Date().toISOString(), ...data })}\n`);
}
