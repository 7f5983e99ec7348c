/**
 * A swarm of game clients ("bots") built on pandanet: one manager, one reader and one writer (one I/O
 * thread each by default) for all of them, like a load generator would.
 *
 * Each bot connects with `openTCPClientConnectionAsync` (staggered, with bounded retries and
 * back-off) — or, for the last `wsBots` of them, over WebSocket to `wsUrl` with `pandanet/browser`'s
 * `connect` (on the `ws` package), as a browser would — then sends an INPUT at `inputRate` Hz carrying its client send time, walking a circle
 * around a random point of the world. The server's SNAPSHOTs echo each bot's latest input; the first
 * snapshot that acknowledges a new input gives one round-trip sample:
 *
 * - **rtt**: `now − sendTime − hold`, the network round trip (both pumps included), where `hold` is
 *   how long the server kept the input before that snapshot left;
 * - **latency**: `now − sendTime`, input to acknowledging snapshot, what a player feels (adds up to
 *   one tick).
 *
 * Samples go into HDR histograms (Node's own `perf_hooks.createHistogram()`, microseconds, 3 significant
 * digits): an interval pair reset at each {@link BotSwarm.report} and a cumulative pair for the summary.
 *
 * The forked process that runs a swarm for `pandanet start` is `bot-process.ts`; its messages are
 * declared here ({@link BotsToParent}, {@link ParentToBots}).
 *
 * Thread: main thread only.
 * @module
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import {
  type Connection,
  ConnectionWriter,
  PointerToConnection,
  PyDatagram,
  QueuedConnectionManager,
  QueuedConnectionReader,
  setLogSink,
} from '../index.js';
import { WebSocket } from 'ws';
import { type BrowserConnection, type WebSocketConstructor, connect as connectWebSocket } from '../browser/index.js';
import { Pump } from './loop.js';
import { InPlaceReader, MessageType, writeInput, type SnapshotAck } from './protocol.js';

/** How to run a {@link BotSwarm}. */
export interface BotSwarmOptions {
  /** Server address (default 127.0.0.1). */
  host?: string;
  /** Server port (default 9099). */
  port?: number;
  /** Number of bots (default 200). */
  bots?: number;
  /** INPUTs per second per bot (default 20). */
  inputRate?: number;
  /** I/O threads of the swarm's reader and writer (default 1). */
  threads?: number;
  /** Delay between two bots' first connect attempts, ms (default 5: 200 bots connect within 1 s). */
  staggerMs?: number;
  /** Connect attempts per bot before it gives up (default 5). */
  maxAttempts?: number;
  /** Timeout of one connect attempt, ms (default 3000). */
  connectTimeoutMs?: number;
  /** Seed of the bots' paths (default 7). */
  seed?: number;
  /**
   * How many of the `bots` connect over WebSocket to {@link BotSwarmOptions.wsUrl} instead of TCP
   * (the last ones; default 0). Same protocol, same schedule, same round-trip figures.
   */
  wsBots?: number;
  /** The game's WebSocket URL (`ws://host:port/path`); required when `wsBots` > 0. */
  wsUrl?: string;
}

/** Round-trip percentiles, ms (0 when there are no samples). */
export interface RttFigures {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** What a swarm reports: counters since it started, and round trips of the last interval and in total. */
export interface BotReport {
  /** Bots asked for. */
  bots: number;
  /** Connected now. */
  connected: number;
  /** Most connected at once. */
  peakConnected: number;
  /** Still trying to connect. */
  connecting: number;
  /** Gave up connecting after every attempt. */
  failed: number;
  /** Connect attempts that failed (retried or not). */
  connectErrors: number;
  /** Connections the server closed or lost (reset). */
  disconnects: number;
  inputsSent: number;
  /** INPUT sends the writer refused. */
  sendFailures: number;
  snapshotsReceived: number;
  bytesReceived: number;
  /** Network round trip over the last interval / since start. */
  rtt: RttFigures;
  rttTotal: RttFigures;
  /** Input-to-snapshot latency over the last interval / since start. */
  latency: RttFigures;
  latencyTotal: RttFigures;
  /** ms since the swarm started. */
  elapsedMs: number;
}

/** Messages from a bots process to its parent (over the `fork` IPC channel). */
export type BotsToParent =
  | { readonly type: 'started' }
  | { readonly type: 'report'; readonly report: BotReport }
  | { readonly type: 'final'; readonly report: BotReport }
  | { readonly type: 'error'; readonly message: string };

/** Messages from the parent to a bots process. */
export type ParentToBots = { readonly type: 'start'; readonly options: BotSwarmOptions } | { readonly type: 'stop' };

/** Narrows an IPC message to {@link BotsToParent}; null for anything else. */
export function asBotsMessage(m: unknown): BotsToParent | null {
  if (typeof m !== 'object' || m === null) return null;
  switch ((m as { type?: unknown }).type) {
    case 'started':
    case 'report':
    case 'final':
    case 'error':
      return m as BotsToParent;
    default:
      return null;
  }
}

/** Narrows an IPC message to {@link ParentToBots}; null for anything else. */
export function asParentMessage(m: unknown): ParentToBots | null {
  if (typeof m !== 'object' || m === null) return null;
  switch ((m as { type?: unknown }).type) {
    case 'start':
    case 'stop':
      return m as ParentToBots;
    default:
      return null;
  }
}

/**
 * Routes pandanet's log lines to stderr (prefixed `bots:`), except failed connect attempts: the
 * swarm retries them and counts them (`connectErrors`), and 200 bots waiting for a server would
 * print a thousand of them. For processes that run a swarm (the CLI); affects this thread's log.
 */
export function quietConnectErrors(): void {
  setLogSink((level, message) => {
    if (message.startsWith('unable to open TCP connection')) return;
    process.stderr.write(`bots: :net(${level}): ${message}\n`);
  });
}

const US_MAX = 60_000_000; // 60 s in µs: anything slower is clamped

function histogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: US_MAX, figures: 3 });
}

function figures(h: RecordableHistogram): RttFigures {
  if (h.count === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
  return { count: h.count, p50: h.percentile(50) / 1000, p99: h.percentile(99) / 1000, max: h.max / 1000 };
}

function usOf(ms: number): number {
  const us = Math.round(ms * 1000);
  return us < 1 ? 1 : us > US_MAX ? US_MAX : us;
}

type BotState = 'waiting' | 'connecting' | 'connected' | 'failed' | 'gone';

interface Bot {
  readonly index: number;
  state: BotState;
  conn: Connection | null;
  /** Connects over WebSocket (`ws`) instead of TCP (`conn`). */
  readonly overWs: boolean;
  ws: BrowserConnection | null;
  attempts: number;
  seq: number;
  /** Highest acknowledged sequence seen (one sample per new ack). */
  acked: number;
  nextSendAt: number;
  cx: number;
  cy: number;
  radius: number;
  phase: number;
  speed: number;
  /** Where in the input period this bot sends, 0..1. */
  offset: number;
}

/** Runs bots against a server. Thread: main thread only. */
export class BotSwarm {
  readonly options: Readonly<Required<BotSwarmOptions>>;
  readonly manager = new QueuedConnectionManager();
  readonly reader: QueuedConnectionReader;
  readonly writer: ConnectionWriter;
  readonly #bots: Bot[] = [];
  readonly #byConn = new Map<Connection, Bot>();
  readonly #rtt = histogram();
  readonly #rttTotal = histogram();
  readonly #latency = histogram();
  readonly #latencyTotal = histogram();
  readonly #pump: Pump;
  readonly #in = new InPlaceReader();
  readonly #ack: SnapshotAck = { sequence: 0, sendTimeMs: 0, holdMs: 0 };
  readonly #dg = new PyDatagram();
  readonly #dead = new PointerToConnection();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #startedAt = performance.now();
  #counts = { connected: 0, peakConnected: 0, connectErrors: 0, disconnects: 0, inputsSent: 0, sendFailures: 0, snapshotsReceived: 0, bytesReceived: 0 };
  #stopped = false;

  constructor(options: BotSwarmOptions = {}) {
    this.options = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 9099,
      bots: options.bots ?? 200,
      inputRate: options.inputRate ?? 20,
      threads: options.threads ?? 1,
      staggerMs: options.staggerMs ?? 5,
      maxAttempts: options.maxAttempts ?? 5,
      connectTimeoutMs: options.connectTimeoutMs ?? 3000,
      seed: options.seed ?? 7,
      wsBots: options.wsBots ?? 0,
      wsUrl: options.wsUrl ?? '',
    };
    const o = this.options;
    if (!Number.isInteger(o.bots) || o.bots < 0) throw new RangeError(`bots must be an integer ≥ 0, got ${o.bots}`);
    if (!Number.isInteger(o.wsBots) || o.wsBots < 0 || o.wsBots > o.bots) throw new RangeError(`wsBots must be an integer 0..bots (${o.bots}), got ${o.wsBots}`);
    if (o.wsBots > 0 && !/^wss?:\/\//.test(o.wsUrl)) throw new RangeError(`wsBots > 0 needs wsUrl (ws://… or wss://…), got '${o.wsUrl}'`);
    if (!Number.isFinite(o.inputRate) || o.inputRate <= 0) throw new RangeError(`inputRate must be > 0, got ${o.inputRate}`);
    this.reader = new QueuedConnectionReader(this.manager, o.threads);
    this.writer = new ConnectionWriter(this.manager, o.threads);
    let s = o.seed >>> 0 || 1;
    const rnd = (): number => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s / 0x1_0000_0000;
    };
    for (let i = 0; i < o.bots; i++) {
      this.#bots.push({
        index: i,
        state: 'waiting',
        conn: null,
        overWs: i >= o.bots - o.wsBots,
        ws: null,
        attempts: 0,
        seq: 0,
        acked: 0,
        nextSendAt: 0,
        cx: 100 + rnd() * 800,
        cy: 100 + rnd() * 800,
        radius: 20 + rnd() * 80,
        phase: rnd() * 2 * Math.PI,
        speed: 0.5 + rnd(),
        offset: rnd(),
      });
    }
    this.#pump = new Pump(() => this.pump(), 1);
  }

  /** Starts connecting the bots (staggered) and the pump. Returns at once. */
  start(): void {
    this.#pump.start();
    for (const bot of this.#bots) this.#later(bot.index * this.options.staggerMs, () => void this.#connect(bot));
  }

  /** Receives snapshots, sends the inputs that are due, notices disconnects. Runs every millisecond. */
  pump(): void {
    if (this.#stopped) return;
    this.reader.poll();
    this.reader.drainData(this.#onDatagram);
    while (this.manager.resetConnectionAvailable()) {
      if (this.manager.getResetConnection(this.#dead)) this.#lost(this.#dead.p());
    }
    const now = performance.now();
    const period = 1000 / this.options.inputRate;
    for (const bot of this.#bots) {
      if (bot.state !== 'connected' || now < bot.nextSendAt) continue;
      // Keep the schedule, but don't burst to catch up after a stall.
      bot.nextSendAt = Math.max(bot.nextSendAt + period, now - period);
      this.#sendInput(bot, now);
    }
  }

  /** Counters and the interval's round trips; starts a new interval. */
  report(): BotReport {
    const r = this.#snapshot();
    this.#rtt.reset();
    this.#latency.reset();
    return r;
  }

  /** Counters and the cumulative round trips (the interval ones too), without starting a new interval. */
  peek(): BotReport {
    return this.#snapshot();
  }

  /**
   * Stops sending, closes every connection and shuts the manager down; returns the final report
   * (cumulative round trips). Idempotent.
   */
  stop(): BotReport {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#pump.stop();
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
      for (const bot of this.#bots) {
        if (bot.conn !== null) this.manager.closeConnection(bot.conn);
        if (bot.ws !== null) {
          bot.ws.onClose = null;
          bot.ws.onDatagram = null;
          bot.ws.close(1000, 'bots stopping');
          bot.ws = null;
        }
        if (bot.state === 'connected') this.#counts.connected--;
        if (bot.state !== 'failed') bot.state = 'gone';
        bot.conn = null;
      }
      this.manager.shutdown();
    }
    return this.#snapshot();
  }

  #snapshot(): BotReport {
    let connecting = 0;
    let failed = 0;
    for (const b of this.#bots) {
      if (b.state === 'waiting' || b.state === 'connecting') connecting++;
      else if (b.state === 'failed') failed++;
    }
    const c = this.#counts;
    return {
      bots: this.options.bots,
      connected: c.connected,
      peakConnected: c.peakConnected,
      connecting,
      failed,
      connectErrors: c.connectErrors,
      disconnects: c.disconnects,
      inputsSent: c.inputsSent,
      sendFailures: c.sendFailures,
      snapshotsReceived: c.snapshotsReceived,
      bytesReceived: c.bytesReceived,
      rtt: figures(this.#rtt),
      rttTotal: figures(this.#rttTotal),
      latency: figures(this.#latency),
      latencyTotal: figures(this.#latencyTotal),
      elapsedMs: performance.now() - this.#startedAt,
    };
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  async #connect(bot: Bot): Promise<void> {
    if (this.#stopped) return;
    bot.state = 'connecting';
    bot.attempts++;
    if (bot.overWs) return this.#connectWs(bot);
    const { host, port, connectTimeoutMs, maxAttempts } = this.options;
    let conn: Connection | null = null;
    try {
      conn = await this.manager.openTCPClientConnectionAsync(host, port, connectTimeoutMs);
    } catch {
      conn = null; // a manager shut down under us (stop during connect)
    }
    if (this.#stopped) {
      if (conn !== null) this.manager.closeConnection(conn);
      return;
    }
    if (conn === null || !this.reader.addConnection(conn)) {
      if (conn !== null) this.manager.closeConnection(conn);
      this.#retry(bot, maxAttempts);
      return;
    }
    conn.setNoDelay(true);
    bot.conn = conn;
    this.#byConn.set(conn, bot);
    this.#connected(bot);
  }

  /** A failed connect attempt: try again later (back-off), or give up after `maxAttempts`. */
  #retry(bot: Bot, maxAttempts: number): void {
    this.#counts.connectErrors++;
    if (bot.attempts >= maxAttempts) {
      bot.state = 'failed';
      return;
    }
    bot.state = 'waiting';
    this.#later(Math.min(2000, 100 * 2 ** (bot.attempts - 1)), () => void this.#connect(bot));
  }

  #connected(bot: Bot): void {
    bot.state = 'connected';
    // Spread the bots' send times over one period: connects complete in bursts (all of them wait
    // for the I/O thread to start), and bots in lockstep would all hit the same point of the tick.
    bot.nextSendAt = performance.now() + bot.offset * (1000 / this.options.inputRate);
    this.#counts.connected++;
    if (this.#counts.connected > this.#counts.peakConnected) this.#counts.peakConnected = this.#counts.connected;
  }

  async #connectWs(bot: Bot): Promise<void> {
    const { wsUrl, connectTimeoutMs, maxAttempts } = this.options;
    let ws: BrowserConnection | null = null;
    try {
      ws = await connectWebSocket(wsUrl, { timeoutMs: connectTimeoutMs, webSocketImpl: WebSocket as unknown as WebSocketConstructor });
    } catch {
      ws = null; // refused, timed out or the handshake rejected: counted, retried
    }
    if (this.#stopped) {
      ws?.close(1000, 'bots stopping');
      return;
    }
    if (ws === null) {
      this.#retry(bot, maxAttempts);
      return;
    }
    bot.ws = ws;
    ws.onDatagram = (dg) => {
      const bytes = dg.getMessageView();
      this.#onSnapshot(bot, bytes, 0, bytes.length);
    };
    ws.onClose = () => {
      if (bot.ws !== ws || this.#stopped) return;
      bot.ws = null;
      if (bot.state === 'connected') this.#counts.connected--;
      bot.state = 'gone';
      this.#counts.disconnects++;
    };
    this.#connected(bot);
  }

  #lost(conn: Connection | null): void {
    if (conn === null) return;
    this.manager.closeConnection(conn);
    const bot = this.#byConn.get(conn);
    if (bot === undefined) return;
    this.#byConn.delete(conn);
    if (bot.state === 'connected') this.#counts.connected--;
    bot.state = 'gone';
    bot.conn = null;
    this.#counts.disconnects++;
  }

  #sendInput(bot: Bot, now: number): void {
    const t = (now / 1000) * bot.speed + bot.phase;
    writeInput(this.#dg, { sequence: ++bot.seq, x: bot.cx + Math.cos(t) * bot.radius, y: bot.cy + Math.sin(t) * bot.radius, sendTimeMs: now });
    if (bot.ws !== null) {
      try {
        bot.ws.send(this.#dg);
        this.#counts.inputsSent++;
      } catch {
        this.#counts.sendFailures++; // closing: its close event follows
      }
    } else if (this.writer.send(this.#dg, bot.conn!)) this.#counts.inputsSent++;
    else this.#counts.sendFailures++;
  }

  readonly #onDatagram = (conn: Connection, data: Uint8Array, offset: number, length: number): void => {
    const bot = this.#byConn.get(conn);
    if (bot !== undefined) this.#onSnapshot(bot, data, offset, length);
  };

  #onSnapshot(bot: Bot, data: Uint8Array, offset: number, length: number): void {
    if (this.#in.type(data, offset, length) !== MessageType.SNAPSHOT) return;
    const ack = this.#ack;
    if (this.#in.snapshotAck(data, offset, length, ack) < 0) return;
    this.#counts.snapshotsReceived++;
    this.#counts.bytesReceived += length;
    if (ack.sequence > bot.acked && ack.sequence <= bot.seq) {
      bot.acked = ack.sequence;
      const latency = performance.now() - ack.sendTimeMs;
      const rtt = latency - ack.holdMs;
      this.#latency.record(usOf(latency));
      this.#latencyTotal.record(usOf(latency));
      this.#rtt.record(usOf(rtt));
      this.#rttTotal.record(usOf(rtt));
    }
  }
}
