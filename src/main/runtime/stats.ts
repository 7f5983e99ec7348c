/**
 * What `manager.getStats()` reports, and the reading of the I/O threads' counters (shared memory, no
 * message).
 *
 * Thread: main thread only.
 * @module
 */
import { StatWord } from '../../protocol/control.js';
import type { IoThread } from '../io-thread.js';

/** Per-thread figures, from shared memory (no message needed). */
export interface ThreadStats {
  index: number;
  alive: boolean;
  connections: number;
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  /** Sockets the thread accepted (TCP and WebSocket; a WebSocket socket counts here whether or not its handshake completes). */
  accepts: number;
  /** Of {@link accepts}, WebSocket sockets that never became a connection: a refused or failed handshake, or its timeout. */
  wsHandshakeFailures: number;
  resets: number;
  /** Times the thread paused reading a socket: its reader ring was full, or its connection's quota was reached. */
  backpressurePauses: number;
  /**
   * Of {@link backpressurePauses}, those for the connection's quota (`NetConfig.maxQueuedPerConnection`
   * datagrams delivered and not yet taken by the application).
   */
  quotaPauses: number;
  /**
   * TCP writes the thread issued: each carries everything one connection was sent since the
   * thread's previous pass over its outbound ring (`datagramsOut / tcpWrites` is the batching).
   */
  tcpWrites: number;
  /** TCP socket reads the thread took (`datagramsIn / tcpReads`: datagrams per read). */
  tcpReads: number;
  /**
   * Times the thread's outbound loop went to sleep with nothing to send. A send that finds it asleep
   * wakes it, which costs the sender about 8 µs on a VM; `NetConfig.ioSpinUs` makes it sleep less.
   */
  outboundSleeps: number;
  /**
   * Of {@link outboundSleeps}, those that ran out their idle time (1 s) with a send already waiting
   * in the ring: the main thread published it without waking the thread, so it left up to a second
   * late. 0 unless something is wrong.
   */
  outboundMissedWakes: number;
  /** UDP packets dropped: bad checksum, too short, no room, or a failed send. */
  udpDropped: number;
  /** Event-loop utilisation of the thread since the previous call, 0..1. */
  utilization: number;
}

/** One reader's queue, for stats. */
export interface ReaderStats {
  id: number;
  polled: boolean;
  /** Datagrams waiting (threaded: in the rings; polled: in the queue). */
  queued: number;
  maxQueue: number;
  overflow: boolean;
  /** Dropped for the queue cap since the reader was made. */
  dropped: number;
}

/** One writer's queue, for stats. */
export interface WriterStats {
  slot: number;
  threads: number;
  /** Datagrams handed to the I/O threads and not yet taken by them (threaded writers). */
  queued: number;
  maxQueue: number;
}

/** Everything `manager.getStats()` reports. */
export interface ManagerStats {
  threads: ThreadStats[];
  /** Open connections known to the manager (rendezvous and UDP included). */
  connections: number;
  resetsReported: number;
  readers: ReaderStats[];
  writers: WriterStats[];
}

/** Reads the per-thread counters; keeps the last event-loop figures to report utilisation since the previous read. */
export class ThreadStatsReader {
  readonly #eluLast = new Map<number, { idle: number; active: number }>();

  /** The figures of every thread of `threads`. */
  read(threads: readonly IoThread[]): ThreadStats[] {
    return threads.map((t) => {
      const w = t.stats;
      const idle = w[StatWord.ELU_IDLE_MS] ?? 0;
      const active = w[StatWord.ELU_ACTIVE_MS] ?? 0;
      const last = this.#eluLast.get(t.index) ?? { idle: 0, active: 0 };
      this.#eluLast.set(t.index, { idle, active });
      const dIdle = idle - last.idle;
      const dActive = active - last.active;
      return {
        index: t.index,
        alive: t.alive,
        connections: w[StatWord.CONNECTIONS] ?? 0,
        datagramsIn: w[StatWord.DATAGRAMS_IN] ?? 0,
        bytesIn: w[StatWord.BYTES_IN] ?? 0,
        datagramsOut: w[StatWord.DATAGRAMS_OUT] ?? 0,
        bytesOut: w[StatWord.BYTES_OUT] ?? 0,
        accepts: w[StatWord.ACCEPTS] ?? 0,
        wsHandshakeFailures: w[StatWord.WS_HANDSHAKE_FAILURES] ?? 0,
        resets: w[StatWord.RESETS] ?? 0,
        backpressurePauses: w[StatWord.BACKPRESSURE_PAUSES] ?? 0,
        quotaPauses: w[StatWord.QUOTA_PAUSES] ?? 0,
        tcpWrites: w[StatWord.TCP_WRITES] ?? 0,
        tcpReads: w[StatWord.TCP_READS] ?? 0,
        outboundSleeps: w[StatWord.OUTBOUND_SLEEPS] ?? 0,
        outboundMissedWakes: w[StatWord.OUTBOUND_MISSED_WAKES] ?? 0,
        udpDropped: w[StatWord.UDP_DROPPED] ?? 0,
        utilization: dIdle + dActive > 0 ? dActive / (dIdle + dActive) : 0,
      };
    });
  }
}
