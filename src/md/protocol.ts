/**
 * Astron's message-director (MD) protocol: the datagram header, the control messages, and channel
 * keys. Pure module (no sockets, no threads), shared by the message director and the participant
 * API. The reference is `docs/cluster.md` (from Astron's behaviour, checked against a native build).
 *
 * A datagram, little-endian, inside Panda's 2-byte TCP length prefix:
 * ```
 * +-------+----------------------+----------+---------+---------+
 * | u8 n  | u64 recipients[n]    | u64 from | u16 msg | payload |
 * +-------+----------------------+----------+---------+---------+
 * ```
 * A **control** datagram has exactly one recipient, `CONTROL_CHANNEL` (1), and no sender:
 * `01 · 01 00 00 00 00 00 00 00 · u16 msg · args`.
 *
 * Channels are 64-bit. On the hot path they are read as **channel keys** ({@link ChannelKey}): a
 * `number` when the channel is at most `Number.MAX_SAFE_INTEGER` (every channel a Panda3D/Astron
 * game uses in practice), else a `bigint`. The form is canonical — one channel has exactly one key —
 * so keys can index a `Map` directly, and they compare correctly with `<` across both forms.
 *
 * Thread: any.
 * @module
 */
import { MdDatagramError } from '../errors.js';
import { PyDatagram } from '../datagram/py-datagram.js';

/** Control message codes (participant → its message director), as Panda3D's `MsgTypes` names them. Thread: any. */
export const MdMsg = {
  ADD_CHANNEL: 9000,
  REMOVE_CHANNEL: 9001,
  ADD_RANGE: 9002,
  REMOVE_RANGE: 9003,
  ADD_POST_REMOVE: 9010,
  CLEAR_POST_REMOVES: 9011,
  SET_CON_NAME: 9012,
  SET_CON_URL: 9013,
  LOG_MESSAGE: 9014,
} as const;
/** One of {@link MdMsg}. Thread: any. */
export type MdMsg = (typeof MdMsg)[keyof typeof MdMsg];

/** A channel as the routing index keys it: `number` up to 2^53 − 1, `bigint` above (canonical). Thread: any. */
export type ChannelKey = number | bigint;

/** Largest channel, 2^64 − 1. Thread: any. */
export const MAX_CHANNEL = (1n << 64n) - 1n;

const TWO_32 = 0x1_0000_0000;
/** Channels whose high word is below this are safe integers. */
const SAFE_HIGH = 0x20_0000;

/** The canonical key of `channel` (a non-negative integer below 2^64). Thread: any. */
export function channelKey(channel: number | bigint): ChannelKey {
  if (typeof channel === 'number') {
    if (!Number.isSafeInteger(channel) || channel < 0) throw new MdDatagramError(`channel must be an integer 0..2^64-1, got ${channel}`);
    return channel;
  }
  if (channel < 0n || channel > MAX_CHANNEL) throw new MdDatagramError(`channel must be an integer 0..2^64-1, got ${channel}`);
  return channel <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(channel) : channel;
}

/** The channel of a key, as a `bigint`. Thread: any. */
export function keyToBigInt(key: ChannelKey): bigint {
  return typeof key === 'bigint' ? key : BigInt(key);
}

/**
 * Reads the little-endian uint64 at `data[at]` as a {@link ChannelKey} (no allocation for channels up
 * to 2^53 − 1). The caller checks the bounds. Thread: any.
 */
export function readChannelKey(data: Uint8Array, at: number): ChannelKey {
  const lo = (data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24)) >>> 0;
  const hi = (data[at + 4]! | (data[at + 5]! << 8) | (data[at + 6]! << 16) | (data[at + 7]! << 24)) >>> 0;
  if (hi < SAFE_HIGH) return hi * TWO_32 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Writes `key` as a little-endian uint64 at `data[at]`. Thread: any. */
export function writeChannelKey(data: Uint8Array, at: number, key: ChannelKey): void {
  let lo: number;
  let hi: number;
  if (typeof key === 'number') {
    lo = key % TWO_32;
    hi = Math.floor(key / TWO_32);
  } else {
    lo = Number(key & 0xffff_ffffn);
    hi = Number(key >> 32n);
  }
  for (let i = 0; i < 4; i++) {
    data[at + i] = (lo >>> (8 * i)) & 0xff;
    data[at + 4 + i] = (hi >>> (8 * i)) & 0xff;
  }
}

/**
 * Where the parts of one MD datagram lie (filled by {@link readMdHeader}; reuse one per loop).
 * Offsets are absolute indices into the bytes given. Thread: any.
 */
export interface MdHeader {
  /** Recipient count (0..255). */
  count: number;
  /** Offset of the first recipient (each 8 bytes). */
  recipients: number;
  /** True for a control datagram (one recipient, channel 1): no sender field. */
  control: boolean;
  /** Offset of the sender channel (−1 for a control datagram). */
  sender: number;
  /** Message type. */
  msgType: number;
  /** Offset of the payload (after the message type). */
  payload: number;
  /** End of the datagram (offset + length). */
  end: number;
}

/** A fresh {@link MdHeader} to fill. Thread: any. */
export function newMdHeader(): MdHeader {
  return { count: 0, recipients: 0, control: false, sender: -1, msgType: 0, payload: 0, end: 0 };
}

/**
 * Reads the header of the datagram `data[offset, offset + length)` into `out`. Returns null when the
 * header is complete, else why it is truncated (an empty datagram, fewer recipients than the count,
 * no room for the sender or the message type): Astron terminates such a sender. Allocation-free on
 * success. Thread: any.
 */
export function readMdHeader(data: Uint8Array, offset: number, length: number, out: MdHeader): string | null {
  const end = offset + length;
  out.end = end;
  if (length < 1) return 'empty datagram';
  const count = data[offset]!;
  out.count = count;
  out.recipients = offset + 1;
  let at = offset + 1 + 8 * count;
  if (at > end) return `recipient count ${count} needs ${8 * count} bytes; ${end - offset - 1} left`;
  // Control: one recipient, channel 1 (bytes 01 00 … 00), and no sender.
  const control = count === 1 && data[offset + 1] === 1 && isZero(data, offset + 2, 7);
  out.control = control;
  if (control) out.sender = -1;
  else {
    if (at + 8 > end) return 'no room for the sender channel';
    out.sender = at;
    at += 8;
  }
  if (at + 2 > end) return 'no room for the message type';
  out.msgType = data[at]! | (data[at + 1]! << 8);
  out.payload = at + 2;
  return null;
}

function isZero(data: Uint8Array, at: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (data[at + i] !== 0) return false;
  return true;
}

/** A control message, parsed. Channels are canonical {@link ChannelKey}s. Thread: any. */
export type MdControl =
  | { kind: 'addChannel'; channel: ChannelKey }
  | { kind: 'removeChannel'; channel: ChannelKey }
  | { kind: 'addRange'; lo: ChannelKey; hi: ChannelKey }
  | { kind: 'removeRange'; lo: ChannelKey; hi: ChannelKey }
  | { kind: 'addPostRemove'; key: ChannelKey; datagram: Uint8Array }
  | { kind: 'clearPostRemoves'; key: ChannelKey }
  | { kind: 'setConName'; name: string }
  | { kind: 'setConUrl'; url: string }
  | { kind: 'logMessage'; blob: Uint8Array }
  | { kind: 'unknown'; msgType: number };

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Parses the control message whose header `h` was read from `data` (`h.control` must be true).
 * Arguments past the end throw {@link MdDatagramError}; trailing bytes are ignored (as Astron). An
 * unknown code parses as `{ kind: 'unknown' }` (Astron logs and ignores it). Byte arguments are copies.
 * Thread: any.
 */
export function parseMdControl(data: Uint8Array, h: MdHeader): MdControl {
  let at = h.payload;
  const need = (n: number, what: string): void => {
    if (at + n > h.end) throw new MdDatagramError(`control message ${h.msgType}: ${what} needs ${n} bytes; ${h.end - at} left`);
  };
  const channel = (what: string): ChannelKey => {
    need(8, what);
    const k = readChannelKey(data, at);
    at += 8;
    return k;
  };
  const blob = (what: string): Uint8Array => {
    need(2, `${what} length`);
    const n = data[at]! | (data[at + 1]! << 8);
    at += 2;
    need(n, what);
    const b = data.slice(at, at + n);
    at += n;
    return b;
  };
  switch (h.msgType) {
    case MdMsg.ADD_CHANNEL:
      return { kind: 'addChannel', channel: channel('channel') };
    case MdMsg.REMOVE_CHANNEL:
      return { kind: 'removeChannel', channel: channel('channel') };
    case MdMsg.ADD_RANGE: {
      const lo = channel('range low');
      return { kind: 'addRange', lo, hi: channel('range high') };
    }
    case MdMsg.REMOVE_RANGE: {
      const lo = channel('range low');
      return { kind: 'removeRange', lo, hi: channel('range high') };
    }
    case MdMsg.ADD_POST_REMOVE: {
      const key = channel('post-remove key');
      return { kind: 'addPostRemove', key, datagram: blob('post-remove datagram') };
    }
    case MdMsg.CLEAR_POST_REMOVES:
      return { kind: 'clearPostRemoves', key: channel('post-remove key') };
    case MdMsg.SET_CON_NAME:
      return { kind: 'setConName', name: utf8.decode(blob('name')) };
    case MdMsg.SET_CON_URL:
      return { kind: 'setConUrl', url: utf8.decode(blob('url')) };
    case MdMsg.LOG_MESSAGE:
      return { kind: 'logMessage', blob: blob('log message') };
    default:
      return { kind: 'unknown', msgType: h.msgType };
  }
}

/**
 * The control datagram for `msg` (without the TCP length prefix), as a {@link PyDatagram} a writer can
 * send. `unknown` writes its code with no arguments. Throws for a channel outside 0..2^64−1 or a
 * byte argument over 65,535 bytes. Thread: any.
 */
export function mdControlDatagram(msg: MdControl): PyDatagram {
  const dg = new PyDatagram();
  const code = msg.kind === 'unknown' ? msg.msgType : CONTROL_CODE[msg.kind];
  dg.addServerControlHeader(code);
  switch (msg.kind) {
    case 'addChannel':
    case 'removeChannel':
      dg.addUint64(msg.channel);
      break;
    case 'addRange':
    case 'removeRange':
      dg.addUint64(msg.lo);
      dg.addUint64(msg.hi);
      break;
    case 'addPostRemove':
      dg.addUint64(msg.key);
      dg.addBlob(msg.datagram);
      break;
    case 'clearPostRemoves':
      dg.addUint64(msg.key);
      break;
    case 'setConName':
      dg.addString(msg.name);
      break;
    case 'setConUrl':
      dg.addString(msg.url);
      break;
    case 'logMessage':
      dg.addBlob(msg.blob);
      break;
    case 'unknown':
      break;
  }
  return dg;
}

const CONTROL_CODE: Record<Exclude<MdControl['kind'], 'unknown'>, number> = {
  addChannel: MdMsg.ADD_CHANNEL,
  removeChannel: MdMsg.REMOVE_CHANNEL,
  addRange: MdMsg.ADD_RANGE,
  removeRange: MdMsg.REMOVE_RANGE,
  addPostRemove: MdMsg.ADD_POST_REMOVE,
  clearPostRemoves: MdMsg.CLEAR_POST_REMOVES,
  setConName: MdMsg.SET_CON_NAME,
  setConUrl: MdMsg.SET_CON_URL,
  logMessage: MdMsg.LOG_MESSAGE,
};
