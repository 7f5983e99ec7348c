/**
 * The load client of the accept benchmark (bench/e2e/accept.ts), in its own process: `connections`
 * plain `node:net` clients, at most `concurrency` at a time; each connects to 127.0.0.1:`port`, sends
 * one datagram (uint16 LE length + 8 bytes) and waits until the server closes the connection. Reports
 * the time from the first connect to the last close.
 *
 * IPC: on `{ kind: 'go' }` runs, then sends `{ kind: 'done', … }`.
 *
 * Thread: main thread of the client process.
 * @module
 */
import net from 'node:net';

/** What the orchestrator passes (JSON in argv[2]). */
export interface AcceptClientParams {
  port: number;
  connections: number;
  concurrency: number;
}

/** The client's report. */
export interface AcceptClientDone {
  kind: 'done';
  completed: number;
  errors: number;
  firstError: string;
  elapsedMs: number;
}

const p = JSON.parse(process.argv[2] ?? '{}') as AcceptClientParams;
const frame = Buffer.from([8, 0, 1, 2, 3, 4, 5, 6, 7, 8]);

function run(): Promise<AcceptClientDone> {
  return new Promise((resolve) => {
    let started = 0;
    let finished = 0;
    let errors = 0;
    let firstError = '';
    const t0 = performance.now();
    const one = (): void => {
      started++;
      const s = net.connect({ host: '127.0.0.1', port: p.port });
      s.on('connect', () => s.write(frame));
      s.on('data', () => {});
      s.on('error', (err) => {
        if (errors++ === 0) firstError = err.message;
      });
      s.on('close', () => {
        finished++;
        if (started < p.connections) one();
        else if (finished === p.connections) resolve({ kind: 'done', completed: finished - errors, errors, firstError, elapsedMs: performance.now() - t0 });
      });
    };
    for (let i = 0; i < Math.min(p.concurrency, p.connections); i++) one();
  });
}

process.on('message', (m: { kind: string }) => {
  if (m.kind !== 'go') return;
  void run().then((done) => process.send?.(done, () => process.exit(0)));
});
process.send?.({ kind: 'ready' });
