/**
 * The options of a WebSocket rendezvous (`openWebSocketServerRendezvous`): what the application may
 * give, checked, and completed into the settings the I/O threads apply ({@link WebSocketSettings}).
 *
 * Thread: main thread only.
 * @module
 */
import tls from 'node:tls';
import { InvalidArgumentError, ValueRangeError } from '../errors.js';
import type { WebSocketSettings } from '../protocol/control.js';

/** Options of a WebSocket rendezvous (all optional). */
export interface WebSocketServerOptions {
  /** Only this request path upgrades (e.g. '/pandanet'); default: any path. Another path: HTTP 400. */
  path?: string;
  /** Allowed `Origin` header values (exact match); default: any origin (and none). Another: HTTP 403. */
  origins?: readonly string[];
  /** Serve wss: PEM certificate and key (strings or bytes). Default: plain ws. */
  tls?: { cert: string | Uint8Array; key: string | Uint8Array };
  /** Largest message accepted, bytes (a larger one: close 1009); default the largest datagram the manager takes. */
  maxPayload?: number;
  /** permessage-deflate; default false (its memory per connection is large). */
  perMessageDeflate?: boolean;
  /** Ping every N ms; a peer that has not answered the previous ping by then is reset. 0 = off. Default 15000. */
  pingIntervalMs?: number;
  /**
   * An accepted socket that has not completed its handshake (TLS and HTTP upgrade) within this many ms
   * is closed; it never reaches the application. Default 10000 (1..600000).
   */
  handshakeTimeoutMs?: number;
}

/** Default of {@link WebSocketServerOptions.pingIntervalMs}. */
export const DEFAULT_WS_PING_INTERVAL_MS = 15_000;
/** Default of {@link WebSocketServerOptions.handshakeTimeoutMs}. */
export const DEFAULT_WS_HANDSHAKE_TIMEOUT_MS = 10_000;

function pem(name: string, v: unknown): string {
  if (typeof v === 'string' && v.length > 0) return v;
  if (v instanceof Uint8Array && v.length > 0) return Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8');
  throw new InvalidArgumentError(`WebSocket tls.${name} must be a non-empty PEM string or bytes, got ${v === undefined ? 'nothing' : typeof v}`);
}

/**
 * Checks `options` and completes them. `maxDatagram`: the largest datagram a reader of this manager
 * takes (the default and the bound of `maxPayload`). Throws InvalidArgumentError (wrong type, a `tls`
 * without cert or key, a certificate and key that do not load) or ValueRangeError (a number out of range).
 * Thread: main thread only.
 */
export function webSocketSettings(options: WebSocketServerOptions | undefined, maxDatagram: number): WebSocketSettings {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`WebSocket options must be an object, got ${String(options)}`);
  const { path, origins, tls: secure, maxPayload, perMessageDeflate, pingIntervalMs, handshakeTimeoutMs } = options;
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) throw new InvalidArgumentError(`WebSocket path must be a string starting with '/', got ${String(path)}`);
  if (origins !== undefined && (!Array.isArray(origins) || !origins.every((o) => typeof o === 'string'))) throw new InvalidArgumentError('WebSocket origins must be an array of strings');
  const max = maxPayload ?? maxDatagram;
  if (!Number.isInteger(max) || max < 0 || max > maxDatagram) throw new ValueRangeError(`WebSocket maxPayload must be an integer 0..${maxDatagram} (the largest datagram this manager's readers take), got ${String(maxPayload)}`);
  const ping = pingIntervalMs ?? DEFAULT_WS_PING_INTERVAL_MS;
  if (typeof ping !== 'number' || !Number.isInteger(ping) || ping < 0 || ping > 0x7fffffff) throw new ValueRangeError(`WebSocket pingIntervalMs must be an integer ≥ 0, got ${String(pingIntervalMs)}`);
  const handshake = handshakeTimeoutMs ?? DEFAULT_WS_HANDSHAKE_TIMEOUT_MS;
  if (typeof handshake !== 'number' || !Number.isInteger(handshake) || handshake < 1 || handshake > 600_000) throw new ValueRangeError(`WebSocket handshakeTimeoutMs must be an integer 1..600000, got ${String(handshakeTimeoutMs)}`);
  if (perMessageDeflate !== undefined && typeof perMessageDeflate !== 'boolean') throw new InvalidArgumentError(`WebSocket perMessageDeflate must be a boolean, got ${String(perMessageDeflate)}`);
  let certKey: WebSocketSettings['tls'] = null;
  if (secure !== undefined) {
    if (secure === null || typeof secure !== 'object') throw new InvalidArgumentError('WebSocket tls must be { cert, key }');
    certKey = { cert: pem('cert', secure.cert), key: pem('key', secure.key) };
    try {
      tls.createSecureContext(certKey); // a key that does not load, or does not match: fail here, not at each handshake
    } catch (err) {
      throw new InvalidArgumentError(`WebSocket tls cert/key do not load: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { path: path ?? null, origins: origins === undefined ? null : [...origins], tls: certKey, maxPayload: max, perMessageDeflate: perMessageDeflate ?? false, pingIntervalMs: ping, handshakeTimeoutMs: handshake };
}
