/**
 * Would `reusePort` pay for UDP (issue 20)? A plain `node:dgram` echo — no pandanet — on one socket in
 * one worker thread, against two `reusePort` sockets on one port in two worker threads; 16 clients
 * (each its own socket, so the kernel can spread them), 8 datagrams of 64 bytes in flight each, in a
 * child process. This is the ceiling of what several receiving threads could give a pandanet UDP
 * connection on this machine: if raw `dgram` does not gain, pandanet (whose main thread handles every
 * datagram) cannot.
 *
 * `node build/bench/e2e/udp-reuse-port.js [rounds=3] [ms=3000]`, on a Node that has `reusePort` for
 * dgram (≥ 22.12 / 23.1, Linux). Prints echoes/s and server process CPU per echo for each round,
 * configurations alternating, then the medians. Not part of `npm run bench` (a one-off question).
 *
 * Thread: main thread (the server's sockets live on worker threads; the clients in a child process).
 * @module
 */
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { spread } from '../lib/stats.js';

interface ClientParams {
  port: number;
  clients: number;
  window: number;
  ms: number;
}

const WORKER = `
const dgram = require('node:dgram');
const { parentPort, workerData } = require('node:worker_threads');
const s = dgram.createSocket({ type: 'udp4', reusePort: workerData.reusePort });
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(workerData.port, '127.0.0.1', () => parentPort.postMessage(s.address().port));
`;

function client(p: ClientParams): void {
  let echoes = 0;
  const payload = Buffer.alloc(64);
  const sockets: dgram.Socket[] = [];
  for (let i = 0; i < p.clients; i++) {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    s.on('message', () => {
      echoes++;
      s.send(payload, p.port, '127.0.0.1');
    });
    s.bind(0, '127.0.0.1', () => {
      for (let k = 0; k < p.window; k++) s.send(payload, p.port, '127.0.0.1');
    });
  }
  // 0.5 s of warm-up, then the window.
  setTimeout(() => {
    const e0 = echoes;
    const t0 = performance.now();
    process.send?.({ kind: 'start' });
    setTimeout(() => {
      const rate = (echoes - e0) / ((performance.now() - t0) / 1000);
      process.send?.({ kind: 'done', rate, echoes: echoes - e0 }, () => process.exit(0));
    }, p.ms);
  }, 500);
}

async function server(threads: number, ms: number): Promise<{ rate: number; cpuUsPerEcho: number }> {
  const workers: Worker[] = [];
  const open = (port: number): Promise<number> => {
    const w = new Worker(WORKER, { eval: true, workerData: { port, reusePort: threads > 1 } });
    workers.push(w);
    return new Promise((resolve) => w.once('message', resolve));
  };
  const port = await open(0);
  for (let i = 1; i < threads; i++) await open(port);
  const c = fork(fileURLToPath(import.meta.url), ['client', JSON.stringify({ port, clients: 16, window: 8, ms } satisfies ClientParams)]);
  let cpu0 = process.cpuUsage();
  const done = await new Promise<{ rate: number; echoes: number }>((resolve) => {
    c.on('message', (m: { kind: string; rate?: number; echoes?: number }) => {
      if (m.kind === 'start') cpu0 = process.cpuUsage();
      else if (m.kind === 'done') resolve({ rate: m.rate ?? 0, echoes: m.echoes ?? 0 });
    });
  });
  const cpu = process.cpuUsage(cpu0);
  for (const w of workers) void w.terminate();
  return { rate: done.rate, cpuUsPerEcho: (cpu.user + cpu.system) / Math.max(1, done.echoes) };
}

if (process.argv[2] === 'client') client(JSON.parse(process.argv[3] ?? '{}') as ClientParams);
else {
  const rounds = Number(process.argv[2] ?? 3);
  const ms = Number(process.argv[3] ?? 3000);
  const results = new Map<number, Array<{ rate: number; cpuUsPerEcho: number }>>([
    [1, []],
    [2, []],
  ]);
  for (let r = 0; r < rounds; r++) {
    for (const threads of r % 2 === 0 ? [1, 2] : [2, 1]) {
      const x = await server(threads, ms);
      results.get(threads)!.push(x);
      console.log(`round ${r}: ${threads} socket(s) on ${threads} thread(s): ${Math.round(x.rate)} echoes/s, ${x.cpuUsPerEcho.toFixed(2)} µs server CPU per echo`);
    }
  }
  for (const [threads, xs] of results) {
    const rate = spread(xs.map((x) => x.rate));
    const cpu = spread(xs.map((x) => x.cpuUsPerEcho));
    console.log(`${threads} thread(s), Node ${process.version}: ${Math.round(rate.median)} echoes/s (${Math.round(rate.min)}–${Math.round(rate.max)}), ${cpu.median.toFixed(2)} µs CPU per echo (${cpu.min.toFixed(2)}–${cpu.max.toFixed(2)})`);
  }
}
