/**
 * The WebSocket echo workload (issue 17): `ws` clients in another process (100 connections × 64-byte
 * binary messages, 32 in flight per connection) against pandanet's WebSocket rendezvous (1 and 2 I/O
 * threads, `drainData`) and against a plain single-threaded `ws` server doing the same work (0 and 2 µs
 * of fixed computation per datagram, `bench/e2e/work.ts`, the echo workload's). Every configuration runs in
 * every round, in a rotating order; ratio = pandanet / the `ws` server of the same round and work.
 *
 * One run = a fresh server process and a fresh client process, bounded by a hard timeout (both are
 * killed and the run is recorded as failed). Reports datagrams/s (echoes completed / time from "go"
 * to the last echo), medians and ranges over the rounds.
 *
 * This file is also the two child processes (`--ws-echo-role=server|client` and a JSON of parameters).
 *
 * Thread: main thread of each process.
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { ConnectionWriter, Datagram, NetAddress, PointerToConnection, QueuedConnectionListener, QueuedConnectionManager, QueuedConnectionReader, type Connection } from '../../src/index.js';
import { markdownHeader, resultBase, resultHeader, saveResult } from '../lib/report.js';
import { round, spread, type Spread } from '../lib/stats.js';
import { SimulatedWork, workIterations } from './work.js';

/** Options of the WebSocket echo workload. */
export interface WsEchoOptions {
  runs: number;
  connections: number;
  perConnection: number;
  inFlight: number;
  payloadBytes: number;
  /** pandanet I/O thread counts. */
  threads: number[];
  /** Simulated work per datagram, µs. */
  workUs: number[];
  /** Hard limit per run, ms. */
  timeoutMs: number;
  quick: boolean;
  save: boolean;
}

/** Defaults: the issue's workload. */
export const WS_ECHO_DEFAULTS: WsEchoOptions = { runs: 3, connections: 100, perConnection: 2000, inFlight: 32, payloadBytes: 64, threads: [1, 2], workUs: [0, 2], timeoutMs: 120_000, quick: false, save: true };
/** `--quick`: a smoke test. */
export const WS_ECHO_QUICK: Partial<WsEchoOptions> = { runs: 1, perConnection: 200, timeoutMs: 60_000 };

const ROLE = '--ws-echo-role=';

interface ServerParams {
  /** 'ws': the plain `ws` server; a number: pandanet with that many I/O threads. */
  server: 'ws' | number;
  workUs: number;
  /** xorshift steps per call of the work (bench/e2e/work.ts), calibrated once by the parent: the same for every server. */
  workIterations: number;
}
interface ClientParams {
  port: number;
  connections: number;
  perConnection: number;
  inFlight: number;
  payloadBytes: number;
}
type ChildMessage = { kind: 'listening'; port: number } | { kind: 'ready' } | { kind: 'result'; datagrams: number; elapsedMs: number } | { kind: 'error'; message: string };

// ---- server child ---------------------------------------------------------------------------

function runServer(p: ServerParams): void {
  const work = new SimulatedWork(p.workUs, p.workIterations);
  if (p.server === 'ws') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 1024, perMessageDeflate: false, clientTracking: false }, () => {
      send({ kind: 'listening', port: (wss.address() as { port: number }).port });
    });
    wss.on('connection', (ws) => {
      ws.on('message', (data: Buffer) => {
        work.run();
        ws.send(data, { binary: true });
      });
    });
    return;
  }
  const n = p.server;
  const mgr = new QueuedConnectionManager();
  const listener = new QueuedConnectionListener(mgr, n);
  const reader = new QueuedConnectionReader(mgr, n);
  const writer = new ConnectionWriter(mgr, n);
  writer.setMaxQueueSize(Math.max(writer.getMaxQueueSize(), 1_000_000));
  const rv = mgr.openWebSocketServerRendezvous('127.0.0.1', 0, 1024, { pingIntervalMs: 0 });
  if (rv === null) throw new Error(`openWebSocketServerRendezvous failed: ${mgr.getLastError()?.message ?? 'unknown'}`);
  listener.addConnection(rv);
  const rvPtr = new PointerToConnection();
  const address = new NetAddress();
  const newPtr = new PointerToConnection();
  const out = new Datagram();
  const visit = (conn: Connection, data: Uint8Array, offset: number, length: number): void => {
    work.run();
    out.clear();
    out.appendData(data, offset, length);
    writer.send(out, conn);
  };
  const loop = async (): Promise<void> => {
    for (;;) {
      while (listener.newConnectionAvailable() && listener.getNewConnection(rvPtr, address, newPtr)) reader.addConnection(newPtr.p()!);
      reader.poll();
      const k = reader.drainData(visit, 4096);
      while (mgr.resetConnectionAvailable()) mgr.getResetConnection();
      if (k === 0) await reader.waitForDataAsync(1);
      else await new Promise<void>((r) => setImmediate(r));
    }
  };
  send({ kind: 'listening', port: rv.getLocalAddress().getPort() });
  void loop();
}

// ---- client child ---------------------------------------------------------------------------

function runClient(p: ClientParams): void {
  const payload = Buffer.alloc(p.payloadBytes, 7);
  const clients: WebSocket[] = [];
  let opened = 0;
  let done = 0;
  let t0 = 0;
  for (let i = 0; i < p.connections; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/`, { perMessageDeflate: false });
    clients.push(ws);
    let sent = 0;
    let got = 0;
    ws.on('open', () => {
      if (++opened === p.connections) send({ kind: 'ready' });
    });
    ws.on('message', () => {
      got++;
      if (sent < p.perConnection) {
        ws.send(payload);
        sent++;
      }
      if (got === p.perConnection && ++done === p.connections) {
        send({ kind: 'result', datagrams: p.connections * p.perConnection, elapsedMs: performance.now() - t0 });
      }
    });
    ws.on('error', (err) => send({ kind: 'error', message: err.message }));
    (ws as WebSocket & { start?: () => void }).start = () => {
      for (; sent < Math.min(p.inFlight, p.perConnection); sent++) ws.send(payload);
    };
  }
  process.on('message', (m: { kind: string }) => {
    if (m.kind !== 'go') return;
    t0 = performance.now();
    for (const ws of clients) (ws as WebSocket & { start: () => void }).start();
  });
}

function send(m: ChildMessage): void {
  process.send?.(m);
}

// ---- orchestrator ---------------------------------------------------------------------------

/** One measured run. */
export interface WsEchoRun {
  round: number;
  /** 'ws' or 'pandanet tN'. */
  config: string;
  workUs: number;
  ok: boolean;
  datagramsPerSec: number;
  error?: string;
}

function child(role: 'server' | 'client', params: ServerParams | ClientParams): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [`${ROLE}${role}`, JSON.stringify(params)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function next(c: ChildProcess, kind: ChildMessage['kind']): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: ChildMessage): void => {
      if (m.kind === kind || m.kind === 'error') {
        c.off('message', onMessage);
        if (m.kind === 'error') reject(new Error(m.message));
        else resolve(m);
      }
    };
    c.on('message', onMessage);
    c.once('exit', (code) => reject(new Error(`child exited (${String(code)}) before '${kind}'`)));
  });
}

async function measure(o: WsEchoOptions, server: ServerParams): Promise<number> {
  const kids: ChildProcess[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const run = async (): Promise<number> => {
      const s = child('server', server);
      kids.push(s);
      const { port } = (await next(s, 'listening')) as { port: number };
      const c = child('client', { port, connections: o.connections, perConnection: o.perConnection, inFlight: o.inFlight, payloadBytes: o.payloadBytes });
      kids.push(c);
      await next(c, 'ready');
      const result = next(c, 'result');
      c.send({ kind: 'go' });
      const r = (await result) as { datagrams: number; elapsedMs: number };
      return r.datagrams / (r.elapsedMs / 1000);
    };
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`run timed out after ${o.timeoutMs} ms`)), o.timeoutMs);
    });
    return await Promise.race([run(), timeout]);
  } finally {
    clearTimeout(timer);
    for (const k of kids) k.kill('SIGKILL');
  }
}

/** Configurations of one round, rotated by `round` so that no configuration always runs first. */
function configs(o: WsEchoOptions, roundIndex: number, iterations: ReadonlyMap<number, number>): Array<{ config: string; server: ServerParams }> {
  const all = o.workUs.flatMap((workUs) => {
    const workIterations = iterations.get(workUs) ?? 0;
    return [{ config: 'ws', server: { server: 'ws' as const, workUs, workIterations } }, ...o.threads.map((t) => ({ config: `pandanet t${t}`, server: { server: t, workUs, workIterations } }))];
  });
  const k = roundIndex % all.length;
  return [...all.slice(k), ...all.slice(0, k)];
}

/** Summary of one configuration over the rounds. */
export interface WsEchoSummary {
  config: string;
  workUs: number;
  datagramsPerSec: Spread;
  /** pandanet / ws of the same round and work. */
  ratio: Spread | null;
  failedRuns: number;
}

/** Runs the workload; prints a Markdown table; saves JSON and Markdown unless `save` is false. */
export async function runWsEcho(opts: Partial<WsEchoOptions>): Promise<{ runs: WsEchoRun[]; summary: WsEchoSummary[] }> {
  const o: WsEchoOptions = { ...WS_ECHO_DEFAULTS, ...(opts.quick === true ? WS_ECHO_QUICK : {}), ...opts };
  const header = resultHeader('ws-echo');
  const runs: WsEchoRun[] = [];
  const iterations = new Map(o.workUs.map((w) => [w, workIterations(w)]));
  for (let r = 0; r < o.runs; r++) {
    for (const { config, server } of configs(o, r, iterations)) {
      try {
        const dps = await measure(o, server);
        runs.push({ round: r, config, workUs: server.workUs, ok: true, datagramsPerSec: dps });
        console.error(`ws-echo round ${r + 1}/${o.runs}: ${config}, ${server.workUs} µs: ${Math.round(dps).toLocaleString('en-US')} datagrams/s`);
      } catch (err) {
        runs.push({ round: r, config, workUs: server.workUs, ok: false, datagramsPerSec: Number.NaN, error: err instanceof Error ? err.message : String(err) });
        console.error(`ws-echo round ${r + 1}/${o.runs}: ${config}, ${server.workUs} µs: FAILED (${String(err)})`);
      }
    }
  }
  const summary: WsEchoSummary[] = [];
  for (const workUs of o.workUs) {
    for (const config of ['ws', ...o.threads.map((t) => `pandanet t${t}`)]) {
      const mine = runs.filter((x) => x.config === config && x.workUs === workUs);
      const ratios =
        config === 'ws'
          ? null
          : spread(
              mine.filter((x) => x.ok).map((x) => x.datagramsPerSec / (runs.find((b) => b.config === 'ws' && b.workUs === workUs && b.round === x.round && b.ok)?.datagramsPerSec ?? Number.NaN)),
            );
      summary.push({ config, workUs, datagramsPerSec: spread(mine.filter((x) => x.ok).map((x) => x.datagramsPerSec)), ratio: ratios, failedRuns: mine.filter((x) => !x.ok).length });
    }
  }
  const k = (x: number): string => (Number.isFinite(x) ? `${Math.round(x / 1000).toLocaleString('en-US')}k` : '–');
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
  const lines = [
    markdownHeader('WebSocket echo', header, [
      `${o.connections} connections × ${o.perConnection} datagrams of ${o.payloadBytes} bytes, ${o.inFlight} in flight; ${o.runs} round(s); client: \`ws\` in its own process; pandanet: drainData`,
      'ratio = pandanet / the plain `ws` server of the same round and work (median, min–max)',
    ]),
    '| server | work per datagram | datagrams/s (median, min–max) | × ws | failed runs |',
    '|---|---|---|---|---|',
    ...summary.map((s) => `| ${s.config} | ${s.workUs} µs | ${k(s.datagramsPerSec.median)} (${k(s.datagramsPerSec.min)}–${k(s.datagramsPerSec.max)}) | ${s.ratio === null ? '1' : `**${f(s.ratio.median)}** (${f(s.ratio.min)}–${f(s.ratio.max)})`} | ${s.failedRuns} |`),
  ];
  const markdown = lines.join('\n');
  console.log(markdown);
  if (o.save) {
    const json = { ...header, options: o, runs: runs.map((x) => ({ ...x, datagramsPerSec: round(x.datagramsPerSec, 0) })), summary };
    for (const path of saveResult(resultBase('ws-echo', header.date, o.quick), json, markdown)) console.error(`wrote ${path}`);
  }
  return { runs, summary };
}

const role = process.argv.find((a) => a.startsWith(ROLE))?.slice(ROLE.length);
if (role !== undefined) {
  const params = JSON.parse(process.argv[process.argv.indexOf(`${ROLE}${role}`) + 1] ?? '{}') as ServerParams & ClientParams;
  try {
    if (role === 'server') runServer(params);
    else runClient(params);
  } catch (err) {
    send({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
    process.exitCode = 1;
  }
}
