/**
 * A browser and a pandanet server: headless Chromium loads a page that imports the built
 * `dist/browser/index.js` and connects to a pandanet WebSocket rendezvous (the manager's
 * `openWebSocketServerRendezvous`, listener, reader and writer), in every thread mode. The page sends
 * N PyDatagrams of mixed field types; the server echoes each on its own connection (a reader's
 * datagram straight back through the writer); the page checks every echo byte for byte and field by
 * field with PyDatagramIterator, and the server checks that what it received is byte for byte what
 * Node's PyDatagram writes for the same fields. Then the ends: `manager.closeConnection` reaches the
 * page's `onClose`, and the page's `close(4002)` reaches the manager's reset queue.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import * as browserLib from '../../src/browser/index.js';
import { type Connection, NetAddress, NetDatagram, PointerToConnection } from '../../src/index.js';
import { launchChromium, servePage, testPage, waitForResult } from '../helpers/browser.js';
import { MAKE_MIXED_JS, READ_MIXED_JS } from '../helpers/browser-scenario.js';
import { MODES } from '../helpers/net.js';
import { makeWsServer } from '../helpers/websocket.js';

const N = 200;
type Lib = typeof browserLib;
const makeMixed = new Function('lib', 'i', MAKE_MIXED_JS) as (lib: Lib, i: number) => browserLib.PyDatagram;

interface PageResult {
  error?: string;
  echoed: number;
  mismatches: string[];
  bytesSent: number;
  serverClose: { code: number; reason: string };
  sendAfterClose: unknown;
}

const PAGE = (url: string): string =>
  testPage(`
const lib = await import('/dist/browser/index.js');
const { connect, PyDatagram } = lib;
const make = (lib, i) => { ${MAKE_MIXED_JS} };
const read = (lib, dg, i) => { ${READ_MIXED_JS} };
const out = { bytesSent: 0, mismatches: [] };
await step('connect');
const conn = await connect(${JSON.stringify(url)});
const echoes = [];
let allEchoed;
const all = new Promise((r) => (allEchoed = r));
conn.onDatagram = (dg) => {
  echoes.push(dg);
  if (echoes.length === ${N}) allEchoed();
};
const sent = [];
for (let i = 0; i < ${N}; i++) {
  const dg = make(lib, i);
  sent.push(dg.getMessage());
  out.bytesSent += dg.getLength();
  conn.send(dg);
}
await step('sent');
await all;
out.echoed = echoes.length;
for (let i = 0; i < ${N}; i++) {
  const a = sent[i];
  const b = echoes[i].getMessage();
  if (a.length !== b.length || a.some((x, k) => x !== b[k])) out.mismatches.push('#' + i + ': ' + a.length + ' B sent, ' + b.length + ' B echoed');
  else if (JSON.stringify(read(lib, echoes[i], i)) !== JSON.stringify(read(lib, new PyDatagram(a), i))) out.mismatches.push('#' + i + ': fields differ');
}
await step('second connection (the server closes it)');
const c2 = await connect(${JSON.stringify(url)});
out.serverClose = await new Promise((r) => { c2.onClose = (code, reason) => r({ code, reason }); });
try { c2.send(new PyDatagram()); out.sendAfterClose = 'no error'; } catch (e) { out.sendAfterClose = { name: e.name, code: e.code }; }
await step('client close');
conn.close(4002, 'client says bye');
await report(out);
`);

describe.each(MODES)('pandanet/browser in headless Chromium against a pandanet WebSocket rendezvous ($name)', ({ threads }) => {
  it(`${N} mixed PyDatagrams echoed by the manager byte for byte; closeConnection reaches onClose; close() reaches the reset queue`, async () => {
    const server = makeWsServer(threads);
    const received: Uint8Array[] = [];
    const resets: Connection[] = [];
    const accepted: Connection[] = [];
    const rv = new PointerToConnection();
    const addr = new NetAddress();
    const nc = new PointerToConnection();
    const pump = (): void => {
      while (server.listener.newConnectionAvailable() && server.listener.getNewConnection(rv, addr, nc)) {
        const c = nc.p()!;
        accepted.push(c);
        if (accepted.length === 2) server.manager.closeConnection(c); // the page's second connection
        else server.reader.addConnection(c);
      }
      while (server.reader.dataAvailable()) {
        const dg = new NetDatagram();
        if (!server.reader.getData(dg)) break;
        received.push(dg.getMessage());
        server.writer.send(dg, dg.getConnection()!);
      }
      while (server.manager.resetConnectionAvailable()) {
        const p = new PointerToConnection();
        if (server.manager.getResetConnection(p)) resets.push(p.p()!);
      }
    };
    const timer = setInterval(pump, 2);
    onTestFinished(() => clearInterval(timer));

    const page = await servePage(PAGE(`ws://127.0.0.1:${server.port}/`));
    const chromium = launchChromium(page.pageUrl);
    const r = (await waitForResult(page, chromium)) as PageResult;
    expect(r.error).toBeUndefined();
    expect({ echoed: r.echoed, mismatches: r.mismatches }).toEqual({ echoed: N, mismatches: [] });
    expect(received.length).toBe(N);
    let differ = 0;
    for (let i = 0; i < N; i++) if (Buffer.compare(Buffer.from(makeMixed(browserLib, i).getMessage()), Buffer.from(received[i]!)) !== 0) differ++;
    expect(differ).toBe(0);
    expect(received.reduce((s, b) => s + b.length, 0)).toBe(r.bytesSent);
    expect(r.serverClose.code).toBeGreaterThanOrEqual(1000);
    expect(r.sendAfterClose).toMatchObject({ name: 'ConnectionClosedError', code: browserLib.ErrorCode.CONNECTION_CLOSED });
    const deadline = performance.now() + 10_000;
    while (!resets.includes(accepted[0]!) && performance.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    expect(resets).toContain(accepted[0]);
  });
});
