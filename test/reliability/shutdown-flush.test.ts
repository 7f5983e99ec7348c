/**
 * Nothing lost at shutdown: `manager.shutdown()` / `shutdownAsync()` hand every byte `send` accepted
 * to the kernel and end each stream (FIN) before they stop the I/O threads — bounded by `timeoutMs`,
 * past which a peer that does not read is cut off and the report says how much was not sent. Also:
 * `closeConnection` flushes, and a child process that closes everything (or calls `shutdown`) exits by
 * itself with every byte delivered. Every test runs in every mode.
 *
 * The receiver of the synchronous `shutdown()` runs on a thread of its own: `shutdown()` blocks the
 * main thread (bounded) while the I/O threads flush, so a receiver on the main thread could not read.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConnectionWriter, Datagram, ErrorCode, QueuedConnectionManager, type Connection, type ShutdownReport } from '../../src/index.js';
import { DEFAULT_WAIT_MS, MODES, patternBytes, rawListen, sameBytes, waitFor, withNetConfig } from '../helpers/net.js';

const DIST_INDEX = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const COUNT = 1000;
const SIZE = 1024;
const HEADER = 2;

/** The 1,000 distinct 1 KiB payloads, and what they look like on the wire (2-byte headers). */
function payloads(): { datagrams: Datagram[]; wire: Buffer } {
  const datagrams: Datagram[] = [];
  const wire = Buffer.alloc(COUNT * (HEADER + SIZE));
  for (let i = 0; i < COUNT; i++) {
    const p = patternBytes(SIZE, i + 1);
    datagrams.push(new Datagram(p));
    wire.writeUInt16LE(SIZE, i * (HEADER + SIZE));
    wire.set(p, i * (HEADER + SIZE) + HEADER);
  }
  return { datagrams, wire };
}

/** What a receiver thread saw on its one connection, once that connection closed. */
interface Received {
  bytes: Buffer;
  /** The peer's FIN arrived (a clean end, not a reset). */
  ended: boolean;
  error: string | null;
}

/**
 * A plain `node:net` receiver on 127.0.0.1:0 running on a worker thread of its own (so it keeps
 * reading while the main thread is blocked in `shutdown()`). Reports its first connection's bytes
 * once it closes. Terminated when the test finishes.
 */
async function receiverThread(): Promise<{ port: number; result: () => Received | null }> {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const net = require('node:net');
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      const chunks = [];
      let ended = false;
      let error = null;
      s.on('data', (c) => chunks.push(c));
      s.on('end', () => { ended = true; s.end(); });
      s.on('error', (e) => { error = e.message; });
      s.on('close', () => parentPort.postMessage({ bytes: Buffer.concat(chunks), ended, error }));
    });
    server.listen({ host: '127.0.0.1', port: 0 }, () => parentPort.postMessage({ port: server.address().port }));
  `;
  const worker = new Worker(code, { eval: true });
  onTestFinished(async () => {
    await worker.terminate();
  });
  let port = 0;
  let result: Received | null = null;
  let failure: Error | null = null;
  worker.on('error', (e) => (failure = e));
  worker.on('message', (m: { port?: number; bytes?: Uint8Array; ended?: boolean; error?: string | null }) => {
    if (m.port !== undefined) port = m.port;
    else result = { bytes: Buffer.from(m.bytes!), ended: m.ended!, error: m.error ?? null };
  });
  await waitFor(() => port !== 0 || failure !== null, { what: 'the receiver thread to listen' });
  if (failure !== null) throw failure;
  return { port, result: () => result };
}

/** A manager with a writer of `threads` threads and one TCP connection to `port`. */
function sender(threads: number, port: number): { manager: QueuedConnectionManager; writer: ConnectionWriter; conn: Connection } {
  const manager = new QueuedConnectionManager();
  onTestFinished(() => void manager.shutdown({ timeoutMs: 0 }));
  const writer = new ConnectionWriter(manager, threads);
  const conn = manager.openTCPClientConnection('127.0.0.1', port, 3000);
  if (conn === null) throw new Error(`could not connect to 127.0.0.1:${port}: ${String(manager.getLastError())}`);
  return { manager, writer, conn };
}

/** A `node:net` server on 127.0.0.1:0 that accepts and never reads. Closed when the test finishes. */
async function nonReadingPeer(): Promise<number> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (s) => sockets.push(s));
  onTestFinished(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return (server.address() as net.AddressInfo).port;
}

const BIG = 60_000;
const BIG_COUNT = 270;
/** Framed bytes {@link stuckSender} sends: 16.2 MB, more than loopback kernels buffer (a few MB). */
const STUCK_BYTES = BIG_COUNT * (BIG + HEADER);

/**
 * A sender with a small send buffer that sent {@link STUCK_BYTES} to a peer that does not read (under
 * a raised high-water mark): most of it cannot leave.
 */
function stuckSender(threads: number, port: number): ReturnType<typeof sender> {
  const s = withNetConfig({ maxPendingSendBytes: 64 << 20 }, () => sender(threads, port));
  s.conn.setSendBufferSize(16 << 10);
  expect(s.conn.getSocketOption('sendBuffer')).not.toBeNull(); // a round trip: the option is set before the sends
  const big = new Datagram(patternBytes(BIG, 7));
  for (let i = 0; i < BIG_COUNT; i++) expect(s.writer.send(big, s.conn), `send #${i}`).toBe(true);
  return s;
}

/** Sends the 1,000 datagrams; each `send` must accept. */
function sendAll(writer: ConnectionWriter, conn: Connection, datagrams: Datagram[]): void {
  for (let i = 0; i < datagrams.length; i++) if (!writer.send(datagrams[i]!, conn)) throw new Error(`send #${i} returned false`);
}

/** Waits for the receiver's connection to close and checks it got `wire`, in order, then a clean FIN. */
async function expectDelivered(rx: { result: () => Received | null }, wire: Buffer): Promise<void> {
  await waitFor(() => rx.result() !== null, { what: 'the receiver connection to close' });
  const got = rx.result()!;
  expect(sameBytes(got.bytes, wire), `${got.bytes.length} of ${wire.length} bytes arrived`).toBe(true);
  expect(got.ended, `the stream did not end with a FIN (error: ${got.error ?? 'none'})`).toBe(true);
}

function expectClean(report: ShutdownReport, connections: number): void {
  expect(report).toMatchObject({ flushed: true, unsentBytes: 0, unsentDatagrams: 0, connections });
  expect(report.elapsedMs).toBeGreaterThanOrEqual(0);
}

describe.each(MODES)('shutdown flushes what was sent ($name)', ({ threads }) => {
  it(`shutdown(): ${COUNT} × 1 KiB sent just before → every byte arrives, in order, then FIN; the report says 0 unsent`, async () => {
    const { datagrams, wire } = payloads();
    const rx = await receiverThread();
    const { manager, writer, conn } = sender(threads, rx.port);
    sendAll(writer, conn, datagrams);
    const report = manager.shutdown();
    await expectDelivered(rx, wire);
    expectClean(report, 1);
    // Idempotent: a second call does nothing and says so the same way.
    expect(manager.shutdown()).toEqual(report);
  });

  it(`shutdownAsync(): ${COUNT} × 1 KiB → every byte arrives, in order, then FIN; 0 unsent`, async () => {
    const { datagrams, wire } = payloads();
    const rx = await receiverThread();
    const { manager, writer, conn } = sender(threads, rx.port);
    sendAll(writer, conn, datagrams);
    const report = await manager.shutdownAsync({ timeoutMs: DEFAULT_WAIT_MS });
    expectClean(report, 1);
    await expectDelivered(rx, wire);
    expect(await manager.shutdownAsync()).toEqual(report);
  });

  it('shutdown() while shutdownAsync() waits: it finishes the job, both return the same report, nothing lost', async () => {
    const { datagrams, wire } = payloads();
    const rx = await receiverThread();
    const { manager, writer, conn } = sender(threads, rx.port);
    sendAll(writer, conn, datagrams);
    const pending = manager.shutdownAsync();
    const report = manager.shutdown();
    expect(await pending).toEqual(report);
    await expectDelivered(rx, wire);
    expectClean(report, 1);
  });

  it('writer.shutdown() first, then manager.shutdown(): still flushed', async () => {
    const { datagrams, wire } = payloads();
    const rx = await receiverThread();
    const { manager, writer, conn } = sender(threads, rx.port);
    sendAll(writer, conn, datagrams);
    writer.shutdown();
    const report = manager.shutdown({ timeoutMs: DEFAULT_WAIT_MS });
    await expectDelivered(rx, wire);
    expectClean(report, 1);
  });

  it('sends held by a cork that is never uncorked are flushed too', async () => {
    const { datagrams, wire } = payloads();
    const rx = await receiverThread();
    const { manager, writer, conn } = sender(threads, rx.port);
    writer.cork();
    sendAll(writer, conn, datagrams);
    const report = manager.shutdown();
    await expectDelivered(rx, wire);
    expectClean(report, 1);
  });

  it('closeConnection: 1,000 × 1 KiB then close → the peer gets every byte, then EOF', async () => {
    const { datagrams, wire } = payloads();
    const rx = await rawListen();
    const { manager, writer, conn } = sender(threads, rx.port);
    sendAll(writer, conn, datagrams);
    expect(manager.closeConnection(conn)).toBe(true);
    await waitFor(() => rx.peers.length === 1 && rx.peers[0]!.ended, { what: () => `EOF at the peer (${rx.peers[0]?.received().length ?? 0} of ${wire.length} bytes so far)` });
    expect(sameBytes(rx.peers[0]!.received(), wire)).toBe(true);
  });

  it('a peer that does not read: the bound applies, the stream is cut, the report says what was not sent', async () => {
    const port = await nonReadingPeer();
    const first = stuckSender(threads, port);
    let report: ShutdownReport | null = null;
    void first.manager.shutdownAsync({ timeoutMs: 200 }).then((r) => (report = r));
    // Deadline-based: it must end by itself, long before the wait's own deadline.
    await waitFor(() => report !== null, { what: 'shutdownAsync({ timeoutMs: 200 }) to return' });
    expect(report!.flushed).toBe(false);
    expect(report!.unsentBytes).toBeGreaterThan(0);
    expect(report!.unsentBytes, "what the kernel took is not counted").toBeLessThan(STUCK_BYTES);
    expect(report!.unsentDatagrams).toBe(0);
    expect(report!.connections).toBe(1);
    // The same with the synchronous form on a fresh manager: it returns, bounded, and says so.
    const second = stuckSender(threads, port);
    const syncReport = second.manager.shutdown({ timeoutMs: 200 });
    expect(syncReport.flushed).toBe(false);
    expect(syncReport.unsentBytes).toBeGreaterThan(0);
    expect(syncReport.unsentBytes).toBeLessThan(STUCK_BYTES);
  });

  it('an I/O thread that dies during shutdown(): it still returns, bounded, and reports flushed false', async () => {
    const port = await nonReadingPeer();
    const { manager, conn } = stuckSender(threads, port);
    manager.crashIoThreadForTest(conn.getThreadIndex()); // it throws on its next turn, mid-flush
    const report = manager.shutdown({ timeoutMs: 2000 });
    expect(report.flushed).toBe(false);
    expect(report.unsentBytes).toBeGreaterThan(0);
    expect(report.connections).toBe(1);
    expect(manager.shutdown()).toEqual(report);
  });

  it('bad options get a typed error and change nothing', async () => {
    const rx = await rawListen();
    const { manager, writer, conn } = sender(threads, rx.port);
    for (const bad of [{ timeoutMs: -1 }, { timeoutMs: Number.NaN }, { timeoutMs: Infinity }, { timeoutMs: '5' }]) {
      expect(() => manager.shutdown(bad as never)).toThrow(expect.objectContaining({ code: ErrorCode.VALUE_OUT_OF_RANGE }));
      await expect(manager.shutdownAsync(bad as never)).rejects.toMatchObject({ code: ErrorCode.VALUE_OUT_OF_RANGE });
    }
    expect(() => manager.shutdown(42 as never)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(conn.isOpen()).toBe(true);
    expect(writer.send(new Datagram(new Uint8Array([1, 2, 3])), conn)).toBe(true);
    expectClean(manager.shutdown(), 1);
    await waitFor(() => rx.peers.length === 1 && rx.peers[0]!.ended, { what: 'EOF at the peer' });
    expect([...rx.peers[0]!.received()]).toEqual([3, 0, 1, 2, 3]);
  });

  for (const how of ['closeConnection', 'shutdown'] as const) {
    it(`a child process that sends 1,000 × 1 KiB then calls ${how} and returns exits by itself; every byte arrives`, async () => {
      expect(existsSync(DIST_INDEX), 'dist/index.js is missing: run `npm run build` first').toBe(true);
      const { wire } = payloads();
      const rx = await rawListen();
      const dir = mkdtempSync(join(tmpdir(), 'pandanet-flush-'));
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
      const script = join(dir, 'flush-exit.mjs');
      writeFileSync(script, childScript(pathToFileURL(DIST_INDEX).href));
      let out = '';
      let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
      const child = spawn(process.execPath, [script, String(threads), String(rx.port), how], { timeout: 10_000, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'] });
      onTestFinished(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code, signal) => (exit = { code, signal }));
      // Our side ends when the child's stream does (the child waits for nothing after its last call).
      await waitFor(() => rx.peers.length === 1 && rx.peers[0]!.ended, { what: () => `EOF from the child (${rx.peers[0]?.received().length ?? 0} of ${wire.length} bytes so far)`, timeoutMs: 12_000 });
      rx.peers[0]!.socket.end();
      await waitFor(() => exit !== null, { what: 'the child to exit', timeoutMs: 12_000 });
      expect(exit!.signal, `the child was killed at the 10 s deadline: it did not exit by itself. Output:\n${out}`).toBeNull();
      expect(exit!.code, out).toBe(0);
      expect(sameBytes(rx.peers[0]!.received(), wire), `${rx.peers[0]!.received().length} of ${wire.length} bytes arrived`).toBe(true);
      if (how === 'shutdown') expect(out).toContain('"flushed":true');
    }, 30_000);
  }
});

/** A standalone ESM script: connect, send the 1,000 payloads, close (or shut down), return. No timers. */
function childScript(indexUrl: string): string {
  return `
import { QueuedConnectionManager, ConnectionWriter, Datagram } from ${JSON.stringify(indexUrl)};
const [threads, port, how] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
function pattern(length, seed) {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out[i] = x & 0xff; }
  return out;
}
const m = new QueuedConnectionManager();
const writer = new ConnectionWriter(m, threads);
const conn = m.openTCPClientConnection('127.0.0.1', port, 3000);
if (conn === null) { console.error('connect failed'); process.exit(2); }
for (let i = 0; i < ${COUNT}; i++) if (!writer.send(new Datagram(pattern(${SIZE}, i + 1)), conn)) { console.error('send failed'); process.exit(3); }
if (how === 'shutdown') console.log(JSON.stringify(m.shutdown()));
else if (!m.closeConnection(conn)) { console.error('close failed'); process.exit(4); }
`;
}
