/**
 * The load clients' mailboxes: one MessageChannel per piscina task, the messages each task sent,
 * and `next(t)` to await task `t`'s next one. A task's `{ kind: 'error' }` message goes to `onError`
 * (the client reports it and exits) instead of the mailbox.
 *
 * Thread: a load client's main thread.
 * @module
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';

/** Mailboxes of a load client's tasks, indexed by task. */
export class TaskInboxes<M extends { kind: string }> {
  /** The client's end of each task's channel (post commands here). */
  readonly ports: MessagePort[] = [];
  readonly #inbox: M[][] = [];
  readonly #waiters: Array<(() => void) | null> = [];
  readonly #onError: (task: number, message: string) => void;

  constructor(onError: (task: number, message: string) => void) {
    this.#onError = onError;
  }

  /** Opens task `t`'s channel; returns the port to hand (transfer) to the task. */
  open(t: number): MessagePort {
    const ch = new MessageChannel();
    this.ports[t] = ch.port1;
    this.#inbox[t] = [];
    this.#waiters[t] = null;
    ch.port1.on('message', (m: M) => {
      if (m.kind === 'error') {
        this.#onError(t, String((m as { message?: unknown }).message));
        return;
      }
      this.#inbox[t]!.push(m);
      const w = this.#waiters[t];
      this.#waiters[t] = null;
      w?.();
    });
    return ch.port2;
  }

  /** Task `t`'s next message, in the order sent. */
  async next(t: number): Promise<M> {
    while (this.#inbox[t]!.length === 0) await new Promise<void>((r) => (this.#waiters[t] = r));
    return this.#inbox[t]!.shift()!;
  }
}
