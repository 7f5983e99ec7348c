/**
 * Datagram encoding: Panda3D's `Datagram` / `DatagramIterator` and the `direct.distributed`
 * `PyDatagram` / `PyDatagramIterator` helpers. Pure code (no sockets, no threads).
 *
 * Thread: any.
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
