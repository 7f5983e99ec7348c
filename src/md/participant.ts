/**
 * The participant API: what a TypeScript server (a zone, an AI, a chat or gateway process) uses to
 * talk to a message director — pandanet's own `MessageDirector` / `pandanet md`, or Astron's
 * `astrond` — over an ordinary pandanet TCP connection with Panda's 2-byte length header.
 *
 * {@link MdParticipant} only *sends*: subscriptions and post-removes as Astron's control messages
 * (built by `mdControlDatagram` of `./protocol.ts`), and routed datagrams (a `PyDatagram` made with
 * `addServerHeader`). Datagrams the MD routes to this participant arrive on the connection like any
 * other and are read with the application's usual `QueuedConnectionReader` (`getData`, `drainData`,
 * `waitForDataAsync`), exactly as in Panda3D/Astron's Python `ConnectionRepository`. The participant
 * keeps no state of its own (the MD holds the subscriptions), so it adds nothing to the reading path.
 *
 * ```ts
 * const manager = new QueuedConnectionManager();
 * const reader = new QueuedConnectionReader(manager, 2);
 * const writer = new ConnectionWriter(manager, 2);
 * const conn = manager.openTCPClientConnection('127.0.0.1', mdPort, 3000)!;
 * reader.addConnection(conn);
 * const md = new MdParticipant(conn, writer);
 * md.registerForChannel(4000n);
 * const dg = new PyDatagram();
 * dg.addServerHeader(5000n, 4000n, 1234); // to channel 5000, from 4000, message type 1234
 * md.send(dg);
 * ```
 *
 * Thread: main thread only (as the connection and the writer it uses).
 * @module
 */
import { Datagram } from '../datagram/datagram.js';
import { ErrorCode, InvalidArgumentError, MdDatagramError, PandaNetError, SocketError, TooLongError, ValueRangeError } from '../errors.js';
import { Connection, coreOf } from '../main/connection.js';
import type { ConnectionManager } from '../main/connection-manager.js';
import { ConnectionWriter } from '../main/connection-writer.js';
import { QueuedConnectionReader } from '../main/queued-connection-reader.js';
import { MAX_CHANNEL, mdControlDatagram, newMdHeader, readMdHeader, type ChannelKey, type MdControl } from './protocol.js';

/**
 * Largest datagram {@link MdParticipant.addPostRemove} takes: 65,514 bytes. The ADD_POST_REMOVE control
 * message around it (control header 11 bytes, key 8, blob length 2) must fit one 2-byte-header frame
 * of 65,535 bytes. Thread: any.
 */
export const MAX_POST_REMOVE_SIZE = 0xffff - 11 - 8 - 2;

/** Options of {@link MdParticipant.connect}. Thread: main thread only. */
export interface MdConnectOptions {
  /** I/O threads of the reader and writer it makes, as in every constructor; 0 = polled (default 2, as `MessageDirector`). */
  threads?: number;
  /** Connect timeout, ms (default 3000). */
  timeoutMs?: number;
  /** Sent as SET_CON_NAME once connected (names this participant in the MD's logs). */
  name?: string;
}

/** What {@link MdParticipant.connect} opened: the participant and the pandanet objects under it. Thread: main thread only. */
export interface MdParticipantLink {
  participant: MdParticipant;
  /** The TCP connection to the MD (close it with `manager.closeConnection`: the MD fires its post-removes). */
  connection: Connection;
  /** Reads what the MD routes to this participant (the connection is already added). */
  reader: QueuedConnectionReader;
  /** The writer the participant sends through. */
  writer: ConnectionWriter;
}

/**
 * One participant of a message director: a TCP connection to an MD, and the writer that sends on it.
 *
 * **Refusals.** Every call that sends returns the writer's boolean: `true` once the datagram is handed
 * to the writer (it then leaves in order with everything else sent on the connection), `false` when
 * the writer refuses it — the connection is closed or reset (also reported in the manager's reset
 * queue; the MD has then dropped this participant's subscriptions and fired its post-removes anyway),
 * the MD stopped reading (`maxPendingSendBytes` waiting), or a threaded writer's queue is full.
 * Control calls (`register…`, `unregister…`, `addPostRemove`, `clearPostRemoves`, `setCon…`) send
 * with the writer's `block` flag: a full queue makes them wait (bounded, ~2 s) for room instead of
 * losing a subscription to a burst of data sends; they return `false` only if it stayed full, or for
 * the reasons above. After a `false` from a control call the MD's view of this participant is
 * unknown: close the connection (its post-removes fire) and connect again. Bad arguments throw
 * typed errors before anything is sent.
 *
 * Subscriptions, ranges and post-removes live in the MD and end with the connection; the MD never
 * answers control messages. Thread: main thread only.
 */
export class MdParticipant {
  readonly #connection: Connection;
  readonly #writer: ConnectionWriter;
  /** Reused by {@link send} to check headers without allocating. */
  readonly #header = newMdHeader();

  /**
   * Wraps `connection`, an open TCP stream to an MD (pandanet or Astron), sending through `writer`
   * (which must frame with Panda's 2-byte length header, not raw mode: the MD protocol's framing).
   * Sends nothing. Throws `PandaNetError` `NULL_CONNECTION` for a missing connection,
   * `WRONG_CONNECTION_KIND` for a listener or UDP socket, `InvalidArgumentError` for anything that is
   * not a `Connection` / `ConnectionWriter` or a writer with another header size or in raw mode.
   * Thread: main thread only.
   */
  constructor(connection: Connection, writer: ConnectionWriter) {
    if (connection == null) throw new PandaNetError(ErrorCode.NULL_CONNECTION, 'MdParticipant needs a connection to a message director');
    if (!(connection instanceof Connection)) throw new InvalidArgumentError('MdParticipant needs a Connection (from openTCPClientConnection or a listener)');
    const kind = coreOf(connection).kind;
    if (kind !== 'tcp') throw new PandaNetError(ErrorCode.WRONG_CONNECTION_KIND, `MdParticipant needs a connected TCP stream, not a ${kind}`);
    if (!(writer instanceof ConnectionWriter)) throw new InvalidArgumentError('MdParticipant needs a ConnectionWriter');
    if (writer.getRawMode() || writer.getTcpHeaderSize() !== 2) {
      throw new InvalidArgumentError(`a message director frames datagrams with a 2-byte length header; this writer uses ${writer.getRawMode() ? 'raw mode' : `a ${writer.getTcpHeaderSize()}-byte header`}`);
    }
    this.#connection = connection;
    this.#writer = writer;
  }

  /**
   * Convenience (not in Panda/Astron): makes a `QueuedConnectionReader` and a `ConnectionWriter` on
   * `manager` with `options.threads` I/O threads (default 2; 0 = polled), connects to the MD at
   * `host:port` without blocking the thread, adds the connection to the reader and wraps it — the
   * explicit constructor form in one call. Sends SET_CON_NAME when `options.name` is given. Rejects
   * with the manager's error (usually a `SocketError`) when the connection fails; the reader and
   * writer it made are then shut down. Thread: main thread only.
   */
  static async connect(manager: ConnectionManager, host: string, port: number, options: MdConnectOptions = {}): Promise<MdParticipantLink> {
    const threads = options.threads ?? 2;
    const reader = new QueuedConnectionReader(manager, threads);
    const writer = new ConnectionWriter(manager, threads);
    let connection: Connection | null = null;
    try {
      reader.setTcpHeaderSize(2);
      writer.setTcpHeaderSize(2);
      connection = await manager.openTCPClientConnectionAsync(host, port, options.timeoutMs ?? 3000);
      if (connection === null) throw manager.getLastError() ?? new SocketError(`could not connect to the message director at ${host}:${port}`, { syscall: 'connect', address: host, port });
      reader.addConnection(connection);
      const participant = new MdParticipant(connection, writer);
      if (options.name !== undefined) participant.setConName(options.name);
      return { participant, connection, reader, writer };
    } catch (err) {
      if (connection !== null) manager.closeConnection(connection);
      reader.shutdown();
      writer.shutdown();
      throw err;
    }
  }

  /** The connection to the MD. Thread: main thread only. */
  getConnection(): Connection {
    return this.#connection;
  }

  /** The writer this participant sends through. Thread: main thread only. */
  getWriter(): ConnectionWriter {
    return this.#writer;
  }

  /**
   * Subscribes to `channel` (ADD_CHANNEL, 9000): the MD routes here every datagram addressed to it
   * (never the ones this participant sends itself). `channel`: an integer 0..2^64−1, a `bigint` above
   * 2^53−1. Returns the writer's answer (see the class). Thread: main thread only.
   */
  registerForChannel(channel: number | bigint): boolean {
    return this.#control({ kind: 'addChannel', channel: checkChannel('channel', channel) });
  }

  /** Unsubscribes from `channel` (REMOVE_CHANNEL, 9001); see {@link registerForChannel}. Thread: main thread only. */
  unregisterForChannel(channel: number | bigint): boolean {
    return this.#control({ kind: 'removeChannel', channel: checkChannel('channel', channel) });
  }

  /**
   * Subscribes to every channel in `[lo, hi]`, inclusive at both ends (ADD_RANGE, 9002). Throws
   * `InvalidArgumentError` when `lo > hi`. Thread: main thread only.
   */
  registerForRange(lo: number | bigint, hi: number | bigint): boolean {
    const [l, h] = checkRange(lo, hi);
    return this.#control({ kind: 'addRange', lo: l, hi: h });
  }

  /**
   * Removes `[lo, hi]` (inclusive) from this participant's ranges (REMOVE_RANGE, 9003): a set
   * operation in the MD, which slices any of its ranges that overlap. Throws `InvalidArgumentError`
   * when `lo > hi`. Thread: main thread only.
   */
  unregisterForRange(lo: number | bigint, hi: number | bigint): boolean {
    const [l, h] = checkRange(lo, hi);
    return this.#control({ kind: 'removeRange', lo: l, hi: h });
  }

  /**
   * Stores `datagram` in the MD under `key` (ADD_POST_REMOVE, 9010): when this participant's
   * connection goes away (closed, reset, or terminated by the MD) the MD routes it as if this
   * participant had sent it. `key` groups them (usually the participant's own channel) for
   * {@link clearPostRemoves}. `datagram` is copied as it is now; it must be a routed MD datagram
   * (recipient count, recipients, sender, message type: what `addServerHeader` writes), not a control
   * message — else `MdDatagramError` — and at most {@link MAX_POST_REMOVE_SIZE} (65,514) bytes — else
   * `TooLongError`. Thread: main thread only.
   */
  addPostRemove(key: number | bigint, datagram: Datagram): boolean {
    const k = checkChannel('post-remove key', key);
    if (!(datagram instanceof Datagram)) throw new InvalidArgumentError('addPostRemove needs a Datagram (a PyDatagram made with addServerHeader)');
    const h = this.#header;
    const why = readMdHeader(datagram._bytes, 0, datagram._length, h);
    if (why !== null) throw new MdDatagramError(`post-remove datagram is not a message-director datagram: ${why}`);
    if (h.control) throw new MdDatagramError('a post-remove must be a routed datagram (recipients, sender, message type), not a control message');
    if (datagram._length > MAX_POST_REMOVE_SIZE) throw new TooLongError(`post-remove datagram of ${datagram._length} bytes exceeds ${MAX_POST_REMOVE_SIZE}, the most one ADD_POST_REMOVE frame can carry; nothing sent`);
    return this.#control({ kind: 'addPostRemove', key: k, datagram: datagram.getMessageView() });
  }

  /** Forgets the post-removes stored under `key` (CLEAR_POST_REMOVES, 9011). Thread: main thread only. */
  clearPostRemoves(key: number | bigint): boolean {
    return this.#control({ kind: 'clearPostRemoves', key: checkChannel('post-remove key', key) });
  }

  /**
   * Names this participant in the MD's logs (SET_CON_NAME, 9012), UTF-8. Throws
   * `InvalidArgumentError` for a non-string, `TooLongError` past 65,522 UTF-8 bytes (one frame).
   * Thread: main thread only.
   */
  setConName(name: string): boolean {
    if (typeof name !== 'string') throw new InvalidArgumentError(`setConName needs a string, got ${typeof name}`);
    return this.#control({ kind: 'setConName', name });
  }

  /** A URL for this participant in the MD's logs (SET_CON_URL, 9013); as {@link setConName}. Thread: main thread only. */
  setConUrl(url: string): boolean {
    if (typeof url !== 'string') throw new InvalidArgumentError(`setConUrl needs a string, got ${typeof url}`);
    return this.#control({ kind: 'setConUrl', url });
  }

  /**
   * Sends `datagram` to the MD for routing: a `PyDatagram` built with `addServerHeader(channel,
   * sender, msgType)` (or any datagram with Astron's header: `u8 count`, `u64 recipients[count]`,
   * `u64 sender`, `u16 msgType`, payload). The header is checked first without allocating: a datagram
   * shorter than its header claims throws `MdDatagramError` and is not sent (the MD would terminate
   * this participant for it). A control datagram (one recipient, channel 1) is sent as it is.
   * Returns the writer's answer: `false` when refused (see the class); with `block`, a threaded
   * writer's full queue is waited on (bounded) as in `ConnectionWriter.send`. Thread: main thread only.
   */
  send(datagram: Datagram, block = false): boolean {
    if (!(datagram instanceof Datagram)) throw new InvalidArgumentError('send needs a Datagram (a PyDatagram made with addServerHeader)');
    const why = readMdHeader(datagram._bytes, 0, datagram._length, this.#header);
    if (why !== null) throw new MdDatagramError(`not a message-director datagram (the MD would terminate this participant): ${why}; nothing sent`);
    return this.#writer.send(datagram, this.#connection, block);
  }

  #control(msg: MdControl): boolean {
    return this.#writer.send(mdControlDatagram(msg), this.#connection, true);
  }
}

/** `value` as a canonical channel key, or a typed error naming `what`. */
function checkChannel(what: string, value: unknown): ChannelKey {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new ValueRangeError(`${what} must be an integer 0..2^64-1, got ${value}`);
    if (!Number.isSafeInteger(value)) throw new ValueRangeError(`${what} ${value} is above 2^53-1, where a number is not exact: pass a bigint`);
    return value;
  }
  if (typeof value === 'bigint') {
    if (value < 0n || value > MAX_CHANNEL) throw new ValueRangeError(`${what} must be an integer 0..2^64-1, got ${value}`);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  throw new InvalidArgumentError(`${what} must be a number or a bigint, got ${value === null ? 'null' : typeof value}`);
}

function checkRange(lo: unknown, hi: unknown): [ChannelKey, ChannelKey] {
  const l = checkChannel('range low', lo);
  const h = checkChannel('range high', hi);
  if (l > h) throw new InvalidArgumentError(`range low ${l} is above range high ${h} (ranges are inclusive: [lo, hi] with lo <= hi)`);
  return [l, h];
}
