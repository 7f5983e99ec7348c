/**
 * 1,000 WebSocket clients beside TCP clients on one manager, one listener, one reader and one writer
 * (issue 17): every WebSocket echo and every TCP round trip completes, and nothing is reset. Counts
 * only, no timing thresholds. Every test runs in every mode.
 */
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { NetAddress, PointerToConnection, type Connection } from '../../src/index.js';
import { MODES, echoTick, frame, takeResets, waitFor } from '../helpers/net.js';
import { makeWsServer, wsConnect, type WsClient } from '../helpers/websocket.js';

const WS_CLIENTS = 1000;
const WS_MESSAGES = 3;
const TCP_CLIENTS = 10;
const TCP_ROUND_TRIPS = 50;
const LOAD_WAIT_MS = 60_000;

/** A raw TCP client doing sequential round trips of one 2-byte-header frame each. */
interface TcpPinger {
  socket: net.Socket;
  done: number;
}

function tcpPinger(port: number): TcpPinger {
  const socket = net.connect({ host: '127.0.0.1', port });
  onTestFinished(() => void socket.destroy());
  const p: TcpPinger = { socket, done: 0 };
  const payload = Buffer.from('tcp round trip');
  const framed = frame(payload);
  let got = 0;
  socket.on('connect', () => socket.write(framed));
  socket.on('data', (chunk: Buffer) => {
    got += chunk.length;
    while (got >= framed.length) {
      got -= framed.length;
      p.done++;
      if (p.done < TCP_ROUND_TRIPS) socket.write(framed);
    }
  });
  socket.on('error', () => {});
  return p;
}

describe.each(MODES)('1,000 WebSocket clients beside TCP clients ($name)', ({ threads }) => {
  it('every TCP round trip and every WebSocket echo completes; nothing is reset', async () => {
    const server = makeWsServer(threads, { pingIntervalMs: 0 });
    const tcpRv = server.manager.openTCPServerRendezvous('127.0.0.1', 0, 1000);
    expect(tcpRv).not.toBeNull();
    expect(server.listener.addConnection(tcpRv!)).toBe(true);
    const accepted = { ws: 0, tcp: 0 };
    const rv = new PointerToConnection();
    const nc = new PointerToConnection();
    const addr = new NetAddress();
    const echo = echoTick(server);
    const resets: Connection[] = [];
    const tick = (): void => {
      while (server.listener.newConnectionAvailable() && server.listener.getNewConnection(rv, addr, nc)) {
        const c = nc.p()!;
        expect(server.reader.addConnection(c)).toBe(true);
        if (c.isWebSocket()) accepted.ws++;
        else accepted.tcp++;
        expect(rv.p()).toBe(c.isWebSocket() ? server.rendezvous : tcpRv);
      }
      echo();
      takeResets(server.manager, resets);
    };
    const tcp = Array.from({ length: TCP_CLIENTS }, () => tcpPinger(tcpRv!.getLocalAddress().getPort()));
    const ws: WsClient[] = [];
    // Opened in batches of 100, so the test's own client side stays bounded.
    for (let b = 0; b < WS_CLIENTS; b += 100) {
      for (let i = 0; i < 100; i++) ws.push(wsConnect(`ws://127.0.0.1:${server.port}/`));
      await waitFor(() => ws.every((c) => c.opened || c.error !== null || c.closeCode !== null), { tick, timeoutMs: LOAD_WAIT_MS, what: () => `${ws.length} WebSocket clients open (${ws.filter((c) => c.opened).length})` });
    }
    expect(ws.filter((c) => c.opened)).toHaveLength(WS_CLIENTS);
    for (const c of ws) for (let i = 0; i < WS_MESSAGES; i++) c.ws.send(Buffer.from([i, 1, 2, 3]));
    await waitFor(() => ws.every((c) => c.messages.length >= WS_MESSAGES) && tcp.every((t) => t.done >= TCP_ROUND_TRIPS), {
      tick,
      timeoutMs: LOAD_WAIT_MS,
      what: () => `echoes: WebSocket ${ws.reduce((n, c) => n + c.messages.length, 0)} of ${WS_CLIENTS * WS_MESSAGES}, TCP ${tcp.reduce((n, t) => n + t.done, 0)} of ${TCP_CLIENTS * TCP_ROUND_TRIPS}`,
    });
    expect(accepted).toEqual({ ws: WS_CLIENTS, tcp: TCP_CLIENTS });
    expect(tcp.reduce((n, t) => n + t.done, 0)).toBe(TCP_CLIENTS * TCP_ROUND_TRIPS);
    for (const c of ws) expect(c.messages.map((m) => m[0])).toEqual([0, 1, 2]);
    expect(resets).toEqual([]);
    expect(ws.every((c) => c.closeCode === null)).toBe(true);
  }, 180_000);
});
