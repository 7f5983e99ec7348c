/**
 * Shared helpers for the integration suite: real sockets on 127.0.0.1 port 0, teardown registered as
 * soon as a resource exists, and waits on conditions with a deadline (never fixed sleeps).
 *
 * Every helper that opens something registers its cleanup with vitest's `onTestFinished`, so it must be
 * called from inside a test body.
 *
 * Thread: main thread (vitest worker) only.
 * @module
 */
import net from 'node:net';
import { expect, onTestFinished } from 'vitest';
import {
  type Connection,
  ConnectionWriter,
  Datagram,
  DatagramIterator,
  NetAddress,
  NetDatagram,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  resetNetConfig,
  setNetConfig,
  type NetConfigPatch,
} from '../../src/index.js';

/** One way to run the runtime: 0 = polled / immediate, N > 0 = N I/O threads. */
export interface Mode {
  name: string;
  threads: number;
}

/** Every integration test runs in each of these modes (`describe.each(MODES)`). */
export const MODES: Mode[] = [
  { name: 'polled', threads: 0 },
  { name: '1 thread', threads: 1 },
  { name: '2 threads', threads: 2 },
];

/** Default deadline of {@link waitFor}, ms: generous for a loaded 2-core box, still well under the test timeout. */
export const DEFAULT_WAIT_MS = 10_000;

export interface WaitOptions {
  /** Deadline, ms (default {@link DEFAULT_WAIT_MS}). */
  timeoutMs?: number;
  /** What is awaited, for the failure message (a function is called at the deadline, so it can report progress). */
  what: string | (() => string);
  /** Called before every check: pump the runtime (poll a reader, echo, accept...). */
  tick?: () => void;
}

/** Yields to the event loop once (lets sockets, worker messages and timers run). */
export function yieldOnce(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Calls `tick` then `predicate` until the predicate holds, yielding to the event loop between checks.
 * Throws `timed out after N ms waiting for <what>` at the deadline.
 */
export async function waitFor(predicate: () => boolean, opts: WaitOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    opts.tick?.();
    if (predicate()) return;
    if (performance.now() >= deadline) {
      const what = typeof opts.what === 'function' ? opts.what() : opts.what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await yieldOnce();
  }
}

/** Yields `n` times while calling `tick`: a bounded "nothing more happens meanwhile" window (not a sleep). */
export async function pumpFor(n: number, tick: () => void): Promise<void> {
  for (let i = 0; i < n; i++) {
    tick();
    await yieldOnce();
  }
}

/** A pandanet server: manager, listener, reader and writer with the same thread count, listening on 127.0.0.1:0. */
export interface Server {
  threads: number;
  manager: QueuedConnectionManager;
  listener: QueuedConnectionListener;
  reader: QueuedConnectionReader;
  writer: ConnectionWriter;
  rendezvous: Connection;
  port: number;
  /** Connections accepted by {@link acceptAll}, in accept order. */
  accepted: Connection[];
}

/**
 * Runs `make` with `patch` applied to the net configuration (objects read it when constructed), then
 * restores the defaults, whatever happens.
 */
export function withNetConfig<T>(patch: NetConfigPatch, make: () => T): T {
  setNetConfig(patch);
  try {
    return make();
  } finally {
    resetNetConfig();
  }
}

/** Opens a server; its manager is shut down when the test finishes. */
export function makeServer(threads: number): Server {
  const manager = new QueuedConnectionManager();
  onTestFinished(() => void manager.shutdown());
  const listener = new QueuedConnectionListener(manager, threads);
  const reader = new QueuedConnectionReader(manager, threads);
  const writer = new ConnectionWriter(manager, threads);
  const rendezvous = manager.openTCPServerRendezvous('127.0.0.1', 0, 100);
  if (rendezvous === null) throw new Error(`could not listen on 127.0.0.1:0: ${String(manager.getLastError())}`);
  if (!listener.addConnection(rendezvous)) throw new Error('listener refused the rendezvous');
  const port = rendezvous.getLocalAddress().getPort();
  return { threads, manager, listener, reader, writer, rendezvous, port, accepted: [] };
}

/** A pandanet client: its own manager, reader and writer, and `count` connections to `port`, all monitored. */
export interface Client {
  threads: number;
  manager: QueuedConnectionManager;
  reader: QueuedConnectionReader;
  writer: ConnectionWriter;
  /** The first connection. */
  conn: Connection;
  connections: Connection[];
}

/** Connects `count` (default 1) connections to 127.0.0.1:`port`; the manager is shut down when the test finishes. */
export function makeClient(port: number, threads: number, count = 1): Client {
  const manager = new QueuedConnectionManager();
  onTestFinished(() => void manager.shutdown());
  const reader = new QueuedConnectionReader(manager, threads);
  const writer = new ConnectionWriter(manager, threads);
  const connections: Connection[] = [];
  for (let i = 0; i < count; i++) {
    const c = manager.openTCPClientConnection('127.0.0.1', port, 3000);
    if (c === null) throw new Error(`could not connect to 127.0.0.1:${port}: ${String(manager.getLastError())}`);
    if (!reader.addConnection(c)) throw new Error('client reader refused its connection');
    connections.push(c);
  }
  return { threads, manager, reader, writer, conn: connections[0]!, connections };
}

/**
 * Accepts until `server.accepted` holds `total` connections, adding each to the server's reader.
 * Checks the listener's out-parameters: the rendezvous is the server's own object, the address is set.
 */
export async function acceptAll(server: Server, total: number, timeoutMs = DEFAULT_WAIT_MS): Promise<Connection[]> {
  const rv = new PointerToConnection();
  const addr = new NetAddress();
  const nc = new PointerToConnection();
  const take = (): void => {
    while (server.accepted.length < total && server.listener.newConnectionAvailable()) {
      if (!server.listener.getNewConnection(rv, addr, nc)) throw new Error('newConnectionAvailable() was true but getNewConnection() returned false');
      if (rv.p() !== server.rendezvous) throw new Error('getNewConnection: rendezvous pointer is not the rendezvous object');
      const c = nc.p();
      if (c === null) throw new Error('getNewConnection: new connection pointer is empty');
      if (addr.getPort() !== c.getAddress().getPort()) throw new Error(`getNewConnection: address port ${addr.getPort()} != connection peer port ${c.getAddress().getPort()}`);
      if (!server.reader.addConnection(c)) throw new Error('server reader refused an accepted connection');
      server.accepted.push(c);
    }
  };
  await waitFor(() => server.accepted.length >= total, { timeoutMs, what: () => `${total} accepted connection(s) (have ${server.accepted.length})`, tick: take });
  return server.accepted.slice(0, total);
}

/** One received datagram: its connection and a copy of its bytes. */
export interface Received {
  conn: Connection | null;
  bytes: Uint8Array;
  address: NetAddress;
}

/** Takes every datagram now queued in `reader` (after `dataAvailable()`, which polls in polled mode). */
export function takeAll(reader: QueuedConnectionReader, into: Received[]): void {
  while (reader.dataAvailable()) {
    const dg = new NetDatagram();
    if (!reader.getData(dg)) throw new Error('dataAvailable() was true but getData() returned false');
    into.push({ conn: dg.getConnection(), bytes: dg.getMessage(), address: dg.getAddress() });
  }
}

/** Waits until `reader` has delivered at least `n` datagrams in total; returns them (all of them, oldest first). */
export async function receive(reader: QueuedConnectionReader, n: number, opts: { what?: string; tick?: () => void; timeoutMs?: number } = {}): Promise<Received[]> {
  const got: Received[] = [];
  await waitFor(() => got.length >= n, {
    what: () => `${n} datagram(s) ${opts.what ?? ''} (have ${got.length})`.replace(/\s+/g, ' '),
    timeoutMs: opts.timeoutMs,
    tick: () => {
      opts.tick?.();
      takeAll(reader, got);
    },
  });
  return got;
}

/** A tick for {@link waitFor}: the server echoes every queued datagram back on its own connection. */
export function echoTick(server: Server): () => void {
  return () => {
    while (server.reader.dataAvailable()) {
      const dg = new NetDatagram();
      if (!server.reader.getData(dg)) return;
      const c = dg.getConnection();
      if (c === null) throw new Error('received datagram without a connection');
      if (!server.writer.send(dg, c)) throw new Error(`echo send failed on ${c.toString()}`);
    }
  };
}

/** A datagram holding a string and a number. */
export function textDatagram(text: string, n = 0): Datagram {
  const dg = new Datagram();
  dg.addString(text);
  dg.addUint32(n);
  return dg;
}

/** Reads back {@link textDatagram}. */
export function readText(bytes: Uint8Array): { text: string; n: number } {
  const it = new DatagramIterator(new Datagram(bytes));
  const text = it.getString();
  const n = it.getUint32();
  return { text, n };
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function patternBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A length-prefixed frame as Panda puts it on the wire (little-endian header of 2 or 4 bytes). */
export function frame(payload: Uint8Array, headerSize: 2 | 4 = 2): Buffer {
  const out = Buffer.alloc(headerSize + payload.length);
  if (headerSize === 2) out.writeUInt16LE(payload.length, 0);
  else out.writeUInt32LE(payload.length, 0);
  out.set(payload, headerSize);
  return out;
}

/** A plain `node:net` socket with everything it received and how it ended. */
export interface RawPeer {
  socket: net.Socket;
  /** Bytes received so far, concatenated. */
  received(): Buffer;
  /** True once the peer's FIN arrived. */
  ended: boolean;
  /** True once the socket closed (either side). */
  closed: boolean;
  /** Last socket error, if any. */
  error: Error | null;
  /** Writes and resolves when the bytes were handed to the kernel. */
  write(bytes: Uint8Array): Promise<void>;
}

function wrapRaw(socket: net.Socket): RawPeer {
  const chunks: Buffer[] = [];
  const peer: RawPeer = {
    socket,
    received: () => Buffer.concat(chunks),
    ended: false,
    closed: false,
    error: null,
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        socket.write(bytes, (err) => (err ? reject(err) : resolve()));
      }),
  };
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('end', () => {
    peer.ended = true;
  });
  socket.on('close', () => {
    peer.closed = true;
  });
  socket.on('error', (err) => {
    peer.error = err;
  });
  return peer;
}

/**
 * A raw `node:net` client connected to 127.0.0.1:`port` (for byte-level tests). Destroyed when the test
 * finishes. Half-open is allowed so a test can `end()` and still read.
 */
export async function rawConnect(port: number, timeoutMs = DEFAULT_WAIT_MS): Promise<RawPeer> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  onTestFinished(() => {
    socket.destroy();
  });
  const peer = wrapRaw(socket);
  let connected = false;
  socket.once('connect', () => {
    connected = true;
  });
  await waitFor(() => connected || peer.error !== null, { timeoutMs, what: `raw connect to 127.0.0.1:${port}` });
  if (peer.error !== null) throw peer.error;
  return peer;
}

/** A raw `node:net` server on 127.0.0.1:0 that records its connections; closed when the test finishes. */
export interface RawServer {
  server: net.Server;
  port: number;
  peers: RawPeer[];
}

/** Opens a {@link RawServer}. */
export async function rawListen(timeoutMs = DEFAULT_WAIT_MS): Promise<RawServer> {
  const peers: RawPeer[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => peers.push(wrapRaw(s)));
  onTestFinished(() => {
    for (const p of peers) p.socket.destroy();
    server.close();
  });
  let listening = false;
  let error: Error | null = null;
  server.once('error', (e) => {
    error = e;
  });
  server.listen({ host: '127.0.0.1', port: 0 }, () => {
    listening = true;
  });
  await waitFor(() => listening || error !== null, { timeoutMs, what: 'raw server listening' });
  if (error !== null) throw error;
  return { server, port: (server.address() as net.AddressInfo).port, peers };
}

/** A TCP port on 127.0.0.1 that was just free (listened on, then closed): connecting to it is refused. */
export async function closedPort(timeoutMs = DEFAULT_WAIT_MS): Promise<number> {
  const server = net.createServer();
  let port = 0;
  server.listen({ host: '127.0.0.1', port: 0 }, () => {
    port = (server.address() as net.AddressInfo).port;
  });
  await waitFor(() => port !== 0, { timeoutMs, what: 'probe server listening' });
  let closed = false;
  server.close(() => {
    closed = true;
  });
  await waitFor(() => closed, { timeoutMs, what: 'probe server closed' });
  return port;
}

/** Collects the reset connections now queued in `manager`. */
export function takeResets(manager: QueuedConnectionManager, into: Connection[]): void {
  const p = new PointerToConnection();
  while (manager.resetConnectionAvailable()) {
    if (!manager.getResetConnection(p)) throw new Error('resetConnectionAvailable() was true but getResetConnection() returned false');
    const c = p.p();
    if (c === null) throw new Error('getResetConnection filled an empty pointer');
    into.push(c);
  }
}

/** Equality of two byte arrays with a short message on mismatch (vitest's diff of 70 kB arrays is unreadable). */
export function sameBytes(a: Uint8Array, b: Uint8Array): string | true {
  if (a.length !== b.length) return `length ${a.length} != ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at byte ${i}: ${a[i]} != ${b[i]}`;
  return true;
}

/**
 * Asserts that `actual` holds exactly the objects of `expected`, in order, by identity (`toBe`).
 * (`toEqual` cannot tell two Connections apart: their state is in private fields.)
 */
export function expectSame(actual: readonly unknown[], expected: readonly unknown[], what = 'item'): void {
  expect(actual.length, `number of ${what}s`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i], `${what} #${i}`).toBe(expected[i]);
}
