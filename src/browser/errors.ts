/**
 * The errors `pandanet/browser` throws besides the datagram ones (codes in `../errors.ts`).
 *
 * Thread: any browser thread.
 * @module
 */
import { ErrorCode, PandaNetError } from '../errors.js';

/**
 * `send` on a {@link BrowserConnection} that is closing or closed (code `CONNECTION_CLOSED`). The
 * datagram was not sent.
 *
 * Thread: any browser thread.
 */
export class ConnectionClosedError extends PandaNetError {
  constructor(message: string) {
    super(ErrorCode.CONNECTION_CLOSED, message);
  }
}

/**
 * `connect` did not finish the WebSocket handshake within `timeoutMs` (code `CONNECT_TIMEOUT`); the
 * half-open socket was closed.
 *
 * Thread: any browser thread.
 */
export class ConnectTimeoutError extends PandaNetError {
  /** The deadline that passed, ms. */
  readonly timeoutMs: number;
  constructor(url: string, timeoutMs: number) {
    super(ErrorCode.CONNECT_TIMEOUT, `connect ${url}: no WebSocket handshake within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * `connect` failed before the connection opened (code `CONNECT_FAILED`): refused, no such host, a
 * handshake the server rejected (HTTP status, origin, path), or a close before open. Browsers do not
 * tell scripts why a handshake failed (the console does); `closeCode` is what the close event
 * carried (1006 for most failures).
 *
 * Thread: any browser thread.
 */
export class ConnectFailedError extends PandaNetError {
  /** The WebSocket close code of the failure (1006: the connection could not be made). */
  readonly closeCode: number;
  constructor(url: string, closeCode: number, reason: string) {
    super(ErrorCode.CONNECT_FAILED, `connect ${url}: the WebSocket did not open (close code ${closeCode}${reason === '' ? '' : `, ${JSON.stringify(reason)}`})`);
    this.closeCode = closeCode;
  }
}
