/**
 * The `md-mesh` workload's raw NATS baseline: one of two peer processes that exchange datagrams
 * over core NATS pub/sub (`@nats-io/transport-node`), with no message director in between — the
 * backbone's own limit on this box. Peer `me` subscribes to `bench.raw.<run>.<me>` and publishes
 * to the other's subject; a NATS message carries one datagram (`batch` 1) or up to `batch` of them.
 *
 * Datagram (`datagramBytes` bytes, as in the md workload): `u32 seq · u16 phase · u16 0 · f64 due
 * ms · f64 written ms · 0xa5…`. The receiver checks each one: size, the exact next `seq` of the
 * other peer (order kept, none lost or duplicated), the phase. A phase's end is an 8-byte marker
 * message (`u32 0xffffffff · u32 datagrams sent`) the sender publishes after its last datagram;
 * NATS keeps one publisher's order to one subscriber, so when it arrives every datagram sent before
 * it has arrived or is lost.
 * - `max` (closed loop): `inFlight` datagrams first, then one more for each one received (coalesced
 *   per event-loop turn into messages of up to `batch`), deliveries counted in the measured part;
 * - `rate` (open loop, no coordinated omission): this peer's share of the rate due at fixed times,
 *   a ticker (`tickUs`, bench/e2e/md-ticker.ts) publishes everything due; the receiver records the delay from the due time
 *   (`process.hrtime` is the machine's monotonic clock, shared by both processes).
 *
 * Usage (by the orchestrator only): `fork(md-nats-peer.js, [JSON NatsPeerParams])`.
 *
 * Thread: main thread of the peer process.
 * @module
 */
import { connect } from '@nats-io/transport-node';
import { Recorder } from '../lib/percentiles.js';
import { monoMs } from './md-task.js';
import { startTicker } from './md-ticker.js';
import { paramsFromArgv } from './protocol.js';

/** Peer parameters. */
export interface NatsPeerParams {
  servers: string;
  /** Subject prefix unique to the run. */
  prefix: string;
  me: 0 | 1;
  /** Datagrams per NATS message at most (1: one each). */
  batch: number;
  datagramBytes: number;
}

/** orchestrator → peer */
export type NatsPeerCommand =
  | { kind: 'phase'; id: number; mode: 'max'; inFlight: number; startMs: number; warmupMs: number; measureMs: number; drainMs: number }
  | { kind: 'phase'; id: number; mode: 'rate'; ratePerSec: number; startMs: number; warmupMs: number; measureMs: number; drainMs: number; tickUs?: number }
  | { kind: 'end' };

/** One peer's phase outcome (as a receiver of the other's datagrams, and as a sender). */
export interface NatsPeerPhaseResult {
  kind: 'phaseResult';
  sent: number;
  received: number;
  measuredReceived: number;
  /** Datagrams the other peer said it sent and that did not arrive before the marker / drain end. */
  missing: number;
  mismatches: number;
  firstError: string;
  /** rate: delay from the due time, µs (every measured datagram; a plain array: the IPC channel is JSON). */
  latency: number[];
  /** rate: delay from the actual publish, µs; and the ticker's lateness (publish − due) of this peer's measured datagrams, µs. */
  service: number[];
  sendLag: number[];
  cpuUs: number;
}

export type NatsPeerMessage = { kind: 'ready' } | NatsPeerPhaseResult | { kind: 'error'; message: string };

const p = paramsFromArgv<NatsPeerParams>();
const send = (m: NatsPeerMessage): void => {
  process.send?.(m);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Phase {
  id: number;
  mode: 'max' | 'rate';
  measureStart: number;
  measureEnd: number;
  sending: boolean;
  received: number;
  measuredReceived: number;
  peerSent: number;
  latency: Recorder;
  service: Recorder;
  sendLag: Recorder;
}

async function main(): Promise<void> {
  const D = p.datagramBytes;
  const nc = await connect({ servers: p.servers, noEcho: true });
  const mine = `${p.prefix}.${p.me}`;
  const theirs = `${p.prefix}.${1 - p.me}`;
  let seqOut = 0;
  let seqIn = 0;
  let mismatches = 0;
  let firstError = '';
  let phase: Phase | null = null;
  let queued = 0;
  let flushScheduled = false;

  /** Publishes `n` datagrams (dues: one each, or null = now), `batch` per message. */
  const publish = (n: number, phaseId: number, dues: readonly number[] | null): void => {
    const now = monoMs();
    let i = 0;
    while (i < n) {
      const m = Math.min(p.batch, n - i);
      const buf = Buffer.allocUnsafe(m * D);
      for (let j = 0; j < m; j++, i++) {
        const o = j * D;
        buf.writeUInt32LE(seqOut++ >>> 0, o);
        buf.writeUInt16LE(phaseId & 0xffff, o + 4);
        buf.writeUInt16LE(0, o + 6);
        buf.writeDoubleLE(dues === null ? now : dues[i]!, o + 8);
        buf.writeDoubleLE(now, o + 16);
        buf.fill(0xa5, o + 24, o + D);
      }
      nc.publish(theirs, buf);
    }
  };
  const flushQueued = (): void => {
    flushScheduled = false;
    const st = phase;
    if (st === null || !st.sending || queued === 0) return;
    const n = queued;
    queued = 0;
    publish(n, st.id, null);
    sentInPhase += n;
  };
  let sentInPhase = 0;

  nc.subscribe(mine, {
    callback: (err, msg) => {
      if (err !== null) {
        if (firstError === '') firstError = err.message;
        return;
      }
      const buf = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
      const st = phase;
      if (buf.length === 8 && buf.readUInt32LE(0) === 0xffffffff) {
        if (st !== null) st.peerSent = buf.readUInt32LE(4);
        return;
      }
      if (buf.length === 0 || buf.length % D !== 0) {
        mismatches++;
        if (firstError === '') firstError = `a message of ${buf.length} bytes`;
        return;
      }
      const now = monoMs();
      const n = buf.length / D;
      let got = 0;
      for (let j = 0; j < n; j++) {
        const o = j * D;
        const seq = buf.readUInt32LE(o);
        if (seq !== seqIn >>> 0) {
          mismatches++;
          if (firstError === '') firstError = `seq ${seq} where ${seqIn >>> 0} was expected`;
        }
        seqIn = seq + 1;
        if (st === null || buf.readUInt16LE(o + 4) !== (st.id & 0xffff)) continue;
        got++;
        if (st.mode === 'max') {
          if (now >= st.measureStart && now < st.measureEnd) st.measuredReceived++;
        } else {
          const due = buf.readDoubleLE(o + 8);
          if (due >= st.measureStart && due < st.measureEnd) {
            st.latency.record((now - due) * 1000);
            st.service.record((now - buf.readDoubleLE(o + 16)) * 1000);
            st.measuredReceived++;
          }
        }
      }
      if (st === null) return;
      st.received += got;
      if (st.mode === 'max' && st.sending && got > 0) {
        if (p.batch === 1) {
          publish(got, st.id, null);
          sentInPhase += got;
        } else {
          queued += got;
          if (queued >= p.batch) flushQueued();
          else if (!flushScheduled) {
            flushScheduled = true;
            setImmediate(flushQueued);
          }
        }
      }
    },
  });
  await nc.flush();
  send({ kind: 'ready' });

  const runPhase = async (cmd: Extract<NatsPeerCommand, { kind: 'phase' }>): Promise<void> => {
    const cpu0 = process.cpuUsage();
    const t0 = cmd.startMs;
    const measureStart = t0 + cmd.warmupMs;
    const measureEnd = measureStart + cmd.measureMs;
    const cap = cmd.mode === 'rate' ? Math.ceil((cmd.ratePerSec * cmd.measureMs) / 1000) * 2 + 16 : 16;
    const st: Phase = { id: cmd.id, mode: cmd.mode, measureStart, measureEnd, sending: true, received: 0, measuredReceived: 0, peerSent: -1, latency: new Recorder(cap), service: new Recorder(cap), sendLag: new Recorder(cap) };
    const m0 = mismatches;
    firstError = '';
    sentInPhase = 0;
    queued = 0;
    phase = st;
    await sleep(Math.max(0, t0 - monoMs()));
    if (cmd.mode === 'max') {
      publish(cmd.inFlight, st.id, null);
      sentInPhase += cmd.inFlight;
      await sleep(Math.max(0, measureEnd - monoMs()));
    } else {
      const perMs = cmd.ratePerSec / 1000;
      const total = Math.floor((measureEnd - t0) * perMs);
      let i = 0;
      const dues: number[] = [];
      const ticker = startTicker(cmd.tickUs ?? 1000);
      await new Promise<void>((resolve) => {
        const tick = (): void => {
          const now = monoMs();
          const due = Math.min(total, Math.floor((now - t0) * perMs) + 1);
          for (; i < due; i++) {
            const at = t0 + i / perMs;
            dues.push(at);
            if (at >= measureStart && at < measureEnd) st.sendLag.record((now - at) * 1000);
          }
          if (dues.length > 0) {
            publish(dues.length, st.id, dues);
            sentInPhase += dues.length;
            dues.length = 0;
          }
          if (i >= total) resolve();
          else void ticker.next().then(tick);
        };
        tick();
      });
      await ticker.stop();
    }
    st.sending = false;
    const marker = Buffer.alloc(8);
    marker.writeUInt32LE(0xffffffff, 0);
    marker.writeUInt32LE(sentInPhase, 4);
    nc.publish(theirs, marker);
    const drainEnd = monoMs() + cmd.drainMs;
    while (st.peerSent < 0 && monoMs() < drainEnd) await sleep(2);
    phase = null;
    const cpu = process.cpuUsage(cpu0);
    const latency = Array.from(st.latency.values());
    const service = Array.from(st.service.values());
    const sendLag = Array.from(st.sendLag.values());
    send({
      kind: 'phaseResult',
      sent: sentInPhase,
      received: st.received,
      measuredReceived: st.measuredReceived,
      missing: st.peerSent < 0 ? -1 : Math.max(0, st.peerSent - st.received),
      mismatches: mismatches - m0,
      firstError: st.peerSent < 0 && firstError === '' ? 'the other peer’s end marker did not arrive within the drain' : firstError,
      latency,
      service,
      sendLag,
      cpuUs: cpu.user + cpu.system,
    });
  };

  let queue: Promise<void> = Promise.resolve();
  process.on('message', (cmd: NatsPeerCommand) => {
    queue = queue
      .then(async () => {
        if (cmd.kind === 'end') {
          await nc.drain();
          process.disconnect?.();
          return;
        }
        await runPhase(cmd);
      })
      .catch((err: unknown) => {
        send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
        setTimeout(() => process.exit(1), 100).unref();
      });
  });
}

main().catch((err: unknown) => {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100).unref();
});
