/**
 * Issue 15's "a flood from one participant while others route (the others keep their latency)":
 * round trips of a ping-pong pair through one `pandanet md` process, alone and while a third
 * participant floods a fourth (a sink that reads everything), for each thread count. Every process is
 * separate: the director (the CLI), the flooder (a child of this script), and the pair and the sink
 * (this process). Bounded: a fixed number of pings per phase, a fixed flood size, a hard deadline.
 *
 * `node build/bench/e2e/md-flood.js [--threads 0,1,2] [--pings 2000] [--flood 2000000]`; prints a
 * Markdown table (p50 / p99 / max round trip, flood rate) and the ratio flood/quiet of p50 and p99.
 *
 * Thread: main thread.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PyDatagram, mdControlDatagram, type MdControl } from '../../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '..', '..', '..', 'dist', 'app', 'cli.js');
const DEADLINE_MS = 120_000;

/** One datagram framed with Panda's 2-byte length prefix. */
function frame(bytes: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(2 + bytes.length);
  b.writeUInt16LE(bytes.length, 0);
  b.set(bytes, 2);
  return b;
}

const ctl = (m: MdControl): Buffer => frame(mdControlDatagram(m).getMessage());

function dg(to: number, from: number, type: number, seq: number): Buffer {
  const d = new PyDatagram();
  d.addServerHeader(to, from, type);
  d.addUint32(seq);
  return frame(d.getMessage());
}

/** A raw participant: counts frames and hands each to `onFrame`. */
async function participant(port: number, onFrame: (body: Buffer) => void): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  let buf: Buffer = Buffer.alloc(0);
  s.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let at = 0;
    while (buf.length - at >= 2) {
      const n = buf.readUInt16LE(at);
      if (buf.length - at < 2 + n) break;
      onFrame(buf.subarray(at + 2, at + 2 + n));
      at += 2 + n;
    }
    buf = buf.subarray(at);
  });
  return s;
}

async function startMd(threads: number): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [CLI, 'md', '--listen', '127.0.0.1:0', '--threads', String(threads)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /md listening on [^:]+:(\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`md exited (${code}) before listening: ${out}`)));
  });
  return { proc, port };
}

/** The flooder: a child process that connects and writes `count` datagrams to channel 30 as fast as TCP lets it. */
function startFlooder(port: number, count: number): ChildProcess {
  const code = `
    const net = require('node:net');
    const s = net.connect(${port}, '127.0.0.1', () => {
      const one = Buffer.alloc(2 + 1 + 8 + 8 + 2 + 4);
      one.writeUInt16LE(one.length - 2, 0); one[2] = 1; one.writeBigUInt64LE(30n, 3); one.writeBigUInt64LE(3n, 11); one.writeUInt16LE(7, 19);
      const batch = Buffer.concat(Array.from({ length: 256 }, () => one));
      let sent = 0;
      const pump = () => { while (sent < ${count}) { sent += 256; if (!s.write(batch)) return s.once('drain', pump); } s.end(); };
      pump();
    });
    s.on('error', () => process.exit(0));
    s.on('close', () => process.exit(0));`;
  return spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
}

interface Phase {
  p50: number;
  p99: number;
  max: number;
}

/** `pings` sequential round trips P → Q → P through the director, in ms. */
async function pingPong(p: net.Socket, q: net.Socket, state: { onPong: ((seq: number) => void) | null }, pings: number): Promise<Phase> {
  const rtt: number[] = [];
  for (let i = 0; i < pings; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ping ${i} lost`)), 10_000);
      state.onPong = (seq) => {
        if (seq !== i) return;
        clearTimeout(timer);
        state.onPong = null;
        resolve();
      };
      p.write(dg(20, 10, 1, i));
    });
    rtt.push(performance.now() - t0);
  }
  rtt.sort((a, b) => a - b);
  const at = (quantile: number): number => rtt[Math.min(rtt.length - 1, Math.ceil(quantile * rtt.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99), max: rtt[rtt.length - 1]! };
}

async function measure(threads: number, pings: number, flood: number): Promise<{ quiet: Phase; flooded: Phase; floodRate: number; sunk: number }> {
  const md = await startMd(threads);
  try {
    const state: { onPong: ((seq: number) => void) | null } = { onPong: null };
    const p = await participant(md.port, (b) => state.onPong?.(b.readUInt32LE(b.length - 4)));
    const q: net.Socket = await participant(md.port, (b) => q.write(dg(10, 20, 2, b.readUInt32LE(b.length - 4))));
    let sunk = 0;
    const sink = await participant(md.port, () => sunk++);
    p.write(ctl({ kind: 'addChannel', channel: 10 }));
    q.write(ctl({ kind: 'addChannel', channel: 20 }));
    sink.write(ctl({ kind: 'addChannel', channel: 30 }));
    // Subscriptions travel on three sockets: probe (one every 5 ms, at most 10 s) until a round trip works.
    await new Promise<void>((resolve, reject) => {
      const started = performance.now();
      state.onPong = (seq) => {
        if (seq !== 0xffff_ffff) return;
        clearInterval(probe);
        state.onPong = null;
        resolve();
      };
      const probe = setInterval(() => {
        if (performance.now() - started > 10_000) {
          clearInterval(probe);
          reject(new Error('no round trip through the director within 10 s'));
        } else p.write(dg(20, 10, 1, 0xffff_ffff));
      }, 5);
    });
    await pingPong(p, q, state, 200);
    const quiet = await pingPong(p, q, state, pings);
    const flooder = startFlooder(md.port, flood);
    const t0 = performance.now();
    const sunkBefore = sunk;
    // Let the flood reach full speed before measuring.
    while (sunk - sunkBefore < Math.min(flood / 10, 100_000) && performance.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
    const t1 = performance.now();
    const s1 = sunk;
    const flooded = await pingPong(p, q, state, pings);
    const floodRate = ((sunk - s1) / (performance.now() - t1)) * 1000;
    flooder.kill('SIGKILL');
    for (const s of [p, q, sink]) {
      s.on('error', () => undefined); // the director goes next: a late write may meet EPIPE
      s.destroy();
    }
    return { quiet, flooded, floodRate, sunk };
  } finally {
    md.proc.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { threads: { type: 'string', default: '0,1,2' }, pings: { type: 'string', default: '2000' }, flood: { type: 'string', default: '4000000' } } });
  const threads = values.threads.split(',').map(Number);
  const pings = Number(values.pings);
  const flood = Number(values.flood);
  const hard = setTimeout(() => {
    process.stderr.write('md-flood: hard deadline reached\n');
    process.exit(1);
  }, DEADLINE_MS);
  hard.unref();
  const f = (x: number): string => x.toFixed(2);
  process.stdout.write(`# md flood: ${pings} sequential round trips through one pandanet md, quiet and while another participant floods a sink\n\n`);
  process.stdout.write('| md threads | quiet p50 / p99 / max ms | during flood p50 / p99 / max ms | flood/quiet p50, p99 | flood datagrams/s delivered to the sink |\n|---|---|---|---|---|\n');
  for (const t of threads) {
    const r = await measure(t, pings, flood);
    process.stdout.write(`| ${t} | ${f(r.quiet.p50)} / ${f(r.quiet.p99)} / ${f(r.quiet.max)} | ${f(r.flooded.p50)} / ${f(r.flooded.p99)} / ${f(r.flooded.max)} | ${f(r.flooded.p50 / r.quiet.p50)}, ${f(r.flooded.p99 / r.quiet.p99)} | ${Math.round(r.floodRate).toLocaleString('en-US')} |\n`);
  }
}

await main();
