/**
 * The game-tick broadcast server of the `broadcast` workload, in its own process.
 *
 * Once `connections` clients are connected and the orchestrator says `start`, it runs a fixed
 * 60 Hz tick for `durationMs`: each tick first takes the clients' input (pandanet: accept check,
 * resets, `drainData`; baseline: inputs are counted as they arrive), then sends one
 * `payloadBytes` state datagram to every client. Tick k is scheduled at `t0 + k / hz`; a late tick
 * runs at once (no tick is skipped), and its lateness is recorded. Each datagram carries:
 * tick u32 | connection u32 | send time f64 (`performance.timeOrigin + performance.now()`, read
 * just before the send call: the same machine clock the client reads) | the tick's scheduled time
 * f64 (same clock) | fill. The client reports both delays: from the send call (what the transport
 * adds after the application hands the datagram over) and from the tick's scheduled time (how stale
 * the state is when it arrives: it also counts a late tick and the time the broadcast loop took to
 * reach that client, which a server writing on its main thread spends before its send call).
 *
 * - `baseline`: a plain `node:net` server; a datagram is a uint16 LE length + payload, one
 *   `socket.write` per client per tick.
 * - `pandanet`: QueuedConnectionManager/Listener/Reader/ConnectionWriter with `threads` threads,
 *   one `writer.send` per client per tick from one reused Datagram; a `false` from send is a drop.
 * Both set TCP_NODELAY on every connection (a game server would; with Nagle, a tick's small write
 * can wait for the previous tick's delayed ACK).
 *
 * Reports: ticks run, datagrams sent, send failures, inputs taken, tick lateness and the main
 * thread's time per tick (µs percentiles), and a CPU window over the ticks (labelled threads, I/O
 * thread utilisation).
 *
 * Thread: main thread of the server process.
 * @module
 */
import net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { ConnectionWriter, Datagram, NetAddress, PointerToConnection, QueuedConnectionListener, QueuedConnectionManager, QueuedConnectionReader, type Connection } from '../../src/index.js';
import { Recorder, summarizeSample, type Percentiles } from '../lib/percentiles.js';
import { CpuWindow, ThreadLabels, type WindowReport } from '../lib/server-window.js';
import { guardLog } from '../lib/log-guard.js';
import { paramsFromArgv } from './protocol.js';

export interface BroadcastServerParams {
  server: 'baseline' | 'pandanet';
  /** TCP with Panda's framing (baseline: node:net), or WebSocket, one datagram per binary message (baseline: a plain ws server). */
  transport: 'tcp' | 'ws';
  threads: number;
  hz: number;
  payloadBytes: number;
}

export type BroadcastServerCommand = { kind: 'start'; connections: number; durationMs: number } | { kind: 'exit' };

export type BroadcastServerMessage =
  | { kind: 'listening'; port: number }
  | { kind: 'connected'; connections: number }
  | {
      kind: 'done';
      ticks: number;
      sent: number;
      sendFailures: number;
      inputs: number;
      resets: number;
      tickLateness: Percentiles;
      tickWork: Percentiles;
      elapsedMs: number;
      window: WindowReport;
    }
  | { kind: 'error'; message: string };

const p = paramsFromArgv<BroadcastServerParams>();
guardLog();
const labels = new ThreadLabels();
let manager: QueuedConnectionManager | null = null;
const cpu = new CpuWindow(labels, () => manager?.getThreadStats() ?? []);
const absNow = (): number => performance.timeOrigin + performance.now();

function send(m: BroadcastServerMessage): void {
  process.send?.(m);
}

/** What a server kind provides to the tick loop. */
interface Kind {
  port: number;
  count(): number;
  /** Takes input (and accepts); returns inputs taken. */
  takeInput(): number;
  /** Sends tick `tick` to everyone; returns failures. */
  broadcast(tick: number, scheduledAbs: number): number;
  resets(): number;
}

/** A baseline's inputs since it last took them. */
class InputCount {
  n = 0;

  take(): number {
    const n = this.n;
    this.n = 0;
    return n;
  }
}

function baseline(): Promise<Kind> {
  const socks: net.Socket[] = [];
  const inputs = new InputCount();
  let closed = 0;
  const header = 2;
  const frame = Buffer.alloc(header + p.payloadBytes, 0x5a);
  frame.writeUInt16LE(p.payloadBytes, 0);
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    socks.push(sock);
    let pending: Buffer | null = null;
    sock.on('data', (chunk: Buffer) => {
      let buf = chunk;
      if (pending !== null) {
        buf = Buffer.concat([pending, chunk]);
        pending = null;
      }
      let off = 0;
      while (buf.length - off >= header) {
        const len = buf.readUInt16LE(off);
        if (buf.length - off - header < len) break;
        off += header + len;
        inputs.n++;
      }
      if (off < buf.length) pending = Buffer.from(buf.subarray(off));
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => closed++);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        count: () => socks.length,
        takeInput: () => inputs.take(),
        broadcast: (tick, scheduledAbs) => {
          for (let i = 0; i < socks.length; i++) {
            // A fresh buffer per write: socket.write may keep a reference until it is flushed.
            const b = Buffer.allocUnsafe(frame.length);
            frame.copy(b);
            b.writeUInt32LE(tick, header);
            b.writeUInt32LE(i, header + 4);
            b.writeDoubleLE(absNow(), header + 8);
            b.writeDoubleLE(scheduledAbs, header + 16);
            socks[i]!.write(b);
          }
          return 0;
        },
        resets: () => closed,
      });
    });
  });
}

/** The WebSocket baseline: a plain single-threaded `ws` server, one `ws.send` per client per tick. */
function wsBaseline(): Promise<Kind> {
  const socks: WebSocket[] = [];
  const inputs = new InputCount();
  let closed = 0;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 4096, perMessageDeflate: false, clientTracking: false });
  wss.on('connection', (ws) => {
    socks.push(ws);
    ws.on('message', () => inputs.n++);
    ws.on('error', () => ws.terminate());
    ws.on('close', () => closed++);
  });
  return new Promise((resolve, reject) => {
    wss.once('error', reject);
    wss.once('listening', () => {
      const address = wss.address();
      if (address === null || typeof address === 'string') throw new Error(`unexpected address ${String(address)}`);
      resolve({
        port: address.port,
        count: () => socks.length,
        takeInput: () => inputs.take(),
        broadcast: (tick, scheduledAbs) => {
          for (let i = 0; i < socks.length; i++) {
            // A fresh buffer per send: ws may keep a reference until it is flushed.
            const b = Buffer.alloc(p.payloadBytes, 0x5a);
            b.writeUInt32LE(tick, 0);
            b.writeUInt32LE(i, 4);
            b.writeDoubleLE(absNow(), 8);
            b.writeDoubleLE(scheduledAbs, 16);
            socks[i]!.send(b, { binary: true });
          }
          return 0;
        },
        resets: () => closed,
      });
    });
  });
}

function pandanet(): Kind {
  labels.markBefore();
  const mgr = new QueuedConnectionManager();
  manager = mgr;
  const listener = new QueuedConnectionListener(mgr, p.threads);
  const reader = new QueuedConnectionReader(mgr, p.threads);
  const writer = new ConnectionWriter(mgr, p.threads);
  const rv = p.transport === 'ws' ? mgr.openWebSocketServerRendezvous('127.0.0.1', 0, 4096) : mgr.openTCPServerRendezvous('127.0.0.1', 0, 4096);
  if (rv === null) throw new Error(`opening the ${p.transport} rendezvous failed: ${mgr.getLastError()?.message ?? 'unknown'}`);
  listener.addConnection(rv);
  labels.markAfter(Math.max(1, p.threads));
  writer.setMaxQueueSize(Math.max(writer.getMaxQueueSize(), 100_000));
  const conns: Connection[] = [];
  const rvPtr = new PointerToConnection();
  const addr = new NetAddress();
  const newPtr = new PointerToConnection();
  const resetPtr = new PointerToConnection();
  let resets = 0;
  const dg = new Datagram();
  const body = new Uint8Array(p.payloadBytes).fill(0x5a);
  const view = new DataView(body.buffer);
  let inputs = 0;
  const visit = (): void => {
    inputs++;
  };
  const accept = (): void => {
    if (listener.newConnectionAvailable()) {
      while (listener.getNewConnection(rvPtr, addr, newPtr)) {
        const c = newPtr.p();
        if (c !== null && reader.addConnection(c)) {
          c.setNoDelay(true);
          conns.push(c);
        }
      }
    }
    if (mgr.resetConnectionAvailable()) while (mgr.getResetConnection(resetPtr)) resets++;
  };
  // Accept while clients connect (before the ticks start).
  const acceptLoop = setInterval(accept, 2);
  return {
    port: rv.getLocalAddress().getPort(),
    count: () => {
      accept();
      return conns.length;
    },
    takeInput: () => {
      clearInterval(acceptLoop);
      accept();
      reader.poll();
      inputs = 0;
      let n: number;
      do n = reader.drainData(visit, 65_536);
      while (n > 0);
      return inputs;
    },
    broadcast: (tick, scheduledAbs) => {
      let failures = 0;
      view.setFloat64(16, scheduledAbs, true);
      for (let i = 0; i < conns.length; i++) {
        view.setUint32(0, tick, true);
        view.setUint32(4, i, true);
        view.setFloat64(8, absNow(), true);
        dg.clear();
        dg.appendData(body);
        if (!writer.send(dg, conns[i]!)) failures++;
      }
      return failures;
    },
    resets: () => resets,
  };
}

let kind: Kind;

function runTicks(durationMs: number): void {
  const period = 1000 / p.hz;
  const total = Math.round(durationMs / period);
  const lateness = new Recorder(total + 8);
  const work = new Recorder(total + 8);
  let tick = 0;
  let sent = 0;
  let failures = 0;
  let inputs = 0;
  let lastTickAt = 0;
  cpu.begin();
  const t0 = performance.now() + 5;
  const one = (): void => {
    const now = performance.now();
    lastTickAt = now;
    lateness.record((now - (t0 + tick * period)) * 1000);
    inputs += kind.takeInput();
    failures += kind.broadcast(tick, performance.timeOrigin + t0 + tick * period);
    sent += kind.count();
    work.record((performance.now() - now) * 1000);
    tick++;
    if (tick < total) {
      setTimeout(one, Math.max(0, t0 + tick * period - performance.now()));
      return;
    }
    const window = cpu.end();
    // Take the last inputs in flight for a moment, then report.
    setTimeout(() => {
      inputs += kind.takeInput();
      send({
        kind: 'done',
        ticks: tick,
        sent,
        sendFailures: failures,
        inputs,
        resets: kind.resets(),
        tickLateness: summarizeSample(lateness.values().slice()),
        tickWork: summarizeSample(work.values().slice()),
        elapsedMs: lastTickAt - t0 + period, // the span the ticks covered: late ticks stretch it
        window,
      });
    }, 50);
  };
  setTimeout(one, 5);
}

process.on('message', (m: BroadcastServerCommand) => {
  switch (m.kind) {
    case 'start': {
      const until = performance.now() + 20_000;
      const wait = (): void => {
        if (kind.count() < m.connections && performance.now() < until) {
          setTimeout(wait, 5);
          return;
        }
        send({ kind: 'connected', connections: kind.count() });
        runTicks(m.durationMs);
      };
      wait();
      return;
    }
    case 'exit':
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
  kind = p.server === 'pandanet' ? pandanet() : p.transport === 'ws' ? await wsBaseline() : await baseline();
  send({ kind: 'listening', port: kind.port });
} catch (err) {
  send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100);
}
