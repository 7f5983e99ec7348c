/**
 * Sub-atomic type codes of Panda3D's `DCSubatomicType` enum (spec §8.1), used by
 * `PyDatagram.putArg` / `PyDatagramIterator.getArg`, and `CONTROL_CHANNEL` from
 * `direct.distributed.MsgTypes`.
 *
 * Thread: any.
 * @module
 */

/**
 * The `DCSubatomicType` values, by Panda name. Thread: any.
 */
export const SubatomicType = {
  STInt8: 0,
  STInt16: 1,
  STInt32: 2,
  STInt64: 3,
  STUint8: 4,
  STUint16: 5,
  STUint32: 6,
  STUint64: 7,
  STFloat64: 8,
  STString: 9,
  STBlob: 10,
  STBlob32: 11,
  STInt16array: 12,
  STInt32array: 13,
  STUint16array: 14,
  STUint32array: 15,
  STInt8array: 16,
  STUint8array: 17,
  STUint32uint8array: 18,
  /** Not handled by putArg/getArg (they throw `NO_SUCH_TYPE`). */
  STChar: 19,
  /** Not handled by putArg/getArg (they throw `NO_SUCH_TYPE`). */
  STInvalid: 20,
} as const;

/** One of the values of {@link SubatomicType}. Thread: any. */
export type SubatomicType = (typeof SubatomicType)[keyof typeof SubatomicType];

/** `STInt8` = 0. Thread: any. */
export const STInt8 = SubatomicType.STInt8;
/** `STInt16` = 1. Thread: any. */
export const STInt16 = SubatomicType.STInt16;
/** `STInt32` = 2. Thread: any. */
export const STInt32 = SubatomicType.STInt32;
/** `STInt64` = 3. Thread: any. */
export const STInt64 = SubatomicType.STInt64;
/** `STUint8` = 4. Thread: any. */
export const STUint8 = SubatomicType.STUint8;
/** `STUint16` = 5. Thread: any. */
export const STUint16 = SubatomicType.STUint16;
/** `STUint32` = 6. Thread: any. */
export const STUint32 = SubatomicType.STUint32;
/** `STUint64` = 7. Thread: any. */
export const STUint64 = SubatomicType.STUint64;
/** `STFloat64` = 8. Thread: any. */
export const STFloat64 = SubatomicType.STFloat64;
/** `STString` = 9. Thread: any. */
export const STString = SubatomicType.STString;
/** `STBlob` = 10. Thread: any. */
export const STBlob = SubatomicType.STBlob;
/** `STBlob32` = 11. Thread: any. */
export const STBlob32 = SubatomicType.STBlob32;
/** `STInt16array` = 12. Thread: any. */
export const STInt16array = SubatomicType.STInt16array;
/** `STInt32array` = 13. Thread: any. */
export const STInt32array = SubatomicType.STInt32array;
/** `STUint16array` = 14. Thread: any. */
export const STUint16array = SubatomicType.STUint16array;
/** `STUint32array` = 15. Thread: any. */
export const STUint32array = SubatomicType.STUint32array;
/** `STInt8array` = 16. Thread: any. */
export const STInt8array = SubatomicType.STInt8array;
/** `STUint8array` = 17. Thread: any. */
export const STUint8array = SubatomicType.STUint8array;
/** `STUint32uint8array` = 18. Thread: any. */
export const STUint32uint8array = SubatomicType.STUint32uint8array;
/** `STChar` = 19 (not handled by putArg/getArg). Thread: any. */
export const STChar = SubatomicType.STChar;
/** `STInvalid` = 20. Thread: any. */
export const STInvalid = SubatomicType.STInvalid;

/** The control channel of Panda's message directors (`MsgTypes.CONTROL_CHANNEL`). Thread: any. */
export const CONTROL_CHANNEL = 1;
