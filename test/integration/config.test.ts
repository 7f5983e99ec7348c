/**
 * The configuration object for Panda's PRC variables (spec §0.3): Panda's defaults, validation, and
 * "read when an object is made" (changes affect only objects created afterwards) — plus getHostName.
 */
import os from 'node:os';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import {
  ConnectionManager,
  ConnectionWriter,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  getNetConfig,
  resetNetConfig,
  setNetConfig,
} from '../../src/index.js';
import { MODES, acceptAll, makeClient, makeServer } from '../helpers/net.js';

afterEach(() => resetNetConfig());

describe('NetConfig', () => {
  it("starts at Panda's defaults", () => {
    const c = getNetConfig();
    expect({
      tcpHeaderSize: c.tcpHeaderSize,
      supportIpv6: c.supportIpv6,
      collectTcp: c.collectTcp,
      collectTcpInterval: c.collectTcpInterval,
      netMaxWriteQueue: c.netMaxWriteQueue,
      netMaxResponseQueue: c.netMaxResponseQueue,
      netMaxPollCycle: c.netMaxPollCycle,
      netMaxBlock: c.netMaxBlock,
      idleTimeoutMs: c.idleTimeoutMs,
      ioSpinUs: c.ioSpinUs,
      drainHoldUs: c.drainHoldUs,
    }).toEqual({
      tcpHeaderSize: 2,
      supportIpv6: true,
      collectTcp: false,
      collectTcpInterval: 0.2,
      netMaxWriteQueue: 10_000,
      netMaxResponseQueue: 50_000,
      netMaxPollCycle: 0.2,
      netMaxBlock: 0.01,
      idleTimeoutMs: 0,
      ioSpinUs: 0,
      drainHoldUs: 250,
    });
  });

  it('rejects bad values with typed errors and keeps the old configuration', () => {
    expect(() => setNetConfig({ tcpHeaderSize: 3 as 2 })).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_INVALID_HEADER_SIZE' }) as Error);
    expect(() => setNetConfig({ netMaxWriteQueue: -1 })).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_VALUE_OUT_OF_RANGE' }) as Error);
    expect(() => setNetConfig({ ringBytes: { reader: 5000 } })).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_VALUE_OUT_OF_RANGE' }) as Error);
    expect(() => setNetConfig({ ioSpinUs: -1 })).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_VALUE_OUT_OF_RANGE' }) as Error);
    expect(() => setNetConfig({ ioSpinUs: 0.5 })).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_VALUE_OUT_OF_RANGE' }) as Error);
    expect(() => setNetConfig({ drainHoldUs: -1 })).toThrowError(expect.objectContaining({ code: 'ERR_PANDANET_VALUE_OUT_OF_RANGE' }) as Error);
    expect(getNetConfig().tcpHeaderSize).toBe(2);
    expect(getNetConfig().netMaxWriteQueue).toBe(10_000);
  });

  it('applies to objects made afterwards only', () => {
    const m = new QueuedConnectionManager();
    onTestFinished(() => void m.shutdown());
    const before = new QueuedConnectionReader(m, 0);
    setNetConfig({ tcpHeaderSize: 4, netMaxWriteQueue: 7, netMaxResponseQueue: 9 });
    const m2 = new QueuedConnectionManager();
    onTestFinished(() => void m2.shutdown());
    const after = new QueuedConnectionReader(m2, 0);
    const writer = new ConnectionWriter(m2, 1);
    const listener = new QueuedConnectionListener(m2, 0);
    expect(before.getTcpHeaderSize()).toBe(2);
    expect(before.getMaxQueueSize()).toBe(50_000);
    expect(after.getTcpHeaderSize()).toBe(4);
    expect(after.getMaxQueueSize()).toBe(9);
    expect(listener.getMaxQueueSize()).toBe(9);
    expect(m2.getMaxQueueSize()).toBe(9);
    expect(writer.getTcpHeaderSize()).toBe(4);
    expect(writer.getMaxQueueSize()).toBe(7);
  });

  it('getHostName is the OS host name', () => {
    expect(ConnectionManager.getHostName()).toBe(os.hostname());
    const m = new QueuedConnectionManager();
    onTestFinished(() => void m.shutdown());
    expect(m.getHostName()).toBe(os.hostname());
  });
});

describe.each(MODES)('collect-tcp from the configuration ($name)', ({ threads }) => {
  it('new connections start in collect mode when collectTcp is set', async () => {
    setNetConfig({ collectTcp: true, collectTcpInterval: 0.5 });
    const server = makeServer(threads);
    const client = makeClient(server.port, threads);
    const [accepted] = await acceptAll(server, 1);
    expect(client.conn.getCollectTcp()).toBe(true);
    expect(client.conn.getCollectTcpInterval()).toBe(0.5);
    expect(accepted!.getCollectTcp()).toBe(true);
  });
});
