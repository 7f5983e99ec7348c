/**
 * The one protocol between the main thread and the I/O workers. Every message kind is declared
 * here once; each side dispatches with one `switch` that rejects unknown kinds.
 *
 * Channels (never mixed):
 * - **control port** (`postMessage`, main → worker): setup and rare commands ({@link ControlMessage}).
 * - **outbound ring** (SharedArrayBuffer, main → worker): sends and closes, in order ({@link OutOp}).
 * - **event ring** (SharedArrayBuffer, worker → main): accepts, resets, log lines ({@link EventKind}).
 * - **reader rings** (SharedArrayBuffer, worker → main): received datagrams, one ring per reader.
 * - **call slot** (SharedArrayBuffer): the reply to a synchronous call the main thread waits on.
 *
 * Pure module: no sockets, no threads. Thread: any.
 * @module
 */
import type { ErrorRecord } from '../errors.js';
import type { MessagePort } from 'node:worker_threads';
import type { TcpHeaderSize } from './tcp-framing.js';

/** Address as it crosses threads. `family` 0 means "unspecified" (no peer). */
export interface WireAddress {
  family: 0 | 4 | 6;
  address: string;
  port: number;
}

/** Settings of one reader that the workers apply to the connections it monitors. */
export interface ReaderConfig {
  headerSize: TcpHeaderSize;
  rawMode: boolean;
  maxDatagramSize: number;
  /** Threaded readers: workers drop the newest datagram past the cap and set the overflow flag. Polled readers: false (the cap applies when polled). */
  enforceCap: boolean;
  /** Listener role: monitors rendezvous connections, publishes accepts. */
  listener: boolean;
}

/** What a worker knows about the shared state at startup. */
export interface WorkerInit {
  kind: 'init';
  index: number;
  poolSab: SharedArrayBuffer;
  eventRing: SharedArrayBuffer;
  outRing: SharedArrayBuffer;
  callSlot: SharedArrayBuffer;
  statsSab: SharedArrayBuffer;
  writerSab: SharedArrayBuffer;
  peers: Array<{ index: number; port: MessagePort }>;
  supportIpv6: boolean;
  /** Per-stream framed bytes the kernel has taken (see {@link PENDING_SLOTS}). */
  pendingSab: SharedArrayBuffer;
  /** 0 = off. */
  idleTimeoutMs: number;
  /** `NetConfig.ioSpinUs`: how long the outbound loop keeps looking before it sleeps (µs). */
  ioSpinUs: number;
  /** The main thread's log level word (`log.ts`): the worker logs only what the main thread shows. */
  logLevel: SharedArrayBuffer;
  /** Datagrams taken by the application, per stream slot (see {@link TAKEN_SLOTS}). */
  takenSab: SharedArrayBuffer;
  /** `NetConfig.maxQueuedPerConnection`; 0 = off. */
  maxQueuedPerConnection: number;
}

/**
 * Each TCP stream on a thread has a slot in that thread's `pendingSab` (Int32Array of PENDING_SLOTS).
 * The word counts bytes TAKEN, not bytes waiting: the framed bytes of that stream the kernel has
 * taken so far, cumulative, modulo 2^32 (`written - socket.writableLength`, where `written` is what
 * the thread passed to `socket.write`). Its only writer is the stream's I/O thread (after each flush,
 * on each write callback and on 'drain'; 0 when the stream is gone); its only reader is the main thread.
 *
 * The other half of the tally is main-thread only: `ConnectionCore.framedSent`, the framed bytes
 * `send` accepted for the stream (counted after the hand-over succeeds, never for a refused send).
 * Bytes waiting = `framedSent - word` (mod 2^32): in collect-tcp's buffer, the ring, the thread's
 * batch, or Node's buffer. The main thread applies the per-connection high-water mark to it in `send`.
 * Each quantity has one owner; neither thread keeps a copy of the other's. Slot -1: none (over the
 * table's size).
 */
export const PENDING_SLOTS = 65536;

/**
 * Per-connection quota (`NetConfig.maxQueuedPerConnection`): each TCP stream's slot (the same slot as
 * in {@link PENDING_SLOTS}) has a word in its thread's `takenSab` (Int32Array of TAKEN_SLOTS): the
 * datagrams of that stream the application has taken (`getData`, `drainData`; in polled mode also
 * those the polled queue cap dropped), cumulative, modulo 2^32. Written by the main thread only (one
 * store per datagram taken), read by the thread that owns the stream, which counts the datagrams it
 * delivered into a reader ring: when delivered − taken reaches the quota it stops reading the socket
 * until the application has taken some.
 */
export const TAKEN_SLOTS = PENDING_SLOTS;

/** Main → worker control messages. */
export type ControlMessage =
  | WorkerInit
  /**
   * Run a {@link SyncCall}. `reply`: `'slot'` — the answer goes into the call slot (a blocking caller
   * waits on it); `'message'` — it comes back as a `reply` {@link WorkerNotice} (an `Async` twin).
   */
  | { kind: 'call'; callId: number; call: SyncCall; reply: 'slot' | 'message' }
  | { kind: 'addPeer'; index: number; port: MessagePort }
  | { kind: 'addReader'; readerId: number; ring: SharedArrayBuffer; control: SharedArrayBuffer; config: ReaderConfig }
  | { kind: 'configReader'; readerId: number; config: ReaderConfig }
  | { kind: 'removeReader'; readerId: number }
  | { kind: 'attach'; connId: number; readerId: number }
  | { kind: 'detach'; connId: number; readerId: number }
  | { kind: 'setOption'; connId: number; option: ConnectionOption }
  | { kind: 'crashForTest' }
  /** Flush, end every stream, then report on `report` ({@link ShutdownWord}); cut what is left after `timeoutMs`. */
  | { kind: 'shutdown'; timeoutMs: number; report: SharedArrayBuffer };

/**
 * Worker → main notifications that are not per-datagram (rare; postMessage is fine for them): whether
 * it owns any handle, when that changes (for the process's lifetime), and the answers to `call`s made
 * with `reply: 'message'`.
 */
export type WorkerNotice = { kind: 'live'; live: boolean; callsDone: number } | { kind: 'reply'; callId: number; result: SyncResult };

/** Socket options a Connection can set (Panda's setters, made real). */
export type SocketOptionName = 'noDelay' | 'keepAlive' | 'linger' | 'reuseAddr' | 'recvBuffer' | 'sendBuffer' | 'ttl' | 'tos' | 'maxSegment' | 'broadcast';

/** One option and its integer value(s) (linger: [onoff, seconds]). */
export interface ConnectionOption {
  name: SocketOptionName;
  values: number[];
}

/** Worker ↔ worker: hand a duplicated accepted socket to the thread that will serve it. */
export interface AdoptMessage {
  kind: 'adopt';
  connId: number;
  fd: number;
  rendezvousId: number;
  peer: WireAddress;
  local: WireAddress;
  /** The socket came to a WebSocket rendezvous: the target runs its handshake with these settings. */
  ws?: WebSocketSettings;
}

/**
 * A WebSocket rendezvous's settings as they cross threads (checked and completed by the main thread,
 * `main/websocket-options.ts`): the `listen` call carries them to the rendezvous's thread, and each
 * fd hand-off to the thread that runs the handshake. JSON-safe.
 */
export interface WebSocketSettings {
  /** Only this request path upgrades; null: any. */
  path: string | null;
  /** Allowed `Origin` values (exact); null: any, and none. */
  origins: string[] | null;
  /** PEM certificate and key (wss); null: plain ws. */
  tls: { cert: string; key: string } | null;
  /** Largest message accepted, bytes (larger: close 1009). */
  maxPayload: number;
  perMessageDeflate: boolean;
  /** 0: no keep-alive pings. */
  pingIntervalMs: number;
  /** An accepted socket still in its handshake after this many ms is closed. */
  handshakeTimeoutMs: number;
}

/**
 * Worker ↔ worker, for a rendezvous with one `reusePort` listening socket per I/O thread (a "group",
 * `src/workers/reuse-port.ts`). The thread that opened it (its home) asks every other thread to open a
 * sibling socket on the same address and port under the same connection id (`rvOpen`, answered by
 * `rvOpened`), and passes on the listener's attach and detach and the application's close.
 */
export type GroupMessage =
  /** `ws`: a WebSocket rendezvous's settings (each thread runs the handshakes of what it accepts). */
  | { kind: 'rvOpen'; connId: number; host: string; port: number; backlog: number; listening: boolean; ws?: WebSocketSettings }
  | { kind: 'rvOpened'; connId: number; ok: boolean; error?: string }
  | { kind: 'rvAttach' | 'rvDetach' | 'rvClose'; connId: number };

/** Everything a worker receives from a peer worker. */
export type PeerMessage = AdoptMessage | GroupMessage;

/** Blocking operations, run on a worker while the main thread waits on the call slot (or awaits a `reply` notice). */
export type SyncCall =
  /**
   * `reusePort`: the application allows one `reusePort` socket per I/O thread (`NetConfig.reusePort`);
   * the worker uses it where Node and the platform have it and the pool has several threads.
   */
  | { op: 'listen'; connId: number; host: string; port: number; backlog: number; reusePort?: boolean; ws?: WebSocketSettings }
  | { op: 'connect'; connId: number; host: string; port: number; timeoutMs: number }
  /** `host` "" binds the wildcard (dual-stack when IPv6 is supported); `port` 0 an ephemeral port. */
  | { op: 'udp'; connId: number; host: string; port: number; broadcast: boolean }
  | { op: 'getOption'; connId: number; name: SocketOptionName };

/** Result of a {@link SyncCall}. */
export type SyncResult =
  | { ok: true; local: WireAddress; peer: WireAddress; value?: number[] | null; slot?: number }
  | { ok: false; error: ErrorRecord };

/** Event ring record kinds (the record's `meta`); `id` is the connection id; payload is JSON. */
export const EventKind = {
  /** A listener accepted a connection: payload {@link AcceptedEvent}. */
  ACCEPTED: 1,
  /** The connection died (peer close, error, failed send): payload {@link ResetEvent}. */
  RESET: 2,
  /** A log line from the worker (id 0), for the main thread's sink: payload {@link LogEvent}. */
  LOG: 4,
} as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

export interface AcceptedEvent {
  rendezvousId: number;
  /** A WebSocket client (its handshake done); absent for TCP. */
  websocket?: true;
  /** The stream's slot in its thread's pending-send table. */
  slot: number;
  peer: WireAddress;
  local: WireAddress;
}
export interface ResetEvent {
  reason: string;
  error?: ErrorRecord;
  /**
   * Datagrams the stream wrote into reader rings before this reset, cumulative (TcpStream
   * `delivered`). The main thread holds the reset until the application has taken that many
   * datagrams of the connection, so the reset never reaches it before them. Absent: report at once.
   */
  delivered?: number;
  /**
   * True when the socket goes with this reset (anything but a half-close, whose write side stays open
   * for the replies): the thread frees the stream's table slot for another stream, so the main thread
   * lets go of it now, even while it holds the reset back for the datagrams before it.
   */
  socketGone?: boolean;
}
export interface LogEvent {
  level: 'debug' | 'info' | 'warning' | 'error';
  message: string;
}

/**
 * Outbound ring record `meta` bits.
 * ```
 *  31      24 23      16 15       8 7   4 3  2..0
 * +----------+----------+----------+-----+---+-----+
 * | reserved | writer   | reserved | op  |raw| hdr |
 * +----------+----------+----------+-----+---+-----+
 * ```
 * `hdr` is the TCP header size (0, 2 or 4); `writer` the writer slot whose queue counter the worker
 * decrements once the record is taken (0 = not counted), by one per datagram.
 */
export const OutOp = {
  SEND_TCP: 0,
  CLOSE: 1,
  /** Payload: an address record (address-record.ts) then the packet, already UDP-framed. */
  SEND_UDP: 2,
  /**
   * A batch record: `[u32 count]` ({@link BATCH_COUNT_BYTES}, little-endian), then `count` datagrams
   * back to back, each already framed with its `hdr`-byte length header (none in raw mode), to be
   * written as they lie. Built in place by the main thread's write batching (`main/write-batching.ts`).
   * ```
   * | count u32 | len | datagram bytes | len | datagram bytes | ...
   * ```
   */
  SEND_TCP_BATCH: 3,
} as const;

/** Bytes of the item count that opens a {@link OutOp.SEND_TCP_BATCH} record's payload. */
export const BATCH_COUNT_BYTES = 4;

/**
 * The item count of the batch record whose payload starts at `data[offset]` (4-aligned in a ring);
 * its items start at `offset + BATCH_COUNT_BYTES`. Thread: any.
 */
export function readBatchCount(data: Uint8Array, offset: number): number {
  return (data[offset]! | (data[offset + 1]! << 8) | (data[offset + 2]! << 16) | (data[offset + 3]! << 24)) >>> 0;
}

/** Reader ring record `meta`: how to read the payload. */
export const InMeta = {
  /** The payload is the datagram. */
  TCP: 0,
  /** The payload is an address record (the sender) then the datagram. */
  UDP: 1,
} as const;
export type OutOp = (typeof OutOp)[keyof typeof OutOp];

/** Pack an outbound ring `meta` word. */
export function packOutMeta(op: OutOp, headerSize: TcpHeaderSize, raw: boolean, writerSlot: number): number {
  return (headerSize | (raw ? 8 : 0) | (op << 4) | (writerSlot << 16)) >>> 0;
}
/** Header size of an outbound meta word. */
export function outMetaHeader(meta: number): TcpHeaderSize {
  return (meta & 7) as TcpHeaderSize;
}
/** Raw flag of an outbound meta word. */
export function outMetaRaw(meta: number): boolean {
  return (meta & 8) !== 0;
}
/** Operation of an outbound meta word. */
export function outMetaOp(meta: number): OutOp {
  return ((meta >>> 4) & 15) as OutOp;
}
/** Writer slot of an outbound meta word. */
export function outMetaWriter(meta: number): number {
  return (meta >>> 16) & 0xff;
}

/** Most writers one manager can have at once (slot 0 is "uncounted"). */
export const MAX_WRITERS = 255;

/**
 * Pool-wide shared words (`poolSab`, Int32Array).
 * ```
 * [0] NEXT_CONN_ID   next connection id (Atomics.add)
 * [1] POOL_SIZE      number of live I/O workers
 * [2] NEXT_TARGET    round-robin cursor for placing accepted connections
 * ```
 */
export const PoolWord = { NEXT_CONN_ID: 0, POOL_SIZE: 1, NEXT_TARGET: 2 } as const;
export const POOL_WORDS = 16;

/**
 * Reader control words (`control` SAB of addReader, Int32Array) shared by the main thread and all workers.
 * ```
 * [0] QUEUED        datagrams in the reader's rings (workers add, main subtracts)
 * [1] MAX_QUEUE     cap on QUEUED for threaded readers
 * [2] OVERFLOW      sticky overflow flag (1 = a datagram was dropped for the cap)
 * [3] DROPPED       datagrams dropped for the cap, total
 * [4] WAITING       1 while the main thread waits for data (`waitForDataAsync`); a worker that
 *                   delivers clears it and rings DOORBELL
 * [5] DOORBELL      bumped and notified by the worker that found WAITING set
 * ```
 */
export const ReaderWord = { QUEUED: 0, MAX_QUEUE: 1, OVERFLOW: 2, DROPPED: 3, WAITING: 4, DOORBELL: 5 } as const;
export const READER_WORDS = 16;

/**
 * Per-worker statistics (`statsSab`, Float64Array, written by the worker, read by the main thread).
 */
export const StatWord = {
  CONNECTIONS: 0,
  DATAGRAMS_IN: 1,
  BYTES_IN: 2,
  DATAGRAMS_OUT: 3,
  BYTES_OUT: 4,
  ACCEPTS: 5,
  RESETS: 6,
  /** Times reading a socket was paused: its reader ring was full, or its quota was reached (QUOTA_PAUSES). */
  BACKPRESSURE_PAUSES: 7,
  UDP_DROPPED: 12,
  TCP_WRITES: 13,
  TCP_READS: 14,
  OUTBOUND_SLEEPS: 15,
  ELU_IDLE_MS: 8,
  ELU_ACTIVE_MS: 9,
  /** Times reading a socket was paused because its connection had its quota of datagrams queued. */
  QUOTA_PAUSES: 16,
  /** Idle sleeps of the outbound loop that ran out their time with a send already in the ring (nobody woke it). */
  OUTBOUND_MISSED_WAKES: 17,
  /** Accepted WebSocket sockets that never became a connection (refused or failed handshake, timeout). */
  WS_HANDSHAKE_FAILURES: 18,
} as const;
export const STAT_WORDS = 32;

/**
 * Call slot layout (Int32Array header + bytes).
 * ```
 * [0] STATE   0 idle/pending, 1 reply ready
 * [1] CALL_ID id of the call the reply answers
 * [2] LENGTH  JSON reply byte length
 * [3] EXITED  1 once the worker is exiting (set by its `exit` handler, then STATE is notified): a main
 *             thread blocked in a wait sees the death without the `exit` event it cannot take meanwhile
 * bytes from CALL_SLOT_HEADER_BYTES: UTF-8 JSON of a SyncResult
 * ```
 */
export const CallWord = { STATE: 0, CALL_ID: 1, LENGTH: 2, EXITED: 3 } as const;
export const CALL_SLOT_HEADER_BYTES = 64;
export const CALL_SLOT_BYTES = 64 * 1024;

/**
 * Shutdown report (`report` SAB of the 'shutdown' message, {@link SHUTDOWN_REPORT_BYTES}): an
 * Int32Array over the first 8 bytes, a Float64Array over the next 8. Written by the worker once,
 * STATE last (then notified); the main thread waits on STATE.
 * ```
 * [0] STATE         0 flushing, 1 done, 2 the worker exited before it was done ({@link ShutdownState})
 * [1] CUT           TCP streams destroyed before their FIN went out (bound passed, or peer reset)
 * f64 at byte 8     UNSENT_BYTES: bytes of those streams never handed to the kernel
 * ```
 */
export const ShutdownWord = { STATE: 0, CUT: 1 } as const;
/** Values of {@link ShutdownWord.STATE}. */
export const ShutdownState = { FLUSHING: 0, DONE: 1, EXITED: 2 } as const;
/** Byte offset of the UNSENT_BYTES float64 in the shutdown report. */
export const SHUTDOWN_UNSENT_OFFSET = 8;
export const SHUTDOWN_REPORT_BYTES = 16;

/**
 * Writer queue words (`writerSab`, Int32Array): [slot] = datagrams queued and not yet taken by a worker.
 */
export const WRITER_WORDS = MAX_WRITERS + 1;
