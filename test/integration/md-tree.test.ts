/**
 * Astron's tree: a MessageDirector with an upstream. A raw `node:net` server stands in for the parent
 * to check the exact bytes the child sends up (first-subscriber ADD, last-leaver REMOVE, ranges
 * clamped and split, post-removes forwarded and cleared); two MessageDirectors route across nodes;
 * the upstream goes away and comes back (raw parent killed; MD parent stopped and restarted on the
 * same port). Every test runs in every thread mode.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { MessageDirector } from '../../src/index.js';
import type { MdControl } from '../../src/md/protocol.js';
import { MODES, rawListen, waitFor } from '../helpers/net.js';
import { acceptedParticipant, connectParticipant, ctl, hex, mdDg, startMd, type RawParticipant } from '../helpers/md.js';

/** Reads what a raw parent received, frame by frame, from where the last read stopped. */
function cursor(l1: RawParticipant): { next(n: number, what: string): Promise<string[]> } {
  let at = 0;
  return {
    async next(n, what) {
      const all = await l1.waitFrames(at + n, what);
      const out = all.slice(at, at + n);
      at += n;
      return out;
    },
  };
}
const c = (m: MdControl): string => hex(ctl(m));
let fenceN = 0;
/** A datagram nobody subscribes to: forwarded up after everything its sender sent before it. */
const fence = (): Uint8Array => mdDg([0xfe_0000 + fenceN], 0xfe, 1, [fenceN++ & 0xff]);

describe.each(MODES)('MessageDirector tree ($name)', ({ threads }) => {
  it('sends exactly the upstream messages of the tree rules to its parent', async () => {
    const parent = await rawListen();
    const { md, port } = await startMd(threads, { upstream: { host: '127.0.0.1', port: parent.port }, name: 'child' });
    expect(md.getStats().upstream).toBe('up');
    const l1 = await acceptedParticipant(parent, 0);
    const up = cursor(l1);
    const c1 = await connectParticipant(port, 'c1');
    let c2 = await connectParticipant(port, 'c2');

    // Local traffic goes up unchanged, subscribed or not.
    const hello = mdDg([1234], 4321, 1337, [5, 0, 0x48, 0x45, 0x4c, 0x4c, 0x4f]);
    await c1.send(hello);
    expect(await up.next(1, 'hello')).toEqual([hex(hello)]);

    // First subscriber ADD; a second subscriber and the first one's REMOVE send nothing.
    const ch = 12345654321;
    await c1.send(ctl({ kind: 'addChannel', channel: ch }));
    expect(await up.next(1, 'ADD_CHANNEL')).toEqual([c({ kind: 'addChannel', channel: ch })]);
    await c2.send(ctl({ kind: 'addChannel', channel: ch }));
    const f1 = fence();
    await c2.send(f1);
    expect(await up.next(1, 'fence')).toEqual([hex(f1)]);
    await c1.send(ctl({ kind: 'removeChannel', channel: ch }));
    const f2 = fence();
    await c1.send(f2);
    expect(await up.next(1, 'fence')).toEqual([hex(f2)]);
    // The last leaver (by disconnecting) sends REMOVE_CHANNEL.
    c2.peer.socket.end();
    expect(await up.next(1, 'REMOVE_CHANNEL')).toEqual([c({ kind: 'removeChannel', channel: ch })]);
    c2 = await connectParticipant(port, 'c2 again');

    // Ranges: ADD forwarded in full when any part is new; REMOVE clamped to the span and split.
    const c3 = await connectParticipant(port, 'c3');
    await c1.send(ctl({ kind: 'addRange', lo: 1000, hi: 1999 }), ctl({ kind: 'removeRange', lo: 1300, hi: 1700 }));
    expect(await up.next(2, 'range 1')).toEqual([c({ kind: 'addRange', lo: 1000, hi: 1999 }), c({ kind: 'removeRange', lo: 1300, hi: 1700 })]);
    await c3.send(ctl({ kind: 'addRange', lo: 1500, hi: 2500 }));
    expect(await up.next(1, 'range 2')).toEqual([c({ kind: 'addRange', lo: 1500, hi: 2500 })]);
    await c1.send(ctl({ kind: 'removeRange', lo: 900, hi: 2100 }));
    expect(await up.next(1, 'range 3')).toEqual([c({ kind: 'removeRange', lo: 1000, hi: 1499 })]);
    await c1.send(ctl({ kind: 'addRange', lo: 1000, hi: 5000 }), ctl({ kind: 'removeRange', lo: 0, hi: 9000 }));
    expect(await up.next(3, 'range 4')).toEqual([c({ kind: 'addRange', lo: 1000, hi: 5000 }), c({ kind: 'removeRange', lo: 1000, hi: 1499 }), c({ kind: 'removeRange', lo: 2501, hi: 5000 })]);
    await c3.send(ctl({ kind: 'addRange', lo: 1600, hi: 1700 })); // c3 held it already, others hold nothing: sent again (as Astron)
    expect(await up.next(1, 'range 5')).toEqual([c({ kind: 'addRange', lo: 1600, hi: 1700 })]);
    await c2.send(ctl({ kind: 'addRange', lo: 1500, hi: 1600 })); // all of it held by c3: nothing
    await c3.send(ctl({ kind: 'removeRange', lo: 2000, hi: 2000 }));
    expect(await up.next(1, 'range 6')).toEqual([c({ kind: 'removeRange', lo: 2000, hi: 2000 })]);
    c3.peer.socket.resetAndDestroy();
    expect(await up.next(2, 'range 7')).toEqual([c({ kind: 'removeRange', lo: 1601, hi: 1999 }), c({ kind: 'removeRange', lo: 2001, hi: 2500 })]);

    // Post-removes: forwarded when added, an explicit CLEAR forwarded, fired ones followed by a CLEAR per key.
    const pr = mdDg([555444333], 0, 4321, [0x54]);
    await c1.send(ctl({ kind: 'addPostRemove', key: 171717, datagram: pr }), ctl({ kind: 'clearPostRemoves', key: 171717 }));
    expect(await up.next(2, 'post-remove 1')).toEqual([c({ kind: 'addPostRemove', key: 171717, datagram: pr }), c({ kind: 'clearPostRemoves', key: 171717 })]);
    const pr2 = mdDg([987987987], 0, 6959);
    const pr3 = mdDg([986666687], 0, 1252);
    await c1.send(
      ctl({ kind: 'addPostRemove', key: 191919, datagram: pr }),
      ctl({ kind: 'addPostRemove', key: 191919, datagram: pr2 }),
      ctl({ kind: 'addPostRemove', key: 202020, datagram: pr3 }),
    );
    expect(await up.next(3, 'post-remove 2')).toEqual([
      c({ kind: 'addPostRemove', key: 191919, datagram: pr }),
      c({ kind: 'addPostRemove', key: 191919, datagram: pr2 }),
      c({ kind: 'addPostRemove', key: 202020, datagram: pr3 }),
    ]);
    c1.peer.socket.end();
    expect(await up.next(5, 'post-removes fired')).toEqual([hex(pr), hex(pr2), c({ kind: 'clearPostRemoves', key: 191919 }), hex(pr3), c({ kind: 'clearPostRemoves', key: 202020 })]);

    // From upstream: delivered locally, never sent back up.
    await c2.send(ctl({ kind: 'addChannel', channel: 5555 }));
    expect(await up.next(1, 'ADD 5555')).toEqual([c({ kind: 'addChannel', channel: 5555 })]);
    const down = mdDg([5555, 5555], 9, 9, [1]);
    await l1.send(down);
    expect(await c2.waitFrames(1)).toEqual([hex(down)]);
    const f3 = fence();
    await c2.send(f3);
    expect(await up.next(1, 'nothing sent back up')).toEqual([hex(f3)]);
    expect(l1.frames().length).toBeGreaterThan(0);
    expect(md.getStats().fromUpstream).toBe(1);
  });

  it('routes across two MessageDirectors both ways; the parent fires a stopped child’s post-removes', async () => {
    const { md: root, port: rootPort } = await startMd(threads, { name: 'root' });
    const { md: child, port: childPort } = await startMd(threads, { upstream: { host: '127.0.0.1', port: rootPort }, name: 'child' });
    const a = await connectParticipant(rootPort, 'a (root)');
    const b = await connectParticipant(childPort, 'b (child)');
    const d = await connectParticipant(childPort, 'd (child)');
    await a.send(ctl({ kind: 'addChannel', channel: 100 }));
    await b.send(ctl({ kind: 'addChannel', channel: 200 }), ctl({ kind: 'addPostRemove', key: 7, datagram: mdDg([100], 7, 70) }));
    await d.send(ctl({ kind: 'addRange', lo: 300, hi: 399 }));
    // root: a's ADD, then the child's ADD_CHANNEL 200, ADD_POST_REMOVE, ADD_RANGE
    await waitFor(() => root.getStats().controlIn >= 4 && child.getStats().controlIn >= 3, { what: 'subscriptions on both nodes' });
    const ab = mdDg([200], 1, 1, [1]);
    await a.send(ab);
    expect(await b.waitFrames(1)).toEqual([hex(ab)]);
    const ba = mdDg([100, 350], 2, 2, [2]);
    await b.send(ba);
    expect(await a.waitFrames(1)).toEqual([hex(ba)]);
    expect(await d.waitFrames(1)).toEqual([hex(ba)]); // locally, once: the root never sends it back down
    const fd = mdDg([350], 1, 3);
    await a.send(fd);
    expect(await d.waitFrames(2)).toEqual([hex(ba), hex(fd)]);
    // A clean stop of the child fires nothing itself; the root holds b's post-remove and fires it when the link closes.
    await child.stop();
    expect(await a.waitFrames(2)).toEqual([hex(ba), hex(mdDg([100], 7, 70))]);
  });

  it('upstream killed: routes locally meanwhile, reconnects and re-sends its subscriptions and post-removes', async () => {
    const parent = await rawListen();
    const { md, port } = await startMd(threads, { upstream: { host: '127.0.0.1', port: parent.port } });
    const l1 = await acceptedParticipant(parent, 0);
    const c1 = await connectParticipant(port, 'c1');
    const c2 = await connectParticipant(port, 'c2');
    const pr = mdDg([42], 1, 1);
    await c1.send(
      ctl({ kind: 'addChannel', channel: 300 }),
      ctl({ kind: 'addRange', lo: 400, hi: 500 }),
      ctl({ kind: 'addPostRemove', key: 1, datagram: pr }),
    );
    await c2.send(ctl({ kind: 'addRange', lo: 450, hi: 600 }), ctl({ kind: 'addChannel', channel: 300 }));
    await l1.waitFrames(4, 'initial subscriptions');
    l1.peer.socket.resetAndDestroy();
    await waitFor(() => md.getStats().upstream === 'down' || md.getStats().upstreamReconnects > 0, { what: 'upstream loss noticed' });
    const local = mdDg([300], 2, 2);
    await c2.send(local);
    expect(await c1.waitFrames(1)).toEqual([hex(local)]);
    const l2 = await acceptedParticipant(parent, 1, 'upstream again');
    await waitFor(() => md.getStats().upstream === 'up', { what: 'upstream back' });
    expect(md.getStats().upstreamReconnects).toBe(1);
    const resync = await l2.waitFrames(3, 'resync');
    expect(resync.slice(0, 3)).toEqual([c({ kind: 'addChannel', channel: 300 }), c({ kind: 'addRange', lo: 400, hi: 600 }), c({ kind: 'addPostRemove', key: 1, datagram: pr })]);
    const after = mdDg([77], 1, 5);
    await c1.send(after);
    expect((await l2.waitFrames(4))[3]).toBe(hex(after));
    const down = mdDg([450], 9, 9);
    await l2.send(down);
    expect(await c1.waitFrames(2)).toEqual([hex(local), hex(down)]);
  });

  it('parent MessageDirector stopped and restarted on the same port: the child re-subscribes there', async () => {
    const { md: p1, port: rootPort } = await startMd(threads, { name: 'root 1' });
    const { md: child, port: childPort } = await startMd(threads, { upstream: { host: '127.0.0.1', port: rootPort }, name: 'child' });
    const b = await connectParticipant(childPort, 'b (child)');
    await b.send(ctl({ kind: 'addChannel', channel: 300 }));
    await waitFor(() => p1.getStats().controlIn >= 1, { what: 'ADD on root 1' });
    await p1.stop();
    await waitFor(() => child.getStats().upstream === 'down', { what: 'child notices' });
    const p2 = new MessageDirector({ host: '127.0.0.1', port: rootPort, threads, name: 'root 2' });
    onTestFinished(() => p2.stop());
    await p2.start();
    await waitFor(() => child.getStats().upstream === 'up' && p2.getStats().controlIn >= 1, { what: 'child back on root 2', timeoutMs: 15_000 });
    expect(child.getStats().upstreamReconnects).toBe(1);
    const a = await connectParticipant(rootPort, 'a (root 2)');
    const dg = mdDg([300], 1, 1, [3]);
    await a.send(dg);
    expect(await b.waitFrames(1)).toEqual([hex(dg)]);
  });
});
