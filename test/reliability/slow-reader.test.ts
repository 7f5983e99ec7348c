/**
 * Slow reader (issue 8): a raw client that never reads while the server keeps sending to it. Once
 * that connection has `maxPendingSendBytes` sent but not taken by the kernel, `writer.send` returns
 * false for it (and keeps returning false while it stays full), other connections are unaffected,
 * server memory stays bounded, and once the client reads again sends succeed again and every byte
 * accepted by `send` arrives. Every test runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import { Datagram, getNetConfig } from '../../src/index.js';
import { MODES, makeServer, waitFor, yieldOnce } from '../helpers/net.js';
import { MiB, RssWatch, connectPeer, record, roundTrip, serverApp, withNetConfig } from '../helpers/faults.js';

const PAYLOAD = 1024;
const FRAMED = PAYLOAD + 2;

describe.each(MODES)('slow reader ($name)', ({ threads }) => {
  it('send returns false at the high-water mark, only for that connection; memory bounded; it recovers and nothing is lost', async () => {
    const HWM = 1 * MiB;
    const server = withNetConfig({ maxPendingSendBytes: HWM }, () => makeServer(threads));
    const app = serverApp(server);
    const good = await connectPeer(server.port);
    const [goodConn] = await app.acceptNext();
    const slow = await connectPeer(server.port, { read: false, keepFrames: false });
    const [slowConn] = await app.acceptNext();
    await roundTrip(good, app, 0);
    expect(slowConn!.getPendingSendBytes()).toBe(0);

    const dg = new Datagram(new Uint8Array(PAYLOAD).fill(0x5a));
    const mem = new RssWatch();
    let accepted = 0; // datagrams send() took for the slow connection
    let refusedAt = -1;
    let pendingAtRefusal = 0;
    let refusals = 0;
    // Offer datagrams until send has refused everything for 300 ms: the kernel's buffers are full too.
    // (The first refusal can come earlier: what the I/O thread has not written yet counts as pending.)
    let lastAccept = performance.now();
    const deadline = performance.now() + 15_000;
    let stoppedBy: 'refused for 300 ms' | '200 MiB accepted' | 'deadline' = 'refused for 300 ms';
    while (performance.now() - lastAccept < 300) {
      for (let i = 0; i < 256; i++) {
        if (server.writer.send(dg, slowConn!)) {
          accepted++;
          lastAccept = performance.now();
        } else {
          refusals++;
          if (refusedAt < 0) {
            refusedAt = accepted;
            pendingAtRefusal = slowConn!.getPendingSendBytes();
          }
          break;
        }
      }
      app.tick();
      mem.sample();
      if (accepted * FRAMED > 200 * MiB) stoppedBy = '200 MiB accepted';
      else if (performance.now() > deadline) stoppedBy = 'deadline';
      if (stoppedBy !== 'refused for 300 ms') break;
      await yieldOnce();
    }
    expect(refusedAt, `send never returned false after ${(accepted * FRAMED / MiB).toFixed(1)} MiB to a peer that does not read`).toBeGreaterThan(0);
    expect(stoppedBy, 'send kept accepting datagrams for a peer that does not read').toBe('refused for 300 ms');
    expect(pendingAtRefusal).toBeGreaterThanOrEqual(HWM);
    expect(slowConn!.getPendingSendBytes()).toBeGreaterThanOrEqual(HWM);
    // Everything accepted is either waiting (≤ the mark + one datagram) or in the kernel's buffers.
    expect(slowConn!.getPendingSendBytes()).toBeLessThanOrEqual(HWM + FRAMED);
    expect(accepted * FRAMED, 'bytes accepted in all').toBeLessThan(HWM + 40 * MiB);

    // Other connections are unaffected, while the slow one stays refused.
    let refusedAgain = 0;
    let tries = 0;
    for (let i = 1; i <= 20; i++) {
      expect(server.writer.send(dg, goodConn!), 'a send on another connection').toBe(true);
      await roundTrip(good, app, i);
      tries++;
      if (!server.writer.send(dg, slowConn!)) refusedAgain++;
      else accepted++;
    }
    expect(refusedAgain, 'the slow connection stays refused while its peer does not read').toBe(tries);
    // The good client got the 20 extra datagrams too (1 KiB each), besides its echoes.
    await waitFor(() => good.frames.filter((f) => f.length === PAYLOAD).length === 20, { what: 'the 20 datagrams to the good client', tick: app.tick });
    expect(app.resets).toEqual([]);
    expect(mem.growth, `RSS growth ${(mem.growth / MiB).toFixed(1)} MiB`).toBeLessThan(200 * MiB);
    const pendingWhileStuck = slowConn!.getPendingSendBytes();

    // The client reads again: sends succeed again, and every accepted byte arrives.
    slow.startReading();
    const t0 = performance.now();
    const sendOnce = (): boolean => {
      if (!server.writer.send(dg, slowConn!)) return false;
      accepted++;
      return true;
    };
    await waitFor(sendOnce, { what: () => `send to succeed again (pending ${slowConn!.getPendingSendBytes()})`, tick: app.tick });
    const recoverMs = performance.now() - t0;
    await waitFor(() => slow.bytesIn >= accepted * FRAMED, { what: () => `all ${accepted * FRAMED} accepted bytes at the slow client (has ${slow.bytesIn})`, tick: app.tick });
    await waitFor(() => slowConn!.getPendingSendBytes() === 0, { what: () => `pending bytes back to 0 (${slowConn!.getPendingSendBytes()})`, tick: app.tick });
    expect(slow.bytesIn).toBe(accepted * FRAMED);
    expect(app.resets).toEqual([]);
    record('slow-reader', {
      threads,
      maxPendingSendBytes: HWM,
      acceptedBeforeFirstFalseMiB: +((refusedAt * FRAMED) / MiB).toFixed(2),
      acceptedUntilSteadyMiB: +((accepted * FRAMED) / MiB).toFixed(2),
      refusalsWhileFilling: refusals,
      pendingAtRefusalMiB: +(pendingAtRefusal / MiB).toFixed(2),
      pendingWhileStuckMiB: +(pendingWhileStuck / MiB).toFixed(2),
      refusedWhileStuck: `${refusedAgain}/${tries}`,
      rssGrowthMiB: +(mem.growth / MiB).toFixed(1),
      recoverMs: Math.round(recoverMs),
      deliveredMiB: +(slow.bytesIn / MiB).toFixed(2),
    });
  }, 30_000);

  it('the default high-water mark is 4 MiB and applies per connection: two slow peers, each refused on its own', async () => {
    expect(getNetConfig().maxPendingSendBytes).toBe(4 * MiB);
    const server = makeServer(threads);
    const app = serverApp(server);
    const a = await connectPeer(server.port, { read: false, keepFrames: false });
    const [ca] = await app.acceptNext();
    const b = await connectPeer(server.port, { read: false, keepFrames: false });
    const [cb] = await app.acceptNext();
    const dg = new Datagram(new Uint8Array(8 * 1024).fill(1));
    /** Pending bytes read right at the refusal (the thread keeps publishing what the kernel takes). */
    const pendingAtRefusal = new Map<unknown, number>();
    const fill = async (c: NonNullable<typeof ca>): Promise<number> => {
      let n = 0;
      const deadline = performance.now() + 10_000;
      for (;;) {
        let refused = false;
        for (let i = 0; i < 64 && !refused; i++) {
          if (server.writer.send(dg, c)) n++;
          else {
            refused = true;
            pendingAtRefusal.set(c, c.getPendingSendBytes());
          }
        }
        if (refused) return n;
        if (performance.now() > deadline) throw new Error(`no refusal after ${n} sends`);
        app.tick();
        await yieldOnce();
      }
    };
    const na = await fill(ca!);
    // b was never written to: it is not refused because a is.
    expect(server.writer.send(dg, cb!)).toBe(true);
    expect(pendingAtRefusal.get(ca)).toBeGreaterThanOrEqual(4 * MiB);
    expect(cb!.getPendingSendBytes()).toBeLessThan(4 * MiB);
    const nb = await fill(cb!);
    expect(na * dg.getLength()).toBeGreaterThanOrEqual(4 * MiB);
    expect(nb * dg.getLength()).toBeGreaterThanOrEqual(4 * MiB - dg.getLength());
    a.startReading();
    b.startReading();
    await waitFor(() => server.writer.send(dg, ca!) && server.writer.send(dg, cb!), { what: 'both to accept sends again', tick: app.tick });
  }, 30_000);
});
