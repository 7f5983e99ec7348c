/**
 * The demo game's wire messages: what the bots send the server and what it sends back. Plain
 * functions over bytes (no sockets), written with {@link PyDatagram} as a Panda3D client would and
 * read either with {@link PyDatagramIterator} or, in hot loops, straight from the reader's ring
 * memory with a `DataView` (what `drainData` hands out). All fields are little-endian, as every
 * Panda `Datagram` field is.
 *
 * ```
 * INPUT     client → server, 21 bytes
 *   uint8 1 · uint32 sequence · float32 x · float32 y · float64 clientSendTimeMs
 * SNAPSHOT  server → each client, 31 + 12·count bytes (count ≤ MAX_SNAPSHOT_ENTITIES → ≤ 799 bytes)
 *   uint8 2 · uint32 tick · float64 serverTimeMs · uint16 count
 *   · count × (uint32 entityId · float32 x · float32 y)
 *   · uint32 ackSequence · float64 ackClientSendTimeMs · float32 ackHoldMs
 * WELCOME   server → a client once, on join, 11 bytes
 *   uint8 3 · uint32 entityId · uint16 tickRate · float32 worldSize
 * SPECTATE  client → server, 1 byte: from now on, only watch
 *   uint8 4
 * ```
 *
 * Every client joins with an entity (the WELCOME names it). A SPECTATE removes it from the world: the
 * client keeps getting SNAPSHOTs (of the entities nearest to where its entity was), and its later
 * INPUTs are ignored.
 *
 * INPUT's `x, y` is where the player wants its entity to be (the server moves it there at a bounded
 * speed). SNAPSHOT's trailer echoes the recipient's latest input: its sequence (0 before any input),
 * the client's own send time for it, and how long the server held it before this snapshot left
 * (`ackHoldMs`), so the client can tell network round trip (`now − sendTime − hold`) from the wait
 * for the next tick.
 *
 * Thread: any (pure): imports only `pandanet/datagram`'s modules, so the browser page
 * (`src/app/web/client/`) encodes and decodes with this same file.
 * @module
 */
import { type Datagram, PyDatagram, PyDatagramIterator } from '../datagram/index.js';

/** Message type codes (the first byte of every datagram). */
export const MessageType = {
  INPUT: 1,
  SNAPSHOT: 2,
  WELCOME: 3,
  SPECTATE: 4,
} as const;
/** One of {@link MessageType}. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Most entities one snapshot carries (keeps a snapshot under 800 bytes). */
export const MAX_SNAPSHOT_ENTITIES = 64;
/** Bytes of an INPUT datagram. */
export const INPUT_BYTES = 21;
/** Bytes of a SNAPSHOT header: type, tick, server time, count. */
export const SNAPSHOT_HEADER_BYTES = 15;
/** Bytes per entity in a SNAPSHOT. */
export const SNAPSHOT_ENTITY_BYTES = 12;
/** Bytes of the SNAPSHOT trailer: ack sequence, ack send time, hold. */
export const SNAPSHOT_TRAILER_BYTES = 16;
/** Bytes of a WELCOME datagram. */
export const WELCOME_BYTES = 11;
/** Bytes of a SPECTATE datagram. */
export const SPECTATE_BYTES = 1;

/** Size of a snapshot carrying `count` entities. */
export function snapshotBytes(count: number): number {
  return SNAPSHOT_HEADER_BYTES + SNAPSHOT_ENTITY_BYTES * count + SNAPSHOT_TRAILER_BYTES;
}

/** A decoded INPUT. */
export interface InputMessage {
  sequence: number;
  x: number;
  y: number;
  sendTimeMs: number;
}

/** The echo at the end of a SNAPSHOT. */
export interface SnapshotAck {
  sequence: number;
  sendTimeMs: number;
  holdMs: number;
}

/** One entity in a SNAPSHOT. */
export interface EntityState {
  id: number;
  x: number;
  y: number;
}

/** A decoded SNAPSHOT (tests and tools; the hot paths read fields in place). */
export interface SnapshotMessage {
  tick: number;
  serverTimeMs: number;
  entities: EntityState[];
  ack: SnapshotAck;
}

/** A decoded WELCOME. */
export interface WelcomeMessage {
  entityId: number;
  tickRate: number;
  worldSize: number;
}

/** Writes an INPUT into `dg` (cleared first), as a Panda client would with a PyDatagram. */
export function writeInput(dg: Datagram, m: InputMessage): void {
  dg.clear();
  dg.addUint8(MessageType.INPUT);
  dg.addUint32(m.sequence);
  dg.addFloat32(m.x);
  dg.addFloat32(m.y);
  dg.addFloat64(m.sendTimeMs);
}

/** A new INPUT datagram. */
export function encodeInput(m: InputMessage): PyDatagram {
  const dg = new PyDatagram();
  writeInput(dg, m);
  return dg;
}

/** Starts a SNAPSHOT in `dg` (cleared first): the header with `count` entities to follow. */
export function beginSnapshot(dg: Datagram, tick: number, serverTimeMs: number, count: number): void {
  dg.clear();
  dg.addUint8(MessageType.SNAPSHOT);
  dg.addUint32(tick);
  dg.addFloat64(serverTimeMs);
  dg.addUint16(count);
}

/** Appends one entity of a SNAPSHOT. */
export function addSnapshotEntity(dg: Datagram, id: number, x: number, y: number): void {
  dg.addUint32(id);
  dg.addFloat32(x);
  dg.addFloat32(y);
}

/** Ends a SNAPSHOT with the recipient's ack. */
export function endSnapshot(dg: Datagram, ack: SnapshotAck): void {
  dg.addUint32(ack.sequence);
  dg.addFloat64(ack.sendTimeMs);
  dg.addFloat32(ack.holdMs);
}

/** A whole SNAPSHOT datagram (tests and tools). */
export function encodeSnapshot(m: SnapshotMessage): PyDatagram {
  if (m.entities.length > 0xffff) throw new RangeError(`a snapshot holds at most 65535 entities, got ${m.entities.length}`);
  const dg = new PyDatagram();
  beginSnapshot(dg, m.tick, m.serverTimeMs, m.entities.length);
  for (const e of m.entities) addSnapshotEntity(dg, e.id, e.x, e.y);
  endSnapshot(dg, m.ack);
  return dg;
}

/** Writes a WELCOME into `dg` (cleared first). */
export function writeWelcome(dg: Datagram, m: WelcomeMessage): void {
  dg.clear();
  dg.addUint8(MessageType.WELCOME);
  dg.addUint32(m.entityId);
  dg.addUint16(m.tickRate);
  dg.addFloat32(m.worldSize);
}

/** Writes a SPECTATE into `dg` (cleared first). */
export function writeSpectate(dg: Datagram): void {
  dg.clear();
  dg.addUint8(MessageType.SPECTATE);
}

/** Reads a whole SNAPSHOT with a PyDatagramIterator (the manual's way; throws on a short datagram). */
export function decodeSnapshot(dg: Datagram): SnapshotMessage {
  const it = new PyDatagramIterator(dg);
  const type = it.getUint8();
  if (type !== MessageType.SNAPSHOT) throw new RangeError(`not a snapshot: message type ${type}`);
  const tick = it.getUint32();
  const serverTimeMs = it.getFloat64();
  const count = it.getUint16();
  const entities: EntityState[] = [];
  for (let i = 0; i < count; i++) entities.push({ id: it.getUint32(), x: it.getFloat32(), y: it.getFloat32() });
  const ack = { sequence: it.getUint32(), sendTimeMs: it.getFloat64(), holdMs: it.getFloat32() };
  return { tick, serverTimeMs, entities, ack };
}

/** Reads an INPUT with a PyDatagramIterator (throws on a short datagram). */
export function decodeInput(dg: Datagram): InputMessage {
  const it = new PyDatagramIterator(dg);
  const type = it.getUint8();
  if (type !== MessageType.INPUT) throw new RangeError(`not an input: message type ${type}`);
  return { sequence: it.getUint32(), x: it.getFloat32(), y: it.getFloat32(), sendTimeMs: it.getFloat64() };
}

/**
 * Reads fields in place from bytes a reader lends (`drainData`'s `data, offset, length`), without
 * copying or allocating per datagram. Keeps one `DataView` per underlying buffer.
 */
export class InPlaceReader {
  #buffer: ArrayBufferLike | null = null;
  #byteOffset = 0;
  #byteLength = 0;
  #view: DataView = new DataView(new ArrayBuffer(0));

  /** A view of exactly `data`'s bytes: an offset within `data` is the same offset in the view. */
  view(data: Uint8Array): DataView {
    if (data.buffer !== this.#buffer || data.byteOffset !== this.#byteOffset || data.byteLength !== this.#byteLength) {
      this.#buffer = data.buffer;
      this.#byteOffset = data.byteOffset;
      this.#byteLength = data.byteLength;
      this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    }
    return this.#view;
  }

  /** The message type of the datagram at `offset`, or -1 when it is empty. */
  type(data: Uint8Array, offset: number, length: number): number {
    return length > 0 ? data[offset]! : -1;
  }

  /** Fills `out` from an INPUT at `offset`; false (out untouched) if it is not a well-formed INPUT. */
  input(data: Uint8Array, offset: number, length: number, out: InputMessage): boolean {
    if (length !== INPUT_BYTES || data[offset] !== MessageType.INPUT) return false;
    const v = this.view(data);
    out.sequence = v.getUint32(offset + 1, true);
    out.x = v.getFloat32(offset + 5, true);
    out.y = v.getFloat32(offset + 9, true);
    out.sendTimeMs = v.getFloat64(offset + 13, true);
    return true;
  }

  /**
   * Fills `out` with a SNAPSHOT's ack (skipping its entities) and returns its tick; -1 (out
   * untouched) if it is not a well-formed SNAPSHOT.
   */
  snapshotAck(data: Uint8Array, offset: number, length: number, out: SnapshotAck): number {
    if (length < snapshotBytes(0) || data[offset] !== MessageType.SNAPSHOT) return -1;
    const v = this.view(data);
    const count = v.getUint16(offset + 13, true);
    if (length !== snapshotBytes(count)) return -1;
    const at = offset + SNAPSHOT_HEADER_BYTES + SNAPSHOT_ENTITY_BYTES * count;
    out.sequence = v.getUint32(at, true);
    out.sendTimeMs = v.getFloat64(at + 4, true);
    out.holdMs = v.getFloat32(at + 12, true);
    return v.getUint32(offset + 1, true);
  }

  /** Reads a WELCOME; null if it is not one. */
  welcome(data: Uint8Array, offset: number, length: number): WelcomeMessage | null {
    if (length !== WELCOME_BYTES || data[offset] !== MessageType.WELCOME) return null;
    const v = this.view(data);
    return { entityId: v.getUint32(offset + 1, true), tickRate: v.getUint16(offset + 5, true), worldSize: v.getFloat32(offset + 7, true) };
  }
}
