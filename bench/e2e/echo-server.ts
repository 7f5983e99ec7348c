/**
 * One echo server of the echo benchmark, in its own process (so runs don't share a heap).
 *
 * - `baseline` ("chunk echo"): a plain single-threaded `node:net` server on the main thread. Same
 *   framing as pandanet (uint16 LE length prefix): each read chunk is parsed frame by frame (the
 *   simulated work runs once per frame) and the complete frames of the chunk are echoed with one
 *   `write` of the chunk as it lies (write batching: one write per read chunk). The physical best
 *   for an echo; no game server can do it (it never looks at a datagram). Not slowed down on purpose.
 * - `realistic`: the same `node:net` server doing what a server does with each datagram: parse it,
 *   copy its payload out of the read chunk (the message the game keeps), run the work, build a
 *   reply (length + payload) per datagram into the chunk's reply buffer, and one `write` per read
 *   chunk. Not slowed down on purpose either (one reply buffer per chunk, no per-reply write).
 * - `pandanet`: the manual's server (QueuedConnectionManager, QueuedConnectionListener,
 *   QueuedConnectionReader, ConnectionWriter, all with `threads` threads) on a `setImmediate` loop:
 *   accept new connections into the reader, collect resets, take datagrams and send each back on
 *   the connection it came from. `drain` picks how datagrams are taken:
 *   - `getData`: the manual's pattern, `dataAvailable()` then `getData(new NetDatagram())`, and
 *     `writer.send(datagram, datagram.getConnection())`;
 *   - `getDataReuse`: the same with one NetDatagram reused for every datagram (what the
 *     allocation of a NetDatagram per datagram costs);
 *   - `getDataCork`: the `getData` loop between `writer.cork()` and `writer.uncork()`;
 *   - `drainData`: the zero-allocation batch drain `reader.drainData(visit)`, copying each payload
 *     into one reused Datagram for `send`.
 *   `idle` picks what an iteration that found nothing does: `spin` (setImmediate again) or
 *   `backoff` (after 64 empty iterations in a row, sleep ~1 ms with setTimeout, as a frame-paced
 *   game loop would) or `wait` (the same 1 ms, but `reader.waitForDataAsync` ends it when data
 *   arrives: an event-driven server; the baseline ignores it).
 *
 * Measures over the window between the orchestrator's `start` and `stop`: main-thread CPU (from
 * `/proc/thread-self/schedstat`, ns; `stat` ticks where absent) and the main thread's time spent
 * waiting for a CPU, process CPU (`process.cpuUsage()`, all threads, I/O
 * workers included), every thread's CPU, the datagrams echoed, the loop's own wall time on the
 * main thread excluding the simulated work, and pandanet's per-I/O-thread stats.
 *
 * Usage (by the orchestrator only): `fork(echo-server.js, [JSON ServerParams])`, IPC per `protocol.ts`.
 *
 * Thread: main thread of the server process.
 * @module
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  ConnectionWriter,
  Datagram,
  NetAddress,
  NetDatagram,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  setNetConfig,
  type Connection,
  type ThreadStats,
} from '../../src/index.js';
import { guardLog } from '../lib/log-guard.js';
import { ThreadLabels } from '../lib/server-window.js';
import { allThreadsCpuUs, cpuSource, threadCpuDeltas, threadCpuUs, threadRunDelayUs } from '../lib/thread-cpu.js';
import { paramsFromArgv, type IoThreadReport, type ServerCommand, type ServerMessage, type ServerParams } from './protocol.js';
import { SimulatedWork, workIterations } from './work.js';

/** Datagrams taken per loop iteration at most (keeps accepts and IPC served under full load). */
const BUDGET = 8192;
/** Empty iterations in a row before the backoff loop sleeps. */
const SPINS_BEFORE_SLEEP = 64;

const p = paramsFromArgv<ServerParams>();
// bench/e2e/accept.ts (echo-nodes): the hand-off path on a Node that has reusePort.
if (process.env['PANDANET_BENCH_REUSE_PORT'] === 'off') setNetConfig({ reusePort: false });
guardLog();
/** The simulated work: the same code for every server kind (bench/e2e/work.ts). */
const simWork = new SimulatedWork(p.workUs, p.workIterations ?? workIterations(p.workUs));

let datagrams = 0;
let accepted = 0;
/** `accepted` when the previous window ended: a new window waits for its own client's connections. */
let acceptedBase = 0;
const labels = new ThreadLabels();
/** pandanet: connections accepted per I/O thread index. */
const perThread: number[] = [];
let resets = 0;
let overflow = false;
let loopNs = 0;
let loopIdleNs = 0;
let iterations = 0;
let busyIterations = 0;

function send(m: ServerMessage): void {
  process.send?.(m);
}

/** Runs `p.workUs` µs of simulated game work (its wall time is in `simWork.spentNs`). */
function work(): void {
  simWork.run();
}

// ---- baseline --------------------------------------------------------------------------------

/**
 * A `node:net` echo server whose `echo(sock, buf)` handles one read chunk (with the previous chunk's
 * incomplete tail in front) and returns the bytes it consumed; the rest waits for the next chunk.
 * Counts the loop's time outside the work, as the pandanet loop does.
 */
function startNodeNet(echo: (sock: net.Socket, buf: Buffer) => number): Promise<number> {
  const server = net.createServer((sock) => {
    accepted++;
    if (p.noDelay === true) sock.setNoDelay(true);
    let pending: Buffer | null = null;
    sock.on('data', (chunk: Buffer) => {
      const t0 = performance.now();
      const w0 = simWork.spentNs;
      let buf = chunk;
      if (pending !== null) {
        buf = Buffer.concat([pending, chunk]);
        pending = null;
      }
      const off = echo(sock, buf);
      if (off < buf.length) pending = Buffer.from(buf.subarray(off));
      loopNs += (performance.now() - t0) * 1e6 - Number(simWork.spentNs - w0);
      iterations++;
      busyIterations++;
    });
    sock.on('error', () => sock.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** The chunk-echo `node:net` server: per datagram, the work; then the chunk's whole datagrams written back as they lie. */
function startBaseline(): Promise<number> {
  return startNodeNet((sock, buf) => {
    const n = buf.length;
    let off = 0;
    while (n - off >= 2) {
      const len = buf[off]! | (buf[off + 1]! << 8);
      if (n - off - 2 < len) break;
      work();
      off += 2 + len;
      datagrams++;
    }
    if (off > 0) sock.write(off === n ? buf : buf.subarray(0, off));
    return off;
  });
}

/**
 * The realistic `node:net` server (see the module comment): per datagram, parse, copy the payload
 * out, work, and build the reply into the chunk's reply buffer; one `write` per read chunk.
 */
function startRealistic(): Promise<number> {
  return startNodeNet((sock, buf) => {
    const n = buf.length;
    // Replies are no larger than the requests: one buffer of the chunk's size holds them all.
    const replies = Buffer.allocUnsafe(n);
    let out = 0;
    let off = 0;
    while (n - off >= 2) {
      const len = buf[off]! | (buf[off + 1]! << 8);
      if (n - off - 2 < len) break;
      const message = Buffer.allocUnsafe(len); // the datagram the game keeps: its own copy
      buf.copy(message, 0, off + 2, off + 2 + len);
      work();
      replies[out] = len & 0xff;
      replies[out + 1] = len >>> 8;
      message.copy(replies, out + 2);
      out += 2 + len;
      off += 2 + len;
      datagrams++;
    }
    if (out > 0) sock.write(replies.subarray(0, out));
    return off;
  });
}

// ---- pandanet --------------------------------------------------------------------------------

let manager: QueuedConnectionManager | null = null;
/** Datagrams the pandanet reader dropped for its queue cap so far (0 for the baseline). */
let droppedCount = (): number => 0;

function startPandanet(): number {
  const n = p.threads;
  labels.markBefore();
  if (p.ioSpinUs !== undefined) setNetConfig({ ioSpinUs: p.ioSpinUs }); // read when the threads start
  if (p.drainHoldUs !== undefined) setNetConfig({ drainHoldUs: p.drainHoldUs }); // read when the manager is made
  const mgr = new QueuedConnectionManager();
  manager = mgr;
  const listener = new QueuedConnectionListener(mgr, n);
  const reader = new QueuedConnectionReader(mgr, n);
  droppedCount = () => reader.getDroppedCount();
  const writer = new ConnectionWriter(mgr, n);
  // The baseline's socket.write buffers without limit; give the threaded writer room too, so an
  // open-loop client (latency, budget) that outruns the I/O thread queues instead of failing sends.
  writer.setMaxQueueSize(Math.max(writer.getMaxQueueSize(), 1_000_000));
  const rendezvous = mgr.openTCPServerRendezvous('127.0.0.1', 0, 1024);
  if (rendezvous === null) throw new Error(`openTCPServerRendezvous failed: ${mgr.getLastError()?.message ?? 'unknown'}`);
  listener.addConnection(rendezvous);
  labels.markAfter(Math.max(1, n));

  const rvPtr = new PointerToConnection();
  const address = new NetAddress();
  const newPtr = new PointerToConnection();
  const resetPtr = new PointerToConnection();
  const out = new Datagram();
  let sendFailures = 0;

  const visit = (conn: Connection, data: Uint8Array, offset: number, length: number): void => {
    work();
    out.clear();
    out.appendData(data, offset, length);
    if (!writer.send(out, conn)) sendFailures++;
  };

  const takeGetData = (): number => {
    let k = 0;
    while (k < BUDGET && reader.dataAvailable()) {
      const datagram = new NetDatagram();
      if (!reader.getData(datagram)) break;
      work();
      if (!writer.send(datagram, datagram.getConnection()!)) sendFailures++;
      k++;
    }
    return k;
  };

  const reused = new NetDatagram();
  const takeGetDataReuse = (): number => {
    let k = 0;
    while (k < BUDGET && reader.dataAvailable()) {
      if (!reader.getData(reused)) break;
      work();
      if (!writer.send(reused, reused.getConnection()!)) sendFailures++;
      k++;
    }
    return k;
  };

  const takeDrainData = (): number => {
    reader.poll(); // polled mode (0 threads): move what arrived into the queue; a no-op when threaded
    return reader.drainData(visit, BUDGET);
  };
  const takeGetDataCork = (): number => {
    writer.cork();
    try {
      return takeGetData();
    } finally {
      writer.uncork();
    }
  };

  const take = p.drain === 'getData' ? takeGetData : p.drain === 'getDataReuse' ? takeGetDataReuse : p.drain === 'getDataCork' ? takeGetDataCork : takeDrainData;

  let idle = 0;
  const iterate = (): void => {
    const t0 = performance.now();
    const w0 = simWork.spentNs;
    if (listener.newConnectionAvailable()) {
      while (listener.getNewConnection(rvPtr, address, newPtr)) {
        const c = newPtr.p();
        if (c !== null && reader.addConnection(c)) {
          accepted++;
          if (p.noDelay === true) c.setNoDelay(true);
          const t = c.getThreadIndex();
          perThread[t] = (perThread[t] ?? 0) + 1;
        }
      }
    }
    if (mgr.resetConnectionAvailable()) {
      while (mgr.getResetConnection(resetPtr)) resets++;
    }
    const k = take();
    datagrams += k;
    if (reader.getOverflowFlag()) overflow = true;
    if (sendFailures > 0) throw new Error(`writer.send returned false ${sendFailures} times`);
    iterations++;
    if (k > 0) {
      busyIterations++;
      loopNs += (performance.now() - t0) * 1e6 - Number(simWork.spentNs - w0);
      idle = 0;
      setImmediate(iterate);
      return;
    }
    loopIdleNs += (performance.now() - t0) * 1e6;
    if (p.idle !== 'spin' && ++idle >= SPINS_BEFORE_SLEEP) {
      idle = 0;
      // backoff: sleep 1 ms; wait: the same, but woken as soon as the I/O threads deliver.
      if (p.idle === 'wait') void reader.waitForDataAsync(1).then(iterate);
      else setTimeout(iterate, 1);
    } else setImmediate(iterate);
  };
  setImmediate(iterate);
  return rendezvous.getLocalAddress().getPort();
}

// ---- measurement window -------------------------------------------------------------------------

interface Snapshot {
  main: number;
  mainDelay: number;
  process: NodeJS.CpuUsage;
  threads: Map<number, number>;
  t: number;
  datagrams: number;
  loopNs: number;
  loopIdleNs: number;
  iterations: number;
  busyIterations: number;
  io: ThreadStats[];
}

function snapshot(): Snapshot {
  return {
    main: threadCpuUs(),
    mainDelay: threadRunDelayUs(),
    process: process.cpuUsage(),
    threads: allThreadsCpuUs(),
    t: performance.now(),
    datagrams,
    loopNs,
    loopIdleNs,
    iterations,
    busyIterations,
    io: manager?.getThreadStats() ?? [],
  };
}

let startSnap: Snapshot | null = null;

function report(): void {
  const a = startSnap!;
  const b = snapshot();
  const cpu = process.cpuUsage(a.process);
  const windowUs = (b.t - a.t) * 1000;
  const threads = threadCpuDeltas(a.threads, b.threads).map((x) => ({ tid: x.tid, label: labels.label(x.tid), cpuUs: Math.round(x.cpuUs) }));
  const io: IoThreadReport[] = b.io.map((s) => {
    const s0 = a.io.find((x) => x.index === s.index);
    // The thread's CPU over the window where it is known (the threads' own event-loop figure is
    // sampled every 250 ms, too coarse for a window of a few hundred ms).
    const own = threads.find((t) => t.label === `io-${s.index}`);
    return {
      index: s.index,
      connections: perThread[s.index] ?? 0,
      datagramsIn: s.datagramsIn - (s0?.datagramsIn ?? 0),
      datagramsOut: s.datagramsOut - (s0?.datagramsOut ?? 0),
      backpressurePauses: s.backpressurePauses - (s0?.backpressurePauses ?? 0),
      tcpReads: s.tcpReads - (s0?.tcpReads ?? 0),
      tcpWrites: s.tcpWrites - (s0?.tcpWrites ?? 0),
      outboundSleeps: s.outboundSleeps - (s0?.outboundSleeps ?? 0),
      utilization: own !== undefined && windowUs > 0 ? own.cpuUs / windowUs : s.utilization,
    };
  });
  send({
    kind: 'report',
    mainCpuUs: b.main - a.main,
    mainRunDelayUs: b.mainDelay - a.mainDelay,
    cpuSource: cpuSource(),
    processCpuUs: cpu.user + cpu.system,
    threadsCpuUs: threads.map((x) => x.cpuUs).filter((x) => x > 0),
    threads: threads.filter((x) => x.cpuUs > 0),
    windowMs: b.t - a.t,
    datagrams: b.datagrams - a.datagrams,
    workInPlaceUsPerCall: simWork.medianCallUs(),
    loopBusyUs: (b.loopNs - a.loopNs) / 1000,
    loopIdleUs: (b.loopIdleNs - a.loopIdleNs) / 1000,
    iterations: b.iterations - a.iterations,
    busyIterations: b.busyIterations - a.busyIterations,
    ioThreads: io,
    overflow,
    droppedTotal: droppedCount(),
    resets,
  });
}

process.on('message', (m: ServerCommand) => {
  switch (m.kind) {
    case 'start': {
      const until = performance.now() + 5000;
      const begin = (): void => {
        if (accepted - acceptedBase < m.connections && performance.now() < until) {
          setTimeout(begin, 1);
          return;
        }
        startSnap = snapshot();
        simWork.samples.reset(); // the in-place median covers the measured window only
        send({ kind: 'started', accepted: accepted - acceptedBase });
      };
      begin();
      return;
    }
    case 'stop':
      report();
      acceptedBase = accepted;
      perThread.fill(0); // the next window counts its own client's connections
      if (m.exit === false) return; // another window follows (a new client)
      manager?.shutdown();
      process.disconnect?.();
      setTimeout(() => process.exit(0), 200);
      return;
    default:
      send({ kind: 'error', message: `unknown command ${JSON.stringify(m)}` });
  }
});

process.on('uncaughtException', (err) => {
  send({ kind: 'error', message: err.stack ?? err.message });
  setTimeout(() => process.exit(1), 100);
});

try {
  const port = p.server === 'baseline' ? await startBaseline() : p.server === 'realistic' ? await startRealistic() : startPandanet();
  send({ kind: 'listening', port });
} catch (err) {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100);
}
