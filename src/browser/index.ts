/**
 * `pandanet/browser`: a pandanet client for browsers — {@link connect} opens a WebSocket to a
 * pandanet server's WebSocket rendezvous and the {@link BrowserConnection} it resolves with sends and
 * receives the same `Datagram`s a Panda3D client exchanges over TCP (one binary WebSocket message =
 * one datagram). Also re-exports everything of `pandanet/datagram`, so a page needs one import.
 *
 * No Node built-in in its import graph (`test/unit/browser-import-graph.test.ts` checks the built
 * files); the standard `WebSocket` is the only platform API it needs.
 *
 * Thread: any browser thread (window or worker), or Node ≥ 22 (global `WebSocket`).
 * @module
 */
export * from '../datagram/index.js';
export { connect, DEFAULT_CONNECT_TIMEOUT_MS, type ConnectOptions } from './connect.js';
export { BrowserConnection, MAX_CLOSE_REASON_BYTES, TEXT_MESSAGE_CLOSE_CODE } from './connection.js';
export { ConnectionClosedError, ConnectFailedError, ConnectTimeoutError } from './errors.js';
export type { WebSocketConstructor, WebSocketLike, WebSocketMessageEvent, WebSocketCloseEvent } from './web-socket.js';
