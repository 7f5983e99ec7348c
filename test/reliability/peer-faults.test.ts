/**
 * Peers that go away badly (issue 8): abrupt death (RST), half-close, and a peer that connects and
 * never sends. Each is reported exactly once as a reset, the server releases the socket (the
 * process's descriptor count comes back), and a well-behaved client keeps its round trips going.
 * The silent peer is left alone while the idle timeout is off (Panda's default) and reset once, with
 * an "idle" reason, when `idleTimeoutMs` is set. Every test runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import type { Connection } from '../../src/index.js';
import { MODES, makeServer, waitFor } from '../helpers/net.js';
import { observeAtLeast } from '../helpers/observe.js';
import {
  captureLog,
  connectPeer,
  fdCount,
  observeFor,
  resetLines,
  roundTrip,
  sawEof,
  serverApp,
  serverSideOf,
  settle,
  waitForFds,
  withNetConfig,
  warmUp,
  record,
  type Peer,
  type ServerApp,
} from '../helpers/faults.js';

/** A server app with one good echo client; returns a `check()` that does one round trip. */
async function withGoodClient(threads: number, make = () => makeServer(threads)): Promise<{ app: ServerApp; good: Peer; check: () => Promise<number> }> {
  const server = make();
  // Echo the good client only: echoing a datagram of a peer that has just died would be a send on a
  // reset connection, which Panda reports again (spec §12.17) and would blur the count.
  const app = serverApp(server, (conn) => (conn === server.accepted[0] ? 'echo' : 'keep'));
  const good = await connectPeer(server.port);
  await app.acceptNext(1);
  let n = 0;
  const check = (): Promise<number> => roundTrip(good, app, n++);
  await check();
  await warmUp(app);
  return { app, good, check };
}

/** After the fault: exactly one reset of `bad`, no other; the good client still served; descriptors back. */
async function expectOneResetAndNoLeak(label: string, app: ServerApp, bad: Connection | undefined, check: () => Promise<number>, fd0: number): Promise<void> {
  const reported0 = app.server.manager.getStats().resetsReported;
  await app.waitReset([bad!]);
  await check();
  await settle(app);
  await check();
  expect(app.resets, 'resets reported').toEqual([bad]);
  expect(app.server.manager.getStats().resetsReported - reported0).toBe(1);
  expect(bad!.isOpen()).toBe(false);
  expect(app.server.reader.isConnectionOk(bad!)).toBe(false);
  const peak = fdCount();
  const fd1 = await waitForFds(fd0, { tick: app.tick, what: 'descriptors after the fault' });
  record(label, { threads: app.server.threads, resets: app.resets.length, fdBefore: fd0, fdAfterFault: peak, fdAfterRelease: fd1 });
  // The descriptor closes (libuv) one loop turn before the socket's 'close' event, where the thread
  // stops counting it: wait for the count with a deadline; a leaked socket never gets there.
  const owned = (): number => app.server.manager.getThreadStats().reduce((s, t) => s + t.connections, 0);
  await waitFor(() => owned() <= 1, { what: () => `the I/O threads to own only the good client's socket (own ${owned()})`, tick: app.tick });
  expect(owned(), 'sockets owned by the I/O threads').toBe(1); // the good client
}

describe.each(MODES)('peer faults ($name)', ({ threads }) => {
  it('abrupt death (RST) → one reset, socket released, others unaffected', async () => {
    const { app, check } = await withGoodClient(threads);
    const fd0 = fdCount();
    const log = captureLog();
    const raw = await connectPeer(app.server.port);
    const [bad] = await app.acceptNext();
    expect(serverSideOf(app, raw)).toBe(bad);
    raw.sendFrame(Buffer.from('last words'));
    raw.socket.resetAndDestroy();
    await expectOneResetAndNoLeak('rst', app, bad, check, fd0);
    expect(resetLines(log, bad!).length, log.join('\n')).toBe(1);
    record('rst-reason', { threads, reason: resetLines(log, bad!)[0] });
  });

  it('half-close (peer ends its side, keeps reading) → one reset; the server closes its side and releases the socket', async () => {
    const { app, check } = await withGoodClient(threads);
    const fd0 = fdCount();
    const raw = await connectPeer(app.server.port);
    const [bad] = await app.acceptNext();
    raw.sendFrame(Buffer.from('before FIN'));
    raw.socket.end();
    await expectOneResetAndNoLeak('half-close', app, bad, check, fd0);
    // The datagram sent before the FIN was delivered first.
    expect(app.received.get(bad!)).toBe(1);
    // The server answered the FIN with its own (the raw peer, half-open, saw EOF and closed).
    expect(raw.ended).toBe(true);
  });

  it('a peer that connects and never sends is NOT reset while the idle timeout is off (default)', async () => {
    const { app, check } = await withGoodClient(threads);
    const silent = await connectPeer(app.server.port);
    const [conn] = await app.acceptNext();
    // Observation window: at least 1.5 s (5× the idle timeout used below) and 11 round trips on the good client.
    let trips = 0;
    await observeAtLeast({ ms: 1500, enough: () => trips >= 11, what: () => `11 round trips (have ${trips})` }, async () => {
      await check();
      trips++;
    });
    expect(trips).toBeGreaterThan(10);
    expect(app.resets).toEqual([]);
    expect(conn!.isOpen()).toBe(true);
    expect(sawEof(silent)).toBe(false);
    record('idle-off', { threads, observedMs: 1500, goodRoundTrips: trips, resets: app.resets.length });
  });

  it('idleTimeoutMs = 300: the silent peer is reset exactly once (reason "idle"), the active client is not', async () => {
    const IDLE = 300;
    const { app, check } = await withGoodClient(threads, () => withNetConfig({ idleTimeoutMs: IDLE }, () => makeServer(threads)));
    const log = captureLog();
    const fd0 = fdCount();
    const t0 = performance.now();
    const silent = await connectPeer(app.server.port);
    const [conn] = await app.acceptNext();
    // The good client keeps talking (gaps far below 300 ms) while the silent one idles out.
    let resetAt = -1;
    await observeFor(IDLE * 4, async () => {
      await check();
      if (resetAt < 0 && app.resets.includes(conn!)) resetAt = performance.now();
    });
    await app.waitReset([conn!]);
    if (resetAt < 0) resetAt = performance.now();
    expect(resetAt - t0, 'reset no earlier than the idle timeout').toBeGreaterThanOrEqual(IDLE - 1);
    await check();
    await settle(app);
    expect(app.resets, 'exactly one reset, of the silent peer').toEqual([conn]);
    const lines = resetLines(log, conn!);
    expect(lines.length, log.join('\n')).toBe(1);
    expect(lines[0]).toMatch(/idle/i);
    // The server closed it: the peer sees EOF, and every descriptor is released.
    await waitFor(() => sawEof(silent), { what: 'the silent peer to see the server close', tick: app.tick });
    silent.socket.destroy();
    const fd1 = await waitForFds(fd0, { tick: app.tick });
    record('idle-on', { threads, idleTimeoutMs: IDLE, resetAfterMs: Math.round(resetAt - t0), reason: lines[0], fdBefore: fd0, fdAfterRelease: fd1 });
  });

  it('port-scanner style peers (connect, then RST at once) never make the application\'s calls throw, and leak nothing', async () => {
    const { app, check } = await withGoodClient(threads);
    const fd0 = fdCount();
    const errors: string[] = [];
    // The application loop as a server runs it: whatever the library throws is caught and counted.
    const rawTick = app.tick;
    const tick = (): void => {
      try {
        rawTick();
      } catch (err) {
        errors.push(String(err));
      }
    };
    app.tick = tick;
    const N = 40;
    let closed = 0;
    for (let i = 0; i < N; i++) {
      const s = net.connect({ host: '127.0.0.1', port: app.server.port });
      s.on('connect', () => s.resetAndDestroy());
      s.on('error', () => {});
      s.on('close', () => closed++);
    }
    await waitFor(() => closed === N, { what: () => `${N} scanner sockets closed (${closed})`, tick });
    // Every connection the server registered goes away again: reported reset, or never surfaced at all.
    await waitFor(() => app.server.manager.getStats().connections === 2, {
      what: () => `only the rendezvous and the good client left (${app.server.manager.getStats().connections}; ${errors.length} exceptions: ${errors[0] ?? ''})`,
      tick,
      timeoutMs: 3000,
    });
    await check();
    expect(errors, 'exceptions thrown into the application').toEqual([]);
    const fd1 = await waitForFds(fd0, { tick, what: 'descriptors after the scan' });
    for (const c of app.resets) expect(app.resetCount(c)).toBe(1);
    record('scanner', { threads, scanners: N, accepted: app.server.accepted.length, resets: app.resets.length, exceptions: errors.length, fdBefore: fd0, fdAfterRelease: fd1 });
  });

  it('RST, half-close and silence together, with idleTimeoutMs set: three resets, once each, no leak', async () => {
    const IDLE = 400;
    const { app, check } = await withGoodClient(threads, () => withNetConfig({ idleTimeoutMs: IDLE }, () => makeServer(threads)));
    const fd0 = fdCount();
    const peers = [await connectPeer(app.server.port), await connectPeer(app.server.port), await connectPeer(app.server.port)];
    await app.acceptNext(3);
    const [rst, half, silent] = peers.map((p) => serverSideOf(app, p)!);
    peers[0]!.socket.resetAndDestroy();
    peers[1]!.socket.end();
    await observeFor(IDLE / 2, async () => {
      await check(); // the good client stays active throughout
    });
    await app.waitReset([rst!, half!, silent!]);
    await check();
    await settle(app);
    expect(new Set(app.resets)).toEqual(new Set([rst, half, silent]));
    expect(app.resets).toHaveLength(3);
    for (const p of peers) p.socket.destroy();
    const fd1 = await waitForFds(fd0, { tick: app.tick });
    record('rst+half+silent', { threads, resets: app.resets.length, fdBefore: fd0, fdAfterRelease: fd1 });
    expect(app.server.manager.getStats().connections, 'rendezvous + the good client').toBe(2);
  });
});
