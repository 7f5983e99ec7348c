/**
 * A manager's pool of I/O threads: grows on demand, places new connections round-robin, hands out
 * connection ids, and replaces a thread that died (same index).
 *
 * Pool size: the largest `numThreads` of any reader, listener or writer made on the manager, and at
 * least 1. With every component at 0 threads (polled mode) the one thread is a shared network thread:
 * it buffers, and nothing reaches a queue until the application polls (see docs/design.md).
 *
 * Thread: main thread only.
 * @module
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { NetConfig } from '../../config.js';
import { ErrorCode, PandaNetError } from '../../errors.js';
import { POOL_WORDS, PoolWord } from '../../protocol/control.js';
import { IoThread } from '../io-thread.js';

/** What the pool tells the rest of the runtime. */
export interface ThreadPoolHooks {
  /** A thread joined (the pool grew, or a dead one was replaced): readers give it a ring. */
  added(thread: IoThread): void;
  /** A thread exited (not during a shutdown the pool was told of): recover, then {@link ThreadPool.replace}. */
  exited(thread: IoThread): void;
}

/** The I/O threads of one manager. Thread: main thread only. */
export class ThreadPool {
  readonly #config: Readonly<NetConfig>;
  readonly #poolSab = new SharedArrayBuffer(POOL_WORDS * 4);
  readonly #pool = new Int32Array(this.#poolSab);
  readonly #writerSab: SharedArrayBuffer;
  readonly #threads: IoThread[] = [];
  #hooks: ThreadPoolHooks | null = null;
  #nextPick = 0;

  /** @param writerSab the writers' queue words, shared with every thread ({@link WriterRegistry}). */
  constructor(config: Readonly<NetConfig>, writerSab: SharedArrayBuffer) {
    this.#config = config;
    this.#writerSab = writerSab;
    this.#pool[PoolWord.NEXT_CONN_ID] = 1;
  }

  /** Connects the pool to the rest of the runtime (once, before the first thread). */
  setHooks(hooks: ThreadPoolHooks): void {
    this.#hooks = hooks;
  }

  /** The threads, by index (a dead one stays until replaced). Read-only view, live. */
  get threads(): readonly IoThread[] {
    return this.#threads;
  }

  /** Grows the pool to at least `n` threads (and at least 1). */
  ensure(n: number): void {
    const want = Math.max(1, n);
    while (this.#threads.length < want) {
      const index = this.#threads.length;
      const t = this.#spawn(index, this.#threads);
      this.#threads.push(t);
      Atomics.store(this.#pool, PoolWord.POOL_SIZE, this.#threads.length);
      this.#hooks?.added(t);
    }
  }

  /** A live thread for a new connection, round-robin. */
  pick(): IoThread {
    this.ensure(1);
    for (let i = 0; i < this.#threads.length; i++) {
      const t = this.#threads[this.#nextPick++ % this.#threads.length]!;
      if (t.isAlive()) return t;
    }
    throw new PandaNetError(ErrorCode.WORKER_DIED, 'no live I/O thread');
  }

  /** A fresh connection id (the threads take theirs from the same shared word). */
  allocConnId(): number {
    return Atomics.add(this.#pool, PoolWord.NEXT_CONN_ID, 1);
  }

  /** Replaces the dead thread `dead` by a new one at the same index, so new connections are served. */
  replace(dead: IoThread): void {
    const t = this.#spawn(
      dead.index,
      this.#threads.filter((other) => other !== dead && other.alive),
    );
    this.#threads[dead.index] = t;
    this.#hooks?.added(t);
  }

  /** Test hook: crash I/O thread `index` (`docs/reliability.md`). */
  crashForTest(index: number): void {
    this.#threads[index]?.post({ kind: 'crashForTest' });
  }

  /** Starts the thread for `index`, with a worker-to-worker port to each of `others`. */
  #spawn(index: number, others: readonly IoThread[]): IoThread {
    const peers: Array<{ index: number; port: MessagePort }> = [];
    for (const other of others) {
      const ch = new MessageChannel();
      other.post({ kind: 'addPeer', index, port: ch.port1 }, [ch.port1]);
      peers.push({ index: other.index, port: ch.port2 });
    }
    const c = this.#config;
    const init = { poolSab: this.#poolSab, writerSab: this.#writerSab, peers, supportIpv6: c.supportIpv6, idleTimeoutMs: c.idleTimeoutMs, ioSpinUs: c.ioSpinUs, maxQueuedPerConnection: c.maxQueuedPerConnection };
    return new IoThread(index, init, c.ringBytes, (t) => this.#hooks?.exited(t));
  }
}
