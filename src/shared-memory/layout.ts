/**
 * Shared-memory layout of an {@link import('./spsc-ring.js').SpscRing}: every index into the ring's
 * Int32 header, and every offset inside a record, is a named constant here and nowhere else.
 *
 * One SharedArrayBuffer holds a header followed by the data region:
 *
 * ```text
 *  SharedArrayBuffer  (HEADER_BYTES + capacity bytes)
 *  +------------------------------ header: 8 lines x 64 bytes = 512 bytes -----------------------+
 *  | byte    Int32 index             written by          read by          meaning               |
 *  |   0     [0]   MAGIC             allocate()          constructor      'PNRG'                |
 *  |   4     [1]   LAYOUT_VERSION    allocate()          constructor                            |
 *  |   8     [2]   CAPACITY          allocate()          constructor      data bytes, 2^n       |
 *  |  12..63       reserved (0)                                                                 |
 *  |  64     [16]  HEAD              producer: exchange  consumer         bits 0..30: position  |
 *  |                                 consumer: CAS bit31                  bit 31: SLEEPING_BIT  |
 *  | 128     [32]  WRITTEN           producer (plain,    anyone           u32 record counter    |
 *  |                                  before HEAD)                                              |
 *  | 192     [48]  TAIL              consumer: store     producer         bits 0..30: position  |
 *  | 256     [64]  READ              consumer (plain,    anyone           u32 record counter    |
 *  |                                  before TAIL)                                              |
 *  | 320     [80]  PRODUCER_WAITING  producer sets,      consumer         0, or the record      |
 *  |                                 consumer clears                      bytes it waits for    |
 *  | 384     [96]  SPACE_SEQ         consumer (add)      producer waits   bumped before notify  |
 *  | 448..511      guard line (keeps the data region off the last word's cache line)            |
 *  +--------------------------------------------------------------------------------------------+
 *  | data region: `capacity` bytes from HEADER_BYTES; position p lives at p & (capacity - 1)    |
 *  +--------------------------------------------------------------------------------------------+
 * ```
 *
 * Each mutable word sits alone on its own 64-byte cache line (16 Int32 slots apart), so the
 * producer's writes never invalidate the line the consumer stores TAIL into, and vice versa. The
 * words are 64 bytes apart and 4 bytes wide, so they land on distinct hardware lines whatever the
 * alignment of the SharedArrayBuffer itself.
 *
 * Positions. HEAD and TAIL hold monotonically increasing byte positions modulo 2^31
 * ({@link POSITION_MASK}); capacity (at most 2^30) divides 2^31, so `position & (capacity - 1)`
 * stays consistent across the wrap. Bytes in use are `(head - tail) & POSITION_MASK`; the ring is
 * empty when the positions are equal. WRITTEN and READ are u32 record counters (wrap at 2^32).
 *
 * The consumer's "I am going to sleep" flag is bit 31 of the HEAD word ({@link SLEEPING_BIT}), and
 * the consumer waits on the HEAD word itself. That lets the producer publish a record and learn
 * whether the consumer sleeps with one atomic read-modify-write (`Atomics.exchange` of the new
 * position, which also clears the bit), instead of a store plus a load: on Node 20 each Atomics call
 * costs ~30 ns, a third of a 64-byte write. The consumer sets the bit with `compareExchange` from
 * the exact empty value it saw, so the flag and the emptiness re-check are a single atomic step.
 * Both sides' RMWs on one word are totally ordered: if the consumer's CAS comes first the producer's
 * exchange returns the bit and notifies; if the exchange comes first the CAS fails and the consumer
 * sees data. The producer has no such bit: it waits rarely (only when full) and needs a threshold,
 * so it keeps PRODUCER_WAITING and SPACE_SEQ.
 *
 * A record in the data region (every record starts at a multiple of RECORD_ALIGN = 4 bytes):
 *
 * ```text
 *  offset  0          4          8          12                          12+len    12+align4(len)
 *          +----------+----------+----------+---------------------------+--------+
 *          | length   | id       | meta     | payload (len bytes)       | pad    |
 *          | u32      | u32      | u32      |                           | 0..3   |
 *          +----------+----------+----------+---------------------------+--------+
 *          REC_LENGTH  REC_ID     REC_META   <- Uint32 word offsets within the record
 *
 *  open record (`SpscRing.tryOpen`): a record the producer reserves and fills (and may grow) in
 *  place before one HEAD update publishes it, like any record; the ring never looks inside a payload.
 *  (The outbound ring's TCP batch records are built this way: protocol/control.ts, `OutOp`.)
 *
 *  wrap marker: a record that does not fit between its position and the end of the data region is
 *  written at offset 0 instead, and a single u32 PAD_MARKER (0xFFFFFFFF) is left where it would have
 *  started. The consumer, reading PAD_MARKER as the length, skips to the next multiple of capacity.
 *  The marker needs only 4 bytes, and at least 4 bytes always remain before the end (positions are
 *  4-aligned), so it always fits. The marker and the record after it are published by one HEAD
 *  update. A record of maxPayload = capacity/2 - 12 bytes always fits an empty ring: if it does not
 *  fit before the end, the end is less than capacity/2 away, so pad + record <= capacity.
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
/**
 * Int32 index: producer's byte position (bits 0..30, next byte it will write) and the consumer's
 * {@link SLEEPING_BIT}. The producer publishes with `Atomics.exchange` after writing the record; the
 * consumer sets the bit with `Atomics.compareExchange` and waits on this word.
 */
export const HEAD = 1 * INT32_PER_LINE;
/** Int32 index: u32 count of records written since allocate (wrapping). Plain store just before the HEAD update. */
export const WRITTEN = 2 * INT32_PER_LINE;
/** Int32 index: consumer's byte position (bits 0..30, next byte it will read). `Atomics.store` after records are consumed. */
export const TAIL = 3 * INT32_PER_LINE;
/** Int32 index: u32 count of records consumed since allocate (wrapping). Plain store just before the TAIL store. */
export const READ = 4 * INT32_PER_LINE;
/** Int32 index: 0, or the record bytes (12 + align4(payload)) the producer waits to fit; the consumer notifies only then. */
export const PRODUCER_WAITING = 5 * INT32_PER_LINE;
/** Int32 index: sequence word the producer waits on; the consumer bumps it, then notifies. */
export const SPACE_SEQ = 6 * INT32_PER_LINE;

/** Header lines: line 0 (config), 6 mutable words, 1 guard line. */
export const HEADER_LINES = 8;
/** Header size in bytes; the data region starts here. */
export const HEADER_BYTES = HEADER_LINES * CACHE_LINE_BYTES;
/** Header size in Int32 slots. */
export const HEADER_INT32 = HEADER_BYTES / 4;

/** Bit 31 of the HEAD word: set by the consumer (compareExchange) when it is about to wait for data. */
export const SLEEPING_BIT = 0x8000_0000;
/** Positions in HEAD and TAIL are modulo 2^31: `word & POSITION_MASK`. */
export const POSITION_MASK = 0x7fff_ffff;

/** Value of the MAGIC word ('PNRG'). */
export const RING_MAGIC = 0x50_4e_52_47;
/** Value of the LAYOUT_VERSION word; bump when this file changes incompatibly. */
export const RING_LAYOUT_VERSION = 1;

// ---- data region ----
/** Smallest capacity accepted (bytes of data region). */
export const MIN_CAPACITY = 4 * 1024;
/** Largest capacity accepted (bytes of data region). Must divide 2^31 (the position modulus). */
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
