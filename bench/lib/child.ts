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
import { InboxProcess, ProcessInbox, type Tagged } from './process-inbox.js';

export type { Tagged };

/** Why a wait on a child failed. */
export class ChildError extends Error {
  override readonly name = 'ChildError';
}

/** A forked child process speaking JSON messages with a `kind` tag. */
export class Child<In extends Tagged, Out extends Tagged = Tagged> extends InboxProcess<In> {
  readonly proc: ChildProcess;
  readonly label: string;
  protected readonly inbox: ProcessInbox<In>;

  /**
   * Forks `module` (a file URL or path) with `args` (and extra Node flags `execArgv`); stdout is
   * inherited, stderr kept (tail) and echoed.
   */
  constructor(module: URL | string, args: string[], label: string, execArgv: string[] = []) {
    super();
    this.label = label;
    const path = module instanceof URL ? fileURLToPath(module) : module;
    this.proc = fork(path, args, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], serialization: 'json', execArgv: [...process.execArgv, ...execArgv] });
    const inbox = new ProcessInbox<In>(this.proc, label, (m) => new ChildError(m));
    this.inbox = inbox;
    this.proc.on('message', (m: In) => inbox.push(m));
    this.proc.on('exit', (code, signal) => inbox.gone(signal !== null ? `killed by ${signal}` : `exited with code ${code}`));
    this.proc.on('error', (err) => inbox.gone(`failed: ${err.message}`));
  }

  /** Sends a message (ignored once the child is gone). */
  send(m: Out): void {
    if (!this.inbox.isGone && this.proc.connected) this.proc.send(m);
  }
}
