/**
 * The parent's handle on a forked bots process (`bot-process.ts`): starts it, keeps its latest
 * report, and stops it within a bound (asks, waits, then kills).
 *
 * Thread: main thread only.
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { asBotsMessage, type BotReport, type BotSwarmOptions, type ParentToBots } from './bots.js';

/** How a bots process ended. */
export interface BotsExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It did not exit by itself within the bound and was killed. */
  killed: boolean;
  /** It exited before it was asked to stop, or with a failure. */
  crashed: boolean;
  /** Its final report (cumulative round trips), when it sent one. */
  final: BotReport | null;
  /** The error it reported, if any. */
  error: string | null;
}

/** The compiled bots entry next to this module (`dist/app/bot-process.js`). */
export const BOT_PROCESS_SCRIPT = fileURLToPath(new URL('./bot-process.js', import.meta.url));

/** A running bots process. */
export class BotsChild {
  readonly child: ChildProcess;
  /** Latest report (interval figures), null until the first one. */
  latest: BotReport | null = null;
  #final: BotReport | null = null;
  #error: string | null = null;
  #stopping = false;
  #killed = false;
  readonly #exited: Promise<BotsExit>;
  #unexpected: ((exit: BotsExit) => void) | null = null;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (raw: unknown) => {
      const m = asBotsMessage(raw);
      if (m === null) return;
      switch (m.type) {
        case 'report':
          this.latest = m.report;
          return;
        case 'final':
          this.#final = m.report;
          return;
        case 'error':
          this.#error = m.message;
          return;
        case 'started':
          return;
      }
    });
    this.#exited = new Promise<BotsExit>((resolve) => {
      child.once('exit', (code, signal) => {
        const crashed = !this.#stopping || code !== 0 || this.#error !== null;
        const exit: BotsExit = { code, signal, killed: this.#killed, crashed, final: this.#final, error: this.#error };
        if (!this.#stopping) this.#unexpected?.(exit);
        resolve(exit);
      });
    });
  }

  /**
   * Forks `script` (default {@link BOT_PROCESS_SCRIPT}) and sends it `start`. Its stdout and stderr
   * are the parent's.
   */
  static fork(options: BotSwarmOptions, script: string = BOT_PROCESS_SCRIPT): BotsChild {
    const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    const handle = new BotsChild(child);
    child.on('error', (err) => {
      handle.#error ??= err.message;
    });
    handle.#post({ type: 'start', options });
    return handle;
  }

  /** Called once if the process exits before {@link stop} was called. */
  onUnexpectedExit(cb: (exit: BotsExit) => void): void {
    this.#unexpected = cb;
  }

  /** Resolves when the process has exited. */
  get exited(): Promise<BotsExit> {
    return this.#exited;
  }

  /**
   * Asks the process to stop (it closes its connections and sends its final report), waits up to
   * `timeoutMs`, then kills it (SIGKILL). Idempotent.
   */
  async stop(timeoutMs = 5000): Promise<BotsExit> {
    if (!this.#stopping) {
      this.#stopping = true;
      if (this.child.exitCode === null && this.child.signalCode === null) {
        this.#post({ type: 'stop' });
        const timer = setTimeout(() => {
          this.#killed = true;
          this.child.kill('SIGKILL');
        }, timeoutMs);
        void this.#exited.finally(() => clearTimeout(timer));
      }
    }
    return this.#exited;
  }

  #post(m: ParentToBots): void {
    if (this.child.connected) this.child.send(m);
  }
}
