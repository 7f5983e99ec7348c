/**
 * A batch that is published must also wake the I/O thread: `uncork()` and the end of `drainData`
 * publish the sends they held back, and the thread that serves them may be asleep in its outbound
 * loop's idle wait (1 s). Without the wake the data still leaves — when that wait runs out — so the
 * rest of the suite passes either way; these tests look at the thread's own counters instead of a
 * clock: it slept (`outboundSleeps`), and the sleep that found the sends ended by a wake, not by
 * its idle timeout (`outboundMissedWakes` unchanged). A long cork is paced like a drain: at a switch
 * to another connection, what has waited `NetConfig.drainHoldUs` leaves before `uncork`. Every test
 * runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import { Datagram, type Connection, type NetConfigPatch, type ThreadStats } from '../../src/index.js';
import { MODES, acceptAll, frame, makeServer, rawConnect, waitFor, withNetConfig, type Server } from '../helpers/net.js';

function threadOf(server: Server, conn: Connection): ThreadStats {
  return server.manager.getThreadStats()[conn.getThreadIndex()]!;
}

const PAYLOAD = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);

/** A server (made with `config`) with one accepted raw client, and the server thread serving it asleep in its idle wait. */
async function asleep(threads: number, config: NetConfigPatch = {}) {
  const server = withNetConfig(config, () => makeServer(threads));
  const peer = await rawConnect(server.port);
  const [conn] = await acceptAll(server, 1);
  await waitFor(() => threadOf(server, conn!).outboundSleeps > 0, { what: 'the outbound loop to sleep' });
  return { server, peer, conn: conn! };
}

describe.each(MODES)('wake-ups ($name)', ({ threads }) => {
  it('uncork wakes the sleeping I/O thread: the held sends leave on the wake, not at the idle timeout', async () => {
    const { server, peer, conn } = await asleep(threads);
    const before = threadOf(server, conn);
    server.writer.cork();
    for (let i = 0; i < 3; i++) expect(server.writer.send(new Datagram(PAYLOAD), conn)).toBe(true);
    server.writer.uncork();
    const want = 3 * frame(PAYLOAD).length;
    await waitFor(() => peer.received().length >= want, { what: () => `${want} bytes at the client (have ${peer.received().length})` });
    const after = threadOf(server, conn);
    expect(after.outboundMissedWakes - before.outboundMissedWakes, 'sleeps that ended at the idle timeout with the sends waiting').toBe(0);
    expect(after.datagramsOut - before.datagramsOut).toBe(3);
  });

  it('the end of drainData wakes the sleeping I/O thread: the replies leave on the wake, not at the idle timeout', async () => {
    const { server, peer, conn } = await asleep(threads);
    const before = threadOf(server, conn);
    await peer.write(Buffer.concat([frame(PAYLOAD), frame(PAYLOAD)]));
    let replied = 0;
    await waitFor(() => replied >= 2, {
      what: () => `2 datagrams drained and answered (have ${replied})`,
      tick: () => {
        if (!server.reader.dataAvailable()) return; // polled: polls
        server.reader.drainData((c, data, offset, length) => {
          expect(server.writer.send(new Datagram(data.slice(offset, offset + length)), c)).toBe(true);
          replied++;
        });
      },
    });
    const want = 2 * frame(PAYLOAD).length;
    await waitFor(() => peer.received().length >= want, { what: () => `${want} bytes at the client (have ${peer.received().length})` });
    const after = threadOf(server, conn);
    expect(after.outboundMissedWakes - before.outboundMissedWakes, 'sleeps that ended at the idle timeout with the replies waiting').toBe(0);
    expect(after.datagramsOut - before.datagramsOut).toBe(2);
  });

  it.each([
    { hold: 'drainHoldUs 100', config: { drainHoldUs: 100 }, holdMs: 0.1 },
    { hold: 'the default drainHoldUs (250)', config: {}, holdMs: 0.25 },
  ])('a long cork is paced ($hold): at a switch to another connection, the sends held that long leave on a wake before uncork', async ({ config, holdMs }) => {
    const { server, peer, conn } = await asleep(threads, config);
    const other = await rawConnect(server.port);
    const conn2 = (await acceptAll(server, 2))[1]!;
    await waitFor(() => threadOf(server, conn2).outboundSleeps > 0, { what: 'the second connection’s outbound loop to sleep' });
    const before = threadOf(server, conn);
    server.writer.cork();
    const corkedAt = performance.now();
    for (let i = 0; i < 8; i++) expect(server.writer.send(new Datagram(PAYLOAD), conn)).toBe(true);
    // The pacing's precondition, not a measurement: the held sends have waited past the bound (bounded spin).
    for (let i = 0; i < 10_000_000 && performance.now() - corkedAt < holdMs * 1.5; i++);
    expect(performance.now() - corkedAt).toBeGreaterThanOrEqual(holdMs);
    expect(server.writer.send(new Datagram(PAYLOAD), conn2)).toBe(true); // the switch
    const want = 8 * frame(PAYLOAD).length;
    await waitFor(() => peer.received().length >= want, { what: () => `${want} bytes at the first client while still corked (have ${peer.received().length})` });
    expect(server.writer.getCorked()).toBe(1);
    const after = threadOf(server, conn);
    expect(after.outboundMissedWakes - before.outboundMissedWakes, 'sleeps that ended at the idle timeout with the sends waiting').toBe(0);
    server.writer.uncork();
    await waitFor(() => other.received().length >= frame(PAYLOAD).length, { what: 'the datagram sent after the switch, at uncork' });
  });
});
