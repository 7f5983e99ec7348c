/**
 * The orderly stop of one manager: closes every connection, lets the I/O threads hand what was sent
 * to the kernel and end their streams (bounded), stops them and reports what was not sent.
 *
 * Thread: main thread only.
 * @module
 */
import { log } from '../../log.js';
import { ShutdownState, ShutdownWord } from '../../protocol/control.js';
import { isStreamKind, pendingSendBytes } from '../connection.js';
import { IoThread, type ShutdownProbe } from '../io-thread.js';
import type { ConnectionEnds } from './connection-ends.js';
import type { ConnectionTable } from './connection-table.js';
import type { WriteBatching } from './write-batching.js';

/** Default bound of `manager.shutdown()`, ms. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

/** How long past its bound the main thread still waits for an I/O thread's shutdown report, ms. */
const SHUTDOWN_GRACE_MS = 1000;

/** Options of `manager.shutdown()` and `manager.shutdownAsync()`. Thread: main thread only. */
export interface ShutdownOptions {
  /**
   * How long the I/O threads may take to hand what was sent to the kernel, ms: a finite number ≥ 0
   * (default {@link DEFAULT_SHUTDOWN_TIMEOUT_MS}). Past it, streams still writing are cut (destroyed).
   */
  timeoutMs?: number;
}

/** What `manager.shutdown()` / `shutdownAsync()` report. Thread: main thread only. */
export interface ShutdownReport {
  /**
   * True when nothing was lost: every byte `send` accepted was handed to the kernel and every TCP
   * stream ended with a FIN, within the bound, and every I/O thread reported so.
   */
  flushed: boolean;
  /**
   * TCP bytes (framed, headers included) accepted by `send` and never handed to the kernel: what
   * streams cut at the bound (a peer that does not read) still held. For a stream the peer reset
   * during the flush, or a thread that died or did not answer, it is the last figure known (at most
   * what was waiting when the shutdown began).
   */
  unsentBytes: number;
  /**
   * Outbound records (sends and closes; a run batched by `cork`/`drainData` counts once) that an
   * I/O thread never took from its ring: 0 unless a thread died or did not answer in time.
   */
  unsentDatagrams: number;
  /** Connections that were open when the shutdown began and that it closed (streams, rendezvous, UDP). */
  connections: number;
  /** How long the shutdown took, ms (a later call returns the first call's report as it was). */
  elapsedMs: number;
}

/** A shutdown under way: what the threads were asked, and the figures to fall back on. */
interface ShutdownRun {
  started: number;
  /** `performance.now()` past which the main thread stops waiting for reports. */
  deadline: number;
  connections: number;
  threads: Array<{ thread: IoThread; probe: ShutdownProbe | null; pendingBytes: number }>;
}

/** True once the worker behind `probe` reported (done, or exited mid-way). */
function reported(probe: ShutdownProbe): boolean {
  return Atomics.load(probe.words, ShutdownWord.STATE) !== ShutdownState.FLUSHING;
}

/** The shutdown of one manager (once). Thread: main thread only. */
export class Shutdown {
  readonly #threads: readonly IoThread[];
  readonly #conns: ConnectionTable;
  readonly #ends: ConnectionEnds;
  readonly #out: WriteBatching;
  #run: ShutdownRun | null = null;
  #report: ShutdownReport | null = null;

  constructor(threads: readonly IoThread[], conns: ConnectionTable, ends: ConnectionEnds, out: WriteBatching) {
    this.#threads = threads;
    this.#conns = conns;
    this.#ends = ends;
    this.#out = out;
  }

  /** True once a shutdown began (a thread exiting then is not replaced). */
  get begun(): boolean {
    return this.#run !== null;
  }

  /**
   * Closes every connection, lets the I/O threads hand everything sent to the kernel and end their
   * streams (at most `timeoutMs`, then they cut what is left), stops them, and reports. Blocks the
   * main thread meanwhile (bounded: `timeoutMs` plus a grace for a thread that does not answer). A
   * later call returns the first one's report; a call while {@link runAsync} runs waits for it.
   */
  run(timeoutMs: number): ShutdownReport {
    if (this.#report !== null) return { ...this.#report };
    const run = this.#run ?? this.#begin(timeoutMs);
    for (const t of run.threads) {
      const probe = t.probe;
      if (probe !== null) this.#out.wait(() => reported(probe), run.deadline - performance.now(), (ms) => Atomics.wait(probe.words, ShutdownWord.STATE, ShutdownState.FLUSHING, ms), () => t.thread.isAlive());
    }
    return this.#end(run);
  }

  /** Non-blocking twin of {@link run}. */
  async runAsync(timeoutMs: number): Promise<ShutdownReport> {
    if (this.#report !== null) return { ...this.#report };
    const run = this.#run ?? this.#begin(timeoutMs);
    for (const t of run.threads) if (t.probe !== null) await IoThread.waitShutdownAsync(t.probe, run.deadline);
    return this.#end(run); // the same report if a synchronous call finished it meanwhile
  }

  /**
   * Closes every connection (its CLOSE follows its sends in the ring), publishes what is held, and
   * asks each thread to flush. Each thread's figure to fall back on (it dies, or does not answer) is
   * taken first: the bytes its connections had waiting.
   */
  #begin(timeoutMs: number): ShutdownRun {
    const started = performance.now();
    const pending = new Map<IoThread, number>();
    const open = this.#conns.list();
    for (const core of open) {
      if (isStreamKind(core.kind)) pending.set(core.thread, (pending.get(core.thread) ?? 0) + Math.max(0, pendingSendBytes(core)));
    }
    for (const core of open) this.#ends.close(core);
    this.#out.release(false); // each thread takes everything published before it is asked to stop
    const threads = this.#threads.map((thread) => ({ thread, probe: thread.requestShutdown(timeoutMs), pendingBytes: pending.get(thread) ?? 0 }));
    this.#run = { started, deadline: started + timeoutMs + SHUTDOWN_GRACE_MS, connections: open.length, threads };
    return this.#run;
  }

  /** Stops the threads and sums up what they reported (once). */
  #end(run: ShutdownRun): ShutdownReport {
    if (this.#report !== null) return { ...this.#report };
    let unsentBytes = 0;
    let unsentDatagrams = 0;
    let complete = true;
    for (const { thread, probe, pendingBytes } of run.threads) {
      if (probe !== null && Atomics.load(probe.words, ShutdownWord.STATE) === ShutdownState.DONE) {
        unsentBytes += probe.unsent[0] ?? 0;
        if (Atomics.load(probe.words, ShutdownWord.CUT) > 0) complete = false;
      } else {
        complete = false;
        unsentBytes += pendingBytes;
        unsentDatagrams += thread.outRing.size;
        log('error', `I/O thread ${thread.index} did not finish flushing (${probe === null ? 'it was gone' : 'no answer'}); up to ${pendingBytes} bytes were not sent`);
      }
      thread.terminate();
    }
    const flushed = complete && unsentBytes === 0 && unsentDatagrams === 0;
    if (!flushed) log('warning', `shutdown: ${unsentBytes} bytes were not sent (peers that did not read within the bound?)`);
    this.#report = { flushed, unsentBytes, unsentDatagrams, connections: run.connections, elapsedMs: performance.now() - run.started };
    return { ...this.#report };
  }

}
