/**
 * The demo's web page server: one HTTP port that serves the page where a browser joins the live
 * world (player or spectator) and the built browser modules it loads. The game itself is reached
 * over the game server's WebSocket rendezvous (`wsUrl`); this server serves files only.
 *
 * Routes: `GET /` (and `/index.html`) the page · `GET /modules/<path>.js` the page script and its
 * imports (only those, from memory) · anything else 404; methods other than GET / HEAD 405.
 *
 * Thread: main thread only.
 * @module
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type PageConfig, type WsTarget, parsePageConfig } from './client/config.js';
import { PAGE_SCRIPT, pageHtml } from './page-html.js';
import { defaultModulesRoot, loadModuleGraph } from './static-modules.js';

/** Where the built modules are served. */
const MODULE_PREFIX = '/modules/';

/** Options of {@link startWebPage}. */
export interface WebPageOptions {
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** HTTP port; 0 picks a free one (see {@link WebPage.port}). Default 0. */
  port?: number;
  /**
   * The game's WebSocket rendezvous: a whole URL (`ws://127.0.0.1:9098/`), or `{ port, path }` on
   * the host the browser loaded the page from (use this when listening on every interface).
   */
  wsUrl: WsTarget;
  /** Page title. Default 'pandanet live world'. */
  title?: string;
  /** The built package tree to serve modules from. Default: the `dist/` this module belongs to. */
  modulesRoot?: string;
}

/** A running page server. */
export interface WebPage {
  /** The port it listens on. */
  port: number;
  /** `http://HOST:PORT/` (IPv6 hosts in brackets). */
  url: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/**
 * Starts the page server. Rejects when the port cannot be bound, when `wsUrl` is unusable, or when
 * the browser modules are not built.
 *
 * Thread: main thread only.
 */
export async function startWebPage(options: WebPageOptions): Promise<WebPage> {
  const host = options.host ?? '127.0.0.1';
  const config: PageConfig = parsePageConfig(JSON.stringify({ ws: options.wsUrl, title: options.title ?? 'pandanet live world' }));
  const modules = loadModuleGraph(options.modulesRoot ?? defaultModulesRoot(), PAGE_SCRIPT);
  const html = pageHtml(config, MODULE_PREFIX);

  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', ...SECURITY_HEADERS }).end();
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    let body: string | undefined;
    let type = 'text/javascript; charset=utf-8';
    if (path === '/' || path === '/index.html') {
      body = html;
      type = 'text/html; charset=utf-8';
    } else if (path.startsWith(MODULE_PREFIX)) {
      body = modules.get(path.slice(MODULE_PREFIX.length));
    }
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...SECURITY_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | null = null;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
