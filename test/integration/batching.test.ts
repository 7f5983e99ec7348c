/**
 * Write batching of replies made inside `drainData`: the sends a visitor makes while it works through
 * one connection's run of datagrams reach the I/O thread together and leave in one TCP write per
 * connection, even when the application takes time per datagram (without the held wake-up the thread
 * would wake and write once per reply). Every test runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import { Datagram, NetDatagram, type Connection } from '../../src/index.js';
import { DEFAULT_WAIT_MS, MODES, acceptAll, frame, makeClient, makeServer, patternBytes, rawConnect, readText, receive, textDatagram, waitFor, withNetConfig } from '../helpers/net.js';

/** Simulated game work: busy for `us` microseconds (bounded; no timer involved). */
function work(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

/** A counter summed over the server's I/O threads. */
function threadTotal(server: ReturnType<typeof makeServer>, key: 'tcpWrites' | 'tcpReads' | 'datagramsOut' | 'outboundSleeps' | 'outboundMissedWakes'): number {
  return server.manager.getThreadStats().reduce((s, t) => s + t[key], 0);
}

/**
 * The task stays busy (never returns to its event loop) and polls `client` (polled mode needs the
 * poll) until a datagram is there: an event, bounded by a deadline only.
 */
function pollWithoutReturning(client: ReturnType<typeof makeClient>): { arrived: boolean; polls: number } {
  const deadline = performance.now() + 10_000;
  let arrived = false;
  let polls = 0;
  while (!arrived && performance.now() < deadline) {
    arrived = client.reader.dataAvailable();
    polls++;
  }
  return { arrived, polls };
}

const CONNS = 4;
const RUN = 40;

/** A server and a client whose CONNS connections have each sent RUN datagrams, all queued at the server. */
async function queuedRuns(threads: number): Promise<{ server: ReturnType<typeof makeServer>; client: ReturnType<typeof makeClient> }> {
  const server = makeServer(threads);
  const client = makeClient(server.port, threads, CONNS);
  await acceptAll(server, CONNS);
  for (const [i, c] of client.connections.entries()) {
    for (let k = 0; k < RUN; k++) expect(client.writer.send(textDatagram(`c${i}`, k), c)).toBe(true);
  }
  // Everything is queued at the server before one drain handles it (polled: dataAvailable() polls).
  await waitFor(() => (server.reader.dataAvailable(), server.reader.getCurrentQueueSize() >= CONNS * RUN), {
    what: () => `${CONNS * RUN} datagrams queued (have ${server.reader.getCurrentQueueSize()})`,
  });
  return { server, client };
}

/**
 * Every echo arrived, in order per connection, and the server's threads wrote about one TCP write
 * per run of one connection's replies (`runs` runs; `writesBefore` = tcpWrites before the replies).
 */
async function expectBatchedEchoes(server: ReturnType<typeof makeServer>, client: ReturnType<typeof makeClient>, writesBefore: number, runs: number): Promise<void> {
  const got = await receive(client.reader, CONNS * RUN, { what: 'echoed' });
  for (const c of client.connections) {
    expect(got.filter((r) => r.conn === c).map((r) => readText(r.bytes).n)).toEqual(Array.from({ length: RUN }, (_, k) => k));
  }
  await waitFor(() => threadTotal(server, 'datagramsOut') >= CONNS * RUN, { what: 'the server threads to count the replies' });
  const writes = threadTotal(server, 'tcpWrites') - writesBefore;
  // About one write per run of one connection's datagrams, never one per reply (130–145 writes here
  // without batching). A thread still awake from the previous run may take the first replies of the
  // next one early, so a run can take a few writes on a loaded machine (up to 10 seen for 4).
  expect(writes, `${writes} writes for ${CONNS * RUN} replies in ${runs} runs`).toBeLessThanOrEqual(4 * runs);
}

describe.each(MODES)('batching ($name)', ({ threads }) => {
  it('replies to a run of datagrams made inside drainData leave in one write per connection, in order', async () => {
    const { server, client } = await queuedRuns(threads);
    // Every connection's datagrams were read (the read counter is what shows read batching).
    expect(threadTotal(server, 'tcpReads')).toBeGreaterThanOrEqual(CONNS);
    const before = threadTotal(server, 'tcpWrites');
    const out = new Datagram();
    const order: Connection[] = [];
    const handled = server.reader.drainData((conn, data, offset, length) => {
      work(150); // 150 µs per datagram: ample time for the I/O thread to wake and write each reply
      if (order[order.length - 1] !== conn) order.push(conn);
      out.clear();
      out.appendData(data, offset, length);
      expect(server.writer.send(out, conn)).toBe(true);
    });
    expect(handled).toBe(CONNS * RUN);
    await expectBatchedEchoes(server, client, before, order.length);
    expect(order.length).toBeLessThan(CONNS * RUN / 4);
  });

  it('in a long drain, the replies of the connection visited first go out while the next one is visited', async () => {
    const RUN = 10;
    const server = makeServer(threads);
    const client = makeClient(server.port, threads, 2);
    await acceptAll(server, 2);
    // One connection's run, then the other's, each whole at the server before the drain starts.
    for (const [i, c] of client.connections.entries()) {
      for (let k = 0; k < RUN; k++) expect(client.writer.send(textDatagram(`c${i}`, k), c)).toBe(true);
      await waitFor(() => (server.reader.dataAvailable(), server.reader.getCurrentQueueSize() >= (i + 1) * RUN), {
        what: () => `connection ${i}'s datagrams queued (have ${server.reader.getCurrentQueueSize()})`,
      });
    }
    const out = new Datagram();
    const order: Connection[] = [];
    let seen = 0;
    let firstRepliesArrived = false;
    const missedBefore = threadTotal(server, 'outboundMissedWakes');
    server.reader.drainData((conn, data, offset, length) => {
      if (order[order.length - 1] !== conn) order.push(conn);
      out.clear();
      out.appendData(data.subarray(offset, offset + length));
      expect(server.writer.send(out, conn)).toBe(true);
      work(300);
      if (++seen < 2 * RUN) return;
      // Last datagram, still inside the drain: the first connection's replies were released at the
      // switch (they had waited longer than the hold's bound), so they reach the client while the
      // drain goes on. Held to the drain's end instead, they could not arrive before it returns: this
      // loop would reach its (bounding) deadline without them. Released without waking the sleeping
      // I/O thread, they would leave at its idle timeout, which the missed-wake counter shows below.
      const first = order[0]!.getAddress().getPort(); // the client end's port
      const deadline = performance.now() + DEFAULT_WAIT_MS;
      let got = 0;
      while (got < RUN && performance.now() < deadline) {
        while (client.reader.dataAvailable()) {
          const d = new NetDatagram();
          if (client.reader.getData(d) && d.getConnection()!.getLocalAddress().getPort() === first) got++;
        }
      }
      firstRepliesArrived = got === RUN;
    });
    expect(order.length, 'one run per connection').toBe(2);
    expect(threadTotal(server, 'outboundMissedWakes'), 'replies left on a wake-up, not at an idle timeout').toBe(missedBefore);
    expect(firstRepliesArrived, `the first connection's ${RUN} replies arrived during the drain`).toBe(true);
  });

  it.each([
    { framing: 'header 2', header: 2 as const, raw: false },
    { framing: 'header 4', header: 4 as const, raw: false },
    { framing: 'raw mode', header: 2 as const, raw: true },
  ])('batched replies are exact Panda frames on the wire ($framing), and a close in the drain follows its replies', async ({ header, raw }) => {
    const PEERS = 3;
    const RUN = 6;
    const SIZES = [0, 1, 5, 64, 333, 1500];
    const server = makeServer(threads);
    server.writer.setTcpHeaderSize(header);
    server.writer.setRawMode(raw);
    const peers = await Promise.all(Array.from({ length: PEERS }, () => rawConnect(server.port)));
    const accepted = await acceptAll(server, PEERS);
    const peerOf = (c: Connection): number => peers.findIndex((p) => p.socket.localPort === c.getAddress().getPort());
    // Each peer sends its run (Panda frames, header 2); the server answers each datagram k of peer i
    // with patternBytes(SIZES[k], i * 100 + k), all inside one drain, runs interleaved by arrival.
    for (const [i, p] of peers.entries()) {
      await p.write(Buffer.concat(Array.from({ length: RUN }, (_, k) => frame(Uint8Array.of(i, k)))));
    }
    await waitFor(() => (server.reader.dataAvailable(), server.reader.getCurrentQueueSize() >= PEERS * RUN), {
      what: () => `${PEERS * RUN} datagrams queued (have ${server.reader.getCurrentQueueSize()})`,
    });
    const out = new Datagram();
    const closing = accepted.find((c) => peerOf(c) === 0)!;
    const reply = (conn: Connection, data: Uint8Array, offset: number): void => {
      const i = data[offset]!;
      const k = data[offset + 1]!;
      expect(peerOf(conn)).toBe(i);
      out.clear();
      out.appendData(patternBytes(SIZES[k]!, i * 100 + k));
      expect(server.writer.send(out, conn)).toBe(true);
      // Peer 0's last reply, then its close, from inside the drain: the close must not overtake it.
      if (conn === closing && k === RUN - 1) expect(server.manager.closeConnection(conn)).toBe(true);
    };
    // The queue size counts a datagram as the I/O thread admits it, a moment before it is in the ring,
    // so one drain may find the last one not there yet: drain until all were handled.
    let handled = server.reader.drainData(reply);
    await waitFor(() => (handled += server.reader.drainData(reply)) >= PEERS * RUN, { what: () => `${PEERS * RUN} datagrams handled (have ${handled})` });
    expect(handled).toBe(PEERS * RUN);
    const expected = peers.map((_, i) => Buffer.concat(SIZES.map((n, k) => (raw ? Buffer.from(patternBytes(n, i * 100 + k)) : frame(patternBytes(n, i * 100 + k), header)))));
    await waitFor(() => peers.every((p, i) => p.received().length >= expected[i]!.length) && peers[0]!.ended, {
      what: () => `every reply (have ${peers.map((p) => p.received().length).join('/')} of ${expected.map((e) => e.length).join('/')} bytes; peer 0 ended: ${peers[0]!.ended})`,
    });
    for (const [i, p] of peers.entries()) expect(p.received().equals(expected[i]!), `peer ${i}'s bytes`).toBe(true);
    expect(peers.slice(1).some((p) => p.ended)).toBe(false); // only the closed connection got a FIN
  });

  it.each([
    { spin: 'ioSpinUs 0: it sleeps after each send', ioSpinUs: 0 },
    { spin: 'ioSpinUs 20 s: it stays awake between sends', ioSpinUs: 20_000_000 },
  ])('the outbound loop of an I/O thread ($spin)', async ({ ioSpinUs }) => {
    const SENDS = 20;
    const server = withNetConfig({ ioSpinUs }, () => makeServer(threads));
    const client = makeClient(server.port, threads);
    const [conn] = await acceptAll(server, 1);
    // Settle: without spinning, the thread has taken everything so far and gone to sleep (counted)
    // before the sends. (Spinning, it sleeps only 20 s after its last take: nothing to wait for.)
    if (ioSpinUs === 0) await waitFor(() => threadTotal(server, 'outboundSleeps') > 0, { what: 'the outbound loop to sleep once' });
    const before = threadTotal(server, 'outboundSleeps');
    // Each send waits for an event, not for a time: the datagram at the client, and without spinning
    // the thread's next sleep too (so every send finds it asleep and must wake it).
    const got: Awaited<ReturnType<typeof receive>> = [];
    for (let k = 0; k < SENDS; k++) {
      expect(server.writer.send(textDatagram('spaced', k), conn!)).toBe(true);
      got.push(...(await receive(client.reader, 1, { what: `spaced send ${k}` })));
      if (ioSpinUs === 0) await waitFor(() => threadTotal(server, 'outboundSleeps') - before > k, { what: () => `the outbound loop to sleep after send ${k}` });
    }
    expect(got.map((r) => readText(r.bytes).n)).toEqual(Array.from({ length: SENDS }, (_, k) => k));
    const sleeps = threadTotal(server, 'outboundSleeps') - before;
    // Without spinning the thread slept after every send: each one cost the sender a wake-up.
    // Spinning (20 s: longer than the sequence takes) after the last send it took, it does not sleep
    // in the sequence (at most once: a thread asleep since before the sends sleeps again only later).
    if (ioSpinUs === 0) expect(sleeps, `${sleeps} sleeps for ${SENDS} spaced sends`).toBeGreaterThanOrEqual(SENDS);
    else expect(sleeps, `${sleeps} sleeps for ${SENDS} spaced sends`).toBeLessThanOrEqual(1);
  });

  it.each([
    { how: 'inside writer.cork() … uncork()', corked: true },
    { how: 'without cork, as the manual writes it', corked: false },
  ])('the manual getData loop $how batches its replies the same way, in order', async ({ corked }) => {
    const { server, client } = await queuedRuns(threads);
    const before = threadTotal(server, 'tcpWrites');
    const dg = new NetDatagram();
    const order: Connection[] = [];
    let handled = 0;
    if (corked) {
      server.writer.cork();
      expect(server.writer.getCorked()).toBe(1);
    }
    while (server.reader.dataAvailable()) {
      if (!server.reader.getData(dg)) break;
      work(150); // as in the drainData test: time for a thread to wake and write each reply, were they not held
      const conn = dg.getConnection()!;
      if (order[order.length - 1] !== conn) order.push(conn);
      expect(server.writer.send(dg, conn)).toBe(true);
      handled++;
    }
    if (corked) {
      server.writer.uncork();
      expect(server.writer.getCorked()).toBe(0);
    }
    expect(handled).toBe(CONNS * RUN);
    await expectBatchedEchoes(server, client, before, order.length);
  });

  it('a loop of getData cut short by a budget: its held replies leave on a wake once the task returns', async () => {
    const { server, client } = await queuedRuns(threads);
    const missedBefore = threadTotal(server, 'outboundMissedWakes');
    const dg = new NetDatagram();
    const BUDGET = 7; // the loop stops with datagrams still queued: no empty queue ends its hold
    let n = 0;
    while (n < BUDGET && server.reader.getData(dg)) {
      expect(server.writer.send(dg, dg.getConnection()!)).toBe(true);
      n++;
    }
    expect(n).toBe(BUDGET);
    // The task returns here; the server takes nothing more.
    const got = await receive(client.reader, BUDGET, { what: 'the replies of the cut-short loop' });
    expect(got).toHaveLength(BUDGET);
    expect(threadTotal(server, 'outboundMissedWakes') - missedBefore, 'sleeps that ran out their idle time with the replies waiting').toBe(0);
  });

  it('a reply after a single getData leaves at once, while the task goes on computing', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [conn] = await acceptAll(server, 1);
    expect(client.writer.send(textDatagram('ask', 1), client.connections[0]!)).toBe(true);
    await waitFor(() => server.reader.dataAvailable(), { what: 'the request at the server' });
    const dg = new NetDatagram();
    expect(server.reader.getData(dg)).toBe(true);
    expect(dg.getConnection()).toBe(conn);
    expect(server.writer.send(textDatagram('answer', 2), conn!)).toBe(true);
    const { arrived, polls } = pollWithoutReturning(client);
    expect(arrived, `the reply arrived while the server's task kept computing (${polls} polls)`).toBe(true);
  });

  it('cork nests, uncork without cork does nothing, and shutdown ends its corks', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [conn] = await acceptAll(server, 1);
    server.writer.uncork(); // nothing open: a no-op
    expect(server.writer.getCorked()).toBe(0);
    server.writer.cork();
    server.writer.cork();
    expect(server.writer.send(textDatagram('corked', 1), conn!)).toBe(true);
    server.writer.uncork();
    expect(server.writer.getCorked()).toBe(1);
    // Still corked: shutting the writer down must not leave the send held for good.
    server.writer.shutdown();
    expect(server.writer.getCorked()).toBe(0);
    const got = await receive(client.reader, 1, { what: 'the datagram sent while corked' });
    expect(readText(got[0]!.bytes)).toEqual({ text: 'corked', n: 1 });
    expect(() => server.writer.cork()).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_SHUT_DOWN' }) as Error);
  });

  it('sends made outside drainData still go out at once (nothing is held)', async () => {
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [conn] = await acceptAll(server, 1);
    // A send followed by a long computation in the same task: the datagram must not wait for it.
    expect(server.writer.send(textDatagram('now', 7), conn!)).toBe(true);
    const { arrived, polls } = pollWithoutReturning(client);
    expect(arrived, `the datagram arrived while the main thread kept computing (${polls} polls)`).toBe(true);
  });
});
