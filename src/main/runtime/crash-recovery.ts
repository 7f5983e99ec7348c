/**
 * What the main thread does when an I/O thread dies: reads what it still reported, gives its writers'
 * queue counts back for the sends it never took, keeps what it delivered readable, resets its
 * connections, and replaces it so new connections are served.
 *
 * Thread: main thread only.
 * @module
 */
import { log } from '../../log.js';
import { SpscRing } from '../../shared-memory/spsc-ring.js';
import type { IoThread } from '../io-thread.js';
import type { ConnectionEnds } from './connection-ends.js';
import type { ConnectionTable } from './connection-table.js';
import type { EventPump } from './event-pump.js';
import type { ReaderRegistry } from './reader-registry.js';
import type { ThreadPool } from './thread-pool.js';
import type { WriteBatching } from './write-batching.js';
import type { WriterRegistry } from './writer-registry.js';

/** The parts of a runtime that recovery touches. */
export interface RecoveryParts {
  pool: ThreadPool;
  conns: ConnectionTable;
  readers: ReaderRegistry;
  writers: WriterRegistry;
  ends: ConnectionEnds;
  events: EventPump;
  out: WriteBatching;
}

/** Recovers from the death of `dead` (not called during a shutdown). Thread: main thread only. */
export function recoverFromThreadExit(dead: IoThread, p: RecoveryParts): void {
  log('error', `I/O thread ${dead.index} exited (${dead.exitError ?? 'no reason'}); its connections are reset`);
  p.events.pump();
  // Sends it never took: nobody will write them, but their writers' queue counts must come back.
  p.out.release(false); // publish a batch the main thread still held open
  // (a fresh view: the consumer's cursor is the dead thread's, read from the shared header)
  const left = new SpscRing(dead.outRing.sab);
  left.drain(1 << 30, (_id, meta, data, offset) => p.writers.uncount(meta, data, offset));
  // Datagrams it already delivered stay readable: readers keep its rings until they are drained.
  p.readers.retireThread(dead);
  for (const core of p.conns.list()) if (core.thread === dead) p.ends.reset(core, `I/O thread ${dead.index} died`);
  // Replace it so new connections are served (the dead one keeps its index, marked dead).
  p.pool.replace(dead);
}
