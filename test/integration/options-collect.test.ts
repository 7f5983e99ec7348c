/**
 * Connection socket options (really set, read back with getsockopt) and collect-tcp timing (spec
 * §6.6, checklist item 18) with an injected clock — in every mode.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram, setNetClock, type SocketOptionName } from '../../src/index.js';
import { MODES, acceptAll, frame, makeClient, makeServer, pumpFor, rawListen, waitFor } from '../helpers/net.js';

afterEach(() => setNetClock(null));

function dg(byte: number, n = 8): Datagram {
  const d = new Datagram();
  for (let i = 0; i < n; i++) d.addUint8(byte);
  return d;
}

describe.each(MODES)('socket options ($name)', ({ threads }) => {
  it('each setter takes effect on the OS socket', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    await acceptAll(server, 1);
    const c = client.conn;
    const read = (name: SocketOptionName): number[] | null => c.getSocketOption(name);

    c.setNoDelay(true);
    expect(read('noDelay')?.[0]).toBe(1);
    c.setNoDelay(false);
    expect(read('noDelay')?.[0]).toBe(0);
    c.setKeepAlive(true);
    expect(read('keepAlive')?.[0]).toBe(1);
    c.setLinger(true, 3.9);
    expect(read('linger')).toEqual([1, 3]);
    c.setLinger(false, 0);
    expect(read('linger')?.[0]).toBe(0);
    c.setRecvBufferSize(65536);
    expect(read('recvBuffer')?.[0]).toBe(131072); // Linux doubles it
    c.setSendBufferSize(65536);
    expect(read('sendBuffer')?.[0]).toBe(131072);
    c.setIpTimeToLive(17);
    expect(read('ttl')?.[0]).toBe(17);
    c.setIpTypeOfService(0x10);
    expect(read('tos')?.[0]).toBe(0x10);
    c.setReuseAddr(true);
    expect(read('reuseAddr')?.[0]).toBe(1);
    c.setMaxSegment(1200);
    expect(read('maxSegment')?.[0]).toBeGreaterThan(0);

    // Panda's kinds: stream-only setters refuse a rendezvous; any-socket setters take it.
    expect(() => server.rendezvous.setNoDelay(true)).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_WRONG_CONNECTION_KIND' }) as Error);
    expect(() => server.rendezvous.setLinger(true, 1)).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_WRONG_CONNECTION_KIND' }) as Error);
    server.rendezvous.setRecvBufferSize(32768);
    expect(server.rendezvous.getSocketOption('recvBuffer')?.[0]).toBe(65536);
    expect(() => c.setIpTimeToLive(256)).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_VALUE_OUT_OF_RANGE' }) as Error);
  });

  it('UDP sockets take the any-socket options', () => {
    const server = makeServer(threads);
    const u = server.manager.openUDPConnection('127.0.0.1', 0);
    expect(u).not.toBeNull();
    u!.setRecvBufferSize(65536);
    expect(u!.getSocketOption('recvBuffer')?.[0]).toBe(131072);
    u!.setIpTimeToLive(9);
    expect(u!.getSocketOption('ttl')?.[0]).toBe(9);
    expect(() => u!.setSendBufferSize(1)).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_WRONG_CONNECTION_KIND' }) as Error);
  });
});

describe.each(MODES)('collect-tcp ($name)', ({ threads }) => {
  it('writes at most once per interval, piggy-backed on sends or considerFlush', async () => {
    let now = 1000; // seconds, injected
    setNetClock(() => now);
    const raw = await rawListen();
    const client = makeClient(raw.port, threads);
    const c = client.conn;
    c.setCollectTcp(true);
    c.setCollectTcpInterval(0.2);
    expect(c.getCollectTcp()).toBe(true);
    expect(c.getCollectTcpInterval()).toBe(0.2);
    const expected1 = frame(dg(1).getMessage());
    const expectedAll = Buffer.concat([expected1, frame(dg(2).getMessage()), frame(dg(3).getMessage())]);
    await waitFor(() => raw.peers.length === 1, { what: 'raw server accept' });
    const peer = raw.peers[0]!;

    expect(client.writer.send(dg(1), c)).toBe(true); // last flush was at 0: written now
    now += 0.02;
    expect(client.writer.send(dg(2), c)).toBe(true); // held
    now += 0.02;
    expect(client.writer.send(dg(3), c)).toBe(true); // held
    expect(c.considerFlush()).toBe(true); // 40 ms after the first write: nothing written
    await waitFor(() => peer.received().length >= expected1.length, { what: 'the first datagram' });
    await pumpFor(50, () => {});
    expect(peer.received()).toEqual(expected1);

    now += 0.2; // interval passed
    expect(c.considerFlush()).toBe(true);
    await waitFor(() => peer.received().length >= expectedAll.length, { what: 'the held datagrams' });
    expect(peer.received()).toEqual(expectedAll);

    // flush() writes at once regardless of the interval; closeConnection flushes first.
    now += 0.01;
    client.writer.send(dg(4), c);
    expect(c.flush()).toBe(true);
    now += 0.01;
    client.writer.send(dg(5), c);
    expect(client.manager.closeConnection(c)).toBe(true);
    const final = Buffer.concat([expectedAll, frame(dg(4).getMessage()), frame(dg(5).getMessage())]);
    await waitFor(() => peer.ended && peer.received().length >= final.length, { what: 'flush on close, then EOF' });
    expect(peer.received()).toEqual(final);
  });
});
