/**
 * One piscina task of the `md` workload's client (bench/e2e/md-client.ts): owns a share of the
 * participants (one TCP connection each) for the client's whole life and runs the phases its port
 * asks for.
 *
 * Participants: participant `g` (0 ≤ g < P, over all tasks) subscribes to its own channel
 * `channelBase + g` (ADD_CHANNEL) and sends, with an Astron server header (one recipient, sender =
 * its own channel), to the others' channels in rotation: its k-th datagram goes to participant
 * `(g + 1 + k mod (P − 1)) mod P` (never itself). So each receiver can check every datagram: right
 * length, one recipient that is its own channel, a known sender, and per sender the exact next k
 * (k advances by P − 1 per sender → receiver pair): a datagram out of order, duplicated, corrupt or
 * misrouted counts as a mismatch, a gap as lost. Before the first phase each task confirms its
 * participants' subscriptions with probes (each participant's channel is sent a PROBE datagram by a
 * neighbour of the same task, repeated until it arrives, bounded).
 *
 * - `max` phase (closed loop, like the echo bench's window): each participant first sends
 *   `inFlight` datagrams; then every datagram a participant receives makes it send one more (one
 *   write per received chunk), so P × inFlight datagrams stay in flight, hopping between
 *   participants through the router. Deliveries are counted in the measured part of the phase.
 * - `rate` phase (open loop, no coordinated omission): the task's share of the rate is due at
 *   fixed times, `t0 + i / rate`; a ticker (`tickUs`, bench/e2e/md-ticker.ts) writes everything due (senders: this task's
 *   participants in turn, one write per participant per tick), whether or not earlier datagrams
 *   arrived. Each datagram carries its due time and its write time; the receiver records the delay
 *   from the due time (the CO-free figure) and from the actual write. Times are
 *   `process.hrtime` (monotonic and shared by every thread of the process), so a sender in one
 *   task and a receiver in another agree on them.
 *
 * Frame (uint16 LE length `D` first, then the datagram): `01 · u64 to · u64 from · u16 msgtype` then
 * `u32 k · u16 phase · u16 0 · f64 due ms · f64 written ms · 0xa5…`. Datagrams of an earlier phase
 * (late after a drain timeout) are checked but not counted. Every phase ends with a drain: until
 * the client's shared counters say every task stopped sending and every datagram sent in the
 * phase arrived, or `drainMs`.
 *
 * Thread: piscina worker threads of the md-client process (never blocks; sockets on its loop).
 * @module
 */
import net from 'node:net';
import type { MessagePort } from 'node:worker_threads';
import { Recorder } from '../lib/percentiles.js';
import { threadCpuUs } from '../lib/thread-cpu.js';
import { startTicker } from './md-ticker.js';

/**
 * Shared counters (Int32 indices of `counters`), reset by the client before each phase: datagrams
 * sent and received in the phase by all tasks, and how many tasks have stopped sending.
 */
export const Counter = { SENT: 0, RECV: 1, DONE: 2 } as const;

/** Message types of the bench's datagrams (any non-control code would do). */
export const MSG_DATA = 4242;
export const MSG_PROBE = 4243;
/** Bytes of the MD header of a one-recipient datagram: count, recipient, sender, msgtype. */
export const MD_HEADER_BYTES = 19;
/** Payload bytes the bench needs (k, phase, due, written). */
export const MD_PAYLOAD_MIN = 24;

/** Input of one task. */
export interface MdTaskInit {
  host: string;
  port: number;
  /**
   * Cross-node mode (the `md-mesh` workload): participant `g` connects to `port` when `g` is even,
   * to `port2` when odd, and sends only to participants of the other parity (the other node):
   * its k-th datagram goes to `(g + 1 + 2 (k mod P/2)) mod P`. P and each task's count are even.
   */
  port2?: number;
  /** All participants, over every task. */
  participants: number;
  /** Tasks in the client (for the drain's "everyone stopped sending"). */
  tasks: number;
  /** This task's first participant index, and how many it owns (≥ 2). */
  first: number;
  count: number;
  /** Datagram size without the 2-byte length prefix (≥ MD_HEADER_BYTES + MD_PAYLOAD_MIN). */
  datagramBytes: number;
  channelBase: number;
  /** Int32 words, see {@link Counter}; reset by the client between phases. */
  counters: SharedArrayBuffer;
  control: MessagePort;
}

/** Orders from the client's main thread; `startMs` is on the shared monotonic clock ({@link monoMs}). */
export type MdTaskCommand =
  | { kind: 'phase'; id: number; mode: 'max'; inFlight: number; startMs: number; warmupMs: number; measureMs: number; drainMs: number }
  | { kind: 'phase'; id: number; mode: 'rate'; ratePerSec: number; startMs: number; warmupMs: number; measureMs: number; drainMs: number; tickUs?: number }
  | { kind: 'end' };

/** A phase's outcome from one task (the sample arrays are transferred). */
export interface MdTaskPhaseResult {
  kind: 'phaseResult';
  id: number;
  /** Datagrams this task's participants wrote / received in the phase. */
  sent: number;
  received: number;
  /** rate: datagrams this task sent that were due in the measured part. */
  measuredSent: number;
  /** max: received in the measured part; rate: received of those due in the measured part. */
  measuredReceived: number;
  mismatches: number;
  lost: number;
  /** Datagrams of an earlier phase that arrived in this one (checked, not counted). */
  stale: number;
  firstError: string;
  cpuUs: number;
  /** rate phase: delay from due time, from the actual write, and the ticker's lateness, µs. */
  latency: Float64Array;
  service: Float64Array;
  sendLag: Float64Array;
  overflow: number;
}

export type MdTaskMessage = { kind: 'ready'; participants: number } | MdTaskPhaseResult | { kind: 'error'; message: string };

/** Milliseconds on the process-wide monotonic clock (the same in every thread). */
export const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

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

/** ADD_CHANNEL(channel) as a framed control datagram. */
function addChannelFrame(channel: number): Buffer {
  const b = Buffer.alloc(2 + 19);
  b.writeUInt16LE(19, 0);
  b[2] = 1;
  b.writeUInt32LE(1, 3); // recipient: CONTROL (1)
  b.writeUInt16LE(9000, 11);
  b.writeUInt32LE(channel % 0x1_0000_0000, 13);
  b.writeUInt32LE(Math.floor(channel / 0x1_0000_0000), 17);
  return b;
}

interface PhaseState {
  id: number;
  mode: 'max' | 'rate';
  measureStart: number;
  measureEnd: number;
  /** max: receiving one sends one more while true. */
  sending: boolean;
  sent: number;
  received: number;
  measuredReceived: number;
  latency: Recorder;
  service: Recorder;
  sendLag: Recorder;
}

/** Runs one share of the client (see the module comment). */
export default async function mdTask(init: MdTaskInit): Promise<void> {
  const port = init.control;
  const post = (m: MdTaskMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  const P = init.participants;
  const D = init.datagramBytes;
  const FRAME = D + 2;
  const counters = new Int32Array(init.counters);
  const base = init.channelBase;
  const cross = init.port2 !== undefined;
  /** Destinations of one sender in rotation, and the step between them. */
  const cycle = cross ? P / 2 : P - 1;
  const stride = cross ? 2 : 1;
  /** Per local participant × sender: the next k expected. */
  const expected = new Float64Array(init.count * P);
  const nextK = new Float64Array(init.count);
  const confirmed = new Uint8Array(init.count);
  let phase: PhaseState | null = null;
  let mismatches = 0;
  let lost = 0;
  let stale = 0;
  let firstError = '';
  const bad = (what: string): void => {
    mismatches++;
    if (firstError === '') firstError = what;
  };

  const sockets: net.Socket[] = [];

  /** Writes `n` datagrams from local participant `b` (dues: one per datagram, or null = `now`). */
  const writeFrom = (b: number, n: number, msg: number, phaseId: number, dues: readonly number[] | null, now: number, to = -1): void => {
    if (n <= 0) return;
    const g = init.first + b;
    const buf = Buffer.allocUnsafe(n * FRAME);
    let k = nextK[b]!;
    for (let i = 0; i < n; i++) {
      const o = i * FRAME;
      const dest = to >= 0 ? to : (g + 1 + stride * (k % cycle)) % P;
      buf.writeUInt16LE(D, o);
      buf[o + 2] = 1;
      buf.writeUInt32LE(base + dest, o + 3);
      buf.writeUInt32LE(0, o + 7);
      buf.writeUInt32LE(base + g, o + 11);
      buf.writeUInt32LE(0, o + 15);
      buf.writeUInt16LE(msg, o + 19);
      buf.writeUInt32LE(msg === MSG_DATA ? k : 0, o + 21);
      buf.writeUInt16LE(phaseId & 0xffff, o + 25);
      buf.writeUInt16LE(0, o + 27);
      buf.writeDoubleLE(dues === null ? now : dues[i]!, o + 29);
      buf.writeDoubleLE(now, o + 37);
      buf.fill(0xa5, o + 45, o + FRAME);
      if (msg === MSG_DATA) k++;
    }
    nextK[b] = k;
    sockets[b]!.write(buf);
  };

  const pending: Array<Buffer | null> = [];
  const onData = (b: number, chunk: Buffer): void => {
    let buf = chunk;
    const held = pending[b];
    if (held !== null && held !== undefined) {
      buf = Buffer.concat([held, chunk]);
      pending[b] = null;
    }
    const st = phase;
    const now = monoMs();
    const me = init.first + b;
    const n = buf.length;
    let off = 0;
    let got = 0;
    while (n - off >= 2) {
      const len = buf.readUInt16LE(off);
      if (n - off - 2 < len) break;
      const o = off;
      off += 2 + len;
      if (len !== D) {
        bad(`participant ${me}: a datagram of ${len} bytes (expected ${D})`);
        continue;
      }
      if (buf[o + 2] !== 1 || buf.readUInt32LE(o + 3) !== base + me || buf.readUInt32LE(o + 7) !== 0) {
        bad(`participant ${me}: a datagram for another recipient`);
        continue;
      }
      const s = buf.readUInt32LE(o + 11) - base;
      if (buf.readUInt32LE(o + 15) !== 0 || s < 0 || s >= P || s === me) {
        bad(`participant ${me}: sender channel ${buf.readUInt32LE(o + 11)} is no other participant's`);
        continue;
      }
      const msg = buf.readUInt16LE(o + 19);
      if (msg === MSG_PROBE) {
        confirmed[b] = 1;
        continue;
      }
      if (msg !== MSG_DATA) {
        bad(`participant ${me}: message type ${msg}`);
        continue;
      }
      if (cross && (s & 1) === (me & 1)) {
        bad(`participant ${me}: a datagram from ${s}, on the same node`);
        continue;
      }
      const k = buf.readUInt32LE(o + 21);
      const at = b * P + s;
      const exp = expected[at]!;
      if (k === exp) expected[at] = exp + cycle;
      else if (k > exp && (k - exp) % cycle === 0) {
        lost += (k - exp) / cycle;
        if (firstError === '') firstError = `participant ${me}: ${(k - exp) / cycle} datagram(s) from ${s} never arrived (k ${exp} expected, ${k} came)`;
        expected[at] = k + cycle;
      } else {
        bad(`participant ${me}: from ${s}, k ${k} where ${exp} was expected`);
        continue;
      }
      if (st === null || buf.readUInt16LE(o + 25) !== (st.id & 0xffff)) {
        stale++;
        continue;
      }
      got++;
      if (st.mode === 'max') {
        if (now >= st.measureStart && now < st.measureEnd) st.measuredReceived++;
      } else {
        const due = buf.readDoubleLE(o + 29);
        if (due >= st.measureStart && due < st.measureEnd) {
          st.latency.record((now - due) * 1000);
          st.service.record((now - buf.readDoubleLE(o + 37)) * 1000);
          st.measuredReceived++;
        }
      }
    }
    if (off < n) pending[b] = Buffer.from(buf.subarray(off));
    if (st === null || got === 0) return;
    st.received += got;
    Atomics.add(counters, Counter.RECV, got);
    if (st.mode === 'max' && st.sending) {
      writeFrom(b, got, MSG_DATA, st.id, null, now);
      st.sent += got;
      Atomics.add(counters, Counter.SENT, got);
    }
  };

  // Connect, subscribe, confirm the subscriptions (bounded).
  try {
    for (let b = 0; b < init.count; b++) {
      const g = init.first + b;
      const s = await connect(init.host, cross && (g & 1) === 1 ? init.port2! : init.port);
      s.on('error', (err: Error) => {
        if (firstError === '') firstError = `participant ${g}: ${err.message}`;
      });
      s.on('close', () => {
        if (firstError === '') firstError = `participant ${g}: the router closed the connection`;
      });
      sockets.push(s);
      pending.push(null);
      for (let t = 0; t < P; t++) expected[b * P + t] = Math.floor(((g - t - 1 + P) % P) / stride);
      s.on('data', (chunk: Buffer) => onData(b, chunk));
      s.write(addChannelFrame(base + g));
    }
    const by = monoMs() + 10_000;
    while (confirmed.some((c) => c === 0)) {
      if (monoMs() > by) throw new Error(`subscriptions not confirmed within 10 s (${confirmed.filter((c) => c === 0).length} of ${init.count} unconfirmed)${firstError ? `; ${firstError}` : ''}`);
      for (let b = 0; b < init.count; b++) if (confirmed[b] === 0) writeFrom((b + 1) % init.count, 1, MSG_PROBE, 0, null, monoMs(), init.first + b);
      await sleep(50);
    }
  } catch (err) {
    post({ kind: 'error', message: `setup: ${(err as Error).message}` });
    for (const s of sockets) s.destroy();
    port.close();
    return;
  }
  post({ kind: 'ready', participants: init.count });

  const runPhase = async (cmd: Extract<MdTaskCommand, { kind: 'phase' }>): Promise<void> => {
    const cpu0 = threadCpuUs();
    const t0 = cmd.startMs;
    const measureStart = t0 + cmd.warmupMs;
    const measureEnd = measureStart + cmd.measureMs;
    const expectedMeasured = cmd.mode === 'rate' ? Math.ceil((cmd.ratePerSec * cmd.measureMs) / 1000) + 16 : 16;
    const st: PhaseState = {
      id: cmd.id,
      mode: cmd.mode,
      measureStart,
      measureEnd,
      sending: true,
      sent: 0,
      received: 0,
      measuredReceived: 0,
      latency: new Recorder(cmd.mode === 'rate' ? expectedMeasured * 2 : 16),
      service: new Recorder(cmd.mode === 'rate' ? expectedMeasured * 2 : 16),
      sendLag: new Recorder(cmd.mode === 'rate' ? expectedMeasured : 16),
    };
    const m0 = { mismatches, lost, stale };
    firstError = '';
    phase = st; // before t0: another task's first datagrams may come a little early
    await sleep(Math.max(0, t0 - monoMs()));
    let measuredSent = 0;
    if (cmd.mode === 'max') {
      const now = monoMs();
      for (let b = 0; b < init.count; b++) writeFrom(b, cmd.inFlight, MSG_DATA, cmd.id, null, now);
      st.sent += init.count * cmd.inFlight;
      Atomics.add(counters, Counter.SENT, init.count * cmd.inFlight);
      await sleep(Math.max(0, measureEnd - monoMs()));
      st.sending = false;
    } else {
      const perMs = cmd.ratePerSec / 1000;
      const total = Math.floor((measureEnd - t0) * perMs);
      const batches: number[][] = sockets.map(() => []);
      let i = 0;
      const ticker = startTicker(cmd.tickUs ?? 1000);
      await new Promise<void>((resolve) => {
        const tick = (): void => {
          const now = monoMs();
          const due = Math.min(total, Math.floor((now - t0) * perMs) + 1);
          const from = i;
          for (; i < due; i++) {
            const at = t0 + i / perMs;
            batches[i % init.count]!.push(at);
            if (at >= measureStart && at < measureEnd) {
              measuredSent++;
              st.sendLag.record((now - at) * 1000);
            }
          }
          for (let b = 0; b < init.count; b++) {
            const dues = batches[b]!;
            if (dues.length === 0) continue;
            writeFrom(b, dues.length, MSG_DATA, cmd.id, dues, now);
            dues.length = 0;
          }
          if (i > from) {
            st.sent += i - from;
            Atomics.add(counters, Counter.SENT, i - from);
          }
          if (i >= total) resolve();
          else void ticker.next().then(tick);
        };
        tick();
      });
      await ticker.stop();
      st.sending = false;
    }
    // Drain: until every task stopped sending and every datagram sent in the phase arrived, bounded.
    Atomics.add(counters, Counter.DONE, 1);
    const drainEnd = monoMs() + cmd.drainMs;
    while ((Atomics.load(counters, Counter.DONE) < init.tasks || Atomics.load(counters, Counter.RECV) < Atomics.load(counters, Counter.SENT)) && monoMs() < drainEnd) await sleep(2);
    phase = null;
    const cpuUs = threadCpuUs() - cpu0;
    const lat = st.latency.values().slice();
    const svc = st.service.values().slice();
    const lag = st.sendLag.values().slice();
    post(
      {
        kind: 'phaseResult',
        id: cmd.id,
        sent: st.sent,
        received: st.received,
        measuredSent,
        measuredReceived: st.measuredReceived,
        mismatches: mismatches - m0.mismatches,
        lost: lost - m0.lost,
        stale: stale - m0.stale,
        firstError,
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
    port.on('message', (cmd: MdTaskCommand) => {
      if (cmd.kind === 'end') {
        void busy.then(() => {
          for (const s of sockets) {
            s.removeAllListeners('close');
            s.destroy();
          }
          port.close();
          resolve();
        });
        return;
      }
      busy = busy.then(() => runPhase(cmd)).catch((err: unknown) => post({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
    });
  });
}
