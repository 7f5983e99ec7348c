/**
 * One piscina task of the broadcast client: opens its share of the game clients, and from "go"
 * until "stop" sends each client's input at `inputHz` (spread evenly over the period) and checks
 * every state datagram it receives: the tick sequence per connection (a gap is a drop), and the
 * delivery delay `performance.timeOrigin + performance.now()` minus the send time the server put
 * in the datagram (same machine clock).
 *
 * Thread: piscina worker threads of the broadcast-client process (never blocks; waits with
 * Atomics.waitAsync, sockets on its loop).
 * @module
 */
import net from 'node:net';
import WebSocket from 'ws';
import { Recorder } from '../lib/percentiles.js';
import { threadCpuUs } from '../lib/thread-cpu.js';
import { waitAsync } from '../lib/wait-async.js';

/** Shared words (Int32 indices). */
export const BcWord = { READY: 0, GO: 1, STOP: 2 } as const;

export interface BroadcastTaskInit {
  host: string;
  /** TCP with Panda's 2-byte framing, or WebSocket (one datagram per binary message, to `ws://host:port/`). */
  transport: 'tcp' | 'ws';
  port: number;
  firstConnection: number;
  connections: number;
  payloadBytes: number;
  inputHz: number;
  inputBytes: number;
  sync: SharedArrayBuffer;
  /** Give up waiting for go/stop after this long, ms. */
  deadlineMs: number;
}

export interface BroadcastTaskResult {
  connections: number;
  received: number;
  /** Ticks skipped in a connection's sequence (a datagram that never came). */
  gaps: number;
  /** Datagrams out of order, duplicated or of the wrong size. */
  mismatches: number;
  inputsSent: number;
  /** Highest tick seen per connection (−1: none). */
  lastTick: number[];
  delaysUs: Float64Array;
  /** Receive time minus the tick's scheduled time, µs. */
  tickDelaysUs: Float64Array;
  cpuUs: number;
  errors: string[];
}

const HEADER = 2;

/** One game client's connection, TCP or WebSocket. */
interface Link {
  /** Sends one input datagram (`payload` is reused by the caller after the call). */
  send(payload: Buffer): void;
  destroy(): void;
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true });
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function connectWebSocket(host: string, port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${host}:${port}/`, { perMessageDeflate: false });
    ws.once('open', () => {
      ws.removeListener('error', reject);
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

export default async function broadcastTask(t: BroadcastTaskInit): Promise<BroadcastTaskResult> {
  const sync = new Int32Array(t.sync);
  const errors: string[] = [];
  const socks: Link[] = [];
  const expected: number[] = [];
  const delays = new Recorder(1 << 16, 4_000_000);
  const tickDelays = new Recorder(1 << 16, 4_000_000);
  let received = 0;
  let gaps = 0;
  let mismatches = 0;
  let inputsSent = 0;
  let live = false;

  /** One state datagram `buf[at, at + len)` for connection `local`, received at `now`. */
  const onState = (local: number, buf: Buffer, at: number, len: number, now: number): void => {
    if (len !== t.payloadBytes) {
      mismatches++;
      return;
    }
    const tick = buf.readUInt32LE(at);
    const want = expected[local]!;
    if (tick > want) gaps += tick - want;
    else if (tick < want) {
      mismatches++;
      return;
    }
    expected[local] = tick + 1;
    received++;
    if (live) {
      delays.record((now - buf.readDoubleLE(at + 8)) * 1000);
      tickDelays.record((now - buf.readDoubleLE(at + 16)) * 1000);
    }
  };

  const attachWebSocket = (ws: WebSocket, local: number): Link => {
    ws.on('message', (data: Buffer) => onState(local, data, 0, data.length, performance.timeOrigin + performance.now()));
    ws.on('error', (err: Error) => {
      if (errors.length < 5) errors.push(`connection ${t.firstConnection + local}: ${err.message}`);
    });
    return { send: (payload) => ws.send(payload, { binary: true }), destroy: () => ws.terminate() };
  };

  const attach = (s: net.Socket, local: number): Link => {
    const conn = t.firstConnection + local;
    let pending: Buffer | null = null;
    s.on('data', (chunk: Buffer) => {
      const now = performance.timeOrigin + performance.now();
      let buf = chunk;
      if (pending !== null) {
        buf = Buffer.concat([pending, chunk]);
        pending = null;
      }
      let off = 0;
      while (buf.length - off >= HEADER) {
        const len = buf.readUInt16LE(off);
        if (buf.length - off - HEADER < len) break;
        const at = off + HEADER;
        off += HEADER + len;
        onState(local, buf, at, len, now);
      }
      if (off < buf.length) pending = Buffer.from(buf.subarray(off));
    });
    s.on('error', (err: Error) => {
      if (errors.length < 5) errors.push(`connection ${conn}: ${err.message}`);
    });
    return {
      send: (payload) => {
        // A fresh buffer per write (socket.write keeps it until flushed), with the 2-byte length header.
        const b = Buffer.allocUnsafe(HEADER + payload.length);
        b.writeUInt16LE(payload.length, 0);
        payload.copy(b, HEADER);
        s.write(b);
      },
      destroy: () => s.destroy(),
    };
  };

  try {
    const BATCH = 50;
    for (let i = 0; i < t.connections; i += BATCH) {
      const n = Math.min(BATCH, t.connections - i);
      if (t.transport === 'ws') {
        const batch = await Promise.all(Array.from({ length: n }, () => connectWebSocket(t.host, t.port)));
        for (const ws of batch) {
          socks.push(attachWebSocket(ws, socks.length));
          expected.push(0);
        }
      } else {
        const batch = await Promise.all(Array.from({ length: n }, () => connect(t.host, t.port)));
        for (const s of batch) {
          socks.push(attach(s, socks.length));
          expected.push(0);
        }
      }
    }
  } catch (err) {
    errors.push(`connect: ${(err as Error).message}`);
  }
  Atomics.add(sync, BcWord.READY, 1);
  Atomics.notify(sync, BcWord.READY);

  const done = (): BroadcastTaskResult => {
    for (const s of socks) s.destroy();
    return { connections: socks.length, received, gaps, mismatches, inputsSent, lastTick: expected.map((e) => e - 1), delaysUs: delays.values().slice(), tickDelaysUs: tickDelays.values().slice(), cpuUs: 0, errors };
  };
  if (errors.length > 0) return done();
  await waitAsync(sync, BcWord.GO, 0, t.deadlineMs);
  if (Atomics.load(sync, BcWord.GO) !== 1) {
    errors.push('no "go" in time');
    return done();
  }
  const cpu0 = threadCpuUs();
  live = true;
  // Inputs: connection i sends at phase i/n of each period.
  const period = 1000 / t.inputHz;
  const start = performance.now();
  const next = socks.map((_, i) => start + (i / socks.length) * period);
  const input = Buffer.alloc(t.inputBytes, 0x33);
  const ticker = setInterval(() => {
    const now = performance.now();
    for (let i = 0; i < socks.length; i++) {
      if (next[i]! > now) continue;
      next[i]! += period;
      if (next[i]! < now) next[i] = now + period; // fell behind: don't burst
      input.writeUInt32LE(t.firstConnection + i, 0);
      input.writeUInt32LE(inputsSent, 4);
      socks[i]!.send(input);
      inputsSent++;
    }
  }, 5);
  await waitAsync(sync, BcWord.STOP, 0, t.deadlineMs);
  clearInterval(ticker);
  live = false;
  const r = done();
  r.cpuUs = threadCpuUs() - cpu0;
  return r;
}
