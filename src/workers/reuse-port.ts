/**
 * TCP rendezvous with one listening socket per I/O thread (`reusePort`, Node ≥ 22.12 / 23.1 on Linux).
 *
 * Where Node has `listen({ reusePort: true })`, a threaded rendezvous (a pool of two threads or more)
 * is a *group*: the thread that runs the open (its home) listens, then asks every other thread to
 * listen on the same address and port with `reusePort`, under the same connection id. The kernel
 * spreads incoming connections over the sockets; each thread serves what it accepts — no descriptor
 * hand-off, no koffi. To the main thread it stays one rendezvous: every thread publishes its accepts
 * with the same rendezvous id, and the home passes the listener's attach and detach and the
 * application's close on to the others ({@link GroupMessage}). A thread that joins the pool later
 * (pool growth, or the replacement of one that died) is given its socket by the home; when the home
 * dies, the others close theirs (the main thread reports the rendezvous reset).
 *
 * Before the group binds, the home binds the address once *without* `reusePort` and closes it: so a
 * port already in use (by another process or another rendezvous of this one, `reusePort` or not) fails
 * as it does without groups, and port 0 gets its ephemeral port there. A program of the same user that
 * binds the port with `SO_REUSEPORT` after that joins the group (Linux admits only the same user).
 *
 * Elsewhere (Node 20, another OS, `NetConfig.reusePort` false, or one thread) the rendezvous is one
 * socket on one thread that hands accepts to the pool by descriptor (`fd-transfer.ts`).
 *
 * Thread: I/O workers only.
 * @module
 */
import net from 'node:net';
import type { MessagePort } from 'node:worker_threads';
import { toErrorRecord } from '../errors.js';
import { log } from '../log.js';
import type { GroupMessage, SyncResult, WebSocketSettings } from '../protocol/control.js';
import { wireAddress } from './tcp-endpoints.js';

/** How long the home waits for another thread to open its socket before it goes on without it, ms. */
const SIBLING_OPEN_MS = 2000;

/**
 * True when this Node can share a listening port between sockets with `reusePort`: Linux, and Node
 * ≥ 22.12 on the 22 line, ≥ 23.1 after it (Node 20 ignores the option: the second listen fails).
 */
export function nodeHasReusePort(version: string = process.versions.node, platform: string = process.platform): boolean {
  if (platform !== 'linux') return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major === 22) return minor >= 12;
  if (major === 23) return minor >= 1;
  return major > 23;
}

/** Listens on `host:port` (host "": dual-stack `::`, or `0.0.0.0` without IPv6 support). */
export function listenServer(host: string, port: number, backlog: number, reusePort: boolean, supportIpv6: boolean): Promise<{ ok: true; server: net.Server; host: string } | { ok: false; result: SyncResult }> {
  const attempt = (bindHost: string): Promise<{ ok: true; server: net.Server; host: string } | { ok: false; result: SyncResult & { ok: false } }> =>
    new Promise((resolve) => {
      // As a plain rendezvous (io-worker.ts): paused accepts, half-open sockets.
      const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
      const onError = (err: NodeJS.ErrnoException): void => {
        server.close();
        resolve({ ok: false, result: { ok: false, error: toErrorRecord(Object.assign(err, { address: bindHost, port })) } });
      };
      server.once('error', onError);
      // `reusePort` is not in @types/node 20 (the oldest Node supported).
      const options: net.ListenOptions & { reusePort?: boolean } = { host: bindHost, port, backlog: Math.max(1, backlog), ipv6Only: false };
      if (reusePort) options.reusePort = true;
      server.listen(options, () => {
        server.off('error', onError);
        resolve({ ok: true, server, host: bindHost });
      });
    });
  if (host !== '') return attempt(host);
  if (!supportIpv6) return attempt('0.0.0.0');
  return attempt('::').then((r) => (r.ok || r.result.error.errno !== 'EAFNOSUPPORT' ? r : attempt('0.0.0.0')));
}

/** Node's `onread` option of a socket (its shared read buffer and callback). */
export interface OnreadOptions {
  buffer: Buffer;
  callback: (n: number, buf: Buffer) => boolean;
}

/**
 * Makes `server` build its accepted sockets itself, with `onread(socket)` (the I/O thread's shared
 * read buffer), instead of Node's accept, which builds them without: a socket reads into its own
 * buffers unless `onread` is given when it is constructed, and only Node's accept constructs these.
 * The hand-off path gets `onread` on its adopted copies the same way (`new net.Socket({ fd, onread })`);
 * here the accepted handle is wrapped directly (`new net.Socket({ handle })`, as Node's accept does),
 * so no descriptor is duplicated. Uses Node internals (the server's `_handle.onconnection`, the
 * socket's `handle` option), unchanged from Node 0.x through 26: where they are missing this returns
 * false and changes nothing (the sockets then read with `'data'` events). The server's connection
 * count and `maxConnections` are bypassed (pandanet uses neither).
 */
export function acceptWithOnread(server: net.Server, make: () => { onread: OnreadOptions; made: (socket: net.Socket) => void }): boolean {
  const handle = (server as unknown as { _handle?: { onconnection?: unknown } | null })._handle;
  if (handle == null || typeof handle.onconnection !== 'function') return false;
  handle.onconnection = (err: number, clientHandle: unknown): void => {
    if (err !== 0 || clientHandle == null) {
      server.emit('error', Object.assign(new Error(`accept failed (${err})`), { errno: err, syscall: 'accept' }));
      return;
    }
    const { onread, made } = make();
    const options = { handle: clientHandle, allowHalfOpen: true, pauseOnCreate: true, readable: true, writable: true, onread };
    const socket = new net.Socket(options as net.SocketConstructorOpts);
    made(socket);
    server.emit('connection', socket);
  };
  return true;
}

/** What a group needs from its worker. */
export interface GroupHost {
  readonly index: number;
  readonly supportIpv6: boolean;
  /** Live I/O threads in the pool (shared word). */
  poolSize(): number;
  /** The ports to the other threads, by index. */
  readonly peers: ReadonlyMap<number, MessagePort>;
  /** Registers a listening socket as rendezvous `connId` of this thread (accepts are served here); `ws`: a WebSocket one. */
  addRendezvous(connId: number, server: net.Server, listening: boolean, ws?: WebSocketSettings): void;
  /** Attaches, detaches or closes this thread's rendezvous `connId`. */
  rendezvousOp(connId: number, op: 'attach' | 'detach' | 'close'): void;
}

interface Group {
  host: string;
  port: number;
  backlog: number;
  listening: boolean;
  /** A WebSocket rendezvous's settings. */
  ws?: WebSocketSettings;
  /** Threads asked to open a sibling. */
  members: Set<number>;
}

/** The groups of one worker: those it is home of, and the siblings it holds for others. */
export class ReusePortGroups {
  private readonly host: GroupHost;
  /** Groups this thread is the home of, by connection id. */
  private readonly homed = new Map<number, Group>();
  /** Sibling sockets this thread holds: connection id → home thread index. */
  private readonly siblings = new Map<number, number>();
  /** Open requests waiting for a sibling's answer: `${peer}:${connId}` → resolve. */
  private readonly waiting = new Map<string, (ok: boolean) => void>();
  /** Siblings being opened: connection id → home, and what the home asked meanwhile. */
  private readonly opening = new Map<number, { home: number; listening: boolean; closed: boolean }>();
  /** Peers whose port closed (the thread is gone). */
  private readonly gone = new Set<MessagePort>();

  constructor(host: GroupHost) {
    this.host = host;
  }

  /** True when rendezvous `connId` on this thread is part of a group (home or sibling): it keeps its accepts. */
  owns(connId: number): boolean {
    return this.homed.has(connId) || this.siblings.has(connId);
  }

  /** True when a listen with `reusePort` allowed should make a group here (Node, platform, pool of ≥ 2 threads). */
  applies(allowed: boolean | undefined): boolean {
    return allowed === true && nodeHasReusePort() && this.host.poolSize() >= 2;
  }

  /**
   * The home's open: checks the address is free (bind without `reusePort`, close), binds its own
   * socket with `reusePort`, then has every other thread bind one (waits for their answers, bounded).
   */
  async open(connId: number, host: string, port: number, backlog: number, ws?: WebSocketSettings): Promise<SyncResult> {
    const probe = await listenServer(host, port, backlog, false, this.host.supportIpv6);
    if (!probe.ok) return probe.result;
    const chosen = (probe.server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.server.close(() => resolve()));
    const own = await listenServer(probe.host, chosen, backlog, true, this.host.supportIpv6);
    if (!own.ok) return own.result;
    const group: Group = { host: probe.host, port: chosen, backlog, listening: false, members: new Set() };
    if (ws !== undefined) group.ws = ws;
    this.homed.set(connId, group);
    this.host.addRendezvous(connId, own.server, false, ws);
    const opened = await Promise.all([...this.host.peers.keys()].map((i) => this.openOn(connId, group, i)));
    const threads = [this.host.index, ...[...this.host.peers.keys()].filter((_, k) => opened[k])].sort((a, b) => a - b);
    log('debug', `rendezvous ${connId}: one reusePort socket per I/O thread on ${probe.host}:${chosen} (threads ${threads.join(', ')}); each thread serves what it accepts`);
    const a = own.server.address() as net.AddressInfo;
    return { ok: true, local: wireAddress(a.address, a.family, a.port), peer: wireAddress(undefined, undefined, undefined) };
  }

  /** Asks thread `index` to open its socket of `group`; true once it answered that it did. */
  private openOn(connId: number, group: Group, index: number): Promise<boolean> {
    const port = this.host.peers.get(index);
    if (port === undefined || this.gone.has(port)) return Promise.resolve(false);
    group.members.add(index);
    const key = `${index}:${connId}`;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        log('warning', `rendezvous ${connId}: I/O thread ${index} did not open its reusePort socket within ${SIBLING_OPEN_MS} ms`);
        resolve(false);
      }, SIBLING_OPEN_MS);
      this.waiting.set(key, (ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
      const msg: GroupMessage = { kind: 'rvOpen', connId, host: group.host, port: group.port, backlog: group.backlog, listening: group.listening };
      if (group.ws !== undefined) msg.ws = group.ws;
      port.postMessage(msg);
    });
  }

  /** The listener attached to or detached from rendezvous `connId` here: pass it on if this is its home. */
  forward(connId: number, op: 'rvAttach' | 'rvDetach' | 'rvClose'): void {
    const group = this.homed.get(connId);
    if (group === undefined) return;
    if (op === 'rvAttach') group.listening = true;
    if (op === 'rvDetach') group.listening = false;
    if (op === 'rvClose') this.homed.delete(connId);
    const msg: GroupMessage = { kind: op, connId };
    for (const i of group.members) this.host.peers.get(i)?.postMessage(msg);
  }

  /** Thread `index` joined the pool (or replaced a dead one): give it its socket of each group homed here. */
  peerAdded(index: number): void {
    for (const [connId, group] of this.homed) void this.openOn(connId, group, index);
  }

  /** The port to thread `index` closed (the thread is gone): close the siblings it was the home of. */
  peerClosed(index: number, port: MessagePort): void {
    this.gone.add(port);
    for (const pending of this.opening.values()) if (pending.home === index) pending.closed = true;
    for (const [connId, home] of [...this.siblings]) {
      if (home !== index) continue;
      log('debug', `rendezvous ${connId}: its home thread ${index} is gone; closing this thread's socket`);
      this.siblings.delete(connId);
      this.host.rendezvousOp(connId, 'close');
    }
  }

  /** A group message from thread `from` (over `port`). */
  onMessage(from: number, port: MessagePort, msg: GroupMessage): void {
    switch (msg.kind) {
      case 'rvOpen':
        void this.openSibling(from, port, msg);
        return;
      case 'rvOpened':
        if (!msg.ok) log('warning', `rendezvous ${msg.connId}: I/O thread ${from} could not open its reusePort socket: ${msg.error ?? 'unknown error'}`);
        this.waiting.get(`${from}:${msg.connId}`)?.(msg.ok);
        this.waiting.delete(`${from}:${msg.connId}`);
        return;
      case 'rvAttach':
      case 'rvDetach': {
        const listening = msg.kind === 'rvAttach';
        const pending = this.opening.get(msg.connId);
        if (pending !== undefined && pending.home === from) pending.listening = listening; // applied once it listens
        else if (this.siblings.get(msg.connId) === from) this.host.rendezvousOp(msg.connId, listening ? 'attach' : 'detach');
        return;
      }
      case 'rvClose': {
        const pending = this.opening.get(msg.connId);
        if (pending !== undefined && pending.home === from) pending.closed = true; // closed once it listens
        if (this.siblings.get(msg.connId) !== from) return;
        this.siblings.delete(msg.connId);
        this.host.rendezvousOp(msg.connId, 'close');
        return;
      }
      default: {
        const never: never = msg;
        throw new Error(`unknown group message ${JSON.stringify(never)}`);
      }
    }
  }

  private async openSibling(from: number, port: MessagePort, m: GroupMessage & { kind: 'rvOpen' }): Promise<void> {
    let reply: GroupMessage = { kind: 'rvOpened', connId: m.connId, ok: true };
    if (!this.siblings.has(m.connId) && !this.homed.has(m.connId) && !this.opening.has(m.connId)) {
      // The home's attach, detach or close can come while this listens: kept here, applied after.
      const pending = { home: from, listening: m.listening, closed: false };
      this.opening.set(m.connId, pending);
      const r = await listenServer(m.host, m.port, m.backlog, true, this.host.supportIpv6);
      this.opening.delete(m.connId);
      if (!r.ok) reply = { kind: 'rvOpened', connId: m.connId, ok: false, error: r.result.ok ? '' : r.result.error.message };
      else if (pending.closed) r.server.close();
      else {
        this.siblings.set(m.connId, from);
        this.host.addRendezvous(m.connId, r.server, pending.listening, m.ws);
      }
    }
    port.postMessage(reply);
  }

  /** This thread closes its sockets (shutdown): forget every group. */
  clear(): void {
    this.homed.clear();
    this.siblings.clear();
  }
}
