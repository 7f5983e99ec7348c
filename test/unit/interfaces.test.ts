/**
 * Interface scan (spec §2.1.4, Q14, Q21): the live list of this machine and a synthetic table for the
 * exact rules (one entry per address, IPv6 filter, broadcast, MAC form, output format).
 */
import type os from 'node:os';
import { describe, expect, it } from 'vitest';
import { ErrorCode, NetAddress, PandaNetError, ValueRangeError } from '../../src/index.js';
import { InterfaceList, NetInterface, buildInterfaces, formatMacAddress, scanInterfaces } from '../../src/main/interfaces.js';

const MAC_RE = /^[0-9a-f]{2}(-[0-9a-f]{2}){5}$/;

function v4(address: string, netmask: string, mac: string, internal: boolean): os.NetworkInterfaceInfo {
  return { address, netmask, family: 'IPv4', mac, internal, cidr: null };
}
function v6(address: string, netmask: string, mac: string, internal: boolean, scopeid = 0): os.NetworkInterfaceInfo {
  return { address, netmask, family: 'IPv6', mac, internal, cidr: null, scopeid };
}

const TABLE: NodeJS.Dict<os.NetworkInterfaceInfo[]> = {
  lo: [v4('127.0.0.1', '255.0.0.0', '00:00:00:00:00:00', true), v6('::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '00:00:00:00:00:00', true)],
  eth0: [
    v4('192.0.2.2', '255.255.255.0', '02:FC:00:00:00:01', false),
    v6('fd00::2', 'ffff:ffff:ffff:ffff::', '02:fc:00:00:00:01', false),
    v6('fe80::fc:ff:fe00:1', 'ffff:ffff:ffff:ffff::', '02:fc:00:00:00:01', false, 4),
  ],
  wlan0: [v4('10.1.2.3', '255.255.240.0', 'a4:5e:60:0b:0c:0d', false)],
};

describe('interfaces: this machine', () => {
  it('the list is non-empty and holds loopback 127.0.0.1/255.0.0.0 without broadcast', () => {
    const list = scanInterfaces(true);
    expect(list.length).toBeGreaterThan(0);
    const lo = list.find((i) => i.hasIp() && i.getIp().getIpString() === '127.0.0.1');
    expect(lo).toBeDefined();
    expect(lo!.hasNetmask()).toBe(true);
    expect(lo!.getNetmask().getIpString()).toBe('255.0.0.0');
    expect(lo!.getIp().getPort()).toBe(0);
    expect(lo!.hasBroadcast()).toBe(false);
    expect(lo!.hasP2p()).toBe(false);
    expect(lo!.ipv6).toBe(false);
    expect(lo!.operational).toBe(true);
    expect(lo!.toString()).toBe(`${lo!.getName()} [ operational 127.0.0.1 netmask 255.0.0.0 ]`);
  });

  it('every MAC is "" or Panda\'s xx-xx-xx-xx-xx-xx form; IPv6 entries only with supportIpv6', () => {
    const all = scanInterfaces(true);
    for (const i of all) {
      const mac = i.getMacAddress();
      expect(mac === '' || MAC_RE.test(mac), `${i.getName()}: ${mac}`).toBe(true);
      expect(i.hasP2p()).toBe(false);
      if (i.ipv6) expect(i.hasBroadcast()).toBe(false);
    }
    const v4only = scanInterfaces(false);
    expect(v4only.every((i) => !i.ipv6)).toBe(true);
    expect(v4only.length).toBe(all.filter((i) => !i.ipv6).length);
  });

  it('InterfaceList: scans on first use, out of range throws ValueRangeError (Q21)', () => {
    const list = new InterfaceList(true);
    expect(list.isScanned()).toBe(false);
    const n = list.getNumInterfaces();
    expect(list.isScanned()).toBe(true);
    expect(n).toBeGreaterThan(0);
    expect(list.getInterfaces()).toHaveLength(n);
    expect(list.getInterface(0)).toBeInstanceOf(NetInterface);
    for (const bad of [n, -1, 0.5, Number.NaN]) {
      let err: unknown;
      try {
        list.getInterface(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValueRangeError);
      expect((err as PandaNetError).code).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
      expect((err as PandaNetError).code).toBe('ERR_PANDANET_VALUE_OUT_OF_RANGE');
    }
  });
});

describe('interfaces: scan rules (synthetic table)', () => {
  it('one entry per address, in order; IPv6 filtered by supportIpv6', () => {
    const all = buildInterfaces(TABLE, true);
    expect(all.map((i) => `${i.getName()} ${i.getIp().getIpString()}`)).toEqual([
      'lo 127.0.0.1',
      'lo ::1',
      'eth0 192.0.2.2',
      'eth0 fd00::2',
      'eth0 fe80::fc:ff:fe00:1%eth0',
      'wlan0 10.1.2.3',
    ]);
    expect(buildInterfaces(TABLE, false).map((i) => i.getIp().getIpString())).toEqual(['127.0.0.1', '192.0.2.2', '10.1.2.3']);
  });

  it('broadcast = ip | ~netmask for non-loopback IPv4 only', () => {
    const [lo4, lo6, eth4, eth6, ll6, wlan] = buildInterfaces(TABLE, true);
    expect(lo4!.hasBroadcast()).toBe(false);
    expect(lo6!.hasBroadcast()).toBe(false);
    expect(eth4!.getBroadcast().getIpString()).toBe('192.0.2.255');
    expect(wlan!.getBroadcast().getIpString()).toBe('10.1.15.255');
    expect(eth6!.hasBroadcast()).toBe(false);
    expect(ll6!.hasBroadcast()).toBe(false);
    expect(eth6!.getNetmask().getIpString()).toBe('ffff:ffff:ffff:ffff::');
    // Absent addresses read as Panda's default 0.0.0.0:0.
    expect(lo4!.getBroadcast().equals(new NetAddress())).toBe(true);
    expect(lo4!.getP2p().equals(new NetAddress())).toBe(true);
  });

  it('MAC: Panda\'s Windows form, lower case; all-zero (none) becomes ""', () => {
    const [lo4, , eth4, , , wlan] = buildInterfaces(TABLE, true);
    expect(lo4!.getMacAddress()).toBe('');
    expect(eth4!.getMacAddress()).toBe('02-fc-00-00-00-01');
    expect(wlan!.getMacAddress()).toBe('a4-5e-60-0b-0c-0d');
    expect(formatMacAddress('00:1A:2B:3C:4D:5E')).toBe('00-1a-2b-3c-4d-5e');
    expect(formatMacAddress('00:00:00:00:00:00')).toBe('');
    expect(formatMacAddress('')).toBe('');
  });

  it('toString: "name [ operational ipv6 <ip> netmask <m> broadcast <b> p2p <p> ]", each part only if present', () => {
    const [lo4, lo6, eth4, , ll6] = buildInterfaces(TABLE, true);
    expect(lo4!.toString()).toBe('lo [ operational 127.0.0.1 netmask 255.0.0.0 ]');
    expect(lo6!.toString()).toBe('lo [ operational ipv6 ::1 netmask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ]');
    expect(eth4!.toString()).toBe('eth0 [ operational 192.0.2.2 netmask 255.255.255.0 broadcast 192.0.2.255 ]');
    expect(ll6!.toString()).toBe('eth0 [ operational ipv6 fe80::fc:ff:fe00:1%eth0 netmask ffff:ffff:ffff:ffff:: ]');
    const bare = new NetInterface({ name: 'x', macAddress: '', ip: null, netmask: null, broadcast: null, p2p: null, operational: false });
    expect(bare.toString()).toBe('x [ ]');
    expect(bare.hasIp()).toBe(false);
    expect(bare.isIpv6()).toBe(false);
    expect(bare.isOperational()).toBe(false);
    const p2p = new NetInterface({
      name: 'ppp0',
      macAddress: '',
      ip: NetAddress.fromHostPort('10.0.0.1', 0),
      netmask: NetAddress.fromHostPort('255.255.255.255', 0),
      broadcast: null,
      p2p: NetAddress.fromHostPort('10.0.0.2', 0),
      operational: true,
    });
    expect(p2p.toString()).toBe('ppp0 [ operational 10.0.0.1 netmask 255.255.255.255 p2p 10.0.0.2 ]');
    expect(p2p.getP2p().getIpString()).toBe('10.0.0.2');
  });

  it('getters return copies: mutating one does not change the entry', () => {
    const [, , eth4] = buildInterfaces(TABLE, true);
    const ip = eth4!.getIp();
    ip.setPort(80);
    expect(eth4!.getIp().getPort()).toBe(0);
  });

  it('InterfaceList caches until scan(); an empty list throws for getInterface(0)', () => {
    let calls = 0;
    let table: NodeJS.Dict<os.NetworkInterfaceInfo[]> = TABLE;
    const list = new InterfaceList(false, () => {
      calls++;
      return table;
    });
    expect(list.getNumInterfaces()).toBe(3);
    expect(list.getInterface(2).getName()).toBe('wlan0');
    expect(list.getInterfaces()).toHaveLength(3);
    expect(calls).toBe(1);
    table = {};
    expect(list.getNumInterfaces()).toBe(3); // cached
    list.scan();
    expect(calls).toBe(2);
    expect(list.getNumInterfaces()).toBe(0);
    expect(() => list.getInterface(0)).toThrow(ValueRangeError);
  });
});
