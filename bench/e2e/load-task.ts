/**
 * One piscina task of the echo load client: opens its share of the connections, waits for "go",
 * then keeps `inFlight` datagrams outstanding on each connection until every connection has had
 * `perConnection` echoes back (or the deadline passes), and returns counts and times.
 *
 * Wire format: Panda's TCP header-2 framing, a uint16 LE length then the payload. Each payload
 * carries the connection's sequence number (u32 LE at 0) and the connection index (u32 LE at 4), so
 * an echo that comes back out of order, truncated or for another connection counts as a mismatch.
 * Sends are batched: one `write` per received chunk, carrying as many new datagrams as echoes it
 * completed (plus the initial window in one write).
 *
 * Thread: piscina worker threads of the load-client process (the task runs its connections on the
 * worker's own event loop; it never blocks in Atomics.wait).
 * @module
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { threadCpuUs } from '../lib/thread-cpu.js';
import { waitAsync } from '../lib/wait-async.js';
import type { TaskResult } from './protocol.js';

/** Shared words of the start barrier (Int32 indices). */
export const SyncWord = { READY: 0, GO: 1 } as const;

/** Input of one task. */
export interface LoadTask {
  host: string;
  port: number;
  /** Index of this task's first connection (for the payload tag). */
  firstConnection: number;
  connections: number;
  perConnection: number;
  inFlight: number;
  payloadBytes: number;
  /** Start barrier: the task bumps READY when connected and starts when GO becomes 1. */
  sync: SharedArrayBuffer;
  /** From "go": give up after this long and report what arrived. */
  deadlineMs: number;
}

const absNow = (): number => performance.timeOrigin + performance.now();

class LoadConnection {
  sent = 0;
  doneAbsMs = Number.NaN;
  received = 0;
  mismatches = 0;
  private pending: Buffer | null = null;
  readonly socket: net.Socket;

  constructor(
    socket: net.Socket,
    private readonly tag: number,
    private readonly task: LoadTask,
    private readonly onDone: (c: LoadConnection) => void,
  ) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  /** Writes `n` new datagrams (sequence numbers continue) in one `write`. */
  sendMore(n: number): void {
    const k = Math.min(n, this.task.perConnection - this.sent);
    if (k <= 0) return;
    const size = this.task.payloadBytes;
    const frame = size + 2;
    const buf = Buffer.allocUnsafe(k * frame);
    for (let i = 0; i < k; i++) {
      const o = i * frame;
      buf.writeUInt16LE(size, o);
      buf.writeUInt32LE(this.sent + i, o + 2);
      buf.writeUInt32LE(this.tag, o + 6);
      buf.fill(0xa5, o + 10, o + frame);
    }
    this.sent += k;
    this.socket.write(buf);
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const n = buf.length;
    let off = 0;
    let got = 0;
    while (n - off >= 2) {
      const len = buf.readUInt16LE(off);
      if (n - off - 2 < len) break;
      if (len !== this.task.payloadBytes || len < 8 || buf.readUInt32LE(off + 2) !== this.received + got || buf.readUInt32LE(off + 6) !== this.tag) this.mismatches++;
      got++;
      off += 2 + len;
    }
    if (off < n) this.pending = Buffer.from(buf.subarray(off));
    if (got === 0) return;
    this.received += got;
    if (this.received >= this.task.perConnection) {
      this.doneAbsMs = absNow();
      this.onDone(this);
    }
    else this.sendMore(got);
  }
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

/** Runs one share of the load (see the module comment). */
export default async function loadTask(task: LoadTask): Promise<TaskResult> {
  const sync = new Int32Array(task.sync);
  const errors: string[] = [];
  const conns: LoadConnection[] = [];
  let done = 0;
  let endAbsMs = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => (finish = r));
  const onDone = (): void => {
    if (++done === conns.length) {
      endAbsMs = absNow();
      finish();
    }
  };

  try {
    for (let i = 0; i < task.connections; i++) {
      const s = await connect(task.host, task.port);
      s.on('error', (err: Error) => {
        if (errors.length < 10) errors.push(`connection ${task.firstConnection + i}: ${err.message}`);
      });
      s.on('close', () => {
        const c = conns[i];
        if (c !== undefined && c.received < task.perConnection && errors.length < 10) errors.push(`connection ${task.firstConnection + i} closed after ${c.received} echoes`);
      });
      conns.push(new LoadConnection(s, task.firstConnection + i, task, onDone));
    }
  } catch (err) {
    errors.push(`connect: ${(err as Error).message}`);
  }

  Atomics.add(sync, SyncWord.READY, 1);
  Atomics.notify(sync, SyncWord.READY);
  if (errors.length > 0) {
    for (const c of conns) c.socket.destroy();
    return { connections: conns.length, echoes: 0, mismatches: 0, errors, startAbsMs: absNow(), endAbsMs: absNow(), connectionDoneAbsMs: [], threadCpuUs: 0, timedOut: false };
  }

  // Wait for "go" (bounded). The open sockets keep this worker's event loop alive meanwhile.
  await waitAsync(sync, SyncWord.GO, 0, 30_000);
  if (Atomics.load(sync, SyncWord.GO) !== 1) {
    for (const c of conns) c.socket.destroy();
    return { connections: conns.length, echoes: 0, mismatches: 0, errors: ['no "go" within 30 s'], startAbsMs: absNow(), endAbsMs: absNow(), connectionDoneAbsMs: [], threadCpuUs: 0, timedOut: true };
  }

  const startAbsMs = absNow();
  const cpu0 = threadCpuUs();
  for (const c of conns) c.sendMore(task.inFlight);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    endAbsMs = absNow();
    finish();
  }, task.deadlineMs);
  await finished;
  clearTimeout(timer);
  const cpu = threadCpuUs() - cpu0;

  let echoes = 0;
  let mismatches = 0;
  for (const c of conns) {
    echoes += c.received;
    mismatches += c.mismatches;
    c.socket.destroy();
  }
  const connectionDoneAbsMs = conns.map((c) => c.doneAbsMs).filter((t) => Number.isFinite(t));
  return { connections: conns.length, echoes, mismatches, errors, startAbsMs, endAbsMs, connectionDoneAbsMs, threadCpuUs: cpu, timedOut };
}
