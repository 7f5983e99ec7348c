/**
 * Micro benchmark: moving 64-byte records from a worker thread to the main thread.
 *
 *  - `ring`         SpscRing over a SharedArrayBuffer (1 MiB data region), main reads each record
 *                   in place with `drain()` and `waitForData()`; the worker waits with
 *                   `waitForSpaceAsync()` when the ring is full.
 *  - `batch-256`    postMessage of one transferred ArrayBuffer per 256 records.
 *  - `per-record`   postMessage of one 64-byte Uint8Array per record.
 *
 * Every mode does the same per-record work on each side (the worker copies the 64-byte payload in,
 * the main thread reads its first byte and length) and buffers at most ~1 MiB in flight: the
 * postMessage modes use credits (the main thread acks every quarter window), so none of them can
 * win by queueing without bound. Each mode: 1 warm-up run, then `runs` timed runs, each with a fresh
 * worker; the clock starts when the main thread sends "go" and stops when it has every record.
 * Prints machine info, then median and min–max records/s per mode, and ratios of the medians.
 *
 * Build and run: `npx tsc -p tsconfig.bench.json && node build/bench/micro/ring.js [--runs=5] [--quick]`.
 * The worker is this same compiled module (build/bench/micro/ring.js), so it loads the compiled
 * ring from build/src/shared-memory/spsc-ring.js.
 *
 * Thread: main() on the main thread (it blocks in Atomics.wait during ring runs); the worker role
 * runs only inside the workers it starts.
 * @module
 */
import { arch, availableParallelism, cpus, loadavg, platform, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '../../src/shared-memory/spsc-ring.js';

const RECORD_BYTES = 64;
const BATCH = 256;
const RING_CAPACITY = 1 << 20;
/** ~1 MiB of records in flight for the postMessage modes, like the ring. */
const WINDOW_RECORDS = 16_384;
const RUN_DEADLINE_MS = 120_000;
const TAG = 'pandanet-bench-micro-ring';

/** Benchmark modes. */
export type Mode = 'ring' | 'batch-256' | 'per-record';

/** Options for {@link main}. */
export interface RingBenchOptions {
  /** Timed runs per mode (default 5). */
  runs: number;
  /** Records per run for `ring` and `batch-256` (multiple of 256; default 2,048,000). */
  records: number;
  /** Records per run for `per-record` (default 204,800; it is 25–40x slower). */
  perRecordRecords: number;
}

/** One mode's results, in records per second. */
export interface ModeResult {
  mode: Mode;
  records: number;
  rates: number[];
  median: number;
  min: number;
  max: number;
}

interface WorkerInit {
  tag: typeof TAG;
  mode: Mode;
  records: number;
  sab?: SharedArrayBuffer;
}

type ToWorker = { kind: 'go' } | { kind: 'credit'; records: number };
type FromWorker = { kind: 'ready' } | { kind: 'done' } | { kind: 'error'; message: string };

// ------------------------------------------------------------------------------------------------
// worker role
// ------------------------------------------------------------------------------------------------

async function workerMain(init: WorkerInit): Promise<void> {
  const port = parentPort!;
  let credit = 0;
  let wake: (() => void) | undefined;
  let go: () => void = () => undefined;
  const started = new Promise<void>((r) => (go = r));
  port.on('message', (m: ToWorker) => {
    if (m.kind === 'go') go();
    else {
      credit += m.records;
      wake?.();
    }
  });
  const awaitCredit = (): Promise<void> =>
    new Promise<void>((r) => {
      wake = () => {
        wake = undefined;
        r();
      };
    });
  const payload = new Uint8Array(RECORD_BYTES);
  for (let j = 0; j < RECORD_BYTES; j++) payload[j] = j;
  const send = (m: FromWorker): void => port.postMessage(m);
  send({ kind: 'ready' });
  await started;
  const n = init.records;

  if (init.mode === 'ring') {
    const ring = new SpscRing(init.sab!);
    for (let i = 0; i < n; i++) {
      payload[0] = i & 0xff;
      while (!ring.tryWrite(i, 0, payload)) {
        await ring.waitForSpaceAsync(RECORD_BYTES, 1000);
      }
    }
  } else if (init.mode === 'batch-256') {
    credit = WINDOW_RECORDS;
    for (let i = 0; i < n; i += BATCH) {
      while (credit < BATCH) await awaitCredit();
      credit -= BATCH;
      const buf = new ArrayBuffer(BATCH * RECORD_BYTES);
      const u8 = new Uint8Array(buf);
      for (let k = 0; k < BATCH; k++) {
        payload[0] = (i + k) & 0xff;
        u8.set(payload, k * RECORD_BYTES);
      }
      port.postMessage(buf, [buf]);
    }
  } else {
    credit = WINDOW_RECORDS;
    for (let i = 0; i < n; i++) {
      while (credit < 1) await awaitCredit();
      credit--;
      payload[0] = i & 0xff;
      port.postMessage(payload); // structured clone: one copy per message
    }
  }
  send({ kind: 'done' });
}

// ------------------------------------------------------------------------------------------------
// main role
// ------------------------------------------------------------------------------------------------

/** Starts a worker for `mode` and resolves once it is ready (so start-up is not timed). */
async function startWorker(mode: Mode, records: number, sab?: SharedArrayBuffer): Promise<Worker> {
  const init: WorkerInit = { tag: TAG, mode, records };
  if (sab !== undefined) init.sab = sab;
  const worker = new Worker(new URL(import.meta.url), { workerData: init });
  try {
    await new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`${mode} worker: not ready within 10 s`)), 10_000);
      worker.once('message', (m: FromWorker) => {
        clearTimeout(timer);
        if (m.kind === 'ready') resolveReady();
        else reject(new Error(`${mode} worker: ${m.kind === 'error' ? m.message : 'unexpected ' + m.kind}`));
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  return worker;
}

let sink = 0;

async function runRing(records: number): Promise<number> {
  const sab = SpscRing.allocate(RING_CAPACITY);
  const ring = new SpscRing(sab);
  const worker = await startWorker('ring', records, sab);
  try {
    let count = 0;
    let sum = 0;
    const onRecord = (_id: number, _meta: number, data: Uint8Array, offset: number, length: number): void => {
      sum += data[offset]! + length;
    };
    worker.postMessage({ kind: 'go' } satisfies ToWorker);
    const t0 = performance.now();
    const deadline = t0 + RUN_DEADLINE_MS;
    while (count < records) {
      const n = ring.drain(4096, onRecord);
      count += n;
      if (n === 0 && ring.waitForData(1000) === 'timed-out' && performance.now() > deadline) {
        throw new Error(`ring: only ${count} of ${records} records before the deadline`);
      }
    }
    const t1 = performance.now();
    sink += sum;
    return records / ((t1 - t0) / 1000);
  } finally {
    await worker.terminate();
  }
}

async function runPosted(mode: 'batch-256' | 'per-record', records: number): Promise<number> {
  const worker = await startWorker(mode, records);
  try {
    const ackEvery = WINDOW_RECORDS / 4;
    return await new Promise<number>((resolveRate, reject) => {
      let count = 0;
      let unacked = 0;
      let sum = 0;
      let t0 = 0;
      const timer = setTimeout(() => reject(new Error(`${mode}: not finished within ${RUN_DEADLINE_MS} ms`)), RUN_DEADLINE_MS);
      const finish = (): void => {
        const t1 = performance.now();
        clearTimeout(timer);
        sink += sum;
        resolveRate(records / ((t1 - t0) / 1000));
      };
      worker.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      worker.on('message', (m: ArrayBuffer | Uint8Array | FromWorker) => {
        let got = 0;
        if (m instanceof ArrayBuffer) {
          const u8 = new Uint8Array(m);
          for (let k = 0; k < BATCH; k++) sum += u8[k * RECORD_BYTES]! + RECORD_BYTES;
          got = BATCH;
        } else if (m instanceof Uint8Array) {
          sum += m[0]! + m.length;
          got = 1;
        } else {
          if (m.kind === 'error') {
            clearTimeout(timer);
            reject(new Error(m.message));
          }
          return;
        }
        count += got;
        unacked += got;
        if (count >= records) finish();
        else if (unacked >= ackEvery) {
          worker.postMessage({ kind: 'credit', records: unacked } satisfies ToWorker);
          unacked = 0;
        }
      });
      worker.postMessage({ kind: 'go' } satisfies ToWorker);
      t0 = performance.now();
    });
  } finally {
    await worker.terminate();
  }
}

function runOnce(mode: Mode, records: number): Promise<number> {
  return mode === 'ring' ? runRing(records) : runPosted(mode, records);
}

function summarize(mode: Mode, records: number, rates: number[]): ModeResult {
  const sorted = [...rates].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { mode, records, rates, median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

const fmt = (rate: number): string => `${(rate / 1e6).toFixed(2)} M`;

/** Runs the benchmark, prints the report, and returns the results. Thread: main. */
export async function main(options: Partial<RingBenchOptions> = {}): Promise<ModeResult[]> {
  const runs = options.runs ?? 5;
  const records = options.records ?? 2_048_000;
  const perRecordRecords = options.perRecordRecords ?? 204_800;
  if (records % BATCH !== 0 || perRecordRecords % BATCH !== 0) throw new Error(`record counts must be multiples of ${BATCH}`);

  const cpu = cpus()[0];
  console.log('bench/micro/ring: worker → main transfer of 64-byte records');
  console.log(
    `machine: ${availableParallelism()} cores (${cpu?.model.trim() ?? 'unknown cpu'}), ` +
      `${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()}/${arch()}, node ${process.version}, v8 ${process.versions.v8}`,
  );
  console.log(`load average (1/5/15 min): ${loadavg().map((x) => x.toFixed(2)).join(' / ')} — other processes skew results`);
  console.log(
    `runs: ${runs} timed (+1 warm-up) per mode, fresh worker each; ring ${RING_CAPACITY >> 10} KiB; ` +
      `postMessage window ${WINDOW_RECORDS} records`,
  );

  const results: ModeResult[] = [];
  for (const mode of ['ring', 'batch-256', 'per-record'] as const) {
    const n = mode === 'per-record' ? perRecordRecords : records;
    await runOnce(mode, Math.min(n, 256 * 256)); // warm-up
    const rates: number[] = [];
    for (let r = 0; r < runs; r++) rates.push(await runOnce(mode, n));
    const res = summarize(mode, n, rates);
    results.push(res);
    console.log(
      `${mode.padEnd(11)} ${String(n).padStart(9)} records  median ${fmt(res.median)} records/s  ` +
        `(min–max ${fmt(res.min)} – ${fmt(res.max)})`,
    );
  }
  const byMode = new Map(results.map((r) => [r.mode, r.median]));
  const ratio = (a: Mode, b: Mode): string => `${(byMode.get(a)! / byMode.get(b)!).toFixed(2)}x`;
  console.log(
    `ratios of medians: ring / batch-256 = ${ratio('ring', 'batch-256')}, ` +
      `ring / per-record = ${ratio('ring', 'per-record')}, batch-256 / per-record = ${ratio('batch-256', 'per-record')}`,
  );
  if (sink === -1) console.log(''); // keep the consumers' reads observable
  return results;
}

// ------------------------------------------------------------------------------------------------
// entry
// ------------------------------------------------------------------------------------------------

function isWorkerInit(x: unknown): x is WorkerInit {
  return typeof x === 'object' && x !== null && (x as { tag?: unknown }).tag === TAG;
}

if (!isMainThread && isWorkerInit(workerData)) {
  workerMain(workerData).catch((err: unknown) => {
    parentPort!.postMessage({ kind: 'error', message: String(err instanceof Error ? err.stack : err) } satisfies FromWorker);
  });
} else if (isMainThread && process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string): number | undefined => {
    const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
    return hit === undefined ? undefined : Number(hit.slice(name.length + 3));
  };
  const quick = process.argv.includes('--quick');
  const opts: Partial<RingBenchOptions> = quick ? { runs: 3, records: 512_000, perRecordRecords: 51_200 } : {};
  const runs = arg('runs');
  if (runs !== undefined) opts.runs = runs;
  main(opts).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
