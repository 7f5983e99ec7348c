/**
 * `waitForReaders` (spec §4.6): blocks (bounded) until a polled reader has something to poll; with
 * a threaded reader it checks once. And `net-max-poll-cycle` bounds one poll. Also our
 * `reader.waitForDataAsync`, which the I/O threads wake, in every mode.
 */
import { describe, expect, it } from 'vitest';
import { Datagram, DatagramIterator, NetDatagram } from '../../src/index.js';
import { MODES, acceptAll, makeClient, makeServer, waitFor } from '../helpers/net.js';

describe.each(MODES)('waitForReaders ($name)', ({ threads }) => {
  it('returns true once data is waiting, false at the timeout when none comes', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [conn] = await acceptAll(server, 1);
    expect(conn).toBeDefined();

    // Compared only with the call's own timeout: polled, it waits all of it; threaded, it checks once
    // and returns (given 20 s, a wait would show).
    const timeoutS = threads === 0 ? 0.4 : 20;
    const t0 = performance.now();
    expect(server.manager.waitForReaders(timeoutS)).toBe(false);
    const waited = performance.now() - t0;
    if (threads === 0) expect(waited).toBeGreaterThanOrEqual(390); // it waited the whole timeout
    else expect(waited).toBeLessThan(timeoutS * 1000); // threaded: a single check, not a wait

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

describe.each(MODES)('reader.waitForDataAsync ($name)', ({ threads }) => {
  it('resolves false at the timeout with nothing there, true as soon as data arrives, and keeps no data back', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    await acceptAll(server, 1);
    const t0 = performance.now();
    expect(await server.reader.waitForDataAsync(150)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(145);

    // A wait in progress is woken by the delivery, before its own 20 s timeout.
    const waiting = server.reader.waitForDataAsync(20_000);
    const d = new Datagram();
    d.addUint32(7);
    const sentAt = performance.now();
    expect(client.writer.send(d, client.conn)).toBe(true);
    expect(await waiting).toBe(true);
    const wokeMs = performance.now() - sentAt;
    expect(wokeMs, `woken after ${wokeMs.toFixed(1)} ms`).toBeLessThan(20_000);
    expect(server.reader.dataAvailable()).toBe(true);
    const got = new NetDatagram();
    expect(server.reader.getData(got)).toBe(true);
    expect(got.getMessage()).toEqual(d.getMessage());

    // An event-driven loop takes a burst with no polling in between.
    const N = 200;
    for (let k = 0; k < N; k++) {
      const m = new Datagram();
      m.addUint32(k);
      expect(client.writer.send(m, client.conn)).toBe(true);
    }
    const seen: number[] = [];
    while (seen.length < N && (await server.reader.waitForDataAsync(5000))) {
      while (server.reader.dataAvailable() && server.reader.getData(got)) seen.push(new DatagramIterator(got).getUint32());
    }
    expect(seen).toEqual(Array.from({ length: N }, (_, k) => k));
  });

  it('a wait in progress ends (false) when the reader is shut down', async () => {
    const server = makeServer(threads);
    const waiting = server.reader.waitForDataAsync(20_000);
    const t0 = performance.now();
    server.reader.shutdown();
    expect(await waiting).toBe(false);
    expect(performance.now() - t0).toBeLessThan(20_000); // ended by the shutdown, not by its own timeout
  });

  it('rejects a negative or NaN timeout with a typed error', async () => {
    const server = makeServer(threads);
    await expect(server.reader.waitForDataAsync(-1)).rejects.toMatchObject({ code: 'ERR_PANDANET_VALUE_OUT_OF_RANGE' });
    await expect(server.reader.waitForDataAsync(Number.NaN)).rejects.toMatchObject({ code: 'ERR_PANDANET_VALUE_OUT_OF_RANGE' });
  });
});
