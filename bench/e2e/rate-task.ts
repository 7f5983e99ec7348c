/**
 * One piscina task of the fixed-rate echo client (bench/e2e/rate-client.ts): owns a share of the
 * connections for the client's whole life and runs the phases its port asks for.
 *
 * - `max` phase: closed loop, `inFlight` datagrams outstanding per connection; reports the echoes
 *   that came back in the measured part of the phase (the server's maximum, as this client sees it).
 * - `rate` phase: open loop at a fixed rate. Datagram i is *due* at `t0 + i / rate`; a 1 ms ticker
 *   sends everything due (round-robin over the connections, one write per connection per tick),
 *   whether or not earlier echoes came back. Each datagram carries its due time, and its round
 *   trip is measured from the due time, not from when it was actually written: a stalled server
 *   delays the sends behind it, and that wait counts (no coordinated omission). The ticker's own
 *   lateness is recorded separately (`sendLag`), and so is the round trip from the actual write
 *   (`service`). Datagrams still missing `drainMs` after the last send are recorded with the time
 *   waited so far (a lower bound) and counted as `missing`.
 *
 * Payload (64 B by default, after the uint16 LE length): seq u32 | connection u16 | phase u16 |
 * due ms f64 | written ms f64 | fill. Echoes of an earlier phase are ignored; out-of-order or
 * corrupt echoes are counted as mismatches.
 *
 * Thread: piscina worker threads of the rate-client process (never blocks; sockets on its loop).
 * @module
 */
import net from 'node:net';
import type { MessagePort } from 'node:worker_threads';
import { Recorder } from '../lib/percentiles.js';
import { threadCpuUs } from '../lib/thread-cpu.js';

/** Input of one task. */
export interface RateTaskInit {
  host: string;
  port: number;
  firstConnection: number;
  connections: number;
  payloadBytes: number;
  control: MessagePort;
}

/** Orders from the client's main thread. */
export type RateTaskCommand =
  | { kind: 'phase'; id: number; mode: 'max'; inFlight: number; warmupMs: number; measureMs: number; drainMs: number }
  | { kind: 'phase'; id: number; mode: 'rate'; ratePerSec: number; warmupMs: number; measureMs: number; drainMs: number }
  | { kind: 'end' };

/** A phase's outcome from one task (the sample arrays are transferred). */
export interface RateTaskPhaseResult {
  kind: 'phaseResult';
  id: number;
  /** Datagrams written / echoes received over the whole phase. */
  sent: number;
  received: number;
  /** Due (rate) or received (max) inside the measured part. */
  measured: number;
  measuredReceived: number;
  missing: number;
  /** Skipped in the sequence (dropped by the server); not in `received`. */
  dropped: number;
  mismatches: number;
  /** Length of the measured part actually covered, ms. */
  measuredMs: number;
  cpuUs: number;
  /** rate phase: round trips from due time, µs; from the actual write, µs; ticker lateness, µs. */
  latency: Float64Array;
  service: Float64Array;
  sendLag: Float64Array;
  overflow: number;
}

export type RateTaskMessage = { kind: 'ready'; connections: number } | RateTaskPhaseResult | { kind: 'error'; message: string };

const HEADER = 2;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

/** Phase state shared by the connections of this task. */
interface PhaseState {
  id: number;
  mode: 'max' | 'rate';
  inFlight: number;
  measureStart: number;
  measureEnd: number;
  /** Stop sending new datagrams (max: at measureEnd; rate: when the last due time is reached). */
  sending: boolean;
  received: number;
  measuredReceived: number;
  mismatches: number;
  /** Datagrams skipped in a connection's sequence: the server dropped them. */
  dropped: number;
  latency: Recorder;
  service: Recorder;
  sendLag: Recorder;
  /** rate: due times not yet echoed, by connection: a FIFO of due times (same order as the wire). */
  onReceive: () => void;
}

class RateConnection {
  private pending: Buffer | null = null;
  /** Next sequence number to send / expect back, this phase. */
  sendSeq = 0;
  recvSeq = 0;
  /** rate phase: due times written and not yet echoed, in order. */
  readonly dueFifo: number[] = [];
  private dueHead = 0;

  constructor(
    readonly socket: net.Socket,
    readonly index: number,
    private readonly payloadBytes: number,
    private readonly state: () => PhaseState | null,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  resetPhase(): void {
    this.sendSeq = 0;
    this.recvSeq = 0;
    this.dueFifo.length = 0;
    this.dueHead = 0;
  }

  outstanding(): number {
    return this.sendSeq - this.recvSeq;
  }

  /** Oldest due time not yet echoed, or NaN. */
  oldestDue(): number {
    return this.dueHead < this.dueFifo.length ? this.dueFifo[this.dueHead]! : Number.NaN;
  }

  /** Due times still missing (rate phase). */
  missingDue(): number[] {
    return this.dueFifo.slice(this.dueHead);
  }

  /** Writes `dues.length` datagrams in one write (due times given; `now` is the write time). */
  write(dues: readonly number[], phase: number, now: number): void {
    const k = dues.length;
    if (k === 0) return;
    const size = this.payloadBytes;
    const frame = size + HEADER;
    const buf = Buffer.allocUnsafe(k * frame);
    for (let i = 0; i < k; i++) {
      const o = i * frame;
      buf.writeUInt16LE(size, o);
      buf.writeUInt32LE(this.sendSeq + i, o + 2);
      buf.writeUInt16LE(this.index & 0xffff, o + 6);
      buf.writeUInt16LE(phase & 0xffff, o + 8);
      buf.writeDoubleLE(dues[i]!, o + 10);
      buf.writeDoubleLE(now, o + 18);
      buf.fill(0xa5, o + 26, o + frame);
    }
    this.sendSeq += k;
    this.socket.write(buf);
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const st = this.state();
    const now = performance.now();
    const n = buf.length;
    let off = 0;
    let got = 0;
    let freed = 0;
    while (n - off >= HEADER) {
      const len = buf.readUInt16LE(off);
      if (n - off - HEADER < len) break;
      const p = off + HEADER;
      off += HEADER + len;
      if (st === null || len !== this.payloadBytes || buf.readUInt16LE(p + 6) !== (st.id & 0xffff)) continue; // stale phase
      const seq = buf.readUInt32LE(p);
      if (seq < this.recvSeq || buf.readUInt16LE(p + 4) !== (this.index & 0xffff)) {
        st.mismatches++; // reordered, duplicated or another connection's: a real error
        continue;
      }
      if (seq > this.recvSeq) {
        // The server dropped these (a reader's queue cap): they will never come back. Charge each
        // the time waited so far (a lower bound) and count it.
        const skipped = seq - this.recvSeq;
        st.dropped += skipped;
        if (st.mode === 'rate') {
          for (let j = 0; j < skipped; j++) {
            const lostDue = this.dueFifo[this.dueHead++]!;
            if (lostDue >= st.measureStart && lostDue < st.measureEnd) st.latency.record((now - lostDue) * 1000);
          }
        }
        freed += skipped; // in max mode they free window slots like echoes
        this.recvSeq = seq;
      }
      this.recvSeq++;
      got++;
      const due = buf.readDoubleLE(p + 8);
      const written = buf.readDoubleLE(p + 16);
      if (st.mode === 'rate') {
        this.dueHead++;
        if (this.dueHead > 4096 && this.dueHead * 2 > this.dueFifo.length) {
          this.dueFifo.splice(0, this.dueHead);
          this.dueHead = 0;
        }
        if (due >= st.measureStart && due < st.measureEnd) {
          st.latency.record((now - due) * 1000);
          st.service.record((now - written) * 1000);
          st.measuredReceived++;
        }
      } else if (now >= st.measureStart && now < st.measureEnd) st.measuredReceived++;
    }
    if (off < n) this.pending = Buffer.from(buf.subarray(off));
    if (got + freed === 0 || st === null) return;
    st.received += got;
    if (st.mode === 'max' && st.sending) {
      const dues = new Array<number>(Math.min(got + freed, st.inFlight)).fill(now);
      this.write(dues, st.id, now);
    }
    st.onReceive();
  }
}

/** Runs one share of the client (see the module comment). */
export default async function rateTask(init: RateTaskInit): Promise<void> {
  const port = init.control;
  const post = (m: RateTaskMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  const conns: RateConnection[] = [];
  let phase: PhaseState | null = null;
  try {
    for (let i = 0; i < init.connections; i++) {
      const s = await connect(init.host, init.port);
      s.on('error', () => {});
      conns.push(new RateConnection(s, init.firstConnection + i, init.payloadBytes, () => phase));
    }
  } catch (err) {
    post({ kind: 'error', message: `connect: ${(err as Error).message}` });
    for (const c of conns) c.socket.destroy();
    port.close();
    return;
  }
  post({ kind: 'ready', connections: conns.length });

  const runPhase = async (cmd: Extract<RateTaskCommand, { kind: 'phase' }>): Promise<void> => {
    for (const c of conns) c.resetPhase();
    const cpu0 = threadCpuUs();
    const t0 = performance.now() + 2;
    const measureStart = t0 + cmd.warmupMs;
    const measureEnd = measureStart + cmd.measureMs;
    let wake: (() => void) | null = null;
    const expectedMeasured = cmd.mode === 'rate' ? Math.ceil((cmd.ratePerSec * cmd.measureMs) / 1000) + 16 : 1024;
    const st: PhaseState = {
      id: cmd.id,
      mode: cmd.mode,
      inFlight: cmd.mode === 'max' ? cmd.inFlight : 0,
      measureStart,
      measureEnd,
      sending: true,
      received: 0,
      measuredReceived: 0,
      mismatches: 0,
      dropped: 0,
      latency: new Recorder(cmd.mode === 'rate' ? expectedMeasured : 16),
      service: new Recorder(cmd.mode === 'rate' ? expectedMeasured : 16),
      sendLag: new Recorder(cmd.mode === 'rate' ? expectedMeasured : 16),
      onReceive: () => wake?.(),
    };
    phase = st;
    await sleep(Math.max(0, t0 - performance.now()));
    let sent = 0;
    let measured = 0;
    if (cmd.mode === 'max') {
      const now = performance.now();
      for (const c of conns) c.write(new Array<number>(cmd.inFlight).fill(now), cmd.id, now);
      sent = conns.length * cmd.inFlight;
      await sleep(Math.max(0, measureEnd - performance.now()));
      st.sending = false;
      measured = st.measuredReceived;
    } else {
      const perMs = cmd.ratePerSec / 1000;
      const total = Math.floor((measureEnd - t0) * perMs);
      const batches: number[][] = conns.map(() => []);
      await new Promise<void>((resolve) => {
        const tick = (): void => {
          const now = performance.now();
          const due = Math.min(total, Math.floor((now - t0) * perMs) + 1);
          for (; sent < due; sent++) {
            const at = t0 + sent / perMs;
            batches[sent % conns.length]!.push(at);
            if (at >= measureStart && at < measureEnd) {
              measured++;
              st.sendLag.record((now - at) * 1000);
            }
          }
          for (let i = 0; i < conns.length; i++) {
            const b = batches[i]!;
            if (b.length === 0) continue;
            const c = conns[i]!;
            for (const d of b) c.dueFifo.push(d);
            c.write(b, cmd.id, now);
            b.length = 0;
          }
          if (sent >= total) resolve();
          else setTimeout(tick, 1);
        };
        tick();
      });
      st.sending = false;
    }
    // Drain: wait (bounded) for everything written to come back.
    const drainEnd = performance.now() + cmd.drainMs;
    while (conns.some((c) => c.outstanding() > 0) && performance.now() < drainEnd) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 20);
      });
      wake = null;
    }
    const endNow = performance.now();
    let missing = 0;
    for (const c of conns) {
      missing += c.outstanding();
      if (cmd.mode === 'rate') {
        for (const due of c.missingDue()) {
          if (due >= measureStart && due < measureEnd) st.latency.record((endNow - due) * 1000); // lower bound
        }
      }
    }
    const cpuUs = threadCpuUs() - cpu0;
    phase = null;
    const lat = st.latency.values().slice();
    const svc = st.service.values().slice();
    const lag = st.sendLag.values().slice();
    post(
      {
        kind: 'phaseResult',
        id: cmd.id,
        sent: conns.reduce((s, c) => s + c.sendSeq, 0),
        received: st.received,
        measured: cmd.mode === 'rate' ? measured : st.measuredReceived,
        measuredReceived: st.measuredReceived,
        missing,
        dropped: st.dropped,
        mismatches: st.mismatches,
        measuredMs: cmd.measureMs,
        cpuUs,
        latency: lat,
        service: svc,
        sendLag: lag,
        overflow: st.latency.overflow,
      },
      [lat.buffer, svc.buffer, lag.buffer],
    );
  };

  await new Promise<void>((resolve) => {
    let busy: Promise<void> = Promise.resolve();
    port.on('message', (cmd: RateTaskCommand) => {
      if (cmd.kind === 'end') {
        void busy.then(() => {
          for (const c of conns) c.socket.destroy();
          port.close();
          resolve();
        });
        return;
      }
      busy = busy.then(() => runPhase(cmd)).catch((err: unknown) => post({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
    });
  });
}
