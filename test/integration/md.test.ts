/**
 * MessageDirector, one node: every control message, the routing rules of Astron's MD byte for byte,
 * post-removes on every kind of disconnect, and bad input (truncated datagrams, empty frames, a
 * recipient count larger than the datagram, a control message with missing arguments, a half-sent
 * 65,535-byte frame, unknown control codes, REMOVE of something never added). Raw `node:net`
 * participants write exact bytes; every test runs in every thread mode.
 */
import { describe, expect, it } from 'vitest';
import { MessageDirector } from '../../src/index.js';
import { MAX_CHANNEL } from '../../src/md/protocol.js';
import { MODES, frame, waitFor, withNetConfig } from '../helpers/net.js';
import { connectParticipant, ctl, hex, mdDg, startMd, u32 } from '../helpers/md.js';

const controls = (md: MessageDirector, n: number): Promise<void> =>
  waitFor(() => md.getStats().controlIn >= n, { what: () => `${n} control messages processed (have ${md.getStats().controlIn})` });

describe.each(MODES)('MessageDirector ($name)', ({ threads }) => {
  it('routes byte for byte, once per participant (duplicate recipients, channel + range overlap), never back to the sender', async () => {
    const { md, port } = await startMd(threads);
    const c1 = await connectParticipant(port, 'c1');
    const c2 = await connectParticipant(port, 'c2');
    const c3 = await connectParticipant(port, 'c3');
    await c1.send(ctl({ kind: 'addChannel', channel: 1111 }), ctl({ kind: 'addRange', lo: 1000, hi: 2000 }));
    await c2.send(ctl({ kind: 'addChannel', channel: 2222 }));
    await c3.send(ctl({ kind: 'addChannel', channel: 3333 }), ctl({ kind: 'addChannel', channel: 9 }));
    await controls(md, 5);
    const dg = mdDg([1111, 1500, 2222, 1111, 3333, 2222, 1111], 4321, 1337, [1, 2, 3]);
    await c3.send(dg);
    expect((await c1.waitFrames(1))[0]).toBe(hex(dg));
    expect((await c2.waitFrames(1))[0]).toBe(hex(dg));
    // Causal fences: c1 and c2 saw the datagram, so an echo to c3 (or a second copy anywhere) would
    // have been written before these.
    const f1 = mdDg([9], 1, 1, [1]);
    const f2 = mdDg([9], 2, 1, [2]);
    await c1.send(f1);
    await c2.send(f2);
    const at3 = await c3.waitFrames(2);
    expect(at3.sort()).toEqual([hex(f1), hex(f2)].sort());
    await c3.send(mdDg([1111], 3, 1), mdDg([2222], 3, 1));
    await c1.waitFrames(2);
    await c2.waitFrames(2);
    expect(c1.frames()).toEqual([hex(dg), hex(mdDg([1111], 3, 1))]);
    expect(c2.frames()).toEqual([hex(dg), hex(mdDg([2222], 3, 1))]);
    const s = md.getStats();
    expect(s.participants).toBe(3);
    expect(s.upstream).toBe('none');
  });

  it('inclusive range ends up to 2^64 − 1; a datagram nobody subscribed to is dropped', async () => {
    const { md, port } = await startMd(threads);
    const c1 = await connectParticipant(port, 'c1');
    const c2 = await connectParticipant(port, 'c2');
    await c1.send(ctl({ kind: 'addRange', lo: MAX_CHANNEL - 10n, hi: MAX_CHANNEL }), ctl({ kind: 'addRange', lo: 0, hi: 0 }));
    await controls(md, 2);
    const sent = [MAX_CHANNEL - 11n, MAX_CHANNEL - 10n, MAX_CHANNEL, 1n, 0n].map((c, i) => mdDg([c], 7, 100 + i));
    await c2.send(...sent);
    await c1.waitFrames(3);
    await c2.send(mdDg([0], 7, 999)); // fence
    const got = await c1.waitFrames(4);
    expect(got).toEqual([sent[1], sent[2], sent[4], mdDg([0], 7, 999)].map((d) => hex(d!)));
    expect(md.getStats().droppedNoSubscriber).toBe(2);
  });

  it('keeps the order of one sender to one receiver', async () => {
    const { md, port } = await startMd(threads);
    const c1 = await connectParticipant(port, 'c1');
    const c2 = await connectParticipant(port, 'c2');
    await c2.send(ctl({ kind: 'addChannel', channel: 5 }));
    await controls(md, 1);
    const N = 3000;
    const dgs = Array.from({ length: N }, (_, i) => mdDg([5], 1, 2, u32(i)));
    for (let i = 0; i < N; i += 500) await c1.send(...dgs.slice(i, i + 500));
    const got = await c2.waitFrames(N);
    expect(got.length).toBe(N);
    expect(got.every((f, i) => f === hex(dgs[i]!))).toBe(true);
  });

  it('REMOVE_CHANNEL and REMOVE_RANGE (slicing) take effect; REMOVE of something never added is a no-op', async () => {
    const { md, port } = await startMd(threads);
    const c1 = await connectParticipant(port, 'c1');
    const c2 = await connectParticipant(port, 'c2');
    await c1.send(
      ctl({ kind: 'removeChannel', channel: 77 }),
      ctl({ kind: 'removeRange', lo: 5, hi: 50 }),
      ctl({ kind: 'addChannel', channel: 77 }),
      ctl({ kind: 'addRange', lo: 1000, hi: 1999 }),
      ctl({ kind: 'removeRange', lo: 1300, hi: 1700 }),
      ctl({ kind: 'removeChannel', channel: 78 }),
      ctl({ kind: 'addChannel', channel: 5 }),
    );
    await controls(md, 7);
    const probe = [77, 999, 1000, 1299, 1300, 1700, 1701, 1999, 2000].map((c) => mdDg([c], 2, 1, u32(c)));
    await c2.send(...probe, mdDg([5], 2, 2));
    const got = await c1.waitFrames(6);
    expect(got).toEqual([77, 1000, 1299, 1701, 1999].map((c) => hex(mdDg([c], 2, 1, u32(c)))).concat(hex(mdDg([5], 2, 2))));
    // REMOVE_RANGE also drops the participant's own channels inside it (as Astron): 5 goes too.
    await c1.send(ctl({ kind: 'removeChannel', channel: 77 }), ctl({ kind: 'removeRange', lo: 0, hi: MAX_CHANNEL }), ctl({ kind: 'addChannel', channel: 6 }));
    await controls(md, 10);
    await c2.send(...probe, mdDg([5], 2, 3), mdDg([6], 2, 4));
    await c1.waitFrames(7);
    expect(c1.frames().slice(6)).toEqual([hex(mdDg([6], 2, 4))]);
  });

  it('ADD/CLEAR_POST_REMOVES, SET_CON_NAME/URL and LOG_MESSAGE are accepted; an unknown control code is ignored and the connection stays', async () => {
    const { md, port } = await startMd(threads);
    const c1 = await connectParticipant(port, 'c1');
    const c2 = await connectParticipant(port, 'c2');
    await c2.send(ctl({ kind: 'addChannel', channel: 555 }));
    const pr = mdDg([555], 171717, 4321, [0x54]);
    await c1.send(
      ctl({ kind: 'setConName', name: 'c1' }),
      ctl({ kind: 'setConUrl', url: 'tcp://c1' }),
      ctl({ kind: 'logMessage', blob: Uint8Array.of(0x80) }),
      ctl({ kind: 'unknown', msgType: 9999 }),
      ctl({ kind: 'addPostRemove', key: 181818, datagram: mdDg([555], 181818, 1) }),
      ctl({ kind: 'clearPostRemoves', key: 181818 }),
      ctl({ kind: 'clearPostRemoves', key: 424242 }),
      ctl({ kind: 'addPostRemove', key: 171717, datagram: pr }),
    );
    await controls(md, 9);
    expect(md.getStats().unknownControl).toBe(1);
    const live = mdDg([555], 1, 1);
    await c1.send(live);
    await c2.waitFrames(1);
    c1.peer.socket.end();
    const got = await c2.waitFrames(2);
    expect(got).toEqual([hex(live), hex(pr)]);
    await waitFor(() => md.getStats().participants === 1, { what: 'c1 gone' });
    expect(md.getStats().postRemovesFired).toBe(1);
  });

  it.each(['FIN', 'RST'] as const)('post-removes fire on %s, once, key by key', async (how) => {
    const { md, port } = await startMd(threads);
    const c1 = await connectParticipant(port, 'c1');
    const c2 = await connectParticipant(port, 'c2');
    await c2.send(ctl({ kind: 'addChannel', channel: 555 }), ctl({ kind: 'addRange', lo: 600, hi: 700 }));
    const prs = [mdDg([555], 1, 1), mdDg([650, 555], 1, 2), mdDg([555], 2, 3)];
    await c1.send(
      ctl({ kind: 'addChannel', channel: 555 }),
      ctl({ kind: 'addPostRemove', key: 1, datagram: prs[0]! }),
      ctl({ kind: 'addPostRemove', key: 1, datagram: prs[1]! }),
      ctl({ kind: 'addPostRemove', key: 2, datagram: prs[2]! }),
    );
    await controls(md, 6);
    if (how === 'FIN') c1.peer.socket.end();
    else c1.peer.socket.resetAndDestroy();
    const got = await c2.waitFrames(3);
    expect(got).toEqual(prs.map(hex));
    await waitFor(() => md.getStats().participants === 1, { what: 'c1 gone' });
    const c3 = await connectParticipant(port, 'c3');
    await c3.send(mdDg([555], 3, 3));
    await c2.waitFrames(4);
    expect(c2.frames().length).toBe(4);
  });

  it.each([
    ['a truncated datagram (recipient count larger than the datagram)', Uint8Array.of(3, 1, 0, 0, 0, 0, 0, 0, 0)],
    ['an empty frame', new Uint8Array(0)],
    ['a datagram without its message type', mdDg([5], 1, 0).subarray(0, 17)],
    ['a control message with missing arguments', ctl({ kind: 'addRange', lo: 1, hi: 2 }).subarray(0, 19)],
  ])('%s terminates only its sender: post-removes fire, nothing more it sends is routed, no FIN at once', async (_what, bad) => {
    const { md, port } = await startMd(threads);
    const c1 = await connectParticipant(port, 'c1');
    const c2 = await connectParticipant(port, 'c2');
    const c3 = await connectParticipant(port, 'c3');
    await c2.send(ctl({ kind: 'addChannel', channel: 555 }));
    const pr = mdDg([555], 1, 77);
    await c1.send(ctl({ kind: 'addPostRemove', key: 1, datagram: pr }), ctl({ kind: 'addChannel', channel: 888 }));
    await controls(md, 3);
    await c1.peer.write(Buffer.concat([frame(bad), frame(mdDg([555], 1, 78))]));
    const got = await c2.waitFrames(1);
    expect(got).toEqual([hex(pr)]);
    // Terminated: its socket is left open (unread) for a while, so no FIN came with the termination.
    expect(c1.peer.ended).toBe(false);
    expect(md.getStats().terminated).toBe(1);
    expect(md.getStats().participants).toBe(2);
    // The others keep routing; c1's subscription (888) is gone, its later datagrams are not routed.
    await c3.send(mdDg([888], 3, 1), mdDg([555], 3, 2));
    await c2.waitFrames(2);
    expect(c2.frames()).toEqual([hex(pr), hex(mdDg([555], 3, 2))]);
    await waitFor(() => c1.peer.ended || c1.peer.closed, { what: 'the terminated participant closed' });
    expect(c1.frames()).toEqual([]);
  });

  it('a 65,535-byte frame left half sent holds only its sender; the rest completes it byte for byte', async () => {
    const { md, port } = await startMd(threads);
    const c1 = await connectParticipant(port, 'c1');
    const c2 = await connectParticipant(port, 'c2');
    const c3 = await connectParticipant(port, 'c3');
    await c3.send(ctl({ kind: 'addChannel', channel: 42 }));
    await controls(md, 1);
    const payload = new Uint8Array(65_535 - 19);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const big = frame(mdDg([42], 1, 2, payload));
    expect(big.length).toBe(65_537);
    await c1.peer.write(big.subarray(0, 30_000));
    for (let i = 0; i < 3; i++) await c2.send(mdDg([42], 2, i));
    const got = await c3.waitFrames(3);
    expect(got).toEqual([0, 1, 2].map((i) => hex(mdDg([42], 2, i))));
    await c1.peer.write(big.subarray(30_000));
    const all = await c3.waitFrames(4);
    expect(all[3]).toBe(hex(big.subarray(2)));
    expect(md.getStats().terminated).toBe(0);
  });

  it('a flood from one participant does not starve the others (each gets everything, in order)', async () => {
    const { md, port } = await startMd(threads);
    const flooder = await connectParticipant(port, 'flooder');
    const sink = await connectParticipant(port, 'sink');
    const a = await connectParticipant(port, 'a');
    const b = await connectParticipant(port, 'b');
    await sink.send(ctl({ kind: 'addChannel', channel: 1 << 20 }));
    await b.send(ctl({ kind: 'addChannel', channel: 2 }));
    await controls(md, 2);
    const FLOOD = 20_000;
    const batch = Array.from({ length: 1000 }, (_, i) => mdDg([1 << 20], 1, 1, u32(i)));
    const flooding = (async () => {
      for (let i = 0; i < FLOOD; i += 1000) await flooder.send(...batch);
    })();
    const N = 200;
    for (let i = 0; i < N; i++) await a.send(mdDg([2], 2, 2, u32(i)));
    const got = await b.waitFrames(N, 'while flooding');
    expect(got.every((f, i) => f === hex(mdDg([2], 2, 2, u32(i))))).toBe(true);
    await flooding;
    await waitFor(() => md.getStats().deliveries >= FLOOD + N, { what: () => `flood delivered (${md.getStats().deliveries})`, timeoutMs: 30_000 });
    await sink.waitCount(FLOOD, 'the flood');
    expect(sink.count()).toBe(FLOOD);
    for (const i of [0, 999, 1000, FLOOD - 1]) expect(hex(sink.frame(i))).toBe(hex(batch[i % 1000]!));
  });

  it('a participant that never reads is terminated as a slow consumer (bounded memory); the others get everything', async () => {
    const { md, port } = await withNetConfig({ maxPendingSendBytes: 256 << 10 }, () => startMd(threads));
    const slow = await connectParticipant(port, 'slow');
    const ok = await connectParticipant(port, 'ok');
    const sender = await connectParticipant(port, 'sender');
    slow.peer.socket.pause();
    const pr = mdDg([8], 66, 66);
    await slow.send(ctl({ kind: 'addChannel', channel: 9 }), ctl({ kind: 'addPostRemove', key: 66, datagram: pr }));
    await ok.send(ctl({ kind: 'addChannel', channel: 8 }));
    await controls(md, 3);
    const payload = new Uint8Array(4000).fill(7);
    let sent = 0;
    // Bounded: at most 400 batches of 100 × 4 kB (160 MB); the kernel buffers of one loopback
    // connection hold a few MB, so the MD's 256 kB high-water mark is reached long before.
    for (let b = 0; b < 400 && md.getStats().slowConsumers === 0; b++) {
      await sender.send(...Array.from({ length: 100 }, (_, i) => mdDg([9, 8], 1, 1, [...u32(sent + i), ...payload])));
      sent += 100;
      await waitFor(() => md.getStats().datagramsIn >= sent || md.getStats().slowConsumers > 0, { what: () => `the MD took ${sent} datagrams (${md.getStats().datagramsIn})` });
    }
    expect(md.getStats().slowConsumers).toBe(1);
    expect(md.getStats().terminated).toBe(1);
    await ok.waitCount(sent + 1, 'everything, and the slow one’s post-remove', 30_000);
    const frames = Array.from({ length: ok.count() }, (_, i) => ok.frame(i));
    expect(frames.filter((f) => hex(f) === hex(pr)).length).toBe(1);
    const data = frames.filter((f) => hex(f) !== hex(pr));
    expect(data.length).toBe(sent);
    expect(data.every((f, i) => Buffer.from(f).readUInt32LE(27) === i)).toBe(true);
  });

  it('validates its options and start() fails clearly when it cannot listen', async () => {
    expect(() => new MessageDirector({ port: 70_000 })).toThrow(/port/);
    expect(() => new MessageDirector({ threads: -1 })).toThrow(/threads/);
    expect(() => new MessageDirector({ upstream: { host: '127.0.0.1', port: 0 } })).toThrow(/upstream port/);
    const { port } = await startMd(threads);
    const second = new MessageDirector({ port, threads });
    await expect(second.start()).rejects.toThrow(/could not listen/);
    await second.stop();
  });
});
