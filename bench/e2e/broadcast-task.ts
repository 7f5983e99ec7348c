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
import { Recorder } from '../lib/percentiles.js';
import { threadCpuUs } from '../lib/thread-cpu.js';
import { waitAsync } from '../lib/wait-async.js';

/** Shared words (Int32 indices). */
export const BcWord = { READY: 0, GO: 1, STOP: 2 } as const;

export interface BroadcastTaskInit {
  host: string;
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

export default async function broadcastTask(t: BroadcastTaskInit): Promise<BroadcastTaskResult> {
  const sync = new Int32Array(t.sync);
  const errors: string[] = [];
  const socks: net.Socket[] = [];
  const expected: number[] = [];
  const delays = new Recorder(1 << 16, 4_000_000);
  const tickDelays = new Recorder(1 << 16, 4_000_000);
  let received = 0;
  let gaps = 0;
  let mismatches = 0;
  let inputsSent = 0;
  let live = false;

  const attach = (s: net.Socket, local: number): void => {
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
        if (len !== t.payloadBytes) {
          mismatches++;
          continue;
        }
        const tick = buf.readUInt32LE(at);
        const want = expected[local]!;
        if (tick > want) gaps += tick - want;
        else if (tick < want) {
          mismatches++;
          continue;
        }
        expected[local] = tick + 1;
        received++;
        if (live) {
          delays.record((now - buf.readDoubleLE(at + 8)) * 1000);
          tickDelays.record((now - buf.readDoubleLE(at + 16)) * 1000);
        }
      }
      if (off < buf.length) pending = Buffer.from(buf.subarray(off));
    });
    s.on('error', (err: Error) => {
      if (errors.length < 5) errors.push(`connection ${conn}: ${err.message}`);
    });
  };

  try {
    const BATCH = 50;
    for (let i = 0; i < t.connections; i += BATCH) {
      const n = Math.min(BATCH, t.connections - i);
      const batch = await Promise.all(Array.from({ length: n }, () => connect(t.host, t.port)));
      for (const s of batch) {
        attach(s, socks.length);
        expected.push(0);
        socks.push(s);
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
  const input = Buffer.alloc(HEADER + t.inputBytes, 0x33);
  input.writeUInt16LE(t.inputBytes, 0);
  const ticker = setInterval(() => {
    const now = performance.now();
    for (let i = 0; i < socks.length; i++) {
      if (next[i]! > now) continue;
      next[i]! += period;
      if (next[i]! < now) next[i] = now + period; // fell behind: don't burst
      const b = Buffer.allocUnsafe(input.length);
      input.copy(b);
      b.writeUInt32LE(t.firstConnection + i, HEADER);
      b.writeUInt32LE(inputsSent, HEADER + 4);
      socks[i]!.write(b);
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
