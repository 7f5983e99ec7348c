#!/usr/bin/env node
/**
 * The `pandanet` command (package `bin`; `npm start` runs `pandanet start`).
 *
 * ```
 * pandanet start   game server + bot swarm (separate process) + live view
 * pandanet serve   game server + live view
 * pandanet bots    bot swarm against a running server
 * pandanet echo    echo server for interop checks
 * pandanet md      Astron message director (one node, or a child in Astron's tree)
 * pandanet bench   the benchmarks (`npm run bench -- …`, from a source checkout)
 * ```
 *
 * Exit codes: 0 clean run; 1 the run failed (could not listen, the bots process crashed, no bot
 * could connect); 2 bad command line. Ctrl-C (SIGINT) or SIGTERM stops cleanly; a second Ctrl-C
 * exits at once (130).
 *
 * Thread: main thread.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
// Each sub-command loads only what it runs (`pandanet md` starts without the game server, the bots,
// or the metrics endpoint): the heavy modules are imported inside the functions that use them.
import type { BotReport } from './bots.js';
import type { BotsChild } from './bots-child.js';
import type { EchoServer } from './echo-server.js';
import type { MessageDirector } from '../md/message-director.js';
import type { MdNatsOptions } from '../md/mesh.js';
import type { GameServer } from './game-server.js';
import { LiveView, fmtBytes, fmtInt, fmtMs, formatSummary, type RunSummary } from './live-view.js';
import type { MetricsServer, PandanetMetrics } from './metrics.js';

/** A bad command line: printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type OptionSpec = { type: 'string' | 'boolean'; short?: string };
type Values = Record<string, string | boolean | undefined>;

interface Command {
  summary: string;
  help: string;
  options: Record<string, OptionSpec>;
  /** Pass every argument through untouched (bench). */
  passthrough?: boolean;
  run(values: Values, rest: string[]): Promise<number>;
}

const PROG = 'pandanet';
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// option values

function str(v: Values, name: string, def: string): string {
  const x = v[name];
  if (x === undefined) return def;
  if (typeof x !== 'string' || x === '') throw new UsageError(`--${name} needs a value`);
  return x;
}

function int(v: Values, name: string, def: number, min: number, max: number): number {
  const x = v[name];
  if (x === undefined) return def;
  if (typeof x !== 'string' || !/^\d+$/.test(x.trim())) throw new UsageError(`--${name} needs an integer ${min}..${max}, got '${String(x)}'`);
  const n = Number(x);
  if (n < min || n > max) throw new UsageError(`--${name} needs an integer ${min}..${max}, got ${n}`);
  return n;
}

function num(v: Values, name: string, def: number | undefined, min: number, max: number): number | undefined {
  const x = v[name];
  if (x === undefined) return def;
  const n = typeof x === 'string' && x.trim() !== '' ? Number(x) : Number.NaN;
  if (!Number.isFinite(n) || n <= min || n > max) throw new UsageError(`--${name} needs a number > ${min} and ≤ ${max}, got '${String(x)}'`);
  return n;
}

/** Bots connect to the wildcard address's loopback twin. */
function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

// ---------------------------------------------------------------------------------------------
// stopping

type StopReason = 'SIGINT' | 'SIGTERM' | 'duration' | 'bots';

/**
 * Resolves on the first of: SIGINT, SIGTERM, `durationS` elapsed, or `trigger` being called. A
 * second SIGINT/SIGTERM while stopping exits at once with 130.
 */
function stopSignal(durationS: number | undefined): { stopped: Promise<StopReason>; trigger(reason: StopReason): void; dispose(): void } {
  let resolve!: (r: StopReason) => void;
  const stopped = new Promise<StopReason>((r) => (resolve = r));
  let fired = false;
  const fire = (reason: StopReason): void => {
    if (fired) {
      if (reason === 'SIGINT' || reason === 'SIGTERM') {
        process.stderr.write(`${PROG}: second ${reason}, exiting now\n`);
        process.exit(130);
      }
      return;
    }
    fired = true;
    resolve(reason);
  };
  const onInt = (): void => fire('SIGINT');
  const onTerm = (): void => fire('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const timer = durationS === undefined ? null : setTimeout(() => fire('duration'), durationS * 1000);
  return {
    stopped,
    trigger: fire,
    dispose() {
      if (timer !== null) clearTimeout(timer);
      // Keep the handlers until exit, so a late Ctrl-C while shutting down still works as described.
    },
  };
}

/** After a clean stop the process should exit by itself; if something still holds it, don't hang. */
function exitSoon(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 3000).unref();
}

// ---------------------------------------------------------------------------------------------
// start / serve

interface ServeOptions {
  host: string;
  port: number;
  threads: number;
  bots: number;
  tickRate: number;
  durationS: number | undefined;
  metricsPort: number | undefined;
  metricsHost: string;
  /** WebSocket port of the game (browsers), null = off. */
  wsPort: number | null;
  /** HTTP port of the web page, null = off (needs wsPort). */
  httpPort: number | null;
  /** Of the bots, how many connect over WebSocket. */
  botsWs: number;
  plain: boolean;
  cmd: string;
}

async function runServer(o: ServeOptions): Promise<number> {
  const [{ GameServer, ListenError, WS_PATH }, { MetricsServer, PandanetMetrics }, { BotsChild }, { Sampler }] = await Promise.all([
    import('./game-server.js'),
    import('./metrics.js'),
    import('./bots-child.js'),
    import('./sampler.js'),
  ]);
  const view = new LiveView(process.stdout, { plain: o.plain });
  const startedAt = performance.now();
  let server: GameServer;
  try {
    server = GameServer.listen({ host: o.host, port: o.port, threads: o.threads, tickRate: o.tickRate, wsPort: o.wsPort });
  } catch (err) {
    process.stderr.write(`${PROG} ${o.cmd}: ${err instanceof ListenError ? err.message : String(err)}\n`);
    return 1;
  }
  const stop = stopSignal(o.durationS);
  const problems: string[] = [];
  view.pin(`${PROG}: game server listening on ${o.host}:${server.port} (${o.threads === 0 ? 'polled mode' : `${o.threads} I/O threads`}, ${o.tickRate} Hz)${o.bots > 0 ? `, starting ${o.bots} bots` : ''}`);

  let page: { close(): Promise<void> } | null = null;
  if (server.wsPort !== null) {
    view.pin(`${PROG}: browsers connect to ws://${o.host}:${server.wsPort}${WS_PATH}`);
    if (o.httpPort !== null) {
      try {
        const { startWebPage } = await import('./web/web-page.js');
        const web = await startWebPage({ host: o.host, port: o.httpPort, wsUrl: { port: server.wsPort, path: WS_PATH } });
        page = web;
        view.pin(`${PROG}: open ${web.url} to play (or ${web.url}?role=spectator to watch)`);
      } catch (err) {
        process.stderr.write(`${PROG} ${o.cmd}: could not serve the web page on ${o.host}:${o.httpPort}: ${err instanceof Error ? err.message : String(err)}\n`);
        server.stop();
        stop.dispose();
        return 1;
      }
    }
  }

  let metrics: { exporter: PandanetMetrics; http: MetricsServer } | null = null;
  if (o.metricsPort !== undefined) {
    const exporter = new PandanetMetrics();
    try {
      const http = await MetricsServer.listen(exporter, o.metricsPort, o.metricsHost);
      metrics = { exporter, http };
      view.pin(`${PROG}: Prometheus metrics on http://${o.metricsHost}:${http.port}/metrics`);
    } catch (err) {
      process.stderr.write(`${PROG} ${o.cmd}: could not serve metrics on ${o.metricsHost}:${o.metricsPort}: ${err instanceof Error ? err.message : String(err)}\n`);
      exporter.close();
      server.stop();
      stop.dispose();
      return 1;
    }
  }

  let bots: BotsChild | null = null;
  if (o.bots > 0) {
    const wsUrl = server.wsPort === null ? '' : `ws://${connectHost(o.host)}:${server.wsPort}${WS_PATH}`;
    bots = BotsChild.fork({ host: connectHost(o.host), port: server.port, bots: o.bots, wsBots: o.botsWs, wsUrl });
    bots.onUnexpectedExit((e) => {
      problems.push(`bots process exited unexpectedly (${e.signal ?? `code ${e.code}`})${e.error !== null ? `: ${e.error}` : ''}`);
      stop.trigger('bots');
    });
  }

  const sampler = new Sampler(server);
  const tick = setInterval(() => {
    const s = sampler.sample(bots?.latest ?? null);
    view.render(s);
    metrics?.exporter.update(s);
  }, 1000);

  const reason = await stop.stopped;
  stop.dispose();
  clearInterval(tick);
  view.close();
  view.note(`${PROG}: stopping (${reason === 'duration' ? `--duration ${o.durationS} s reached` : reason === 'bots' ? 'bots process ended' : reason})…`);

  let botsFinal: BotReport | null = null;
  if (bots !== null) {
    const exit = await bots.stop(5000);
    botsFinal = exit.final ?? bots.latest;
    if (exit.killed) problems.push('bots process did not stop within 5 s and was killed');
    else if (exit.crashed && reason !== 'bots') problems.push(`bots process failed (${exit.signal ?? `exit code ${exit.code}`})${exit.error !== null ? `: ${exit.error}` : ''}`);
    // The bots closed their connections: let the server see them leave.
    await server.waitForClients(0, 2000);
  }
  const last = sampler.sample(botsFinal);
  metrics?.exporter.update(last);
  const st = server.stats();
  server.stop();
  await page?.close();
  if (metrics !== null) {
    await metrics.http.close();
    metrics.exporter.close();
  }

  const summary: RunSummary = {
    durationS: (performance.now() - startedAt) / 1000,
    host: o.host,
    port: server.port,
    threads: o.threads,
    tickRate: o.tickRate,
    server: {
      ...st.counters,
      ticks: st.loop.steps,
      lateTicks: st.loop.late,
      skippedTicks: st.loop.skipped,
      datagramsIn: last.datagramsIn,
      datagramsOut: last.datagramsOut,
      bytesIn: last.bytesIn,
      bytesOut: last.bytesOut,
      resets: st.manager.resetsReported,
      overflow: last.overflow,
      dropped: last.dropped,
    },
    bots: botsFinal,
    problems,
  };
  for (const line of formatSummary(summary)) view.note(line);
  return problems.length === 0 ? 0 : 1;
}

const SERVER_OPTIONS: Record<string, OptionSpec> = {
  host: { type: 'string' },
  port: { type: 'string' },
  threads: { type: 'string' },
  'tick-rate': { type: 'string' },
  duration: { type: 'string' },
  metrics: { type: 'string' },
  'metrics-host': { type: 'string' },
  'ws-port': { type: 'string' },
  'http-port': { type: 'string' },
  plain: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const SERVER_HELP_OPTIONS = `  --host ADDR         address to listen on (default 127.0.0.1)
  --port N            TCP port; 0 picks a free one (default 9099)
  --threads N         I/O threads of the listener, reader and writer; 0 = Panda's polled mode (default 2)
  --tick-rate HZ      simulation and snapshot rate (default 20)
  --duration S        stop after S seconds (default: run until Ctrl-C)
  --metrics PORT      serve Prometheus metrics on http://127.0.0.1:PORT/metrics (default: off)
  --metrics-host ADDR address of the metrics endpoint (default 127.0.0.1)
  --ws-port N         WebSocket port for browsers (path /game); 0 picks a free one; off = none (default 9098; 0 with --port 0)
  --http-port N       the web page where a browser joins or watches; 0 picks a free one; off = none (default 8080; 0 with --port 0)
  --plain             one line per second even on a terminal (automatic when stdout is not one)
  -h, --help          show this help`;

function serveOptions(v: Values, cmd: string, bots: number): ServeOptions {
  return {
    host: str(v, 'host', '127.0.0.1'),
    port: int(v, 'port', 9099, 0, 65535),
    threads: int(v, 'threads', 2, 0, 64),
    bots,
    tickRate: num(v, 'tick-rate', 20, 0, 1000)!,
    durationS: num(v, 'duration', undefined, 0, 31 * 24 * 3600),
    metricsPort: v['metrics'] === undefined ? undefined : int(v, 'metrics', 0, 0, 65535),
    metricsHost: str(v, 'metrics-host', '127.0.0.1'),
    // With --port 0 (a free port), the WebSocket and page ports default to free ones too.
    wsPort: v['ws-port'] === 'off' ? null : int(v, 'ws-port', v['port'] === '0' ? 0 : 9098, 0, 65535),
    httpPort: v['http-port'] === 'off' || v['ws-port'] === 'off' ? null : int(v, 'http-port', v['port'] === '0' ? 0 : 8080, 0, 65535),
    botsWs: 0,
    plain: v['plain'] === true,
    cmd,
  };
}

// ---------------------------------------------------------------------------------------------
// bots

function botsLine(r: BotReport, prev: BotReport | null): string {
  const dt = prev === null ? r.elapsedMs / 1000 : Math.max(1e-3, (r.elapsedMs - prev.elapsedMs) / 1000);
  const inputs = (r.inputsSent - (prev?.inputsSent ?? 0)) / dt;
  const snaps = (r.snapshotsReceived - (prev?.snapshotsReceived ?? 0)) / dt;
  const rtt = r.rtt.count === 0 ? 'rtt - (no samples yet)' : `rtt p50 ${fmtMs(r.rtt.p50)} p99 ${fmtMs(r.rtt.p99)}`;
  return `[${Math.round(r.elapsedMs / 1000).toString().padStart(3)}s] bots ${r.connected}/${r.bots}${r.failed > 0 ? ` failed ${r.failed}` : ''} | inputs ${Math.round(inputs)}/s | snaps ${Math.round(snaps)}/s | ${rtt}`;
}

async function runBots(v: Values): Promise<number> {
  const { BotSwarm, quietConnectErrors } = await import('./bots.js');
  const host = str(v, 'host', '127.0.0.1');
  const port = int(v, 'port', 9099, 1, 65535);
  const count = int(v, 'bots', 200, 1, 100_000);
  const threads = int(v, 'threads', 1, 0, 64);
  const inputRate = num(v, 'input-rate', 20, 0, 1000)!;
  const durationS = num(v, 'duration', undefined, 0, 31 * 24 * 3600);
  quietConnectErrors();
  const swarm = new BotSwarm({ host, port, bots: count, threads, inputRate });
  const stop = stopSignal(durationS);
  process.stdout.write(`${PROG}: ${count} bots → ${host}:${port} (${inputRate} inputs/s each)\n`);
  swarm.start();
  let prev: BotReport | null = null;
  const timer = setInterval(() => {
    const r = swarm.report();
    process.stdout.write(`${botsLine(r, prev)}\n`);
    prev = r;
  }, 1000);
  const reason = await stop.stopped;
  stop.dispose();
  clearInterval(timer);
  process.stdout.write(`${PROG}: stopping (${reason === 'duration' ? `--duration ${durationS} s reached` : reason})…\n`);
  const final = swarm.stop();
  const problems = final.peakConnected === 0 ? [`no bot could connect to ${host}:${port}`] : [];
  const summary: RunSummary = { durationS: final.elapsedMs / 1000, host, port, threads, tickRate: 0, server: null, bots: final, problems };
  for (const line of formatSummary(summary).slice(1)) process.stdout.write(`${line}\n`);
  return problems.length === 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// echo

async function runEcho(v: Values): Promise<number> {
  const { EchoServer } = await import('./echo-server.js');
  const host = str(v, 'host', '127.0.0.1');
  const port = int(v, 'port', 9099, 0, 65535);
  const threads = int(v, 'threads', 1, 0, 64);
  const header = int(v, 'header-size', 2, 2, 4);
  if (header !== 2 && header !== 4) throw new UsageError(`--header-size takes 2 or 4, got ${header}`);
  const durationS = num(v, 'duration', undefined, 0, 31 * 24 * 3600);
  let server: EchoServer;
  try {
    server = new EchoServer({ host, port, threads, headerSize: header });
  } catch (err) {
    process.stderr.write(`${PROG} echo: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const stop = stopSignal(durationS);
  process.stdout.write(`${PROG}: echo server listening on ${host}:${server.port} (${header}-byte length prefix, ${threads === 0 ? 'polled mode' : `${threads} I/O thread${threads === 1 ? '' : 's'}`})\n`);
  let shown = '';
  const timer = setInterval(() => {
    const c = server.counters();
    const line = `clients ${c.clients} | joined ${c.joins} left ${c.leaves} | echoed ${fmtInt(c.echoed)} datagrams (${fmtBytes(c.bytes)})`;
    if (line !== shown) process.stdout.write(`${line}\n`);
    shown = line;
  }, 1000);
  const reason = await stop.stopped;
  stop.dispose();
  clearInterval(timer);
  server.pump(); // take whatever arrived last
  const c = server.counters();
  server.stop();
  process.stdout.write(`${PROG}: echo server stopped (${reason}); echoed ${fmtInt(c.echoed)} datagrams (${fmtBytes(c.bytes)}) for ${c.joins} clients, ${c.sendFailures} send failures\n`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// md

/** `HOST:PORT` (an IPv6 host in brackets: `[::1]:7199`). */
function hostPort(v: Values, name: string, minPort: number): { host: string; port: number } | undefined {
  const x = v[name];
  if (x === undefined) return undefined;
  if (typeof x !== 'string' || x === '') throw new UsageError(`--${name} needs HOST:PORT`);
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(x.trim());
  if (m === null) throw new UsageError(`--${name} needs HOST:PORT, got '${x}'`);
  const port = Number(m[3]);
  if (port < minPort || port > 65535) throw new UsageError(`--${name}: port must be ${minPort}..65535, got ${port}`);
  return { host: m[1] ?? m[2]!, port };
}

async function runMd(v: Values): Promise<number> {
  const { MessageDirector } = await import('../md/message-director.js');
  const listen = hostPort(v, 'listen', 0);
  if (listen === undefined) throw new UsageError('--listen HOST:PORT is required');
  const upstream = hostPort(v, 'upstream', 1) ?? null;
  const threads = int(v, 'threads', 2, 0, 64);
  const name = str(v, 'name', 'md');
  const natsUrl = v['nats'];
  let nats: MdNatsOptions | null = null;
  if (natsUrl !== undefined) {
    if (typeof natsUrl !== 'string' || natsUrl === '') throw new UsageError('--nats needs URL[,URL...]');
    if (upstream !== null) throw new UsageError('--nats and --upstream exclude each other: choose one topology');
    nats = { servers: natsUrl, deadAfterMs: int(v, 'dead-after', 3000, 100, 60_000) };
    const opt = (k: string): string | undefined => (typeof v[k] === 'string' && v[k] !== '' ? (v[k] as string) : undefined);
    if (opt('cluster') !== undefined) nats.cluster = opt('cluster')!;
    if (opt('nats-creds') !== undefined) nats.credsFile = opt('nats-creds')!;
    if (opt('nats-token') !== undefined) nats.token = opt('nats-token')!;
    if (opt('nats-user') !== undefined) nats.user = opt('nats-user')!;
    if (opt('nats-pass') !== undefined) nats.pass = opt('nats-pass')!;
    const tls: NonNullable<MdNatsOptions['tls']> = {};
    if (opt('nats-tls-ca') !== undefined) tls.caFile = opt('nats-tls-ca')!;
    if (opt('nats-tls-cert') !== undefined) tls.certFile = opt('nats-tls-cert')!;
    if (opt('nats-tls-key') !== undefined) tls.keyFile = opt('nats-tls-key')!;
    if (Object.keys(tls).length > 0) nats.tls = tls;
  }
  let md: MessageDirector;
  try {
    md = new MessageDirector({ host: listen.host, port: listen.port, threads, upstream, name, nats });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const stop = stopSignal(undefined);
  let address;
  try {
    address = await md.start();
  } catch (err) {
    process.stderr.write(`${PROG} md: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  process.stdout.write(`md listening on ${host}:${address.port}\n`);
  const reason = await stop.stopped;
  stop.dispose();
  const s = md.getStats();
  await md.stop();
  process.stdout.write(`${PROG}: md ${name} stopped (${reason}); routed ${fmtInt(s.routed)} datagrams (${fmtInt(s.deliveries)} deliveries), ${s.terminated} participants terminated\n`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// bench

async function runBench(rest: string[]): Promise<number> {
  if (!existsSync(path.join(packageRoot, 'bench', 'run.ts'))) {
    process.stderr.write(
      `${PROG} bench: the benchmarks need a source checkout of pandanet; an installed package has no bench/ (looked for ${path.join(packageRoot, 'bench', 'run.ts')}).\n` +
        `  git clone https://github.com/pandanet/pandanet && cd pandanet && npm ci && npm run bench -- --help\n`,
    );
    return 1;
  }
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const child = spawn(npm, ['run', 'bench', '--', ...rest], { cwd: packageRoot, stdio: 'inherit', shell: process.platform === 'win32' });
  // Ctrl-C reaches the benchmark too (same process group); wait for it to finish its own way.
  const ignore = (): void => {};
  process.on('SIGINT', ignore);
  try {
    return await new Promise<number>((resolve) => {
      child.once('error', (err) => {
        process.stderr.write(`${PROG} bench: could not run npm: ${err.message}\n`);
        resolve(1);
      });
      child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128 + (signalNumber(signal) ?? 0))));
    });
  } finally {
    process.off('SIGINT', ignore);
  }
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return ({ SIGINT: 2, SIGTERM: 15, SIGKILL: 9 } as Partial<Record<NodeJS.Signals, number>>)[signal];
}

// ---------------------------------------------------------------------------------------------
// the command table

const COMMANDS: Record<string, Command> = {
  start: {
    summary: 'game server + bot swarm (separate process) + live view — what `npm start` runs',
    help: `Usage: ${PROG} start [options]

Starts the demo game server (a threaded listener, reader and writer on pandanet), forks a swarm of
bots that play against it (one INPUT per bot at 20 Hz, round trip measured from the snapshots), and
shows connections, traffic, queues, thread utilisation and the bots' round trip every second.
Ctrl-C or --duration stops everything and prints a summary; exit code 0 on a clean run.

Options:
  --bots N            bots to run in a separate process; 0 = serve only (default 200)
  --bots-ws N         of those, how many connect over WebSocket instead of TCP (default 0)
${SERVER_HELP_OPTIONS}`,
    options: { ...SERVER_OPTIONS, bots: { type: 'string' }, 'bots-ws': { type: 'string' } },
    run: (v) => {
      const bots = int(v, 'bots', 200, 0, 100_000);
      const o = serveOptions(v, 'start', bots);
      o.botsWs = int(v, 'bots-ws', 0, 0, bots);
      if (o.botsWs > 0 && o.wsPort === null) throw new UsageError('--bots-ws needs the WebSocket port (not --ws-port off)');
      return runServer(o);
    },
  },
  serve: {
    summary: 'game server + live view, no bots (connect your own clients, or `pandanet bots`)',
    help: `Usage: ${PROG} serve [options]

Runs the demo game server alone, with the live view. Clients send INPUT datagrams and get a SNAPSHOT
every tick (formats in docs/porting-from-panda3d.md and src/app/protocol.ts).

Options:
${SERVER_HELP_OPTIONS}`,
    options: SERVER_OPTIONS,
    run: (v) => runServer(serveOptions(v, 'serve', 0)),
  },
  bots: {
    summary: 'bot swarm against a running server (`pandanet serve` in another terminal)',
    help: `Usage: ${PROG} bots [options]

Connects N bots to a game server (staggered, up to 5 attempts each), sends INPUTs and prints
connected bots, traffic and round-trip percentiles every second. Exit code 1 if no bot could connect.

Options:
  --host ADDR         server address (default 127.0.0.1)
  --port N            server port (default 9099)
  --bots N            number of bots (default 200)
  --threads N         I/O threads of the bots' reader and writer (default 1)
  --input-rate HZ     INPUTs per second per bot (default 20)
  --duration S        stop after S seconds (default: run until Ctrl-C)
  -h, --help          show this help`,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      bots: { type: 'string' },
      threads: { type: 'string' },
      'input-rate': { type: 'string' },
      duration: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    run: (v) => runBots(v),
  },
  echo: {
    summary: 'echo server for interop checks: every datagram comes back unchanged',
    help: `Usage: ${PROG} echo [options]

Listens for TCP clients speaking Panda3D's framing and sends every datagram back unchanged on the
same connection. Prints "echo server listening on HOST:PORT" first (useful with --port 0).

Options:
  --host ADDR         address to listen on (default 127.0.0.1)
  --port N            TCP port; 0 picks a free one (default 9099)
  --threads N         I/O threads; 0 = Panda's polled mode (default 1)
  --header-size N     TCP length prefix, 2 (Panda's default) or 4 (default 2)
  --duration S        stop after S seconds (default: run until Ctrl-C)
  -h, --help          show this help`,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      threads: { type: 'string' },
      'header-size': { type: 'string' },
      duration: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    run: (v) => runEcho(v),
  },
  md: {
    summary: "Astron message director: routes datagrams by 64-bit channel (Astron's MD protocol)",
    help: `Usage: ${PROG} md --listen HOST:PORT [options]

Runs a message director that speaks Astron's MD protocol (Panda's 2-byte length prefix; datagrams
as PyDatagram.addServerHeader writes them; control messages 9000-9003, 9010-9014). With --upstream it
joins Astron's tree as a child of another MD (Astron's astrond or another pandanet md), connecting
before it reports ready. With --nats it joins a rootless cluster of MDs over NATS instead (no root;
post-removes survive a node's death). Prints "md listening on HOST:PORT" once ready (useful with port 0). SIGTERM
or Ctrl-C stops it cleanly (exit code 0); participants' post-removes do not fire on a clean stop.
See docs/cluster.md.

Options:
  --listen HOST:PORT    address to listen on (required; port 0 picks a free one)
  --upstream HOST:PORT  parent message director (default: none, this node is a root)
  --nats URL[,URL...]   join a rootless cluster over NATS instead (nats://[user:pass@]host:port;
                        needs @nats-io/transport-node and @nats-io/kv; not with --upstream)
  --cluster NAME        the mesh's name: nodes with the same name route together (default default)
  --dead-after MS       a silent node is dead after MS; its post-removes fire elsewhere (default 3000)
  --nats-creds FILE     NATS .creds file (JWT + nkey)
  --nats-user U, --nats-pass P, --nats-token T   NATS credentials (also accepted in the URL)
  --nats-tls-ca FILE, --nats-tls-cert FILE, --nats-tls-key FILE   TLS to NATS
  --threads N           I/O threads; 0 = Panda's polled mode (default 2)
  --name NAME           a name for logs (default md)
  -h, --help            show this help`,
    options: {
      listen: { type: 'string' },
      upstream: { type: 'string' },
      nats: { type: 'string' },
      cluster: { type: 'string' },
      'dead-after': { type: 'string' },
      'nats-creds': { type: 'string' },
      'nats-user': { type: 'string' },
      'nats-pass': { type: 'string' },
      'nats-token': { type: 'string' },
      'nats-tls-ca': { type: 'string' },
      'nats-tls-cert': { type: 'string' },
      'nats-tls-key': { type: 'string' },
      threads: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    run: (v) => runMd(v),
  },
  bench: {
    summary: 'the benchmarks: runs `npm run bench -- ARGS` (source checkout only)',
    help: `Usage: ${PROG} bench [workload…] [options]

Runs the benchmark suite (bench/run.ts) through \`npm run bench -- …\`, passing every argument on.
Needs a source checkout: an installed package has no bench/ (git clone, npm ci, then this).

Workloads (each beside its node:net / node:dgram baseline in the same run):
  echo       echo throughput, pandanet 0/1/2/4 threads vs node:net (chunk echo and realistic);
             load from a small C epoll client built with cc at bench time (--load node: the Node client)
  latency    fixed-rate round trips at 25/50/90 % of each server's max
  broadcast  60 Hz game tick to 1,000 clients with 20 Hz input (--transport ws: WebSocket clients vs a ws server)
  scale      10,000 idle connections: memory and idle CPU
  budget     main-thread CPU per datagram, I/O thread utilisation
  udp        UDP echo with Panda's checksum vs node:dgram
  md         one message director vs a node:net router
  md-mesh    two message directors over a nats-server (only when named)
  accept     accept rate and spread over I/O threads: fd hand-off vs reusePort (only when named)
  echo-nodes echo under this Node and another from the cache, e.g. --nodes 26 (only when named)
  ws-echo    WebSocket echo, pandanet 1/2 threads vs a plain ws server (only when named)
  micro      in-memory micro benchmarks (only when named)
With no workload named, runs all but md-mesh, accept, echo-nodes, ws-echo and micro. Common options: --quick, --runs N,
--threads 0,1,2, --connections N. See \`npm run bench -- --help\` for each workload's own.

Options:
  -h, --help          show this help (\`${PROG} bench -- --help\` shows the benchmark's own)`,
    options: {},
    passthrough: true,
    run: (_v, rest) => runBench(rest),
  },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return `Usage: ${PROG} <command> [options]

Panda3D's low-level networking API for Node.js — a demo game server with a bot swarm, an echo
server, a message director and the benchmarks.

Commands:
${Object.entries(COMMANDS)
  .map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Run '${PROG} <command> --help' for a command's options. '${PROG} --version' prints the version.`;
}

/** Runs the command line `argv` (without `node` and the script); resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`${mainHelp()}\n`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? rest[0] : undefined;
    const cmd = target === undefined ? undefined : COMMANDS[target];
    process.stdout.write(`${cmd?.help ?? mainHelp()}\n`);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (cmd === undefined) {
    process.stderr.write(`${PROG}: unknown command '${name}'\n\n${mainHelp()}\n`);
    return 2;
  }
  try {
    if (cmd.passthrough === true) {
      if (rest[0] === '--help' || rest[0] === '-h') {
        process.stdout.write(`${cmd.help}\n`);
        return 0;
      }
      return await cmd.run({}, rest[0] === '--' ? rest.slice(1) : rest);
    }
    let values: Values;
    try {
      ({ values } = parseArgs({ args: [...rest], options: cmd.options, strict: true, allowPositionals: false }));
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    if (values['help'] === true) {
      process.stdout.write(`${cmd.help}\n`);
      return 0;
    }
    return await cmd.run(values, []);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${PROG} ${name}: ${err.message}\nRun '${PROG} ${name} --help' for usage.\n`);
      return 2;
    }
    throw err;
  }
}

// Run when executed (`node dist/app/cli.js`, the `pandanet` bin link), not when imported.
const invoked = process.argv[1] === undefined ? '' : path.resolve(process.argv[1]);
const self = fileURLToPath(import.meta.url);
let isMain = invoked === self;
if (!isMain && invoked !== '') {
  try {
    isMain = realpathSync(invoked) === self; // npm's bin link is a symlink to this file

  } catch {
    isMain = false;
  }
}
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => exitSoon(code),
    (err: unknown) => {
      process.stderr.write(`${PROG}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      exitSoon(1);
    },
  );
}
