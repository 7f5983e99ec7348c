/**
 * The connection-scale server of the `scale` workload, in its own process (run with
 * `--expose-gc`). Holds idle TCP connections and measures what they cost.
 *
 * - `baseline`: a plain `node:net` server; sockets just sit there (data would be counted).
 * - `pandanet`: QueuedConnectionManager/Listener/Reader/ConnectionWriter with `threads` threads and
 *   a game server's main loop: 60 frames a second, each checking for new connections, resets and
 *   data (`poll` + `drainData`). That loop is part of the idle cost, as it would be in a game.
 *
 * Commands: `memory` (GC every isolate, report JS memory of all isolates and RSS: bench/lib/heap.ts),
 * `idle` (a CPU window of `ms` with nothing sent: every thread's CPU, labelled), `exit`.
 *
 * Thread: main thread of the server process.
 * @module
 */
import net from 'node:net';
import { ConnectionWriter, NetAddress, PointerToConnection, QueuedConnectionListener, QueuedConnectionManager, QueuedConnectionReader } from '../../src/index.js';
import { measureProcessMemory, type ProcessMemory } from '../lib/heap.js';
import { CpuWindow, ThreadLabels, type WindowReport } from '../lib/server-window.js';
import { guardLog } from '../lib/log-guard.js';
import { paramsFromArgv } from './protocol.js';

export interface ScaleServerParams {
  server: 'baseline' | 'pandanet';
  threads: number;
  frameHz: number;
}

export type ScaleServerCommand = { kind: 'memory' } | { kind: 'wait'; connections: number; timeoutMs: number } | { kind: 'idle'; ms: number } | { kind: 'exit' };

export type ScaleServerMessage =
  | { kind: 'listening'; port: number }
  | { kind: 'memory'; connections: number; memory: ProcessMemory }
  | { kind: 'connections'; connections: number; ms: number }
  | { kind: 'idle'; connections: number; window: WindowReport; frames: number; datagrams: number; resets: number; frameBusyUs: number }
  | { kind: 'error'; message: string };

const p = paramsFromArgv<ScaleServerParams>();
guardLog();
const labels = new ThreadLabels();
let manager: QueuedConnectionManager | null = null;
const cpu = new CpuWindow(labels, () => manager?.getThreadStats() ?? []);
let connections = 0;
let datagrams = 0;
let resets = 0;
let frames = 0;
/** Wall time spent inside the frame loop's callback (the pandanet calls), µs. */
let frameBusyUs = 0;
/** Keeps the writer alive (a game server has one). */
let writerRef: ConnectionWriter | null = null;

function send(m: ScaleServerMessage): void {
  process.send?.(m);
}

function baseline(): Promise<number> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    socks.add(sock);
    connections = socks.size;
    sock.on('data', () => datagrams++);
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      socks.delete(sock);
      resets++;
      connections = socks.size;
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function pandanet(): number {
  labels.markBefore();
  const mgr = new QueuedConnectionManager();
  manager = mgr;
  const listener = new QueuedConnectionListener(mgr, p.threads);
  const reader = new QueuedConnectionReader(mgr, p.threads);
  writerRef = new ConnectionWriter(mgr, p.threads);
  const rv = mgr.openTCPServerRendezvous('127.0.0.1', 0, 4096);
  if (rv === null) throw new Error(`openTCPServerRendezvous failed: ${mgr.getLastError()?.message ?? 'unknown'}`);
  listener.addConnection(rv);
  labels.markAfter(Math.max(1, p.threads));
  const rvPtr = new PointerToConnection();
  const addr = new NetAddress();
  const newPtr = new PointerToConnection();
  const resetPtr = new PointerToConnection();
  const visit = (): void => {
    datagrams++;
  };
  setInterval(() => {
    const f0 = performance.now();
    frames++;
    if (listener.newConnectionAvailable()) {
      while (listener.getNewConnection(rvPtr, addr, newPtr)) {
        const c = newPtr.p();
        if (c !== null && reader.addConnection(c)) connections++;
      }
    }
    if (mgr.resetConnectionAvailable()) {
      while (mgr.getResetConnection(resetPtr)) {
        resets++;
        connections--;
      }
    }
    reader.poll();
    reader.drainData(visit, 8192);
    frameBusyUs += (performance.now() - f0) * 1000;
  }, 1000 / p.frameHz);
  return rv.getLocalAddress().getPort();
}

process.on('message', (m: ScaleServerCommand) => {
  const fail = (err: unknown): void => send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  switch (m.kind) {
    case 'memory':
      measureProcessMemory().then((memory) => send({ kind: 'memory', connections, memory }), fail);
      return;
    case 'wait': {
      const t0 = performance.now();
      const check = (): void => {
        if (connections >= m.connections || performance.now() - t0 > m.timeoutMs) send({ kind: 'connections', connections, ms: performance.now() - t0 });
        else setTimeout(check, 10);
      };
      check();
      return;
    }
    case 'idle': {
      const f0 = frames;
      const d0 = datagrams;
      const r0 = resets;
      const b0 = frameBusyUs;
      cpu.begin();
      setTimeout(() => send({ kind: 'idle', connections, window: cpu.end(), frames: frames - f0, datagrams: datagrams - d0, resets: resets - r0, frameBusyUs: frameBusyUs - b0 }), m.ms);
      return;
    }
    case 'exit':
      manager?.shutdown();
      process.disconnect?.();
      setTimeout(() => process.exit(0), 200);
      return;
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
  void writerRef;
  send({ kind: 'listening', port });
} catch (err) {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100);
}
