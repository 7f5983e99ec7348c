/**
 * The engine behind a ConnectionManager, put together from parts with one job each (`./runtime/`):
 *
 * - {@link ThreadPool} — the I/O threads: growth, placement, connection ids, replacement;
 * - {@link WriteBatching} — the outbound rings: held sends and batch records, and the one function
 *   with which the main thread waits for its threads;
 * - {@link ConnectionTable} — open and recently closed connections;
 * - {@link ReaderRegistry} / {@link WriterRegistry} — the manager's readers, listeners and writers;
 * - {@link ConnectionEnds} — closes and resets (held until the connection's datagrams were taken);
 * - {@link EventPump} — accepts, resets and log lines from the threads' event rings;
 * - `recoverFromThreadExit` (crash-recovery) — a dead thread's aftermath;
 * - {@link Shutdown} — the orderly stop; {@link ThreadStatsReader} — the counters.
 *
 * Thread: main thread only.
 * @module
 */
import { getNetConfig, type NetConfig } from '../config.js';
import { errorFromRecord, type ErrorRecord, type PandaNetError } from '../errors.js';
import { log } from '../log.js';
import type { SyncCall, SyncResult } from '../protocol/control.js';
import type { Connection, ConnectionKind } from './connection.js';
import type { ConnectionManager } from './connection-manager.js';
import type { IoThread } from './io-thread.js';
import { ConnectionEnds } from './runtime/connection-ends.js';
import { ConnectionTable } from './runtime/connection-table.js';
import { recoverFromThreadExit } from './runtime/crash-recovery.js';
import { EventPump, toNetAddress } from './runtime/event-pump.js';
import { ReaderRegistry } from './runtime/reader-registry.js';
import { Shutdown, type ShutdownReport } from './runtime/shutdown.js';
import { ThreadStatsReader, type ManagerStats, type ThreadStats } from './runtime/stats.js';
import { ThreadPool } from './runtime/thread-pool.js';
import { WriteBatching } from './runtime/write-batching.js';
import { WriterRegistry } from './runtime/writer-registry.js';

export type { ReaderHooks } from './runtime/reader-registry.js';
export type { ManagerStats, ReaderStats, ThreadStats, WriterStats } from './runtime/stats.js';
export { DEFAULT_SHUTDOWN_TIMEOUT_MS, type ShutdownOptions, type ShutdownReport } from './runtime/shutdown.js';

function describe(e: ErrorRecord): string {
  return e.errno !== undefined ? `${e.errno} (${e.message})` : e.message;
}

/** The engine of one manager. Thread: main thread only. */
export class Runtime {
  readonly manager: ConnectionManager;
  readonly config: Readonly<NetConfig>;
  readonly pool: ThreadPool;
  readonly out: WriteBatching;
  readonly conns: ConnectionTable;
  readonly readers: ReaderRegistry;
  readonly writers: WriterRegistry;
  readonly ends: ConnectionEnds;
  readonly events: EventPump;
  readonly #shutdown: Shutdown;
  readonly #stats = new ThreadStatsReader();
  #lastError: PandaNetError | null = null;

  constructor(manager: ConnectionManager) {
    this.manager = manager;
    this.config = getNetConfig();
    this.writers = new WriterRegistry();
    this.pool = new ThreadPool(this.config, this.writers.sab);
    const threads = this.pool.threads;
    this.out = new WriteBatching(threads, this.config.drainHoldUs / 1000);
    this.conns = new ConnectionTable(manager, this.config, this.out);
    this.readers = new ReaderRegistry(threads, this.out, this.config.netMaxBlock);
    this.ends = new ConnectionEnds(this.conns, this.readers, this.out);
    this.events = new EventPump(threads, this.conns, this.readers, this.ends);
    this.#shutdown = new Shutdown(threads, this.conns, this.ends, this.out);
    this.pool.setHooks({
      added: (t) => this.readers.addThread(t),
      exited: (t) => {
        if (!this.#shutdown.begun) recoverFromThreadExit(t, this);
      },
    });
  }

  /** The I/O threads, by index (live view). */
  get threads(): readonly IoThread[] {
    return this.pool.threads;
  }

  /** Runs `call` on `thread`, blocking (bounded) until it answers; see `IoThread.callSync`. */
  callSync(thread: IoThread, call: SyncCall, timeoutMs: number): SyncResult {
    return thread.callSync(call, timeoutMs, this.out.wait);
  }

  /** Turns the result of an open on `thread` into a connection, or null (reason logged, kept as {@link lastError}). */
  finishOpen(kind: ConnectionKind, id: number, thread: IoThread, what: string, r: SyncResult): Connection | null {
    if (!r.ok) {
      log(kind === 'rendezvous' ? 'info' : 'error', `unable to ${what}: ${describe(r.error)}`);
      this.#lastError = errorFromRecord(r.error);
      return null;
    }
    log('info', `${kind === 'rendezvous' ? 'listening' : kind === 'udp' ? 'opened UDP connection' : 'opened TCP connection'}: ${what}`);
    return this.conns.adopt(id, kind, thread, toNetAddress(r.peer), toNetAddress(r.local), r.slot ?? -1);
  }

  /** The error behind the last failed open (not in Panda, which only logs it). */
  get lastError(): PandaNetError | null {
    return this.#lastError;
  }

  /** See {@link Shutdown.run}. */
  shutdown(timeoutMs: number): ShutdownReport {
    return this.#shutdown.run(timeoutMs);
  }

  /** See {@link Shutdown.runAsync}. */
  shutdownAsync(timeoutMs: number): Promise<ShutdownReport> {
    return this.#shutdown.runAsync(timeoutMs);
  }

  /** Per-thread counters. */
  stats(): ThreadStats[] {
    return this.#stats.read(this.pool.threads);
  }

  /** Everything `manager.getStats()` reports. */
  managerStats(): ManagerStats {
    return {
      threads: this.stats(),
      connections: this.conns.size,
      resetsReported: this.ends.reported,
      readers: this.readers.stats(),
      writers: this.writers.stats(),
    };
  }
}
