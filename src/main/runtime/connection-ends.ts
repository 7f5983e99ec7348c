/**
 * How connections end on the main thread: closed by the application (no reset reported), or reset
 * (peer close, error, failed send, dead thread) — reported once, and only after the application has
 * taken the datagrams the connection delivered before it (held resets).
 *
 * Thread: main thread only.
 * @module
 */
import { log } from '../../log.js';
import { OutOp, packOutMeta } from '../../protocol/control.js';
import { flushCollected } from '../collect-tcp.js';
import { isStreamKind, type Connection, type ConnectionCore } from '../connection.js';
import type { ConnectionTable } from './connection-table.js';
import type { ReaderRegistry } from './reader-registry.js';
import type { WriteBatching } from './write-batching.js';

const EMPTY = new Uint8Array(0);
const CLOSE_META = packOutMeta(OutOp.CLOSE, 0, false, 0);
/** How long a CLOSE may wait for room in a full outbound ring, ms. */
const CLOSE_WAIT_MS = 2000;

/** Datagrams of `core` the application has taken, or a polled reader dropped for its cap. */
function taken(core: ConnectionCore): number {
  return core.stats.datagramsIn + core.droppedIn;
}

/** Closes and resets of one manager's connections. Thread: main thread only. */
export class ConnectionEnds {
  readonly #conns: ConnectionTable;
  readonly #readers: ReaderRegistry;
  readonly #out: WriteBatching;
  /** Resets held back by {@link reset} until the application has taken the connection's datagrams. */
  readonly #held = new Map<ConnectionCore, { reason: string; delivered: number }>();
  /** Held resets whose datagrams are all accounted for (or whose reader left): released at the next {@link releaseReady}. */
  readonly #ready = new Set<ConnectionCore>();
  #reported = 0;
  #onReset: (conn: Connection) => void = () => {};

  constructor(conns: ConnectionTable, readers: ReaderRegistry, out: WriteBatching) {
    this.#conns = conns;
    this.#readers = readers;
    this.#out = out;
  }

  /** Where every reported reset goes (the Queued manager queues it). */
  onReset(handler: (conn: Connection) => void): void {
    this.#onReset = handler;
  }

  /** Resets reported since the manager was made. */
  get reported(): number {
    return this.#reported;
  }

  /** Closes `core` locally: no reset is reported (Panda §5.2), not even one held back by {@link reset}. */
  close(core: ConnectionCore): boolean {
    if (core.collect.len > 0) flushCollected(core); // Panda flushes first, even a foreign connection
    if (!core.open || !this.#conns.has(core)) return false;
    this.#held.delete(core);
    this.#readers.of(core)?.forget(core);
    this.#conns.retire(core);
    log('info', `shutting down connection ${core.id} locally`);
    if (core.thread.alive) this.#out.send(core.thread, core.id, CLOSE_META, EMPTY, 0, CLOSE_WAIT_MS);
    return true;
  }

  /**
   * Reports `core` reset: removed from its reader, closed, handed to {@link onReset}.
   *
   * `delivered` (from the I/O thread's RESET event): the datagrams its stream put into reader rings
   * before the reset. Until the application has taken that many (or a polled reader dropped them for
   * its cap), the reset is held back — the connection stays open and monitored, and the sends made
   * meanwhile are written — so the application never gets a datagram of a connection after it took
   * its reset. Taking the last of them ({@link noteTaken}) releases it at the next event pump ({@link releaseReady}, which
   * `resetConnectionAvailable` runs): not during the take, so the reply to that last datagram still
   * goes out. A connection with no reader is reported at once; one whose reader removes it or shuts
   * down ({@link readerLeft}) at the next pump.
   *
   * Once released, the thread is sent the connection's CLOSE (after the sends before it): a stream
   * whose peer half-closed kept its write side open until now; it ends it (FIN) and lets the socket go.
   */
  reset(core: ConnectionCore, reason: string, delivered = -1): void {
    if (core.facade === null) return;
    const reader = this.#readers.of(core);
    if (reader !== undefined) {
      reader.drainThread(core.thread);
      if (core.open && delivered > taken(core)) {
        this.#held.set(core, { reason, delivered });
        return;
      }
      reader.forget(core);
    }
    this.#held.delete(core);
    this.#report(core, reason);
  }

  /**
   * A reader counted a datagram of `core` as taken (or dropped it for its cap): once everything its
   * stream delivered before its reset is accounted for, the held reset is released at the next
   * {@link releaseReady}. Cheap when no reset is held.
   */
  noteTaken(core: ConnectionCore): void {
    if (this.#held.size === 0) return;
    const h = this.#held.get(core);
    if (h !== undefined && taken(core) >= h.delivered) this.#ready.add(core);
  }

  /** `core` left its reader (removed, or the reader shut down): a reset held for it is released at the next {@link releaseReady}. */
  readerLeft(core: ConnectionCore): void {
    if (this.#held.has(core)) this.#ready.add(core);
  }

  /** Reports the held resets {@link noteTaken} and {@link readerLeft} made ready, oldest first (the event pump calls it). */
  releaseReady(): void {
    if (this.#ready.size === 0) return;
    for (const core of this.#ready) {
      this.#ready.delete(core);
      const h = this.#held.get(core);
      if (h === undefined) continue; // closed by the application meanwhile, or reported otherwise
      this.#held.delete(core);
      this.#readers.of(core)?.forget(core);
      this.#report(core, h.reason);
    }
  }

  #report(core: ConnectionCore, reason: string): void {
    if (core.open) {
      if (core.collect.len > 0) flushCollected(core); // sends the application made before the reset
      this.#conns.retire(core);
      log('info', `connection ${core.id} reset: ${reason}`);
      if (isStreamKind(core.kind) && core.thread.alive) this.#out.send(core.thread, core.id, CLOSE_META, EMPTY, 0, CLOSE_WAIT_MS);
    }
    this.#reported++;
    this.#onReset(core.facade!);
  }
}
