/**
 * JavaScript memory of every isolate in this process: the main thread's and every worker
 * thread's (pandanet's I/O threads keep their sockets, and so their per-connection objects, in their
 * own heaps, which `process.memoryUsage()` on the main thread does not see).
 *
 * Workers are reached through the in-process inspector (`node:inspector` Session, `NodeWorker`
 * domain): each is garbage-collected (`HeapProfiler.collectGarbage`) and asked for its own
 * `process.memoryUsage()` (`Runtime.evaluate`). The session is closed again afterwards, so it costs
 * nothing between measurements. The main isolate is collected with `global.gc` (the process must
 * run with `--expose-gc`) and read directly.
 *
 * Thread: main thread.
 * @module
 */
import inspector from 'node:inspector';

/** One isolate's memory, bytes. */
export interface IsolateMemory {
  label: string;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** The whole process. */
export interface ProcessMemory {
  rss: number;
  isolates: IsolateMemory[];
  /** Sums over isolates. */
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** GCs every isolate and measures (bounded: a worker that does not answer within `timeoutMs` is left out and named). */
export async function measureProcessMemory(timeoutMs = 5000): Promise<ProcessMemory> {
  const session = new inspector.Session();
  session.connect();
  const post = <T>(method: string, params: object = {}): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))));
  const workers: Array<{ sessionId: string; title: string }> = [];
  let nextId = 1;
  const pending = new Map<number, (m: { result?: { result?: { value?: unknown } }; error?: unknown }) => void>();
  session.on('NodeWorker.attachedToWorker', (m) => {
    const p = m.params as { sessionId: string; workerInfo: { title: string } };
    workers.push({ sessionId: p.sessionId, title: p.workerInfo.title });
  });
  session.on('NodeWorker.receivedMessageFromWorker', (m) => {
    const msg = JSON.parse((m.params as { message: string }).message) as { id?: number };
    if (msg.id !== undefined) {
      const f = pending.get(msg.id);
      pending.delete(msg.id);
      f?.(msg as never);
    }
  });
  const call = (sessionId: string, method: string, params: object = {}): Promise<{ result?: { result?: { value?: unknown } } } | null> =>
    new Promise((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(null);
      }, timeoutMs);
      pending.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      session.post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id, method, params }) });
    });
  const isolates: IsolateMemory[] = [];
  try {
    await post('NodeWorker.enable', { waitForDebuggerOnStart: false });
    await sleep(100); // attach events arrive asynchronously
    for (const w of workers) {
      await call(w.sessionId, 'HeapProfiler.collectGarbage');
      const r = await call(w.sessionId, 'Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
      const v = r?.result?.result?.value;
      if (typeof v !== 'string') {
        isolates.push({ label: `${w.title} (no answer)`, heapUsed: Number.NaN, heapTotal: Number.NaN, external: Number.NaN, arrayBuffers: Number.NaN });
        continue;
      }
      const u = JSON.parse(v) as NodeJS.MemoryUsage;
      isolates.push({ label: w.title, heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external, arrayBuffers: u.arrayBuffers });
    }
    await post('NodeWorker.disable');
  } finally {
    session.disconnect();
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const u = process.memoryUsage();
  isolates.unshift({ label: 'main', heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external, arrayBuffers: u.arrayBuffers });
  const sum = (f: (i: IsolateMemory) => number): number => isolates.reduce((s, i) => s + f(i), 0);
  return { rss: u.rss, isolates, heapUsed: sum((i) => i.heapUsed), external: sum((i) => i.external), arrayBuffers: sum((i) => i.arrayBuffers) };
}
