/**
 * The server of the accept benchmark (bench/e2e/accept.ts), in its own process: pandanet's manual
 * server (QueuedConnectionManager, QueuedConnectionListener, QueuedConnectionReader, all with
 * `threads` I/O threads) on 127.0.0.1:0, with `NetConfig.reusePort` as given. A `setImmediate` loop
 * accepts each new connection into the reader and closes a connection as soon as its first datagram
 * arrived (so a client's cycle is connect, send one datagram, see the server close).
 *
 * IPC: sends `{ kind: 'ready', port, node }`; on `{ kind: 'stop' }` answers `{ kind: 'stats', … }`
 * (per-thread accepts and the path the log reported) and exits.
 *
 * Thread: main thread of the server process.
 * @module
 */
import net from 'node:net';
import { QueuedConnectionListener, QueuedConnectionManager, QueuedConnectionReader, setLogLevel, setLogSink, setNetConfig, type Connection } from '../../src/index.js';

/** What the orchestrator passes (JSON in argv[2]). */
export interface AcceptServerParams {
  /** I/O threads; 0 with `baseline`. */
  threads: number;
  /** A plain `node:net` server instead (the same cycle: close once the first datagram arrived). */
  baseline?: boolean;
  reusePort: 'auto' | false;
}

/** Messages the server sends. */
export type AcceptServerMessage =
  | { kind: 'ready'; port: number; node: string }
  | { kind: 'stats'; accepts: number[]; closed: number; path: 'reusePort' | 'handoff' | 'one thread' | 'node:net'; cpuUs: number };

const p = JSON.parse(process.argv[2] ?? '{}') as AcceptServerParams;
/** Process CPU (all threads) at the orchestrator's `start`: the stats report what the window used. */
let cpuStart = process.cpuUsage();
process.on('message', (m: { kind: string }) => {
  if (m.kind === 'start') cpuStart = process.cpuUsage();
});
function cpuUsSinceStart(): number {
  const d = process.cpuUsage(cpuStart);
  return d.user + d.system;
}
if (p.baseline === true) {
  let closed = 0;
  const server = net.createServer((s) => {
    s.once('data', () => {
      closed++;
      s.end();
    });
    s.on('error', () => {});
  });
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
    process.on('message', (m: { kind: string }) => {
      if (m.kind !== 'stop') return;
      const msg: AcceptServerMessage = { kind: 'stats', accepts: [closed], closed, path: 'node:net', cpuUs: cpuUsSinceStart() };
      process.send?.(msg, () => process.exit(0));
    });
    const ready: AcceptServerMessage = { kind: 'ready', port: (server.address() as net.AddressInfo).port, node: process.version };
    process.send?.(ready);
  });
} else await pandanet();

async function pandanet(): Promise<void> {
  let path: 'reusePort' | 'handoff' | 'one thread' = 'one thread';
  setLogLevel('debug');
  setLogSink((_level, message) => {
    if (message.includes('one reusePort socket per I/O thread')) path = 'reusePort';
    else if (message.includes('handed to the pool by descriptor')) path = 'handoff';
  });
  setNetConfig({ reusePort: p.reusePort });
  const manager = new QueuedConnectionManager();
  const listener = new QueuedConnectionListener(manager, p.threads);
  const reader = new QueuedConnectionReader(manager, p.threads);
  const rv = manager.openTCPServerRendezvous('127.0.0.1', 0, 4096);
  if (rv === null) throw new Error(`listen failed: ${String(manager.getLastError())}`);
  listener.addConnection(rv);
  // The path's debug line arrives through the I/O thread's event ring: take it, then log only warnings
  // (the per-connection info lines would cost the loop more than the accepts themselves).
  for (let i = 0; i < 100 && path === 'one thread' && p.threads >= 2; i++) {
    listener.newConnectionAvailable(); // pumps the event rings
    await new Promise((r) => setTimeout(r, 5));
  }
  setLogLevel('warning');
  let closed = 0;
  let stopping = false;
  const toClose: Connection[] = [];

  /** Empty iterations in a row; past {@link SPINS} the loop sleeps 1 ms (as the echo server's `backoff`), so CPU counts work, not spinning. */
  let empty = 0;
  const SPINS = 64;
  function loop(): void {
    if (stopping) return;
    let work = 0;
    while (listener.newConnectionAvailable()) {
      const c = listener.getNewConnection();
      if (c === null) break;
      reader.addConnection(c);
      work++;
    }
    work += reader.drainData((conn) => {
      toClose.push(conn);
    }, 4096);
    for (const c of toClose.splice(0)) if (manager.closeConnection(c)) closed++;
    while (manager.getResetConnection() !== null) work++;
    empty = work === 0 ? empty + 1 : 0;
    if (empty > SPINS) setTimeout(loop, 1);
    else setImmediate(loop);
  }
  setImmediate(loop);

  process.on('message', (m: { kind: string }) => {
    if (m.kind !== 'stop') return;
    stopping = true;
    const msg: AcceptServerMessage = { kind: 'stats', accepts: manager.getThreadStats().map((t) => t.accepts), closed, path, cpuUs: cpuUsSinceStart() };
    process.send?.(msg, () => {
      manager.shutdown({ timeoutMs: 1000 });
      process.exit(0);
    });
  });
  const ready: AcceptServerMessage = { kind: 'ready', port: rv.getLocalAddress().getPort(), node: process.version };
  process.send?.(ready);
}
