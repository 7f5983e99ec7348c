/** The stats API (not in Panda): per-thread, per-reader, per-writer and per-connection counters. */
import { describe, expect, it } from 'vitest';
import { Datagram, NetDatagram } from '../../src/index.js';
import { MODES, acceptAll, makeClient, makeServer, waitFor } from '../helpers/net.js';

describe.each(MODES)('stats ($name)', ({ threads }) => {
  it('counts datagrams and bytes per connection, per thread, and shows queues', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads, 2);
    const accepted = await acceptAll(server, 2);
    const d = new Datagram();
    d.padBytes(10);
    for (let i = 0; i < 5; i++) client.writer.send(d, client.connections[0]!);
    for (let i = 0; i < 3; i++) client.writer.send(d, client.connections[1]!);
    const got = new NetDatagram();
    let n = 0;
    await waitFor(() => n === 8, { what: () => `8 datagrams (have ${n})`, tick: () => {
      while (server.reader.dataAvailable()) if (server.reader.getData(got)) n++;
    } });
    const perConn = accepted.map((c) => c.getStats());
    expect(perConn.map((s) => s.datagramsIn).sort()).toEqual([3, 5]);
    expect(perConn.reduce((a, s) => a + s.bytesIn, 0)).toBe(80);
    expect(client.connections[0]!.getStats()).toEqual({ datagramsIn: 0, bytesIn: 0, datagramsOut: 5, bytesOut: 50 });

    const st = server.manager.getStats();
    expect(st.connections).toBe(3); // the rendezvous and two streams
    expect(st.threads.length).toBe(Math.max(1, threads));
    expect(st.threads.reduce((a, t) => a + t.datagramsIn, 0)).toBe(8);
    expect(st.threads.reduce((a, t) => a + t.accepts, 0)).toBe(2);
    const readerStats = st.readers.find((r) => !r.polled === threads > 0 && r.maxQueue === 50_000);
    expect(readerStats).toBeDefined();
    expect(readerStats!.queued).toBe(0);
    expect(readerStats!.overflow).toBe(false);
    expect(st.writers).toEqual([{ slot: expect.any(Number) as number, threads, queued: 0, maxQueue: 10_000 }]);

    client.manager.closeConnection(client.connections[0]!);
    await waitFor(() => server.manager.getStats().resetsReported === 1, { what: 'one reset', tick: () => server.manager.resetConnectionAvailable() });
  });
});
