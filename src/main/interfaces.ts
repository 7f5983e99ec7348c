/**
 * Panda's `ConnectionManager.Interface` and the interface scan (spec §2.1.4), from
 * `os.networkInterfaces()`.
 *
 * One {@link NetInterface} per address, as Panda 1.11 does on every platform: an interface with an IPv4
 * and an IPv6 address gives two entries. IPv6 entries are listed only when IPv6 is supported
 * (`supportIpv6`, Panda's `support-ipv6`).
 *
 * Differences from Panda, all deliberate:
 * - Q14: the MAC address is filled everywhere (Panda fills it on Windows only), in Panda's Windows
 *   form `00-1a-2b-3c-4d-5e`. Node reports `00:00:00:00:00:00` when an interface has no hardware
 *   address (loopback, tunnels); that becomes `""`, as Panda's Windows scan leaves it.
 * - The broadcast address is computed as `ip | ~netmask` for IPv4 entries that are not loopback
 *   (Panda on Windows computes it the same way; on POSIX it asks the kernel). Never for IPv6.
 * - Point-to-point destinations: Node does not expose them, so `hasP2p()` is always false.
 * - `operational`: libuv (behind `os.networkInterfaces()`) lists only interfaces that are up and
 *   running, so every entry is operational (Panda reports `IFF_RUNNING`, which is the same set).
 * - Q21: `getInterface(n)` out of range throws {@link ValueRangeError} (Panda asserts, or crashes on
 *   an empty list).
 *
 * Thread: main thread only for {@link InterfaceList} and {@link scanInterfaces} (they read the OS
 * table); {@link NetInterface}, {@link buildInterfaces} and {@link formatMacAddress} are pure (any).
 * @module
 */
import os from 'node:os';
import { ValueRangeError } from '../errors.js';
import { NetAddress } from './net-address.js';

/**
 * What a {@link NetInterface} is made from. Addresses are copied in; absent ones are `null`.
 * Thread: any.
 */
export interface NetInterfaceInit {
  /** Interface name (`eth0`, `lo`, Windows' friendly name). */
  name: string;
  /** MAC address in Panda's form (`00-1a-2b-3c-4d-5e`), or `""` when there is none. */
  macAddress: string;
  /** This entry's address (port 0). */
  ip: NetAddress | null;
  /** Its netmask (port 0). */
  netmask: NetAddress | null;
  /** IPv4 broadcast address (port 0). */
  broadcast: NetAddress | null;
  /** Point-to-point destination (port 0). */
  p2p: NetAddress | null;
  /** The interface is up and running. */
  operational: boolean;
}

/** The unset form of an address accessor: Panda returns a default (`0.0.0.0:0`) NetAddress. */
function copyOrDefault(a: NetAddress | null): NetAddress {
  return a === null ? new NetAddress() : new NetAddress(a);
}

/**
 * Panda's `ConnectionManager.Interface`: one address of one network interface. Immutable; the
 * address getters return copies.
 *
 * Thread: any (a pure value).
 */
export class NetInterface {
  readonly #name: string;
  readonly #mac: string;
  readonly #ip: NetAddress | null;
  readonly #netmask: NetAddress | null;
  readonly #broadcast: NetAddress | null;
  readonly #p2p: NetAddress | null;
  readonly #operational: boolean;

  /**
   * Made by the interface scan; public so tests and tools can build one.
   * Thread: any.
   */
  constructor(init: NetInterfaceInit) {
    this.#name = String(init.name);
    this.#mac = String(init.macAddress);
    this.#ip = init.ip === null ? null : new NetAddress(init.ip);
    this.#netmask = init.netmask === null ? null : new NetAddress(init.netmask);
    this.#broadcast = init.broadcast === null ? null : new NetAddress(init.broadcast);
    this.#p2p = init.p2p === null ? null : new NetAddress(init.p2p);
    this.#operational = Boolean(init.operational);
  }

  /** The interface name (`eth0`, `lo`). Thread: any. */
  getName(): string {
    return this.#name;
  }

  /**
   * The MAC address as two lower-case hex digits per byte joined by `-` (`02-fc-00-00-00-01`), or
   * `""` when the interface has none (loopback). Filled on every platform (Panda: Windows only, Q14).
   * Thread: any.
   */
  getMacAddress(): string {
    return this.#mac;
  }

  /** True if this entry has an address (always, for scanned entries). Thread: any. */
  hasIp(): boolean {
    return this.#ip !== null;
  }

  /** This entry's address, port 0 (a copy; `0.0.0.0:0` when {@link hasIp} is false). Thread: any. */
  getIp(): NetAddress {
    return copyOrDefault(this.#ip);
  }

  /** True if a netmask is known. Thread: any. */
  hasNetmask(): boolean {
    return this.#netmask !== null;
  }

  /** The netmask, port 0 (a copy; `0.0.0.0:0` when {@link hasNetmask} is false). Thread: any. */
  getNetmask(): NetAddress {
    return copyOrDefault(this.#netmask);
  }

  /** True for IPv4 entries that are not loopback (the broadcast address is then computed). Thread: any. */
  hasBroadcast(): boolean {
    return this.#broadcast !== null;
  }

  /** The broadcast address `ip | ~netmask`, port 0 (a copy; `0.0.0.0:0` when absent). Thread: any. */
  getBroadcast(): NetAddress {
    return copyOrDefault(this.#broadcast);
  }

  /**
   * Always false for scanned entries: Node does not expose point-to-point destinations (Panda reports
   * them on POSIX only). Thread: any.
   */
  hasP2p(): boolean {
    return this.#p2p !== null;
  }

  /** The point-to-point destination, port 0 (a copy; `0.0.0.0:0` when absent). Thread: any. */
  getP2p(): NetAddress {
    return copyOrDefault(this.#p2p);
  }

  /** Panda 1.11's `operational` property: the interface is up and running. Thread: any. */
  get operational(): boolean {
    return this.#operational;
  }

  /** Panda 1.11's `ipv6` property: this entry holds an IPv6 address. Thread: any. */
  get ipv6(): boolean {
    return this.#ip !== null && this.#ip.isIpv6();
  }

  /** Same as the {@link operational} property (Panda's `is_operational`). Thread: any. */
  isOperational(): boolean {
    return this.operational;
  }

  /** Same as the {@link ipv6} property (Panda's `is_ipv6`). Thread: any. */
  isIpv6(): boolean {
    return this.ipv6;
  }

  /**
   * Panda's `output`: `name [ operational ipv6 <ip> netmask <m> broadcast <b> p2p <p> ]`, each part
   * only when present, addresses without their port, e.g.
   * `eth0 [ operational 192.0.2.2 netmask 255.255.255.0 broadcast 192.0.2.255 ]`.
   * Thread: any.
   */
  toString(): string {
    let out = `${this.#name} [`;
    if (this.#operational) out += ' operational';
    if (this.ipv6) out += ' ipv6';
    if (this.#ip !== null) out += ` ${this.#ip.getIpString()}`;
    if (this.#netmask !== null) out += ` netmask ${this.#netmask.getIpString()}`;
    if (this.#broadcast !== null) out += ` broadcast ${this.#broadcast.getIpString()}`;
    if (this.#p2p !== null) out += ` p2p ${this.#p2p.getIpString()}`;
    return `${out} ]`;
  }
}

/**
 * Node's MAC form (`02:fc:00:00:00:01`) to Panda's (`02-fc-00-00-00-01`, lower case). An all-zero or
 * empty address (Node's way of saying "none") gives `""`.
 * Thread: any.
 */
export function formatMacAddress(mac: string): string {
  if (typeof mac !== 'string' || mac === '') return '';
  const bytes = mac.split(/[:-]/);
  if (bytes.every((b) => /^0+$/.test(b))) return '';
  return bytes.map((b) => b.toLowerCase().padStart(2, '0')).join('-');
}

/** `ip | ~mask` for two IPv4 addresses. */
function ipv4Broadcast(ip: string, mask: string): string {
  const a = ip.split('.').map(Number);
  const m = mask.split('.').map(Number);
  return a.map((v, i) => (v | (~m[i]! & 0xff)) & 0xff).join('.');
}

/** Node reports the family as 'IPv4'/'IPv6' (numbers 4/6 on Node 18.0–18.3). */
function familyOf(info: os.NetworkInterfaceInfo): 4 | 6 | 0 {
  const f = info.family as string | number;
  if (f === 'IPv4' || f === 4) return 4;
  if (f === 'IPv6' || f === 6) return 6;
  return 0;
}

/** fe80::/10: needs its zone to be usable, as Panda's POSIX scan prints it (`fe80::1%eth0`). */
function isLinkLocalV6(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

/** Parses a literal, or null if NetAddress does not take it (never throws). */
function addressOrNull(ip: string | undefined): NetAddress | null {
  if (typeof ip !== 'string' || ip === '') return null;
  try {
    return NetAddress.fromHostPort(ip, 0);
  } catch {
    return null;
  }
}

/**
 * Builds the interface list from a table shaped like `os.networkInterfaces()`'s: one entry per
 * address, in the table's order; IPv6 entries only when `supportIpv6`; other families and
 * unparseable addresses skipped. A link-local IPv6 address gets its zone (`fe80::1%eth0`).
 * Thread: any (pure).
 */
export function buildInterfaces(table: NodeJS.Dict<os.NetworkInterfaceInfo[]>, supportIpv6: boolean): NetInterface[] {
  const out: NetInterface[] = [];
  for (const [name, infos] of Object.entries(table)) {
    if (infos === undefined) continue;
    for (const info of infos) {
      const family = familyOf(info);
      if (family === 0 || (family === 6 && !supportIpv6)) continue;
      const withZone = family === 6 && isLinkLocalV6(info.address) && !info.address.includes('%') ? `${info.address}%${name}` : info.address;
      const ip = addressOrNull(withZone) ?? addressOrNull(info.address);
      if (ip === null) continue;
      const netmask = addressOrNull(info.netmask);
      const broadcast = family === 4 && !info.internal && netmask !== null ? addressOrNull(ipv4Broadcast(ip.getIpString(), netmask.getIpString())) : null;
      out.push(
        new NetInterface({
          name,
          macAddress: formatMacAddress(info.mac),
          ip,
          netmask,
          broadcast,
          p2p: null,
          operational: true,
        }),
      );
    }
  }
  return out;
}

/**
 * Scans the host's interfaces now (`os.networkInterfaces()`), see {@link buildInterfaces}.
 * Thread: main thread only.
 */
export function scanInterfaces(supportIpv6: boolean): NetInterface[] {
  return buildInterfaces(os.networkInterfaces(), supportIpv6);
}

/**
 * The cached interface list a ConnectionManager delegates to: scanned on first use, rescanned only
 * by {@link scan} (Panda's `scan_interfaces`).
 * Thread: main thread only.
 */
export class InterfaceList {
  readonly #supportIpv6: boolean;
  readonly #source: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  #list: NetInterface[] | null = null;

  /**
   * `supportIpv6`: list IPv6 entries too (the manager passes its `supportIpv6` setting). `source`
   * replaces `os.networkInterfaces` (for tests).
   * Thread: main thread only.
   */
  constructor(supportIpv6: boolean, source: () => NodeJS.Dict<os.NetworkInterfaceInfo[]> = () => os.networkInterfaces()) {
    this.#supportIpv6 = Boolean(supportIpv6);
    this.#source = source;
  }

  /** Rebuilds the list from the OS now (Panda's `scan_interfaces`). Thread: main thread only. */
  scan(): void {
    this.#list = buildInterfaces(this.#source(), this.#supportIpv6);
  }

  /** True once {@link scan} has run (explicitly or on first use). Thread: main thread only. */
  isScanned(): boolean {
    return this.#list !== null;
  }

  /** Number of entries; scans first if never scanned. Thread: main thread only. */
  getNumInterfaces(): number {
    return this.#ensure().length;
  }

  /**
   * Entry `n`; scans first if never scanned.
   * @throws ValueRangeError (`ERR_PANDANET_VALUE_OUT_OF_RANGE`) unless `n` is an integer in
   *   `0..getNumInterfaces()-1` (Panda asserts; on an empty list it is undefined behaviour, Q21).
   * Thread: main thread only.
   */
  getInterface(n: number): NetInterface {
    const list = this.#ensure();
    if (!Number.isInteger(n) || n < 0 || n >= list.length) {
      throw new ValueRangeError(`interface index ${String(n)} out of range: ${list.length} interface(s)`);
    }
    return list[n]!;
  }

  /** Every entry (a new array; the entries are immutable); scans first if never scanned. Thread: main thread only. */
  getInterfaces(): NetInterface[] {
    return [...this.#ensure()];
  }

  #ensure(): NetInterface[] {
    if (this.#list === null) this.scan();
    return this.#list!;
  }
}
