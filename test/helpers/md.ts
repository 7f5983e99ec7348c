/**
 * Helpers for the message-director tests: raw `node:net` participants that write exact bytes and
 * parse the frames they receive, datagram builders, and MDs stopped when the test finishes.
 *
 * Thread: main thread (vitest worker) only.
 * @module
 */
import { onTestFinished } from 'vitest';
import { MessageDirector, type MessageDirectorOptions } from '../../src/index.js';
import { mdControlDatagram, writeChannelKey, channelKey, type MdControl } from '../../src/md/protocol.js';
import { frame, rawConnect, waitFor, type RawPeer, type RawServer } from './net.js';

/** An MD on 127.0.0.1:0, stopped when the test finishes. */
export async function startMd(threads: number, options: MessageDirectorOptions = {}): Promise<{ md: MessageDirector; port: number }> {
  const md = new MessageDirector({ host: '127.0.0.1', port: 0, threads, ...options });
  onTestFinished(() => md.stop());
  const { port } = await md.start();
  return { md, port };
}

/** The bytes of an MD datagram: `count`, recipients, sender, message type, payload. */
export function mdDg(to: Array<number | bigint>, from: number | bigint, msgType: number, payload: Uint8Array | number[] = []): Uint8Array {
  const p = payload instanceof Uint8Array ? payload : Uint8Array.from(payload);
  const out = new Uint8Array(1 + 8 * to.length + 8 + 2 + p.length);
  out[0] = to.length;
  to.forEach((c, i) => writeChannelKey(out, 1 + 8 * i, channelKey(c)));
  let at = 1 + 8 * to.length;
  writeChannelKey(out, at, channelKey(from));
  at += 8;
  out[at] = msgType & 0xff;
  out[at + 1] = msgType >>> 8;
  out.set(p, at + 2);
  return out;
}

/** The bytes of a control message. */
export function ctl(msg: MdControl): Uint8Array {
  return mdControlDatagram(msg).getMessage();
}

/** Hex of bytes (readable assertion failures). */
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Splits a byte stream into its 2-byte-length-prefixed frames (a trailing partial frame is left out). */
export function parseFrames(buf: Buffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at + 2 <= buf.length) {
    const n = buf.readUInt16LE(at);
    if (at + 2 + n > buf.length) break;
    out.push(Uint8Array.prototype.slice.call(buf, at + 2, at + 2 + n));
    at += 2 + n;
  }
  return out;
}

/** A raw participant: a `node:net` socket with frame-level send and receive. */
export interface RawParticipant {
  peer: RawPeer;
  /** Frames received so far (hex). */
  frames(): string[];
  /** Number of frames received so far (cheap: for large counts). */
  count(): number;
  /** Frame `i` (bytes). */
  frame(i: number): Uint8Array;
  /** Sends each datagram framed, in order; resolves once handed to the kernel. */
  send(...dgs: Uint8Array[]): Promise<void>;
  /** Waits until at least `n` frames arrived; returns all of them (hex). */
  waitFrames(n: number, what?: string): Promise<string[]>;
  /** Waits until at least `n` frames arrived (no hex: for large counts). */
  waitCount(n: number, what?: string, timeoutMs?: number): Promise<void>;
}

/** Wraps a connected raw peer; parses its frames as they arrive. */
export function participant(peer: RawPeer, label = 'participant'): RawParticipant {
  const got: Uint8Array[] = [];
  let pending: Buffer = Buffer.alloc(0);
  const take = (chunk: Buffer): void => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (at + 2 <= pending.length) {
      const n = pending.readUInt16LE(at);
      if (at + 2 + n > pending.length) break;
      got.push(Uint8Array.prototype.slice.call(pending, at + 2, at + 2 + n));
      at += 2 + n;
    }
    pending = pending.subarray(at);
  };
  const before = peer.received();
  if (before.length > 0) take(before);
  peer.socket.on('data', take);
  const frames = (): string[] => got.map(hex);
  return {
    peer,
    frames,
    count: () => got.length,
    frame: (i) => got[i]!,
    async send(...dgs) {
      if (dgs.length === 0) return;
      await peer.write(Buffer.concat(dgs.map((d) => frame(d))));
    },
    async waitFrames(n, what) {
      await waitFor(() => got.length >= n, { what: () => `${n} frame(s) at ${label}${what === undefined ? '' : ` (${what})`}; have ${got.length}` });
      return frames();
    },
    async waitCount(n, what, timeoutMs) {
      await waitFor(() => got.length >= n, { timeoutMs, what: () => `${n} frame(s) at ${label}${what === undefined ? '' : ` (${what})`}; have ${got.length}` });
    },
  };
}

/** Connects a raw participant to the MD on `port`. */
export async function connectParticipant(port: number, label?: string): Promise<RawParticipant> {
  return participant(await rawConnect(port), label);
}

/** Waits for the `index`-th connection of a raw server (e.g. an MD's upstream link) and wraps it. */
export async function acceptedParticipant(server: RawServer, index: number, label = 'upstream'): Promise<RawParticipant> {
  await waitFor(() => server.peers.length > index, { what: `connection #${index} at the raw server` });
  return participant(server.peers[index]!, label);
}

/** Little-endian uint32 bytes (a payload counter). */
export function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
