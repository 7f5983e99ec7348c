/**
 * Control-path and latency micro benchmark, for docs/design.md:
 * 1. synchronous open (call slot + Atomics.wait) vs its `Async` twin (call message + reply message);
 * 2. one-datagram round trip: pandanet (polled: shared network thread; threaded) vs a plain
 *    node:net socket pair on the main thread's event loop — the two designs for polled mode;
 * 3. I/O thread start: raw worker_threads Worker vs a piscina pool's first task.
 * Baselines run in the same invocation; medians and p99 over many iterations.
 */
import net from 'node:net';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import {
  ConnectionWriter,
  Datagram,
  NetDatagram,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  setLogLevel,
  type Connection,
} from '../../src/index.js';

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}
function fmt(label: string, xs: number[], unit = 'µs'): string {
  return `| ${label} | ${quantile(xs, 0.5).toFixed(1)} ${unit} | ${quantile(xs, 0.99).toFixed(1)} ${unit} | ${xs.length} |`;
}
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function openCalls(iterations: number): Promise<string[]> {
  const m = new QueuedConnectionManager();
  const listener = new QueuedConnectionListener(m, 1);
  const rv = m.openTCPServerRendezvous('127.0.0.1', 0, 1000)!;
  listener.addConnection(rv);
  const port = rv.getLocalAddress().getPort();
  const sync: number[] = [];
  const asyncTimes: number[] = [];
  const p = new PointerToConnection();
  for (let i = 0; i < iterations; i++) {
    let t = performance.now();
    const c = m.openTCPClientConnection('127.0.0.1', port, 3000)!;
    sync.push((performance.now() - t) * 1000);
    m.closeConnection(c);
    t = performance.now();
    const c2 = (await m.openTCPClientConnectionAsync('127.0.0.1', port, 3000))!;
    asyncTimes.push((performance.now() - t) * 1000);
    m.closeConnection(c2);
    while (listener.getNewConnection(p)) m.closeConnection(p.p());
  }
  m.shutdown();
  return [fmt('openTCPClientConnection (sync: call slot + Atomics.wait)', sync), fmt('openTCPClientConnectionAsync (call message + reply message)', asyncTimes)];
}

async function pandanetRoundTrip(threads: number, iterations: number): Promise<number[]> {
  const m = new QueuedConnectionManager();
  const listener = new QueuedConnectionListener(m, threads);
  const reader = new QueuedConnectionReader(m, threads);
  const writer = new ConnectionWriter(m, threads);
  const rv = m.openTCPServerRendezvous('127.0.0.1', 0, 10)!;
  listener.addConnection(rv);
  const client = m.openTCPClientConnection('127.0.0.1', rv.getLocalAddress().getPort(), 3000)!;
  client.setNoDelay(true);
  reader.addConnection(client);
  const p = new PointerToConnection();
  let server: Connection | null = null;
  while (server === null) {
    if (listener.newConnectionAvailable() && listener.getNewConnection(p)) server = p.p();
    else await tick();
  }
  server.setNoDelay(true);
  reader.addConnection(server);
  const d = new Datagram();
  d.padBytes(64);
  const got = new NetDatagram();
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    writer.send(d, client);
    for (let hops = 0; hops < 2; ) {
      if (reader.dataAvailable() && reader.getData(got)) {
        hops++;
        if (got.getConnection() === server) writer.send(got, server);
      } else await tick();
    }
    times.push((performance.now() - t) * 1000);
  }
  m.shutdown();
  return times;
}

async function nodeNetRoundTrip(iterations: number): Promise<number[]> {
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (b) => s.write(b));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect(port, '127.0.0.1');
  c.setNoDelay(true);
  await new Promise<void>((r) => c.once('connect', r));
  const frame = Buffer.alloc(66);
  frame.writeUInt16LE(64, 0);
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    await new Promise<void>((resolve) => {
      let n = 0;
      const onData = (b: Buffer): void => {
        n += b.length;
        if (n >= 66) {
          c.off('data', onData);
          resolve();
        }
      };
      c.on('data', onData);
      c.write(frame);
    });
    times.push((performance.now() - t) * 1000);
  }
  c.destroy();
  server.close();
  return times;
}

async function threadStart(iterations: number): Promise<string[]> {
  const raw: number[] = [];
  const pooled: number[] = [];
  const src = 'require("node:worker_threads").parentPort.postMessage(1)';
  const dir = mkdtempSync(join(tmpdir(), 'pandanet-bench-'));
  const task = join(dir, 'task.mjs');
  writeFileSync(task, 'export default () => 1;\n');
  for (let i = 0; i < iterations; i++) {
    let t = performance.now();
    const w = new Worker(src, { eval: true });
    await new Promise((r) => w.once('message', r));
    raw.push(performance.now() - t);
    await w.terminate();
    t = performance.now();
    const pool = new Piscina({ filename: pathToFileURL(task).href, minThreads: 1, maxThreads: 1 });
    await pool.run(null);
    pooled.push(performance.now() - t);
    await pool.destroy();
  }
  return [fmt('raw Worker: start to first message', raw, 'ms'), fmt('piscina: new pool to first task result', pooled, 'ms')];
}

export async function main(): Promise<void> {
  setLogLevel('error');
  const quick = process.argv.includes('--quick');
  const n = quick ? 200 : 1000;
  console.log(`# runtime-calls — ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}`);
  console.log('\n| measurement | median | p99 | n |\n|---|---|---|---|');
  for (const line of await openCalls(quick ? 50 : 200)) console.log(line);
  console.log(fmt('round trip, node:net on the main event loop (baseline)', await nodeNetRoundTrip(n)));
  console.log(fmt('round trip, pandanet polled (shared network thread)', await pandanetRoundTrip(0, n)));
  console.log(fmt('round trip, pandanet 1 thread', await pandanetRoundTrip(1, n)));
  console.log(fmt('round trip, pandanet 2 threads', await pandanetRoundTrip(2, n)));
  for (const line of await threadStart(quick ? 5 : 20)) console.log(line);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
