/**
 * An echo server for interop checks (`pandanet echo`): every framed datagram a client sends comes
 * back to it unchanged, on the same connection, in order. Point a native Panda3D client (or any
 * peer that speaks Panda's length-prefixed TCP framing) at it to check the framing and the datagram
 * encodings byte for byte.
 *
 * Thread: main thread only.
 * @module
 */
import {
  type Connection,
  ConnectionWriter,
  Datagram,
  NetAddress,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
} from '../index.js';
import { ListenError } from './game-server.js';
import { Pump } from './loop.js';

/** How to run an {@link EchoServer}. */
export interface EchoServerOptions {
  host?: string;
  port?: number;
  /** I/O threads (0 = polled mode). Default 1. */
  threads?: number;
  /** TCP length-prefix size of the reader and writer: 2 (Panda's default) or 4. */
  headerSize?: 2 | 4;
}

/** Totals of an {@link EchoServer}. */
export interface EchoCounters {
  clients: number;
  joins: number;
  leaves: number;
  echoed: number;
  bytes: number;
  sendFailures: number;
}

/** The echo server. Thread: main thread only. */
export class EchoServer {
  readonly manager = new QueuedConnectionManager();
  readonly listener: QueuedConnectionListener;
  readonly reader: QueuedConnectionReader;
  readonly writer: ConnectionWriter;
  readonly rendezvous: Connection;
  readonly host: string;
  readonly port: number;
  readonly #clients = new Set<Connection>();
  readonly #counters = { joins: 0, leaves: 0, echoed: 0, bytes: 0, sendFailures: 0 };
  readonly #dg = new Datagram();
  readonly #pump: Pump;
  readonly #rv = new PointerToConnection();
  readonly #addr = new NetAddress();
  readonly #nc = new PointerToConnection();
  readonly #dead = new PointerToConnection();
  #stopped = false;

  /** Listens at once (synchronously); throws {@link ListenError} if it can't. */
  constructor(opts: EchoServerOptions = {}) {
    const threads = opts.threads ?? 1;
    this.host = opts.host ?? '127.0.0.1';
    try {
      this.listener = new QueuedConnectionListener(this.manager, threads);
      this.reader = new QueuedConnectionReader(this.manager, threads);
      this.writer = new ConnectionWriter(this.manager, threads);
      if (opts.headerSize !== undefined) {
        this.reader.setTcpHeaderSize(opts.headerSize);
        this.writer.setTcpHeaderSize(opts.headerSize);
      }
      const rv = this.manager.openTCPServerRendezvous(this.host, opts.port ?? 9099, 1000);
      if (rv === null) {
        const why = this.manager.getLastError();
        throw new ListenError(`could not listen on ${this.host}:${opts.port ?? 9099}: ${why?.message ?? 'unknown error'}`, { cause: why ?? undefined });
      }
      this.rendezvous = rv;
      this.listener.addConnection(rv);
      this.port = rv.getLocalAddress().getPort();
    } catch (err) {
      this.manager.shutdown();
      throw err;
    }
    this.#pump = new Pump(() => this.pump(), 1);
    this.#pump.start();
  }

  /** Accepts, echoes what is queued, handles leaves. Runs every millisecond by itself. */
  pump(): void {
    if (this.#stopped) return;
    while (this.listener.newConnectionAvailable()) {
      if (!this.listener.getNewConnection(this.#rv, this.#addr, this.#nc)) continue;
      const conn = this.#nc.p();
      if (conn === null) continue;
      if (this.reader.addConnection(conn)) {
        conn.setNoDelay(true);
        this.#clients.add(conn);
        this.#counters.joins++;
      } else this.manager.closeConnection(conn);
    }
    this.reader.poll();
    this.reader.drainData(this.#echo);
    while (this.manager.resetConnectionAvailable()) {
      if (!this.manager.getResetConnection(this.#dead)) continue;
      const conn = this.#dead.p();
      if (conn !== null && this.#clients.delete(conn)) this.#counters.leaves++;
      this.manager.closeConnection(conn);
    }
  }

  /** Totals so far. */
  counters(): EchoCounters {
    return { clients: this.#clients.size, ...this.#counters };
  }

  /** Closes everything. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#pump.stop();
    for (const c of this.#clients) this.manager.closeConnection(c);
    this.#clients.clear();
    this.manager.closeConnection(this.rendezvous);
    this.manager.shutdown();
  }

  readonly #echo = (conn: Connection, data: Uint8Array, offset: number, length: number): void => {
    const dg = this.#dg;
    dg.clear();
    dg.appendData(data, offset, length);
    if (this.writer.send(dg, conn)) {
      this.#counters.echoed++;
      this.#counters.bytes += length;
    } else this.#counters.sendFailures++;
  };
}
