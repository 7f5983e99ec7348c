/**
 * TCP stream framing exactly as Panda3D's `ConnectionReader`/`ConnectionWriter` do it (spec §6.1, §6.4):
 * a little-endian length header of `tcp_header_size` bytes (2 or 4) followed by the payload, or, in raw
 * mode, no framing at all.
 *
 * Pure code: no sockets, no threads. The same functions run on the main thread and inside I/O workers.
 *
 * Divergences from Panda (spec §10):
 * - Q2: a decoder with header size 0 and raw mode off behaves as raw mode (Panda emits endless empty
 *   datagrams).
 * - Q3: header sizes other than 0, 2, 4 are rejected with {@link InvalidArgumentError}
 *   (code `INVALID_HEADER_SIZE`).
 * - A 4-byte header announcing 2^31 or more (Panda: "ignoring invalid TCP datagram", stream desynchronised)
 *   and any length above the configured maximum throw {@link FrameTooLargeError}; the decoder is then
 *   poisoned until {@link TcpFrameDecoder.reset}.
 *
 * Thread: any.
 * @module
 */

import { ErrorCode, FrameTooLargeError, InvalidArgumentError, TooLongError, ValueRangeError } from '../errors.js';

/** Legal TCP length-header sizes: 0 (no header), 2 (Panda's default) or 4. Thread: any. */
export type TcpHeaderSize = 0 | 2 | 4;

/**
 * Largest datagram a raw-mode TCP receive delivers: Panda reads at most 1502 bytes per `recv` and every
 * read becomes one datagram.
 *
 * Thread: any.
 */
export const MAX_RAW_CHUNK = 1502;

/**
 * Default upper bound (1 MiB) on the length a TCP header may announce before the decoder refuses it.
 * With header size 2 the effective maximum is 65,535 anyway.
 *
 * Thread: any.
 */
export const DEFAULT_MAX_DATAGRAM_SIZE = 1 << 20;

/**
 * Highest value {@link TcpFrameDecoder}'s `maxDatagramSize` accepts: 2^31 − 1. Panda's receiver keeps the
 * 4-byte length in a signed 32-bit integer, so a header of 2^31 or more is never a valid datagram.
 *
 * Thread: any.
 */
export const MAX_TCP_DATAGRAM_SIZE = 0x7fff_ffff;

/**
 * Checks a TCP header size.
 * @returns `n`, typed as {@link TcpHeaderSize}.
 * @throws InvalidArgumentError with code `INVALID_HEADER_SIZE` for anything but 0, 2 or 4 (spec Q3 fix).
 *
 * Thread: any.
 */
export function validateHeaderSize(n: number): TcpHeaderSize {
  if (n === 0 || n === 2 || n === 4) return n;
  throw new InvalidArgumentError(
    `invalid TCP header size ${String(n)}: it must be 0, 2 or 4`,
    ErrorCode.INVALID_HEADER_SIZE,
  );
}

/**
 * Largest payload a frame with this header size can carry: 65,535 for 2, 2^31 − 1 for 4 (what a Panda
 * receiver accepts), and `Infinity` for 0 (no header, no limit).
 *
 * Thread: any.
 */
export function maxFramePayload(headerSize: TcpHeaderSize): number {
  switch (validateHeaderSize(headerSize)) {
    case 2:
      return 0xffff;
    case 4:
      return MAX_TCP_DATAGRAM_SIZE;
    default:
      return Infinity;
  }
}

/**
 * Writes the little-endian length header of a frame into `out` at `offset`.
 *
 * @param payloadLength Payload length in bytes (a non-negative integer).
 * @param headerSize 0, 2 or 4.
 * @param out Destination buffer; it must have `headerSize` bytes free at `offset`.
 * @param offset Where to write.
 * @returns Bytes written: `headerSize` (0 for header size 0).
 * @throws TooLongError if the length does not fit the header: ≥ 65,536 for size 2 (Panda: "Attempt to send
 *   TCP datagram of N bytes--too long!", nothing written), ≥ 2^31 for size 4 (a Panda receiver rejects it).
 * @throws ValueRangeError if `payloadLength` is not a non-negative integer.
 * @throws InvalidArgumentError for a bad header size (code `INVALID_HEADER_SIZE`) or too little room in `out`.
 *
 * Thread: any.
 */
export function frameHeader(payloadLength: number, headerSize: TcpHeaderSize, out: Uint8Array, offset: number): number {
  const hs = validateHeaderSize(headerSize);
  if (!Number.isSafeInteger(payloadLength) || payloadLength < 0) {
    throw new ValueRangeError(`payload length ${String(payloadLength)} is not a non-negative integer`);
  }
  if (hs === 0) return 0;
  if (payloadLength > maxFramePayload(hs)) {
    throw new TooLongError(
      `Attempt to send TCP datagram of ${payloadLength} bytes--too long! (the maximum with a ${hs}-byte header is ${maxFramePayload(hs)})`,
    );
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + hs > out.length) {
    throw new InvalidArgumentError(`no room for a ${hs}-byte TCP header at offset ${String(offset)} of a ${out.length}-byte buffer`);
  }
  out[offset] = payloadLength & 0xff;
  out[offset + 1] = (payloadLength >>> 8) & 0xff;
  if (hs === 4) {
    out[offset + 2] = (payloadLength >>> 16) & 0xff;
    out[offset + 3] = (payloadLength >>> 24) & 0xff;
  }
  return hs;
}

/**
 * Builds the bytes one datagram puts on a TCP stream: length header + payload, or the payload alone in
 * raw mode or with header size 0. Always returns a new array (never `payload` itself).
 *
 * @throws TooLongError / InvalidArgumentError as {@link frameHeader} (nothing is built).
 *
 * Thread: any.
 */
export function encodeTcpFrame(payload: Uint8Array, headerSize: TcpHeaderSize, rawMode: boolean): Uint8Array {
  const valid = validateHeaderSize(headerSize); // nonsense sizes are rejected even in raw mode
  const hs = rawMode ? 0 : valid;
  const out = new Uint8Array(hs + payload.length);
  frameHeader(payload.length, hs, out, 0);
  out.set(payload, hs);
  return out;
}

/** Options of {@link TcpFrameDecoder}. Thread: any. */
export interface TcpFrameDecoderOptions {
  /** Length-header size, 0, 2 or 4. 0 without raw mode is treated as raw mode (spec Q2 fix). */
  headerSize: TcpHeaderSize;
  /** Raw mode: no framing; every received chunk becomes datagrams of at most {@link MAX_RAW_CHUNK} bytes. */
  rawMode: boolean;
  /**
   * Largest length a header may announce; more throws {@link FrameTooLargeError} before any allocation.
   * Integer 0 .. 2^31 − 1; default {@link DEFAULT_MAX_DATAGRAM_SIZE} (1 MiB).
   */
  maxDatagramSize?: number;
}

/**
 * Where a {@link TcpFrameDecoder} stands: at a frame boundary, inside a length header, inside a body, or
 * poisoned by an error. Thread: any.
 */
export type TcpFrameDecoderState = 'boundary' | 'header' | 'body' | 'failed';

/** First allocation for a frame that spans chunks; it grows by doubling up to the frame's length. */
const INITIAL_BODY = 4096;

/** Receives one complete datagram as a range of `buf` (valid only during the call). Thread: any. */
export type FrameRangeVisitor = (buf: Uint8Array, offset: number, length: number) => void;

/**
 * Incremental TCP stream → datagram splitter (the receive half of spec §6.1 / §6.4).
 *
 * Feed it the bytes of one connection in any split with {@link push} or {@link pushRange}; it calls
 * `onFrame` once per complete datagram, in stream order.
 *
 * Memory: a frame lying wholly inside one chunk is handed over as a `subarray` view of that chunk
 * (zero copy). Only a frame spread over several chunks is assembled, into a buffer that starts at 4 KiB
 * (or twice the body bytes at hand) and doubles as bytes arrive, never beyond the frame's length; it is
 * allocated only once the header is complete and checked against `maxDatagramSize` and body bytes have
 * arrived (so a hostile header costs at most 4 KiB or twice what was actually sent). Partial header
 * bytes live in a fixed 4-byte buffer.
 *
 * Errors: a header announcing more than `maxDatagramSize` (or ≥ 2^31) throws {@link FrameTooLargeError};
 * the decoder is then poisoned (`state === 'failed'`) and every further `push` throws a
 * `FrameTooLargeError` with the same figures until {@link reset}. The stream cannot be resynchronised;
 * close the connection.
 *
 * Thread: any (one instance per connection, used by one thread).
 */
export class TcpFrameDecoder {
  #headerSize: TcpHeaderSize;
  #rawMode: boolean;
  /** `#rawMode || #headerSize === 0`: what actually governs decoding. */
  #raw: boolean;
  /** Settings requested while inside a frame; applied at the next frame boundary. */
  #nextHeaderSize: TcpHeaderSize | null = null;
  #nextRawMode: boolean | null = null;
  readonly #max: number;

  readonly #hdr = new Uint8Array(4);
  #hdrLen = 0;
  /** Length of the frame being received, once its header is complete; -1 otherwise. */
  #frameLen = -1;
  /** Assembly buffer of a frame spanning chunks (4 KiB at first, doubling up to `#frameLen` bytes), or null. */
  #body: Uint8Array | null = null;
  #bodyFilled = 0;
  #failure: FrameTooLargeError | null = null;

  /**
   * @throws InvalidArgumentError (code `INVALID_HEADER_SIZE`) for a header size other than 0, 2, 4.
   * @throws ValueRangeError if `maxDatagramSize` is not an integer in 0 .. 2^31 − 1.
   */
  constructor(opts: TcpFrameDecoderOptions) {
    this.#headerSize = validateHeaderSize(opts.headerSize);
    this.#rawMode = opts.rawMode === true;
    this.#raw = this.#rawMode || this.#headerSize === 0;
    const max = opts.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM_SIZE;
    if (!Number.isInteger(max) || max < 0 || max > MAX_TCP_DATAGRAM_SIZE) {
      throw new ValueRangeError(`maxDatagramSize ${String(max)} must be an integer in 0..${MAX_TCP_DATAGRAM_SIZE}`);
    }
    this.#max = max;
  }

  /** Header size in force for the current frame (a pending {@link setHeaderSize} shows once applied). */
  get headerSize(): TcpHeaderSize {
    return this.#headerSize;
  }

  /** Raw-mode flag in force for the current frame (a pending {@link setRawMode} shows once applied). */
  get rawMode(): boolean {
    return this.#rawMode;
  }

  /** The configured maximum datagram length. */
  get maxDatagramSize(): number {
    return this.#max;
  }

  /** Where the decoder stands; `'failed'` after it threw. */
  get state(): TcpFrameDecoderState {
    if (this.#failure !== null) return 'failed';
    if (this.#frameLen >= 0) return 'body';
    return this.#hdrLen > 0 ? 'header' : 'boundary';
  }

  /**
   * Bytes of the current, incomplete frame received so far and held by the decoder (partial header bytes,
   * plus the header and body bytes once the header is complete). 0 at a frame boundary and after failure.
   */
  get bufferedBytes(): number {
    if (this.#frameLen >= 0) return this.#headerSize + this.#bodyFilled;
    return this.#hdrLen;
  }

  /** Announced length of the frame being received once its header is complete; -1 otherwise. */
  get pendingFrameLength(): number {
    return this.#frameLen;
  }

  /**
   * Changes the header size. Applied at once at a frame boundary, otherwise when the current frame
   * completes (bytes already received keep the old framing).
   * @throws InvalidArgumentError (code `INVALID_HEADER_SIZE`) for anything but 0, 2, 4 — at call time.
   */
  setHeaderSize(headerSize: TcpHeaderSize): void {
    const hs = validateHeaderSize(headerSize);
    if (this.#atBoundary()) {
      this.#headerSize = hs;
      this.#nextHeaderSize = null;
      this.#raw = this.#rawMode || hs === 0;
    } else {
      this.#nextHeaderSize = hs;
    }
  }

  /** Turns raw mode on or off; applied like {@link setHeaderSize}. */
  setRawMode(rawMode: boolean): void {
    if (this.#atBoundary()) {
      this.#rawMode = rawMode;
      this.#nextRawMode = null;
      this.#raw = rawMode || this.#headerSize === 0;
    } else {
      this.#nextRawMode = rawMode;
    }
  }

  /**
   * Drops any partial frame and the failed state, and applies pending settings. The next byte pushed is
   * read as the start of a frame.
   */
  reset(): void {
    this.#failure = null;
    this.#endFrame();
  }

  /**
   * Consumes `chunk` and calls `onFrame` for every datagram it completes, in order.
   *
   * `onFrame` receives a view that is valid **only during the call**: it may alias `chunk` (zero copy), so
   * copy whatever must outlive it (`payload.slice()`), and never write to it. The decoder has already moved
   * past that frame when `onFrame` runs; if `onFrame` throws, the exception propagates and the rest of
   * `chunk` is not consumed (the stream is then desynchronised: {@link reset} or close the connection).
   *
   * Raw mode (or header size 0): `chunk` is delivered as consecutive datagrams of at most
   * {@link MAX_RAW_CHUNK} bytes; an empty chunk delivers nothing.
   *
   * @throws FrameTooLargeError when a header announces more than `maxDatagramSize` (or ≥ 2^31), before
   *   allocating anything; frames completed earlier in the same chunk have been delivered. Also thrown by
   *   every call once the decoder has failed.
   */
  push(chunk: Uint8Array, onFrame: (payload: Uint8Array) => void): void {
    this.pushRange(chunk, (buf, offset, length) => onFrame(buf.subarray(offset, offset + length)));
  }

  /**
   * {@link push} without making a view per datagram: `onFrame(buf, offset, length)` names the bytes
   * (valid only during the call). The I/O threads use this form on their hot path.
   */
  pushRange(chunk: Uint8Array, onFrame: FrameRangeVisitor): void {
    if (this.#failure !== null) {
      throw new FrameTooLargeError(this.#failure.announced, this.#failure.maximum);
    }
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      if (this.#raw) {
        while (pos < end) {
          const stop = Math.min(pos + MAX_RAW_CHUNK, end);
          const from = pos;
          pos = stop;
          onFrame(chunk, from, stop - from);
          // A pending setting cannot exist in raw mode (every byte is a boundary), so nothing to apply.
          if (!this.#raw) break;
        }
        continue;
      }

      if (this.#frameLen < 0) {
        // Reading a length header.
        const hs = this.#headerSize;
        let len: number;
        if (this.#hdrLen === 0 && end - pos >= hs) {
          len = hs === 2 ? chunk[pos]! | (chunk[pos + 1]! << 8) : readLe32(chunk, pos);
          pos += hs;
        } else {
          const hdr = this.#hdr;
          while (this.#hdrLen < hs && pos < end) hdr[this.#hdrLen++] = chunk[pos++]!;
          if (this.#hdrLen < hs) return;
          len = hs === 2 ? hdr[0]! | (hdr[1]! << 8) : readLe32(hdr, 0);
          this.#hdrLen = 0;
        }
        if (len > this.#max) this.#fail(len);
        this.#frameLen = len;
      }

      // Reading a body of #frameLen bytes (possibly 0).
      const frameLen = this.#frameLen;
      let body = this.#body;
      if (body === null) {
        if (end - pos >= frameLen) {
          const from = pos;
          pos += frameLen;
          this.#endFrame();
          onFrame(chunk, from, frameLen);
          continue;
        }
        if (pos === end) return; // Header ended the chunk: allocate only when body bytes arrive.
        // Start small and grow with what actually arrives: a peer that announces 1 MiB and sends
        // 5 bytes costs 4 KiB, not 1 MiB (never more than the frame itself).
        body = this.#body = new Uint8Array(Math.min(frameLen, Math.max(INITIAL_BODY, 2 * (end - pos))));
      }
      const take = Math.min(frameLen - this.#bodyFilled, end - pos);
      if (this.#bodyFilled + take > body.length) {
        let cap = body.length * 2;
        while (cap < this.#bodyFilled + take) cap *= 2;
        const grown = new Uint8Array(Math.min(frameLen, cap));
        grown.set(body.subarray(0, this.#bodyFilled));
        body = this.#body = grown;
      }
      body.set(chunk.subarray(pos, pos + take), this.#bodyFilled);
      this.#bodyFilled += take;
      pos += take;
      if (this.#bodyFilled < frameLen) return;
      this.#endFrame();
      onFrame(body, 0, frameLen);
    }
  }

  #atBoundary(): boolean {
    return this.#frameLen < 0 && this.#hdrLen === 0;
  }

  /** Forgets the current frame and applies settings requested while it was in progress. */
  #endFrame(): void {
    this.#frameLen = -1;
    this.#hdrLen = 0;
    this.#body = null;
    this.#bodyFilled = 0;
    if (this.#nextHeaderSize !== null) {
      this.#headerSize = this.#nextHeaderSize;
      this.#nextHeaderSize = null;
    }
    if (this.#nextRawMode !== null) {
      this.#rawMode = this.#nextRawMode;
      this.#nextRawMode = null;
    }
    this.#raw = this.#rawMode || this.#headerSize === 0;
  }

  #fail(announced: number): never {
    this.#endFrame();
    const err = new FrameTooLargeError(announced, this.#max);
    this.#failure = err;
    throw err;
  }
}

function readLe32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}
