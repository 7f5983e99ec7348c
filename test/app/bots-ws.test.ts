/**
 * Bots over WebSocket (`BotSwarm`'s `wsBots` / `wsUrl`): they connect with `pandanet/browser`'s
 * `connect` (on the `ws` package), send INPUTs on the same schedule and measure round trips from the
 * SNAPSHOTs' acks, beside TCP bots in the same swarm. The WebSocket server is a small `ws` stand-in
 * that speaks the game protocol (until the game server opens a WebSocket rendezvous); the TCP bots
 * talk to the real `GameServer`. Real sockets on 127.0.0.1 port 0.
 */
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { BotSwarm } from '../../src/app/bots.js';
import { GameServer } from '../../src/app/game-server.js';
import { decodeInput, encodeSnapshot, writeWelcome } from '../../src/app/protocol.js';
import { Datagram, PyDatagram } from '../../src/datagram/index.js';
import { closedPort, waitFor } from '../helpers/net.js';

interface StandInConn {
  id: number;
  inputs: number;
  bad: number;
  closeCode: number | null;
  last: { sequence: number; sendTimeMs: number; at: number } | null;
}

/** A WebSocket game server stand-in: WELCOME on join, a SNAPSHOT to everyone at 20 Hz acking each one's latest INPUT. */
async function startWsGame(): Promise<{ url: string; conns: StandInConn[] }> {
  const conns: StandInConn[] = [];
  const sockets = new Map<WebSocket, StandInConn>();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  let nextId = 1;
  wss.on('connection', (ws: WebSocket) => {
    const c: StandInConn = { id: nextId++, inputs: 0, bad: 0, closeCode: null, last: null };
    conns.push(c);
    sockets.set(ws, c);
    ws.on('message', (data, isBinary) => {
      try {
        if (!isBinary) throw new Error('text');
        const m = decodeInput(new Datagram(new Uint8Array(data as Buffer)));
        c.inputs++;
        c.last = { sequence: m.sequence, sendTimeMs: m.sendTimeMs, at: performance.now() };
      } catch {
        c.bad++;
      }
    });
    ws.on('close', (code) => {
      c.closeCode = code;
      sockets.delete(ws);
    });
    const welcome = new PyDatagram();
    writeWelcome(welcome, { entityId: c.id, tickRate: 20, worldSize: 1000 });
    ws.send(welcome.getMessage());
  });
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    const entities = [...sockets.values()].map((c) => ({ id: c.id, x: c.id, y: c.id }));
    for (const [ws, c] of sockets) {
      const l = c.last;
      const ack = l === null ? { sequence: 0, sendTimeMs: 0, holdMs: 0 } : { sequence: l.sequence, sendTimeMs: l.sendTimeMs, holdMs: performance.now() - l.at };
      ws.send(encodeSnapshot({ tick, serverTimeMs: performance.now(), entities, ack }).getMessage());
    }
  }, 50);
  onTestFinished(() => new Promise<void>((r) => {
    clearInterval(timer);
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => r());
  }));
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/game`, conns };
}

describe('BotSwarm over WebSocket', () => {
  it('WebSocket bots connect, send inputs at their rate, measure round trips, and close with 1000 on stop', async () => {
    const game = await startWsGame();
    const swarm = new BotSwarm({ bots: 3, wsBots: 3, wsUrl: game.url, staggerMs: 1, port: await closedPort() });
    onTestFinished(() => void swarm.stop());
    swarm.start();
    await waitFor(() => swarm.peek().connected === 3 && swarm.peek().rttTotal.count >= 10, { what: () => `3 WebSocket bots and 10 round trips (${JSON.stringify(swarm.peek())})` });
    const final = swarm.stop();
    expect(final).toMatchObject({ bots: 3, peakConnected: 3, failed: 0, connected: 0, connectErrors: 0, sendFailures: 0 });
    expect(final.snapshotsReceived).toBeGreaterThan(0);
    expect(final.rttTotal.p50).toBeGreaterThan(0);
    expect(final.latencyTotal.p50).toBeGreaterThanOrEqual(final.rttTotal.p50);
    await waitFor(() => game.conns.length === 3 && game.conns.every((c) => c.closeCode !== null), { what: () => `3 closes at the server (${JSON.stringify(game.conns)})` });
    expect(game.conns.map((c) => ({ closeCode: c.closeCode, bad: c.bad }))).toEqual(Array(3).fill({ closeCode: 1000, bad: 0 }));
    expect(game.conns.reduce((n, c) => n + c.inputs, 0)).toBe(final.inputsSent);
  });

  it('a mixed swarm: TCP bots play on the GameServer, WebSocket bots on the WebSocket server, one report', async () => {
    const server = GameServer.listen({ port: 0, threads: 1, tickRate: 20 });
    onTestFinished(() => server.stop());
    const game = await startWsGame();
    const swarm = new BotSwarm({ port: server.port, bots: 4, wsBots: 2, wsUrl: game.url, staggerMs: 1 });
    onTestFinished(() => void swarm.stop());
    swarm.start();
    await waitFor(() => swarm.peek().connected === 4 && server.clientCount === 2 && game.conns.length === 2 && game.conns.every((c) => c.inputs >= 3) && swarm.peek().rttTotal.count >= 20, {
      what: () => `2 TCP + 2 WebSocket bots with round trips (swarm ${JSON.stringify(swarm.peek())}, TCP clients ${server.clientCount}, ws ${JSON.stringify(game.conns)})`,
    });
    expect(swarm.stop()).toMatchObject({ peakConnected: 4, failed: 0 });
  });

  it('WebSocket connects that fail are retried with back-off, then the bot gives up', async () => {
    const port = await closedPort();
    const swarm = new BotSwarm({ bots: 2, wsBots: 2, wsUrl: `ws://127.0.0.1:${port}/`, staggerMs: 0, maxAttempts: 2, connectTimeoutMs: 1000, port });
    onTestFinished(() => void swarm.stop());
    swarm.start();
    await waitFor(() => swarm.peek().failed === 2, { what: () => `2 failed bots (${JSON.stringify(swarm.peek())})` });
    expect(swarm.peek()).toMatchObject({ connected: 0, peakConnected: 0, connectErrors: 4, connecting: 0 });
  });

  it('refuses wsBots out of range or without a ws:// URL', () => {
    expect(() => new BotSwarm({ bots: 2, wsBots: 3, wsUrl: 'ws://127.0.0.1:1/' })).toThrow(RangeError);
    expect(() => new BotSwarm({ bots: 2, wsBots: -1, wsUrl: 'ws://127.0.0.1:1/' })).toThrow(RangeError);
    expect(() => new BotSwarm({ bots: 2, wsBots: 1 })).toThrow(/wsUrl/);
    expect(() => new BotSwarm({ bots: 2, wsBots: 1, wsUrl: 'http://127.0.0.1:1/' })).toThrow(/wsUrl/);
  });
});
