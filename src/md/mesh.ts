/**
 * The message directors' mesh: every node joins one NATS cluster and routes to the others directly —
 * no root, no tree. Loaded only when `MessageDirectorOptions.nats` is set; the NATS client
 * (`@nats-io/transport-node`, `@nats-io/kv`, optional peer dependencies) is imported lazily then.
 *
 * Design (docs/cluster.md, "Cluster over NATS"), subjects under `pandanet.md.<cluster>.`:
 * - `node.<nodeId>`: data for one node. A NATS message is a batch of MD datagrams, each behind a
 *   little-endian uint16 length (Panda's framing); one batch per destination node per routing pass.
 * - `interest`: JSON interest changes of a node, `{n, s, o}` (node id, per-node sequence number,
 *   ops), and snapshots `{n, s, snap, ch, r}` (all its channels, its range coverage as maximal
 *   intervals). Channels travel as decimal strings (64-bit). No message exceeds 256 KiB (NATS
 *   refuses more than `max_payload`): a bigger snapshot travels in parts `{…, part, of}`, many ops
 *   as several deltas.
 * - `sync`: `{from, want?, reput?}` asks one node (`want`) or all for a snapshot.
 * - `hb`: heartbeats `{n, s}` every `deadAfterMs / 5` (`bye: true` on a clean stop).
 * - JetStream KV bucket `pandanet-md-<cluster>`: `pr.<nodeId>.<participantId>` = that participant's
 *   post-removes; `claim.<nodeId>` = who fires a dead node's post-removes (compare-and-set create;
 *   a dead claimer's claims are taken over with a compare-and-set update).
 *
 * The remote-interest index is a {@link ChannelMap} whose subscribers are remote nodes (two targets
 * per node, one for its channels, one for its ranges, so channel and range interest stay independent
 * set operations); a datagram is batched once per node that holds any recipient.
 *
 * Thread: main thread only (the thread of its {@link MessageDirector}).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { NatsConnection, Msg, ConnectionOptions } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { InvalidArgumentError, MissingDependencyError, SocketError, ValueRangeError } from '../errors.js';
import { ChannelMap, type RouteTarget } from './channel-map.js';
import type { Director, DirectorMesh, MdParticipantRecord } from './director.js';
import { channelKey, readChannelKey, writeChannelKey, type ChannelKey, type MdControl, type MdHeader } from './protocol.js';

/** How a {@link MessageDirector} joins the NATS mesh (`MessageDirectorOptions.nats`). Thread: any. */
export interface MdNatsOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222` or `nats://user:pass@host:4222`. */
  servers: string | string[];
  /** The cluster's name: nodes with the same name route among themselves (`[A-Za-z0-9_-]`, default `default`). */
  cluster?: string;
  /** The NATS connection's name (monitoring); default `pandanet-md-<node name>`. */
  name?: string;
  /** NATS user and password (also accepted in the URL). */
  user?: string;
  /** NATS password. */
  pass?: string;
  /** NATS token. */
  token?: string;
  /** A NATS `.creds` file (JWT + nkey seed), read at start. */
  credsFile?: string;
  /** TLS options passed to the client as they are (`caFile`, `certFile`, `keyFile`, `ca`, `cert`, `key`, `handshakeFirst`). */
  tls?: { caFile?: string; certFile?: string; keyFile?: string; ca?: string; cert?: string; key?: string; handshakeFirst?: boolean };
  /** A node silent this long (ms) is dead: its post-removes fire elsewhere. Default 3000 (100..60000). */
  deadAfterMs?: number;
  /** First connection's timeout, ms (default 2000); `start()` rejects with `SocketError` past it. */
  connectTimeoutMs?: number;
  /** Wait between reconnection attempts, ms (default 250). */
  reconnectWaitMs?: number;
}

/** Counters of the mesh (in `MdStats`). Thread: any (a snapshot). */
export interface MeshCounters {
  /** Datagrams sent to other nodes (a datagram to 2 nodes counts 2). */
  meshDatagramsOut: number;
  /** NATS messages (batches) published to other nodes. */
  meshBatchesOut: number;
  /** Datagrams received from other nodes. */
  meshDatagramsIn: number;
  /** Datagrams for other nodes dropped while NATS was unreachable. */
  meshDropped: number;
  /** Interest messages (deltas and snapshots) published. */
  meshInterestOut: number;
  /** Interest messages applied from other nodes. */
  meshInterestIn: number;
  /** Other nodes alive now. */
  meshPeers: number;
  /** Nodes declared dead (silent past `deadAfterMs`, or said goodbye). */
  meshDeadNodes: number;
  /** Dead nodes whose post-removes this node claimed (and fired). */
  meshClaimsWon: number;
  /** Dead nodes another node claimed first. */
  meshClaimsLost: number;
  /** Dead nodes' post-remove datagrams this node fired. */
  meshPostRemovesFired: number;
  /** Reconnections to NATS after a loss. */
  meshReconnects: number;
  /** KV writes that failed (retried). */
  meshKvErrors: number;
  /** Failed attempts to create or open the KV bucket (retried with backoff until it opens). */
  meshKvOpenFailures: number;
}

/** What the mesh needs of its MessageDirector. Thread: main thread. */
export interface MeshHost<C> {
  director: Director<C>;
  /**
   * Before the mesh routes a batch of datagrams itself (one NATS message): hold the sends to local
   * participants (the writer's `cork`), so the batch wakes each I/O thread once and a participant's
   * run of datagrams leaves in one batch record. Always followed by {@link afterRoute}.
   */
  beforeRoute(): void;
  /** After the mesh routed datagrams itself (from NATS, a dead node's post-removes): release what {@link beforeRoute} held, terminate slow consumers. */
  afterRoute(): void;
  log(level: 'debug' | 'info' | 'warning' | 'error', message: string): void;
}

/** A remote node's slot in the index. */
interface Target extends RouteTarget {
  readonly node: RemoteNode;
}

interface RemoteNode {
  readonly id: string;
  readonly chan: Target;
  readonly range: Target;
  /** Sequence number of the last interest message applied; -1 before its first snapshot. */
  lastSeq: number;
  lastSeen: number;
  stamp: number;
  buf: Uint8Array;
  len: number;
  syncAskedAt: number;
  /** A snapshot in several parts being received: its sequence number, parts, the next part expected, what came so far. */
  snap: { s: number; of: number; next: number; rejoined: boolean; ch: unknown[]; r: unknown[] } | null;
}

const MAX_BATCH = 256 * 1024;
/**
 * Interest messages (snapshots, deltas) are cut into parts of at most this many bytes of JSON (and
 * under the server's `max_payload`, 1 MiB by default): a node with ~50,000 64-bit channels has a
 * snapshot of more than 1 MiB, which NATS would refuse as one message.
 */
const MAX_INTEREST_PART = 256 * 1024;
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Validated mesh options (throws `InvalidArgumentError` / `ValueRangeError`). Thread: any. */
export function checkNatsOptions(
  o: MdNatsOptions,
): Required<Pick<MdNatsOptions, 'cluster' | 'deadAfterMs' | 'connectTimeoutMs' | 'reconnectWaitMs'>> & { servers: string[]; user?: string; pass?: string; token?: string } {
  if (o === null || typeof o !== 'object') throw new InvalidArgumentError('nats must be { servers, ... }');
  const servers = typeof o.servers === 'string' ? o.servers.split(',').map((x) => x.trim()).filter((x) => x !== '') : o.servers;
  if (!Array.isArray(servers) || servers.length === 0 || !servers.every((x) => typeof x === 'string' && x !== '')) {
    throw new InvalidArgumentError('nats.servers must be a URL or a non-empty list of URLs');
  }
  const cluster = o.cluster ?? 'default';
  if (typeof cluster !== 'string' || !TOKEN.test(cluster)) throw new InvalidArgumentError(`nats.cluster must match [A-Za-z0-9_-]{1,64}, got ${String(cluster)}`);
  const num = (what: string, v: unknown, dflt: number, lo: number, hi: number): number => {
    const x = v ?? dflt;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < lo || x > hi) throw new ValueRangeError(`nats.${what} must be a number ${lo}..${hi}, got ${String(v)}`);
    return x;
  };
  // The client takes no credentials in URLs: `nats://user:pass@host` / `nats://token@host` are split here.
  let user: string | undefined;
  let pass: string | undefined;
  let token: string | undefined;
  const bare = servers.map((url) => {
    const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(url);
    if (m === null) return url;
    const cred = m[2]!;
    const i = cred.indexOf(':');
    if (i >= 0) {
      user ??= decodeURIComponent(cred.slice(0, i));
      pass ??= decodeURIComponent(cred.slice(i + 1));
    } else token ??= decodeURIComponent(cred);
    return m[1]! + m[3]!;
  });
  return {
    servers: bare,
    ...(user !== undefined ? { user } : {}),
    ...(pass !== undefined ? { pass } : {}),
    ...(token !== undefined ? { token } : {}),
    cluster,
    deadAfterMs: num('deadAfterMs', o.deadAfterMs, 3000, 100, 60_000),
    connectTimeoutMs: num('connectTimeoutMs', o.connectTimeoutMs, 2000, 100, 60_000),
    reconnectWaitMs: num('reconnectWaitMs', o.reconnectWaitMs, 250, 10, 60_000),
  };
}

type NatsModule = typeof import('@nats-io/transport-node');
type KvModule = typeof import('@nats-io/kv');

async function importNats(): Promise<{ nats: NatsModule; kv: KvModule }> {
  try {
    const [nats, kv] = await Promise.all([import('@nats-io/transport-node'), import('@nats-io/kv')]);
    return { nats, kv };
  } catch (err) {
    throw new MissingDependencyError(
      `the message-director mesh (nats) needs the optional packages @nats-io/transport-node and @nats-io/kv: npm install @nats-io/transport-node @nats-io/kv (${err instanceof Error ? err.message : String(err)})`,
    );
  }
}

/** Encodes a participant's post-removes for the KV: per datagram `u64 key · u16 length · bytes`, keys in the order added. */
function encodePostRemoves(map: ReadonlyMap<ChannelKey, Uint8Array[]>): Uint8Array {
  let n = 0;
  for (const list of map.values()) for (const dg of list) n += 10 + dg.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const [key, list] of map) {
    for (const dg of list) {
      writeChannelKey(out, at, key);
      out[at + 8] = dg.length & 0xff;
      out[at + 9] = dg.length >>> 8;
      out.set(dg, at + 10);
      at += 10 + dg.length;
    }
  }
  return out;
}

function decodePostRemoves(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at + 10 <= b.length) {
    readChannelKey(b, at);
    const n = b[at + 8]! | (b[at + 9]! << 8);
    if (at + 10 + n > b.length) break;
    out.push(b.slice(at + 10, at + 10 + n));
    at += 10 + n;
  }
  return out;
}

type Op = ['c' | 'C', string] | ['r' | 'R', string, string];

function toOp(m: MdControl): Op | null {
  switch (m.kind) {
    case 'addChannel':
      return ['c', String(m.channel)];
    case 'removeChannel':
      return ['C', String(m.channel)];
    case 'addRange':
      return ['r', String(m.lo), String(m.hi)];
    case 'removeRange':
      return ['R', String(m.lo), String(m.hi)];
    default:
      return null;
  }
}

const toKey = (s: unknown): ChannelKey => channelKey(BigInt(String(s)));

/** Mesh counters all at zero (a new node's, and what `MdStats` reports without `nats`). Thread: any. */
export function zeroMeshCounters(): MeshCounters {
  return {
    meshDatagramsOut: 0,
    meshBatchesOut: 0,
    meshDatagramsIn: 0,
    meshDropped: 0,
    meshInterestOut: 0,
    meshInterestIn: 0,
    meshPeers: 0,
    meshDeadNodes: 0,
    meshClaimsWon: 0,
    meshClaimsLost: 0,
    meshPostRemovesFired: 0,
    meshReconnects: 0,
    meshKvErrors: 0,
    meshKvOpenFailures: 0,
  };
}

/** How long close() waits for claims and firings under way before it drains the connection, ms. */
const KV_TASKS_ON_CLOSE_MS = 3000;
/** Retries of the KV bucket's create-or-open: the first wait, ms, doubled after each failure up to {@link KV_RETRY_MAX_MS}. */
const KV_RETRY_MIN_MS = 100;
const KV_RETRY_MAX_MS = 5000;

/**
 * One node's link to the mesh (see the module notes). Made by {@link MdMesh.connect}; closed by
 * {@link MdMesh.close}. Thread: main thread only.
 */
export class MdMesh<C> implements DirectorMesh<C> {
  /** This node's id in the mesh (random, new at every start). */
  readonly nodeId = randomBytes(8).toString('hex');
  readonly counters: MeshCounters = zeroMeshCounters();
  readonly #host: MeshHost<C>;
  readonly #prefix: string;
  readonly #deadAfterMs: number;
  readonly #index = new ChannelMap<Target>();
  readonly #nodes = new Map<string, RemoteNode>();
  /** Nodes declared dead, and when (their late heartbeat means they rejoined). */
  readonly #dead = new Map<string, number>();
  readonly #targets: Target[] = [];
  readonly #pending: RemoteNode[] = [];
  #gen = 0;
  #seq = 0;
  #nc: NatsConnection | null = null;
  #kv: KV | null = null;
  /** The KV module (imported at connect), for {@link #openKv}'s retries. */
  #kvModule: KvModule | null = null;
  readonly #bucket: string;
  #kvRetryMs = KV_RETRY_MIN_MS;
  #kvRetry: NodeJS.Timeout | null = null;
  #kvOpening = false;
  #connected = false;
  #closing = false;
  /** close() began: no more claims (this node is leaving). */
  #stopping = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  /**
   * Claims and firings under way (KV reads and listings). close() lets them finish before it drains
   * the connection: a key listing cut off by the close leaves the NATS client's 30 s heartbeat timer
   * behind, which kept a stopped node's process alive.
   */
  readonly #kvTasks = new Set<Promise<void>>();
  readonly #prDirty = new Set<MdParticipantRecord<C>>();
  readonly #prDelete = new Set<string>();
  readonly #prStored = new Set<string>();
  #prFlushing: Promise<void> | null = null;
  #prScheduled = false;

  private constructor(host: MeshHost<C>, cluster: string, deadAfterMs: number) {
    this.#host = host;
    this.#prefix = `pandanet.md.${cluster}.`;
    this.#bucket = `pandanet-md-${cluster}`;
    this.#deadAfterMs = deadAfterMs;
  }

  /** 'up' while NATS is connected, else 'down'. */
  get state(): 'up' | 'down' {
    return this.#connected ? 'up' : 'down';
  }

  /** 'up' once the post-remove store (the KV bucket) is open, else 'down' (being retried). */
  get kvState(): 'up' | 'down' {
    return this.#kv === null ? 'down' : 'up';
  }

  /**
   * Imports the NATS client (`MissingDependencyError` if absent), connects (`SocketError` when no
   * server answers within `connectTimeoutMs`), subscribes, opens the KV bucket (if that fails — a
   * server without JetStream, or another node creating the bucket at the same moment — it is logged
   * and retried with backoff; until it opens, post-removes do not survive this node), announces this
   * node and asks the others for their interest. Thread: main thread.
   */
  static async connect<C>(options: MdNatsOptions, host: MeshHost<C>, nodeName: string): Promise<MdMesh<C>> {
    const o = checkNatsOptions(options);
    const { nats, kv } = await importNats();
    const mesh = new MdMesh<C>(host, o.cluster, o.deadAfterMs);
    const co: ConnectionOptions = {
      servers: o.servers,
      name: options.name ?? `pandanet-md-${nodeName}`,
      timeout: o.connectTimeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: o.reconnectWaitMs,
      reconnectJitter: Math.min(100, o.reconnectWaitMs),
      waitOnFirstConnect: false,
    };
    const user = options.user ?? o.user;
    const pass = options.pass ?? o.pass;
    const token = options.token ?? o.token;
    if (user !== undefined) co.user = user;
    if (pass !== undefined) co.pass = pass;
    if (token !== undefined) co.token = token;
    if (options.tls !== undefined) co.tls = { ...options.tls };
    if (options.credsFile !== undefined) co.authenticator = nats.credsAuthenticator(new Uint8Array(await readFile(options.credsFile)));
    let nc: NatsConnection;
    try {
      nc = await nats.connect(co);
    } catch (err) {
      throw new SocketError(`md ${nodeName}: could not connect to NATS ${o.servers.join(',')}: ${err instanceof Error ? err.message : String(err)}`, {});
    }
    mesh.#nc = nc;
    mesh.#connected = true;
    const p = mesh.#prefix;
    const on =
      (f: (m: Msg) => void) =>
      (err: Error | null, m: Msg): void => {
        if (err !== null || mesh.#closing) return;
        try {
          f(m);
        } catch (e) {
          host.log('error', `md mesh: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        }
      };
    nc.subscribe(`${p}node.${mesh.nodeId}`, { callback: on((m) => mesh.#onData(m)) });
    nc.subscribe(`${p}interest`, { callback: on((m) => mesh.#onInterest(m)) });
    nc.subscribe(`${p}sync`, { callback: on((m) => mesh.#onSync(m)) });
    nc.subscribe(`${p}hb`, { callback: on((m) => mesh.#onHeartbeat(m)) });
    void mesh.#watch(nc);
    mesh.#kvModule = kv;
    await mesh.#openKv();
    await nc.flush();
    mesh.#publishSnapshot();
    mesh.#publish('sync', { from: mesh.nodeId });
    mesh.#heartbeat();
    const every = Math.max(20, Math.floor(o.deadAfterMs / 5));
    mesh.#every(every, () => mesh.#heartbeat());
    mesh.#every(every, () => mesh.#checkLiveness());
    host.log('info', `md ${nodeName}: joined NATS mesh '${o.cluster}' as node ${mesh.nodeId} (${o.servers.join(',')})`);
    return mesh;
  }

  #every(ms: number, f: () => void): void {
    const t = setInterval(() => {
      try {
        f();
      } catch (err) {
        this.#host.log('error', `md mesh: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  /**
   * Creates the KV bucket, or opens it when it exists. Two nodes that find it missing at the same
   * moment both create it, and the server refuses the second ("subjects overlap"); a server without
   * JetStream refuses both. Either way this retries (backoff {@link KV_RETRY_MIN_MS} doubling to
   * {@link KV_RETRY_MAX_MS}) until the bucket opens, then stores every participant's post-removes.
   */
  async #openKv(): Promise<void> {
    const nc = this.#nc;
    const kvModule = this.#kvModule;
    if (this.#kv !== null || this.#kvOpening || this.#stopping || nc === null || kvModule === null) return;
    this.#kvOpening = true;
    try {
      this.#kv = await new kvModule.Kvm(nc).create(this.#bucket, { history: 1 });
    } catch (err) {
      if (this.#stopping) return;
      if (this.counters.meshKvOpenFailures++ === 0) {
        this.#host.log('warning', `md mesh: no JetStream key-value store '${this.#bucket}' yet (${err instanceof Error ? err.message : String(err)}); retrying — until it opens, post-removes do not survive this node`);
      }
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#kvRetry = null;
        void this.#openKv();
      }, this.#kvRetryMs);
      t.unref();
      this.#timers.add(t);
      this.#kvRetry = t;
      this.#kvRetryMs = Math.min(KV_RETRY_MAX_MS, this.#kvRetryMs * 2);
      return;
    } finally {
      this.#kvOpening = false;
    }
    if (this.counters.meshKvOpenFailures > 0) this.#host.log('info', `md mesh: key-value store '${this.#bucket}' open after ${this.counters.meshKvOpenFailures} failed attempt(s); storing post-removes`);
    this.#reputAll();
  }

  /** NATS is back: a pending retry of the KV's open runs now, from the shortest backoff. */
  #retryKvNow(): void {
    if (this.#kvRetry === null) return;
    clearTimeout(this.#kvRetry);
    this.#timers.delete(this.#kvRetry);
    this.#kvRetry = null;
    this.#kvRetryMs = KV_RETRY_MIN_MS;
    void this.#openKv();
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.#closing) return;
      if (s.type === 'disconnect') {
        if (!this.#connected) continue;
        this.#connected = false;
        for (const n of this.#pending) {
          n.len = 0;
        }
        this.#pending.length = 0;
        this.#host.log('warning', `md mesh: lost NATS (node ${this.nodeId}); routing locally, reconnecting`);
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        this.counters.meshReconnects++;
        const now = Date.now();
        for (const n of this.#nodes.values()) n.lastSeen = now;
        this.#publishSnapshot();
        this.#publish('sync', { from: this.nodeId });
        this.#reputAll();
        this.#retryKvNow();
        this.#host.log('info', `md mesh: NATS is back (node ${this.nodeId}); re-announced interest and post-removes`);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // data

  /** {@link DirectorMesh.forward}: batches the datagram once for each remote node holding a recipient. */
  forward(data: Uint8Array, offset: number, length: number, h: MdHeader): void {
    const to = this.#targets;
    const n = this.#index.collect(data, h.recipients, h.count, to, null);
    if (n === 0) return;
    if (!this.#connected) {
      this.counters.meshDropped += n;
      return;
    }
    const gen = ++this.#gen;
    for (let i = 0; i < n; i++) {
      const node = to[i]!.node;
      if (node.stamp === gen) continue;
      node.stamp = gen;
      this.#append(node, data, offset, length);
    }
  }

  #append(node: RemoteNode, data: Uint8Array, offset: number, length: number): void {
    if (node.len + 2 + length > MAX_BATCH && node.len > 0) this.#flushNode(node);
    const need = node.len + 2 + length;
    if (need > node.buf.length) {
      const b = new Uint8Array(Math.max(need, node.buf.length * 2, 4096));
      b.set(node.buf.subarray(0, node.len));
      node.buf = b;
    }
    if (node.len === 0) this.#pending.push(node);
    const b = node.buf;
    b[node.len] = length & 0xff;
    b[node.len + 1] = length >>> 8;
    b.set(data.subarray(offset, offset + length), node.len + 2);
    node.len += 2 + length;
    this.counters.meshDatagramsOut++;
  }

  #flushNode(node: RemoteNode): void {
    if (node.len === 0) return;
    const payload = node.buf.slice(0, node.len); // the client keeps a reference until written
    node.len = 0;
    if (!this.#connected || this.#nc === null) return;
    try {
      this.#nc.publish(`${this.#prefix}node.${node.id}`, payload);
      this.counters.meshBatchesOut++;
    } catch (err) {
      this.#host.log('warning', `md mesh: publish to node ${node.id} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Publishes the batches of this routing pass (one NATS message per destination node). */
  flush(): void {
    const p = this.#pending;
    if (p.length === 0) return;
    for (let i = 0; i < p.length; i++) this.#flushNode(p[i]!);
    p.length = 0;
  }

  #onData(m: Msg): void {
    const d = m.data;
    const director = this.#host.director;
    const host = this.#host;
    host.beforeRoute();
    try {
      this.counters.meshDatagramsIn += director.receiveMeshBatch(d, d.length);
    } finally {
      host.afterRoute();
    }
    this.flush();
  }

  // ---------------------------------------------------------------------------------------------
  // interest

  #publish(what: string, obj: unknown): void {
    if (!this.#connected || this.#nc === null) return;
    try {
      this.#nc.publish(this.#prefix + what, enc.encode(JSON.stringify(obj)));
    } catch (err) {
      this.#host.log('warning', `md mesh: publish ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** {@link DirectorMesh.interest}: one delta message, after the data routed before it. */
  interest(msgs: readonly MdControl[]): void {
    const ops = msgs.map(toOp).filter((x): x is Op => x !== null);
    if (ops.length === 0) return;
    this.flush();
    // Many ops (a REMOVE_RANGE over thousands of channels) travel as several deltas, each with its
    // own sequence number and under the part size.
    for (const part of this.#parts(ops)) {
      this.#seq++;
      this.counters.meshInterestOut++;
      this.#publish('interest', { n: this.nodeId, s: this.#seq, o: part });
    }
  }

  /** Bytes one interest message may take: {@link MAX_INTEREST_PART}, less under a smaller `max_payload`. */
  #partBytes(): number {
    const max = this.#nc?.info?.max_payload ?? 1024 * 1024;
    return Math.max(1024, Math.min(MAX_INTEREST_PART, max - 1024));
  }

  /** Cuts a list into runs whose JSON stays within {@link #partBytes} (each item's size estimated from its strings). */
  #parts<T extends string | readonly string[]>(items: readonly T[]): T[][] {
    const budget = this.#partBytes() - 256;
    const out: T[][] = [];
    let cur: T[] = [];
    let bytes = 0;
    for (const it of items) {
      const b = typeof it === 'string' ? it.length + 3 : it.reduce((s, x) => s + x.length + 3, 3);
      if (cur.length > 0 && bytes + b > budget) {
        out.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(it);
      bytes += b;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  /**
   * Publishes this node's whole interest. Above the part size it travels in parts (`part`, `of`):
   * channels first, then ranges; a receiver applies it once the last part arrived (NATS keeps one
   * publisher's order, and the parts are published back to back).
   */
  #publishSnapshot(): void {
    const map = this.#host.director.map;
    this.counters.meshInterestOut++;
    this.flush();
    const ch = map.subscribedChannels().map(String);
    const r = map.coveredRanges().map((x): [string, string] => [String(x.lo), String(x.hi)]);
    const chParts = this.#parts(ch);
    const rParts = this.#parts(r);
    const of = chParts.length + rParts.length;
    if (of <= 1) {
      this.#publish('interest', { n: this.nodeId, s: this.#seq, snap: true, ch, r });
      return;
    }
    let part = 0;
    for (const c of chParts) this.#publish('interest', { n: this.nodeId, s: this.#seq, snap: true, part: part++, of, ch: c, r: [] });
    for (const x of rParts) this.#publish('interest', { n: this.nodeId, s: this.#seq, snap: true, part: part++, of, ch: [], r: x });
  }

  #node(id: string): RemoteNode {
    let n = this.#nodes.get(id);
    if (n === undefined) {
      const node: RemoteNode = {
        id,
        chan: undefined as unknown as Target,
        range: undefined as unknown as Target,
        lastSeq: -1,
        lastSeen: Date.now(),
        stamp: 0,
        buf: new Uint8Array(0),
        len: 0,
        syncAskedAt: 0,
        snap: null,
      };
      (node as { chan: Target }).chan = { routeStamp: 0, node };
      (node as { range: Target }).range = { routeStamp: 0, node };
      n = node;
      this.#nodes.set(id, n);
      this.counters.meshPeers = this.#nodes.size;
    }
    return n;
  }

  #askSync(node: RemoteNode, reput = false): void {
    const now = Date.now();
    if (!reput && now - node.syncAskedAt < 100) return;
    node.syncAskedAt = now;
    this.#publish('sync', reput ? { from: this.nodeId, want: node.id, reput: true } : { from: this.nodeId, want: node.id });
  }

  #onInterest(m: Msg): void {
    let x: { n?: unknown; s?: unknown; snap?: unknown; o?: unknown; ch?: unknown; r?: unknown; part?: unknown; of?: unknown };
    try {
      x = JSON.parse(dec.decode(m.data)) as typeof x;
    } catch {
      return;
    }
    if (typeof x.n !== 'string' || x.n === this.nodeId || typeof x.s !== 'number') return;
    let rejoined = this.#dead.delete(x.n);
    const node = this.#node(x.n);
    node.lastSeen = Date.now();
    try {
      if (x.snap === true) {
        let ch = (x.ch as unknown[]) ?? [];
        let rs = (x.r as unknown[]) ?? [];
        if (typeof x.of === 'number' && x.of > 1) {
          // A snapshot in parts: collect them in order; a missing part drops it and asks again.
          const st = node.snap;
          if (x.part === 0) node.snap = { s: x.s, of: x.of, next: 1, rejoined, ch: [...ch], r: [...rs] };
          else if (st !== null && st.s === x.s && st.of === x.of && st.next === x.part) {
            st.next++;
            st.rejoined ||= rejoined;
            for (const c of ch) st.ch.push(c);
            for (const r of rs) st.r.push(r);
          } else {
            node.snap = null;
            this.#askSync(node);
            return;
          }
          const done = node.snap!;
          if (done.next < done.of) return;
          node.snap = null;
          ch = done.ch;
          rs = done.r;
          rejoined = done.rejoined;
        }
        if (node.lastSeq > x.s && !rejoined) return;
        this.#index.unsubscribeAll(node.chan);
        this.#index.unsubscribeAll(node.range);
        for (const c of ch) this.#index.subscribeChannel(node.chan, toKey(c));
        for (const r of rs as unknown[][]) this.#index.subscribeRange(node.range, toKey(r[0]), toKey(r[1]));
        node.lastSeq = x.s;
        this.counters.meshInterestIn++;
        return;
      }
      if (node.lastSeq < 0 || x.s > node.lastSeq + 1) {
        this.#askSync(node); // no base yet, or a gap: its snapshot covers this
        return;
      }
      if (x.s <= node.lastSeq) return;
      for (const op of (x.o as Op[]) ?? []) {
        switch (op[0]) {
          case 'c':
            this.#index.subscribeChannel(node.chan, toKey(op[1]));
            break;
          case 'C':
            this.#index.unsubscribeChannel(node.chan, toKey(op[1]));
            break;
          case 'r':
            this.#index.subscribeRange(node.range, toKey(op[1]), toKey(op[2]));
            break;
          case 'R':
            this.#index.unsubscribeRange(node.range, toKey(op[1]), toKey(op[2]));
            break;
        }
      }
      node.lastSeq = x.s;
      this.counters.meshInterestIn++;
    } catch (err) {
      this.#host.log('warning', `md mesh: bad interest message from node ${x.n}: ${err instanceof Error ? err.message : String(err)}`);
      this.#askSync(node);
    }
  }

  #onSync(m: Msg): void {
    let x: { from?: unknown; want?: unknown; reput?: unknown };
    try {
      x = JSON.parse(dec.decode(m.data)) as typeof x;
    } catch {
      return;
    }
    if (x.from === this.nodeId) return;
    if (x.want !== undefined && x.want !== this.nodeId) return;
    this.#publishSnapshot();
    if (x.reput === true) {
      this.#host.log('warning', `md mesh: node ${String(x.from)} had declared this node (${this.nodeId}) dead; its participants' post-removes fired there; storing them again`);
      this.#reputAll();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // liveness

  #heartbeat(): void {
    this.#publish('hb', { n: this.nodeId, s: this.#seq });
  }

  #onHeartbeat(m: Msg): void {
    let x: { n?: unknown; s?: unknown; bye?: unknown };
    try {
      x = JSON.parse(dec.decode(m.data)) as typeof x;
    } catch {
      return;
    }
    if (typeof x.n !== 'string' || x.n === this.nodeId) return;
    if (x.bye === true) {
      const n = this.#nodes.get(x.n);
      if (n !== undefined) this.#declareDead(n, 'left the mesh');
      return;
    }
    const rejoined = this.#dead.delete(x.n);
    const known = this.#nodes.has(x.n);
    const node = this.#node(x.n);
    node.lastSeen = Date.now();
    if (rejoined) {
      this.#host.log('info', `md mesh: node ${x.n}, declared dead, is back; asking it to re-announce`);
      this.#askSync(node, true);
    } else if (!known || (typeof x.s === 'number' && x.s > node.lastSeq)) this.#askSync(node);
  }

  #checkLiveness(): void {
    if (!this.#connected) return; // we cannot tell who is silent
    const now = Date.now();
    for (const n of [...this.#nodes.values()]) {
      if (now - n.lastSeen > this.#deadAfterMs) this.#declareDead(n, `silent for ${now - n.lastSeen} ms`);
    }
    if (this.#dead.size > 1000) for (const [id, t] of this.#dead) if (now - t > 600_000) this.#dead.delete(id);
  }

  #declareDead(n: RemoteNode, why: string): void {
    if (this.#nodes.get(n.id) !== n) return;
    this.#nodes.delete(n.id);
    this.counters.meshPeers = this.#nodes.size;
    this.#index.unsubscribeAll(n.chan);
    this.#index.unsubscribeAll(n.range);
    n.len = 0;
    const i = this.#pending.indexOf(n);
    if (i >= 0) this.#pending.splice(i, 1);
    this.#dead.set(n.id, Date.now());
    this.counters.meshDeadNodes++;
    this.#host.log('warning', `md mesh: node ${n.id} is dead (${why}); its interest dropped`);
    const task: Promise<void> = this.#claim(n.id)
      .then(() => this.#takeOverClaimsOf(n.id))
      .finally(() => this.#kvTasks.delete(task));
    this.#kvTasks.add(task);
  }

  /** Races the other survivors for `claim.<id>`; the winner fires the dead node's post-removes and deletes them. */
  async #claim(id: string): Promise<void> {
    const kv = this.#kv;
    if (kv === null || this.#stopping) return;
    try {
      await kv.create(`claim.${id}`, enc.encode(this.nodeId));
    } catch {
      this.counters.meshClaimsLost++;
      return;
    }
    this.counters.meshClaimsWon++;
    await this.#fire(id);
  }

  /**
   * The dead node may itself have been firing another dead node's post-removes: its claims
   * (`claim.<x>` holding its id) would stay for ever and the rest never fire. Each is taken over
   * with a compare-and-set on the claim's revision (one survivor wins) and what is left of
   * `pr.<x>.*` fires. The claimer deleted each entry after firing it, so only the one it was firing
   * when it died may fire twice.
   */
  async #takeOverClaimsOf(deadClaimer: string): Promise<void> {
    const kv = this.#kv;
    if (kv === null || this.#stopping) return;
    try {
      const claims: string[] = [];
      for await (const k of await kv.keys('claim.*')) claims.push(k);
      for (const k of claims) {
        const e = await kv.get(k);
        if (e === null || e.operation !== 'PUT' || dec.decode(e.value) !== deadClaimer) continue;
        try {
          await kv.update(k, enc.encode(this.nodeId), e.revision);
        } catch {
          this.counters.meshClaimsLost++;
          continue;
        }
        this.counters.meshClaimsWon++;
        this.#host.log('warning', `md mesh: node ${deadClaimer} died while firing the post-removes of node ${k.slice(6)}; firing the rest`);
        await this.#fire(k.slice(6));
      }
    } catch (err) {
      this.counters.meshKvErrors++;
      if (!this.#stopping) this.#host.log('error', `md mesh: taking over the claims of dead node ${deadClaimer} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Fires every `pr.<id>.*` (participants in id order), deleting each entry after it fired, then the claim. */
  async #fire(id: string): Promise<void> {
    const kv = this.#kv;
    if (kv === null) return;
    try {
      const keys: string[] = [];
      for await (const k of await kv.keys(`pr.${id}.>`)) keys.push(k);
      keys.sort((a, b) => Number(a.slice(a.lastIndexOf('.') + 1)) - Number(b.slice(b.lastIndexOf('.') + 1)));
      for (const k of keys) {
        const e = await kv.get(k);
        if (e !== null && e.operation === 'PUT') {
          this.#host.beforeRoute();
          try {
            for (const dg of decodePostRemoves(e.value)) {
              this.counters.meshPostRemovesFired++;
              this.#host.director.firePostRemoveOfDeadNode(dg);
            }
          } finally {
            this.#host.afterRoute();
          }
          this.flush();
        }
        await kv.delete(k);
      }
      if (keys.length > 0) this.#host.log('info', `md mesh: fired the post-removes of ${keys.length} participant(s) of dead node ${id}`);
      await kv.delete(`claim.${id}`);
    } catch (err) {
      this.counters.meshKvErrors++;
      if (this.#stopping) return;
      this.#host.log('error', `md mesh: firing the post-removes of dead node ${id} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // post-removes in the KV

  #prKey(p: MdParticipantRecord<C>): string {
    return `pr.${this.nodeId}.${p.id}`;
  }

  /** {@link DirectorMesh.postRemovesChanged}: the participant's list is (re)written to the KV soon. */
  postRemovesChanged(p: MdParticipantRecord<C>): void {
    if (this.#kv === null) return;
    this.#prDirty.add(p);
    this.#schedulePr();
  }

  /** {@link DirectorMesh.participantGone}: its KV entry is deleted (its post-removes fired here). */
  participantGone(p: MdParticipantRecord<C>): void {
    if (this.#kv === null) return;
    this.#prDirty.delete(p);
    const k = this.#prKey(p);
    if (this.#prStored.has(k)) {
      this.#prDelete.add(k);
      this.#schedulePr();
    }
  }

  #reputAll(): void {
    if (this.#kv === null) return;
    for (const p of this.#host.director.participants()) if (p.postRemoves.size > 0) this.#prDirty.add(p);
    this.#schedulePr();
  }

  #schedulePr(): void {
    if (this.#prScheduled) return;
    this.#prScheduled = true;
    queueMicrotask(() => {
      this.#prScheduled = false;
      if (this.#prFlushing === null) this.#prFlushing = this.#flushPr().finally(() => (this.#prFlushing = null));
      else void this.#prFlushing.then(() => this.#schedulePr());
    });
  }

  async #flushPr(): Promise<void> {
    const kv = this.#kv;
    if (kv === null) return;
    while ((this.#prDirty.size > 0 || this.#prDelete.size > 0) && this.#connected) {
      const puts = [...this.#prDirty];
      const dels = [...this.#prDelete];
      this.#prDirty.clear();
      this.#prDelete.clear();
      const ops: Array<Promise<unknown>> = [];
      for (const p of puts) {
        const k = this.#prKey(p);
        if (p.state !== 'active') continue;
        if (p.postRemoves.size === 0) {
          if (this.#prStored.delete(k)) ops.push(kv.delete(k).catch((e: unknown) => this.#kvFailed(e, () => this.#prDelete.add(k))));
          continue;
        }
        this.#prStored.add(k);
        ops.push(kv.put(k, encodePostRemoves(p.postRemoves)).catch((e: unknown) => this.#kvFailed(e, () => this.#prDirty.add(p))));
      }
      for (const k of dels) {
        this.#prStored.delete(k);
        ops.push(kv.delete(k).catch((e: unknown) => this.#kvFailed(e, () => this.#prDelete.add(k))));
      }
      await Promise.all(ops);
      if (this.#prDirty.size > 0 || this.#prDelete.size > 0) await new Promise((r) => setTimeout(r, 50));
    }
  }

  #kvFailed(err: unknown, retry: () => void): void {
    this.counters.meshKvErrors++;
    if (this.#closing) return;
    retry();
    if (this.counters.meshKvErrors % 100 === 1) this.#host.log('warning', `md mesh: key-value write failed (${err instanceof Error ? err.message : String(err)}); retrying`);
  }

  /** The remote nodes this node would send a datagram for channel `c` to (for tests and tools). */
  holders(c: ChannelKey): string[] {
    return [...new Set(this.#index.lookup(c).map((t) => t.node.id))];
  }

  /** Waits (bounded) until the post-removes written so far are in the KV. For tests and clean stops. */
  async settled(timeoutMs = 2000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end && (this.#prFlushing !== null || this.#prScheduled || this.#prDirty.size > 0 || this.#prDelete.size > 0)) {
      await (this.#prFlushing ?? new Promise((r) => setTimeout(r, 5)));
    }
  }

  /** Waits until the claims and firings under way ended, or `timeoutMs` passed. */
  async #kvTasksDone(timeoutMs: number): Promise<void> {
    if (this.#kvTasks.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([Promise.allSettled([...this.#kvTasks]), bound]);
    clearTimeout(timer);
  }

  /**
   * Leaves the mesh: says goodbye (the others then treat this node as dead and fire its
   * participants' post-removes, held in the KV — as a tree parent does when a child's link closes)
   * and closes the NATS connection. Thread: main thread.
   */
  async close(): Promise<void> {
    this.#stopping = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers.clear();
    const nc = this.#nc;
    if (nc === null || this.#closing) return;
    this.flush();
    await this.settled();
    await this.#kvTasksDone(KV_TASKS_ON_CLOSE_MS);
    this.#publish('hb', { n: this.nodeId, bye: true });
    this.#closing = true;
    this.#connected = false;
    await nc.drain().catch(() => nc.close().catch(() => undefined));
  }
}
