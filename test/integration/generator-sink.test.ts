/**
 * DatagramGeneratorNet / DatagramSinkNet (spec §2.12) over real sockets on 127.0.0.1: a sink on the
 * client feeds a generator on the server. Bounded blocking and async waits, end of input, the sink's
 * error state. Every test runs in every mode (polled/immediate, 1 thread, 2 threads).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  type Connection,
  Datagram,
  ErrorCode,
  NetDatagram,
  PandaNetError,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  ValueRangeError,
} from '../../src/index.js';
import { DatagramGeneratorNet } from '../../src/main/datagram-generator-net.js';
import { DatagramSinkNet } from '../../src/main/datagram-sink-net.js';
import { MODES, readText, textDatagram, waitFor } from '../helpers/net.js';

interface Setup {
  server: QueuedConnectionManager;
  generator: DatagramGeneratorNet;
  rendezvous: Connection;
  /** The server's end, monitored by the generator. */
  accepted: Connection;
  client: QueuedConnectionManager;
  sink: DatagramSinkNet;
  /** The client's end, the sink's target. */
  conn: Connection;
}

async function setup(threads: number): Promise<Setup> {
  const server = new QueuedConnectionManager();
  onTestFinished(() => void server.shutdown());
  const listener = new QueuedConnectionListener(server, threads);
  const generator = new DatagramGeneratorNet(server, threads);
  const rendezvous = server.openTCPServerRendezvous('127.0.0.1', 0, 10);
  if (rendezvous === null) throw new Error(`listen failed: ${String(server.getLastError())}`);
  expect(listener.addConnection(rendezvous)).toBe(true);
  const port = rendezvous.getLocalAddress().getPort();

  const client = new QueuedConnectionManager();
  onTestFinished(() => void client.shutdown());
  const sink = new DatagramSinkNet(client, threads);
  const conn = client.openTCPClientConnection('127.0.0.1', port, 3000);
  if (conn === null) throw new Error(`connect failed: ${String(client.getLastError())}`);
  sink.setTarget(conn);

  const ptr = new PointerToConnection();
  await waitFor(() => listener.newConnectionAvailable() && listener.getNewConnection(ptr), { what: 'the accepted connection' });
  const accepted = ptr.p()!;
  expect(generator.addConnection(accepted)).toBe(true);
  return { server, generator, rendezvous, accepted, client, sink, conn };
}

describe.each(MODES)('DatagramGeneratorNet / DatagramSinkNet ($name)', ({ threads }) => {
  it('sink → generator: every datagram, in order, with its connection (async wait)', async () => {
    const s = await setup(threads);
    expect(s.sink.isError()).toBe(false);
    expect(s.generator.isEof()).toBe(false);
    expect(s.generator.isError()).toBe(false);
    for (let i = 0; i < 20; i++) expect(s.sink.putDatagram(textDatagram('item', i))).toBe(true);
    expect(s.sink.flush()).toBe(true);
    const got: number[] = [];
    for (let i = 0; i < 20; i++) {
      const dg = new NetDatagram();
      expect(await s.generator.getDatagramAsync(dg, 10_000)).toBe(true);
      expect(dg.getConnection()).toBe(s.accepted);
      got.push(readText(dg.getMessage()).n);
    }
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('getDatagram blocks (bounded) until a datagram arrives, without an event-loop turn', async () => {
    const s = await setup(threads);
    expect(s.sink.putDatagram(textDatagram('blocking', 42))).toBe(true);
    const dg = new Datagram();
    // The send is already in the client's I/O thread; the server's threads receive meanwhile.
    expect(s.generator.getDatagram(dg, 10_000)).toBe(true);
    expect(readText(dg.getMessage())).toEqual({ text: 'blocking', n: 42 });
  });

  it('getDatagram returns false at its deadline when nothing comes', async () => {
    const s = await setup(threads);
    const dg = new Datagram();
    let t0 = performance.now();
    expect(s.generator.getDatagram(dg, 60)).toBe(false);
    // Its contract, against its own timeout: it waited that long (no upper bound in ms: a test
    // timeout catches a wait that does not end; how late it ends is the machine's business).
    expect(performance.now() - t0).toBeGreaterThanOrEqual(59);
    t0 = performance.now();
    expect(await s.generator.getDatagramAsync(dg, 60)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(59);
    expect(s.generator.getDatagram(dg, 0)).toBe(false);
  });

  it('end of input: false at once with no connection; after the peer closes, its last datagrams first', async () => {
    const s = await setup(threads);
    const lonely = new DatagramGeneratorNet(s.server, threads);
    expect(lonely.isEof()).toBe(true);
    // At once: neither call waits out its own 20 s timeout (the only bound compared, the call's own).
    const t0 = performance.now();
    expect(lonely.getDatagram(new Datagram(), 20_000)).toBe(false);
    expect(await lonely.getDatagramAsync(new Datagram(), 20_000)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(20_000);

    for (let i = 0; i < 3; i++) expect(s.sink.putDatagram(textDatagram('final', i))).toBe(true);
    expect(s.client.closeConnection(s.conn)).toBe(true);
    expect(s.sink.isError()).toBe(true); // the target is closed
    const got: number[] = [];
    const dg = new NetDatagram();
    while (await s.generator.getDatagramAsync(dg, 10_000)) got.push(readText(dg.getMessage()).n);
    expect(got).toEqual([0, 1, 2]);
    expect(s.generator.isEof()).toBe(true);
    expect(s.generator.isConnectionOk(s.accepted)).toBe(false);
    expect(s.generator.getDatagram(dg, 5000)).toBe(false);
    expect(s.server.getResetConnection()).toBe(s.accepted);
  });

  it('removing the only connection makes it end of input', async () => {
    const s = await setup(threads);
    expect(s.generator.removeConnection(s.accepted)).toBe(true);
    expect(s.generator.isEof()).toBe(true);
    expect(s.generator.getDatagram(new Datagram(), 5000)).toBe(false);
  });

  it('generator queue: uncapped (the ring bounds it); timeouts are validated', async () => {
    const s = await setup(threads);
    expect(s.generator.getMaxQueueSize()).toBe(0x7fffffff);
    for (const bad of [-1, Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(() => s.generator.getDatagram(new Datagram(), bad)).toThrow(ValueRangeError);
      await expect(s.generator.getDatagramAsync(new Datagram(), bad)).rejects.toThrow(ValueRangeError);
    }
  });

  it('sink.flush() flushes the target\'s collect-tcp buffer', async () => {
    const s = await setup(threads);
    s.conn.setCollectTcp(true);
    s.conn.setCollectTcpInterval(3600); // nothing leaves on its own during this test
    expect(s.sink.putDatagram(textDatagram('held', 1))).toBe(true);
    expect(s.sink.putDatagram(textDatagram('held', 2))).toBe(true);
    const dg = new NetDatagram();
    expect(s.generator.getDatagram(dg, 100)).toBe(false); // still in the client's collect buffer
    expect(s.sink.flush()).toBe(true);
    const got: number[] = [];
    for (let i = 0; i < 2; i++) {
      expect(await s.generator.getDatagramAsync(dg, 10_000)).toBe(true);
      got.push(readText(dg.getMessage()).n);
    }
    expect(got).toEqual([1, 2]);
  });

  it('sink: no target → isError and putDatagram false; wrong kinds rejected; closed target → error', async () => {
    const s = await setup(threads);
    expect(s.sink.getTarget()).toBe(s.conn);
    s.sink.setTarget(null);
    expect(s.sink.getTarget()).toBeNull();
    expect(s.sink.isError()).toBe(true);
    expect(s.sink.putDatagram(textDatagram('nowhere'))).toBe(false);
    expect(s.sink.flush()).toBe(true);

    const udp = s.client.openUDPConnection('127.0.0.1', 0);
    expect(udp).not.toBeNull();
    for (const wrong of [udp!, s.rendezvous]) {
      let err: unknown;
      try {
        s.sink.setTarget(wrong);
      } catch (e) {
        err = e;
      }
      expect((err as PandaNetError).code).toBe(ErrorCode.WRONG_CONNECTION_KIND);
    }
    expect(s.sink.getTarget()).toBeNull();

    s.sink.setTarget(s.conn);
    expect(s.sink.isError()).toBe(false);
    expect(s.client.closeConnection(s.conn)).toBe(true);
    expect(s.sink.isError()).toBe(true);
    expect(s.sink.putDatagram(textDatagram('too late'))).toBe(false);
    expect(s.sink.flush()).toBe(false);
    expect(s.client.getResetConnection()).toBe(s.conn); // a send on a closed connection reports it
  });
});
