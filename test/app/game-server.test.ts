/**
 * The demo game server, the bot swarm and the metrics endpoint in process, over real sockets on
 * 127.0.0.1 port 0: join → WELCOME, INPUT → SNAPSHOT echoing it, movement, nearest-N snapshots,
 * leave, bots measuring round trips, bounded connect retries, and `GET /metrics`.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Datagram, getLogLevel, setLogLevel, type QueuedConnectionReader } from '../../src/index.js';
import { BotSwarm } from '../../src/app/bots.js';
import { GameServer, ListenError } from '../../src/app/game-server.js';
import { MetricsServer, PandanetMetrics } from '../../src/app/metrics.js';
import { InPlaceReader, MessageType, decodeSnapshot, encodeInput, writeSpectate, type SnapshotMessage } from '../../src/app/protocol.js';
import { Sampler } from '../../src/app/sampler.js';
import { closedPort, makeClient, takeAll, waitFor, type Received } from '../helpers/net.js';

function startServer(opts: Parameters<typeof GameServer.listen>[0] = {}): GameServer {
  const server = GameServer.listen({ port: 0, threads: 1, tickRate: 50, ...opts });
  onTestFinished(() => server.stop());
  return server;
}

/** Collects what `reader` delivers, split into WELCOMEs and SNAPSHOTs. */
function inbox(reader: QueuedConnectionReader): { welcome: number[]; snapshots: SnapshotMessage[]; take(): void } {
  const got: Received[] = [];
  const box = {
    welcome: [] as number[],
    snapshots: [] as SnapshotMessage[],
    take(): void {
      takeAll(reader, got);
      for (const r of got.splice(0)) {
        if (r.bytes[0] === MessageType.WELCOME) box.welcome.push(new InPlaceReader().welcome(r.bytes, 0, r.bytes.length)!.entityId);
        else if (r.bytes[0] === MessageType.SNAPSHOT) box.snapshots.push(decodeSnapshot(new Datagram(r.bytes)));
      }
    },
  };
  return box;
}

/** Per connection of `client`: its WELCOME's entity id and the latest SNAPSHOT; `take` reads what arrived. */
function latestPerConnection(client: ReturnType<typeof makeClient>): { boxes: Array<{ welcome: number; last: SnapshotMessage | null }>; take(): void } {
  const boxes = client.connections.map(() => ({ welcome: -1, last: null as SnapshotMessage | null }));
  const got: Received[] = [];
  const take = (): void => {
    takeAll(client.reader, got);
    for (const r of got.splice(0)) {
      const i = client.connections.indexOf(r.conn!);
      if (r.bytes[0] === MessageType.WELCOME) boxes[i]!.welcome = new InPlaceReader().welcome(r.bytes, 0, r.bytes.length)!.entityId;
      else if (r.bytes[0] === MessageType.SNAPSHOT) boxes[i]!.last = decodeSnapshot(new Datagram(r.bytes));
    }
  };
  return { boxes, take };
}

describe('GameServer', () => {
  it('welcomes a client, echoes its input in the next snapshot, moves its entity, and sees it leave', async () => {
    const server = startServer();
    const client = makeClient(server.port, 1);
    const box = inbox(client.reader);
    await waitFor(() => box.welcome.length === 1, { what: 'WELCOME', tick: box.take });
    const me = box.welcome[0]!;
    expect(server.clientCount).toBe(1);

    const sendTimeMs = 123456.789;
    const sentAt = performance.now();
    expect(client.writer.send(encodeInput({ sequence: 1, x: 500, y: 500, sendTimeMs }), client.conn)).toBe(true);
    await waitFor(() => box.snapshots.some((s) => s.ack.sequence === 1), { what: 'a snapshot acknowledging input 1', tick: box.take });
    const roundTripMs = performance.now() - sentAt;
    const acked = box.snapshots.find((s) => s.ack.sequence === 1)!;
    expect(acked.ack.sendTimeMs).toBe(sendTimeMs);
    expect(acked.ack.holdMs).toBeGreaterThanOrEqual(0);
    expect(acked.ack.holdMs).toBeLessThanOrEqual(roundTripMs); // the server held it within the round trip
    expect(acked.entities.map((e) => e.id)).toEqual([me]);

    // The entity walks to (500, 500) at 250 units/s: within 1000·√2 units it gets there in < 6 s.
    await waitFor(() => box.snapshots.at(-1)!.entities.some((e) => e.id === me && Math.abs(e.x - 500) < 1e-3 && Math.abs(e.y - 500) < 1e-3), {
      what: 'the entity reaching its target',
      tick: box.take,
    });
    // An old or malformed datagram is ignored, not applied.
    client.writer.send(encodeInput({ sequence: 1, x: 0, y: 0, sendTimeMs: 0 }), client.conn);
    const junk = new Datagram();
    junk.addUint8(99);
    client.writer.send(junk, client.conn);
    await waitFor(() => server.counters().ignored === 2, { what: '2 ignored datagrams', tick: box.take });
    expect(server.counters().inputs).toBe(1);

    client.manager.closeConnection(client.conn);
    await waitFor(() => server.clientCount === 0, { what: 'the server to see the client leave' });
    expect(server.counters()).toMatchObject({ joins: 1, leaves: 1 });
  });

  it('sends each client only its nearest entities when they do not all fit', async () => {
    const server = startServer({ maxSnapshotEntities: 2 });
    const client = makeClient(server.port, 1, 3);
    const { boxes, take } = latestPerConnection(client);
    await waitFor(() => boxes.every((b) => b.last !== null && server.clientCount === 3 && b.last.entities.length === 2), { what: '2-entity snapshots for 3 clients', tick: take });
    // Distance 0: each client's own entity is always among its nearest.
    for (const b of boxes) expect(b.last!.entities.map((e) => e.id)).toContain(b.welcome);
  });

  it('a SPECTATE takes a client’s entity out of the world: it still gets snapshots (nearest entities too), its inputs are ignored', async () => {
    const server = startServer({ maxSnapshotEntities: 2 });
    const client = makeClient(server.port, 1, 4);
    const { boxes, take } = latestPerConnection(client);
    await waitFor(() => server.clientCount === 4 && boxes.every((b) => b.last !== null), { what: 'snapshots for 4 clients', tick: take });
    const watcher = boxes[3]!.welcome;
    const spectate = new Datagram();
    writeSpectate(spectate);
    expect(client.writer.send(spectate, client.connections[3]!)).toBe(true);
    await waitFor(() => server.counters().spectators === 1, { what: 'the SPECTATE applied', tick: take });
    // Snapshots built after it: none carries the watcher's entity, every client (the watcher too) still gets 2 (of 3 players).
    const after = boxes.map((b) => b.last!.tick);
    await waitFor(() => boxes.every((b, i) => b.last!.tick > after[i]!), { what: 'a snapshot after the SPECTATE for every client', tick: take });
    for (const b of boxes) {
      expect(b.last!.entities.map((e) => e.id)).not.toContain(watcher);
      expect(b.last!.entities).toHaveLength(2);
    }
    // A player's own entity is still among its nearest (distance 0).
    for (const b of boxes.slice(0, 3)) expect(b.last!.entities.map((e) => e.id)).toContain(b.welcome);
    // The watcher's INPUT is ignored; a second SPECTATE changes nothing.
    client.writer.send(encodeInput({ sequence: 1, x: 1, y: 1, sendTimeMs: 0 }), client.connections[3]!);
    client.writer.send(spectate, client.connections[3]!);
    await waitFor(() => server.counters().ignored === 1, { what: 'the watcher’s INPUT ignored', tick: take });
    expect(server.counters()).toMatchObject({ inputs: 0, spectators: 1 });
    expect(server.clientCount).toBe(4);
    // It leaves like anyone else.
    client.manager.closeConnection(client.connections[3]!);
    await waitFor(() => server.clientCount === 3, { what: 'the watcher to leave' });
  });

  it('throws ListenError when the port is taken, leaving nothing running', () => {
    const server = startServer();
    expect(() => GameServer.listen({ port: server.port, threads: 1 })).toThrow(ListenError);
  });
});

describe('BotSwarm', () => {
  it('connects, sends inputs at its rate and measures round trips from the snapshots', async () => {
    const server = startServer({ tickRate: 20 });
    const swarm = new BotSwarm({ port: server.port, bots: 5, staggerMs: 1 });
    onTestFinished(() => void swarm.stop());
    swarm.start();
    await waitFor(() => swarm.peek().connected === 5 && swarm.peek().rttTotal.count >= 10, { what: () => `5 bots and 10 round trips (${JSON.stringify(swarm.peek())})` });
    const final = swarm.stop();
    expect(final).toMatchObject({ bots: 5, peakConnected: 5, failed: 0, connected: 0 });
    expect(final.snapshotsReceived).toBeGreaterThan(0);
    expect(final.rttTotal.p50).toBeGreaterThan(0);
    expect(final.rttTotal.p99).toBeGreaterThanOrEqual(final.rttTotal.p50);
    // Latency includes the wait for the next tick, so it is never below the network round trip.
    expect(final.latencyTotal.p50).toBeGreaterThanOrEqual(final.rttTotal.p50);
    await waitFor(() => server.clientCount === 0, { what: 'the server to see the bots leave' });
  });

  it('gives up after maxAttempts when nothing listens', async () => {
    const port = await closedPort();
    const level = getLogLevel();
    setLogLevel('silent'); // six expected "unable to open TCP connection" errors
    onTestFinished(() => setLogLevel(level));
    const swarm = new BotSwarm({ port, bots: 3, staggerMs: 0, maxAttempts: 2, connectTimeoutMs: 1000 });
    onTestFinished(() => void swarm.stop());
    swarm.start();
    await waitFor(() => swarm.peek().failed === 3, { what: () => `3 failed bots (${JSON.stringify(swarm.peek())})` });
    expect(swarm.peek()).toMatchObject({ connected: 0, peakConnected: 0, connectErrors: 6, connecting: 0 });
  });
});

/** Sum of every sample of `name` (all label sets) in a Prometheus text exposition. */
function sumOf(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

describe('metrics endpoint', () => {
  it('serves the Prometheus text of a live server on 127.0.0.1', async () => {
    const server = startServer();
    const client = makeClient(server.port, 1);
    const exporter = new PandanetMetrics({ defaultMetrics: false });
    const http = await MetricsServer.listen(exporter, 0);
    onTestFinished(() => http.close());
    const sampler = new Sampler(server);
    await waitFor(() => server.clientCount === 1, { what: 'the client to join' });
    client.writer.send(encodeInput({ sequence: 1, x: 1, y: 1, sendTimeMs: 0 }), client.conn);
    await waitFor(() => server.counters().inputs === 1, { what: 'the input to be applied' });
    exporter.update(sampler.sample(null));

    const res = await fetch(`http://127.0.0.1:${http.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/^pandanet_connections 2$/m); // the client and the rendezvous
    expect(text).toMatch(/^pandanet_game_clients 1$/m);
    expect(text).toMatch(/^pandanet_game_inputs_total 1$/m);
    expect(text).toMatch(/^pandanet_io_thread_alive\{thread="0"\} 1$/m);
    expect(text).toMatch(/^pandanet_tcp_writes_total\{thread="0"\} \d+$/m);
    expect(sumOf(text, 'pandanet_tcp_reads_total')).toBeGreaterThan(0); // the client's input was read
    expect(sumOf(text, 'pandanet_outbound_sleeps_total')).toBeGreaterThan(0); // the threads slept between sends
    expect(text).toMatch(/^pandanet_reader_queue_capacity\{reader="\d+"\} 50000$/m);
    // Conventional types: counters end in _total and gauges do not; no quantile label outside a summary.
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) expect(name!.endsWith('_total'), `${name} is a ${type}`).toBe(type === 'counter');
    expect(text).not.toMatch(/quantile=/);
    expect((await fetch(`http://127.0.0.1:${http.port}/`)).status).toBe(404);
  });
});
