/**
 * The UDP echo server of the `udp` workload, in its own process. Both kinds do the same work per
 * datagram: check Panda's 2-byte additive checksum (spec §6.2) and drop a bad packet, then send the
 * payload back to its sender with a freshly computed checksum.
 *
 * - `baseline`: a plain `node:dgram` socket on the main thread (`message` event, checksum check,
 *   a new Buffer with the checksum, `socket.send` to the sender).
 * - `pandanet`: `openUDPConnection('127.0.0.1', 0)` read by a QueuedConnectionReader and written by a
 *   ConnectionWriter with `threads` threads (0: polled); the checksum is checked on the I/O thread,
 *   and computed again by `writer.send(datagram, connection, address)`. The main loop is the echo
 *   server's: poll, `drainData` (up to 8,192), send each back; after 64 empty iterations sleep 1 ms.
 *
 * Commands: `start` / `stop` (a measurement window: datagrams in and out, bad packets, every
 * thread's CPU, I/O thread utilisation; `stop` then exits).
 *
 * Thread: main thread of the server process.
 * @module
 */
import dgram from 'node:dgram';
import { ConnectionWriter, Datagram, QueuedConnectionManager, QueuedConnectionReader, udpChecksum, type Connection, type NetAddress } from '../../src/index.js';
import { CpuWindow, ThreadLabels, type WindowReport } from '../lib/server-window.js';
import { guardLog } from '../lib/log-guard.js';
import { paramsFromArgv } from './protocol.js';

export interface UdpServerParams {
  server: 'baseline' | 'pandanet';
  threads: number;
}

export type UdpServerCommand = { kind: 'start' } | { kind: 'stop' };
export type UdpServerMessage =
  | { kind: 'listening'; port: number }
  | { kind: 'started' }
  | { kind: 'report'; datagramsIn: number; datagramsOut: number; badPackets: number; sendFailures: number; window: WindowReport; ioDropped: number }
  | { kind: 'error'; message: string };

const p = paramsFromArgv<UdpServerParams>();
guardLog();
const labels = new ThreadLabels();
let manager: QueuedConnectionManager | null = null;
const cpu = new CpuWindow(labels, () => manager?.getThreadStats() ?? []);
let nIn = 0;
let nOut = 0;
let bad = 0;
let sendFailures = 0;

function send(m: UdpServerMessage): void {
  process.send?.(m);
}

function baseline(): Promise<number> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    nIn++;
    if (msg.length < 2) {
      bad++;
      return;
    }
    const payload = msg.subarray(2);
    if (udpChecksum(payload) !== (msg[0]! | (msg[1]! << 8))) {
      bad++;
      return;
    }
    const reply = Buffer.allocUnsafe(msg.length);
    const sum = udpChecksum(payload);
    reply[0] = sum & 0xff;
    reply[1] = sum >>> 8;
    payload.copy(reply, 2);
    sock.send(reply, rinfo.port, rinfo.address);
    nOut++;
  });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve(sock.address().port));
  });
}

function pandanet(): number {
  labels.markBefore();
  const mgr = new QueuedConnectionManager();
  manager = mgr;
  const reader = new QueuedConnectionReader(mgr, p.threads);
  const writer = new ConnectionWriter(mgr, p.threads);
  writer.setMaxQueueSize(Math.max(writer.getMaxQueueSize(), 100_000));
  const udp = mgr.openUDPConnection('127.0.0.1', 0);
  if (udp === null) throw new Error(`openUDPConnection failed: ${mgr.getLastError()?.message ?? 'unknown'}`);
  reader.addConnection(udp);
  labels.markAfter(Math.max(1, p.threads));
  const out = new Datagram();
  const visit = (conn: Connection, data: Uint8Array, offset: number, length: number, address: NetAddress | null): void => {
    nIn++;
    out.clear();
    out.appendData(data.subarray(offset, offset + length));
    if (address !== null && writer.send(out, conn, address)) nOut++;
    else sendFailures++;
  };
  let idle = 0;
  const iterate = (): void => {
    reader.poll();
    const k = reader.drainData(visit, 8192);
    if (k > 0) {
      idle = 0;
      setImmediate(iterate);
    } else if (++idle >= 64) {
      idle = 0;
      setTimeout(iterate, 1);
    } else setImmediate(iterate);
  };
  setImmediate(iterate);
  return udp.getLocalAddress().getPort();
}

let base = { nIn: 0, nOut: 0, bad: 0, sendFailures: 0, ioDropped: 0 };
const ioDropped = (): number => (manager?.getThreadStats() ?? []).reduce((s, t) => s + t.udpDropped, 0);

process.on('message', (m: UdpServerCommand) => {
  switch (m.kind) {
    case 'start':
      base = { nIn, nOut, bad, sendFailures, ioDropped: ioDropped() };
      cpu.begin();
      send({ kind: 'started' });
      return;
    case 'stop': {
      const window = cpu.end();
      send({ kind: 'report', datagramsIn: nIn - base.nIn, datagramsOut: nOut - base.nOut, badPackets: bad - base.bad, sendFailures: sendFailures - base.sendFailures, window, ioDropped: ioDropped() - base.ioDropped });
      manager?.shutdown();
      process.disconnect?.();
      setTimeout(() => process.exit(0), 200);
      return;
    }
    default:
      send({ kind: 'error', message: `unknown command ${JSON.stringify(m)}` });
  }
});

process.on('uncaughtException', (err) => {
  send({ kind: 'error', message: err.stack ?? err.message });
  setTimeout(() => process.exit(1), 100);
});

try {
  const port = p.server === 'baseline' ? await baseline() : pandanet();
  send({ kind: 'listening', port });
} catch (err) {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100);
}
