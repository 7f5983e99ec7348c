import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidArgumentError, ValueRangeError } from '../../src/errors.js';
import { NetAddress } from '../../src/main/net-address.js';
import { resolveHostAsync, resolveHostSync } from '../../src/main/resolve-sync.js';

const NO_SUCH_HOST = 'no.such.host.invalid'; // reserved TLD (RFC 6761): never resolves, nothing leaves the machine

describe('NetAddress basics', () => {
  it('default is IPv4 0.0.0.0:0; copy constructor copies', () => {
    const a = new NetAddress();
    expect(a.getFamily()).toBe(4);
    expect(a.getIpString()).toBe('0.0.0.0');
    expect(a.getPort()).toBe(0);
    expect(a.isAny()).toBe(true);
    expect(a.toString()).toBe('0.0.0.0:0');
    a.setHost('::1', 80);
    const b = new NetAddress(a);
    expect(b.equals(a)).toBe(true);
    a.setPort(81);
    expect(b.getPort()).toBe(80);
    expect(() => new NetAddress({} as NetAddress)).toThrow(InvalidArgumentError);
  });

  it('setAny / setLocalhost / setBroadcast / clear', () => {
    const a = new NetAddress();
    expect(a.setLocalhost(5)).toBe(true);
    expect(a.toString()).toBe('127.0.0.1:5');
    expect(a.isAny()).toBe(false);
    expect(a.setBroadcast(6)).toBe(true);
    expect(a.toString()).toBe('255.255.255.255:6');
    expect(a.setAny(7)).toBe(true);
    expect(a.toString()).toBe('0.0.0.0:7');
    expect(a.isAny()).toBe(true);
    a.setHost('::1', 9);
    a.clear();
    expect(a.toString()).toBe('0.0.0.0:0');
    expect(a.getFamily()).toBe(4);
  });

  it('§12 item 19: broadcast special case, getIp, getIpComponent', () => {
    const a = new NetAddress();
    expect(a.setHost('255.255.255.255', 9)).toBe(true);
    expect(a.toString()).toBe('255.255.255.255:9');
    expect(a.getIp()).toBe(0xffffffff);
    expect(a.setHost('1.2.3.4', 80)).toBe(true);
    expect(a.getIp()).toBe(0x04030201);
    expect([0, 1, 2, 3].map((n) => a.getIpComponent(n))).toEqual([1, 2, 3, 4]);
    expect(a.getIpComponent(0)).toBe(1);
    expect(a.getHash()).toBe((0x04030201 ^ (80 << 16)) >>> 0);
    expect(new NetAddress().getIp()).toBe(0);
    const hi = NetAddress.fromHostPort('200.1.2.250', 1);
    expect(hi.getIp()).toBe(0xfa0201c8);
  });

  it('§12 item 19: an unresolvable name returns false and leaves the address unchanged', () => {
    const a = NetAddress.fromHostPort('10.0.0.1', 1234);
    expect(a.setHost(NO_SUCH_HOST, 1)).toBe(false);
    expect(a.toString()).toBe('10.0.0.1:1234');
    expect(a.setHost('', 1)).toBe(false);
    expect(a.setHost('[::1]', 1)).toBe(false);
    expect(a.toString()).toBe('10.0.0.1:1234');
  });

  it('setHostAsync: same rules without blocking', async () => {
    const a = NetAddress.fromHostPort('10.0.0.1', 1234);
    expect(await a.setHostAsync(NO_SUCH_HOST, 1)).toBe(false);
    expect(a.toString()).toBe('10.0.0.1:1234');
    expect(await a.setHostAsync('::FFFF:1.2.3.4', 2)).toBe(true);
    expect(a.toString()).toBe('[::ffff:1.2.3.4]:2');
    expect(await a.setHostAsync('LocalHost', 3)).toBe(true);
    expect(a.toString()).toBe('127.0.0.1:3');
    await expect(a.setHostAsync('x', 70000)).rejects.toBeInstanceOf(ValueRangeError);
  });

  it('"localhost" is IPv4 127.0.0.1 without a lookup', () => {
    const a = new NetAddress();
    expect(a.setHost('localhost', 8)).toBe(true);
    expect(a.toString()).toBe('127.0.0.1:8');
    expect(a.getIp()).toBe(0x0100007f);
  });
});

describe('NetAddress IPv6', () => {
  it('literals are canonicalised (lower case, compressed, dotted mapped/compatible forms, scope kept)', () => {
    const cases: [string, string][] = [
      ['::1', '::1'],
      ['::', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['1::', '1::'],
      ['::FFFF:1.2.3.4', '::ffff:1.2.3.4'],
      ['::ffff:0102:0304', '::ffff:1.2.3.4'],
      ['::1.2.3.4', '::1.2.3.4'],
      ['::2', '::2'],
      ['fe80::1%eth0', 'fe80::1%eth0'],
      ['FE80:0::A%3', 'fe80::a%3'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ];
    for (const [input, canonical] of cases) {
      const a = NetAddress.fromHostPort(input, 1);
      expect(a.getIpString(), input).toBe(canonical);
      expect(a.getFamily()).toBe(6);
      expect(a.isIpv6()).toBe(true);
      const b = new NetAddress();
      expect(b.setHost(input, 1)).toBe(true);
      expect(b.equals(a)).toBe(true);
    }
  });

  it('toString forms', () => {
    expect(NetAddress.fromHostPort('::1', 80).toString()).toBe('[::1]:80');
    expect(NetAddress.fromHostPort('::ffff:127.0.0.1', 54321).toString()).toBe('[::ffff:127.0.0.1]:54321');
    expect(NetAddress.fromHostPort('fe80::1%eth0', 7).toString()).toBe('[fe80::1%eth0]:7');
    expect(NetAddress.fromHostPort('1.2.3.4', 80).toString()).toBe('1.2.3.4:80');
    expect(`${NetAddress.fromHostPort('::1', 80)}`).toBe('[::1]:80');
  });

  it('§12 item 19 / §9.3: IPv4-mapped peers print ::ffff:… and getIp gives the IPv4 value', () => {
    const a = NetAddress.fromHostPort('::ffff:127.0.0.1', 54321);
    expect(a.getIpString()).toBe('::ffff:127.0.0.1');
    expect(a.getIp()).toBe(0x0100007f);
    expect([0, 1, 2, 3].map((n) => a.getIpComponent(n))).toEqual([127, 0, 0, 1]);
    const compat = NetAddress.fromHostPort('::1.2.3.4', 1);
    expect(compat.getIp()).toBe(0x04030201);
    // Different family from the IPv4 form, as in Panda.
    expect(a.equals(NetAddress.fromHostPort('127.0.0.1', 54321))).toBe(false);
  });

  it('getIp of ::1 is 0x0100007f (Q6 fix); genuine IPv6 throws', () => {
    const lo = NetAddress.fromHostPort('::1', 1);
    expect(lo.getIp()).toBe(0x0100007f);
    expect(lo.getIpComponent(0)).toBe(127);
    expect(lo.getIpComponent(3)).toBe(1);
    for (const s of ['2001:db8::1', '::', 'fe80::1%eth0', '::ffff:0:1.2.3.4']) {
      const a = NetAddress.fromHostPort(s, 1);
      expect(() => a.getIp(), s).toThrow(InvalidArgumentError);
      expect(() => a.getIpComponent(0), s).toThrow(InvalidArgumentError);
    }
  });

  it('isAny for :: and 0.0.0.0 only', () => {
    expect(NetAddress.fromHostPort('::', 5).isAny()).toBe(true);
    expect(NetAddress.fromHostPort('0.0.0.0', 5).isAny()).toBe(true);
    expect(NetAddress.fromHostPort('::1', 5).isAny()).toBe(false);
    expect(NetAddress.fromHostPort('::ffff:0.0.0.0', 5).isAny()).toBe(false);
  });

  it('equality and hash are correct for IPv6 (Q5 fix)', () => {
    const a = NetAddress.fromHostPort('2001:db8::1', 80);
    const b = NetAddress.fromHostPort('2001:0DB8:0:0::0001', 80);
    expect(a.equals(b)).toBe(true);
    expect(a.getHash()).toBe(b.getHash());
    expect(a.equals(NetAddress.fromHostPort('2001:db8::1', 81))).toBe(false); // Panda got this one backwards
    expect(a.equals(NetAddress.fromHostPort('2001:db8::2', 80))).toBe(false);
    expect(NetAddress.fromHostPort('fe80::1%eth0', 1).equals(NetAddress.fromHostPort('fe80::1%eth1', 1))).toBe(false);
    expect(NetAddress.fromHostPort('fe80::1%eth0', 1).getHash()).not.toBe(NetAddress.fromHostPort('fe80::1%eth1', 1).getHash());
    expect(a.getHash()).not.toBe(NetAddress.fromHostPort('2001:db8::1', 81).getHash());
    expect(NetAddress.fromHostPort('::1.2.3.4', 1).getHash()).not.toBe(NetAddress.fromHostPort('1.2.3.4', 1).getHash());
    const h = a.getHash();
    expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
    expect(a.equals(null as unknown as NetAddress)).toBe(false);
  });
});

describe('NetAddress validation and unspecified family', () => {
  it('every port parameter is validated 0..65535 (ValueRangeError)', () => {
    const a = NetAddress.fromHostPort('1.2.3.4', 5);
    for (const bad of [-1, 65536, 1.5, Number.NaN, Infinity]) {
      for (const f of [
        () => a.setAny(bad),
        () => a.setLocalhost(bad),
        () => a.setBroadcast(bad),
        () => a.setHost('1.2.3.4', bad),
        () => a.setHost(NO_SUCH_HOST, bad),
        () => a.setPort(bad),
        () => NetAddress.fromHostPort('1.2.3.4', bad),
      ]) {
        let err: unknown;
        try {
          f();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(ValueRangeError);
        expect((err as ValueRangeError).code).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
      }
    }
    expect(a.toString()).toBe('1.2.3.4:5');
    a.setPort(65535);
    expect(a.getPort()).toBe(65535);
    a.setPort(0);
    expect(a.getPort()).toBe(0);
  });

  it('getIpComponent index outside 0..3 → ValueRangeError', () => {
    const a = NetAddress.fromHostPort('1.2.3.4', 5);
    for (const n of [-1, 4, 1.5]) expect(() => a.getIpComponent(n)).toThrow(ValueRangeError);
  });

  it('fromHostPort accepts numeric literals only', () => {
    for (const s of ['localhost', 'example.com', '[::1]', '1.2.3', '01.2.3.4', '1.2.3.4:80', '', 'fe80::1%']) {
      expect(() => NetAddress.fromHostPort(s, 1), s).toThrow(InvalidArgumentError);
    }
  });

  it('unspecified family: isAny, getIpString/getIp/toString throw', () => {
    const u = NetAddress.unspecified();
    expect(u.getFamily()).toBe(0);
    expect(u.isIpv6()).toBe(false);
    expect(u.isAny()).toBe(true);
    expect(u.getPort()).toBe(0);
    expect(() => u.getIpString()).toThrow(InvalidArgumentError);
    expect(() => u.getIp()).toThrow(InvalidArgumentError);
    expect(() => u.getIpComponent(0)).toThrow(InvalidArgumentError);
    expect(() => u.toString()).toThrow(InvalidArgumentError);
    expect(u.equals(NetAddress.unspecified())).toBe(true);
    expect(u.equals(new NetAddress())).toBe(false);
    expect(u.getHash()).toBe(NetAddress.unspecified().getHash());
    const c = new NetAddress(u);
    expect(c.getFamily()).toBe(0);
    c.setHost('::1', 3);
    expect(c.toString()).toBe('[::1]:3');
  });

  it('non-string host names are rejected', () => {
    expect(() => new NetAddress().setHost(42 as unknown as string, 1)).toThrow(InvalidArgumentError);
  });
});

describe('resolveHostSync / resolveHostAsync', () => {
  it('returns null for a name under .invalid, before its timeout and without throwing', () => {
    const t = Date.now();
    expect(resolveHostSync(NO_SUCH_HOST, 20_000)).toBeNull();
    expect(Date.now() - t).toBeLessThan(20_000); // the resolver answered; the call's own timeout did not end it
  });

  it('resolves a literal through the worker and honours the timeout argument', () => {
    expect(resolveHostSync('127.0.0.1')).toEqual({ address: '127.0.0.1', family: 4 });
    expect(resolveHostSync('', 100)).toBeNull();
    expect(() => resolveHostSync('x', -1)).toThrow(ValueRangeError);
    // A zero timeout gives up at once (the worker has not even started).
    expect(resolveHostSync('127.0.0.1', 0)).toBeNull();
  });

  it('async resolution', async () => {
    expect(await resolveHostAsync(NO_SUCH_HOST)).toBeNull();
    expect(await resolveHostAsync('127.0.0.1')).toEqual({ address: '127.0.0.1', family: 4 });
  });
});
