/**
 * `connect(url)`: opens a WebSocket to a pandanet server's WebSocket rendezvous and resolves with a
 * {@link BrowserConnection} once the handshake is done.
 *
 * Thread: any browser thread (window or worker), or Node ≥ 22.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { BrowserConnection } from './connection.js';
import { ConnectFailedError, ConnectTimeoutError } from './errors.js';
import { type WebSocketConstructor, type WebSocketLike, webSocketConstructor } from './web-socket.js';

/** How long {@link connect} waits for the handshake when `timeoutMs` is not given, ms. Thread: any. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Longest `timeoutMs` accepted (what a timer can wait, about 24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Options of {@link connect} (all optional). */
export interface ConnectOptions {
  /** WebSocket subprotocols to offer (the standard constructor's second argument). */
  protocols?: string | string[];
  /** Give up (and close the half-open socket) when the handshake is not done in this many ms. Default {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
  timeoutMs?: number;
  /**
   * The WebSocket implementation; default the runtime's global `WebSocket`. Only for runtimes without
   * one (Node 20: the `ws` package's `WebSocket`).
   */
  webSocketImpl?: WebSocketConstructor;
}

/**
 * Opens a WebSocket to `url` (`ws://…` or `wss://…`, the path the server's rendezvous answers) with
 * binary messages as `ArrayBuffer`s, and resolves with a {@link BrowserConnection} when it is open.
 *
 * Rejects with a typed error, never hangs:
 * - {@link ConnectTimeoutError} (code `CONNECT_TIMEOUT`) when the handshake is not done within
 *   `timeoutMs`;
 * - {@link ConnectFailedError} (code `CONNECT_FAILED`) when the connection is refused or the server
 *   rejects the handshake (wrong path, origin not allowed, not a WebSocket server);
 * - {@link InvalidArgumentError} (code `INVALID_ARGUMENT`) for a malformed URL, a bad option, or a
 *   runtime without `WebSocket`.
 *
 * Thread: any browser thread (window or worker), or Node ≥ 22.
 */
export function connect(url: string, options: ConnectOptions = {}): Promise<BrowserConnection> {
  return new Promise<BrowserConnection>((resolve, reject) => {
    if (typeof url !== 'string' || url === '') throw new InvalidArgumentError('connect: url must be a non-empty string (ws://… or wss://…)');
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > MAX_TIMEOUT_MS) {
      throw new InvalidArgumentError(`connect: timeoutMs must be a number in (0, ${MAX_TIMEOUT_MS}], got ${String(timeoutMs)}`);
    }
    const Impl = webSocketConstructor(options.webSocketImpl);
    let ws: WebSocketLike;
    try {
      ws = options.protocols === undefined ? new Impl(url) : new Impl(url, options.protocols);
    } catch (err) {
      // The standard constructor throws a SyntaxError for a URL that is not ws:, wss: (or http[s]:).
      throw new InvalidArgumentError(`connect: ${err instanceof Error ? err.message : String(err)}`);
    }
    ws.binaryType = 'arraybuffer';
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      reject(new ConnectTimeoutError(url, timeoutMs));
      ws.close();
    }, timeoutMs);
    // Before open, an error is the failure (browsers follow it with a close event carrying 1006, but
    // Node's undici WebSocket may not after a refused handshake). The listener stays for the
    // connection's life: EventEmitter-based implementations (ws) throw an error nobody listens to.
    ws.addEventListener('error', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new ConnectFailedError(url, 1006, ''));
    });
    ws.addEventListener('open', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(new BrowserConnection(ws, url));
    });
    ws.addEventListener('close', (event) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new ConnectFailedError(url, event.code, event.reason));
    });
  });
}
