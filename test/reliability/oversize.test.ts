/**
 * Hostile length headers (issue 8): with `maxDatagramSize` lowered to 1024, a header announcing more
 * (0x7fff0000 with header 4; 60,000 with header 2; the header split one byte per write) resets that
 * connection once, with the reason logged, before anything of the announced size is allocated (the
 * process's RSS does not move by anything near it), and the other connections are unaffected.
 * Every test runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import { QueuedConnectionReader } from '../../src/index.js';
import { MODES, makeServer, waitFor, yieldOnce } from '../helpers/net.js';
import {
  MiB,
  RssWatch,
  captureLog,
  connectPeer,
  fdCount,
  frameOf,
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

const MAX = 1024;
const HUGE = 0x7fff0000;

function header4(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

/** A header-4 server limited to 1024-byte datagrams, with one good header-4 client. */
async function setup(threads: number): Promise<{ app: ServerApp; good: Peer; check: () => Promise<number> }> {
  const server = withNetConfig({ maxDatagramSize: MAX }, () => makeServer(threads));
  server.reader.setTcpHeaderSize(4);
  server.writer.setTcpHeaderSize(4);
  const app = serverApp(server, (conn) => (conn === server.accepted[0] ? 'echo' : 'keep'));
  const good = await connectPeer(server.port, { headerSize: 4 });
  await app.acceptNext();
  let n = 0;
  const check = (): Promise<number> => roundTrip(good, app, n++);
  await check();
  await warmUp(app);
  return { app, good, check };
}

describe.each(MODES)('oversize length headers ($name)', ({ threads }) => {
  it(`header 4 announcing 0x7fff0000 (max ${MAX}) → one reset, reason logged, no allocation of that size, others unaffected`, async () => {
    const { app, check } = await setup(threads);
    const log = captureLog();
    const fd0 = fdCount();
    const mem = new RssWatch();
    const ab0 = process.memoryUsage().arrayBuffers;
    const bad = await connectPeer(app.server.port, { headerSize: 4 });
    const [conn] = await app.acceptNext();
    // The header and a few body bytes; the peer stays connected: the server must act on the header alone.
    bad.socket.write(Buffer.concat([header4(HUGE), Buffer.alloc(64, 1)]));
    const tick = (): void => {
      app.tick();
      mem.sample();
    };
    await waitFor(() => app.resets.includes(conn!), { what: 'the oversize header to reset the connection', tick });
    await check();
    for (let i = 0; i < 50; i++) {
      tick();
      await yieldOnce();
    }
    await check();
    expect(app.resets).toEqual([conn]);
    expect(app.received.get(conn!) ?? 0).toBe(0);
    const lines = resetLines(log, conn!);
    expect(lines.length, log.join('\n')).toBe(1);
    expect(lines[0]).toMatch(new RegExp(`${HUGE}.*${MAX}|invalid TCP datagram`));
    await waitFor(() => sawEof(bad), { what: 'the server to close the offending socket', tick });
    bad.socket.destroy();
    const fd1 = await waitForFds(fd0, { tick });
    const abGrowth = process.memoryUsage().arrayBuffers - ab0;
    expect(mem.growth, `RSS grew by ${(mem.growth / MiB).toFixed(1)} MiB after a header announcing ${(HUGE / MiB).toFixed(0)} MiB`).toBeLessThan(64 * MiB);
    expect(abGrowth).toBeLessThan(16 * MiB);
    record('oversize-header4', { threads, announced: HUGE, maxDatagramSize: MAX, resets: app.resets.length, rssGrowthMiB: +(mem.growth / MiB).toFixed(2), arrayBuffersGrowthMiB: +(abGrowth / MiB).toFixed(2), reason: lines[0], fdBefore: fd0, fdAfterRelease: fd1 });
  });

  it('exactly the maximum is delivered; one byte more resets; a huge header split one byte per write resets too', async () => {
    const { app, check } = await setup(threads);
    const log = captureLog();
    const exact = await connectPeer(app.server.port, { headerSize: 4 });
    const [exactConn] = await app.acceptNext();
    const over = await connectPeer(app.server.port, { headerSize: 4 });
    const [overConn] = await app.acceptNext();
    const split = await connectPeer(app.server.port, { headerSize: 4 });
    const [splitConn] = await app.acceptNext();
    split.socket.setNoDelay(true);

    exact.sendFrame(Buffer.alloc(MAX, 3));
    over.sendFrame(Buffer.alloc(MAX + 1, 4));
    const h = header4(HUGE);
    for (let i = 0; i < 4; i++) {
      await new Promise<void>((resolve) => split.socket.write(h.subarray(i, i + 1), () => resolve()));
      for (let k = 0; k < 5; k++) {
        app.tick();
        await yieldOnce();
      }
      // Three bytes of the header are not enough to judge it: nothing happens before the fourth.
      if (i < 3) expect(app.resets.includes(splitConn!)).toBe(false);
    }
    await app.waitReset([overConn!, splitConn!]);
    await waitFor(() => (app.received.get(exactConn!) ?? 0) === 1, { what: 'the datagram of exactly the maximum size', tick: app.tick });
    await check();
    await settle(app);
    expect(app.kept.get(exactConn!)?.[0]?.length).toBe(MAX);
    expect(app.resets).toHaveLength(2);
    expect(new Set(app.resets)).toEqual(new Set([overConn, splitConn]));
    expect(exactConn!.isOpen()).toBe(true);
    for (const c of [overConn!, splitConn!]) expect(resetLines(log, c).length).toBe(1);
    await waitFor(() => sawEof(over) && sawEof(split), { what: 'both offenders closed by the server', tick: app.tick });
  });

  it(`header 2 with maxDatagramSize ${MAX}: a header announcing 60,000 resets that connection only`, async () => {
    const { app, check } = await setup(threads);
    const reader2 = new QueuedConnectionReader(app.server.manager, threads); // header 2 (the default)
    const log = captureLog();
    const bad = await connectPeer(app.server.port);
    const [conn] = await app.acceptNext();
    expect(app.server.reader.removeConnection(conn!)).toBe(true);
    expect(reader2.addConnection(conn!)).toBe(true);
    const h = Buffer.alloc(2);
    h.writeUInt16LE(60_000, 0);
    bad.socket.write(h);
    await app.waitReset([conn!]);
    await check();
    await settle(app);
    expect(app.resets).toEqual([conn]);
    expect(reader2.dataAvailable()).toBe(false);
    expect(resetLines(log, conn!).join('\n')).toMatch(/60000.*1024|invalid TCP datagram/);
  });
});

describe('the decoder limit is clamped to what the reader ring can hold', () => {
  it('maxDatagramSize larger than half the reader ring: the ring bound applies (no stream waits forever)', async () => {
    // Reader rings of 64 KiB: a datagram must fit in one, so a 1 MiB maximum is clamped below 32 KiB.
    const server = withNetConfig({ maxDatagramSize: 1 << 20, ringBytes: { reader: 64 << 10 } }, () => makeServer(1));
    server.reader.setTcpHeaderSize(4);
    const app = serverApp(server, () => 'keep');
    const peer = await connectPeer(server.port, { headerSize: 4 });
    const [conn] = await app.acceptNext();
    peer.sendFrame(Buffer.alloc(40_000, 1)); // under the configured 1 MiB, over what the ring can hold
    await app.waitReset([conn!]);
    expect(app.received.get(conn!) ?? 0).toBe(0);
  });
});
