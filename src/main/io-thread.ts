/**
 * The main thread's handle on one I/O worker: its rings, its calls (blocking and `Async`), and
 * whether it keeps the process alive.
 *
 * Thread: main thread only.
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ErrorCode, PandaNetError } from '../errors.js';
import { log, logLevelWord } from '../log.js';
import {
  CALL_SLOT_BYTES,
  CALL_SLOT_HEADER_BYTES,
  CallWord,
  PENDING_SLOTS,
  SHUTDOWN_REPORT_BYTES,
  SHUTDOWN_UNSENT_OFFSET,
  STAT_WORDS,
  ShutdownState,
  ShutdownWord,
  TAKEN_SLOTS,
  type ControlMessage,
  type SyncCall,
  type SyncResult,
  type WorkerInit,
  type WorkerNotice,
} from '../protocol/control.js';
import { SpscRing } from '../shared-memory/spsc-ring.js';
import { workerExecArgv } from './worker-exec-argv.js';

/** Ring capacities, bytes (powers of two). */
export interface RingSizes {
  event: number;
  outbound: number;
  reader: number;
}

/** Where the compiled worker entry lives (next to this file in dist/, or dist/ when run from src/). */
function workerEntry(): URL {
  const sibling = new URL('../workers/io-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(sibling))) return sibling;
  const fromSrc = new URL('../../dist/workers/io-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(fromSrc))) return fromSrc;
  throw new PandaNetError(ErrorCode.WORKER_DIED, `I/O worker entry not found at ${fileURLToPath(sibling)}; run "npm run build"`);
}

const decoder = new TextDecoder();

/**
 * How the main thread blocks until `done()` (the runtime's `WriteBatching.wait`): publishes what is
 * held, runs `begin`, then sleeps with `sleep(ms)` in bounded slices while `live()`, for at most
 * `timeoutMs`; true when `done()` held.
 */
export type BlockingWait = (done: () => boolean, timeoutMs: number, sleep: (ms: number) => void, live?: () => boolean, begin?: () => void) => boolean;

/** The words a worker reports its shutdown on ({@link ShutdownWord}); from {@link IoThread.requestShutdown}. */
export interface ShutdownProbe {
  readonly words: Int32Array;
  readonly unsent: Float64Array;
}

/** One I/O worker as seen from the main thread. */
export class IoThread {
  readonly index: number;
  readonly worker: Worker;
  readonly eventRing: SpscRing;
  readonly outRing: SpscRing;
  readonly stats: Float64Array;
  private readonly callWords: Int32Array;
  private readonly callBytes: Uint8Array;
  /** `Async` calls awaiting their `reply` notice, by call id. */
  private readonly replies = new Map<number, (r: SyncResult) => void>();
  private nextCallId = 1;
  /** The worker owns a socket, a rendezvous or a handshake in progress (its last `live` notice). */
  private ownsHandles = false;
  private callsIssued = 0;
  private callsDoneReported = 0;
  private pendingAsync = 0;
  private referenced = true;
  alive = true;
  exitError: string | null = null;

  /** Bytes waiting to be written, per stream slot (written by the worker). */
  readonly pending: Int32Array;
  /** Datagrams the application took, per stream slot (written here, read by the worker; see TAKEN_SLOTS). */
  readonly taken: Int32Array;

  constructor(index: number, init: Omit<WorkerInit, 'kind' | 'index' | 'eventRing' | 'outRing' | 'callSlot' | 'statsSab' | 'pendingSab' | 'takenSab' | 'logLevel'>, sizes: RingSizes, onExit: (t: IoThread) => void) {
    this.index = index;
    const eventSab = SpscRing.allocate(sizes.event);
    const outSab = SpscRing.allocate(sizes.outbound);
    const callSab = new SharedArrayBuffer(CALL_SLOT_BYTES);
    const statsSab = new SharedArrayBuffer(STAT_WORDS * 8);
    const pendingSab = new SharedArrayBuffer(PENDING_SLOTS * 4);
    this.pending = new Int32Array(pendingSab);
    const takenSab = new SharedArrayBuffer(TAKEN_SLOTS * 4);
    this.taken = new Int32Array(takenSab);
    this.eventRing = new SpscRing(eventSab);
    this.outRing = new SpscRing(outSab);
    this.stats = new Float64Array(statsSab);
    this.callWords = new Int32Array(callSab, 0, CALL_SLOT_HEADER_BYTES / 4);
    this.callBytes = new Uint8Array(callSab, CALL_SLOT_HEADER_BYTES);
    this.worker = new Worker(workerEntry(), { name: `pandanet-io-${index}`, execArgv: workerExecArgv() });
    this.worker.on('message', (m: WorkerNotice) => this.onNotice(m));
    this.worker.on('error', (err: Error) => {
      this.exitError = err.message;
      log('error', `I/O thread ${index} crashed: ${err.message}`);
    });
    this.worker.on('exit', (code) => {
      this.alive = false;
      this.exitError ??= `exited with code ${code}`;
      onExit(this);
    });
    const msg: WorkerInit = {
      ...init,
      kind: 'init',
      index,
      eventRing: eventSab,
      outRing: outSab,
      callSlot: callSab,
      statsSab,
      pendingSab,
      takenSab,
      logLevel: logLevelWord(),
    };
    this.worker.postMessage(msg, init.peers.map((p) => p.port));
    this.updateRef();
  }

  /** Sends a control message (ports in `transfer`). */
  post(msg: ControlMessage, transfer: readonly unknown[] = []): void {
    if (this.alive) this.worker.postMessage(msg, transfer as never);
  }

  /**
   * Runs `call` on the worker and blocks this thread until it answers or `timeoutMs` passes, waiting
   * with `wait` (the runtime's `WriteBatching.wait`, which first hands the worker what is held, so it
   * takes earlier sends before it answers). Throws WORKER_TIMEOUT / WORKER_DIED; socket failures come
   * back as `{ ok: false }`.
   */
  callSync(call: SyncCall, timeoutMs: number, wait: BlockingWait): SyncResult {
    this.assertAlive();
    const callId = this.nextCallId++;
    this.callsIssued++;
    this.updateRef();
    let reply: SyncResult | null = null;
    const answered = (): boolean => {
      if (Atomics.load(this.callWords, CallWord.STATE) !== 1) return false;
      if (Atomics.load(this.callWords, CallWord.CALL_ID) !== callId) {
        Atomics.store(this.callWords, CallWord.STATE, 0); // a late answer to an abandoned call
        return false;
      }
      const len = Atomics.load(this.callWords, CallWord.LENGTH);
      reply = JSON.parse(decoder.decode(this.callBytes.slice(0, len))) as SyncResult;
      return true;
    };
    const post = (): void => {
      Atomics.store(this.callWords, CallWord.STATE, 0);
      this.post({ kind: 'call', callId, call, reply: 'slot' });
    };
    wait(answered, timeoutMs, (ms) => Atomics.wait(this.callWords, CallWord.STATE, 0, ms), () => this.isAlive(), post);
    if (reply !== null) return reply;
    if (!this.isAlive()) throw this.diedError();
    throw new PandaNetError(ErrorCode.WORKER_TIMEOUT, `I/O thread ${this.index} did not answer ${call.op} within ${timeoutMs} ms`);
  }

  /**
   * The non-blocking twin of {@link callSync}: the same `call` message and worker handler, answered by
   * a `reply` notice instead of the call slot. Rejects with WORKER_TIMEOUT after `timeoutMs`, or
   * WORKER_DIED once the worker is gone.
   */
  async callAsync(call: SyncCall, timeoutMs: number): Promise<SyncResult> {
    this.assertAlive();
    const callId = this.nextCallId++;
    this.callsIssued++;
    this.pendingAsync++;
    this.updateRef();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<SyncResult>((resolve) => {
          this.replies.set(callId, resolve);
          this.post({ kind: 'call', callId, call, reply: 'message' });
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(this.alive ? new PandaNetError(ErrorCode.WORKER_TIMEOUT, `I/O thread ${this.index} did not answer ${call.op} within ${timeoutMs} ms`) : this.diedError()), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.replies.delete(callId);
      this.pendingAsync--;
      this.updateRef();
    }
  }

  /**
   * Whether the worker still runs: false once its `exit` event came, or — seen at once even by a main
   * thread blocked in a wait, which takes no events — once the worker flagged its own exit.
   */
  isAlive(): boolean {
    return this.alive && Atomics.load(this.callWords, CallWord.EXITED) === 0;
  }

  private assertAlive(): void {
    if (!this.isAlive()) throw this.diedError();
  }

  private diedError(): PandaNetError {
    return new PandaNetError(ErrorCode.WORKER_DIED, `I/O thread ${this.index} is gone (${this.exitError ?? (this.alive ? 'it exited during a blocking call' : 'unknown reason')})`);
  }

  private onNotice(m: WorkerNotice): void {
    if (m.kind === 'reply') {
      this.replies.get(m.callId)?.(m.result);
      return;
    }
    if (m.kind === 'live') {
      this.ownsHandles = m.live;
      this.callsDoneReported = m.callsDone;
      this.updateRef();
    }
  }

  /**
   * Node's lifetime convention: the worker keeps the process alive while it owns a socket, runs a
   * call for us, or may have just created a socket it has not reported yet.
   */
  updateRef(): void {
    const want = this.alive && (this.ownsHandles || this.pendingAsync > 0 || this.callsDoneReported < this.callsIssued);
    if (want === this.referenced) return;
    this.referenced = want;
    if (want) this.worker.ref();
    else this.worker.unref();
  }

  /**
   * Asks the worker to flush and stop: it takes everything published in its outbound ring before
   * this call (the runtime publishes what it held first), ends its streams and reports on
   * the probe once each has handed everything to the kernel, or after `timeoutMs` (then it cuts
   * them). Null when the worker is gone. Follow with a wait, then {@link terminate}.
   */
  requestShutdown(timeoutMs: number): ShutdownProbe | null {
    if (!this.isAlive()) return null;
    const sab = new SharedArrayBuffer(SHUTDOWN_REPORT_BYTES);
    this.post({ kind: 'shutdown', timeoutMs, report: sab });
    return { words: new Int32Array(sab, 0, 2), unsent: new Float64Array(sab, SHUTDOWN_UNSENT_OFFSET, 1) };
  }

  /**
   * Resolves once the worker reported on `probe` (true: done, or exited mid-way) or the clock
   * (`performance.now()`) reaches `deadline` (false); keeps the process alive while it waits. (Its
   * blocking form is the runtime's `WriteBatching.wait`.)
   */
  static async waitShutdownAsync(probe: ShutdownProbe, deadline: number): Promise<boolean> {
    for (;;) {
      if (Atomics.load(probe.words, ShutdownWord.STATE) !== ShutdownState.FLUSHING) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const slice = Math.min(left, 50);
      const w = Atomics.waitAsync(probe.words, ShutdownWord.STATE, ShutdownState.FLUSHING, slice);
      if (!w.async) continue;
      const hold = setTimeout(() => {}, slice + 5); // a pending waitAsync alone does not keep the process alive
      await w.value;
      clearTimeout(hold);
    }
  }

  /** Stops the worker now. */
  terminate(): void {
    this.alive = false;
    void this.worker.terminate();
  }
}
