/**
 * The message directors' mesh over a real nats-server (no mock): two or three MessageDirector nodes
 * on one NATS route across nodes both ways, once per participant, never to the sender, with inclusive
 * ranges and order kept; no traffic to a node without interest; post-removes fire on disconnect, and
 * after a node is killed (SIGKILL of a `pandanet md` child process) exactly once, with two survivors
 * racing; NATS killed and restarted mid-traffic; a node cut off from NATS (a TCP proxy cut) and
 * rejoining. Raw `node:net` participants write exact bytes. Every test runs in every thread mode.
 */
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MessageDirector } from '../../src/index.js';
import { MAX_CHANNEL } from '../../src/md/protocol.js';
import { MODES, waitFor } from '../helpers/net.js';
import { connectParticipant, ctl, hex, mdDg, u32, type RawParticipant } from '../helpers/md.js';
import { freePort, natsClient, spawnMd, startMeshMd, startNats, processExited } from '../helpers/nats.js';

const holds = (md: MessageDirector, other: MessageDirector, c: number | bigint, yes = true): Promise<void> =>
  waitFor(() => md.meshHolders(c).includes(other.getStats().meshNode) === yes, {
    what: () => `${md.name} sees ${other.name} ${yes ? 'holding' : 'not holding'} channel ${c} (holders ${md.meshHolders(c).join(',')})`,
  });

/** Participant `fenceFrom` sends to `to`'s channel `ch`; waits until `to` got `n` frames (everything sent before it arrived). */
async function fence(from: RawParticipant, to: RawParticipant, ch: number, n: number): Promise<string> {
  const f = mdDg([ch], 0xfe, 0xfefe, [n & 0xff]);
  await from.send(f);
  await to.waitFrames(n, 'fence');
  return hex(f);
}

describe.each(MODES)('MessageDirector mesh over NATS ($name)', ({ threads }) => {
  it('routes across nodes both ways: once per participant, never to the sender, ranges to 2^64 − 1, order', async () => {
    const nats = await startNats();
    const { md: n1, port: p1 } = await startMeshMd(threads, nats, {}, { name: 'n1' });
    const { md: n2, port: p2 } = await startMeshMd(threads, nats, {}, { name: 'n2' });
    const a = await connectParticipant(p1, 'a (n1)');
    const b = await connectParticipant(p2, 'b (n2)');
    const d = await connectParticipant(p2, 'd (n2)');
    await a.send(ctl({ kind: 'addChannel', channel: 100 }), ctl({ kind: 'addRange', lo: 90, hi: 110 }));
    await b.send(ctl({ kind: 'addChannel', channel: 200 }), ctl({ kind: 'addRange', lo: MAX_CHANNEL - 5n, hi: MAX_CHANNEL }));
    await d.send(ctl({ kind: 'addChannel', channel: 200 }), ctl({ kind: 'addChannel', channel: 100 }));
    await waitFor(() => n1.getStats().controlIn >= 2 && n2.getStats().controlIn >= 4, { what: 'subscriptions applied on both nodes' });
    await holds(n1, n2, 200);
    await holds(n1, n2, MAX_CHANNEL);
    await holds(n2, n1, 90);
    // n1 → n2: b and d each once (duplicates, channel + range overlap), byte for byte.
    const x = mdDg([200, 200, MAX_CHANNEL, 200, MAX_CHANNEL - 5n], 1, 7, [1, 2, 3]);
    await a.send(x);
    expect(await b.waitFrames(1)).toEqual([hex(x)]);
    expect(await d.waitFrames(1)).toEqual([hex(x)]);
    // n2 → n1 (and locally to d), never back to the sender b; MAX_CHANNEL − 6 is outside b's range.
    const y = mdDg([100, 110, 100], 2, 8, [4]);
    await b.send(y, mdDg([MAX_CHANNEL - 6n], 2, 9));
    expect(await a.waitFrames(1)).toEqual([hex(y)]);
    expect(await d.waitFrames(2)).toEqual([hex(x), hex(y)]);
    const f1 = await fence(a, b, 200, 2);
    expect(b.frames()).toEqual([hex(x), f1]);
    // Order of N datagrams across nodes.
    const N = 2000;
    const dgs = Array.from({ length: N }, (_, i) => mdDg([100], 3, 3, u32(i)));
    for (let i = 0; i < N; i += 500) await b.send(...dgs.slice(i, i + 500));
    await a.waitCount(1 + N, 'ordered run');
    for (let i = 0; i < N; i++) expect(hex(a.frame(1 + i))).toBe(hex(dgs[i]!));
    const f2 = await fence(b, a, 100, 2 + N);
    expect(a.count()).toBe(2 + N);
    expect(hex(a.frame(1 + N))).toBe(f2);
    const s1 = n1.getStats();
    expect(s1.mesh).toBe('up');
    expect(s1.meshPeers).toBe(1);
    expect(s1.meshBatchesOut).toBeLessThanOrEqual(s1.meshDatagramsOut);
    expect(n2.getStats().meshBatchesOut).toBeLessThan(n2.getStats().meshDatagramsOut); // batching: 2,000 datagrams in fewer messages
  });

  it('sends nothing to a node without interest; unsubscribing stops remote delivery', async () => {
    const nats = await startNats();
    const { md: n1, port: p1 } = await startMeshMd(threads, nats, {}, { name: 'n1' });
    const { md: n2, port: p2 } = await startMeshMd(threads, nats, {}, { name: 'n2' });
    const { md: n3 } = await startMeshMd(threads, nats, {}, { name: 'n3' });
    const watch = await natsClient(nats);
    const seen = new Map<string, number>();
    watch.subscribe('pandanet.md.default.node.>', { callback: (_e, m) => void seen.set(m.subject, (seen.get(m.subject) ?? 0) + 1) });
    await watch.flush();
    const a = await connectParticipant(p1, 'a (n1)');
    const b = await connectParticipant(p2, 'b (n2)');
    await b.send(ctl({ kind: 'addChannel', channel: 500 }), ctl({ kind: 'addRange', lo: 600, hi: 699 }));
    await holds(n1, n2, 500);
    await holds(n1, n2, 650);
    const dgs = Array.from({ length: 50 }, (_, i) => mdDg([i % 2 === 0 ? 500 : 650, 999], 1, 1, u32(i)));
    await a.send(...dgs);
    await b.waitFrames(50);
    await b.send(ctl({ kind: 'removeChannel', channel: 500 }), ctl({ kind: 'removeRange', lo: 600, hi: 649 }));
    await holds(n1, n2, 500, false);
    await holds(n1, n2, 620, false);
    expect(n1.meshHolders(650)).toEqual([n2.getStats().meshNode]);
    await a.send(mdDg([500], 1, 2), mdDg([620], 1, 2), mdDg([650], 1, 3));
    await b.waitFrames(51);
    await fence(a, b, 650, 52);
    expect(b.frames().slice(50, 51)).toEqual([hex(mdDg([650], 1, 3))]);
    expect(seen.get(`pandanet.md.default.node.${n3.getStats().meshNode}`) ?? 0).toBe(0);
    expect(seen.get(`pandanet.md.default.node.${n1.getStats().meshNode}`) ?? 0).toBe(0);
    expect(n3.getStats().meshDatagramsIn).toBe(0);
  });

  it('a participant’s post-removes reach a remote subscriber when it disconnects; a node’s clean stop fires its participants’', async () => {
    const nats = await startNats();
    const { md: n1, port: p1 } = await startMeshMd(threads, nats, {}, { name: 'n1' });
    const { md: n2, port: p2 } = await startMeshMd(threads, nats, {}, { name: 'n2' });
    const a = await connectParticipant(p1, 'a (n1)');
    const b = await connectParticipant(p2, 'b (n2)');
    const c = await connectParticipant(p2, 'c (n2)');
    await a.send(ctl({ kind: 'addChannel', channel: 100 }));
    await holds(n2, n1, 100);
    const pr1 = mdDg([100], 11, 1);
    const pr2 = mdDg([100], 12, 2);
    await b.send(ctl({ kind: 'addPostRemove', key: 11, datagram: pr1 }));
    await c.send(ctl({ kind: 'addPostRemove', key: 12, datagram: pr2 }));
    await waitFor(() => n2.getStats().controlIn >= 2, { what: 'post-removes stored' });
    b.peer.socket.end();
    expect(await a.waitFrames(1)).toEqual([hex(pr1)]);
    await n2.meshSettled();
    await n2.stop(); // clean stop: n1 fires c's post-remove from the KV
    expect(await a.waitFrames(2)).toEqual([hex(pr1), hex(pr2)]);
    expect(n1.getStats().meshClaimsWon).toBe(1);
    expect(n1.getStats().meshPostRemovesFired).toBe(1);
  });

  it('a node killed (SIGKILL): its post-removes fire exactly once, two survivors racing', async () => {
    const nats = await startNats();
    const { md: s1, port: p1 } = await startMeshMd(threads, nats, { deadAfterMs: 1500 }, { name: 's1' });
    const { md: s2, port: p2 } = await startMeshMd(threads, nats, { deadAfterMs: 1500 }, { name: 's2' });
    const child = await spawnMd(['--listen', '127.0.0.1:0', '--nats', nats.url, '--dead-after', '1500', '--threads', String(threads), '--name', 'doomed']);
    const a = await connectParticipant(p1, 'a (s1)');
    const e = await connectParticipant(p2, 'e (s2)');
    await a.send(ctl({ kind: 'addChannel', channel: 100 }));
    await e.send(ctl({ kind: 'addChannel', channel: 300 }));
    const v1 = await connectParticipant(child.port, 'v1 (doomed)');
    const v2 = await connectParticipant(child.port, 'v2 (doomed)');
    const prs = [mdDg([100, 300], 21, 1, [1]), mdDg([100], 21, 2, [2]), mdDg([300], 22, 3, [3])];
    await v1.send(ctl({ kind: 'addPostRemove', key: 21, datagram: prs[0]! }), ctl({ kind: 'addPostRemove', key: 21, datagram: prs[1]! }));
    await v2.send(ctl({ kind: 'addPostRemove', key: 22, datagram: prs[2]! }), ctl({ kind: 'addChannel', channel: 777 }));
    // v2's ADD_CHANNEL came after its post-removes: once the survivors see it, the KV puts were issued; a probe through the child confirms it routes.
    await holds(s1, s2, 300);
    await waitFor(() => s1.meshHolders(777).length === 1 && s2.meshHolders(777).length === 1, { what: 'survivors see the doomed node' });
    // Nothing above waits for the doomed node to hold s1's interest in 100 (s1 may even read a's
    // ADD_CHANNEL after the survivors see 777): a datagram the child routes before that interest
    // arrives is dropped there, by design. So v1 probes (one per 5 ms, bounded) until one reaches a,
    // then a fence from v1 brings in the probes still in flight; they arrive once each, in order.
    const probe = (i: number): Uint8Array => mdDg([100], 5, 5, u32(i));
    let sent = 0;
    const until = performance.now() + 10_000;
    while (a.count() === 0) {
      if (sent >= 2000 || performance.now() >= until) {
        throw new Error(`none of ${sent} probes through the doomed node reached a; s1 ${JSON.stringify(s1.getStats())}; child output: ${child.output().slice(-1500)}`);
      }
      await v1.send(probe(sent++));
      await new Promise((r) => setTimeout(r, 5));
    }
    const pf = mdDg([100], 5, 6);
    await v1.send(pf);
    await waitFor(() => a.frames().at(-1) === hex(pf), { what: () => `probe fence at a; have ${a.count()} frame(s)` });
    const base = a.count();
    const first = Array.from({ length: sent }, (_, i) => hex(probe(i))).indexOf(a.frames()[0]!);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(a.frames()).toEqual([...Array.from({ length: base - 1 }, (_, i) => hex(probe(first + i))), hex(pf)]);
    const kv = await natsClient(nats);
    const js = (await import('@nats-io/kv')).Kvm;
    const bucket = await new js(kv).open('pandanet-md-default');
    let stored = 0;
    const deadline = Date.now() + 5000;
    while (stored < 2 && Date.now() < deadline) {
      stored = 0;
      for await (const k of await bucket.keys('pr.>')) if (k.length > 0) stored++;
      if (stored < 2) await new Promise((r) => setTimeout(r, 20));
    }
    expect(stored).toBe(2);
    const t0 = performance.now();
    child.proc.kill('SIGKILL');
    await processExited(child.proc);
    await a.waitFrames(base + 2, 'post-removes at a');
    const ms = performance.now() - t0;
    // One from each of v1 and v2: their relative order follows the doomed node's participant order,
    // which is the order its main thread took their accepts — with one reusePort socket per I/O thread
    // (Node ≥ 22.12) two back-to-back connects can be taken in either order.
    expect([...(await e.waitFrames(2, 'post-removes at e'))].sort()).toEqual([hex(prs[0]!), hex(prs[2]!)].sort());
    console.log(`[md-mesh ${threads}] kill -9 → post-remove delivered in ${ms.toFixed(0)} ms (deadAfterMs 1500)`);
    await waitFor(() => s1.getStats().meshClaimsWon + s1.getStats().meshClaimsLost + s2.getStats().meshClaimsWon + s2.getStats().meshClaimsLost >= 2, {
      what: 'both survivors tried to claim',
    });
    expect(s1.getStats().meshClaimsWon + s2.getStats().meshClaimsWon).toBeGreaterThanOrEqual(1);
    expect(s1.getStats().meshPostRemovesFired + s2.getStats().meshPostRemovesFired).toBe(3);
    // Fences from both survivors: a second copy from either would have arrived before them.
    const fa = await fence(e, a, 100, base + 3);
    const fe = await fence(a, e, 300, 3);
    expect(a.frames().slice(base)).toEqual([hex(prs[0]!), hex(prs[1]!), fa]);
    expect([...e.frames().slice(0, 2)].sort()).toEqual([hex(prs[0]!), hex(prs[2]!)].sort()); // either order (above)
    expect(e.frames().slice(2)).toEqual([fe]);
    expect(s1.meshHolders(777)).toEqual([]);
  });

  it('NATS killed and restarted mid-traffic: local routing goes on, cross-node routing recovers with subscriptions resynchronised', async () => {
    const nats = await startNats();
    const { md: n1, port: p1 } = await startMeshMd(threads, nats, { deadAfterMs: 1500 }, { name: 'n1' });
    const { md: n2, port: p2 } = await startMeshMd(threads, nats, { deadAfterMs: 1500 }, { name: 'n2' });
    const a = await connectParticipant(p1, 'a (n1)');
    const a2 = await connectParticipant(p1, 'a2 (n1)');
    const b = await connectParticipant(p2, 'b (n2)');
    await a.send(ctl({ kind: 'addChannel', channel: 100 }));
    await b.send(ctl({ kind: 'addChannel', channel: 200 }), ctl({ kind: 'addChannel', channel: 201 }));
    // a's subscription is read on a socket other than a2's (another I/O thread with 2): wait until n1 applied it.
    await waitFor(() => n1.getStats().controlIn >= 1, { what: 'a’s subscription applied on n1' });
    await holds(n1, n2, 200);
    await holds(n1, n2, 201);
    await a.send(...Array.from({ length: 100 }, (_, i) => mdDg([200], 1, 1, u32(i))));
    await nats.kill();
    await waitFor(() => n1.getStats().mesh === 'down' && n2.getStats().mesh === 'down', { what: 'both nodes notice NATS is gone' });
    // Locally, routing goes on.
    const local = mdDg([100], 2, 2);
    await a2.send(local);
    expect(await a.waitFrames(1)).toEqual([hex(local)]);
    // Meanwhile b changes its interest: 201 goes, 202 comes.
    await b.send(ctl({ kind: 'removeChannel', channel: 201 }), ctl({ kind: 'addChannel', channel: 202 }));
    await waitFor(() => n2.getStats().controlIn >= 4, { what: 'b’s changes applied on n2' });
    await nats.restart();
    await waitFor(() => n1.getStats().mesh === 'up' && n2.getStats().mesh === 'up', { what: 'both nodes back on NATS', timeoutMs: 15_000 });
    await holds(n1, n2, 202);
    await holds(n1, n2, 201, false);
    await holds(n2, n1, 100);
    const got = b.count();
    expect(got).toBeLessThanOrEqual(100); // what was in flight when NATS died may be lost (at most once)
    const after = mdDg([202, 201], 3, 3);
    await a.send(after);
    await b.waitFrames(got + 1, 'after the restart');
    expect(hex(b.frame(got))).toBe(hex(after));
    const back = mdDg([100], 4, 4);
    await b.send(back);
    expect((await a.waitFrames(2))[1]).toBe(hex(back));
    expect(n1.getStats().meshReconnects).toBeGreaterThanOrEqual(1);
    expect(n1.getStats().meshDeadNodes).toBe(0);
  });

  it('a node cut off from NATS is declared dead (its post-removes fire), then rejoins consistently', async () => {
    const nats = await startNats();
    // n2 reaches NATS through a TCP proxy the test can cut.
    const proxyPort = await freePort();
    const sockets = new Set<net.Socket>();
    let open = true;
    const proxy = net.createServer((c) => {
      if (!open) {
        c.destroy();
        return;
      }
      const up = net.connect(nats.port, '127.0.0.1');
      sockets.add(c).add(up);
      c.pipe(up).pipe(c);
      const done = (): void => {
        c.destroy();
        up.destroy();
        sockets.delete(c);
        sockets.delete(up);
      };
      c.on('error', done).on('close', done);
      up.on('error', done).on('close', done);
    });
    await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', () => r()));
    onTestFinished(() => {
      for (const s of sockets) s.destroy();
      proxy.close();
    });
    const { md: n1, port: p1 } = await startMeshMd(threads, nats, { deadAfterMs: 600 }, { name: 'n1' });
    const { md: n2, port: p2 } = await startMeshMd(threads, { ...nats, url: `nats://127.0.0.1:${proxyPort}` }, { deadAfterMs: 600 }, { name: 'n2' });
    const a = await connectParticipant(p1, 'a (n1)');
    const b = await connectParticipant(p2, 'b (n2)');
    await a.send(ctl({ kind: 'addChannel', channel: 100 }));
    const pr = mdDg([100], 31, 1);
    await b.send(ctl({ kind: 'addPostRemove', key: 31, datagram: pr }), ctl({ kind: 'addChannel', channel: 200 }));
    await holds(n1, n2, 200);
    await n2.meshSettled();
    // Partition: n2 loses NATS; n1 declares it dead and fires b's post-remove (as Astron's tree would).
    open = false;
    for (const s of sockets) s.destroy();
    expect(await a.waitFrames(1, 'post-remove fired by n1')).toEqual([hex(pr)]);
    expect(n1.meshHolders(200)).toEqual([]);
    // n2 keeps routing locally.
    const b2 = await connectParticipant(p2, 'b2 (n2)');
    const local = mdDg([200], 2, 2);
    await b2.send(local);
    expect(await b.waitFrames(1)).toEqual([hex(local)]);
    // Heal: n2 reconnects, re-announces its interest and stores b's post-removes again.
    open = true;
    await waitFor(() => n2.getStats().mesh === 'up', { what: 'n2 back on NATS', timeoutMs: 15_000 });
    await holds(n1, n2, 200);
    await holds(n2, n1, 100);
    const x = mdDg([200], 3, 3);
    await a.send(x);
    expect((await b.waitFrames(2))[1]).toBe(hex(x));
    await n2.meshSettled();
    // b leaves now: its post-remove fires again from n2 (it was re-stored; the earlier firing was the partition's).
    b.peer.socket.end();
    expect(await a.waitFrames(2)).toEqual([hex(pr), hex(pr)]);
    expect(n1.getStats().meshDeadNodes).toBe(1);
  });

  it('a node that could not open the KV bucket at start (no JetStream) keeps retrying: once it opens, its post-removes are stored and survive it', async () => {
    const nats = await startNats({ jetStream: false });
    const { md: n1, port: p1 } = await startMeshMd(threads, nats, { deadAfterMs: 1000, reconnectWaitMs: 50 }, { name: 'n1' });
    expect(n1.getStats().meshKv).toBe('down');
    expect(n1.getStats().meshKvOpenFailures).toBeGreaterThanOrEqual(1);
    const b = await connectParticipant(p1, 'b (n1)');
    const pr = mdDg([100], 61, 1, [7]);
    await b.send(ctl({ kind: 'addPostRemove', key: 61, datagram: pr }), ctl({ kind: 'addChannel', channel: 61 }));
    await waitFor(() => n1.getStats().controlIn >= 2, { what: 'b’s post-remove and channel applied' });
    // NATS comes back with JetStream: the node opens the bucket and stores b's post-remove.
    await nats.kill();
    await nats.restart({ jetStream: true });
    await waitFor(() => n1.getStats().meshKv === 'up', { what: () => `n1's KV open (failures ${n1.getStats().meshKvOpenFailures}, mesh ${n1.getStats().mesh})` });
    const bucket = await new (await import('@nats-io/kv')).Kvm(await natsClient(nats)).open('pandanet-md-default');
    const key = `pr.${n1.getStats().meshNode}.`;
    let stored = false;
    const deadline = performance.now() + 5000;
    while (!stored && performance.now() < deadline) {
      for await (const k of await bucket.keys('pr.>')) if (k.startsWith(key)) stored = true;
      if (!stored) await new Promise((r) => setTimeout(r, 20));
    }
    expect(stored, 'b’s post-remove in the bucket').toBe(true);
    // And it survives n1: n2 fires it when n1 leaves (a clean stop: the KV copy is what n2 fires).
    const { md: n2, port: p2 } = await startMeshMd(threads, nats, { deadAfterMs: 1000 }, { name: 'n2' });
    const a = await connectParticipant(p2, 'a (n2)');
    await a.send(ctl({ kind: 'addChannel', channel: 100 }));
    await holds(n1, n2, 100);
    await n1.stop();
    expect(await a.waitFrames(1)).toEqual([hex(pr)]);
    expect(n2.getStats().meshPostRemovesFired).toBe(1);
  });

  it('options: nats with upstream is refused (choose one topology); bad nats options are typed errors', () => {
    expect(() => new MessageDirector({ threads, upstream: { host: '127.0.0.1', port: 1 }, nats: { servers: 'nats://127.0.0.1:1' } })).toThrow(
      expect.objectContaining({ code: 'ERR_PANDANET_INVALID_ARGUMENT' }),
    );
    expect(() => new MessageDirector({ threads, nats: { servers: [] } })).toThrow(expect.objectContaining({ code: 'ERR_PANDANET_INVALID_ARGUMENT' }));
    expect(() => new MessageDirector({ threads, nats: { servers: 'nats://x', cluster: 'a.b' } })).toThrow(expect.objectContaining({ code: 'ERR_PANDANET_INVALID_ARGUMENT' }));
    expect(() => new MessageDirector({ threads, nats: { servers: 'nats://x', deadAfterMs: 5 } })).toThrow(expect.objectContaining({ code: 'ERR_PANDANET_VALUE_OUT_OF_RANGE' }));
  });
});
