/**
 * A forked child process with typed IPC and bounded waits.
 *
 * Every wait has a deadline; a child that exits, errors or stays silent turns into a rejected
 * promise instead of a hang. {@link Child.kill} is idempotent and SIGKILLs what is still running.
 *
 * Thread: main thread of the parent process.
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A message from a child: a plain object with a `kind` tag. */
export interface Tagged {
  kind: string;
}

/** Why a wait on a child failed. */
export class ChildError extends Error {
  override readonly name = 'ChildError';
}

/** A forked child process speaking JSON messages with a `kind` tag. */
export class Child<In extends Tagged, Out extends Tagged = Tagged> {
  readonly proc: ChildProcess;
  readonly label: string;
  private readonly inbox: In[] = [];
  private waiter: ((m: In) => void) | null = null;
  private failWaiter: ((e: Error) => void) | null = null;
  private exitInfo: string | null = null;
  private readonly stderrTail: string[] = [];

  /**
   * Forks `module` (a file URL or path) with `args` (and extra Node flags `execArgv`); stdout is
   * inherited, stderr kept (tail) and echoed.
   */
  constructor(module: URL | string, args: string[], label: string, execArgv: string[] = []) {
    this.label = label;
    const path = module instanceof URL ? fileURLToPath(module) : module;
    this.proc = fork(path, args, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], serialization: 'json', execArgv: [...process.execArgv, ...execArgv] });
    this.proc.stderr?.setEncoding('utf8');
    this.proc.stderr?.on('data', (s: string) => {
      this.stderrTail.push(s);
      if (this.stderrTail.length > 50) this.stderrTail.shift();
      process.stderr.write(s.replace(/^(?=.)/gm, `  [${label}] `));
    });
    this.proc.on('message', (m: In) => {
      if (this.waiter !== null) {
        const w = this.waiter;
        this.waiter = null;
        this.failWaiter = null;
        w(m);
      } else this.inbox.push(m);
    });
    const onGone = (why: string): void => {
      this.exitInfo ??= why;
      const f = this.failWaiter;
      this.waiter = null;
      this.failWaiter = null;
      f?.(new ChildError(`${label} ${why}${this.stderr() ? `; stderr: ${this.stderr()}` : ''}`));
    };
    this.proc.on('exit', (code, signal) => onGone(signal !== null ? `killed by ${signal}` : `exited with code ${code}`));
    this.proc.on('error', (err) => onGone(`failed: ${err.message}`));
  }

  /** The last lines the child wrote to stderr. */
  stderr(): string {
    return this.stderrTail.join('').trim().split('\n').slice(-8).join('\n');
  }

  /** Sends a message (ignored once the child is gone). */
  send(m: Out): void {
    if (this.exitInfo === null && this.proc.connected) this.proc.send(m);
  }

  /**
   * The next message; if it is an `{ kind: 'error' }` message or not of `kind`, rejects. Rejects
   * when the child exits first or `timeoutMs` passes.
   */
  next<K extends In['kind']>(kind: K, timeoutMs: number): Promise<Extract<In, { kind: K }>> {
    return new Promise((resolve, reject) => {
      const check = (m: In): void => {
        clearTimeout(timer);
        if (m.kind === kind) resolve(m as Extract<In, { kind: K }>);
        else reject(new ChildError(`${this.label}: expected "${kind}", got ${JSON.stringify(m).slice(0, 500)}`));
      };
      const timer = setTimeout(() => {
        this.waiter = null;
        this.failWaiter = null;
        reject(new ChildError(`${this.label}: no "${kind}" message within ${timeoutMs} ms`));
      }, timeoutMs);
      const queued = this.inbox.shift();
      if (queued !== undefined) {
        check(queued);
        return;
      }
      if (this.exitInfo !== null) {
        clearTimeout(timer);
        reject(new ChildError(`${this.label} ${this.exitInfo}${this.stderr() ? `; stderr: ${this.stderr()}` : ''}`));
        return;
      }
      this.waiter = check;
      this.failWaiter = (e) => {
        clearTimeout(timer);
        reject(e);
      };
    });
  }

  /** Resolves when the child has exited, SIGKILLing it after `graceMs`. */
  async exit(graceMs: number): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.kill();
      }, graceMs);
      this.proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** SIGKILLs the child if it is still running. Idempotent. */
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
