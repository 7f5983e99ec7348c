/**
 * Datagram encoding: Panda3D's `Datagram` / `DatagramIterator` and the `direct.distributed`
 * `PyDatagram` / `PyDatagramIterator` helpers, and the errors they throw. Pure code (no sockets, no
 * threads).
 *
 * Also the package entry point `pandanet/datagram` (for browsers and bundlers): its import graph has
 * no Node built-in and no use of `Buffer` or `process` (`test/unit/browser-import-graph.test.ts`
 * checks the built files).
 *
 * Thread: any (any Node or browser thread).
 * @module
 */

export { Datagram } from './datagram.js';
export { DatagramIterator } from './datagram-iterator.js';
export { PyDatagram, pythonRound, type PutArgValue, type Uint32Uint8Pair } from './py-datagram.js';
export { PyDatagramIterator, type GetArgValue } from './py-datagram-iterator.js';
export {
  CONTROL_CHANNEL,
  STBlob,
  STBlob32,
  STChar,
  STFloat64,
  STInt16,
  STInt16array,
  STInt32,
  STInt32array,
  STInt64,
  STInt8,
  STInt8array,
  STInvalid,
  STString,
  STUint16,
  STUint16array,
  STUint32,
  STUint32array,
  STUint32uint8array,
  STUint64,
  STUint8,
  STUint8array,
  SubatomicType,
} from './subatomic-type.js';
export {
  ErrorCode,
  PandaNetError,
  DatagramOverrunError,
  ValueRangeError,
  TooLongError,
  InvalidUtf8Error,
  InvalidArgumentError,
  type ErrorDetails,
} from '../errors.js';
