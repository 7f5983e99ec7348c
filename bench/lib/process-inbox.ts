/**
 * The receiving side of a benchmark's child process, whatever carries its messages (IPC for
 * {@link Child}, stdout lines for the native clients): the messages not yet asked for, in order; one
 * bounded waiter ({@link ProcessInbox.next}); the tail of the child's stderr (echoed with its label);
 * and its exit, which rejects the waiter and every later wait.
 *
 * Thread: main thread of the orchestrating process.
 * @module
 */
import type { ChildProcess } from 'node:child_process';

/** What a child's messages have in common: a `kind` tag. */
export interface Tagged {
  kind: string;
}

/** Messages of a child process, waited for one at a time with a deadline. */
export class ProcessInbox<In extends Tagged> {
  private readonly queue: In[] = [];
  private waiter: ((m: In) => void) | null = null;
  private failWaiter: ((e: Error) => void) | null = null;
  private exitInfo: string | null = null;
  private readonly stderrTail: string[] = [];

  /** Keeps (and echoes, prefixed with `label`) what `proc` writes to stderr; errors are made by `error`. */
  constructor(
    readonly proc: ChildProcess,
    readonly label: string,
    private readonly error: (message: string) => Error,
  ) {
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => {
      this.stderrTail.push(s);
      if (this.stderrTail.length > 50) this.stderrTail.shift();
      process.stderr.write(s.replace(/^(?=.)/gm, `  [${label}] `));
    });
  }

  /** A message arrived: to the waiter, or queued. */
  push(m: In): void {
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      this.failWaiter = null;
      w(m);
    } else this.queue.push(m);
  }

  /** The child is gone (`why`: how): the waiter, and every later wait with nothing queued, rejects. */
  gone(why: string): void {
    this.exitInfo ??= why;
    const f = this.failWaiter;
    this.waiter = null;
    this.failWaiter = null;
    f?.(this.error(this.goneText()));
  }

  /** Whether the child is gone. */
  get isGone(): boolean {
    return this.exitInfo !== null;
  }

  /** The last lines the child wrote to stderr. */
  stderr(): string {
    return this.stderrTail.join('').trim().split('\n').slice(-8).join('\n');
  }

  private goneText(): string {
    return `${this.label} ${this.exitInfo ?? 'is gone'}${this.stderr() ? `; stderr: ${this.stderr()}` : ''}`;
  }

  /** The next message; rejects when it is not of `kind`, when the child is gone first, or after `timeoutMs`. */
  next<K extends In['kind']>(kind: K, timeoutMs: number): Promise<Extract<In, { kind: K }>> {
    return new Promise((resolve, reject) => {
      const check = (m: In): void => {
        clearTimeout(timer);
        if (m.kind === kind) resolve(m as Extract<In, { kind: K }>);
        else reject(this.error(`${this.label}: expected "${kind}", got ${JSON.stringify(m).slice(0, 500)}`));
      };
      const timer = setTimeout(() => {
        this.waiter = null;
        this.failWaiter = null;
        reject(this.error(`${this.label}: no "${kind}" message within ${timeoutMs} ms`));
      }, timeoutMs);
      const queued = this.queue.shift();
      if (queued !== undefined) {
        check(queued);
        return;
      }
      if (this.exitInfo !== null) {
        clearTimeout(timer);
        reject(this.error(this.goneText()));
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
      const timer = setTimeout(() => this.kill(), graceMs);
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

/** A child process whose messages arrive in a {@link ProcessInbox}: the waits every kind of child shares. */
export abstract class InboxProcess<In extends Tagged> {
  protected abstract readonly inbox: ProcessInbox<In>;

  /** The last lines the child wrote to stderr. */
  stderr(): string {
    return this.inbox.stderr();
  }

  /** The next message; rejects when it is not of `kind`, when the child is gone first, or after `timeoutMs`. */
  next<K extends In['kind']>(kind: K, timeoutMs: number): Promise<Extract<In, { kind: K }>> {
    return this.inbox.next(kind, timeoutMs);
  }

  /** Resolves when the child has exited, SIGKILLing it after `graceMs`. */
  exit(graceMs: number): Promise<void> {
    return this.inbox.exit(graceMs);
  }

  /** SIGKILLs the child if it is still running. Idempotent. */
  kill(): void {
    this.inbox.kill();
  }
}
