/**
 * The part of the standard WebSocket API (WHATWG) that `pandanet/browser` uses, typed here so the
 * package compiles without the DOM library, and the lookup of the runtime's implementation.
 *
 * Thread: any browser thread (window or worker), or Node ≥ 22 (global `WebSocket`).
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/** `WebSocket.readyState` values. Thread: any. */
export const READY_STATE = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;

/** A `message` event: `data` is an `ArrayBuffer` for a binary message (binaryType `'arraybuffer'`), a string for a text one. */
export interface WebSocketMessageEvent {
  readonly data: unknown;
}

/** A `close` event. */
export interface WebSocketCloseEvent {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/** The members of a standard `WebSocket` object that pandanet uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  readonly protocol: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: (event: unknown) => void): void;
  addEventListener(type: 'message', listener: (event: WebSocketMessageEvent) => void): void;
  addEventListener(type: 'close', listener: (event: WebSocketCloseEvent) => void): void;
}

/**
 * A constructor with the standard `WebSocket`'s signature: the browser's own, Node ≥ 22's global,
 * or another implementation of the same API (e.g. the `ws` package's `WebSocket` on Node 20).
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/**
 * The implementation to use: `given` when there is one, else the runtime's global `WebSocket`.
 * Throws {@link InvalidArgumentError} when there is neither (Node 20 without a flag).
 *
 * Thread: any.
 * @internal
 */
export function webSocketConstructor(given: WebSocketConstructor | undefined): WebSocketConstructor {
  if (given !== undefined) {
    if (typeof given !== 'function') throw new InvalidArgumentError('connect: options.webSocketImpl must be a WebSocket constructor');
    return given;
  }
  const builtIn = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (typeof builtIn !== 'function') {
    throw new InvalidArgumentError('connect: this runtime has no global WebSocket (Node < 22): pass options.webSocketImpl, e.g. the ws package\'s WebSocket');
  }
  return builtIn as WebSocketConstructor;
}
