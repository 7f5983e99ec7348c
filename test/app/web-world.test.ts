/**
 * The "done when": a Panda3D-style TCP client and a browser client in the same world. The
 * demo `GameServer` listens for TCP and WebSocket (`wsPort`), `startWebPage` serves the page, headless
 * Chromium joins as a player; a pandanet TCP client (the manual's reader and writer) joins too and
 * walks to (900, 900). The TCP client's snapshots carry the browser's entity, the browser's INPUTs
 * (aimed at its own entity's position, read from the server's snapshots) are applied, and the server
 * sees both leave. In every thread mode.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Datagram } from '../../src/index.js';
import { GameServer, WS_PATH } from '../../src/app/game-server.js';
import { InPlaceReader, MessageType, decodeSnapshot, encodeInput, type SnapshotMessage } from '../../src/app/protocol.js';
import { startWebPage } from '../../src/app/web/web-page.js';
import { launchChromium, waitUntil } from '../helpers/browser.js';
import { MODES, makeClient, takeAll, type Received } from '../helpers/net.js';

describe.each(MODES)('a browser and a TCP client in the same world ($name)', ({ threads }) => {
  it('each sees the other; the browser’s inputs are applied', async () => {
    const server = GameServer.listen({ port: 0, wsPort: 0, threads, tickRate: 20 });
    onTestFinished(() => server.stop());
    const page = await startWebPage({ wsUrl: { port: server.wsPort!, path: WS_PATH } });
    onTestFinished(() => page.close());

    const client = makeClient(server.port, threads);
    let me = -1;
    let last: SnapshotMessage | null = null;
    const got: Received[] = [];
    const take = (): void => {
      takeAll(client.reader, got);
      for (const r of got.splice(0)) {
        if (r.bytes[0] === MessageType.WELCOME) me = new InPlaceReader().welcome(r.bytes, 0, r.bytes.length)!.entityId;
        else if (r.bytes[0] === MessageType.SNAPSHOT) last = decodeSnapshot(new Datagram(r.bytes));
      }
    };
    const timer = setInterval(take, 5);
    onTestFinished(() => clearInterval(timer));
    await waitUntil(() => me !== -1, { what: () => 'the TCP client’s WELCOME' });
    expect(client.writer.send(encodeInput({ sequence: 1, x: 900, y: 900, sendTimeMs: performance.now() }), client.conn)).toBe(true);

    const chromium = launchChromium(`${page.url}?role=player`);
    await waitUntil(() => server.clientCount === 2 && (last?.entities.length ?? 0) === 2 && server.counters().inputs >= 4, {
      chromium,
      what: () => `2 clients, 2 entities in the TCP client’s snapshot, ≥ 3 browser inputs applied (clients ${server.clientCount}, last ${JSON.stringify(last)}, counters ${JSON.stringify(server.counters())})`,
    });
    expect(server.counters().ignored).toBe(0);
    const browserEntity = last!.entities.find((e) => e.id !== me)!;
    expect(browserEntity).toBeDefined();
    await chromium.close();
    client.manager.closeConnection(client.conn);
    await waitUntil(() => server.clientCount === 0, { what: () => `both clients to leave (have ${server.clientCount})` });
  });
});
