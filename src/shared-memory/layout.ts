/**
 * Shared-memory layout of an {@link import('./spsc-ring.js').SpscRing}: every index into the ring's
 * Int32 header, and every offset inside a record, is a named constant here and nowhere else.
 *
 * One SharedArrayBuffer holds a header followed by the data region:
 *
 * ```text
 *  SharedArrayBuffer  (HEADER_BYTES + capacity bytes)
 *  +------------------------------- header: 10 lines x 64 bytes = 640 bytes ---------------------+
 *  | byte    Int32 index                 written by      read by                                 |
 *  |   0     [0]   MAGIC                 allocate()      constructor (sanity check)               |
 *  |   4     [1]   LAYOUT_VERSION        allocate()      constructor                              |
 *  |   8     [2]   CAPACITY              allocate()      constructor     (data bytes, power of 2) |
 *  |  12..63       reserved (0)                                                                   |
 *  |  64     [16]  HEAD                  producer        consumer        u32 byte position         |
 *  | 128     [32]  WRITTEN               producer        anyone          u32 record counter        |
 *  | 192     [48]  TAIL                  consumer        producer        u32 byte position         |
 *  | 256     [64]  READ                  consumer        anyone          u32 record counter        |
 *  | 320     [80]  CONSUMER_SLEEPING     consumer sets,  producer clears 0 = awake, 1 = about to wait |
 *  | 384     [96]  PRODUCER_WAITING      producer sets,  consumer clears 0 = not waiting, else the   |
 *  |                                                                     record bytes it waits for |
 *  | 448     [112] DATA_SEQ              producer        consumer waits  bumped before each wake    |
 *  | 512     [128] SPACE_SEQ             consumer        producer waits  bumped before each wake    |
 *  | 576..639      guard line (unused: keeps the data region off the last field's cache line)     |
 *  +---------------------------------------------------------------------------------------------+
 *  | data region: `capacity` bytes, starts at HEADER_BYTES; position p lives at p & (capacity-1)   |
 *  +---------------------------------------------------------------------------------------------+
 * ```
 *
 * Each mutable word sits alone on its own 64-byte cache line (16 Int32 slots apart), so the producer's
 * stores to HEAD never invalidate the line the consumer stores TAIL into, and vice versa. Because the
 * words are 64 bytes apart and 4 bytes wide, they land on distinct hardware lines whatever the
 * alignment of the SharedArrayBuffer itself.
 *
 * HEAD and TAIL are monotonically increasing u32 byte positions that wrap at 2^32 (capacity divides
 * 2^32, so `position & (capacity - 1)` stays consistent across the wrap). Bytes in use are
 * `(HEAD - TAIL) >>> 0`; the ring is empty when HEAD === TAIL. WRITTEN and READ are u32 record
 * counters that wrap the same way.
 *
 * A record in the data region (every record starts at a multiple of RECORD_ALIGN = 4 bytes):
 *
 * ```text
 *  offset  0          4          8          12                          12+len    12+align4(len)
 *          +----------+----------+----------+---------------------------+--------+
 *          | length   | id       | meta     | payload (len bytes)       | pad    |
 *          | u32      | u32      | u32      |                           | 0..3   |
 *          +----------+----------+----------+---------------------------+--------+
 *          REC_LENGTH  REC_ID     REC_META   <- Int32/Uint32 word offsets within the record
 *
 *  wrap marker: a record that does not fit between its position and the end of the data region is
 *  written at offset 0 instead, and a single u32 PAD_MARKER (0xFFFFFFFF) is left where it would have
 *  started. The consumer, reading PAD_MARKER as the length, skips to the next multiple of capacity.
 *  The marker needs only 4 bytes, and at least 4 bytes always remain before the end (positions are
 *  4-aligned), so it always fits. The marker and the record after it are published by one HEAD store.
 *
 *          ... | rec | rec | PAD_MARKER  (rest of region unused) |   <- end of data region
 *          | next record starts at offset 0 ...
 * ```
 *
 * Thread: any (constants only).
 * @module
 */

/** Bytes per cache line; one mutable header word per line. */
export const CACHE_LINE_BYTES = 64;
/** Int32 slots per cache line. */
export const INT32_PER_LINE = CACHE_LINE_BYTES / 4;

// ---- header, line 0: written once by allocate(), read-only afterwards ----
/** Int32 index: magic number identifying a ring SAB ({@link RING_MAGIC}). */
export const MAGIC = 0;
/** Int32 index: layout version ({@link RING_LAYOUT_VERSION}). */
export const LAYOUT_VERSION = 1;
/** Int32 index: capacity of the data region in bytes. */
export const CAPACITY = 2;

// ---- header, one mutable word per cache line ----
/** Int32 index: producer's u32 byte position (next byte it will write). Published with Atomics.store after the payload. */
export const HEAD = 1 * INT32_PER_LINE;
/** Int32 index: u32 count of records written since allocate (wrapping). Stored after HEAD. */
export const WRITTEN = 2 * INT32_PER_LINE;
/** Int32 index: consumer's u32 byte position (next byte it will read). Stored with Atomics.store after a record is consumed. */
export const TAIL = 3 * INT32_PER_LINE;
/** Int32 index: u32 count of records consumed since allocate (wrapping). Stored after TAIL. */
export const READ = 4 * INT32_PER_LINE;
/** Int32 index: 1 while the consumer is (about to be) waiting for data; the producer notifies only then. */
export const CONSUMER_SLEEPING = 5 * INT32_PER_LINE;
/** Int32 index: 0, or the record bytes (12 + align4(payload)) the producer is waiting to fit; the consumer notifies only then. */
export const PRODUCER_WAITING = 6 * INT32_PER_LINE;
/** Int32 index: sequence word the consumer waits on; the producer bumps it, then notifies. */
export const DATA_SEQ = 7 * INT32_PER_LINE;
/** Int32 index: sequence word the producer waits on; the consumer bumps it, then notifies. */
export const SPACE_SEQ = 8 * INT32_PER_LINE;

/** Header lines: line 0 (config), 8 mutable words, 1 guard line. */
export const HEADER_LINES = 10;
/** Header size in bytes; the data region starts here. */
export const HEADER_BYTES = HEADER_LINES * CACHE_LINE_BYTES;
/** Header size in Int32 slots. */
export const HEADER_INT32 = HEADER_BYTES / 4;

/** Value of the MAGIC word ('PNRG'). */
export const RING_MAGIC = 0x50_4e_52_47;
/** Value of the LAYOUT_VERSION word; bump when this file changes incompatibly. */
export const RING_LAYOUT_VERSION = 1;

// ---- data region ----
/** Smallest capacity accepted (bytes of data region). */
export const MIN_CAPACITY = 4 * 1024;
/** Largest capacity accepted (bytes of data region). Must divide 2^32. */
export const MAX_CAPACITY = 1024 * 1024 * 1024;

// ---- record ----
/** Bytes of a record header: [u32 length][u32 id][u32 meta]. */
export const RECORD_HEADER_BYTES = 12;
/** Records start at, and are padded to, multiples of this many bytes. */
export const RECORD_ALIGN = 4;
/** Word offset of the payload length within a record. */
export const REC_LENGTH = 0;
/** Word offset of the id within a record. */
export const REC_ID = 1;
/** Word offset of the meta word within a record. */
export const REC_META = 2;
/** Length word value marking "nothing more before the end of the data region; continue at offset 0". */
export const PAD_MARKER = 0xff_ff_ff_ff;
