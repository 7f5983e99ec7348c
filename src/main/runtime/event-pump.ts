/**
 * The event pump: drains every I/O thread's event ring, turning accepts into connections handed to
 * their listener, resets into reported (or held) resets, and worker log lines into the application's
 * log; first it reports the held resets that became ready.
 *
 * Thread: main thread only.
 * @module
 */
import { log } from '../../log.js';
import { EventKind, type AcceptedEvent, type LogEvent, type ResetEvent, type WireAddress } from '../../protocol/control.js';
import type { IoThread } from '../io-thread.js';
import { NetAddress } from '../net-address.js';
import type { ConnectionEnds } from './connection-ends.js';
import type { ConnectionTable } from './connection-table.js';
import type { ReaderRegistry } from './reader-registry.js';

const decoder = new TextDecoder();

/** Turns a wire address into a NetAddress (unspecified family → Panda's "no peer" address). Thread: any. */
export function toNetAddress(w: WireAddress): NetAddress {
  return w.family === 0 ? NetAddress.unspecified() : NetAddress.fromHostPort(w.address, w.port);
}

/** Drains the event rings of one manager's threads. Thread: main thread only. */
export class EventPump {
  readonly #threads: readonly IoThread[];
  readonly #conns: ConnectionTable;
  readonly #readers: ReaderRegistry;
  readonly #ends: ConnectionEnds;

  constructor(threads: readonly IoThread[], conns: ConnectionTable, readers: ReaderRegistry, ends: ConnectionEnds) {
    this.#threads = threads;
    this.#conns = conns;
    this.#readers = readers;
    this.#ends = ends;
  }

  /**
   * Drains every thread's event ring: accepts and resets become queue entries; first reports the held
   * resets whose datagrams the application has taken (see {@link ConnectionEnds.reset}). Cheap when idle.
   */
  pump(): void {
    this.#ends.releaseReady();
    for (const t of this.#threads) {
      if (t.eventRing.size === 0) continue;
      t.eventRing.drain(1 << 30, (id, kind, data, offset, length) => {
        const body = length === 0 ? undefined : (JSON.parse(decoder.decode(data.subarray(offset, offset + length))) as unknown);
        this.#onEvent(t, id, kind, body);
      });
    }
  }

  #onEvent(thread: IoThread, id: number, kind: number, body: unknown): void {
    switch (kind) {
      case EventKind.ACCEPTED: {
        const ev = body as AcceptedEvent;
        const peer = toNetAddress(ev.peer);
        const conn = this.#conns.adopt(id, ev.websocket === true ? 'websocket' : 'tcp', thread, peer, toNetAddress(ev.local), ev.slot);
        const rv = this.#conns.get(ev.rendezvousId);
        const listener = rv === undefined ? undefined : this.#readers.of(rv);
        // A peer that reset before its address was read has none: describe() never throws.
        log('info', `received ${ev.websocket === true ? 'WebSocket' : 'TCP'} connection from client ${peer.describe()}`);
        if (rv?.facade == null || listener?.accept === undefined || !listener.accept(rv.facade, peer, conn)) {
          // Panda leaks such a connection (Q10); we close it.
          this.#ends.close(this.#conns.get(id)!);
        }
        return;
      }
      case EventKind.RESET: {
        const core = this.#conns.get(id);
        const ev = body as ResetEvent;
        if (core === undefined) return;
        if (ev.socketGone === true) core.slot = -1; // its thread frees the slot for another stream
        this.#ends.reset(core, ev.reason, ev.delivered ?? -1);
        return;
      }
      case EventKind.LOG: {
        const ev = body as LogEvent;
        log(ev.level, ev.message); // an I/O thread's line: the application's level and sink apply
        return;
      }
      default:
        log('error', `unknown event kind ${kind} from I/O thread ${thread.index}`);
    }
  }
}
