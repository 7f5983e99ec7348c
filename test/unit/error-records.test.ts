/**
 * Errors cross threads as plain records (`toErrorRecord` on the worker, structured clone through
 * a reply message or JSON through the call slot and the event ring, `errorFromRecord` on the main thread).
 * Every class of src/errors.ts must come back as itself: class, name, code, message and details.
 */
import { describe, expect, it } from 'vitest';
import {
  DatagramOverrunError,
  ErrorCode,
  FrameTooLargeError,
  InternalError,
  InvalidArgumentError,
  InvalidUtf8Error,
  PandaNetError,
  SocketError,
  TooLongError,
  UdpPacketError,
  MdDatagramError,
  ValueRangeError,
  errorFromRecord,
  toErrorRecord,
  type ErrorRecord,
} from '../../src/errors.js';

/** One of each class a thread can produce, with the details that class carries. */
function samples(): PandaNetError[] {
  return [
    new PandaNetError(ErrorCode.SHUT_DOWN, 'writer was shut down'),
    new PandaNetError(ErrorCode.WORKER_DIED, 'I/O thread 1 is gone'),
    new DatagramOverrunError('read of 4 bytes at 2 runs past the end (3)'),
    new ValueRangeError('port must be an integer 0..65535, got 70000'),
    new TooLongError('string of 70000 bytes does not fit a 16-bit length'),
    new InvalidUtf8Error('bytes 3..5 are not UTF-8'),
    new InvalidArgumentError('wrong argument'),
    new InvalidArgumentError('header size 3', ErrorCode.INVALID_HEADER_SIZE),
    new FrameTooLargeError(1_000_000_000, 65_535),
    new UdpPacketError('checksum mismatch'),
    new MdDatagramError('recipient count 5 needs 40 bytes; 12 left'),
    new SocketError('connect ECONNREFUSED 127.0.0.1:9', { syscall: 'connect', errno: 'ECONNREFUSED', address: '127.0.0.1', port: 9 }),
    new InternalError('Cannot read properties of undefined'),
  ];
}

const transports: Array<[string, (r: ErrorRecord) => ErrorRecord]> = [
  ['structuredClone (reply message)', (r) => structuredClone(r)],
  ['JSON (call slot, event ring)', (r) => JSON.parse(JSON.stringify(r)) as ErrorRecord],
];

describe.each(transports)('error records through %s', (_name, carry) => {
  it.each(samples().map((e) => [e.name, e] as const))('%s comes back with its class, name, code, message and details', (_n, err) => {
    const back = errorFromRecord(carry(toErrorRecord(err)));
    expect(back.constructor).toBe(err.constructor);
    expect(back).toBeInstanceOf(PandaNetError);
    expect(back.name).toBe(err.name);
    expect(back.code).toBe(err.code);
    expect(back.message).toBe(err.message);
    for (const k of ['syscall', 'errno', 'address', 'port'] as const) expect(back[k], k).toBe(err[k]);
    if (err instanceof FrameTooLargeError) {
      const f = back as FrameTooLargeError;
      expect(f.announced).toBe(err.announced);
      expect(f.maximum).toBe(err.maximum);
    }
  });

  it('a Node socket error (errno, syscall) becomes a SocketError with its errno', () => {
    const node = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '127.0.0.1', port: 9 });
    const back = errorFromRecord(carry(toErrorRecord(node)));
    expect(back).toBeInstanceOf(SocketError);
    expect(back.code).toBe(ErrorCode.SOCKET);
    expect([back.errno, back.syscall, back.address, back.port]).toEqual(['ECONNREFUSED', 'connect', '127.0.0.1', 9]);
  });

  it('a programming error (no errno, no syscall) is an InternalError, not a socket error', () => {
    for (const thrown of [new TypeError('x is not a function'), new RangeError('Invalid array length'), 'a thrown string', Object.assign(new Error('bad port'), { code: 'ERR_SOCKET_BAD_PORT' })]) {
      const back = errorFromRecord(carry(toErrorRecord(thrown)));
      expect(back, String(thrown)).toBeInstanceOf(InternalError);
      expect(back.code).toBe(ErrorCode.INTERNAL);
      expect(back.code).toBe('ERR_PANDANET_INTERNAL');
      expect(back.errno).toBeUndefined();
      expect(back.message).toContain(thrown instanceof Error ? thrown.message : thrown);
    }
  });
});

describe('errorFromRecord without a class name (records from older workers, hand-made records)', () => {
  it('picks the class that owns the code', () => {
    expect(errorFromRecord({ code: ErrorCode.SOCKET, message: 'x', errno: 'EADDRINUSE' })).toBeInstanceOf(SocketError);
    expect(errorFromRecord({ code: ErrorCode.READ_OVERRUN, message: 'x' })).toBeInstanceOf(DatagramOverrunError);
    expect(errorFromRecord({ code: ErrorCode.INVALID_HEADER_SIZE, message: 'x' })).toBeInstanceOf(InvalidArgumentError);
    const f = errorFromRecord({ code: ErrorCode.FRAME_TOO_LARGE, message: 'x', announced: 5, maximum: 4 });
    expect(f).toBeInstanceOf(FrameTooLargeError);
    expect([(f as FrameTooLargeError).announced, (f as FrameTooLargeError).maximum, f.message]).toEqual([5, 4, 'x']);
    const base = errorFromRecord({ code: ErrorCode.WORKER_TIMEOUT, message: 'x' });
    expect(base.constructor).toBe(PandaNetError);
    expect(base.name).toBe('PandaNetError');
  });
});
