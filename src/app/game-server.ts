/**
 * A small authoritative game server built only on pandanet's public API: the manual's
 * listener/reader/writer trio, threaded, grown into a fixed-step simulation.
 *
 * - Joins: the listener's accepts are taken every pump (about every millisecond); each new client
 *   gets an entity, a WELCOME datagram, and is added to the reader.
 * - Inputs: the reader is drained with `drainData` (no object per datagram); an INPUT sets where the
 *   client's entity should go and is remembered for the ack. Stale or malformed datagrams are counted
 *   and ignored.
 * - Ticks: at `tickRate` Hz every entity moves toward its target at a bounded speed, and every client
 *   gets a SNAPSHOT of the entities nearest to it (all of them when they fit) with the echo of its
 *   latest input (`protocol.ts`).
 * - Leaves: the manager's reset queue is drained every pump; the entity is removed and the connection
 *   closed, as the manual does.
 *
 * Not done on purpose: interest management beyond "nearest N", client-side prediction, cheating
 * checks beyond clamping targets to the world, any persistence.
 *
 * Thread: main thread only (pandanet's classes are main-thread objects; sockets live on I/O threads).
 * @module
 */
import {
  type Connection,
  ConnectionWriter,
  type ManagerStats,
  NetAddress,
  PointerToConnection,
  PyDatagram,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
} from '../index.js';
import { FixedStepLoop, Pump, type LoopStats } from './loop.js';
import {
  InPlaceReader,
  MAX_SNAPSHOT_ENTITIES,
  MessageType,
  SPECTATE_BYTES,
  addSnapshotEntity,
  beginSnapshot,
  endSnapshot,
  writeWelcome,
  type InputMessage,
  type SnapshotAck,
} from './protocol.js';

/** How to run a {@link GameServer}. */
export interface GameServerOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** TCP port; 0 picks a free one (see {@link GameServer.port}). Default 9099. */
  port?: number;
  /** I/O threads for the listener, reader and writer; 0 = Panda's polled mode. Default 2. */
  threads?: number;
  /** Simulation and snapshot rate, Hz. Default 20. */
  tickRate?: number;
  /** Side of the square world, units. Default 1000. */
  worldSize?: number;
  /** Fastest an entity moves, units per second. Default 250. */
  maxSpeed?: number;
  /** Most entities per snapshot (1..{@link MAX_SNAPSHOT_ENTITIES}). Default {@link MAX_SNAPSHOT_ENTITIES}. */
  maxSnapshotEntities?: number;
  /** Listen backlog. Default 1000 (the manual's). */
  backlog?: number;
  /** How often the network pump runs, ms. Default 1. */
  pumpIntervalMs?: number;
  /** Seed of the spawn positions. Default 1. */
  seed?: number;
  /**
   * Also accept WebSocket clients (browsers: `pandanet/browser`) on this port, same host, path
   * {@link WS_PATH}; 0 picks a free one (see {@link GameServer.wsPort}). Default null: TCP only.
   */
  wsPort?: number | null;
}

/** The request path of the game's WebSocket rendezvous. */
export const WS_PATH = '/game';

/** Totals since the server started. */
export interface GameServerCounters {
  joins: number;
  leaves: number;
  /** INPUT datagrams applied. */
  inputs: number;
  /** Datagrams that were not a well-formed INPUT, or repeated an old sequence. */
  ignored: number;
  snapshotsSent: number;
  snapshotBytes: number;
  /** Sends the writer refused (queue full or connection gone). */
  sendFailures: number;
  /** Accepted connections the server could not take (reader refused them). */
  refused: number;
  /** Clients that turned spectator (SPECTATE): their entities left the world. */
  spectators: number;
}

/** What {@link GameServer.stats} returns. */
export interface GameServerStats {
  clients: number;
  counters: GameServerCounters;
  loop: LoopStats;
  manager: ManagerStats;
}

/** The server could not listen. */
export class ListenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ListenError';
  }
}

interface Client {
  readonly id: number;
  readonly conn: Connection;
  x: number;
  y: number;
  tx: number;
  ty: number;
  /** Latest input applied: its sequence (0 = none yet), the client's send time, when it was drained. */
  lastSeq: number;
  lastSendTimeMs: number;
  lastInputAtMs: number;
  /** Position in {@link GameServer}'s dense client array (every client: they all get snapshots). */
  slot: number;
  /** Position in its dense player array (the entities of the world); -1 for a spectator. */
  pslot: number;
}

/** Deterministic spawn positions. */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

/**
 * Moves the `k` smallest `dist[idx[i]]` (i < n) to the front of `idx` (order among them unspecified).
 * Iterative quickselect, median-of-three pivot; O(n) on average, no allocation.
 */
export function selectNearest(idx: Int32Array, dist: Float64Array, n: number, k: number): void {
  let lo = 0;
  let hi = n - 1;
  const target = k - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const a = dist[idx[lo]!]!;
    const b = dist[idx[mid]!]!;
    const c = dist[idx[hi]!]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (dist[idx[i]!]! < pivot) i++;
      while (dist[idx[j]!]! > pivot) j--;
      if (i <= j) {
        const t = idx[i]!;
        idx[i] = idx[j]!;
        idx[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return;
  }
}

/**
 * The authoritative server. Make one with {@link GameServer.listen}; {@link GameServer.stop} closes
 * everything. Thread: main thread only.
 */
export class GameServer {
  readonly manager: QueuedConnectionManager;
  readonly listener: QueuedConnectionListener;
  readonly reader: QueuedConnectionReader;
  readonly writer: ConnectionWriter;
  readonly rendezvous: Connection;
  readonly host: string;
  /** The port it listens on (the real one when asked for 0). */
  readonly port: number;
  /** The WebSocket rendezvous ({@link GameServerOptions.wsPort}), or null. */
  readonly wsRendezvous: Connection | null;
  /** Its port, or null. */
  readonly wsPort: number | null;
  readonly threads: number;
  readonly tickRate: number;
  readonly worldSize: number;

  readonly #counters: GameServerCounters = { joins: 0, leaves: 0, inputs: 0, ignored: 0, snapshotsSent: 0, snapshotBytes: 0, sendFailures: 0, refused: 0, spectators: 0 };
  readonly #maxSpeed: number;
  readonly #maxEntities: number;
  readonly #byConn = new Map<Connection, Client>();
  #clients: Client[] = [];
  /** The clients with an entity (not spectators), densely. */
  #players: Client[] = [];
  #nextId = 1;
  readonly #random: () => number;
  readonly #loop: FixedStepLoop;
  readonly #pump: Pump;
  readonly #in = new InPlaceReader();
  readonly #input: InputMessage = { sequence: 0, x: 0, y: 0, sendTimeMs: 0 };
  readonly #ack: SnapshotAck = { sequence: 0, sendTimeMs: 0, holdMs: 0 };
  readonly #dg = new PyDatagram();
  readonly #block = new PyDatagram();
  #dist = new Float64Array(256);
  #idx = new Int32Array(256);
  #stopped = false;
  // Out-parameters reused by every accept and reset, in the manual's style.
  readonly #rv = new PointerToConnection();
  readonly #addr = new NetAddress();
  readonly #nc = new PointerToConnection();
  readonly #dead = new PointerToConnection();

  private constructor(manager: QueuedConnectionManager, listener: QueuedConnectionListener, rendezvous: Connection, wsRendezvous: Connection | null, opts: Required<GameServerOptions>) {
    this.manager = manager;
    this.listener = listener;
    this.rendezvous = rendezvous;
    this.wsRendezvous = wsRendezvous;
    this.wsPort = wsRendezvous === null ? null : wsRendezvous.getLocalAddress().getPort();
    this.host = opts.host;
    this.port = rendezvous.getLocalAddress().getPort();
    this.threads = opts.threads;
    this.tickRate = opts.tickRate;
    this.worldSize = opts.worldSize;
    this.#maxSpeed = opts.maxSpeed;
    this.#maxEntities = opts.maxSnapshotEntities;
    this.#random = xorshift(opts.seed);
    this.reader = new QueuedConnectionReader(manager, opts.threads);
    this.writer = new ConnectionWriter(manager, opts.threads);
    this.#loop = new FixedStepLoop(opts.tickRate, (n) => this.#tick(n));
    this.#pump = new Pump(() => this.pump(), opts.pumpIntervalMs);
  }

  /**
   * Opens the listening socket (synchronously, as the manual does) and starts the pump and the tick
   * loop. Throws {@link ListenError} when the address can't be listened on (the manager is shut down
   * first, so nothing is left running).
   */
  static listen(options: GameServerOptions = {}): GameServer {
    const opts: Required<GameServerOptions> = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 9099,
      threads: options.threads ?? 2,
      tickRate: options.tickRate ?? 20,
      worldSize: options.worldSize ?? 1000,
      maxSpeed: options.maxSpeed ?? 250,
      maxSnapshotEntities: options.maxSnapshotEntities ?? MAX_SNAPSHOT_ENTITIES,
      backlog: options.backlog ?? 1000,
      pumpIntervalMs: options.pumpIntervalMs ?? 1,
      seed: options.seed ?? 1,
      wsPort: options.wsPort ?? null,
    };
    if (!Number.isInteger(opts.maxSnapshotEntities) || opts.maxSnapshotEntities < 1 || opts.maxSnapshotEntities > MAX_SNAPSHOT_ENTITIES) {
      throw new RangeError(`maxSnapshotEntities must be an integer 1..${MAX_SNAPSHOT_ENTITIES}, got ${opts.maxSnapshotEntities}`);
    }
    if (!Number.isFinite(opts.tickRate) || opts.tickRate <= 0 || opts.tickRate > 1000) throw new RangeError(`tickRate must be in (0, 1000] Hz, got ${opts.tickRate}`);
    const manager = new QueuedConnectionManager();
    let server: GameServer | undefined;
    try {
      const listener = new QueuedConnectionListener(manager, opts.threads);
      const rendezvous = manager.openTCPServerRendezvous(opts.host, opts.port, opts.backlog);
      if (rendezvous === null) {
        const why = manager.getLastError();
        throw new ListenError(`could not listen on ${opts.host}:${opts.port}: ${why?.message ?? 'unknown error'}`, { cause: why ?? undefined });
      }
      listener.addConnection(rendezvous);
      let wsRendezvous: Connection | null = null;
      if (opts.wsPort !== null) {
        wsRendezvous = manager.openWebSocketServerRendezvous(opts.host, opts.wsPort, opts.backlog, { path: WS_PATH });
        if (wsRendezvous === null) {
          const why = manager.getLastError();
          throw new ListenError(`could not listen for WebSocket clients on ${opts.host}:${opts.wsPort}: ${why?.message ?? 'unknown error'}`, { cause: why ?? undefined });
        }
        listener.addConnection(wsRendezvous);
      }
      server = new GameServer(manager, listener, rendezvous, wsRendezvous, opts);
    } finally {
      if (server === undefined) manager.shutdown();
    }
    server.#pump.start();
    server.#loop.start();
    return server;
  }

  /** Clients connected now. */
  get clientCount(): number {
    return this.#clients.length;
  }

  /** True once {@link stop} ran. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Totals, the tick loop's figures and the manager's stats (thread utilisation is since the previous call). */
  stats(): GameServerStats {
    return { clients: this.#clients.length, counters: { ...this.#counters }, loop: { ...this.#loop.stats }, manager: this.manager.getStats() };
  }

  /** Totals only (cheap; does not touch the manager's utilisation window). */
  counters(): GameServerCounters {
    return { ...this.#counters };
  }

  /**
   * One network pass: take new connections, apply every queued input, handle leaves. Runs by itself
   * every `pumpIntervalMs`; public for tests and tools.
   */
  pump(): void {
    if (this.#stopped) return;
    const { listener, reader, manager } = this;
    while (listener.newConnectionAvailable()) {
      if (listener.getNewConnection(this.#rv, this.#addr, this.#nc)) {
        const conn = this.#nc.p();
        if (conn !== null) this.#join(conn);
      }
    }
    reader.poll(); // polled mode (--threads 0): move what arrived into the queue; no-op when threaded
    reader.drainData(this.#onDatagram);
    while (manager.resetConnectionAvailable()) {
      if (manager.getResetConnection(this.#dead)) this.#leave(this.#dead.p());
    }
  }

  /** Resolves true once exactly `n` clients are connected (false after `timeoutMs`). */
  async waitForClients(n: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.#clients.length !== n) {
      if (this.#stopped || performance.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
    return true;
  }

  /** Stops the loops, closes every connection and shuts the manager down. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#pump.stop();
    this.#loop.stop();
    for (const c of this.#clients) this.manager.closeConnection(c.conn);
    this.#clients = [];
    this.#players = [];
    this.#byConn.clear();
    this.manager.closeConnection(this.rendezvous);
    if (this.wsRendezvous !== null) this.manager.closeConnection(this.wsRendezvous);
    this.manager.shutdown();
  }

  #join(conn: Connection): void {
    if (!this.reader.addConnection(conn)) {
      this.#counters.refused++;
      this.manager.closeConnection(conn);
      return;
    }
    conn.setNoDelay(true); // one small datagram per tick: don't let Nagle hold it
    const x = this.#random() * this.worldSize;
    const y = this.#random() * this.worldSize;
    const client: Client = { id: this.#nextId++, conn, x, y, tx: x, ty: y, lastSeq: 0, lastSendTimeMs: 0, lastInputAtMs: 0, slot: this.#clients.length, pslot: this.#players.length };
    this.#clients.push(client);
    this.#players.push(client);
    this.#byConn.set(conn, client);
    this.#counters.joins++;
    writeWelcome(this.#dg, { entityId: client.id, tickRate: this.tickRate, worldSize: this.worldSize });
    if (!this.writer.send(this.#dg, conn)) this.#counters.sendFailures++;
  }

  #leave(conn: Connection | null): void {
    if (conn === null) return;
    const client = this.#byConn.get(conn);
    this.manager.closeConnection(conn); // false when the reset already closed it: harmless, as in the manual
    if (client === undefined) return;
    this.#byConn.delete(conn);
    const last = this.#clients.pop()!;
    if (last !== client) {
      this.#clients[client.slot] = last;
      last.slot = client.slot;
    }
    this.#removePlayer(client);
    this.#counters.leaves++;
  }

  /** Takes `client`'s entity out of the world (it left, or turned spectator). */
  #removePlayer(client: Client): void {
    if (client.pslot < 0) return;
    const last = this.#players.pop()!;
    if (last !== client) {
      this.#players[client.pslot] = last;
      last.pslot = client.pslot;
    }
    client.pslot = -1;
  }

  readonly #onDatagram = (conn: Connection, data: Uint8Array, offset: number, length: number): void => {
    const client = this.#byConn.get(conn);
    if (client !== undefined && length === SPECTATE_BYTES && data[offset] === MessageType.SPECTATE) {
      if (client.pslot >= 0) this.#counters.spectators++;
      this.#removePlayer(client);
      return;
    }
    const m = this.#input;
    if (client === undefined || client.pslot < 0 || !this.#in.input(data, offset, length, m) || m.sequence <= client.lastSeq || !Number.isFinite(m.x) || !Number.isFinite(m.y)) {
      this.#counters.ignored++;
      return;
    }
    const w = this.worldSize;
    client.tx = m.x < 0 ? 0 : m.x > w ? w : m.x;
    client.ty = m.y < 0 ? 0 : m.y > w ? w : m.y;
    client.lastSeq = m.sequence;
    client.lastSendTimeMs = m.sendTimeMs;
    client.lastInputAtMs = performance.now();
    this.#counters.inputs++;
  };

  #tick(tick: number): void {
    // Apply every input that has arrived before stepping, not up to a pump interval later.
    this.reader.poll();
    this.reader.drainData(this.#onDatagram);
    const players = this.#players; // the world's entities
    const n = players.length;
    const stepLen = (this.#maxSpeed * this.#loop.periodMs) / 1000;
    for (let i = 0; i < n; i++) {
      const c = players[i]!;
      const dx = c.tx - c.x;
      const dy = c.ty - c.y;
      const d = Math.hypot(dx, dy);
      if (d <= stepLen) {
        c.x = c.tx;
        c.y = c.ty;
      } else {
        c.x += (dx / d) * stepLen;
        c.y += (dy / d) * stepLen;
      }
    }
    const clients = this.#clients; // every recipient, spectators included
    const recipients = clients.length;
    if (recipients === 0) return;
    const now = performance.now();
    const serverTimeMs = performance.timeOrigin + now;
    const dg = this.#dg;
    const all = n <= this.#maxEntities;
    if (all) {
      // Everyone sees everyone: encode the entity block once, append it to each client's snapshot.
      this.#block.clear();
      for (let i = 0; i < n; i++) addSnapshotEntity(this.#block, players[i]!.id, players[i]!.x, players[i]!.y);
    } else if (this.#idx.length < n) {
      this.#idx = new Int32Array(n * 2);
      this.#dist = new Float64Array(n * 2);
    }
    const k = all ? n : this.#maxEntities;
    const block = this.#block.getMessageView();
    const ack = this.#ack;
    for (let r = 0; r < recipients; r++) {
      const me = clients[r]!;
      beginSnapshot(dg, tick, serverTimeMs, k);
      if (all) dg.appendData(block);
      else {
        const idx = this.#idx;
        const dist = this.#dist;
        for (let i = 0; i < n; i++) {
          const c = players[i]!;
          const dx = c.x - me.x;
          const dy = c.y - me.y;
          dist[i] = dx * dx + dy * dy;
          idx[i] = i;
        }
        selectNearest(idx, dist, n, k);
        for (let j = 0; j < k; j++) {
          const c = players[idx[j]!]!;
          addSnapshotEntity(dg, c.id, c.x, c.y);
        }
      }
      ack.sequence = me.lastSeq;
      ack.sendTimeMs = me.lastSendTimeMs;
      // Measured at send time, not tick start: building 200 snapshots takes a few ms, and that is
      // server time, not network time, for the clients served last.
      ack.holdMs = me.lastSeq === 0 ? 0 : performance.now() - me.lastInputAtMs;
      endSnapshot(dg, ack);
      if (this.writer.send(dg, me.conn)) {
        this.#counters.snapshotsSent++;
        this.#counters.snapshotBytes += dg.getLength();
      } else this.#counters.sendFailures++;
    }
  }
}
