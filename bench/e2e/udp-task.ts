/**
 * One piscina task of the UDP load client: `sockets` `node:dgram` sockets, each keeping `window`
 * checksum-framed datagrams outstanding to the server (a new one for every valid reply). UDP may
 * lose packets: a socket with datagrams outstanding that has heard nothing for `lossTimeoutMs`
 * writes them off as lost and sends a fresh window. Counts replies in the measured part of the run.
 *
 * Thread: piscina worker threads of the udp-client process (never blocks).
 * @module
 */
import dgram from 'node:dgram';
import { udpChecksum } from '../../src/index.js';
import { threadCpuUs } from '../lib/thread-cpu.js';
import { waitAsync } from '../lib/wait-async.js';

export const UdpWord = { READY: 0, GO: 1 } as const;

export interface UdpTaskInit {
  port: number;
  sockets: number;
  window: number;
  payloadBytes: number;
  warmupMs: number;
  measureMs: number;
  lossTimeoutMs: number;
  sync: SharedArrayBuffer;
}

export interface UdpTaskResult {
  sent: number;
  received: number;
  measuredReceived: number;
  lost: number;
  badReplies: number;
  cpuUs: number;
  errors: string[];
}

export default async function udpTask(t: UdpTaskInit): Promise<UdpTaskResult> {
  const sync = new Int32Array(t.sync);
  const errors: string[] = [];
  let sent = 0;
  let received = 0;
  let measuredReceived = 0;
  let lost = 0;
  let badReplies = 0;
  let measuring = false;
  let running = false;
  const socks: Array<{ s: dgram.Socket; outstanding: number; lastHeard: number; seq: number }> = [];
  const frame = (seq: number, idx: number): Buffer => {
    const b = Buffer.allocUnsafe(2 + t.payloadBytes);
    b.writeUInt32LE(seq, 2);
    b.writeUInt32LE(idx, 6);
    b.fill(0x5a, 10);
    const sum = udpChecksum(b.subarray(2));
    b[0] = sum & 0xff;
    b[1] = sum >>> 8;
    return b;
  };
  const fire = (i: number, n: number): void => {
    const x = socks[i]!;
    for (let j = 0; j < n; j++) x.s.send(frame(x.seq++, i), t.port, '127.0.0.1');
    x.outstanding += n;
    sent += n;
  };
  for (let i = 0; i < t.sockets; i++) {
    const s = dgram.createSocket('udp4');
    const x = { s, outstanding: 0, lastHeard: 0, seq: 0 };
    socks.push(x);
    s.on('error', (err) => {
      if (errors.length < 5) errors.push(err.message);
    });
    s.on('message', (msg) => {
      if (msg.length !== 2 + t.payloadBytes || udpChecksum(msg.subarray(2)) !== (msg[0]! | (msg[1]! << 8))) {
        badReplies++;
        return;
      }
      received++;
      if (measuring) measuredReceived++;
      x.lastHeard = performance.now();
      if (x.outstanding > 0) x.outstanding--;
      if (running) fire(i, 1);
    });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  }
  Atomics.add(sync, UdpWord.READY, 1);
  Atomics.notify(sync, UdpWord.READY);
  await waitAsync(sync, UdpWord.GO, 0, 30_000);
  const cpu0 = threadCpuUs();
  running = true;
  const start = performance.now();
  for (let i = 0; i < socks.length; i++) {
    socks[i]!.lastHeard = start;
    fire(i, t.window);
  }
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (let i = 0; i < socks.length; i++) {
      const x = socks[i]!;
      if (x.outstanding > 0 && now - x.lastHeard > t.lossTimeoutMs) {
        lost += x.outstanding;
        x.outstanding = 0;
        x.lastHeard = now;
        fire(i, t.window);
      }
    }
  }, 10);
  await new Promise((r) => setTimeout(r, t.warmupMs));
  measuring = true;
  await new Promise((r) => setTimeout(r, t.measureMs));
  measuring = false;
  running = false;
  clearInterval(watchdog);
  await new Promise((r) => setTimeout(r, 50));
  const cpuUs = threadCpuUs() - cpu0;
  for (const x of socks) x.s.close();
  return { sent, received, measuredReceived, lost, badReplies, cpuUs, errors };
}
