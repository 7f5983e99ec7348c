/**
 * Addresses across the open calls: IPv6 literals, host names, IPv6 sockets seeing IPv4 peers
 * IPv4-mapped (spec §9.3), plain IPv4 for IPv4 addresses — in every mode. Loopback only.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  ConnectionWriter,
  NetAddress,
  NetDatagram,
  PointerToConnection,
  PyDatagram,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  type Connection,
} from '../../src/index.js';
import { MODES, waitFor } from '../helpers/net.js';

function manager(threads: number) {
  const m = new QueuedConnectionManager();
  onTestFinished(() => void m.shutdown());
  return { m, listener: new QueuedConnectionListener(m, threads), reader: new QueuedConnectionReader(m, threads), writer: new ConnectionWriter(m, threads) };
}

async function acceptOne(listener: QueuedConnectionListener): Promise<{ conn: Connection; address: NetAddress }> {
  const rv = new PointerToConnection();
  const address = new NetAddress();
  const nc = new PointerToConnection();
  await waitFor(() => listener.newConnectionAvailable() && listener.getNewConnection(rv, address, nc), { what: 'an accept' });
  return { conn: nc.p()!, address };
}

describe.each(MODES)('addresses ($name)', ({ threads }) => {
  it('IPv6 loopback literal for both ends', async () => {
    const s = manager(threads);
    const rv = s.m.openTCPServerRendezvous('::1', 0, 10)!;
    expect(rv.getLocalAddress().toString()).toMatch(/^\[::1\]:\d+$/);
    s.listener.addConnection(rv);
    const c = s.m.openTCPClientConnection('::1', rv.getLocalAddress().getPort(), 3000)!;
    expect(c.getAddress().getIpString()).toBe('::1');
    const { address } = await acceptOne(s.listener);
    expect(address.getIpString()).toBe('::1');
    expect(address.getPort()).toBe(c.getLocalAddress().getPort());
  });

  it('NetAddress form and host names', async () => {
    const s = manager(threads);
    const where = new NetAddress();
    expect(where.setHost('127.0.0.1', 0)).toBe(true);
    const rv = s.m.openTCPServerRendezvous(where, 10)!;
    s.listener.addConnection(rv);
    const to = new NetAddress();
    expect(to.setHost('localhost', rv.getLocalAddress().getPort())).toBe(true);
    const c = s.m.openTCPClientConnection(to, 3000);
    expect(c).not.toBeNull();
    await acceptOne(s.listener);
    // An unresolvable name: null and a logged reason (Panda binds 0.0.0.0:0 instead, Q4).
    expect(s.m.openTCPServerRendezvous('no.such.host.invalid', 0, 10)).toBeNull();
    expect(s.m.getLastError()?.errno).toBe('ENOTFOUND');
    expect(s.m.openTCPClientConnection('no.such.host.invalid', 1, 1000)).toBeNull();
  });

  it('an IPv6 socket sees IPv4 peers as ::ffff:a.b.c.d (what a dual-stack port-only rendezvous reports)', async () => {
    const s = manager(threads);
    // The port-only overload binds [::] (all interfaces); tests stay on loopback, so bind the
    // IPv4-mapped loopback address: the same IPv6 socket type and the same peer addresses.
    const rv = s.m.openTCPServerRendezvous('::ffff:127.0.0.1', 0, 10)!;
    expect(rv.getLocalAddress().getIpString()).toBe('::ffff:127.0.0.1');
    s.listener.addConnection(rv);
    s.m.openTCPClientConnection('127.0.0.1', rv.getLocalAddress().getPort(), 3000);
    const { conn, address } = await acceptOne(s.listener);
    expect(address.getIpString()).toBe('::ffff:127.0.0.1');
    expect(conn.getAddress().toString()).toMatch(/^\[::ffff:127\.0\.0\.1\]:\d+$/);
    expect(address.getIp()).toBe(0x0100007f); // the IPv4 part, as Panda's get_ip
  });

  it('an IPv4 literal gives a plain IPv4 socket: peers are not mapped', async () => {
    const s = manager(threads);
    const rv = s.m.openTCPServerRendezvous('127.0.0.1', 0, 10)!;
    s.listener.addConnection(rv);
    s.m.openTCPClientConnection('127.0.0.1', rv.getLocalAddress().getPort(), 3000);
    const { address } = await acceptOne(s.listener);
    expect(address.getIpString()).toBe('127.0.0.1');
    expect(address.getFamily()).toBe(4);
  });
});

describe.each(MODES)('addresses are values, never shared state ($name)', ({ threads }) => {
  /** A served TCP connection, its client, and one datagram the server took into `dg` (by `getData` or the recent reader). */
  async function served(take: (s: ReturnType<typeof manager>, dg: NetDatagram) => boolean) {
    const s = manager(threads);
    const rv = s.m.openTCPServerRendezvous('127.0.0.1', 0, 10)!;
    s.listener.addConnection(rv);
    const c = s.m.openTCPClientConnection('127.0.0.1', rv.getLocalAddress().getPort(), 3000)!;
    const { conn } = await acceptOne(s.listener);
    s.reader.addConnection(conn);
    const out = new PyDatagram();
    out.addUint8(7);
    expect(s.writer.send(out, c)).toBe(true);
    const dg = new NetDatagram();
    await waitFor(() => take(s, dg), { what: 'one datagram', tick: () => s.reader.dataAvailable() });
    return { conn, dg, port: c.getLocalAddress().getPort() };
  }

  it('NetDatagram.getAddress() is a copy: changing it leaves the connection and the datagram as they were', async () => {
    const { conn, dg, port } = await served((s, d) => s.reader.dataAvailable() && s.reader.getData(d));
    expect(dg.getAddress().getPort()).toBe(port);
    dg.getAddress().setPort(1);
    expect(conn.getAddress().getPort()).toBe(port);
    expect(dg.getAddress().getPort()).toBe(port);
    // setAddress keeps a copy of its argument (Panda's NetDatagram stores the address by value).
    const mine = NetAddress.fromHostPort('127.0.0.1', 4242);
    dg.setAddress(mine);
    mine.setPort(4343);
    expect(dg.getAddress().getPort()).toBe(4242);
    expect(dg.copy().getAddress().getPort()).toBe(4242);
  });

  it('Connection.getAddress() / getLocalAddress() are copies', async () => {
    const { conn, port } = await served((s, d) => s.reader.dataAvailable() && s.reader.getData(d));
    conn.getAddress().setPort(1);
    const local = conn.getLocalAddress().getPort();
    conn.getLocalAddress().setPort(2);
    expect(conn.getAddress().getPort()).toBe(port);
    expect(conn.getLocalAddress().getPort()).toBe(local);
  });
});
