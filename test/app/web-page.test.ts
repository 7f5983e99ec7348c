/**
 * The demo's web page (`startWebPage`): what it serves over HTTP, and, in headless Chromium, a
 * browser joining a game over WebSocket — a small `ws` server in the test speaks the game protocol
 * (`src/app/protocol.ts`): WELCOME and a SNAPSHOT out, INPUTs in. A player's INPUTs aim at its own
 * entity's position from the snapshot (its target starts where it is); a spectator sends one SPECTATE
 * and no INPUT.
 *
 * No Chromium → the browser tests fail with an install hint (they never skip).
 */
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { Datagram } from '../../src/datagram/index.js';
import { type InputMessage, MessageType, SPECTATE_BYTES, decodeInput, encodeSnapshot, writeWelcome } from '../../src/app/protocol.js';
import { PyDatagram } from '../../src/datagram/index.js';
import { parsePageConfig, resolveWsUrl } from '../../src/app/web/client/config.js';
import { WorldState } from '../../src/app/web/client/world.js';
import { pageHtml } from '../../src/app/web/page-html.js';
import { startWebPage } from '../../src/app/web/web-page.js';
import { launchChromium, waitUntil } from '../helpers/browser.js';

/** What the stand-in saw of one connection: its INPUTs, its SPECTATEs, anything else (bad). */
interface SeenConnection {
  id: number;
  inputs: InputMessage[];
  spectates: number;
  bad: number;
}

/** A game server stand-in: WELCOME (ids from 7) and one SNAPSHOT per connection; records each connection's INPUTs and SPECTATEs. */
async function startGameStandIn(): Promise<{ url: string; conns: SeenConnection[] }> {
  const conns: SeenConnection[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  onTestFinished(() => new Promise<void>((r) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => r());
  }));
  let nextId = 7;
  wss.on('connection', (ws: WebSocket) => {
    const me: SeenConnection = { id: nextId++, inputs: [], spectates: 0, bad: 0 };
    conns.push(me);
    ws.on('message', (data, isBinary) => {
      try {
        if (!isBinary) throw new Error('text');
        const bytes = new Uint8Array(data as Buffer);
        if (bytes.length === SPECTATE_BYTES && bytes[0] === MessageType.SPECTATE) me.spectates++;
        else me.inputs.push(decodeInput(new Datagram(bytes)));
      } catch {
        me.bad++;
      }
    });
    const welcome = new PyDatagram();
    writeWelcome(welcome, { entityId: me.id, tickRate: 20, worldSize: 1000 });
    ws.send(welcome.getMessage());
    const snapshot = encodeSnapshot({
      tick: 1,
      serverTimeMs: 0,
      entities: [
        { id: me.id, x: 100 + me.id, y: 200 },
        { id: 99, x: 500, y: 500 },
      ],
      ack: { sequence: 0, sendTimeMs: 0, holdMs: 0 },
    });
    ws.send(snapshot.getMessage());
  });
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, conns };
}

async function page(wsUrl: string): Promise<Awaited<ReturnType<typeof startWebPage>>> {
  const p = await startWebPage({ host: '127.0.0.1', port: 0, wsUrl });
  onTestFinished(() => p.close());
  return p;
}

describe('demo web page over HTTP', () => {
  it('serves the page with its settings, and only the modules its script imports', async () => {
    const p = await page('ws://127.0.0.1:9/game');
    const get = (path: string, init?: RequestInit): Promise<Response> => fetch(new URL(path, p.url), init);
    const index = await get('/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await index.text();
    expect(html).toContain('"ws":"ws://127.0.0.1:9/game"');
    expect(html).toContain('<script type="module" src="/modules/app/web/client/main.js">');
    for (const mod of ['app/web/client/main.js', 'browser/index.js', 'app/protocol.js', 'datagram/py-datagram.js', 'errors.js']) {
      const r = await get(`/modules/${mod}`);
      expect({ mod, status: r.status, type: r.headers.get('content-type') }).toEqual({ mod, status: 200, type: 'text/javascript; charset=utf-8' });
      await r.arrayBuffer();
    }
    for (const path of ['/modules/index.js', '/modules/main/connection-manager.js', '/modules/app/cli.js', '/modules/app/web/client/main.js.map', '/package.json', '/modules/%2e%2e/package.json']) {
      const r = await get(path);
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
      await r.arrayBuffer();
    }
    const post = await get('/', { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    await post.arrayBuffer();
    await p.close();
  });

  it('refuses an unusable wsUrl, and a config value cannot end the script element', async () => {
    await expect(startWebPage({ wsUrl: '' })).rejects.toThrow(/ws/);
    await expect(startWebPage({ wsUrl: { port: 70000 } })).rejects.toThrow(/ws/);
    const html = pageHtml({ ws: 'ws://x/</script><script>alert(1)</script>', title: '<b>t</b>' }, '/modules/');
    expect(html).not.toContain('</script><script>alert');
    expect(html).toContain('&#60;b&#62;t&#60;/b&#62;');
    const embedded = /<script type="application\/json" id="pandanet-config">(.*)<\/script>/.exec(html)?.[1] ?? null;
    expect(parsePageConfig(embedded).ws).toBe('ws://x/</script><script>alert(1)</script>');
  });

  it('a { port, path } wsUrl resolves against the page host (wss: for https pages)', () => {
    expect(resolveWsUrl({ port: 9098 }, 'http:', 'example.org')).toBe('ws://example.org:9098/');
    expect(resolveWsUrl({ port: 9098, path: 'game' }, 'https:', '[::1]')).toBe('wss://[::1]:9098/game');
    expect(resolveWsUrl('ws://a:1/x', 'https:', 'b')).toBe('ws://a:1/x');
  });
});

describe('the page client state (WorldState)', () => {
  it('applies WELCOME and SNAPSHOTs, interpolates positions, measures the round trip from the ack', () => {
    const w = new WorldState();
    const welcome = new PyDatagram();
    writeWelcome(welcome, { entityId: 5, tickRate: 10, worldSize: 800 });
    expect(w.apply(welcome, 0)).toBe('welcome');
    expect({ id: w.entityId, rate: w.tickRate, size: w.worldSize }).toEqual({ id: 5, rate: 10, size: 800 });
    const snap = (tick: number, x: number, ack = { sequence: 0, sendTimeMs: 0, holdMs: 0 }): PyDatagram =>
      encodeSnapshot({ tick, serverTimeMs: 0, entities: [{ id: 5, x, y: 0 }, { id: 6, x: 1, y: 1 }], ack });
    expect(w.apply(snap(1, 100), 1000)).toBe('snapshot');
    expect(w.self()).toEqual({ x: 100, y: 0 });
    expect(w.apply(snap(2, 200, { sequence: 3, sendTimeMs: 1040, holdMs: 20 }), 1100)).toBe('snapshot');
    expect(w.rttMs).toBe(40);
    // Half a tick (50 ms at 10 Hz) after the latest snapshot: halfway from 100 to 200.
    expect(w.positionsAt(1150).find((e) => e.id === 5)?.x).toBeCloseTo(150, 5);
    expect(w.positionsAt(5000).find((e) => e.id === 5)?.x).toBe(200);
    expect(w.entityCount).toBe(2);
    // Garbage and a short snapshot are counted and ignored.
    expect(w.apply(new Datagram(new Uint8Array([2, 1, 2])), 1200)).toBe('ignored');
    expect(w.apply(new Datagram(new Uint8Array([42])), 1200)).toBe('ignored');
    expect(w.ignored).toBe(2);
    expect(w.tick).toBe(2);
  });
});

describe('demo web page in headless Chromium', () => {
  it('a player joins: WELCOME and a SNAPSHOT in, INPUTs out aimed at its own entity', async () => {
    const game = await startGameStandIn();
    const p = await page(game.url);
    const chromium = launchChromium(`${p.url}?role=player`);
    await waitUntil(() => (game.conns[0]?.inputs.length ?? 0) >= 3, { chromium, what: () => `3 INPUTs from the page (connections ${JSON.stringify(game.conns)})` });
    const c = game.conns[0]!;
    expect(c.bad).toBe(0);
    expect(c.inputs.slice(0, 3).map((m) => m.sequence)).toEqual([1, 2, 3]);
    for (const m of c.inputs) expect({ x: m.x, y: m.y }).toEqual({ x: 100 + c.id, y: 200 });
    expect(c.inputs[0]!.sendTimeMs).toBeGreaterThan(0);
  });

  it('a spectator joins, sends one SPECTATE and nothing else, while a player beside it sends INPUTs', async () => {
    const game = await startGameStandIn();
    const p = await page(game.url);
    const spectator = launchChromium(`${p.url}?role=spectator`);
    await waitUntil(() => game.conns.length >= 1, { chromium: spectator, what: () => 'the spectator page to connect' });
    const player = launchChromium(`${p.url}?role=player`);
    // By the player's third INPUT (three ticks after its snapshot) a spectator that sent inputs would have.
    await waitUntil(() => (game.conns[1]?.inputs.length ?? 0) >= 3, { chromium: player, what: () => `3 INPUTs from the player page (connections ${JSON.stringify(game.conns)})` });
    expect(game.conns[0]!.inputs).toEqual([]);
    expect(game.conns[0]!.spectates).toBe(1);
    expect(game.conns[1]!.spectates).toBe(0);
    expect(game.conns[0]!.bad + game.conns[1]!.bad).toBe(0);
  });
});
