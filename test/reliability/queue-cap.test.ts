/**
 * Reader queue cap (issue 8): with `setMaxQueueSize(N)` and M > N datagrams arriving from several
 * connections (across threads), exactly N are queued — the oldest of each connection, in order —,
 * M − N are counted by `getDroppedCount()`, and the overflow flag is set. Threaded readers drop on
 * arrival (the I/O thread enforces the cap); polled readers drop when polled, with the same
 * observable result after polling. Every test runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import { NetDatagram, type Connection } from '../../src/index.js';
import { MODES, makeServer, waitFor } from '../helpers/net.js';
import { connectPeer, frameOf, record, serverApp, settle, u32, type Peer } from '../helpers/faults.js';

describe.each(MODES)('reader queue cap ($name)', ({ threads }) => {
  for (const [N, perConn] of [
    [100, 250],
    [1000, 5000],
  ] as const) {
    const CONNS = 4;
    const M = CONNS * perConn;
    it(`cap ${N}, ${M} datagrams from ${CONNS} connections → exactly ${N} queued, ${M - N} dropped and counted, overflow set`, async () => {
      const server = makeServer(threads);
      const accepted: Connection[] = [];
      // Accept only (the app does not read yet).
      const accept = (): void => {
        while (server.listener.newConnectionAvailable()) {
          const c = server.listener.getNewConnection();
          if (c === null) break;
          expect(server.reader.addConnection(c)).toBe(true);
          accepted.push(c);
        }
      };
      const peers: Peer[] = [];
      for (let i = 0; i < CONNS; i++) peers.push(await connectPeer(server.port));
      await waitFor(() => accepted.length === CONNS, { what: 'accepts', tick: accept });
      server.reader.setMaxQueueSize(N);
      // Each peer writes its datagrams (sequence numbers) in one go.
      for (const p of peers) p.socket.write(Buffer.concat(Array.from({ length: perConn }, (_, s) => frameOf(u32(s)))));
      // Threaded: the I/O threads drop past the cap as data arrives. Polled: dataAvailable() polls, and the cap applies then.
      const poll = (): void => {
        if (threads === 0) server.reader.dataAvailable();
      };
      await waitFor(() => server.reader.getDroppedCount() >= M - N, { what: () => `${M - N} drops (have ${server.reader.getDroppedCount()}, queued ${server.reader.getCurrentQueueSize()})`, tick: poll, timeoutMs: 15_000 });
      for (let i = 0; i < 20; i++) poll();
      expect(server.reader.getDroppedCount()).toBe(M - N);
      expect(server.reader.getCurrentQueueSize()).toBe(N);
      expect(server.reader.getOverflowFlag()).toBe(true);
      const rs = server.manager.getStats().readers.find((r) => r.maxQueue === N);
      expect(rs).toMatchObject({ queued: N, overflow: true, dropped: M - N });

      // Exactly N come out; per connection they are its oldest, in order (the newest were dropped).
      const app = serverApp(server, () => 'keep');
      await waitFor(() => [...app.kept.values()].reduce((s, l) => s + l.length, 0) >= N, { what: 'the queued datagrams', tick: app.tick });
      await settle(app);
      let total = 0;
      for (const c of accepted) {
        const seqs = (app.kept.get(c) ?? []).map((b) => Buffer.from(b).readUInt32LE(0));
        expect(seqs, `connection ${c.getId()}: a prefix 0..k-1`).toEqual(seqs.map((_, i) => i));
        total += seqs.length;
      }
      expect(total).toBe(N);
      expect(server.reader.getDroppedCount()).toBe(M - N);
      expect(server.reader.getCurrentQueueSize()).toBe(0);
      expect(server.reader.getOverflowFlag()).toBe(true); // sticky until reset
      server.reader.resetOverflowFlag();
      // Room again: new datagrams are queued, no new drops, the flag stays clear.
      peers[0]!.sendFrame(u32(999_999));
      const keptTotal = (): number => [...app.kept.values()].reduce((s, l) => s + l.length, 0);
      await waitFor(() => keptTotal() === N + 1, { what: 'the datagram sent after the drain', tick: app.tick });
      expect(server.reader.getOverflowFlag()).toBe(false);
      expect(server.reader.getDroppedCount()).toBe(M - N);
      expect(app.resets).toEqual([]);
      record('queue-cap', { threads, cap: N, arrived: M, queued: total, dropped: server.reader.getDroppedCount(), overflowFlag: true });
    }, 30_000);
  }

  it('getData one at a time: the queue size falls with each take, and the room it frees is there for new datagrams once the loop returns', async () => {
    const N = 50;
    const K = 10; // fewer than the 64 takes after which threaded readers update the shared count
    const server = makeServer(threads);
    const peer = await connectPeer(server.port);
    let conn: Connection | null = null;
    await waitFor(() => conn !== null, {
      what: 'the accept',
      tick: () => {
        if (server.listener.newConnectionAvailable()) conn = server.listener.getNewConnection();
      },
    });
    expect(server.reader.addConnection(conn!)).toBe(true);
    server.reader.setMaxQueueSize(N);
    const poll = (): void => {
      if (threads === 0) server.reader.dataAvailable();
    };
    peer.socket.write(Buffer.concat(Array.from({ length: N }, (_, s) => frameOf(u32(s)))));
    await waitFor(() => server.reader.getCurrentQueueSize() === N, { what: () => `${N} queued (have ${server.reader.getCurrentQueueSize()})`, tick: poll });
    const dg = new NetDatagram();
    for (let i = 0; i < K; i++) {
      expect(server.reader.getData(dg)).toBe(true);
      expect(Buffer.from(dg.getMessage()).readUInt32LE(0)).toBe(i);
      expect(server.reader.getCurrentQueueSize()).toBe(N - 1 - i);
    }
    // The loop has returned (this await): K new datagrams fit under the cap, none dropped.
    await Promise.resolve();
    peer.socket.write(Buffer.concat(Array.from({ length: K }, (_, s) => frameOf(u32(N + s)))));
    await waitFor(() => server.reader.getCurrentQueueSize() === N || server.reader.getDroppedCount() > 0, { what: () => `${N} queued again (have ${server.reader.getCurrentQueueSize()})`, tick: poll });
    expect(server.reader.getDroppedCount()).toBe(0);
    expect(server.reader.getOverflowFlag()).toBe(false);
    const seqs: number[] = [];
    while (server.reader.getData(dg)) seqs.push(Buffer.from(dg.getMessage()).readUInt32LE(0));
    expect(seqs).toEqual(Array.from({ length: N }, (_, i) => K + i));
    expect(server.reader.getCurrentQueueSize()).toBe(0);
  });
});
