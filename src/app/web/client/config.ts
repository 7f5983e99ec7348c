/**
 * The page's settings, which the server embeds in the HTML as JSON
 * (`<script type="application/json" id="pandanet-config">`), and where the page's WebSocket goes.
 *
 * Thread: any (pure).
 * @module
 */

/**
 * Where the page connects: a whole `ws://` / `wss://` URL, or a port (and path) on the host the page
 * was loaded from (`wss:` when the page came over https) — the form to use when the server listens
 * on every interface and browsers reach it by a name the server does not know.
 */
export type WsTarget = string | { port: number; path?: string };

/** What the server tells the page. */
export interface PageConfig {
  /** Where the game's WebSocket rendezvous is. */
  ws: WsTarget;
  /** Title shown in the page header. */
  title: string;
}

/** Parses the embedded JSON; throws with a clear message when it is not a {@link PageConfig}. Thread: any. */
export function parsePageConfig(text: string | null): PageConfig {
  const raw = JSON.parse(text ?? 'null') as Partial<PageConfig> | null;
  const ws = raw?.ws;
  const okWs = typeof ws === 'string' ? ws !== '' : typeof ws === 'object' && ws !== null && Number.isInteger(ws.port) && ws.port > 0 && ws.port < 65536;
  if (raw === null || !okWs) throw new Error('the page config has no usable "ws" (a ws:// URL or { port })');
  return { ws: ws as WsTarget, title: typeof raw.title === 'string' ? raw.title : 'pandanet' };
}

/** The URL to connect to, for a page loaded over `pageProtocol` (`http:` / `https:`) from `pageHostname`. Thread: any. */
export function resolveWsUrl(target: WsTarget, pageProtocol: string, pageHostname: string): string {
  if (typeof target === 'string') return target;
  const path = target.path === undefined || target.path === '' ? '/' : target.path.startsWith('/') ? target.path : `/${target.path}`;
  const host = pageHostname === '' ? '127.0.0.1' : pageHostname;
  return `${pageProtocol === 'https:' ? 'wss' : 'ws'}://${host}:${target.port}${path}`;
}
