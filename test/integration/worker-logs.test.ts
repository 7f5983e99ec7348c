/**
 * Log lines: what the I/O threads log reaches the application's `setLogSink` on the main thread (as
 * `LOG` events, in order with the resets), filtered by the main thread's `setLogLevel`; a reader's
 * queue-cap drops are summarised, not logged one line per datagram. Every test runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import { setLogLevel } from '../../src/index.js';
import { MODES, acceptAll, makeClient, makeServer, rawConnect, takeResets, textDatagram, waitFor, withNetConfig, type Server } from '../helpers/net.js';
import { captureLog } from '../helpers/faults.js';
import type { Connection } from '../../src/index.js';

const MAX = 1024;

/** A raw peer that sends a header-2 frame announcing 60,000 bytes (over MAX); resolves with its server-side connection once it is reset. */
async function oversizeReset(server: Server): Promise<Connection> {
  const peer = await rawConnect(server.port);
  const [conn] = (await acceptAll(server, server.accepted.length + 1)).slice(-1);
  const header = Buffer.alloc(2);
  header.writeUInt16LE(60_000, 0);
  await peer.write(Buffer.concat([header, Buffer.alloc(16, 1)]));
  const resets: Connection[] = [];
  await waitFor(() => resets.includes(conn!), { what: 'the oversize frame to reset the connection', tick: () => (server.reader.dataAvailable(), takeResets(server.manager, resets)) });
  return conn!;
}

describe.each(MODES)('log lines ($name)', ({ threads }) => {
  it('an I/O thread\'s "invalid TCP datagram" warning reaches setLogSink, before the reset line', async () => {
    const lines = captureLog();
    const server = withNetConfig({ maxDatagramSize: MAX }, () => makeServer(threads));
    const conn = await oversizeReset(server);
    const id = conn.getId();
    const warning = lines.findIndex((l) => l.startsWith(`warning: connection ${id}: invalid TCP datagram`));
    const reset = lines.findIndex((l) => l.startsWith(`info: connection ${id} reset:`));
    expect(warning, lines.join('\n')).toBeGreaterThanOrEqual(0);
    expect(lines[warning]).toMatch(/60000.*1024/);
    expect(reset, lines.join('\n')).toBeGreaterThan(warning);
    // One reset line: the thread no longer logs its own copy at `info`.
    expect(lines.filter((l) => l.includes(`connection ${id} reset`))).toHaveLength(1);
  });

  it("the main thread's setLogLevel filters the I/O threads' lines", async () => {
    const lines = captureLog();
    const server = withNetConfig({ maxDatagramSize: MAX }, () => makeServer(threads));
    setLogLevel('error');
    const quiet = await oversizeReset(server);
    expect(lines.filter((l) => l.includes(`connection ${quiet.getId()}:`)), lines.join('\n')).toEqual([]);
    setLogLevel('warning');
    const loud = await oversizeReset(server);
    expect(lines.filter((l) => l.includes(`connection ${loud.getId()}:`)), lines.join('\n')).toHaveLength(1);
  });

  it('1,000 datagrams dropped at the queue cap → a few summary lines carrying the count, not 1,000 lines', async () => {
    const CAP = 10;
    const DROPS = 1000;
    const lines = captureLog();
    const server = makeServer(threads);
    server.reader.setMaxQueueSize(CAP);
    const client = makeClient(server.port, threads);
    await acceptAll(server, 1);
    for (let i = 0; i < CAP + DROPS; i++) expect(client.writer.send(textDatagram('x', i), client.conn)).toBe(true);
    const tick = (): void => void server.reader.dataAvailable();
    await waitFor(() => server.reader.getDroppedCount() >= DROPS, { what: () => `${DROPS} drops (have ${server.reader.getDroppedCount()})`, tick });
    const counted = (): number =>
      lines.reduce((sum, l) => {
        const m = /queue full: (\d+) datagrams? dropped/.exec(l);
        return sum + (m === null ? 0 : Number(m[1]));
      }, 0);
    // The last summary comes at most a second after the previous one, at a later poll.
    await waitFor(() => counted() >= DROPS, { what: () => `summary lines counting ${DROPS} drops (${counted()} so far)`, tick });
    const summaries = lines.filter((l) => l.includes('queue full'));
    expect(server.reader.getDroppedCount()).toBe(DROPS);
    expect(server.reader.getCurrentQueueSize()).toBe(CAP);
    expect(counted()).toBe(DROPS);
    // At most one line per second: this test is over in well under 20 s.
    expect(summaries.length, summaries.join('\n')).toBeLessThanOrEqual(20);
    expect(summaries.length).toBeGreaterThanOrEqual(1);
  });
});
