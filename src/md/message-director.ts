/**
 * `MessageDirector`: Astron's message director (MD) on pandanet's own runtime. Participants are
 * ordinary pandanet TCP connections (Panda's 2-byte length prefix); a listener, a reader and a writer
 * with the configured number of I/O threads carry them, and an event-driven loop on the thread that
 * made the director (`reader.waitForDataAsync` + `drainData`) routes every datagram through a
 * {@link Director}. With `upstream`, the node joins Astron's tree as a child of another MD (Astron's
 * `astrond` or another pandanet MD). Protocol, rules and choices: docs/cluster.md.
 *
 * Choices (documented in docs/cluster.md):
 * - **Truncated datagram**: the sender is terminated at once (nothing more it sent is routed, its
 *   subscriptions go, its post-removes fire) and its socket is no longer read; it is closed
 *   (gracefully) {@link MessageDirectorOptions.terminateCloseMs} later — never within 100 ms.
 * - **A participant that never reads**: once the writer refuses a datagram for it because its
 *   pending bytes reached `NetConfig.maxPendingSendBytes` (4 MiB by default), it is terminated as a
 *   slow consumer (logged, counted). Memory stays bounded; the others are not slowed down.
 * - **Clean stop** (`stop()`, SIGTERM for `pandanet md`): participants' post-removes do **not** fire;
 *   connections are closed gracefully. In a tree, the parent still holds them (they were forwarded
 *   when added) and fires them when this node's link closes.
 * - **Upstream lost**: the node keeps routing locally, drops (and counts) what it would have sent up,
 *   and reconnects with back-off (100 ms doubling to 5 s); once back, it re-sends its channels,
 *   ranges and pending post-removes. At start, an upstream that cannot be reached within a second
 *   fails `start()` (Astron exits).
 *
 * Thread: main thread only (the thread that made it; it routes on that thread's event loop).
 * @module
 */
import { ConnectionWriter } from '../main/connection-writer.js';
import type { Connection } from '../main/connection.js';
import { QueuedConnectionManager } from '../main/connection-manager.js';
import { QueuedConnectionListener } from '../main/queued-connection-listener.js';
import { QueuedConnectionReader } from '../main/queued-connection-reader.js';
import { NetAddress } from '../main/net-address.js';
import { PointerToConnection } from '../main/pointer-to-connection.js';
import { Datagram } from '../datagram/datagram.js';
import { getNetConfig } from '../config.js';
import { InvalidArgumentError, SocketError, ValueRangeError } from '../errors.js';
import { log } from '../log.js';
import { Director, type DirectorCounters, type DirectorOutput, type MdParticipantRecord } from './director.js';
import { channelKey, mdControlDatagram, type MdControl } from './protocol.js';
import { checkNatsOptions, MdMesh, zeroMeshCounters, type MdNatsOptions, type MeshCounters } from './mesh.js';

/** How to run a {@link MessageDirector}. Thread: any. */
export interface MessageDirectorOptions {
  /** Address to listen on (default '127.0.0.1'). */
  host?: string;
  /** Port to listen on (default 0: an ephemeral port, read it back from `start()`). */
  port?: number;
  /** I/O threads of the listener, reader and writer, as in every constructor; 0 = polled (default 2). */
  threads?: number;
  /** Parent MD (Astron `astrond` or `pandanet md`); null/absent = this node is a root. */
  upstream?: { host: string; port: number } | null;
  /** A name for logs. */
  name?: string;
  /**
   * Join a rootless cluster over NATS instead of a tree (docs/cluster.md, "Cluster over NATS"). Needs
   * the optional packages `@nats-io/transport-node` and `@nats-io/kv` (imported only then). Not
   * together with `upstream` (`InvalidArgumentError`).
   */
  nats?: MdNatsOptions | null;
  /** How long a terminated participant's socket stays open (unread) before it is closed, ms (default 1000; at least 100). */
  terminateCloseMs?: number;
}

/** Where a started {@link MessageDirector} listens. Thread: any. */
export interface MdAddress {
  host: string;
  port: number;
}

/** What {@link MessageDirector.getStats} reports. Thread: any (a snapshot). */
export interface MdStats extends DirectorCounters, MeshCounters {
  /** 'none' (root), 'up', 'down' (reconnecting). */
  upstream: 'none' | 'up' | 'down';
  /** Successful reconnections to the upstream after a loss. */
  upstreamReconnects: number;
  /** Datagrams and control messages that could not be sent upstream (link down or refusing). */
  upstreamDropped: number;
  /** Participants terminated because they did not read (writer's per-connection high-water mark). */
  slowConsumers: number;
  /** Deliveries refused by the writer for another reason (queue full for 2 s). */
  sendFailures: number;
  /** 'none' (no `nats`), 'up', 'down' (NATS unreachable: routing locally, reconnecting). */
  mesh: 'none' | 'up' | 'down';
  /** This node's id in the NATS mesh ('' without `nats`). */
  meshNode: string;
  /**
   * The post-remove store (the mesh's JetStream key-value bucket): 'none' (no `nats`), 'up', 'down'
   * (not open yet — no JetStream on the server, say; retried; meanwhile this node's post-removes do
   * not survive it).
   */
  meshKv: 'none' | 'up' | 'down';
}

const NO_MESH: Readonly<MeshCounters> = zeroMeshCounters();

/** Longest a drain takes datagrams before the loop looks at accepts and resets again. */
const DRAIN_BATCH = 4096;
/** The loop's wait when idle, ms: bounds how late an accept or a disconnect is noticed. */
const IDLE_WAIT_MS = 5;
/** Upstream (re)connect timeout, ms. */
const UPSTREAM_CONNECT_MS = 1000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

/**
 * A message director node (see the module notes).
 *
 * ```ts
 * const md = new MessageDirector({ port: 7199, threads: 2 });
 * const { host, port } = await md.start();
 * // … participants connect and route …
 * await md.stop();
 * ```
 * Thread: main thread only.
 */
export class MessageDirector {
  readonly #host: string;
  readonly #port: number;
  readonly #threads: number;
  readonly #upstreamAddr: { host: string; port: number } | null;
  readonly #name: string;
  readonly #terminateCloseMs: number;
  readonly #natsOptions: MdNatsOptions | null;
  #mesh: MdMesh<Connection> | null = null;
  #manager: QueuedConnectionManager | null = null;
  #listener: QueuedConnectionListener | null = null;
  #reader: QueuedConnectionReader | null = null;
  #writer: ConnectionWriter | null = null;
  #rendezvous: Connection | null = null;
  #upstream: Connection | null = null;
  readonly #director: Director<Connection>;
  readonly #byConn = new Map<Connection, MdParticipantRecord<Connection>>();
  readonly #dg = new Datagram();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Participants a failed send condemned during a route (terminated right after it). */
  readonly #condemned: Array<MdParticipantRecord<Connection>> = [];
  #maxPending = 0;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #startPromise: Promise<MdAddress> | null = null;
  #stopPromise: Promise<void> | null = null;
  #loopDone: Promise<void> = Promise.resolve();
  #address: MdAddress | null = null;
  #backoff = BACKOFF_MIN_MS;
  readonly #extra = { upstreamReconnects: 0, upstreamDropped: 0, slowConsumers: 0, sendFailures: 0 };
  readonly #rv = new PointerToConnection();
  readonly #addr = new NetAddress();
  readonly #nc = new PointerToConnection();

  /** Validates the options; nothing is opened until {@link start}. Throws `InvalidArgumentError` / `ValueRangeError`. */
  constructor(options: MessageDirectorOptions = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('MessageDirector options must be an object');
    this.#host = options.host ?? '127.0.0.1';
    if (typeof this.#host !== 'string' || this.#host === '') throw new InvalidArgumentError(`host must be a non-empty string, got ${String(options.host)}`);
    this.#port = checkPort('port', options.port ?? 0, true);
    const threads = options.threads ?? 2;
    if (!Number.isInteger(threads) || threads < 0 || threads > 64) throw new ValueRangeError(`threads must be an integer 0..64, got ${String(threads)}`);
    this.#threads = threads;
    const up = options.upstream ?? null;
    if (up !== null) {
      if (typeof up !== 'object' || typeof up.host !== 'string' || up.host === '') throw new InvalidArgumentError('upstream must be { host, port }');
      this.#upstreamAddr = { host: up.host, port: checkPort('upstream port', up.port, false) };
    } else this.#upstreamAddr = null;
    this.#name = options.name ?? 'md';
    const tc = options.terminateCloseMs ?? 1000;
    if (!Number.isFinite(tc) || tc < 100) throw new ValueRangeError(`terminateCloseMs must be a number ≥ 100, got ${String(tc)}`);
    this.#terminateCloseMs = tc;
    this.#natsOptions = options.nats ?? null;
    if (this.#natsOptions !== null) {
      if (this.#upstreamAddr !== null) throw new InvalidArgumentError('MessageDirector: choose one topology: upstream (Astron tree) or nats (mesh), not both');
      checkNatsOptions(this.#natsOptions);
    }
    this.#director = new Director<Connection>(this.#output, { upstream: this.#upstreamAddr !== null });
  }

  /** The name given in the options (for logs). */
  get name(): string {
    return this.#name;
  }

  /**
   * Listens, then connects upstream (when configured; within a second, else it rejects with
   * `SocketError`) or joins the NATS mesh; resolves with the listening address once all of that is
   * done (ready). Participants that connect meanwhile are served once it is ready. Rejects with `SocketError` when it
   * cannot listen. A second call returns the same promise. Thread: main thread only.
   */
  start(): Promise<MdAddress> {
    if (this.#startPromise === null) this.#startPromise = this.#start();
    return this.#startPromise;
  }

  async #start(): Promise<MdAddress> {
    if (this.#state !== 'new') throw new InvalidArgumentError('MessageDirector: start() after stop()');
    this.#state = 'starting';
    const manager = new QueuedConnectionManager();
    this.#manager = manager;
    try {
      this.#maxPending = getNetConfig().maxPendingSendBytes;
      this.#listener = new QueuedConnectionListener(manager, this.#threads);
      this.#reader = new QueuedConnectionReader(manager, this.#threads);
      this.#writer = new ConnectionWriter(manager, this.#threads);
      this.#reader.setTcpHeaderSize(2);
      this.#writer.setTcpHeaderSize(2);
      // Listen first (as Astron does): participants that connect while the upstream link or the mesh
      // is being made wait in the listener's queue, and the port is open as early as possible.
      const rv = await manager.openTCPServerRendezvousAsync(this.#host, this.#port, 1024);
      if (rv === null) {
        const why = manager.getLastError();
        throw new SocketError(`md ${this.#name}: could not listen on ${this.#host}:${this.#port}: ${why?.message ?? 'unknown error'}`, { address: this.#host, port: this.#port });
      }
      this.#rendezvous = rv;
      this.#listener.addConnection(rv);
      this.#address = { host: this.#host, port: rv.getLocalAddress().getPort() };
      if (this.#upstreamAddr !== null) {
        const { host, port } = this.#upstreamAddr;
        const c = await manager.openTCPClientConnectionAsync(host, port, UPSTREAM_CONNECT_MS);
        if (c === null) {
          const why = manager.getLastError();
          throw new SocketError(`md ${this.#name}: could not connect to upstream ${host}:${port}: ${why?.message ?? 'unknown error'}`, { address: host, port });
        }
        this.#attachUpstream(c);
      }
      if (this.#natsOptions !== null) {
        this.#mesh = await MdMesh.connect<Connection>(
          this.#natsOptions,
          {
            director: this.#director,
            beforeRoute: () => {
              try {
                this.#writer?.cork();
              } catch {
                // A writer already shut down (stopping): nothing to hold; its sends fail as they would.
              }
            },
            afterRoute: () => {
              this.#writer?.uncork();
              if (this.#condemned.length > 0) this.#terminateCondemned();
            },
            log: (level, message) => log(level, message),
          },
          this.#name,
        );
        this.#director.attachMesh(this.#mesh);
      }
    } catch (err) {
      this.#state = 'stopped';
      await this.#mesh?.close().catch(() => undefined);
      await manager.shutdownAsync({ timeoutMs: 1000 }).catch(() => undefined);
      throw err;
    }
    if ((this.#state as string) !== 'starting') {
      // stop() was called meanwhile: it waits for this start to settle, then closes everything.
      return this.#address;
    }
    this.#state = 'running';
    this.#loopDone = this.#loop();
    log('info', `md ${this.#name}: listening on ${this.#address.host}:${this.#address.port}${this.#upstreamAddr === null ? '' : `, upstream ${this.#upstreamAddr.host}:${this.#upstreamAddr.port}`}${this.#mesh === null ? '' : `, mesh node ${this.#mesh.nodeId}`}`);
    return this.#address;
  }

  /** The listening address once started, else null. */
  address(): MdAddress | null {
    return this.#address;
  }

  /**
   * Stops: closes every participant (gracefully; their post-removes do **not** fire, see the module
   * notes), the upstream link and the listener, and shuts the I/O threads down. Idempotent; resolves
   * when done. Thread: main thread only.
   */
  stop(): Promise<void> {
    if (this.#stopPromise === null) this.#stopPromise = this.#stop();
    return this.#stopPromise;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state === 'starting') {
      this.#state = 'stopping';
      await this.#startPromise?.catch(() => undefined);
    }
    if (this.#state === 'stopped') return;
    this.#state = 'stopping';
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.#loopDone;
    const manager = this.#manager!;
    for (const [conn, p] of this.#byConn) {
      this.#director.forget(p);
      manager.closeConnection(conn);
    }
    this.#byConn.clear();
    await this.#mesh?.close().catch(() => undefined);
    if (this.#upstream !== null) manager.closeConnection(this.#upstream);
    this.#upstream = null;
    if (this.#rendezvous !== null) manager.closeConnection(this.#rendezvous);
    await manager.shutdownAsync({ timeoutMs: 2000 }).catch(() => undefined);
    this.#state = 'stopped';
    log('info', `md ${this.#name}: stopped`);
  }

  /** Counters and state (the mesh's counters are zeros without `nats`). Thread: main thread only. */
  getStats(): MdStats {
    const mesh = this.#mesh;
    return {
      ...this.#director.counters,
      upstream: this.#upstreamAddr === null ? 'none' : this.#upstream !== null ? 'up' : 'down',
      ...this.#extra,
      mesh: mesh === null ? 'none' : mesh.state,
      meshNode: mesh?.nodeId ?? '',
      meshKv: mesh === null ? 'none' : mesh.kvState,
      ...(mesh?.counters ?? NO_MESH),
    };
  }

  /**
   * The mesh nodes this node would forward a datagram for `channel` to, by its remote-interest index
   * (empty without `nats`). For tests and tools. Thread: main thread only.
   */
  meshHolders(channel: number | bigint): string[] {
    return this.#mesh?.holders(channelKey(channel)) ?? [];
  }

  /**
   * Resolves once the post-removes added so far are held in the mesh's key-value store (bounded by
   * `timeoutMs`; at once without `nats`). For tests and tools. Thread: main thread only.
   */
  async meshSettled(timeoutMs = 2000): Promise<void> {
    await this.#mesh?.settled(timeoutMs);
  }

  // -------------------------------------------------------------------------------------------
  // the loop

  async #loop(): Promise<void> {
    const reader = this.#reader!;
    let woken = false;
    while (this.#state === 'running') {
      let busy = false;
      try {
        busy = this.#pump();
      } catch (err) {
        log('error', `md ${this.#name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      if (this.#state !== 'running') break;
      // After work, let the event loop run (sockets, timers) before the next round; idle, sleep
      // until the I/O threads deliver (or IDLE_WAIT_MS, to look at accepts and disconnects).
      // A wake-up that found nothing to route (data of a connection no longer read, say) must not
      // spin on resolved promises: then wait a millisecond instead.
      if (busy) await new Promise<void>((r) => setImmediate(r));
      else if (woken) await new Promise<void>((r) => setTimeout(r, 1));
      if (busy || woken) woken = false;
      else woken = await reader.waitForDataAsync(IDLE_WAIT_MS).catch(() => false);
    }
  }

  /** One round: accept, route what is queued, handle disconnects. True if it routed anything. */
  #pump(): boolean {
    const manager = this.#manager!;
    const listener = this.#listener!;
    const reader = this.#reader!;
    while (listener.newConnectionAvailable()) {
      if (!listener.getNewConnection(this.#rv, this.#addr, this.#nc)) continue;
      const conn = this.#nc.p();
      if (conn === null) continue;
      if (!reader.addConnection(conn)) {
        manager.closeConnection(conn);
        continue;
      }
      conn.setNoDelay(true);
      const p = this.#director.addParticipant(conn);
      this.#byConn.set(conn, p);
      log('debug', `md ${this.#name}: participant #${p.id} connected from ${this.#addr.getIpString()}:${this.#addr.getPort()}`);
    }
    reader.poll();
    const n = reader.drainData(this.#visit, DRAIN_BATCH);
    this.#handleResets();
    this.#mesh?.flush();
    return n > 0;
  }

  readonly #visit = (conn: Connection, data: Uint8Array, offset: number, length: number): void => {
    if (conn === this.#upstream) this.#director.receiveFromUpstream(data, offset, length);
    else {
      const p = this.#byConn.get(conn);
      if (p === undefined) return;
      this.#director.receive(p, data, offset, length);
    }
    if (this.#condemned.length > 0) this.#terminateCondemned();
  };

  #terminateCondemned(): void {
    // Terminating fires post-removes, which may condemn others: loop until none is left.
    while (this.#condemned.length > 0) {
      const p = this.#condemned.shift()!;
      this.#extra.slowConsumers++;
      this.#director.terminate(p, `slow consumer: ${p.conn.getPendingSendBytes()} bytes unread (maxPendingSendBytes ${this.#maxPending})`);
    }
  }

  #handleResets(): void {
    const manager = this.#manager!;
    const ptr = this.#rv;
    while (manager.resetConnectionAvailable()) {
      if (!manager.getResetConnection(ptr)) continue;
      const conn = ptr.p();
      if (conn === null) continue;
      if (conn === this.#upstream) {
        this.#upstreamLost();
        continue;
      }
      const p = this.#byConn.get(conn);
      if (p !== undefined) {
        this.#byConn.delete(conn);
        if (p.state === 'active') log('debug', `md ${this.#name}: ${p.label()} disconnected`);
        this.#director.disconnected(p);
        if (this.#condemned.length > 0) this.#terminateCondemned();
      }
      manager.closeConnection(conn);
    }
  }

  // -------------------------------------------------------------------------------------------
  // output of the director

  readonly #output: DirectorOutput<Connection> = {
    route: (data, offset, length, to, n, up) => {
      const dg = this.#dg;
      dg.clear();
      dg.appendData(data, offset, length);
      const writer = this.#writer!;
      for (let i = 0; i < n; i++) {
        const p = to[i]!;
        if (writer.send(dg, p.conn, true)) continue;
        this.#sendFailed(p);
      }
      if (up) this.#sendUp(dg);
    },
    controlUp: (msg: MdControl) => {
      this.#sendUp(mdControlDatagram(msg));
    },
    terminated: (p) => {
      const conn = p.conn;
      this.#reader?.removeConnection(conn); // stop reading it now; no FIN yet
      const t = setTimeout(() => {
        this.#timers.delete(t);
        if (this.#byConn.get(conn) === p) this.#byConn.delete(conn);
        this.#manager?.closeConnection(conn);
      }, this.#terminateCloseMs);
      this.#timers.add(t);
    },
    log: (level, message) => log(level, `${message} [${this.#name}]`),
  };

  #sendFailed(p: MdParticipantRecord<Connection>): void {
    const conn = p.conn;
    if (!conn.isOpen() || p.state !== 'active') return; // its disconnect is on the way
    if (conn.getPendingSendBytes() >= this.#maxPending) {
      if (!this.#condemned.includes(p)) this.#condemned.push(p);
      return;
    }
    this.#extra.sendFailures++;
    log('warning', `md ${this.#name}: could not deliver to ${p.label()} (writer queue full)`);
  }

  #sendUp(dg: Datagram): void {
    const up = this.#upstream;
    if (up === null || !this.#writer!.send(dg, up, true)) this.#extra.upstreamDropped++;
  }

  // -------------------------------------------------------------------------------------------
  // upstream link

  #attachUpstream(c: Connection): void {
    if (!this.#reader!.addConnection(c)) throw new SocketError(`md ${this.#name}: could not read the upstream connection`, {});
    c.setNoDelay(true);
    this.#upstream = c;
  }

  #upstreamLost(): void {
    const c = this.#upstream;
    this.#upstream = null;
    if (c !== null) this.#manager?.closeConnection(c);
    const a = this.#upstreamAddr!;
    log('warning', `md ${this.#name}: lost the upstream link to ${a.host}:${a.port}; reconnecting`);
    this.#backoff = BACKOFF_MIN_MS;
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#state !== 'running') return;
    const delay = this.#backoff;
    this.#backoff = Math.min(BACKOFF_MAX_MS, this.#backoff * 2);
    const t = setTimeout(() => {
      this.#timers.delete(t);
      void this.#reconnect();
    }, delay);
    this.#timers.add(t);
  }

  async #reconnect(): Promise<void> {
    if (this.#state !== 'running' || this.#upstream !== null) return;
    const { host, port } = this.#upstreamAddr!;
    const c = await this.#manager!.openTCPClientConnectionAsync(host, port, UPSTREAM_CONNECT_MS).catch(() => null);
    if (this.#state !== 'running') {
      try {
        if (c !== null) this.#manager?.closeConnection(c);
      } catch {
        // stopped meanwhile: the manager closed everything
      }
      return;
    }
    if (c === null) {
      this.#scheduleReconnect();
      return;
    }
    try {
      this.#attachUpstream(c);
    } catch {
      this.#manager!.closeConnection(c);
      this.#scheduleReconnect();
      return;
    }
    this.#extra.upstreamReconnects++;
    const n = this.#director.resyncUpstream();
    log('info', `md ${this.#name}: upstream ${host}:${port} is back; re-sent ${n} subscriptions and post-removes`);
  }
}

function checkPort(what: string, port: unknown, zeroOk: boolean): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < (zeroOk ? 0 : 1) || port > 65535) {
    throw new ValueRangeError(`${what} must be an integer ${zeroOk ? 0 : 1}..65535, got ${String(port)}`);
  }
  return port;
}
