/**
 * A reset never overtakes the datagrams its connection delivered before it (issue "Nothing lost,
 * nothing wedged", defect 8). 2,000 raw peers each send one framed datagram and then RST; the server
 * runs the manual's loop order every tick — accept and add to the reader, drain data with
 * `dataAvailable`/`getData`, then take resets and `closeConnection` them. The application must never
 * receive a datagram of a connection after it has taken that connection's reset, and every datagram
 * arrives exactly once. Every mode.
 */
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { NetDatagram, type Connection } from '../../src/index.js';
import { MODES, frame, makeServer, pumpFor, takeResets, waitFor, yieldOnce, type Server } from '../helpers/net.js';
import { connectPeer, record } from '../helpers/faults.js';

const TOTAL = 2000;
/** Peers in flight at once (the rendezvous backlog is 100). */
const BATCH = 50;

/** A raw peer: connect, write one framed datagram holding `n`, then RST once the write is in the kernel. */
function sendThenReset(port: number, n: number, done: (error: Error | null) => void): net.Socket {
  const s = net.connect({ host: '127.0.0.1', port });
  let failed: Error | null = null;
  s.on('error', (e) => (failed = e));
  s.on('close', () => done(failed));
  s.once('connect', () => {
    const payload = Buffer.alloc(4);
    payload.writeUInt32LE(n, 0);
    s.write(frame(payload, 2), (err) => {
      if (err) failed = err;
      s.resetAndDestroy();
    });
  });
  return s;
}

describe.each(MODES)('reset after data ($name)', ({ threads }) => {
  it(`${TOTAL} peers that send one datagram then RST: no datagram after its connection's reset was taken, each exactly once`, async () => {
    const server = makeServer(threads);
    const sockets = new Set<net.Socket>();
    onTestFinished(() => {
      for (const s of sockets) s.destroy();
    });
    const count = new Array<number>(TOTAL).fill(0);
    const resetTaken = new Set<Connection>();
    let afterReset = 0;
    let received = 0;
    let resets = 0;
    const dg = new NetDatagram();
    const tick = (): void => {
      while (server.listener.newConnectionAvailable()) {
        const c = server.listener.getNewConnection();
        if (c === null) break;
        server.accepted.push(c);
        server.reader.addConnection(c);
      }
      while (server.reader.dataAvailable()) {
        if (!server.reader.getData(dg)) break;
        const c = dg.getConnection();
        if (c !== null && resetTaken.has(c)) afterReset++;
        const n = Buffer.from(dg.getMessage()).readUInt32LE(0);
        count[n] = (count[n] ?? 0) + 1;
        received++;
      }
      while (server.manager.resetConnectionAvailable()) {
        const c = server.manager.getResetConnection();
        if (c === null) break;
        resetTaken.add(c);
        resets++;
        server.manager.closeConnection(c);
      }
    };

    let started = 0;
    let finished = 0;
    const peerErrors: string[] = [];
    while (started < TOTAL) {
      const upTo = Math.min(TOTAL, started + BATCH);
      for (; started < upTo; started++) {
        const s = sendThenReset(server.port, started, (err) => {
          finished++;
          sockets.delete(s);
          if (err !== null && (err as NodeJS.ErrnoException).code !== 'ECONNRESET') peerErrors.push(err.message);
        });
        sockets.add(s);
      }
      await waitFor(() => finished === started, { what: () => `peers ${finished}/${started} done`, tick, timeoutMs: 20_000 });
    }
    await waitFor(() => received >= TOTAL && resets >= TOTAL, { what: () => `${TOTAL} datagrams and resets (have ${received} datagrams, ${resets} resets, ${afterReset} after their reset)`, tick, timeoutMs: 20_000 });
    // A bounded quiet window: nothing more may turn up (no duplicate, no straggler after its reset).
    for (let i = 0; i < 50; i++) {
      tick();
      await yieldOnce();
    }
    record('reset-after-data', { threads, peers: TOTAL, received, resets, afterReset });
    expect(peerErrors).toEqual([]);
    expect(afterReset, 'datagrams received after their connection\'s reset was taken').toBe(0);
    expect(count.filter((c) => c !== 1).length, 'datagrams not received exactly once').toBe(0);
    expect(received).toBe(TOTAL);
    expect(resets).toBe(TOTAL);
  }, 60_000);

  it('closeConnection while the reset waits for the datagrams: no reset is ever reported, the peer sees EOF', async () => {
    const server = makeServer(threads);
    const peer = await connectPeer(server.port);
    const [conn] = await acceptOne(server);
    peer.sendFrame(Buffer.from('unread'));
    peer.socket.end();
    await waitFor(() => workerResets(server) === 1, { what: 'the I/O thread to see the FIN', tick: () => server.manager.resetConnectionAvailable() });
    expect(server.manager.resetConnectionAvailable()).toBe(false); // held: its datagram is not taken
    expect(conn!.isOpen()).toBe(true);
    expect(server.manager.closeConnection(conn!)).toBe(true);
    const resets: Connection[] = [];
    await waitFor(() => peer.ended, { what: 'the peer to see EOF', tick: () => takeResets(server.manager, resets) });
    await pumpFor(20, () => {
      while (server.reader.dataAvailable()) server.reader.drainData(() => {});
      takeResets(server.manager, resets);
    });
    expect(resets).toEqual([]);
    expect(server.manager.getStats().resetsReported).toBe(0);
  });

  it('datagrams dropped for the reader cap do not hold the reset back', async () => {
    const server = makeServer(threads);
    server.reader.setMaxQueueSize(1);
    const peer = await connectPeer(server.port);
    const [conn] = await acceptOne(server);
    peer.socket.write(Buffer.concat([0, 1, 2].map((i) => frame(Buffer.from([i]), 2))));
    peer.socket.end();
    await waitFor(() => workerResets(server) === 1, { what: 'the I/O thread to see the FIN' });
    const got: number[] = [];
    const resets: Connection[] = [];
    await waitFor(() => resets.length === 1, {
      what: () => `the reset (have ${got.length} datagrams, ${server.reader.getDroppedCount()} dropped)`,
      tick: () => {
        while (server.reader.dataAvailable()) server.reader.drainData((_c, data, offset) => got.push(data[offset]!));
        takeResets(server.manager, resets);
      },
    });
    expect(resets).toEqual([conn]);
    expect(got).toEqual([0]);
    expect(server.reader.getDroppedCount()).toBe(2);
  });
});

/** Accepts one connection and adds it to the server's reader. */
async function acceptOne(server: Server): Promise<Connection[]> {
  await waitFor(() => server.accepted.length === 1, {
    what: 'the accept',
    tick: () => {
      const c = server.listener.newConnectionAvailable() ? server.listener.getNewConnection() : null;
      if (c !== null && server.reader.addConnection(c)) server.accepted.push(c);
    },
  });
  return server.accepted;
}

/** Resets the I/O threads have seen (and published), whether or not the application has them yet. */
function workerResets(server: Server): number {
  return server.manager.getThreadStats().reduce((n, t) => n + t.resets, 0);
}
