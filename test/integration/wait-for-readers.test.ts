/**
 * `waitForReaders` (spec §4.6): blocks (bounded) until a polled reader has something to poll; with
 * a threaded reader it checks once. And `net-max-poll-cycle` bounds one poll.
 */
import { describe, expect, it } from 'vitest';
import { Datagram, NetDatagram } from '../../src/index.js';
import { MODES, acceptAll, makeClient, makeServer, waitFor } from '../helpers/net.js';

describe.each(MODES)('waitForReaders ($name)', ({ threads }) => {
  it('returns true once data is waiting, false at the timeout when none comes', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [conn] = await acceptAll(server, 1);
    expect(conn).toBeDefined();

    const t0 = performance.now();
    expect(server.manager.waitForReaders(0.4)).toBe(false);
    const waited = performance.now() - t0;
    if (threads === 0) expect(waited).toBeGreaterThanOrEqual(390); // it waited the whole timeout
    else expect(waited).toBeLessThan(200); // threaded: a single check, not a 400 ms wait

    const d = new Datagram();
    d.addUint32(42);
    client.writer.send(d, client.conn);
    if (threads === 0) {
      // The main thread blocks here while the I/O thread receives: true well before the 5 s bound.
      expect(server.manager.waitForReaders(5)).toBe(true);
      expect(server.reader.dataAvailable()).toBe(true);
    } else {
      await waitFor(() => server.reader.dataAvailable(), { what: 'the datagram' });
    }
    const got = new NetDatagram();
    expect(server.reader.getData(got)).toBe(true);
    expect(got.getMessage()).toEqual(d.getMessage());
    expect(await server.manager.waitForReadersAsync(0.02)).toBe(false);
  });
});
