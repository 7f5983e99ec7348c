/**
 * An I/O thread that dies: its connections are reported reset (once each), a replacement thread
 * serves new connections, and the main thread and the other threads keep going. Also: a sync call
 * to a dead thread fails fast with a typed error instead of hanging.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionWriter,
  NetDatagram,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  Datagram,
  resetNetConfig,
  setNetConfig,
  type Connection,
} from '../../src/index.js';

const managers: QueuedConnectionManager[] = [];
afterEach(() => {
  for (const m of managers.splice(0)) m.shutdown();
});

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

function world(threads: number) {
  // The fd hand-off's round-robin placement (the reusePort path's spread is the kernel's hash, so a
  // few connections may land on one thread: test/integration/reuse-port.test.ts covers its faults).
  setNetConfig({ reusePort: false });
  const server = new QueuedConnectionManager();
  resetNetConfig();
  const client = new QueuedConnectionManager();
  managers.push(server, client);
  const listener = new QueuedConnectionListener(server, threads);
  const sReader = new QueuedConnectionReader(server, threads);
  const sWriter = new ConnectionWriter(server, threads);
  const cReader = new QueuedConnectionReader(client, threads);
  const cWriter = new ConnectionWriter(client, threads);
  const rv = server.openTCPServerRendezvous('127.0.0.1', 0, 100);
  expect(rv).not.toBeNull();
  listener.addConnection(rv!);
  const port = rv!.getLocalAddress().getPort();
  const accepted: Connection[] = [];
  const pump = (): void => {
    const p = new PointerToConnection();
    while (listener.newConnectionAvailable()) {
      if (listener.getNewConnection(p)) {
        accepted.push(p.p()!);
        sReader.addConnection(p.p()!);
      }
    }
    const dg = new NetDatagram();
    while (sReader.dataAvailable()) if (sReader.getData(dg)) sWriter.send(dg, dg.getConnection()!);
  };
  const connect = (): Connection => {
    const c = client.openTCPClientConnection('127.0.0.1', port, 3000);
    expect(c).not.toBeNull();
    cReader.addConnection(c!);
    return c!;
  };
  const echo = async (c: Connection, n: number): Promise<void> => {
    const d = new Datagram();
    d.addUint32(n);
    expect(cWriter.send(d, c)).toBe(true);
    const got = new NetDatagram();
    await until(`echo ${n}`, () => {
      pump();
      return cReader.dataAvailable() && cReader.getData(got);
    });
    expect(got.getConnection()).toBe(c);
    expect(got.getMessage()).toEqual(d.getMessage());
  };
  return { server, client, accepted, pump, connect, echo };
}

describe('I/O thread crash (2 threads)', () => {
  it('resets the dead thread\'s connections once, replaces the thread, keeps the others', async () => {
    const w = world(2);
    const conns = [w.connect(), w.connect(), w.connect(), w.connect()];
    await until('4 accepts', () => {
      w.pump();
      return w.accepted.length === 4;
    });
    for (const [i, c] of conns.entries()) await w.echo(c, i);
    const victims = w.accepted.filter((c) => c.getThreadIndex() === 1);
    const survivors = w.accepted.filter((c) => c.getThreadIndex() === 0);
    expect(victims.length).toBeGreaterThan(0);
    expect(survivors.length).toBeGreaterThan(0);

    w.server.crashIoThreadForTest(1);
    const resets: Connection[] = [];
    await until('victims reported reset', () => {
      const p = new PointerToConnection();
      while (w.server.getResetConnection(p)) resets.push(p.p()!);
      return resets.length >= victims.length;
    });
    expect(new Set(resets)).toEqual(new Set(victims));
    expect(resets.length).toBe(victims.length); // once each
    for (const v of victims) expect(v.isOpen()).toBe(false);

    // Connections on the surviving thread still echo.
    const survivorPorts = new Set(survivors.map((c) => c.getAddress().getPort()));
    const survivorClients = conns.filter((c) => survivorPorts.has(c.getLocalAddress().getPort()));
    expect(survivorClients.length).toBe(survivors.length);
    for (const c of survivorClients) await w.echo(c, 100);

    // New connections are served, including by the replacement thread.
    await until('replacement thread alive', () => w.server.getThreadStats().every((s) => s.alive));
    const fresh = [w.connect(), w.connect(), w.connect(), w.connect()];
    await until('4 more accepts', () => {
      w.pump();
      return w.accepted.length === 8;
    });
    for (const [i, c] of fresh.entries()) await w.echo(c, 200 + i);
    expect(new Set(w.accepted.slice(4).map((c) => c.getThreadIndex()))).toEqual(new Set([0, 1]));
  });

  it('a synchronous open on a dead thread fails fast with a typed error, not a hang', async () => {
    const m = new QueuedConnectionManager();
    managers.push(m);
    new QueuedConnectionReader(m, 1);
    // Terminating the only thread makes it die without a replacement (shutdown path).
    m.shutdown();
    // WORKER_DIED, not WORKER_TIMEOUT: it did not wait for the dead thread's answer (no ms bound needed).
    expect(() => m.openTCPServerRendezvous('127.0.0.1', 0, 10)).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_WORKER_DIED' }) as Error);
  });
});
