/**
 * Micro benchmark: one request/response round trip between the main thread and a worker, the way
 * the `Async` twins of the blocking calls travel (docs/design.md §3):
 *
 *  - `comlink`      a comlink proxy over a dedicated MessagePort (the alternative measured);
 *  - `postMessage`  a plain message with a call id, answered by a message that the main thread
 *                   matches to a pending promise (what the twins use);
 *  - `call slot`    the blocking calls' path: a message, then `Atomics.wait` on a SharedArrayBuffer
 *                   slot that the worker fills with the JSON reply (for reference).
 *
 * The request and reply are shaped like a `connect` call and its result. Each mode runs `calls`
 * sequential round trips per run (after a warm-up run), modes interleaved run by run; prints median
 * and p99 per round trip over all runs.
 *
 * Build and run: `npx tsc -p tsconfig.bench.json && node build/bench/micro/rpc.js [--runs=5] [--quick]`.
 * The worker is this same compiled module.
 *
 * Thread: main() on the main thread; the worker role runs only inside the worker it starts.
 * @module
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { comlinkEndpoint } from '../lib/comlink-port.js';

const REQUEST = { op: 'connect', connId: 17, host: '127.0.0.1', port: 40000, timeoutMs: 3000 } as const;
const REPLY = { ok: true, local: { family: 4, address: '127.0.0.1', port: 51234 }, peer: { family: 4, address: '127.0.0.1', port: 40000 }, slot: 3 } as const;
const SLOT_BYTES = 4096;

interface WorkerSetup {
  comlinkPort: MessagePort;
  plainPort: MessagePort;
  slot: SharedArrayBuffer;
}

/** The worker role: answers on all three paths. */
function serve(setup: WorkerSetup): void {
  Comlink.expose({ call: async (_c: unknown) => REPLY }, comlinkEndpoint(setup.comlinkPort));
  setup.plainPort.on('message', (m: { callId: number; call: unknown }) => {
    void Promise.resolve(REPLY).then((result) => setup.plainPort.postMessage({ callId: m.callId, result }));
  });
  const words = new Int32Array(setup.slot, 0, 4);
  const bytes = new Uint8Array(setup.slot, 16);
  const encoder = new TextEncoder();
  parentPort!.on('message', (m: { callId: number }) => {
    void Promise.resolve(REPLY).then((result) => {
      const b = encoder.encode(JSON.stringify(result));
      bytes.set(b);
      Atomics.store(words, 2, b.length);
      Atomics.store(words, 1, m.callId);
      Atomics.store(words, 0, 1);
      Atomics.notify(words, 0);
    });
  });
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

/** Options of {@link main}. */
export interface RpcBenchOptions {
  runs: number;
  calls: number;
}

/** Per mode: round-trip times, µs. */
export type RpcBenchResult = Record<'comlink' | 'postMessage' | 'call slot', number[]>;

/** Runs the benchmark and prints a table. Thread: main thread. */
export async function main(options: Partial<RpcBenchOptions> = {}): Promise<RpcBenchResult> {
  const runs = options.runs ?? 5;
  const calls = options.calls ?? 2000;
  const c1 = new MessageChannel();
  const c2 = new MessageChannel();
  const slot = new SharedArrayBuffer(SLOT_BYTES);
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { comlinkPort: c1.port2, plainPort: c2.port2, slot }, transferList: [c1.port2, c2.port2] });
  const api = Comlink.wrap<{ call(c: unknown): Promise<typeof REPLY> }>(comlinkEndpoint(c1.port1));
  const pending = new Map<number, (r: unknown) => void>();
  c2.port1.on('message', (m: { callId: number; result: unknown }) => {
    const done = pending.get(m.callId);
    pending.delete(m.callId);
    done?.(m.result);
  });
  let nextId = 1;
  const words = new Int32Array(slot, 0, 4);
  const bytes = new Uint8Array(slot, 16);
  const decoder = new TextDecoder();
  const modes: Record<keyof RpcBenchResult, () => Promise<unknown> | unknown> = {
    comlink: () => api.call(REQUEST),
    postMessage: () =>
      new Promise((res) => {
        const callId = nextId++;
        pending.set(callId, res);
        c2.port1.postMessage({ callId, call: REQUEST });
      }),
    'call slot': () => {
      const callId = nextId++;
      Atomics.store(words, 0, 0);
      worker.postMessage({ callId, call: REQUEST });
      while (Atomics.load(words, 0) !== 1 || Atomics.load(words, 1) !== callId) Atomics.wait(words, 0, 0, 50);
      return JSON.parse(decoder.decode(bytes.slice(0, Atomics.load(words, 2)))) as unknown;
    },
  };
  const result: RpcBenchResult = { comlink: [], postMessage: [], 'call slot': [] };
  for (let run = -1; run < runs; run++) {
    const order = (Object.keys(modes) as Array<keyof RpcBenchResult>).sort(() => (run % 2 === 0 ? 1 : -1));
    for (const mode of order) {
      for (let i = 0; i < calls; i++) {
        const t = performance.now();
        await modes[mode]();
        if (run >= 0) result[mode].push((performance.now() - t) * 1000);
      }
    }
  }
  await worker.terminate();
  c1.port1.close();
  c2.port1.close();
  console.log(`rpc round trip, ${runs} runs × ${calls} calls (Node ${process.version})`);
  console.log('| path | median | p99 |');
  console.log('|---|---|---|');
  for (const [mode, xs] of Object.entries(result)) console.log(`| ${mode} | ${quantile(xs, 0.5).toFixed(1)} µs | ${quantile(xs, 0.99).toFixed(1)} µs |`);
  return result;
}

if (!isMainThread && parentPort !== null && (workerData as WorkerSetup | undefined)?.slot !== undefined) {
  serve(workerData as WorkerSetup);
} else if (isMainThread && process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const runsArg = process.argv.find((a) => a.startsWith('--runs='));
  void main({ runs: runsArg !== undefined ? Math.max(1, Number.parseInt(runsArg.slice(7), 10) || 5) : quick ? 2 : 5, calls: quick ? 500 : 2000 });
}
