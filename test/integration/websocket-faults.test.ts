/**
 * Bad input and faults on a WebSocket rendezvous (issue 17): handshake garbage, a wrong path or origin,
 * a frame claiming 2^63 bytes, an unmasked client frame, a text frame, an oversize message, an abrupt
 * disconnect mid-frame, a client that does not answer pings, a client that never reads. Each test checks
 * what the client saw (close code or HTTP status), what the server's application saw (one reset, or no
 * connection at all), and that a healthy connection opened next still works. Every test runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import { Datagram, type Connection, type WebSocketServerOptions } from '../../src/index.js';
import { MODES, acceptAll, echoTick, rawConnect, takeResets, waitFor, withNetConfig, yieldOnce, type Server } from '../helpers/net.js';
import { clientFrame, connectOne, httpStatus, makeWsServer, rawWsConnect, serverCloseCode, takeUntilReset, upgradeRequest, wsConnect, wsOpen } from '../helpers/websocket.js';

/** Opens one more `ws` client, accepts it and checks one round trip through the server's echo. */
async function healthyRoundTrip(server: Server, pathname = '/', headers: Record<string, string> = {}): Promise<void> {
  const c = wsConnect(`ws://127.0.0.1:${server.port}${pathname}`, { headers });
  await wsOpen(c);
  const before = server.accepted.length;
  const [conn] = (await acceptAll(server, before + 1)).slice(before);
  expect(conn!.isWebSocket()).toBe(true);
  c.ws.send(Buffer.from('still fine'));
  await waitFor(() => c.messages.length === 1, { tick: echoTick(server), what: 'the healthy connection’s echo' });
  expect(c.messages[0]!.toString()).toBe('still fine');
  expect(server.listener.newConnectionAvailable()).toBe(false);
}

/** Waits for the reset of `conn` (taking datagrams meanwhile, so a held reset is released); returns every reset seen. */
async function expectReset(server: Server, conn: Connection): Promise<Connection[]> {
  const resets: Connection[] = [];
  await waitFor(() => resets.includes(conn), {
    tick: () => {
      echoTick(server)();
      takeResets(server.manager, resets);
    },
    what: `the reset of ${conn.toString()}`,
  });
  expect(resets).toEqual([conn]);
  expect(conn.isOpen()).toBe(false);
  return resets;
}

/** True if `cond` holds within `ms` (false at the deadline: nothing more happened). */
async function settles(cond: () => boolean, ms: number): Promise<boolean> {
  try {
    await waitFor(cond, { timeoutMs: ms, what: 'settling' });
    return true;
  } catch {
    return false;
  }
}

/** Accepted WebSocket sockets that never became a connection, summed over the server's I/O threads. */
const handshakeFailures = (server: Server): number => server.manager.getThreadStats().reduce((n, t) => n + t.wsHandshakeFailures, 0);

function wsServer(threads: number, options: WebSocketServerOptions = {}): Server {
  return makeWsServer(threads, { pingIntervalMs: 0, ...options });
}

describe.each(MODES)('WebSocket faults ($name)', ({ threads }) => {
  it('handshake garbage, a plain HTTP request, a wrong path or origin: HTTP 400 / 426 / 400 / 403, never a connection', async () => {
    const server = wsServer(threads, { path: '/game', origins: ['https://good.example'] });
    const garbage = await rawConnect(server.port);
    await garbage.write(Buffer.from('\x16\x03\x01 this is not HTTP\r\n\r\n'));
    await waitFor(() => garbage.ended || garbage.closed, { what: 'the garbage socket to close' });
    expect(httpStatus(garbage.received())).toBe(400);

    const plain = await rawConnect(server.port);
    await plain.write(Buffer.from('GET /game HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://good.example\r\n\r\n'));
    await waitFor(() => plain.ended || plain.closed, { what: 'the plain HTTP socket to close' });
    expect(httpStatus(plain.received())).toBe(426);

    const badKey = await rawConnect(server.port);
    await badKey.write(Buffer.from(upgradeRequest('/game', { Origin: 'https://good.example' }).replace(/Sec-WebSocket-Key: \S+/, 'Sec-WebSocket-Key: short')));
    await waitFor(() => badKey.ended || badKey.closed, { what: 'the bad-key socket to close' });
    expect(httpStatus(badKey.received())).toBe(400);

    const wrongPath = wsConnect(`ws://127.0.0.1:${server.port}/other`, { headers: { Origin: 'https://good.example' } });
    const wrongOrigin = wsConnect(`ws://127.0.0.1:${server.port}/game`, { headers: { Origin: 'https://evil.example' } });
    const noOrigin = wsConnect(`ws://127.0.0.1:${server.port}/game`);
    await waitFor(() => [wrongPath, wrongOrigin, noOrigin].every((c) => c.httpStatus !== null), { what: 'the refused handshakes' });
    expect([wrongPath.httpStatus, wrongOrigin.httpStatus, noOrigin.httpStatus]).toEqual([400, 403, 403]);
    expect(server.listener.newConnectionAvailable()).toBe(false);

    // Six sockets refused; the I/O thread counts each once its socket closed.
    await waitFor(() => handshakeFailures(server) >= 6, { what: () => `6 failed handshakes counted (have ${handshakeFailures(server)})` });
    await healthyRoundTrip(server, '/game', { Origin: 'https://good.example' });
    expect(handshakeFailures(server), 'the healthy handshake is not a failure').toBe(6);
    expect(server.accepted).toHaveLength(1); // only the healthy one ever reached the application
    const resets: Connection[] = [];
    takeResets(server.manager, resets);
    expect(resets).toEqual([]);
  });

  it('a socket that never completes its handshake (silent, or a request cut short) is closed at handshakeTimeoutMs, never a connection', async () => {
    const server = wsServer(threads, { handshakeTimeoutMs: 200 });
    const silent = await rawConnect(server.port);
    const slow = await rawConnect(server.port);
    await slow.write(Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websock')); // and nothing more
    // Deadline well under the 10 s default: only the option can close them in time.
    await waitFor(() => (silent.ended || silent.closed) && (slow.ended || slow.closed), {
      timeoutMs: 5000,
      what: () => `the server to close both (silent ${silent.ended || silent.closed}, cut short ${slow.ended || slow.closed})`,
      tick: () => server.listener.newConnectionAvailable(),
    });
    expect(silent.received()).toHaveLength(0);
    expect(server.listener.newConnectionAvailable()).toBe(false);
    await waitFor(() => handshakeFailures(server) >= 2, { what: () => `2 failed handshakes counted (have ${handshakeFailures(server)})` });
    await healthyRoundTrip(server);
    expect(handshakeFailures(server)).toBe(2);
    expect(server.accepted).toHaveLength(1);
    const resets: Connection[] = [];
    takeResets(server.manager, resets);
    expect(resets).toEqual([]);
  });

  it('a frame header claiming 2^63 bytes: close 1009, one reset', async () => {
    const server = wsServer(threads);
    const peer = await rawWsConnect(server.port);
    const [conn] = await acceptAll(server, 1);
    const head = Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]); // masked, 64-bit length 2^63
    await peer.write(head);
    await expectReset(server, conn!);
    await waitFor(() => serverCloseCode(peer.frames()) !== null || peer.closed, { what: 'the close frame' });
    expect(serverCloseCode(peer.frames())).toBe(1009);
    await healthyRoundTrip(server);
  });

  it('an unmasked client frame: close 1002, one reset, after the datagram before it', async () => {
    const server = wsServer(threads);
    const peer = await rawWsConnect(server.port);
    const [conn] = await acceptAll(server, 1);
    await peer.write(Buffer.concat([clientFrame(Buffer.from('first')), clientFrame(Buffer.from('unmasked'), 2, false)]));
    const got = await takeUntilReset(server, conn!);
    expect(got.map(String)).toEqual(['first']);
    await waitFor(() => serverCloseCode(peer.frames()) !== null, { what: 'the close frame' });
    expect(serverCloseCode(peer.frames())).toBe(1002);
    await healthyRoundTrip(server);
  });

  it('a text frame: close 1003, one reset', async () => {
    const server = wsServer(threads);
    const { client: c, conn } = await connectOne(server);
    c.ws.send('some text');
    await expectReset(server, conn!);
    await waitFor(() => c.closeCode !== null, { what: 'the client to see the close' });
    expect(c.closeCode).toBe(1003);
    await healthyRoundTrip(server);
  });

  it('a message over maxPayload: close 1009, one reset, after the message at the limit', async () => {
    const server = wsServer(threads, { maxPayload: 1000 });
    const { client: c, conn } = await connectOne(server);
    c.ws.send(Buffer.alloc(1000, 7));
    c.ws.send(Buffer.alloc(1001, 8));
    const got = await takeUntilReset(server, conn!);
    expect(got.map((b) => b.length)).toEqual([1000]); // the one at the limit arrived, before the reset
    await waitFor(() => c.closeCode !== null, { what: 'the client to see the close' });
    expect(c.closeCode).toBe(1009);
    await healthyRoundTrip(server);
  });

  it('an abrupt disconnect in the middle of a frame: one reset, after the whole datagrams', async () => {
    const server = wsServer(threads);
    const peer = await rawWsConnect(server.port);
    const [conn] = await acceptAll(server, 1);
    const whole = clientFrame(Buffer.from('whole'));
    const half = clientFrame(Buffer.alloc(300, 1)).subarray(0, 150);
    await peer.write(Buffer.concat([whole, half]));
    peer.socket.destroy();
    const got = await takeUntilReset(server, conn!);
    expect(got.map(String)).toEqual(['whole']);
    await healthyRoundTrip(server);
  });

  it('a client that does not answer pings is reset; one that does stays', async () => {
    // 1 s: long enough that the good client (served by this busy test process) always answers in time.
    const server = wsServer(threads, { pingIntervalMs: 1000 });
    const good = wsConnect(`ws://127.0.0.1:${server.port}/`);
    const mute = wsConnect(`ws://127.0.0.1:${server.port}/`, { autoPong: false });
    await wsOpen(good);
    await wsOpen(mute);
    const conns = await acceptAll(server, 2);
    const resets: Connection[] = [];
    await waitFor(() => resets.length > 0, {
      tick: () => {
        echoTick(server)();
        takeResets(server.manager, resets);
      },
      what: 'the mute client’s reset',
    });
    const muteConn = resets[0];
    expect(resets).toHaveLength(1);
    expect(conns).toContain(muteConn);
    await waitFor(() => mute.closeCode !== null, { what: 'the mute client to see its connection end' });
    expect(mute.closeCode).toBe(1006); // terminated: no close frame for a peer presumed dead
    expect(good.closeCode).toBeNull();
    const goodConn = conns.find((c) => c !== muteConn)!;
    expect(goodConn.isOpen()).toBe(true);
    good.ws.send(Buffer.from('ping-pong survivor'));
    await waitFor(() => good.messages.length === 1, { tick: echoTick(server), what: 'the good client’s echo' });
    await healthyRoundTrip(server);
  });

  it('a client that never reads: pending bytes stay bounded (send returns false), then the connection is reset', async () => {
    const cap = 256 * 1024;
    // Pings every 3 s: the filling below ends before the reset that the unanswered ping brings.
    const server = withNetConfig({ maxPendingSendBytes: cap }, () => wsServer(threads, { pingIntervalMs: 3000 }));
    const peer = await rawWsConnect(server.port);
    peer.socket.pause(); // never reads again: the kernel buffers fill, then ws's, then the cap
    const [conn] = await acceptAll(server, 1);
    const dg = new Datagram(new Uint8Array(64 * 1024));
    // Send until refused and the pending figure no longer drops below the cap (the thread has written
    // what the kernel takes; the client reads nothing): then the cap holds for good.
    let sent = 0;
    let maxPending = 0;
    let full = false;
    for (let i = 0; i < 10_000 && !full; i++) {
      if (server.writer.send(dg, conn!)) sent++;
      else full = !(await settles(() => conn!.getPendingSendBytes() < cap, 1000));
      maxPending = Math.max(maxPending, conn!.getPendingSendBytes());
      await yieldOnce();
    }
    expect(full).toBe(true);
    expect(sent).toBeGreaterThan(0);
    expect(server.writer.send(dg, conn!)).toBe(false); // refused for the cap, not for a reset:
    expect(conn!.isOpen()).toBe(true);
    expect(maxPending).toBeLessThan(cap + dg.getLength() + 4);
    await expectReset(server, conn!);
    await healthyRoundTrip(server);
  });
});
