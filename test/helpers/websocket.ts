/**
 * Helpers for the WebSocket tests: a pandanet server on a WebSocket rendezvous, `ws` clients and raw
 * byte-level WebSocket peers (a handshake done by hand, then frames written as they are), each torn
 * down when the test finishes. Real sockets on 127.0.0.1 only.
 *
 * Thread: main thread (vitest worker) only.
 * @module
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, onTestFinished } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import { ConnectionWriter, NetDatagram, QueuedConnectionListener, QueuedConnectionManager, QueuedConnectionReader, type Connection, type WebSocketServerOptions } from '../../src/index.js';
import { acceptAll, rawConnect, takeResets, waitFor, type RawPeer, type Server } from './net.js';

/** Opens a pandanet server whose rendezvous is a WebSocket one (127.0.0.1:0); shut down when the test finishes. */
export function makeWsServer(threads: number, options?: WebSocketServerOptions): Server {
  const manager = new QueuedConnectionManager();
  onTestFinished(() => void manager.shutdown());
  const listener = new QueuedConnectionListener(manager, threads);
  const reader = new QueuedConnectionReader(manager, threads);
  const writer = new ConnectionWriter(manager, threads);
  const rendezvous = manager.openWebSocketServerRendezvous('127.0.0.1', 0, 1000, options);
  if (rendezvous === null) throw new Error(`could not listen for WebSocket clients on 127.0.0.1:0: ${String(manager.getLastError())}`);
  if (!listener.addConnection(rendezvous)) throw new Error('listener refused the WebSocket rendezvous');
  const port = rendezvous.getLocalAddress().getPort();
  return { threads, manager, listener, reader, writer, rendezvous, port, accepted: [] };
}

/** A `ws` client with what it received and how it ended. */
export interface WsClient {
  ws: WebSocket;
  messages: Buffer[];
  opened: boolean;
  /** Close code seen by the client (null while open). */
  closeCode: number | null;
  /** HTTP status of a refused handshake (`unexpected-response`), or null. */
  httpStatus: number | null;
  error: Error | null;
}

/** Connects a `ws` client to `url`; terminated when the test finishes. */
export function wsConnect(url: string, options: ClientOptions = {}): WsClient {
  const ws = new WebSocket(url, options);
  const c: WsClient = { ws, messages: [], opened: false, closeCode: null, httpStatus: null, error: null };
  onTestFinished(() => ws.terminate());
  ws.binaryType = 'nodebuffer';
  ws.on('open', () => (c.opened = true));
  ws.on('message', (data: Buffer) => c.messages.push(data));
  ws.on('close', (code: number) => (c.closeCode = code));
  ws.on('error', (err: Error) => (c.error = err));
  ws.on('unexpected-response', (_req, res) => {
    c.httpStatus = res.statusCode ?? -1;
    res.resume();
    ws.terminate();
  });
  return c;
}

/** Waits until `c` is open (throws with what happened instead). */
export async function wsOpen(c: WsClient): Promise<void> {
  await waitFor(() => c.opened || c.closeCode !== null || c.httpStatus !== null || c.error !== null, { what: 'WebSocket client open' });
  if (!c.opened) throw new Error(`WebSocket client did not open: close ${String(c.closeCode)}, HTTP ${String(c.httpStatus)}, ${String(c.error)}`);
}

/** Connects one `ws` client to `server` (path `pathname`), waits until it is open and accepted (added to the server's reader). */
export async function connectOne(server: Server, options: ClientOptions = {}, pathname = '/'): Promise<{ client: WsClient; conn: Connection }> {
  const client = wsConnect(`ws://127.0.0.1:${server.port}${pathname}`, options);
  await wsOpen(client);
  const before = server.accepted.length;
  const conn = (await acceptAll(server, before + 1))[before]!;
  return { client, conn };
}

/** Takes `conn`'s datagrams (bytes, in order) until its reset comes; checks it is the only reset. */
export async function takeUntilReset(server: Server, conn: Connection): Promise<Buffer[]> {
  const got: Buffer[] = [];
  const resets: Connection[] = [];
  await waitFor(() => resets.includes(conn), {
    tick: () => {
      while (server.reader.dataAvailable()) {
        const dg = new NetDatagram();
        if (server.reader.getData(dg)) got.push(Buffer.from(dg.getMessage()));
      }
      takeResets(server.manager, resets);
    },
    what: `the reset of ${conn.toString()}`,
  });
  expect(resets).toEqual([conn]);
  return got;
}

/** A raw peer that did the WebSocket handshake by hand: frames are written as they are. */
export interface RawWsPeer extends RawPeer {
  /** Bytes received after the 101 response. */
  frames(): Buffer;
}

/** The HTTP upgrade request a client sends (`extra` headers appended). */
export function upgradeRequest(pathname = '/', extra: Record<string, string> = {}): string {
  const key = crypto.randomBytes(16).toString('base64');
  const lines = [`GET ${pathname} HTTP/1.1`, 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13'];
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Connects a raw socket and completes the WebSocket handshake by hand. */
export async function rawWsConnect(port: number): Promise<RawWsPeer> {
  const peer = await rawConnect(port);
  await peer.write(Buffer.from(upgradeRequest()));
  await waitFor(() => peer.received().includes('\r\n\r\n') || peer.closed, { what: 'the 101 response' });
  const text = peer.received().toString('latin1');
  if (!text.startsWith('HTTP/1.1 101')) throw new Error(`handshake refused: ${text.split('\r\n')[0]}`);
  const start = peer.received().indexOf('\r\n\r\n') + 4;
  return Object.assign(peer, { frames: () => peer.received().subarray(start) });
}

/** The HTTP status line's code in what a raw peer received (NaN if none). */
export function httpStatus(bytes: Buffer): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(bytes.toString('latin1'));
  return m === null ? Number.NaN : Number(m[1]);
}

/** A client frame (masked unless `masked` is false) with opcode `opcode` (2 binary, 1 text). */
export function clientFrame(payload: Uint8Array, opcode = 2, masked = true): Buffer {
  const len = payload.length;
  const head: number[] = [0x80 | opcode];
  const maskBit = masked ? 0x80 : 0;
  if (len < 126) head.push(maskBit | len);
  else if (len < 65536) head.push(maskBit | 126, len >>> 8, len & 0xff);
  else {
    head.push(maskBit | 127, 0, 0, 0, 0);
    head.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  }
  const mask = masked ? [0x12, 0x34, 0x56, 0x78] : [];
  const body = Buffer.from(payload);
  if (masked) for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([Buffer.from(head), Buffer.from(mask), body]);
}

/** The close code of the first close frame (opcode 8) among unmasked server frames, or null. */
export function serverCloseCode(frames: Buffer): number | null {
  let at = 0;
  while (at + 2 <= frames.length) {
    const op = frames[at]! & 0x0f;
    let len = frames[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      if (at + 4 > frames.length) return null;
      len = frames.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      if (at + 10 > frames.length) return null;
      len = Number(frames.readBigUInt64BE(at + 2));
      head = 10;
    }
    if (at + head + len > frames.length) return null;
    if (op === 8) return len >= 2 ? frames.readUInt16BE(at + head) : 1005;
    at += head + len;
  }
  return null;
}

/** A self-signed certificate for localhost made with the `openssl` CLI in a temporary folder (removed at the end of the test). */
export function selfSignedCert(): { cert: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pandanet-wss-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}
