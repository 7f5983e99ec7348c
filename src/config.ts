/**
 * Panda's PRC variables that matter to the net module (spec §0.3), with Panda's defaults, plus the
 * limits pandanet adds. Objects read the configuration when they are constructed: changing it
 * affects only objects created afterwards, as in Panda.
 *
 * Thread: main thread (the configuration is copied into workers when they start).
 * @module
 */
import { validateHeaderSize, type TcpHeaderSize } from './protocol/tcp-framing.js';
import { ValueRangeError } from './errors.js';

/** The configuration. Field names are the PRC variable names in camelCase. */
export interface NetConfig {
  /** `tcp-header-size`: initial header size of new readers and writers (0, 2 or 4). Default 2. */
  tcpHeaderSize: TcpHeaderSize;
  /** `support-ipv6`: port-only opens are dual-stack IPv6. Default true. */
  supportIpv6: boolean;
  /** `net-max-write-queue`: threaded writer queue cap, datagrams. Default 10,000. */
  netMaxWriteQueue: number;
  /** `net-max-response-queue`: reader/listener/reset queue cap. Default 50,000. */
  netMaxResponseQueue: number;
  /** `collect-tcp`: initial collect mode of new connections. Default false. */
  collectTcp: boolean;
  /** `collect-tcp-interval`: seconds between writes of a collecting connection. Default 0.2. */
  collectTcpInterval: number;
  /** `net-max-poll-cycle`: seconds one `poll()` may spend moving datagrams into the queue; negative = unbounded. Default 0.2. */
  netMaxPollCycle: number;
  /** `net-max-block`: seconds of each wait slice in `waitForReaders`. Default 0.01. */
  netMaxBlock: number;
  /**
   * Close a monitored TCP stream that has received nothing for this long (ms), reporting it as a
   * reset. 0 = off (the default, as in Panda). Protects against peers that connect and stall.
   */
  idleTimeoutMs: number;
  /**
   * Per-connection outbound high-water mark (bytes sent but not yet taken by the kernel). Past it,
   * `writer.send` returns false for that connection until it drains. Default 4 MiB.
   */
  maxPendingSendBytes: number;
  /**
   * Per-connection reader quota (not in Panda): at most this many datagrams of one TCP connection
   * may wait for the application (delivered by its I/O thread, not yet taken with `getData` /
   * `drainData`). Past it the thread stops reading that socket (TCP pushes back on the sender) until
   * the application has taken some of them, so one client flooding small datagrams cannot fill the
   * shared `netMaxResponseQueue` and make the reader drop other clients' datagrams. Normal traffic
   * never reaches it (an echo client keeps its window in flight, a 60 Hz client sends 60 a second);
   * the shared cap stays the guard against an application that falls behind on many connections.
   * 0 = off. Default 1,024. Thread: main (read when a manager starts its threads).
   */
  maxQueuedPerConnection: number;
  /** Largest datagram a reader accepts from a length header (bytes). Default 1 MiB. */
  maxDatagramSize: number;
  /** How long a synchronous call (open, connect) may wait for its I/O thread, beyond its own timeout (ms). Default 10,000. */
  syncCallSlackMs: number;
  /**
   * After it has taken sends from its outbound ring, an I/O thread keeps looking for more (one
   * event-loop turn at a time) for this many microseconds before it sleeps. Sends made meanwhile need
   * no wake-up, which costs the sending thread about 8 µs on a VM. So this trades I/O-thread CPU for
   * main-thread CPU: worth it with a spare core, not on a machine whose cores are all busy. Echo with
   * 2 µs of work per datagram, 1 thread, 300 µs against 0 (2 cores, 3 A/B runs): the thread slept
   * 106 times instead of 7,488 per 300,000 datagrams; main thread 2.27–2.28 against 2.47–2.48 µs per
   * datagram (0.27 against 0.47 µs beyond the work); process 4.62–4.72 against 3.49–3.55 µs; throughput
   * 336–366k against 370–376k datagrams/s, since the spinning thread takes CPU the others need here.
   * Default 0 (sleep at once). Thread: main (read when a manager starts its threads).
   */
  ioSpinUs: number;
  /**
   * While `drainData` works through a run of datagrams, the manual `getData` loop runs (from its
   * second `getData` in a task), or a writer is corked, the sends made are published as the drain
   * moves from one connection to the next, but an I/O thread asleep in its outbound loop is woken for
   * them at most once per this many microseconds (and when the drain returns, the loop finds the
   * queue empty or its task returns, or at `uncork`). A wake-up costs the main thread about 8 µs and the woken I/O thread
   * more on a VM, so this bounds both the wake-up rate of a busy server and how long its replies can
   * wait for a sleeping thread in the middle of a long drain. Not reached by a server that keeps up
   * (its drains are short). Echo with 2 µs of work per datagram (2 cores): 50 µs woke a thread every
   * 35 datagrams, 250 µs every 75; the main thread spent 2.47 against 2.30 µs of CPU per datagram,
   * the process 4.0 against 3.2 (docs/benchmarks.md). 0 wakes it at every switch to another
   * connection. Default 250.
   * Thread: main (read when a manager is made).
   */
  drainHoldUs: number;
  /**
   * TCP rendezvous with several I/O threads: `'auto'` (the default) opens one listening socket per
   * I/O thread with `reusePort` where Node has it (≥ 22.12 / 23.1, Linux): the kernel spreads the
   * accepts and each thread serves what it accepts (`ThreadStats.accepts` counts them per thread).
   * `false`, and on Node 20 or another OS: one socket on one thread, which hands each accepted
   * connection to a pool thread by descriptor. Not in Panda. Thread: main (read when a manager is made).
   */
  reusePort: 'auto' | false;
  /** Shared-memory ring sizes, bytes (powers of two). */
  ringBytes: { event: number; outbound: number; reader: number };
}

const defaults: NetConfig = {
  tcpHeaderSize: 2,
  supportIpv6: true,
  netMaxWriteQueue: 10_000,
  netMaxResponseQueue: 50_000,
  collectTcp: false,
  collectTcpInterval: 0.2,
  netMaxPollCycle: 0.2,
  netMaxBlock: 0.01,
  idleTimeoutMs: 0,
  maxPendingSendBytes: 4 << 20,
  maxQueuedPerConnection: 1024,
  maxDatagramSize: 1 << 20,
  syncCallSlackMs: 10_000,
  ioSpinUs: 0,
  drainHoldUs: 250,
  reusePort: 'auto',
  ringBytes: { event: 1 << 20, outbound: 8 << 20, reader: 4 << 20 },
};

let current: NetConfig = structuredClone(defaults);

/** The configuration new objects will use. Thread: main. */
export function getNetConfig(): Readonly<NetConfig> {
  return current;
}

/** A partial configuration: any subset of the settings (ring sizes too). */
export type NetConfigPatch = Partial<Omit<NetConfig, 'ringBytes'>> & { ringBytes?: Partial<NetConfig['ringBytes']> };

/** Changes some settings for objects created from now on; validates them. Thread: main. */
export function setNetConfig(patch: NetConfigPatch): void {
  const next: NetConfig = { ...current, ...patch, ringBytes: { ...current.ringBytes, ...patch.ringBytes } };
  validateHeaderSize(next.tcpHeaderSize);
  for (const [name, v] of Object.entries(next.ringBytes)) {
    if (!Number.isInteger(v) || v < 4096 || (v & (v - 1)) !== 0) throw new ValueRangeError(`ringBytes.${name} must be a power of two ≥ 4096, got ${v}`);
  }
  if (!Number.isFinite(next.collectTcpInterval) || next.collectTcpInterval < 0) throw new ValueRangeError(`collectTcpInterval must be a non-negative number of seconds, got ${next.collectTcpInterval}`);
  for (const k of ['netMaxWriteQueue', 'netMaxResponseQueue', 'maxDatagramSize', 'syncCallSlackMs', 'idleTimeoutMs', 'maxPendingSendBytes', 'ioSpinUs', 'drainHoldUs', 'maxQueuedPerConnection'] as const) {
    const v = next[k];
    if (!Number.isInteger(v) || v < 0) throw new ValueRangeError(`${k} must be a non-negative integer, got ${v}`);
  }
  if (next.reusePort !== 'auto' && next.reusePort !== false) throw new ValueRangeError(`reusePort must be 'auto' or false, got ${String(next.reusePort)}`);
  current = next;
}

/** A monotonic clock in seconds. */
export type NetClock = () => number;
const defaultClock: NetClock = () => performance.now() / 1000;
let clock: NetClock = defaultClock;

/**
 * The clock collect-tcp reads (seconds since process start by default, like Panda's). Tests inject
 * their own to check timing without sleeping. Thread: main.
 */
export function setNetClock(next: NetClock | null): void {
  clock = next ?? defaultClock;
}
/** The clock in use. Thread: main. */
export function getNetClock(): NetClock {
  return clock;
}

/** Back to Panda's defaults. Thread: main. */
export function resetNetConfig(): void {
  current = structuredClone(defaults);
}
