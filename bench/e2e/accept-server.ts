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
import { QueuedConnectionListener, QueuedConnectionManager, QueuedConnectionReader, setLogLevel, setLogSink, setNetConfig, type Connection } from '../../src/index.js';

/** What the orchestrator passes (JSON in argv[2]). */
export interface AcceptServerParams {
  threads: number;
  reusePort: 'auto' | false;
}

/** Messages the server sends. */
export type AcceptServerMessage =
  | { kind: 'ready'; port: number; node: string }
  | { kind: 'stats'; accepts: number[]; closed: number; path: 'reusePort' | 'handoff' | 'one thread' };

const p = JSON.parse(process.argv[2] ?? '{}') as AcceptServerParams;
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
let closed = 0;
let stopping = false;
const toClose: Connection[] = [];

function loop(): void {
  if (stopping) return;
  while (listener.newConnectionAvailable()) {
    const c = listener.getNewConnection();
    if (c === null) break;
    reader.addConnection(c);
  }
  reader.drainData((conn) => {
    toClose.push(conn);
  }, 4096);
  for (const c of toClose.splice(0)) if (manager.closeConnection(c)) closed++;
  while (manager.getResetConnection() !== null);
  setImmediate(loop);
}
setImmediate(loop);

process.on('message', (m: { kind: string }) => {
  if (m.kind !== 'stop') return;
  stopping = true;
  const msg: AcceptServerMessage = { kind: 'stats', accepts: manager.getThreadStats().map((t) => t.accepts), closed, path };
  process.send?.(msg, () => {
    manager.shutdown({ timeoutMs: 1000 });
    process.exit(0);
  });
});
const ready: AcceptServerMessage = { kind: 'ready', port: rv.getLocalAddress().getPort(), node: process.version };
process.send?.(ready);
