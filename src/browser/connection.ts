/**
 * `BrowserConnection`: one open WebSocket to a pandanet server, carrying datagrams — one binary
 * WebSocket message is exactly one datagram (no length prefix), as the server's WebSocket rendezvous
 * frames them (`docs/design.md`, WebSocket).
 *
 * Thread: any browser thread (window or worker), or Node ≥ 22.
 * @module
 */
import { Datagram } from '../datagram/datagram.js';
import { InvalidArgumentError } from '../errors.js';
import { ConnectionClosedError } from './errors.js';
import { READY_STATE, type WebSocketLike } from './web-socket.js';

/**
 * The close code a {@link BrowserConnection} sends when the server sends a text message (not a
 * datagram). The server side uses 1003 for the same violation; scripts in a browser may only send
 * 1000 and 3000–4999, so the client uses 4000 + 3. Thread: any.
 */
export const TEXT_MESSAGE_CLOSE_CODE = 4003;

/** Largest close reason the WebSocket protocol carries, in UTF-8 bytes (RFC 6455 §5.5: 125 − 2). Thread: any. */
export const MAX_CLOSE_REASON_BYTES = 123;

const encoder = new TextEncoder();

/** True for an `ArrayBuffer`, also one from another realm. */
function isArrayBuffer(x: unknown): x is ArrayBuffer {
  return x instanceof ArrayBuffer || Object.prototype.toString.call(x) === '[object ArrayBuffer]';
}

/**
 * An open connection to a pandanet server over WebSocket, made by {@link connect}. Datagrams go out
 * with {@link BrowserConnection.send} and come in through {@link BrowserConnection.onDatagram}; the
 * end of the connection, whoever ends it, is reported once through {@link BrowserConnection.onClose}.
 *
 * ```js
 * import { connect, PyDatagram, PyDatagramIterator } from 'pandanet/browser';
 * const conn = await connect('ws://127.0.0.1:9098/');
 * conn.onDatagram = (dg) => console.log(new PyDatagramIterator(dg).getUint8());
 * conn.onClose = (code, reason) => console.log('closed', code, reason);
 * const dg = new PyDatagram();
 * dg.addUint8(1);
 * conn.send(dg);
 * ```
 *
 * Thread: any browser thread (window or worker), or Node ≥ 22; the thread that called `connect`.
 */
export class BrowserConnection {
  /**
   * Called with each datagram that arrives, in order (a fresh {@link Datagram} the handler may keep).
   * Set it right after `await connect(…)`: datagrams that arrive while it is `null` are dropped, as
   * a `WebSocket`'s messages are without an `onmessage`. A text message is not a datagram: the
   * connection is closed with code {@link TEXT_MESSAGE_CLOSE_CODE} (4003) instead.
   *
   * Thread: the connection's thread.
   */
  onDatagram: ((datagram: Datagram) => void) | null = null;

  /**
   * Called once when the connection has closed, with the WebSocket close code and reason: the
   * server's (e.g. 1009 for a message over its limit, 1001 when it shuts down,
   * an application code 3000–4999), the one given to {@link BrowserConnection.close}, or 1006 when
   * the connection was lost without a close frame.
   *
   * Thread: the connection's thread.
   */
  onClose: ((code: number, reason: string) => void) | null = null;

  /** The URL given to {@link connect}. */
  readonly url: string;

  readonly #ws: WebSocketLike;

  /**
   * Made by {@link connect} from an open WebSocket; not for applications.
   *
   * Thread: the connection's thread.
   * @internal
   */
  constructor(ws: WebSocketLike, url: string) {
    this.#ws = ws;
    this.url = url;
    ws.addEventListener('message', (event) => {
      const data = event.data;
      if (isArrayBuffer(data)) {
        const handler = this.onDatagram;
        if (handler !== null) handler(new Datagram(new Uint8Array(data)));
      } else if (ws.readyState === READY_STATE.OPEN) {
        ws.close(TEXT_MESSAGE_CLOSE_CODE, 'pandanet: a text message is not a datagram');
      }
    });
    ws.addEventListener('close', (event) => {
      const handler = this.onClose;
      this.onClose = null;
      if (handler !== null) handler(event.code, event.reason);
    });
  }

  /**
   * Sends one datagram as one binary WebSocket message (its bytes are copied at once: the datagram
   * may be reused right after). Throws {@link ConnectionClosedError} (code `CONNECTION_CLOSED`)
   * once the connection is closing or closed, {@link InvalidArgumentError} for anything but a
   * {@link Datagram}.
   *
   * Thread: the connection's thread.
   */
  send(datagram: Datagram): void {
    if (!(datagram instanceof Datagram)) throw new InvalidArgumentError('BrowserConnection.send: expected a Datagram');
    const state = this.#ws.readyState;
    if (state !== READY_STATE.OPEN) {
      throw new ConnectionClosedError(`BrowserConnection.send: the connection to ${this.url} is ${state === READY_STATE.CLOSING ? 'closing' : 'closed'}`);
    }
    this.#ws.send(datagram.getMessageView());
  }

  /**
   * Starts the closing handshake; {@link BrowserConnection.onClose} follows when it is done. `code`
   * is 1000 (the default) or an application code 3000–4999; `reason` at most 123 UTF-8 bytes —
   * otherwise {@link InvalidArgumentError} and nothing happens. Closing a connection that is already
   * closing or closed does nothing.
   *
   * Thread: the connection's thread.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && !(code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999))) {
      throw new InvalidArgumentError(`BrowserConnection.close: code must be 1000 or 3000..4999, got ${String(code)}`);
    }
    if (reason !== undefined) {
      if (typeof reason !== 'string') throw new InvalidArgumentError('BrowserConnection.close: reason must be a string');
      const bytes = encoder.encode(reason).length;
      if (bytes > MAX_CLOSE_REASON_BYTES) throw new InvalidArgumentError(`BrowserConnection.close: reason is ${bytes} UTF-8 bytes; at most ${MAX_CLOSE_REASON_BYTES}`);
    }
    const state = this.#ws.readyState;
    if (state === READY_STATE.CLOSING || state === READY_STATE.CLOSED) return;
    this.#ws.close(code ?? 1000, reason ?? '');
  }

  /**
   * Bytes handed to {@link BrowserConnection.send} that the WebSocket has not yet written to the
   * network (the standard `WebSocket.bufferedAmount`); a client that sends faster than its link can
   * carry sees it grow, and should send less.
   *
   * Thread: the connection's thread.
   */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /** The subprotocol the server chose among `options.protocols` ('' when none). Thread: the connection's thread. */
  get protocol(): string {
    return this.#ws.protocol;
  }

  /** True until the connection starts closing (from either side). Thread: the connection's thread. */
  get isOpen(): boolean {
    return this.#ws.readyState === READY_STATE.OPEN;
  }
}
