/**
 * Issue 16's "done when": an independent two-node check with a hand-written Astron client. Two
 * `pandanet md --nats` nodes run as child processes (the built CLI in dist/, so kill -9 is real)
 * on one real nats-server; the participants are plain `node:net` sockets whose framing is written
 * out below from Astron's protocol (docs/cluster.md, ../shared/astron-md-protocol.md) — nothing of
 * `src/md/` is imported: the client shares no code with the director it checks.
 *
 * Framing: TCP, each datagram behind a little-endian u16 length. Datagram: `u8 count · u64 LE
 * recipients[count] · u64 LE sender · u16 LE msgtype · payload`. Control datagram: one recipient,
 * channel 1, no sender: `01 · u64 1 · u16 msgtype · args` (9000 ADD_CHANNEL, 9001 REMOVE_CHANNEL,
 * 9002 ADD_RANGE, 9003 REMOVE_RANGE, 9010 ADD_POST_REMOVE, 9011 CLEAR_POST_REMOVES, 9012
 * SET_CON_NAME, 9013 SET_CON_URL, 9014 LOG_MESSAGE).
 *
 * Interest travels between nodes asynchronously (as up Astron's tree), and the protocol has no
 * acknowledgement, so before relying on a remote subscription a test *probes* it: a participant on
 * the other node sends PROBE datagrams (their own message type, filtered out of what the checks
 * compare) to the channel until one arrives (bounded). A node applies one participant's controls,
 * and another node applies a node's interest changes, in order — so a probe to a channel subscribed
 * *after* some change proves the change arrived. "Nothing arrives" is checked with fences: the
 * same sender then sends something that must arrive; per (sender, receiver) order makes anything
 * that should not have come show up before it.
 */
import { type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MODES, waitFor } from '../helpers/net.js';
import { natsClient, processExited, spawnMd, startNats, type NatsServer } from '../helpers/nats.js';

// ---------------------------------------------------------------------------------------------
// The client's own Astron framing (written from the protocol description, not from src/md).

const CONTROL = 1n;
const MAX = 2n ** 64n - 1n;
/** Message type of the probes (any non-control code). */
const PROBE = 60_001;

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u64 = (n: bigint | number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
/** A datagram: count, recipients, sender, msgtype, payload. */
function dg(to: Array<bigint | number>, from: bigint | number, msgType: number, payload: Buffer | number[] = []): Buffer {
  return Buffer.concat([Buffer.from([to.length]), ...to.map(u64), u64(from), u16(msgType), Buffer.from(payload)]);
}
/** A control datagram: one recipient (CONTROL), no sender. */
const control = (msgType: number, ...args: Buffer[]): Buffer => Buffer.concat([Buffer.from([1]), u64(CONTROL), u16(msgType), ...args]);
const addChannel = (c: bigint | number): Buffer => control(9000, u64(c));
const removeChannel = (c: bigint | number): Buffer => control(9001, u64(c));
const addRange = (lo: bigint | number, hi: bigint | number): Buffer => control(9002, u64(lo), u64(hi));
const removeRange = (lo: bigint | number, hi: bigint | number): Buffer => control(9003, u64(lo), u64(hi));
const addPostRemove = (key: bigint | number, d: Buffer): Buffer => control(9010, u64(key), u16(d.length), d);
const clearPostRemoves = (key: bigint | number): Buffer => control(9011, u64(key));
const text = (msgType: number, s: string): Buffer => control(msgType, u16(Buffer.byteLength(s)), Buffer.from(s));
/** A frame: u16 LE length, then the bytes. */
const frame = (d: Buffer): Buffer => Buffer.concat([u16(d.length), d]);
/** The message type of a (non-control) datagram. */
const msgTypeOf = (d: Buffer): number => (d.length >= 1 + 8 * d[0]! + 10 ? d.readUInt16LE(1 + 8 * d[0]! + 8) : -1);
const hex = (b: Buffer): string => b.toString('hex');
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

/** One participant: a socket, the frames it received (probes apart), the probe tokens it saw. */
class Client {
  readonly frames: Buffer[] = [];
  readonly probes = new Set<number>();
  closed = false;
  #pending: Buffer = Buffer.alloc(0);

  private constructor(
    readonly sock: net.Socket,
    readonly label: string,
  ) {
    sock.on('data', (chunk: Buffer) => {
      let b = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
      while (b.length >= 2) {
        const n = b.readUInt16LE(0);
        if (b.length < 2 + n) break;
        const d = Buffer.from(b.subarray(2, 2 + n));
        b = b.subarray(2 + n);
        if (msgTypeOf(d) === PROBE) this.probes.add(d.readUInt32LE(d.length - 4));
        else this.frames.push(d);
      }
      this.#pending = Buffer.from(b);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => (this.closed = true));
  }

  static async connect(port: number, label: string): Promise<Client> {
    const sock = net.connect({ host: '127.0.0.1', port, noDelay: true });
    onTestFinished(() => void sock.destroy());
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    return new Client(sock, label);
  }

  /** Writes bytes as they are; resolves once handed to the kernel. */
  raw(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.sock.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  /** Sends each datagram framed, in order, in one write. */
  send(...dgs: Buffer[]): Promise<void> {
    return this.raw(Buffer.concat(dgs.map(frame)));
  }

  hexes(from = 0): string[] {
    return this.frames.slice(from).map(hex);
  }

  async wait(n: number, what: string): Promise<string[]> {
    await waitFor(() => this.frames.length >= n, { what: () => `${n} frame(s) at ${this.label} (${what}); have ${this.frames.length}: ${this.hexes().slice(-4).join(' ')}` });
    return this.hexes();
  }
}

let probeToken = 0;
/**
 * `from` sends PROBE datagrams to `channel` (every 5 ms, at most 2,000, bounded in time) until
 * `to` saw one: then the node of `from` knows `to`'s node holds `channel`.
 */
async function probe(from: Client, to: Client, channel: bigint | number): Promise<void> {
  const first = ++probeToken * 10_000;
  const until = performance.now() + 10_000;
  for (let i = 0; !Array.from(to.probes).some((t) => t >= first && t < first + 10_000); i++) {
    if (i >= 2000 || performance.now() > until) throw new Error(`no probe from ${from.label} to channel ${channel} reached ${to.label} (${i} sent)`);
    await from.send(dg([channel], 0xfeed, PROBE, u32(first + i)));
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `from` sends a fence to `channel`; resolves when it is the last frame `to` received; returns it (hex). */
async function fence(from: Client, to: Client, channel: bigint | number, what: string): Promise<string> {
  const f = dg([channel], 0xfe, 0xfe, u32(++probeToken));
  await from.send(f);
  await waitFor(() => to.frames.some((x) => x.equals(f)), { what: () => `fence (${what}) at ${to.label}; have ${to.hexes().slice(-4).join(' ')}` });
  expect(hex(to.frames.at(-1)!)).toBe(hex(f));
  return hex(f);
}

/** Two `pandanet md --nats` child processes on one fresh nats-server. */
async function twoNodes(threads: number, deadAfterMs = 3000): Promise<{ nats: NatsServer; n1: { proc: ChildProcess; port: number; output: () => string }; n2: { proc: ChildProcess; port: number; output: () => string } }> {
  const nats = await startNats();
  const args = (name: string): string[] => ['--listen', '127.0.0.1:0', '--nats', nats.url, '--threads', String(threads), '--name', name, '--dead-after', String(deadAfterMs)];
  const [n1, n2] = await Promise.all([spawnMd(args('n1')), spawnMd(args('n2'))]);
  return { nats, n1, n2 };
}

describe.each(MODES)('independent two-node check, hand-written Astron client ($name)', ({ threads }) => {
  it('cross-node: once per participant, never to the sender, inclusive ranges to 2^64 − 1, order, unsubscribe', async () => {
    const { n1, n2 } = await twoNodes(threads);
    const a = await Client.connect(n1.port, 'a (n1)');
    const s = await Client.connect(n1.port, 's (n1)');
    const b = await Client.connect(n2.port, 'b (n2)');
    const d = await Client.connect(n2.port, 'd (n2)');
    await a.send(addChannel(100), addRange(90, 110), text(9012, 'a'), text(9013, 'tcp://a'), text(9014, 'hello'));
    await b.send(addChannel(200), addRange(MAX - 5n, MAX));
    await d.send(addChannel(200), addChannel(100), addRange(1000, 2000));
    await probe(s, b, MAX); // n1 knows all of b's (its last subscription)
    await probe(s, d, 2000); // and of d's
    await probe(b, a, 110); // n2 knows a's

    // Once per participant (duplicates; channel and range overlap), byte for byte, to the other node.
    const x = dg([200, 200, MAX, 200, MAX - 5n], 1, 7, [1, 2, 3]);
    await s.send(x);
    expect(await b.wait(1, 'x')).toEqual([hex(x)]);
    expect(await d.wait(1, 'x')).toEqual([hex(x)]);
    // Never to the sender: d holds 100 and 200 and sends to both; a (n1) and b (n2) get it once, d never.
    const y = dg([100, 200, 100], 2, 8, [4]);
    await d.send(y);
    expect(await a.wait(1, 'y')).toEqual([hex(y)]);
    expect(await b.wait(2, 'y')).toEqual([hex(x), hex(y)]);
    // Inclusive ranges across nodes: 89 and 111 outside a's [90, 110]; 999 / 2001 outside d's [1000, 2000];
    // MAX − 6 outside b's [MAX − 5, MAX].
    const toA = [89, 90, 110, 111].map((c) => dg([c], 3, 9, u32(c)));
    await b.send(...toA);
    const fa = await fence(b, a, 105, 'after a’s range edges'); // 105: only a holds it
    expect(a.hexes(1)).toEqual([hex(toA[1]!), hex(toA[2]!), fa]);
    const toD = [999, 1000, 2000, 2001].map((c) => dg([c], 4, 9, u32(c)));
    const toB = [MAX - 6n, MAX - 5n, MAX].map((c) => dg([c], 4, 10));
    await s.send(...toD, ...toB);
    const fd = await fence(s, d, 1000, 'after d’s range edges');
    expect(d.hexes(1)).toEqual([hex(toD[1]!), hex(toD[2]!), fd]);
    const fb = await fence(s, b, MAX, 'after b’s range edges');
    expect(b.hexes(2)).toEqual([hex(toB[1]!), hex(toB[2]!), fb]);
    expect(d.frames.some((f) => f.equals(y))).toBe(false);

    // Order: 1,000 datagrams n2 → n1 arrive complete and in order.
    const N = 1000;
    const run = Array.from({ length: N }, (_, i) => dg([105], 5, 11, u32(i)));
    const aBase = a.frames.length;
    for (let i = 0; i < N; i += 250) await b.send(...run.slice(i, i + 250));
    await a.wait(aBase + N, 'ordered run');
    expect(a.hexes(aBase)).toEqual(run.map(hex));

    // Unsubscribe: b drops channel 200 and slices [MAX − 5, MAX − 3] out of its range, then takes 300
    // (probed: n1 then applied both removes). d still holds 200.
    await b.send(removeChannel(200), removeRange(MAX - 5n, MAX - 3n), addChannel(300));
    await probe(s, b, 300);
    const bBase = b.frames.length;
    const dBase = d.frames.length;
    const after = [dg([200], 6, 12), dg([MAX - 4n], 6, 13), dg([MAX - 2n], 6, 14)];
    await s.send(...after);
    const fb2 = await fence(s, b, MAX, 'after unsubscribing');
    expect(b.hexes(bBase)).toEqual([hex(after[2]!), fb2]);
    await d.wait(dBase + 1, 'd still holds 200');
    expect(d.hexes(dBase)).toEqual([hex(after[0]!)]);
    // The last subscriber of 100 on n2 leaves: nothing for 100 reaches n2 any more.
    await d.send(removeChannel(100), addChannel(301));
    await probe(s, d, 301);
    const dBase2 = d.frames.length;
    await s.send(dg([100], 7, 15));
    const fd2 = await fence(s, d, 301, 'after d left 100');
    expect(d.hexes(dBase2)).toEqual([fd2]);
    expect(n1.proc.exitCode).toBeNull();
    expect(n2.proc.exitCode).toBeNull();
  });

  it('post-removes fire on the other node when their participant disconnects; bad input is isolated to its sender', async () => {
    const { n1, n2 } = await twoNodes(threads);
    const a = await Client.connect(n1.port, 'a (n1)');
    const b = await Client.connect(n2.port, 'b (n2)');
    const e = await Client.connect(n2.port, 'e (n2)');
    await a.send(addChannel(100));
    await probe(e, a, 100);

    // b: post-removes under two keys, one key cleared; on disconnect (FIN) the rest fire, in order, once.
    const pr1 = dg([100], 11, 1, [1]);
    const prX = dg([100], 12, 2, [2]);
    const pr2 = dg([100, 100], 11, 3, [3]);
    await b.send(addPostRemove(11, pr1), addPostRemove(12, prX), clearPostRemoves(12), addPostRemove(11, pr2));
    const fe = await fence(b, a, 100, 'b’s controls applied');
    b.sock.end();
    await a.wait(3, 'b’s post-removes');
    const f1 = await fence(e, a, 100, 'after b’s post-removes');
    expect(a.hexes()).toEqual([fe, hex(pr1), hex(pr2), f1]);

    // Bad input, each from its own participant with a post-remove: an unknown control code is
    // ignored (the connection stays and routes); a truncated datagram, an empty frame, a control
    // message missing its argument terminate the sender — its post-remove fires on n1's side,
    // nothing it sent after is routed — and no one else notices.
    const mk = async (label: string, key: number): Promise<{ c: Client; pr: Buffer }> => {
      const c = await Client.connect(n2.port, label);
      const pr = dg([100], key, 20 + key, u32(key));
      await c.send(addPostRemove(key, pr));
      return { c, pr };
    };
    const u = await mk('u (n2, unknown control)', 31);
    const t = await mk('t (n2, truncated)', 32);
    const z = await mk('z (n2, empty frame)', 33);
    const m = await mk('m (n2, short control)', 34);
    const base = a.frames.length;
    const okU = dg([100], 31, 40);
    await u.c.send(control(9999, u64(5)), okU);
    await a.wait(base + 1, 'u still routes after an unknown control code');
    expect(a.hexes(base)).toEqual([hex(okU)]);
    // Truncated: count 3 but one recipient's bytes; then a datagram that must not be routed.
    const late = dg([100], 32, 41);
    await t.c.raw(Buffer.concat([frame(Buffer.concat([Buffer.from([3]), u64(100), u64(32)])), frame(late)]));
    await a.wait(base + 2, 't’s post-remove');
    await z.c.raw(Buffer.concat([u16(0), frame(dg([100], 33, 42))]));
    await a.wait(base + 3, 'z’s post-remove');
    await m.c.send(control(9000, Buffer.from([1, 0, 0, 0])), dg([100], 34, 43));
    await a.wait(base + 4, 'm’s post-remove');
    const f2 = await fence(e, a, 100, 'after the bad input');
    expect(a.hexes(base)).toEqual([hex(okU), hex(t.pr), hex(z.pr), hex(m.pr), f2]);
    // u is still a participant: its post-remove fires when it leaves.
    u.c.sock.end();
    await a.wait(base + 6, 'u’s post-remove');
    expect(hex(a.frames[base + 5]!)).toBe(hex(u.pr));
    // Both nodes still route both ways.
    await e.send(addChannel(500));
    await probe(a, e, 500);
    const back = dg([500], 9, 9);
    await a.send(back);
    await waitFor(() => e.frames.some((f) => f.equals(back)), { what: 'a → e after the bad input' });
    expect(n1.proc.exitCode).toBeNull();
    expect(n2.proc.exitCode).toBeNull();
  });

  it('kill -9 of the node holding post-removes: the other node fires them, once each, in order', async () => {
    const { nats, n1, n2 } = await twoNodes(threads, 1000);
    const a = await Client.connect(n1.port, 'a (n1)');
    const w = await Client.connect(n1.port, 'w (n1)');
    const zz = await Client.connect(n1.port, 'zz (n1)');
    await a.send(addChannel(100));
    await zz.send(addRange(300, 300));
    const v1 = await Client.connect(n2.port, 'v1 (n2)');
    const v2 = await Client.connect(n2.port, 'v2 (n2)');
    const prs = [dg([100, 300], 21, 1, [1]), dg([100], 21, 2, [2]), dg([300], 22, 3, [3])];
    await v1.send(addPostRemove(21, prs[0]!), addPostRemove(21, prs[1]!));
    await v2.send(addPostRemove(22, prs[2]!));
    await probe(v1, a, 100);
    await probe(v2, zz, 300);
    // The post-removes are written to the cluster's key-value store asynchronously: wait until both
    // participants' entries are there (bucket and key layout as documented in docs/cluster.md).
    const { Kvm } = await import('@nats-io/kv');
    const bucket = await new Kvm(await natsClient(nats)).open('pandanet-md-default');
    let stored = 0;
    const until = performance.now() + 10_000;
    while (stored < 2) {
      if (performance.now() > until) throw new Error(`${stored} of 2 post-remove entries in the KV`);
      stored = 0;
      for await (const k of await bucket.keys('pr.>')) if (k.length > 0) stored++;
      if (stored < 2) await new Promise((r) => setTimeout(r, 20));
    }
    expect(a.frames).toEqual([]);
    n2.proc.kill('SIGKILL');
    await processExited(n2.proc);
    await a.wait(2, 'v1’s post-removes after kill -9');
    await zz.wait(2, 'v1’s and v2’s post-removes after kill -9');
    const fa = await fence(w, a, 100, 'after the post-removes');
    const fz = await fence(w, zz, 300, 'after the post-removes');
    expect(a.hexes()).toEqual([hex(prs[0]!), hex(prs[1]!), fa]);
    // v1's and v2's post-removes follow the dead node's participant order, which is the order it
    // accepted them — with one reusePort socket per I/O thread (Node >= 22.12) not the connect order.
    expect([...zz.hexes().slice(0, 2)].sort()).toEqual([hex(prs[0]!), hex(prs[2]!)].sort());
    expect(zz.hexes().slice(2)).toEqual([fz]);
    expect(n1.proc.exitCode).toBeNull();
  });
});
