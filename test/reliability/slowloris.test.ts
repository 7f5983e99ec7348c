/**
 * Slowloris (issue 8): peers that send half a length header, or a header and half a body, and then
 * hold the connection forever. They must never stall anyone else: a client keeps echoing throughout,
 * and a client that connects after them is accepted and served. With the idle timeout off (the
 * default) they are left alone; with `idleTimeoutMs` set each is closed, reported reset once, and
 * its socket released. Every test runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import { MODES, makeServer, waitFor } from '../helpers/net.js';
import { observeAtLeast } from '../helpers/observe.js';
import {
  MiB,
  RssWatch,
  captureLog,
  forceGc,
  connectPeer,
  fdCount,
  frameOf,
  observeFor,
  percentile,
  record,
  resetLines,
  roundTrip,
  sawEof,
  serverApp,
  settle,
  waitForFds,
  warmUp,
  withNetConfig,
  type Peer,
  type ServerApp,
} from '../helpers/faults.js';

/** Four slow peers: two stop inside a header, two inside a body (one 2-byte header, one announcing 60,000 bytes). */
async function slowPeers(app: ServerApp): Promise<Peer[]> {
  const peers = [await connectPeer(app.server.port), await connectPeer(app.server.port), await connectPeer(app.server.port), await connectPeer(app.server.port)];
  peers[0]!.socket.write(Uint8Array.of(0x10)); // 1 byte of a 2-byte header
  peers[1]!.socket.write(Buffer.concat([frameOf(Buffer.from('a complete one')), Uint8Array.of(0xff)])); // a frame, then half a header
  peers[2]!.socket.write(frameOf(Buffer.alloc(1000, 7)).subarray(0, 2 + 500)); // header + half the body
  const big = frameOf(Buffer.alloc(60_000, 9));
  peers[3]!.socket.write(big.subarray(0, 2 + 30_000)); // a large frame, half of it
  return peers;
}

describe.each(MODES)('slowloris ($name)', ({ threads }) => {
  it('half headers and half bodies held forever never stall other connections (idle timeout off)', async () => {
    const server = makeServer(threads);
    const app = serverApp(server, (conn) => (conn === server.accepted[0] || conn === server.accepted[server.accepted.length - 1] ? 'echo' : 'keep'));
    const good = await connectPeer(server.port);
    await app.acceptNext();
    let n = 0;
    await roundTrip(good, app, n++);
    const slow = await slowPeers(app);
    const slowConns = await app.acceptNext(4);
    // At least 1 s and 11 round trips on the good client while the slow peers hold their partial frames.
    const rtts: number[] = [];
    await observeAtLeast({ ms: 1000, enough: () => rtts.length >= 11, what: () => `11 round trips (have ${rtts.length})` }, async () => {
      rtts.push(await roundTrip(good, app, n++));
    });
    // A client that arrives after them is accepted and served at once.
    const late = await connectPeer(server.port);
    await app.acceptNext();
    for (let i = 0; i < 10; i++) rtts.push(await roundTrip(late, app, i));
    await settle(app);
    expect(rtts.length).toBeGreaterThan(20);
    expect(app.resets).toEqual([]);
    for (const c of slowConns) expect(c.isOpen()).toBe(true);
    for (const p of slow) expect(sawEof(p)).toBe(false);
    // Only the one complete frame among them was delivered; the partial ones wait in their decoders.
    const fromSlow = slowConns.reduce((s, c) => s + (app.received.get(c) ?? 0), 0);
    expect(fromSlow).toBe(1);
    record('slowloris-idle-off', { threads, slowPeers: 4, roundTrips: rtts.length, rttP50Ms: +percentile(rtts, 50).toFixed(2), rttMaxMs: +Math.max(...rtts).toFixed(2), resets: 0 });
  });

  it('with idleTimeoutMs = 400 each slow peer is closed and reported reset once; the active clients are not', async () => {
    const IDLE = 400;
    const server = withNetConfig({ idleTimeoutMs: IDLE }, () => makeServer(threads));
    const app = serverApp(server, (conn) => (conn === server.accepted[0] ? 'echo' : 'keep'));
    const good = await connectPeer(server.port);
    await app.acceptNext();
    let n = 0;
    await roundTrip(good, app, n++);
    await warmUp(app);
    const log = captureLog();
    const fd0 = fdCount();
    const t0 = performance.now();
    const slow = await slowPeers(app);
    const slowConns = await app.acceptNext(4);
    const rtts: number[] = [];
    let allResetAt = 0;
    // The good client talks all along (far more often than every 400 ms).
    await observeFor(IDLE * 2.5, async () => {
      rtts.push(await roundTrip(good, app, n++));
      if (allResetAt === 0 && slowConns.every((c) => app.resets.includes(c))) allResetAt = performance.now();
    });
    await app.waitReset(slowConns);
    const elapsed = (allResetAt || performance.now()) - t0;
    await roundTrip(good, app, n++);
    await settle(app);
    expect(app.resets).toHaveLength(4);
    expect(new Set(app.resets)).toEqual(new Set(slowConns));
    for (const c of slowConns) {
      const lines = resetLines(log, c);
      expect(lines.length, log.join('\n')).toBe(1);
      expect(lines[0]).toMatch(/idle/i);
    }
    expect(server.accepted[0]!.isOpen()).toBe(true);
    await waitFor(() => slow.every(sawEof), { what: () => `every slow peer to see the server close (${slow.filter(sawEof).length}/4)`, tick: app.tick });
    for (const p of slow) p.socket.destroy();
    const fd1 = await waitForFds(fd0, { tick: app.tick });
    expect(fdCount()).toBeLessThanOrEqual(fd0);
    record('slowloris-idle-on', {
      threads,
      idleTimeoutMs: IDLE,
      slowPeers: 4,
      resets: app.resets.length,
      allClosedAfterMs: Math.round(elapsed),
      goodRoundTrips: rtts.length,
      rttMaxMs: +Math.max(...rtts).toFixed(2),
      fdBefore: fd0,
      fdAfterRelease: fd1,
    });
  });

  it('100 peers each announcing a 1 MiB datagram and sending 1 byte of it: memory stays within connections × maxDatagramSize', async () => {
    // Header 4, default maximum (1 MiB): each header is legal, so each decoder allocates the whole
    // 1 MiB assembly buffer at the first body byte. Whether those pages become resident depends on the
    // allocator's state (a fresh process: a few MiB; after other tests: ~0.5 MiB per peer, see
    // docs/reliability.md): 5 bytes from a peer can pin up to maxDatagramSize on the server. The bound
    // that always holds is connections × maxDatagramSize; setMaxConnections, idleTimeoutMs and a lower
    // maxDatagramSize are what cap it.
    const server = makeServer(threads);
    server.reader.setTcpHeaderSize(4);
    const app = serverApp(server, () => 'keep');
    const N = 100;
    forceGc();
    const mem = new RssWatch();
    const peers: Peer[] = [];
    for (let i = 0; i < N; i++) {
      const p = await connectPeer(server.port, { headerSize: 4 });
      const h = Buffer.alloc(5);
      h.writeUInt32LE(1 << 20, 0);
      h[4] = 1;
      p.socket.write(h);
      peers.push(p);
    }
    await app.acceptNext(N);
    await waitFor(() => server.manager.getThreadStats().reduce((s, t) => s + t.connections, 0) === N, { what: 'all streams open', tick: app.tick });
    await settle(app, 100);
    mem.sample();
    expect(app.resets).toEqual([]);
    expect(mem.growth, `RSS growth with ${N} × 1 MiB announced`).toBeLessThan(N * (MiB + 64 * 1024) + 64 * MiB);
    record('partial-frames-memory', { threads, peers: N, announcedMiB: N, sentBytesPerPeer: 5, rssGrowthMiB: +(mem.growth / MiB).toFixed(1) });
  });

  it('a peer trickling one byte at a time (faster than the idle timeout) still never stalls the others', async () => {
    // The idle timeout cannot catch a peer that keeps sending a byte now and then: it is not idle.
    // What must hold is that it costs nobody else anything.
    const server = withNetConfig({ idleTimeoutMs: 400 }, () => makeServer(threads));
    const app = serverApp(server, (conn) => (conn === server.accepted[0] ? 'echo' : 'keep'));
    const good = await connectPeer(server.port);
    await app.acceptNext();
    const trickler = await connectPeer(server.port);
    const [tconn] = await app.acceptNext();
    const body = frameOf(Buffer.alloc(200, 1));
    let at = 0;
    let n = 0;
    let lastTrickle = performance.now();
    const rtts: number[] = [];
    // At least 1.2 s, 6 bytes trickled (one per 100 ms or more) and 21 round trips.
    await observeAtLeast({ ms: 1200, enough: () => at >= 6 && rtts.length >= 21, what: () => `6 bytes trickled and 21 round trips (have ${at}, ${rtts.length})` }, async () => {
      if (performance.now() - lastTrickle > 100 && at < body.length - 1) {
        trickler.socket.write(body.subarray(at, at + 1));
        at++;
        lastTrickle = performance.now();
      }
      rtts.push(await roundTrip(good, app, n++));
    });
    await settle(app);
    expect(at).toBeGreaterThan(5);
    expect(app.resets).toEqual([]);
    expect(tconn!.isOpen()).toBe(true);
    expect(rtts.length).toBeGreaterThan(20);
  });
});
