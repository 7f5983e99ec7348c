/**
 * `pandanet/browser` in a real browser: headless Chromium loads a page that imports the built
 * `dist/browser/index.js` and runs the scenario of `test/helpers/browser-scenario.ts` against a real
 * WebSocket server on 127.0.0.1 (port 0): N PyDatagrams with mixed field types echoed and checked
 * byte for byte and field by field with PyDatagramIterator, close codes from either side reaching
 * `onClose`, and the typed errors of misuse (send after close, bad close code, refused, rejected and
 * timed-out handshakes, a bad URL). The same scenario also runs in Node against the TypeScript source
 * with the `ws` package as the WebSocket, and the server checks that what the browser sent is byte
 * for byte what Node's PyDatagram writes for the same fields.
 *
 * The server here is `ws`'s `WebSocketServer`, a reference implementation, so this file tests the
 * browser library alone (its close codes and handshake failures come from a server that can be made
 * to misbehave on purpose); no pandanet manager is involved, so there is no thread mode to vary.
 * `browser-pandanet.test.ts` runs the browser against pandanet's own rendezvous, in every mode.
 *
 * No Chromium → the browser test fails with an install hint (it never skips).
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import * as browserLib from '../../src/browser/index.js';
import { ErrorCode } from '../../src/errors.js';
import { runPage, testPage, waitUntil } from '../helpers/browser.js';
import {
  MAKE_MIXED_JS,
  READ_MIXED_JS,
  SCENARIO_JS,
  type ScenarioEnv,
  type ScenarioResult,
  type ScenarioServer,
  deadEnds,
  startScenarioServer,
} from '../helpers/browser-scenario.js';

const N = 200;

type Lib = typeof browserLib;
// The scenario's own source, compiled here for Node: the same text the page runs.
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;
const scenario = new AsyncFunction('lib', 'env', 'opts', 'step', SCENARIO_JS) as (lib: Lib, env: ScenarioEnv, opts: object, step: (s: string) => Promise<void>) => Promise<ScenarioResult>;
const makeMixed = new Function('lib', 'i', MAKE_MIXED_JS) as (lib: Lib, i: number) => browserLib.PyDatagram;
const readMixed = new Function('lib', 'dg', 'i', READ_MIXED_JS) as (lib: Lib, dg: browserLib.Datagram, i: number) => Record<string, unknown>;

async function env(server: ScenarioServer): Promise<ScenarioEnv> {
  return { ws: server.url, n: N, ...(await deadEnds()) };
}

/** The checks both runs share: what the scenario reports and what the server saw. */
async function expectScenario(r: ScenarioResult, server: ScenarioServer): Promise<void> {
  expect(r.error).toBeUndefined();
  expect({ echoed: r.echoed, mismatchCount: r.mismatchCount, mismatches: r.mismatches }).toEqual({ echoed: N, mismatchCount: 0, mismatches: [] });
  expect(r.bufferedAmount).toBeGreaterThanOrEqual(0);
  expect(r.bufferedAmount).toBeLessThanOrEqual(r.bytesSent);
  expect(r.sample).toMatchObject({ u8: 1, str: 'héllo ✓ 1 🐼', u64: String((1n << 63n) + 1n), i64: String(-(1n << 40n) - 5n), fixed: 1.25, arr: [1, -1, 32767, -32768], rest: 0 });

  // What reached the server is byte for byte what Node's PyDatagram writes for the same fields.
  const first = server.echoed[0] ?? [];
  expect(first.length).toBe(N);
  let differ = 0;
  let total = 0;
  for (let i = 0; i < N; i++) {
    const want = makeMixed(browserLib, i).getMessage();
    const got = new Uint8Array(first[i]!);
    total += got.length;
    if (Buffer.compare(Buffer.from(want), Buffer.from(got)) !== 0) differ++;
    else expect(readMixed(browserLib, new browserLib.Datagram(got), i).rest).toBe(0);
  }
  expect({ differ, total }).toEqual({ differ: 0, total: r.bytesSent });
  expect(server.textReceived).toBe(0);

  expect(r.serverClose).toEqual({ code: 4321, reason: 'server says bye ✓' });
  expect(r.sendAfterClose).toMatchObject({ name: 'ConnectionClosedError', code: ErrorCode.CONNECTION_CLOSED });
  expect(r.closeAfterCloseOk).toBe(true);
  expect(r.badCloseCode).toMatchObject({ name: 'InvalidArgumentError', code: ErrorCode.INVALID_ARGUMENT });
  expect(r.sendNotDatagram).toMatchObject({ name: 'InvalidArgumentError', code: ErrorCode.INVALID_ARGUMENT });
  expect(r.clientClose).toEqual({ code: 4002, reason: 'client says bye' });
  expect(r.firstStillOpen).toBe(true);
  expect(r.firstClose).toEqual({ code: 1000, reason: '' });
  expect(r.textClose.code).toBe(browserLib.TEXT_MESSAGE_CLOSE_CODE);
  expect(r.rejected).toMatchObject({ name: 'ConnectFailedError', code: ErrorCode.CONNECT_FAILED, closeCode: 1006 });
  expect(r.refused).toMatchObject({ name: 'ConnectFailedError', code: ErrorCode.CONNECT_FAILED, closeCode: 1006 });
  expect(r.timeout).toMatchObject({ name: 'ConnectTimeoutError', code: ErrorCode.CONNECT_TIMEOUT });
  expect(r.badUrl).toMatchObject({ name: 'InvalidArgumentError', code: ErrorCode.INVALID_ARGUMENT });

  // The close codes as the server saw them (its close events may come after the page's).
  await waitUntil(() => server.closes.length >= 4, { timeoutMs: 10_000, what: () => `4 closes at the server (have ${JSON.stringify(server.closes)})` });
  expect(server.closes).toEqual(
    expect.arrayContaining([
      // The client's echo of the server's close frame: the code (browsers and ws also echo the reason; undici does not).
      { path: '/close', code: 4321, reason: expect.any(String) },
      { path: '/echo', code: 4002, reason: 'client says bye' },
      { path: '/echo', code: 1000, reason: '' },
      { path: '/text', code: browserLib.TEXT_MESSAGE_CLOSE_CODE, reason: 'pandanet: a text message is not a datagram' },
    ]),
  );
}

describe('pandanet/browser client', () => {
  it(`in headless Chromium: ${N} mixed PyDatagrams echoed byte for byte, close codes both ways, typed errors`, async () => {
    const server = await startScenarioServer();
    const e = await env(server);
    const html = testPage(`
const lib = await import('/dist/browser/index.js');
const env = ${JSON.stringify(e)};
const run = async (lib, env, opts, step) => { ${SCENARIO_JS} };
await report(await run(lib, env, {}, step));
`);
    const r = await runPage<ScenarioResult>(html);
    await expectScenario(r, server);
  });

  it(`in Node (ws as the WebSocket): the same scenario against the source`, async () => {
    const server = await startScenarioServer();
    const r = await scenario(browserLib, await env(server), { webSocketImpl: WebSocket }, async () => {});
    await expectScenario(r, server);
  });

  it(`in Node with its own global WebSocket (Node ≥ 22; on Node 20 connect() says to pass webSocketImpl)`, async () => {
    const server = await startScenarioServer();
    if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function') {
      const r = await scenario(browserLib, await env(server), {}, async () => {});
      await expectScenario(r, server);
    } else {
      await expect(browserLib.connect(`${server.url}/echo`)).rejects.toMatchObject({ name: 'InvalidArgumentError', code: ErrorCode.INVALID_ARGUMENT, message: expect.stringContaining('webSocketImpl') });
    }
  });

  it('connect rejects bad options with typed errors (no socket opened)', async () => {
    await expect(browserLib.connect('', { webSocketImpl: WebSocket as unknown as browserLib.WebSocketConstructor })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(browserLib.connect('ws://127.0.0.1:1/', { timeoutMs: 0, webSocketImpl: WebSocket as unknown as browserLib.WebSocketConstructor })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(browserLib.connect('ws://127.0.0.1:1/', { timeoutMs: Number.NaN, webSocketImpl: WebSocket as unknown as browserLib.WebSocketConstructor })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
  });
});
