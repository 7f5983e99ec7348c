/**
 * Every error pandanet throws, with a permanent `code`.
 *
 * Errors never cross a thread as `Error` objects: a worker sends an {@link ErrorRecord} and the main
 * thread rebuilds the typed error with {@link errorFromRecord}. Codes are documented in
 * `docs/porting-from-panda3d.md` (errors section); they never change meaning once released.
 *
 * Thread: any.
 * @module
 */

/** Stable error codes. Each one names one kind of failure; see `docs/porting-from-panda3d.md`. */
export const ErrorCode = {
  /** A DatagramIterator read ran past the end of its datagram (Panda's `nassert` on `_current_index`). */
  READ_OVERRUN: 'ERR_PANDANET_READ_OVERRUN',
  /** A numeric argument was not an integer, or outside the range of the field it is written to. */
  VALUE_OUT_OF_RANGE: 'ERR_PANDANET_VALUE_OUT_OF_RANGE',
  /** A string or blob is longer than its length prefix can express. */
  TOO_LONG: 'ERR_PANDANET_TOO_LONG',
  /** Bytes read as a string are not valid UTF-8. */
  INVALID_UTF8: 'ERR_PANDANET_INVALID_UTF8',
  /** An argument has the wrong type or an impossible value (not a range problem). */
  INVALID_ARGUMENT: 'ERR_PANDANET_INVALID_ARGUMENT',
  /** A TCP header size other than 0, 2 or 4. */
  INVALID_HEADER_SIZE: 'ERR_PANDANET_INVALID_HEADER_SIZE',
  /** A TCP length header announces (or a send would announce) a datagram larger than the configured maximum. */
  FRAME_TOO_LARGE: 'ERR_PANDANET_FRAME_TOO_LARGE',
  /** A UDP packet is shorter than its header or fails Panda's additive checksum. */
  BAD_UDP_PACKET: 'ERR_PANDANET_BAD_UDP_PACKET',
  /**
   * A message-director datagram that is shorter than its header says (recipients, sender, message
   * type), or a control message with missing arguments.
   */
  BAD_MD_DATAGRAM: 'ERR_PANDANET_BAD_MD_DATAGRAM',
  /** PyDatagram putArg/getArg was given a subatomic type it does not handle. */
  NO_SUCH_TYPE: 'ERR_PANDANET_NO_SUCH_TYPE',
  /** The component was shut down; the call is no longer allowed (Panda asserts). */
  SHUT_DOWN: 'ERR_PANDANET_SHUT_DOWN',
  /** A browser connection (`pandanet/browser`) is closing or closed: `send` is no longer allowed. */
  CONNECTION_CLOSED: 'ERR_PANDANET_CONNECTION_CLOSED',
  /** A browser `connect` did not complete its WebSocket handshake within `timeoutMs`. */
  CONNECT_TIMEOUT: 'ERR_PANDANET_CONNECT_TIMEOUT',
  /** A browser `connect` failed: refused, a failed handshake, or closed before it opened. */
  CONNECT_FAILED: 'ERR_PANDANET_CONNECT_FAILED',
  /** A connection of the wrong kind for this call (listener to a reader, UDP to a TCP send, ...). */
  WRONG_CONNECTION_KIND: 'ERR_PANDANET_WRONG_CONNECTION_KIND',
  /** `null` / `undefined` where a connection is required. */
  NULL_CONNECTION: 'ERR_PANDANET_NULL_CONNECTION',
  /** An I/O worker did not answer a synchronous call within its bound. */
  WORKER_TIMEOUT: 'ERR_PANDANET_WORKER_TIMEOUT',
  /** An I/O worker exited or crashed. */
  WORKER_DIED: 'ERR_PANDANET_WORKER_DIED',
  /** An operating-system socket error (carries `syscall`, `errno`, `address`, `port` when known). */
  SOCKET: 'ERR_PANDANET_SOCKET',
  /** Not an OS error: an unexpected exception inside pandanet (a bug), caught on an I/O thread. */
  INTERNAL: 'ERR_PANDANET_INTERNAL',
  /** An optional package a feature needs is not installed (e.g. the NATS client for the message-director mesh). */
  MISSING_DEPENDENCY: 'ERR_PANDANET_MISSING_DEPENDENCY',
} as const;

/** One of the values of {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Extra facts an error may carry; all optional. */
export interface ErrorDetails {
  /** Failing system call, for socket errors (`connect`, `listen`, ...). */
  syscall?: string;
  /** OS error name (`ECONNREFUSED`, ...). */
  errno?: string;
  /** Address involved, when there is one. */
  address?: string;
  /** Port involved, when there is one. */
  port?: number;
}

/**
 * Base class of every error pandanet throws. `code` is stable; `message` is for people.
 *
 * Thread: any.
 */
export class PandaNetError extends Error implements ErrorDetails {
  /** Permanent code, one of {@link ErrorCode}. */
  readonly code: ErrorCode;
  syscall?: string;
  errno?: string;
  address?: string;
  port?: number;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    if (details !== undefined) Object.assign(this, details);
  }
}

/** Reading past the end of a datagram. Thread: any. */
export class DatagramOverrunError extends PandaNetError {
  constructor(message: string) {
    super(ErrorCode.READ_OVERRUN, message);
  }
}

/** A value that does not fit the field it is written to, or a non-integer for an integer field. Thread: any. */
export class ValueRangeError extends PandaNetError {
  constructor(message: string) {
    super(ErrorCode.VALUE_OUT_OF_RANGE, message);
  }
}

/** A string or blob too long for its length prefix. Thread: any. */
export class TooLongError extends PandaNetError {
  constructor(message: string) {
    super(ErrorCode.TOO_LONG, message);
  }
}

/** Invalid UTF-8 where a string was expected. Thread: any. */
export class InvalidUtf8Error extends PandaNetError {
  constructor(message: string) {
    super(ErrorCode.INVALID_UTF8, message);
  }
}

/** Wrong argument type or impossible value. Thread: any. */
export class InvalidArgumentError extends PandaNetError {
  constructor(message: string, code: ErrorCode = ErrorCode.INVALID_ARGUMENT) {
    super(code, message);
  }
}

/** An optional package a feature needs is not installed; `message` names it. Thread: any. */
export class MissingDependencyError extends PandaNetError {
  constructor(message: string) {
    super(ErrorCode.MISSING_DEPENDENCY, message);
  }
}

/**
 * A TCP length header beyond the configured maximum datagram size: received (the reader resets the
 * connection) or about to be sent (`ConnectionWriter.send` refuses the datagram). Thread: any.
 */
export class FrameTooLargeError extends PandaNetError {
  /** Length the header announced (or would announce). */
  readonly announced: number;
  /** Configured maximum. */
  readonly maximum: number;
  constructor(announced: number, maximum: number, message = `TCP length header announces ${announced} bytes; the maximum datagram size is ${maximum}`) {
    super(ErrorCode.FRAME_TOO_LARGE, message);
    this.announced = announced;
    this.maximum = maximum;
  }
}

/** A UDP packet that fails Panda's header check. Thread: any. */
export class UdpPacketError extends PandaNetError {
  constructor(message: string) {
    super(ErrorCode.BAD_UDP_PACKET, message);
  }
}

/** A message-director datagram shorter than its header says, or a control message with missing arguments. Thread: any. */
export class MdDatagramError extends PandaNetError {
  constructor(message: string) {
    super(ErrorCode.BAD_MD_DATAGRAM, message);
  }
}

/** An OS socket error. Thread: any. */
export class SocketError extends PandaNetError {
  constructor(message: string, details: ErrorDetails) {
    super(ErrorCode.SOCKET, message, details);
  }
}

/**
 * An unexpected exception that is not an OS socket error (no `errno`, no `syscall`): a bug in
 * pandanet or in Node, caught on an I/O thread and reported instead of crashing it. Thread: any.
 */
export class InternalError extends PandaNetError {
  constructor(message: string) {
    super(ErrorCode.INTERNAL, message);
  }
}

/**
 * Plain form of an error, for crossing threads: safe for structured clone (postMessage) and JSON (the
 * call slot, the event ring). `name` is the class to rebuild; `announced` / `maximum` are
 * {@link FrameTooLargeError}'s.
 */
export interface ErrorRecord extends ErrorDetails {
  code: ErrorCode;
  message: string;
  /** Class name (`SocketError`, ...); without it the class that owns `code` is rebuilt. */
  name?: string;
  /** {@link FrameTooLargeError.announced}. */
  announced?: number;
  /** {@link FrameTooLargeError.maximum}. */
  maximum?: number;
}

/**
 * Turns any thrown value into an {@link ErrorRecord}: a {@link PandaNetError} keeps its class, code
 * and details; a Node error with a `syscall` (an OS error) becomes a {@link SocketError} record with
 * its `errno` name; anything else (a programming error) an {@link InternalError} record.
 * Thread: any (workers use it before posting).
 */
export function toErrorRecord(err: unknown): ErrorRecord {
  if (err instanceof PandaNetError) {
    const rec: ErrorRecord = { code: err.code, message: err.message, name: err.name };
    if (err.syscall !== undefined) rec.syscall = err.syscall;
    if (err.errno !== undefined) rec.errno = err.errno;
    if (err.address !== undefined) rec.address = err.address;
    if (err.port !== undefined) rec.port = err.port;
    if (err instanceof FrameTooLargeError) {
      rec.announced = err.announced;
      rec.maximum = err.maximum;
    }
    return rec;
  }
  const e = err as Partial<NodeJS.ErrnoException & { address: string; port: number }> | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (typeof e?.syscall !== 'string') {
    // No system call behind it: not a socket error. Keep Node's own code (ERR_...) in the message.
    const nodeCode = typeof e?.code === 'string' && !message.includes(e.code) ? ` (${e.code})` : '';
    return { code: ErrorCode.INTERNAL, message: message + nodeCode, name: 'InternalError' };
  }
  const rec: ErrorRecord = { code: ErrorCode.SOCKET, message, name: 'SocketError', syscall: e.syscall };
  if (typeof e.code === 'string') rec.errno = e.code;
  if (typeof e.address === 'string') rec.address = e.address;
  if (typeof e.port === 'number') rec.port = e.port;
  return rec;
}

/** The class that owns each code (codes not listed are plain {@link PandaNetError}s). */
const CLASS_OF_CODE: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.READ_OVERRUN]: 'DatagramOverrunError',
  [ErrorCode.VALUE_OUT_OF_RANGE]: 'ValueRangeError',
  [ErrorCode.TOO_LONG]: 'TooLongError',
  [ErrorCode.INVALID_UTF8]: 'InvalidUtf8Error',
  [ErrorCode.INVALID_ARGUMENT]: 'InvalidArgumentError',
  [ErrorCode.INVALID_HEADER_SIZE]: 'InvalidArgumentError',
  [ErrorCode.FRAME_TOO_LARGE]: 'FrameTooLargeError',
  [ErrorCode.BAD_UDP_PACKET]: 'UdpPacketError',
  [ErrorCode.BAD_MD_DATAGRAM]: 'MdDatagramError',
  [ErrorCode.SOCKET]: 'SocketError',
  [ErrorCode.INTERNAL]: 'InternalError',
};

/**
 * Rebuilds the typed error from an {@link ErrorRecord}: the class `name` says (or, without one, the
 * class that owns `code`), with the same name, code, message and details.
 * Thread: any (the main thread uses it).
 */
export function errorFromRecord(rec: ErrorRecord): PandaNetError {
  const { code, message, name, announced, maximum, ...details } = rec;
  let err: PandaNetError;
  switch (name ?? CLASS_OF_CODE[code]) {
    case 'DatagramOverrunError':
      err = new DatagramOverrunError(message);
      break;
    case 'ValueRangeError':
      err = new ValueRangeError(message);
      break;
    case 'TooLongError':
      err = new TooLongError(message);
      break;
    case 'InvalidUtf8Error':
      err = new InvalidUtf8Error(message);
      break;
    case 'InvalidArgumentError':
      err = new InvalidArgumentError(message, code);
      break;
    case 'FrameTooLargeError':
      err = new FrameTooLargeError(announced ?? Number.NaN, maximum ?? Number.NaN);
      err.message = message;
      break;
    case 'UdpPacketError':
      err = new UdpPacketError(message);
      break;
    case 'MdDatagramError':
      err = new MdDatagramError(message);
      break;
    case 'SocketError':
      err = new SocketError(message, details);
      break;
    case 'InternalError':
      err = new InternalError(message);
      break;
    default:
      return new PandaNetError(code, message, details);
  }
  // The class fixes the code; a record may carry another (InvalidArgumentError's, a newer worker's).
  if (err.code !== code) (err as { code: ErrorCode }).code = code;
  for (const [k, v] of Object.entries(details)) if (v !== undefined) Object.assign(err, { [k]: v });
  return err;
}
