import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, FrameTooLargeError, InvalidArgumentError, TooLongError, ValueRangeError } from '../../src/errors.js';
import {
  DEFAULT_MAX_DATAGRAM_SIZE,
  MAX_RAW_CHUNK,
  MAX_TCP_DATAGRAM_SIZE,
  TcpFrameDecoder,
  type TcpHeaderSize,
  encodeTcpFrame,
  frameHeader,
  maxFramePayload,
  validateHeaderSize,
} from '../../src/protocol/tcp-framing.js';

const VECTORS = new URL('../../../shared/vectors/', import.meta.url);

interface TcpVector {
  name: string;
  tcp_header_size: number;
  datagram_file?: string;
  datagram_length?: number;
  wire_file: string;
  wire_length: number;
  send_returned?: boolean;
  wire_hex?: string;
  wire_prefix_hex?: string;
  panda_raw_reader_chunks?: number;
  panda_reader_reparses_to_same_datagram?: boolean | null;
  panda_reader_reparses_to_same_datagrams?: boolean;
}

const manifest = JSON.parse(readFileSync(new URL('manifest.json', VECTORS), 'utf8')) as { tcp_frames: TcpVector[] };
const tcpVectors = manifest.tcp_frames;

function load(file: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(file, VECTORS)));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function bytes(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
}

function vectorKind(v: TcpVector): 'datagram' | 'stream' {
  if (typeof v.datagram_file === 'string') return 'datagram';
  if (v.name.startsWith('stream_') && v.panda_reader_reparses_to_same_datagrams !== undefined) return 'stream';
  throw new Error(`unknown tcp_frames vector kind: ${JSON.stringify(v)}`);
}

/** Decodes `wire` pushed in chunks of the given sizes (cycled); returns copies of the frames. */
function decodeAll(
  wire: Uint8Array,
  opts: { headerSize: TcpHeaderSize; rawMode: boolean; maxDatagramSize?: number },
  chunkSizes: number[] = [wire.length || 1],
): Uint8Array[] {
  const d = new TcpFrameDecoder(opts);
  const out: Uint8Array[] = [];
  let pos = 0;
  let k = 0;
  while (pos < wire.length) {
    const n = Math.max(1, chunkSizes[k++ % chunkSizes.length]!);
    d.push(wire.subarray(pos, pos + n), (p) => out.push(p.slice()));
    pos += n;
  }
  expect(d.bufferedBytes).toBe(0);
  expect(d.pendingFrameLength).toBe(-1);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 7) & 0xff;
  return b;
}

describe('tcp_frames vectors (manifest.json)', () => {
  it('manifest has tcp vectors of known kinds for header sizes 0, 2 and 4', () => {
    expect(tcpVectors.length).toBeGreaterThan(0);
    const sizes = new Set(tcpVectors.map((v) => v.tcp_header_size));
    expect([...sizes].sort()).toEqual([0, 2, 4]);
    for (const v of tcpVectors) vectorKind(v);
  });

  for (const v of tcpVectors) {
    const hs = validateHeaderSize(v.tcp_header_size);
    const kind = vectorKind(v);
    const title = `h${hs} ${v.name}`;

    if (kind === 'stream') {
      it(`${title}: stream of several datagrams frames and splits exactly`, () => {
        const wire = load(v.wire_file);
        expect(wire.length).toBe(v.wire_length);
        if (v.wire_hex !== undefined) expect(hex(wire)).toBe(v.wire_hex);
        const names = v.name.slice('stream_'.length).split('+');
        const datagrams = names.map((n) => {
          const src = tcpVectors.find((x) => x.name === n && typeof x.datagram_file === 'string');
          if (src === undefined) throw new Error(`stream vector ${v.name} names unknown datagram ${n}`);
          return load(src.datagram_file!);
        });
        expect(hex(concat(datagrams.map((d) => encodeTcpFrame(d, hs, false))))).toBe(hex(wire));
        expect(v.panda_reader_reparses_to_same_datagrams).toBe(true);
        for (const split of [[wire.length], [1], [3], [5, 1, 64]]) {
          expect(decodeAll(wire, { headerSize: hs, rawMode: false }, split).map(hex)).toEqual(datagrams.map(hex));
        }
      });
      continue;
    }

    const dg = load(v.datagram_file!);
    if (v.send_returned === false) {
      it(`${title}: Panda refused to send; we throw TooLongError and write nothing`, () => {
        expect(dg.length).toBe(v.datagram_length);
        expect(v.wire_length).toBe(0);
        expect(load(v.wire_file).length).toBe(0);
        expect(() => encodeTcpFrame(dg, hs, false)).toThrow(TooLongError);
        const out = new Uint8Array(8).fill(0xaa);
        expect(() => frameHeader(dg.length, hs, out, 0)).toThrow(TooLongError);
        expect(out.every((b) => b === 0xaa)).toBe(true);
      });
      continue;
    }
    if (v.send_returned !== true) throw new Error(`vector ${title}: unexpected send_returned ${String(v.send_returned)}`);

    it(`${title}: frames exactly to the wire bytes and decodes back`, () => {
      expect(dg.length).toBe(v.datagram_length);
      const wire = load(v.wire_file);
      expect(wire.length).toBe(v.wire_length);
      if (v.wire_hex !== undefined) expect(hex(wire)).toBe(v.wire_hex);
      if (v.wire_prefix_hex !== undefined) expect(hex(wire.subarray(0, v.wire_prefix_hex.length / 2))).toBe(v.wire_prefix_hex);

      const framed = encodeTcpFrame(dg, hs, false);
      expect(framed.length).toBe(wire.length);
      expect(Buffer.compare(framed, wire)).toBe(0);
      // Raw mode writes the payload alone whatever the header size.
      expect(Buffer.compare(encodeTcpFrame(dg, hs, true), dg)).toBe(0);

      if (hs === 0) {
        expect(v.panda_reader_reparses_to_same_datagram).toBeNull();
        // Header 0 is read in raw mode: chunks of ≤ 1502 bytes that concatenate to the payload.
        for (const rawMode of [true, false]) {
          const frames = decodeAll(wire, { headerSize: 0, rawMode });
          expect(frames.length).toBe(v.panda_raw_reader_chunks);
          expect(Buffer.compare(concat(frames), dg)).toBe(0);
        }
      } else {
        expect(v.panda_reader_reparses_to_same_datagram).toBe(true);
        const max = Math.max(dg.length, 1);
        for (const split of [[wire.length], [1], [2, 3], [MAX_RAW_CHUNK], [hs, dg.length]]) {
          if (split[0] === 1 && wire.length > 5000) continue; // covered by the 2/3 split
          const frames = decodeAll(wire, { headerSize: hs, rawMode: false, maxDatagramSize: max }, split);
          expect(frames.length).toBe(1);
          expect(Buffer.compare(frames[0]!, dg)).toBe(0);
        }
      }
      // What a Panda raw reader saw on this stream: ceil(wire / 1502) chunks.
      if (v.panda_raw_reader_chunks !== undefined) {
        const raw = decodeAll(wire, { headerSize: hs, rawMode: true });
        expect(raw.length).toBe(v.panda_raw_reader_chunks);
        expect(raw.every((c) => c.length <= MAX_RAW_CHUNK)).toBe(true);
        expect(Buffer.compare(concat(raw), wire)).toBe(0);
      }
    });
  }
});

describe('§6.8 worked frames and §12 item 8', () => {
  const payload = bytes('01 02 00 48 69');
  it('header 2, header 4, raw / header 0', () => {
    expect(hex(encodeTcpFrame(payload, 2, false))).toBe('05000102004869');
    expect(hex(encodeTcpFrame(payload, 4, false))).toBe('050000000102004869');
    expect(hex(encodeTcpFrame(payload, 0, false))).toBe('0102004869');
    expect(hex(encodeTcpFrame(payload, 2, true))).toBe('0102004869');
    expect(hex(encodeTcpFrame(new Uint8Array(0), 2, false))).toBe('0000');
  });

  it('decodes the worked frames', () => {
    expect(decodeAll(bytes('05000102004869'), { headerSize: 2, rawMode: false }).map(hex)).toEqual(['0102004869']);
    expect(decodeAll(bytes('050000000102004869'), { headerSize: 4, rawMode: false }).map(hex)).toEqual(['0102004869']);
  });

  it('encodeTcpFrame returns a fresh array, never the payload', () => {
    const out = encodeTcpFrame(payload, 0, false);
    expect(out).not.toBe(payload);
    out[0] = 0xee;
    expect(payload[0]).toBe(1);
  });

  it('item 8: 65,536 bytes with header 2 → TooLongError, nothing written', () => {
    const out = new Uint8Array(4).fill(0x55);
    expect(() => frameHeader(65536, 2, out, 0)).toThrow(TooLongError);
    expect(hex(out)).toBe('55555555');
    expect(() => encodeTcpFrame(new Uint8Array(65536), 2, false)).toThrow(/too long/);
    expect(frameHeader(65535, 2, out, 1)).toBe(2);
    expect(hex(out)).toBe('55ffff55');
  });

  it('header 4 limit is 2^31 − 1', () => {
    const out = new Uint8Array(4);
    expect(frameHeader(0x7fffffff, 4, out, 0)).toBe(4);
    expect(hex(out)).toBe('ffffff7f');
    expect(() => frameHeader(0x80000000, 4, out, 0)).toThrow(TooLongError);
    expect(frameHeader(2 ** 40, 0, out, 0)).toBe(0);
    expect(maxFramePayload(2)).toBe(65535);
    expect(maxFramePayload(4)).toBe(MAX_TCP_DATAGRAM_SIZE);
    expect(maxFramePayload(0)).toBe(Infinity);
  });

  it('frameHeader validates its arguments', () => {
    const out = new Uint8Array(4);
    expect(() => frameHeader(-1, 2, out, 0)).toThrow(ValueRangeError);
    expect(() => frameHeader(1.5, 2, out, 0)).toThrow(ValueRangeError);
    expect(() => frameHeader(1, 4, out, 1)).toThrow(InvalidArgumentError);
    expect(() => frameHeader(1, 2, out, -1)).toThrow(InvalidArgumentError);
    expect(frameHeader(0x01020304, 4, out, 0)).toBe(4);
    expect(hex(out)).toBe('04030201');
  });
});

describe('TcpFrameDecoder', () => {
  it('item 9: a header-2 frame delivered one byte at a time is reassembled once', () => {
    const wire = encodeTcpFrame(pattern(300), 2, false);
    const d = new TcpFrameDecoder({ headerSize: 2, rawMode: false });
    const frames: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i++) {
      d.push(wire.subarray(i, i + 1), (p) => frames.push(p.slice()));
      if (i < wire.length - 1) {
        expect(frames).toHaveLength(0);
        expect(d.bufferedBytes).toBe(i + 1);
        expect(d.pendingFrameLength).toBe(i === 0 ? -1 : 300);
        expect(d.state).toBe(i === 0 ? 'header' : 'body');
      }
    }
    expect(frames).toHaveLength(1);
    expect(hex(frames[0]!)).toBe(hex(pattern(300)));
    expect(d.state).toBe('boundary');
  });

  it('item 9: two frames in one segment yield two datagrams, as zero-copy views', () => {
    const a = bytes('0102');
    const b = bytes('030405');
    const wire = concat([encodeTcpFrame(a, 2, false), encodeTcpFrame(b, 2, false)]);
    const d = new TcpFrameDecoder({ headerSize: 2, rawMode: false });
    const seen: Uint8Array[] = [];
    d.push(wire, (p) => {
      expect(p.buffer).toBe(wire.buffer); // a view of the chunk, not a copy
      seen.push(p.slice());
    });
    expect(seen.map(hex)).toEqual(['0102', '030405']);
  });

  it('a frame spanning chunks is assembled in a buffer of exactly its length', () => {
    const payload = pattern(1000);
    const wire = encodeTcpFrame(payload, 4, false);
    const d = new TcpFrameDecoder({ headerSize: 4, rawMode: false });
    const seen: Uint8Array[] = [];
    d.push(wire.subarray(0, 10), (p) => seen.push(p));
    expect(d.bufferedBytes).toBe(10);
    d.push(wire.subarray(10), (p) => seen.push(p));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.buffer.byteLength).toBe(1000);
    expect(seen[0]!.buffer).not.toBe(wire.buffer);
    expect(hex(seen[0]!)).toBe(hex(payload));
  });

  it('a header ending a chunk allocates nothing; a following whole body is still a view', () => {
    const payload = pattern(50);
    const wire = encodeTcpFrame(payload, 2, false);
    const d = new TcpFrameDecoder({ headerSize: 2, rawMode: false });
    d.push(wire.subarray(0, 2), () => expect.unreachable());
    expect(d.pendingFrameLength).toBe(50);
    expect(d.bufferedBytes).toBe(2);
    const body = wire.slice(2);
    let got: Uint8Array | null = null;
    d.push(body, (p) => {
      expect(p.buffer).toBe(body.buffer);
      got = p.slice();
    });
    expect(hex(got!)).toBe(hex(payload));
  });

  it('zero-length datagrams are legal (00 00 → empty payload), also split', () => {
    expect(decodeAll(bytes('0000 0000 0100 41'), { headerSize: 2, rawMode: false }).map(hex)).toEqual(['', '', '41']);
    expect(decodeAll(bytes('0000 0000 0100 41'), { headerSize: 2, rawMode: false }, [1]).map(hex)).toEqual(['', '', '41']);
    expect(decodeAll(bytes('00000000'), { headerSize: 4, rawMode: false }, [3]).map(hex)).toEqual(['']);
  });

  it('65,535-byte frame with header 2 and 70,000-byte frame with header 4', () => {
    const p1 = pattern(65535, 3);
    const w1 = encodeTcpFrame(p1, 2, false);
    expect(hex(w1.subarray(0, 2))).toBe('ffff');
    for (const split of [[w1.length], [1460], [1, 65535, 1], [7]]) {
      const f = decodeAll(w1, { headerSize: 2, rawMode: false }, split);
      expect(f).toHaveLength(1);
      expect(Buffer.compare(f[0]!, p1)).toBe(0);
    }
    const p2 = pattern(70000, 5);
    const w2 = encodeTcpFrame(p2, 4, false);
    expect(hex(w2.subarray(0, 4))).toBe('70110100');
    for (const split of [[w2.length], [1460], [2, 69999, 3], [4096]]) {
      const f = decodeAll(w2, { headerSize: 4, rawMode: false }, split);
      expect(f).toHaveLength(1);
      expect(Buffer.compare(f[0]!, p2)).toBe(0);
    }
  });

  it('item 11: raw mode delivers chunks of at most 1502 bytes', () => {
    const data = pattern(5000);
    const d = new TcpFrameDecoder({ headerSize: 2, rawMode: true });
    const sizes: number[] = [];
    const parts: Uint8Array[] = [];
    d.push(data, (p) => {
      sizes.push(p.length);
      parts.push(p.slice());
    });
    expect(sizes).toEqual([1502, 1502, 1502, 494]);
    expect(Buffer.compare(concat(parts), data)).toBe(0);
    d.push(new Uint8Array(0), () => expect.unreachable());
    const small: number[] = [];
    d.push(data.subarray(0, 10), (p) => small.push(p.length));
    expect(small).toEqual([10]);
    expect(d.bufferedBytes).toBe(0);
  });

  it('header size 0 without raw mode is read as raw (Q2 fix): no endless empty datagrams', () => {
    const d = new TcpFrameDecoder({ headerSize: 0, rawMode: false });
    const sizes: number[] = [];
    d.push(pattern(2000), (p) => sizes.push(p.length));
    expect(sizes).toEqual([1502, 498]);
    d.push(new Uint8Array(0), () => expect.unreachable());
  });

  it('FrameTooLargeError is thrown before allocating: 2^30 announced, 1 MiB max', () => {
    expect(DEFAULT_MAX_DATAGRAM_SIZE).toBe(1 << 20);
    const d = new TcpFrameDecoder({ headerSize: 4, rawMode: false, maxDatagramSize: 1 << 20 });
    const header = new Uint8Array(4);
    frameHeader(2 ** 30, 4, header, 0);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 3; i++) {
      d.push(header.subarray(i, i + 1), () => expect.unreachable());
      expect(d.bufferedBytes).toBe(i + 1);
      expect(d.pendingFrameLength).toBe(-1);
    }
    let err: unknown;
    try {
      d.push(concat([header.subarray(3), pattern(100)]), () => expect.unreachable());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect((err as FrameTooLargeError).announced).toBe(2 ** 30);
    expect((err as FrameTooLargeError).maximum).toBe(1 << 20);
    expect((err as FrameTooLargeError).code).toBe(ErrorCode.FRAME_TOO_LARGE);
    expect(d.bufferedBytes).toBe(0);
    expect(d.pendingFrameLength).toBe(-1);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });

  it('a header of 2^31 or more is rejected even with the largest maximum', () => {
    const d = new TcpFrameDecoder({ headerSize: 4, rawMode: false, maxDatagramSize: MAX_TCP_DATAGRAM_SIZE });
    expect(() => d.push(bytes('00000080'), () => {})).toThrow(FrameTooLargeError);
    const e = new TcpFrameDecoder({ headerSize: 4, rawMode: false, maxDatagramSize: 10 });
    const got: string[] = [];
    e.push(bytes('0a000000 00010203040506070809'), (p) => got.push(hex(p)));
    expect(got).toEqual(['00010203040506070809']); // exactly the maximum is fine
  });

  it('frames before the bad header in the same chunk are delivered, then the decoder is poisoned', () => {
    const d = new TcpFrameDecoder({ headerSize: 2, rawMode: false, maxDatagramSize: 4 });
    const got: string[] = [];
    expect(() => d.push(bytes('0100 41 0500 0102030405 0100 42'), (p) => got.push(hex(p)))).toThrow(FrameTooLargeError);
    expect(got).toEqual(['41']);
    expect(d.state).toBe('failed');
    expect(() => d.push(bytes('0100 41'), () => expect.unreachable())).toThrow(FrameTooLargeError);
    expect(() => d.push(new Uint8Array(0), () => expect.unreachable())).toThrow(FrameTooLargeError);
    expect(d.state).toBe('failed');
    d.reset();
    expect(d.state).toBe('boundary');
    d.push(bytes('0100 43'), (p) => got.push(hex(p)));
    expect(got).toEqual(['41', '43']);
  });

  it('reset() drops a partial frame', () => {
    const d = new TcpFrameDecoder({ headerSize: 2, rawMode: false });
    d.push(bytes('0500 0102'), () => expect.unreachable());
    expect(d.bufferedBytes).toBe(4);
    expect(d.pendingFrameLength).toBe(5);
    d.reset();
    expect(d.bufferedBytes).toBe(0);
    expect(d.pendingFrameLength).toBe(-1);
    const got: string[] = [];
    d.push(bytes('0100 ff'), (p) => got.push(hex(p)));
    expect(got).toEqual(['ff']);
  });

  it('setHeaderSize / setRawMode apply at the next frame boundary', () => {
    const d = new TcpFrameDecoder({ headerSize: 2, rawMode: false });
    const got: string[] = [];
    const on = (p: Uint8Array): void => void got.push(hex(p));
    d.setHeaderSize(4); // at a boundary: immediate
    expect(d.headerSize).toBe(4);
    d.push(bytes('02000000 aa'), on);
    d.setHeaderSize(2); // mid-frame: deferred
    expect(d.headerSize).toBe(4);
    d.push(bytes('bb 0100 cc'), on);
    expect(got).toEqual(['aabb', 'cc']);
    expect(d.headerSize).toBe(2);

    d.push(bytes('03'), on); // partial header
    d.setRawMode(true);
    expect(d.rawMode).toBe(false);
    d.push(bytes('00 010203 040506'), on);
    expect(d.rawMode).toBe(true);
    expect(got).toEqual(['aabb', 'cc', '010203', '040506']);
    d.setRawMode(false);
    d.push(bytes('0100 07'), on);
    expect(got.at(-1)).toBe('07');
  });

  it('setRawMode(false) from inside onFrame frames the rest of the chunk', () => {
    const d = new TcpFrameDecoder({ headerSize: 2, rawMode: true });
    const got: string[] = [];
    const data = concat([pattern(1502), bytes('0100 41')]);
    d.push(data, (p) => {
      got.push(p.length === 1502 ? 'raw' : hex(p));
      d.setRawMode(false);
    });
    expect(got).toEqual(['raw', '41']);
  });

  it('rejects invalid header sizes (Q3 fix) and bad maxima', () => {
    for (const bad of [1, 3, 5, 8, -2, 2.5, Number.NaN]) {
      let err: unknown;
      try {
        validateHeaderSize(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).code).toBe(ErrorCode.INVALID_HEADER_SIZE);
      expect(() => new TcpFrameDecoder({ headerSize: bad as TcpHeaderSize, rawMode: false })).toThrow(InvalidArgumentError);
      expect(() => encodeTcpFrame(new Uint8Array(1), bad as TcpHeaderSize, false)).toThrow(InvalidArgumentError);
      expect(() => encodeTcpFrame(new Uint8Array(1), bad as TcpHeaderSize, true)).toThrow(InvalidArgumentError);
      expect(() => frameHeader(1, bad as TcpHeaderSize, new Uint8Array(8), 0)).toThrow(InvalidArgumentError);
    }
    const d = new TcpFrameDecoder({ headerSize: 2, rawMode: false });
    expect(() => d.setHeaderSize(3 as TcpHeaderSize)).toThrow(InvalidArgumentError);
    expect(d.headerSize).toBe(2);
    for (const m of [-1, 1.5, 2 ** 31, Number.NaN]) {
      expect(() => new TcpFrameDecoder({ headerSize: 2, rawMode: false, maxDatagramSize: m })).toThrow(ValueRangeError);
    }
    expect(validateHeaderSize(0)).toBe(0);
    expect(validateHeaderSize(2)).toBe(2);
    expect(validateHeaderSize(4)).toBe(4);
  });

  it('an exception from onFrame propagates with the decoder at a frame boundary', () => {
    const d = new TcpFrameDecoder({ headerSize: 2, rawMode: false });
    const boom = new InvalidArgumentError('boom');
    expect(() =>
      d.push(bytes('0100 41 0100 42'), () => {
        throw boom;
      }),
    ).toThrow(boom);
    expect(d.state).toBe('boundary');
    const got: string[] = [];
    d.push(bytes('0100 43'), (p) => got.push(hex(p)));
    expect(got).toEqual(['43']);
  });
});
