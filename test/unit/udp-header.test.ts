import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, UdpPacketError } from '../../src/errors.js';
import {
  MAX_UDP_PAYLOAD,
  UDP_RECEIVE_BUFFER,
  checkUdpPacket,
  decodeUdpPacket,
  encodeUdpPacket,
  udpChecksum,
} from '../../src/protocol/udp-header.js';

const VECTORS = new URL('../../../shared/vectors/', import.meta.url);

interface UdpVector {
  name: string;
  raw_mode: boolean;
  datagram_length: number;
  wire_file: string;
  wire_length: number;
  send_returned: boolean;
  wire_hex?: string;
  wire_prefix_hex?: string;
  panda_udp_reader: { delivered: number; valid_checksum_accepted: boolean; corrupted_checksum_dropped: boolean } | null;
}

const manifest = JSON.parse(readFileSync(new URL('manifest.json', VECTORS), 'utf8')) as { udp_frames: UdpVector[] };

function load(file: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(file, VECTORS)));
}
function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
function bytes(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
}
function errorOf(f: () => unknown): UdpPacketError {
  try {
    f();
  } catch (e) {
    if (e instanceof UdpPacketError) return e;
    throw e;
  }
  throw new Error('expected a UdpPacketError');
}

function vectorKind(v: UdpVector): 'checksum' | 'raw' {
  if (v.raw_mode === false && v.panda_udp_reader !== null && typeof v.panda_udp_reader === 'object') return 'checksum';
  if (v.raw_mode === true && v.panda_udp_reader === null) return 'raw';
  throw new Error(`unknown udp_frames vector kind: ${JSON.stringify(v)}`);
}

describe('udp_frames vectors (manifest.json)', () => {
  it('manifest has udp vectors of known kinds', () => {
    expect(manifest.udp_frames.length).toBeGreaterThan(0);
    const kinds = new Set(manifest.udp_frames.map(vectorKind));
    expect([...kinds].sort()).toEqual(['checksum', 'raw']);
  });

  for (const v of manifest.udp_frames) {
    const kind = vectorKind(v);
    it(`${kind} ${v.name}`, () => {
      expect(v.send_returned).toBe(true);
      const wire = load(v.wire_file);
      expect(wire.length).toBe(v.wire_length);
      if (v.wire_hex !== undefined) expect(hex(wire)).toBe(v.wire_hex);
      if (v.wire_prefix_hex !== undefined) expect(hex(wire.subarray(0, v.wire_prefix_hex.length / 2))).toBe(v.wire_prefix_hex);
      const headerLen = kind === 'raw' ? 0 : 2;
      expect(wire.length).toBe(v.datagram_length + headerLen);
      const payload = wire.slice(headerLen);

      // Sending: the writer produces exactly these bytes (even above 1500: Panda only warns).
      expect(hex(encodeUdpPacket(payload, kind === 'raw'))).toBe(hex(wire));

      if (kind === 'raw') {
        const got = decodeUdpPacket(wire, true);
        expect(hex(got)).toBe(hex(wire));
        expect(checkUdpPacket(wire, true)).not.toBeNull();
        return;
      }

      const reader = v.panda_udp_reader!;
      if (reader.valid_checksum_accepted) {
        expect(reader.delivered).toBe(1);
        const got = decodeUdpPacket(wire, false);
        expect(hex(got)).toBe(hex(payload));
        expect(got.buffer).toBe(wire.buffer); // zero-copy view
        expect(hex(checkUdpPacket(wire, false)!)).toBe(hex(payload));
      } else {
        expect(reader.delivered).toBe(0);
        expect(checkUdpPacket(wire, false)).toBeNull();
        expect(errorOf(() => decodeUdpPacket(wire, false)).message).toBe('ignoring invalid UDP datagram');
      }
      // Corrupted copy: flip the checksum's low byte.
      expect(reader.corrupted_checksum_dropped).toBe(true);
      const bad = wire.slice();
      bad[0] = bad[0]! ^ 0x01;
      expect(checkUdpPacket(bad, false)).toBeNull();
      const err = errorOf(() => decodeUdpPacket(bad, false));
      expect(err.message).toBe('ignoring invalid UDP datagram');
      expect(err.code).toBe(ErrorCode.BAD_UDP_PACKET);
    });
  }
});

describe('UDP header', () => {
  it('§6.8 worked frames', () => {
    const payload = bytes('01 02 00 48 69');
    expect(udpChecksum(payload)).toBe(0xb4);
    expect(hex(encodeUdpPacket(payload, false))).toBe('b4000102004869');
    expect(hex(encodeUdpPacket(payload, true))).toBe('0102004869');
    expect(hex(encodeUdpPacket(new Uint8Array(0), false))).toBe('0000');
    expect(hex(decodeUdpPacket(bytes('b4000102004869'), false))).toBe('0102004869');
    expect(hex(decodeUdpPacket(bytes('0000'), false))).toBe('');
  });

  it('checksum wraps modulo 65536: 300 × 0xff → d4 2a', () => {
    const payload = new Uint8Array(300).fill(0xff);
    expect(udpChecksum(payload)).toBe(0x2ad4);
    expect(hex(encodeUdpPacket(payload, false).subarray(0, 2))).toBe('d42a');
    expect(udpChecksum(new Uint8Array(0))).toBe(0);
    expect(udpChecksum(new Uint8Array(257).fill(0xff))).toBe((257 * 255) % 65536);
  });

  it('§12 item 10: valid delivered, one flipped payload byte dropped, 1-byte packet dropped, raw delivers all', () => {
    const payload = bytes('0700000003000000848b');
    const packet = encodeUdpPacket(payload, false);
    expect(hex(decodeUdpPacket(packet, false))).toBe(hex(payload));
    const flipped = packet.slice();
    flipped[5] = flipped[5]! ^ 0x40;
    expect(checkUdpPacket(flipped, false)).toBeNull();
    expect(errorOf(() => decodeUdpPacket(flipped, false)).message).toBe('ignoring invalid UDP datagram');
    expect(checkUdpPacket(bytes('41'), false)).toBeNull();
    expect(errorOf(() => decodeUdpPacket(bytes('41'), false)).message).toBe('did not read entire header');
    expect(hex(decodeUdpPacket(flipped, true))).toBe(hex(flipped)); // raw: no checksum, whole packet
  });

  it('short packets: 0 and 1 bytes are dropped in checksum mode; raw keeps them', () => {
    for (const p of [new Uint8Array(0), bytes('00')]) {
      expect(checkUdpPacket(p, false)).toBeNull();
      expect(errorOf(() => decodeUdpPacket(p, false)).message).toBe('did not read entire header');
      expect(hex(decodeUdpPacket(p, true))).toBe(hex(p));
    }
    expect(decodeUdpPacket(new Uint8Array(0), true).length).toBe(0); // empty raw packet → empty datagram
  });

  it('oversize packets are truncated to 1502 bytes before the check', () => {
    expect(MAX_UDP_PAYLOAD).toBe(1500);
    expect(UDP_RECEIVE_BUFFER).toBe(1502);
    // 1500-byte payload: fits exactly.
    const fit = new Uint8Array(1500).map((_, i) => i & 0xff);
    expect(decodeUdpPacket(encodeUdpPacket(fit, false), false).length).toBe(1500);
    // 1501 bytes whose last byte is 0: the truncated checksum still matches, 1500 bytes delivered.
    const zeroTail = new Uint8Array(1501).fill(1);
    zeroTail[1500] = 0;
    expect(decodeUdpPacket(encodeUdpPacket(zeroTail, false), false).length).toBe(1500);
    // Non-zero tail: checksum fails after truncation.
    const over = new Uint8Array(1600).fill(7);
    expect(checkUdpPacket(encodeUdpPacket(over, false), false)).toBeNull();
    // Raw mode keeps only the first 1502 bytes.
    const raw = new Uint8Array(2000).map((_, i) => i & 0xff);
    const got = decodeUdpPacket(raw, true);
    expect(got.length).toBe(1502);
    expect(hex(got)).toBe(hex(raw.subarray(0, 1502)));
  });

  it('encodeUdpPacket always returns a new array', () => {
    const p = bytes('0102');
    const raw = encodeUdpPacket(p, true);
    expect(raw).not.toBe(p);
    raw[0] = 9;
    expect(p[0]).toBe(1);
  });
});
