/**
 * Real-browser tests: headless Chromium (Debian's `chromium` package) loads a page from a small
 * `node:http` server on 127.0.0.1 (port 0) that also serves the built ES modules of `dist/`; the page
 * reports its results with `fetch('/result', { method: 'POST', body })`, and the test waits for that
 * POST with a deadline. Chromium's process (group) and profile folder are torn down when the test
 * finishes (registered as soon as they exist).
 *
 * No Chromium → {@link findChromium} throws with an install hint: browser tests fail loudly, they do
 * not skip.
 *
 * Thread: main thread (vitest worker) only; call from inside a test body.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { HEADLESS_FLAGS, findChromium } from '../../scripts/chromium.mjs';

export { findChromium };

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The build the pages import from (served at `/dist/…`). */
export const DIST = join(ROOT, 'dist');

/** How long a page may take to report, ms (Chromium's start on a loaded 2-core box included). */
export const DEFAULT_PAGE_DEADLINE_MS = 25_000;

/** MIME type of a served file, by extension (module scripts need a JavaScript MIME type). */
export function mimeType(path: string): string {
  switch (extname(path)) {
    case '.js':
    case '.mjs':
      return 'text/javascript; charset=utf-8';
    case '.map':
    case '.json':
      return 'application/json; charset=utf-8';
    case '.html':
      return 'text/html; charset=utf-8';
    default:
      return 'application/octet-stream';
  }
}

/** What a page server does. */
export interface PageServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** The page's URL. */
  pageUrl: string;
  /** Resolves with the first POST to `/result` (parsed JSON). */
  result: Promise<unknown>;
  /** The bodies of the POSTs to `/progress` so far (the page's steps, for failure messages). */
  progress: string[];
}

/**
 * Serves `html` at `/` and `dist/`'s `.js` / `.js.map` files at `/dist/…` on 127.0.0.1 port 0, and
 * collects the page's POSTs to `/result` and `/progress`. Closed when the test finishes.
 *
 * Thread: main thread (in a test body).
 */
export async function servePage(html: string): Promise<PageServer> {
  let resolveResult!: (v: unknown) => void;
  const result = new Promise<unknown>((r) => (resolveResult = r));
  const progress: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'POST' && (url.pathname === '/result' || url.pathname === '/progress')) {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 4 << 20) chunks.push(c);
      });
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        res.writeHead(204).end();
        if (url.pathname === '/progress') progress.push(body);
        else {
          try {
            resolveResult(JSON.parse(body));
          } catch {
            resolveResult({ error: `the page posted a result that is not JSON: ${body.slice(0, 200)}` });
          }
        }
      });
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': mimeType('index.html'), 'cache-control': 'no-store' }).end(html);
      return;
    }
    if (url.pathname.startsWith('/dist/') && (url.pathname.endsWith('.js') || url.pathname.endsWith('.js.map'))) {
      const file = resolve(DIST, `.${decodeURIComponent(url.pathname.slice('/dist'.length))}`);
      if (file.startsWith(DIST + sep) && existsSync(file) && statSync(file).isFile()) {
        res.writeHead(200, { 'content-type': mimeType(file), 'cache-control': 'no-store' }).end(readFileSync(file));
        return;
      }
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, pageUrl: `${origin}/`, result, progress };
}

/** A running headless Chromium. */
export interface Chromium {
  process: ChildProcess;
  /** Its stderr so far (the last 8 kB), for failure messages. */
  stderr(): string;
  /** Resolves when the process has exited (its exit code, or the signal's name). */
  exited: Promise<number | string>;
  /** Kills Chromium's whole process group (the browser quits as a crashed one would) and waits for the main process to exit. */
  close(): Promise<void>;
}

/**
 * Launches headless Chromium on `url` (`--headless=new --no-sandbox --disable-gpu`, a fresh profile
 * folder). Its process group is killed and the profile removed when the test finishes.
 *
 * Thread: main thread (in a test body).
 */
export function launchChromium(url: string, extraArgs: readonly string[] = []): Chromium {
  const bin = findChromium();
  const profile = mkdtempSync(join(tmpdir(), 'pandanet-chromium-'));
  const args = [
    ...HEADLESS_FLAGS,
    '--disable-extensions',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--metrics-recording-only',
    '--mute-audio',
    `--user-data-dir=${profile}`,
    ...extraArgs,
    url,
  ];
  // Own process group: Chromium forks helpers (zygote, renderer, GPU); teardown kills them all.
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderr = (stderr + s).slice(-8192);
  });
  const exited = new Promise<number | string>((r) => {
    child.once('exit', (code, signal) => r(code ?? signal ?? 'unknown'));
    child.once('error', (err) => r(`spawn failed: ${err.message}`));
  });
  const close = async (): Promise<void> => {
    // The whole group, also when the main process is gone: its helpers may outlive it.
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
    }
    await exited;
  };
  onTestFinished(async () => {
    await close();
    // Helpers killed with the group may still be closing files in the profile for a moment.
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return { process: child, stderr: () => stderr, exited, close };
}

/**
 * Opens `html` in headless Chromium and returns what the page POSTs to `/result`; rejects with the
 * page's last progress steps and Chromium's stderr when no result comes before `deadlineMs`, or when
 * Chromium exits first.
 *
 * Thread: main thread (in a test body).
 */
export async function runPage<T = unknown>(html: string, deadlineMs = DEFAULT_PAGE_DEADLINE_MS): Promise<T> {
  const page = await servePage(html);
  return (await waitForResult(page, launchChromium(page.pageUrl), deadlineMs)) as T;
}

/**
 * Waits for `page`'s result while `chromium` shows it, with a deadline (see {@link runPage}).
 *
 * Thread: main thread (in a test body).
 */
export async function waitForResult(page: PageServer, chromium: Chromium, deadlineMs = DEFAULT_PAGE_DEADLINE_MS): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const context = (): string => `\n  page progress: ${page.progress.join(' → ') || '(none)'}\n  chromium stderr (tail):\n${chromium.stderr().slice(-3000)}`;
  try {
    return await Promise.race([
      page.result,
      chromium.exited.then((code) => {
        throw new Error(`Chromium exited (${code}) before the page reported${context()}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the page did not report a result within ${deadlineMs} ms${context()}`)), deadlineMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The script every test page starts with (inside `<script type="module">`): `report(result)` POSTs
 * the result once, `step(name)` POSTs a progress note, and an uncaught error or rejection reports
 * `{ error }` at once (so a broken page fails fast instead of at the deadline).
 */
export const PAGE_PRELUDE = `
let reported = false;
const report = (r) => {
  if (reported) return;
  reported = true;
  return fetch('/result', { method: 'POST', body: JSON.stringify(r, (k, v) => (typeof v === 'bigint' ? v.toString() + 'n' : v)) });
};
const step = (s) => fetch('/progress', { method: 'POST', body: String(s) });
const describeError = (e) => (e && e.stack ? String(e.stack) : String(e && e.message ? e.message : e));
window.addEventListener('error', (e) => report({ error: 'uncaught: ' + describeError(e.error ?? e.message) }));
window.addEventListener('unhandledrejection', (e) => report({ error: 'unhandled rejection: ' + describeError(e.reason) }));
`;

/** A whole test page: `<script type="module">` with {@link PAGE_PRELUDE} and `body`. */
export function testPage(body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>pandanet browser test</title></head><body>
<script type="module">
${PAGE_PRELUDE}
try {
${body}
} catch (e) {
  report({ error: describeError(e) });
}
</script></body></html>`;
}

/**
 * Waits until `predicate` holds, checking every 10 ms (not a busy loop: Chromium needs the CPU),
 * with a deadline; fails at once when `chromium` (if given) exits first. Errors name `what` and carry
 * Chromium's stderr.
 *
 * Thread: main thread (in a test body).
 */
export async function waitUntil(predicate: () => boolean, opts: { what: () => string; timeoutMs?: number; chromium?: Chromium }): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PAGE_DEADLINE_MS;
  const started = performance.now();
  let exited: number | string | undefined;
  void opts.chromium?.exited.then((code) => (exited = code));
  const stderr = (): string => (opts.chromium === undefined ? '' : `\n  chromium stderr (tail):\n${opts.chromium.stderr().slice(-3000)}`);
  for (;;) {
    if (predicate()) return;
    if (exited !== undefined) throw new Error(`Chromium exited (${exited}) while waiting for ${opts.what()}${stderr()}`);
    if (performance.now() - started >= timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what()}${stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
