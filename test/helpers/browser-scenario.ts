/**
 * The `pandanet/browser` client scenario the browser tests run, written once as JavaScript source so
 * the same code runs in headless Chromium (against the built `dist/browser/index.js`) and in Node
 * (against `src/browser/index.ts`, with the `ws` package as the WebSocket): datagrams of mixed field
 * types echoed byte for byte, close codes both ways, and the typed errors of misuse.
 *
 * Also the WebSocket server it talks to: `ws`'s `WebSocketServer` on 127.0.0.1 port 0 (until the
 * pandanet rendezvous serves the same paths), with one behaviour per path:
 * - `/echo`: every binary message is sent back as it came;
 * - `/close?code=C&reason=R`: the server closes with C / R as soon as the connection is open;
 * - `/text`: the server sends one text message (a protocol violation for a datagram client);
 * - any other path: the handshake is refused with HTTP 400.
 *
 * Thread: main thread (vitest worker) only; call from inside a test body.
 * @module
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * Body of `make(lib, i)`: the `i`th datagram of the scenario, a `PyDatagram` with most field types
 * (integers of every width and both byte orders, floats, bool, UTF-8 strings with non-BMP
 * characters, blobs up to 70,000 bytes, `putArg` with a divisor and arrays). Every 37th (from 7) is
 * empty: a zero-length message.
 */
export const MAKE_MIXED_JS = `
const T = lib.SubatomicType;
const dg = new lib.PyDatagram();
if (i % 37 === 7) return dg;
dg.addUint8(i & 0xff);
dg.addInt8(((i * 7) % 256) - 128);
dg.addUint16((i * 257) & 0xffff);
dg.addBeInt16(-((i * 13) % 32768));
dg.addInt32(-i * 100003);
dg.addUint32((i * 2654435761) >>> 0);
dg.addInt64(-(BigInt(i) << 40n) - 5n);
dg.addUint64((1n << 63n) + BigInt(i));
dg.addBeUint32((0xdeadbeef ^ i) >>> 0);
dg.addFloat32(i / 3);
dg.addFloat64(Math.PI * i);
dg.addBool(i % 2 === 0);
dg.addString('héllo ✓ ' + i + ' 🐼');
dg.addString32('long '.repeat(i % 5));
dg.addZString('z' + i);
const blob = new Uint8Array(i % 50 === 0 ? 70000 : i * 3);
for (let k = 0; k < blob.length; k++) blob[k] = (k * 31 + i) & 0xff;
if (blob.length > 65535) dg.addBlob32(blob); else dg.addBlob(blob);
dg.putArg(i * 1.25, T.STUint32, 100);
dg.putArg([i, -i, 32767, -32768], T.STInt16array);
dg.putArg('arg ' + i, T.STString);
dg.putArg([[i, i & 0xff], [70000, 3]], T.STUint32uint8array);
return dg;
`;

/**
 * Body of `read(lib, dg, i)`: the fields of {@link MAKE_MIXED_JS}'s `i`th datagram read back with a
 * `PyDatagramIterator`, as a plain object (bigints as strings, blobs as length + checksum), plus
 * `rest`: the bytes left unread (0 when the layout matched).
 */
export const READ_MIXED_JS = `
const T = lib.SubatomicType;
const it = new lib.PyDatagramIterator(dg);
if (i % 37 === 7) return { empty: true, rest: it.getRemainingSize() };
const v = {};
v.u8 = it.getUint8();
v.i8 = it.getInt8();
v.u16 = it.getUint16();
v.bei16 = it.getBeInt16();
v.i32 = it.getInt32();
v.u32 = it.getUint32();
v.i64 = String(it.getInt64());
v.u64 = String(it.getUint64());
v.beu32 = it.getBeUint32();
v.f32 = it.getFloat32();
v.f64 = it.getFloat64();
v.bool = it.getBool();
v.str = it.getString();
v.str32 = it.getString32();
v.z = it.getZString();
const blob = i % 50 === 0 ? it.getBlob32() : it.getBlob();
let sum = 0;
for (let k = 0; k < blob.length; k++) sum = (sum * 33 + blob[k]) >>> 0;
v.blob = blob.length + ':' + sum;
v.fixed = it.getArg(T.STUint32, 100);
v.arr = it.getArg(T.STInt16array);
v.arg = it.getArg(T.STString);
v.pairs = it.getArg(T.STUint32uint8array);
v.rest = it.getRemainingSize();
return v;
`;

/** The scenario's inputs. */
export interface ScenarioEnv {
  /** `ws://127.0.0.1:PORT` of the {@link ScenarioServer}. */
  ws: string;
  /** Datagrams to echo. */
  n: number;
  /** A `ws://` URL where nothing listens (connection refused). */
  refusedUrl: string;
  /** A `ws://` URL whose server accepts TCP and never answers the handshake. */
  silentUrl: string;
}

/** What the scenario returns (the page POSTs it as JSON). */
export interface ScenarioResult {
  error?: string;
  echoed: number;
  mismatchCount: number;
  mismatches: string[];
  bytesSent: number;
  /** `bufferedAmount` right after the sends (bytes not yet on the network). */
  bufferedAmount: number;
  sample: Record<string, unknown>;
  serverClose: { code: number; reason: string };
  sendAfterClose: unknown;
  closeAfterCloseOk: boolean;
  firstStillOpen: boolean;
  firstClose: { code: number; reason: string };
  badCloseCode: unknown;
  sendNotDatagram: unknown;
  clientClose: { code: number; reason: string };
  textClose: { code: number; reason: string };
  rejected: unknown;
  refused: unknown;
  timeout: unknown;
  badUrl: unknown;
}

/**
 * The scenario as the body of an async function of `(lib, env, opts, step)`: `lib` is
 * `pandanet/browser`'s module, `env` a {@link ScenarioEnv}, `opts` extra `connect` options (`{}` in
 * a browser; `{ webSocketImpl }` in Node), `step(name)` a progress note. Returns a
 * {@link ScenarioResult}.
 */
export const SCENARIO_JS = `
const make = (lib, i) => { ${MAKE_MIXED_JS} };
const read = (lib, dg, i) => { ${READ_MIXED_JS} };
const { connect, PyDatagram } = lib;
const hex = (u8) => Array.from(u8.subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
const failure = async (what) => {
  try {
    await what();
    return 'no error';
  } catch (e) {
    return { name: e.name, code: e.code, closeCode: e.closeCode };
  }
};
const closed = (conn) => new Promise((r) => { conn.onClose = (code, reason) => r({ code, reason }); });
const out = {};

await step('connect /echo');
const conn = await connect(env.ws + '/echo', opts);
const echoes = [];
let allEchoed;
const all = new Promise((r) => (allEchoed = r));
conn.onDatagram = (dg) => {
  echoes.push(dg);
  if (echoes.length === env.n) allEchoed();
};
const sent = [];
out.bytesSent = 0;
for (let i = 0; i < env.n; i++) {
  const dg = make(lib, i);
  sent.push(dg.getMessage());
  out.bytesSent += dg.getLength();
  conn.send(dg);
}
out.bufferedAmount = conn.bufferedAmount;
await step('sent ' + env.n + ' datagrams, ' + out.bytesSent + ' bytes');
await all;
out.echoed = echoes.length;
const mismatches = [];
for (let i = 0; i < env.n; i++) {
  const a = sent[i];
  const b = echoes[i].getMessage();
  if (a.length !== b.length || a.some((x, k) => x !== b[k])) {
    mismatches.push('#' + i + ': sent ' + a.length + ' B ' + hex(a) + '…, echo ' + b.length + ' B ' + hex(b) + '…');
    continue;
  }
  const want = JSON.stringify(read(lib, new PyDatagram(a), i));
  const got = read(lib, echoes[i], i);
  if (JSON.stringify(got) !== want || got.rest !== 0) mismatches.push('#' + i + ': read ' + JSON.stringify(got).slice(0, 200) + ' want ' + want.slice(0, 200));
}
out.mismatchCount = mismatches.length;
out.mismatches = mismatches.slice(0, 5);
out.sample = read(lib, echoes[1], 1);

await step('server close');
const c2 = await connect(env.ws + '/close?code=4321&reason=' + encodeURIComponent('server says bye ✓'), opts);
out.serverClose = await closed(c2);
out.sendAfterClose = await failure(() => c2.send(new PyDatagram()));
c2.close();
c2.close(4000, 'again');
out.closeAfterCloseOk = true;

await step('client close');
const c3 = await connect(env.ws + '/echo', opts);
out.badCloseCode = await failure(() => c3.close(1003));
out.sendNotDatagram = await failure(() => c3.send('not a datagram'));
const c3closed = closed(c3);
c3.close(4002, 'client says bye');
out.clientClose = await c3closed;
out.firstStillOpen = conn.isOpen;
const c1closed = closed(conn);
conn.close();
out.firstClose = await c1closed;

await step('text message');
const c4 = await connect(env.ws + '/text', opts);
out.textClose = await closed(c4);

await step('failures');
out.rejected = await failure(() => connect(env.ws + '/no-such-path', opts));
out.refused = await failure(() => connect(env.refusedUrl, opts));
out.timeout = await failure(() => connect(env.silentUrl, { ...opts, timeoutMs: 300 }));
out.badUrl = await failure(() => connect('ftp://127.0.0.1/', opts));
await step('done');
return out;
`;

/** The scenario's WebSocket server and what it saw. */
export interface ScenarioServer {
  /** `ws://127.0.0.1:PORT` */
  url: string;
  /** The binary messages `/echo` connections received, in order, per connection. */
  echoed: Buffer[][];
  /** Text messages received (none expected). */
  textReceived: number;
  /** The close code and reason each connection ended with, by path. */
  closes: Array<{ path: string; code: number; reason: string }>;
}

/**
 * Starts the scenario's WebSocket server (see the module comment) on 127.0.0.1 port 0; closed when
 * the test finishes.
 *
 * Thread: main thread (in a test body).
 */
export async function startScenarioServer(): Promise<ScenarioServer> {
  const result: ScenarioServer = { url: '', echoed: [], textReceived: 0, closes: [] };
  const server = http.createServer((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only'));
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!['/echo', '/close', '/text'].includes(url.pathname)) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.on('close', (code, reason) => result.closes.push({ path: url.pathname, code, reason: reason.toString('utf8') }));
      if (url.pathname === '/echo') {
        const mine: Buffer[] = [];
        result.echoed.push(mine);
        ws.on('message', (data, isBinary) => {
          if (!isBinary) {
            result.textReceived++;
            ws.close(1003, 'text');
            return;
          }
          const buf = data as Buffer;
          mine.push(buf);
          ws.send(buf, { binary: true });
        });
      } else if (url.pathname === '/close') {
        ws.close(Number(url.searchParams.get('code')), url.searchParams.get('reason') ?? '');
      } else {
        ws.send('hello, I am text');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    server.close(() => r());
  }));
  result.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return result;
}

/**
 * A `ws://` URL where nothing listens: a port bound then released (a refused connection), and a
 * `ws://` URL of a TCP server that accepts and never answers (a handshake that never completes).
 * Both closed when the test finishes.
 *
 * Thread: main thread (in a test body).
 */
export async function deadEnds(): Promise<{ refusedUrl: string; silentUrl: string }> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const refusedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    silent.close(() => r());
  }));
  return { refusedUrl: `ws://127.0.0.1:${refusedPort}/`, silentUrl: `ws://127.0.0.1:${(silent.address() as AddressInfo).port}/` };
}
