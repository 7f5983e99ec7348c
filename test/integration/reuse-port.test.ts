/**
 * Issue 20: a threaded TCP rendezvous opens one `reusePort` listening socket per I/O thread where Node
 * has it (≥ 22.12 / 23.1, Linux); each thread serves what it accepts. Elsewhere (Node 20, polled or one
 * thread, `NetConfig.reusePort` false) one socket on one thread hands accepts to the pool by
 * descriptor. Either way the application sees one rendezvous Connection on one port. The path in use
 * shows in `getThreadStats()`: with a group every thread counts accepts; with the hand-off only the
 * rendezvous's thread does, and the connections are spread round-robin.
 *
 * Every mode; what each asserts depends on whether the group applies (`grouped`), so the suite checks
 * the reusePort path on Node ≥ 22.12 and the hand-off on every Node (forced with `reusePort: false`).
 */
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { QueuedConnectionListener } from '../../src/index.js';
import { nodeHasReusePort } from '../../src/workers/reuse-port.js';
import { MODES, makeServer, waitFor, withNetConfig, type Server } from '../helpers/net.js';
import { captureLog, connectPeer, serverApp, u32, type Peer } from '../helpers/faults.js';

/** Clients per test: enough that a thread the kernel never picks is not chance (2^-47 for 2 threads). */
const CLIENTS = 48;

/** Connects `n` raw peers, each sending one datagram; the app accepts, reads and echoes. */
async function connectAndEcho(server: Server, n: number): Promise<Peer[]> {
  const app = serverApp(server);
  const peers: Peer[] = [];
  for (let i = 0; i < n; i++) {
    const p = await connectPeer(server.port);
    p.sendFrame(u32(i));
    peers.push(p);
  }
  await waitFor(() => peers.every((p) => p.frames.length >= 1), {
    what: () => `${n} echoes (have ${peers.filter((p) => p.frames.length >= 1).length}; accepted ${server.accepted.length})`,
    tick: app.tick,
  });
  for (let i = 0; i < n; i++) expect(peers[i]!.frames[0]!.readUInt32LE(0)).toBe(i);
  expect(server.accepted.length).toBe(n);
  return peers;
}

/** Per-thread accepts and connections. */
function spread(server: Server): { accepts: number[]; connections: number[] } {
  const s = server.manager.getThreadStats();
  return { accepts: s.map((t) => t.accepts), connections: s.map((t) => t.connections) };
}

/** True once a connect to 127.0.0.1:`port` is refused (nothing listens any more). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** Waits (bounded: 200 tries, the wait's deadline) until connects to `port` are refused. */
async function waitRefused(port: number, tick: () => void = () => {}): Promise<void> {
  let tries = 0;
  let last = false;
  let inFlight = false;
  await waitFor(() => last || tries >= 200, {
    what: () => `connects to port ${port} refused (${tries} tries)`,
    tick: () => {
      tick();
      if (inFlight) return;
      inFlight = true;
      tries++;
      void refused(port).then((r) => {
        last = r;
        inFlight = false;
      });
    },
  });
  expect(last).toBe(true);
}

/**
 * Connects raw peers one after another (each once the previous one was accepted) until `done()` or
 * `max` peers; a thread that joins the pool opens its socket asynchronously, so how many it takes
 * is not fixed.
 */
async function connectUntil(server: Server, app: ReturnType<typeof serverApp>, done: () => boolean, max: number): Promise<number> {
  let peers = 0;
  const base = server.accepted.length;
  await waitFor(() => done() || (peers >= max && server.accepted.length - base >= peers), {
    what: () => `the condition (${peers} peers, ${server.accepted.length - base} accepted, accepts ${spread(server).accepts.join('/')})`,
    tick: () => {
      app.tick();
      if (peers < max && peers === server.accepted.length - base) {
        const s = net.connect({ host: '127.0.0.1', port: server.port });
        s.on('error', () => {});
        onTestFinished(() => void s.destroy());
        peers++;
      }
    },
  });
  return peers;
}

describe.each(MODES)('reusePort rendezvous ($name)', ({ threads }) => {
  const grouped = threads >= 2 && nodeHasReusePort();

  it('one rendezvous Connection on one port; with reusePort every I/O thread accepts, else one thread hands off', async () => {
    const server = makeServer(threads);
    expect(server.port).toBeGreaterThan(0);
    await connectAndEcho(server, CLIENTS); // acceptAll's checks: the rendezvous pointer is the one object
    const { accepts, connections } = spread(server);
    expect(accepts.reduce((a, b) => a + b, 0)).toBe(CLIENTS);
    if (grouped) {
      for (const n of accepts) expect(n).toBeGreaterThan(0); // accepted on each thread, no hand-off
      expect(connections).toEqual(accepts); // each thread serves what it accepted
    } else {
      expect(accepts.filter((n) => n > 0)).toEqual([CLIENTS]); // one accepting thread
      if (threads >= 2) for (const n of connections) expect(n).toBe(CLIENTS / connections.length); // round-robin hand-off
    }
    expect(server.rendezvous.getLocalAddress().getPort()).toBe(server.port);
  });

  it('NetConfig.reusePort false: one socket, accepts handed to the pool (the Node 20 path)', async () => {
    const server = withNetConfig({ reusePort: false }, () => makeServer(threads));
    await connectAndEcho(server, CLIENTS);
    const { accepts, connections } = spread(server);
    expect(accepts.filter((n) => n > 0)).toEqual([CLIENTS]);
    expect(connections.reduce((a, b) => a + b, 0)).toBe(CLIENTS);
    if (threads >= 2) for (const n of connections) expect(n).toBe(CLIENTS / connections.length);
  });

  it('closing the rendezvous closes every socket of it: connects are refused, accepted connections stay', async () => {
    const server = makeServer(threads);
    const peers = await connectAndEcho(server, 8);
    expect(server.manager.closeConnection(server.rendezvous)).toBe(true);
    await waitRefused(server.port);
    // The accepted connections still work.
    const app = serverApp(server);
    peers[0]!.sendFrame(u32(99));
    await waitFor(() => peers[0]!.frames.length >= 2, { what: 'echo after the rendezvous closed', tick: app.tick });
  });

  it('a port already listening fails the open, from this manager or another (as without reusePort)', async () => {
    const server = makeServer(threads);
    expect(server.manager.openTCPServerRendezvous('127.0.0.1', server.port, 10)).toBeNull();
    expect(server.manager.getLastError()?.message ?? '').toMatch(/EADDRINUSE/);
    const other = makeServer(threads); // another manager, same mode
    expect(other.manager.openTCPServerRendezvous('127.0.0.1', server.port, 10)).toBeNull();
    expect(other.manager.getLastError()?.message ?? '').toMatch(/EADDRINUSE/);
    await connectAndEcho(server, 4); // the first one still serves
  });

  it('threads added after the open get their socket of the rendezvous', async () => {
    const server = makeServer(threads);
    // A listener with one more thread grows the pool.
    const bigger = new QueuedConnectionListener(server.manager, threads + 1);
    onTestFinished(() => bigger.shutdown());
    expect(server.manager.getNumIoThreads()).toBe(Math.max(1, threads + 1));
    // The new thread opens its socket asynchronously: connect until it has accepted one (bounded).
    const app = serverApp(server);
    const last = server.manager.getNumIoThreads() - 1;
    await connectUntil(server, app, () => grouped && spread(server).accepts[last]! > 0, grouped ? 400 : CLIENTS);
    const { accepts } = spread(server);
    if (grouped) expect(accepts[last]).toBeGreaterThan(0);
    else expect(accepts.filter((n) => n > 0).length).toBe(1);
  });
});

describe.each(MODES.filter((m) => m.threads >= 2))('reusePort rendezvous and thread faults ($name)', ({ threads }) => {
  const grouped = nodeHasReusePort();

  it('the rendezvous thread dies: the rendezvous is reset and no thread listens on its port any more', async () => {
    const server = makeServer(threads);
    const app = serverApp(server);
    await connectAndEcho(server, 4);
    server.manager.crashIoThreadForTest(0); // the first open of a manager runs on thread 0
    await waitFor(() => app.resets.includes(server.rendezvous), { what: 'the rendezvous reset', tick: app.tick });
    await waitRefused(server.port, app.tick);
  });

  it('another thread dies: its replacement gets its socket; accepts go on', async () => {
    const server = makeServer(threads);
    const app = serverApp(server);
    await connectAndEcho(server, 4);
    const lines = captureLog();
    server.manager.crashIoThreadForTest(1);
    // The runtime replaces a thread in the same turn as it notices its exit (and logs it).
    await waitFor(() => lines.some((l) => l.includes('I/O thread 1 exited')), { what: 'thread 1 replaced', tick: app.tick });
    expect(server.manager.getThreadStats()[1]!.alive).toBe(true);
    // The replacement opens its socket asynchronously: connect until it has accepted one (bounded).
    await connectUntil(server, app, () => grouped && spread(server).accepts[1]! > 0, grouped ? 400 : CLIENTS);
    const after = spread(server).accepts;
    if (grouped) expect(after[1]).toBeGreaterThan(0);
    else expect(after[1]).toBe(0);
    expect(server.rendezvous.isOpen()).toBe(true);
  });
});
