/**
 * The mesh at its limits, over a real nats-server: a node's interest larger than NATS's
 * `max_payload` (1 MiB by default) still reaches a node that joins later (the snapshot travels in
 * parts) and a REMOVE_RANGE over all of it (the delta travels in parts); a node that died while it
 * was firing a dead node's post-removes leaves its claim behind, and a survivor takes it over and
 * fires the rest. Every test runs in every thread mode.
 */
import { describe, expect, it } from 'vitest';
import { frame, MODES, waitFor } from '../helpers/net.js';
import { connectParticipant, ctl, hex, mdDg, type RawParticipant } from '../helpers/md.js';
import { natsClient, startMeshMd, startNats } from '../helpers/nats.js';
import type { MessageDirector } from '../../src/index.js';

/** 50,000 channels of 19–20 decimal digits: their snapshot is ~1.2 MB of JSON, more than one NATS message may carry. */
const BASE = 2n ** 63n;
const N = 50_000;

async function subscribeMany(p: RawParticipant, md: MessageDirector): Promise<void> {
  const before = md.getStats().controlIn;
  const chunk: Buffer[] = [];
  for (let i = 0; i < N; i++) {
    chunk.push(frame(ctl({ kind: 'addChannel', channel: BASE + BigInt(i) })));
    if (chunk.length === 5000 || i === N - 1) {
      await p.peer.write(Buffer.concat(chunk));
      chunk.length = 0;
    }
  }
  await waitFor(() => md.getStats().controlIn >= before + N, { what: () => `${N} subscriptions applied (${md.getStats().controlIn - before})`, timeoutMs: 20_000 });
}

describe.each(MODES)('MessageDirector mesh limits ($name)', ({ threads }) => {
  it('an interest over 1 MiB reaches a node that joins later (snapshot in parts) and leaves it in one REMOVE_RANGE (delta in parts)', async () => {
    const nats = await startNats();
    const { md: n1, port: p1 } = await startMeshMd(threads, nats, {}, { name: 'n1' });
    const a = await connectParticipant(p1, 'a (n1)');
    await subscribeMany(a, n1);
    // n2 joins after: it learns n1's interest from n1's snapshot only.
    const { md: n2, port: p2 } = await startMeshMd(threads, nats, {}, { name: 'n2' });
    const id1 = n1.getStats().meshNode;
    for (const c of [BASE, BASE + BigInt(N / 2), BASE + BigInt(N - 1)]) {
      await waitFor(() => n2.meshHolders(c).includes(id1), { what: () => `n2 sees n1 holding ${c} (holders: ${n2.meshHolders(c).join(',')})`, timeoutMs: 15_000 });
    }
    expect(n2.meshHolders(BASE - 1n)).toEqual([]);
    expect(n2.meshHolders(BASE + BigInt(N))).toEqual([]);
    const b = await connectParticipant(p2, 'b (n2)');
    const x = mdDg([BASE + 12_345n], 1, 1);
    await b.send(x);
    expect(await a.waitFrames(1)).toEqual([hex(x)]);
    // One REMOVE_RANGE drops all 50,000 channels (as Astron, only while some range subscription
    // exists: hence the ADD_RANGE first): the REMOVE_CHANNELs it implies reach n2.
    const far = BASE + BigInt(N) + 10n;
    await a.send(ctl({ kind: 'addRange', lo: far, hi: far + 10n }), ctl({ kind: 'removeRange', lo: BASE, hi: BASE + BigInt(N) }), ctl({ kind: 'addChannel', channel: 7 }));
    await waitFor(() => n2.meshHolders(7).includes(id1), { what: 'n2 sees n1 holding 7', timeoutMs: 15_000 });
    for (const c of [BASE, BASE + BigInt(N / 2), BASE + BigInt(N - 1)]) expect(n2.meshHolders(c)).toEqual([]);
    expect(n2.meshHolders(far + 5n)).toEqual([id1]);
    expect(n1.getStats().meshKvErrors).toBe(0);
  });

  it('a claimer killed while firing a dead node’s post-removes: a survivor takes its claim over and fires the rest', async () => {
    const nats = await startNats();
    const { md: s1, port: p1 } = await startMeshMd(threads, nats, { deadAfterMs: 600 }, { name: 's1' });
    const a = await connectParticipant(p1, 'a (s1)');
    await a.send(ctl({ kind: 'addChannel', channel: 100 }));
    await waitFor(() => s1.getStats().controlIn >= 1, { what: 'a subscribed' });
    // The state a claimer leaves when it dies mid-fire, written with a raw client in the layout of
    // docs/cluster.md: node "d0" died; node "c1" claimed it, fired participant 1's post-removes and
    // deleted them, then died before participant 2's.
    const nc = await natsClient(nats);
    const { Kvm } = await import('@nats-io/kv');
    const kv = await new Kvm(nc).open('pandanet-md-default');
    const dgs = [mdDg([100], 2, 1, [1]), mdDg([100], 2, 2, [2])];
    const entry = Buffer.concat(dgs.map((d) => Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([d.length & 0xff, d.length >>> 8]), Buffer.from(d)])));
    await kv.put('pr.d0.2', entry);
    await kv.create('claim.d0', new TextEncoder().encode('c1'));
    // c1 is alive for s1 (heartbeats), then goes silent: s1 declares it dead.
    for (let i = 0; i < 3; i++) {
      nc.publish('pandanet.md.default.hb', JSON.stringify({ n: 'c1', s: 0 }));
      await nc.flush();
    }
    await waitFor(() => s1.getStats().meshPeers === 1, { what: 's1 heard c1' });
    expect(await a.waitFrames(2, 'the rest of d0’s post-removes')).toEqual(dgs.map(hex));
    await waitFor(() => s1.getStats().meshDeadNodes >= 1, { what: 'c1 declared dead' });
    // Gone from the KV once fired: the claim too.
    await waitFor(() => s1.getStats().meshPostRemovesFired === 2, { what: 'two fired' });
    let left = 1;
    const until = performance.now() + 10_000;
    while (left > 0 && performance.now() < until) {
      left = 0;
      for await (const k of await kv.keys('>')) if (k === 'pr.d0.2' || k === 'claim.d0') left++;
      if (left > 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(left).toBe(0);
    // Exactly once: a fence through s1 arrives right after them.
    const c = await connectParticipant(p1, 'c (s1)');
    const f = mdDg([100], 3, 3);
    await c.send(f);
    expect(await a.waitFrames(3)).toEqual([...dgs.map(hex), hex(f)]);
  });
});
