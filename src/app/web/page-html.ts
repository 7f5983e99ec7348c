/**
 * The demo page's HTML: a header (title, Play / Watch buttons, status) over a full-window canvas, the
 * page's settings as embedded JSON, and the module script (`client/main.ts`, served built).
 *
 * Thread: any (pure).
 * @module
 */
import type { PageConfig } from './client/config.js';

/** Path (under the module prefix) of the page's script. Thread: any. */
export const PAGE_SCRIPT = 'app/web/client/main.js';

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The page. `modulePrefix` is where the built modules are served (`/modules/`); the config JSON is
 * escaped so no value can end the script element.
 *
 * Thread: any.
 */
export function pageHtml(config: PageConfig, modulePrefix: string): string {
  const json = JSON.stringify(config).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  const title = escapeHtml(config.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
  html, body { margin: 0; height: 100%; background: #0f1720; color: #d5dbdb; font: 14px system-ui, sans-serif; }
  body { display: flex; flex-direction: column; }
  header { display: flex; align-items: center; gap: 12px; padding: 8px 14px; background: #16212d; border-bottom: 1px solid #2c3e50; }
  header h1 { font-size: 16px; margin: 0 8px 0 0; font-weight: 600; }
  button { font: inherit; padding: 4px 14px; border-radius: 4px; border: 1px solid #5d6d7e; background: #1f2d3a; color: inherit; cursor: pointer; }
  button:disabled { opacity: 0.45; cursor: default; }
  #status { opacity: 0.8; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  canvas { flex: 1; width: 100%; min-height: 0; display: block; touch-action: none; }
  .hint { margin-left: auto; opacity: 0.6; white-space: nowrap; }
  .hint[hidden] { display: none; }
</style>
<script type="application/json" id="pandanet-config">${json}</script>
</head>
<body>
<header>
  <h1>${title}</h1>
  <button id="play" disabled>Play</button>
  <button id="watch" disabled>Watch</button>
  <span id="status">loading…</span>
  <span class="hint" id="hint" hidden>click to move · arrows / WASD</span>
</header>
<canvas id="world"></canvas>
<script type="module" src="${escapeHtml(modulePrefix + PAGE_SCRIPT)}"></script>
</body>
</html>
`;
}
