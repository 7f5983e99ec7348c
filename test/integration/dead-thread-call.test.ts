/**
 * A blocking call made while its I/O thread dies: the main thread is inside the call's wait (no event
 * loop turn, so no `exit` event), and must still notice the death and throw WORKER_DIED at once,
 * instead of waiting out the call's bound and then blaming a timeout.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { QueuedConnectionManager, QueuedConnectionReader } from '../../src/index.js';
import { MODES } from '../helpers/net.js';

describe.each(MODES)('a blocking call whose thread dies during it ($name)', ({ threads }) => {
  it('throws WORKER_DIED, not WORKER_TIMEOUT after its bound', () => {
    const m = new QueuedConnectionManager();
    onTestFinished(() => {
      m.shutdown();
    });
    new QueuedConnectionReader(m, threads);
    // Check the thread answers first, so the crash below is the only reason a call fails.
    const rv = m.openTCPServerRendezvous('127.0.0.1', 0, 10);
    expect(rv).not.toBeNull();
    // The crash is posted before the call: whichever thread takes the call dies first, without answering.
    for (let i = 0; i < m.getNumIoThreads(); i++) m.crashIoThreadForTest(i);
    let error: unknown = null;
    try {
      m.openTCPServerRendezvous('127.0.0.1', 0, 10);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'ERR_PANDANET_WORKER_DIED' });
  });
});
