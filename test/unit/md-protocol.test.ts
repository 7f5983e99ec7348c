/**
 * Astron's MD datagram header and control messages (src/md/protocol.ts): exact bytes, truncation
 * found at every point, channel keys canonical and exact over the whole 64-bit range.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PyDatagram } from '../../src/index.js';
import {
  MdMsg,
  channelKey,
  keyToBigInt,
  mdControlDatagram,
  newMdHeader,
  parseMdControl,
  readChannelKey,
  readMdHeader,
  writeChannelKey,
  type MdControl,
} from '../../src/md/protocol.js';
import { MdDatagramError } from '../../src/errors.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** Any uint64, with small and boundary values well represented. */
const u64 = fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 1n << 54n }), fc.constantFrom(0n, 1n, 2n ** 53n - 1n, 2n ** 53n, (1n << 64n) - 1n));

describe('MD protocol', () => {
  it('reads the header addServerHeader writes', () => {
    const dg = new PyDatagram();
    dg.addServerHeader(4000n, 1_000_000_000_000n, 2001);
    dg.addUint32(7);
    const bytes = dg.getMessage();
    const h = newMdHeader();
    expect(readMdHeader(bytes, 0, bytes.length, h)).toBeNull();
    expect(h).toMatchObject({ count: 1, recipients: 1, control: false, sender: 9, msgType: 2001, payload: 19, end: 23 });
    expect(readChannelKey(bytes, h.recipients)).toBe(4000);
    expect(readChannelKey(bytes, h.sender)).toBe(1_000_000_000_000);
  });

  it('control datagrams are byte for byte what Astron expects', () => {
    expect(hex(mdControlDatagram({ kind: 'addChannel', channel: 1234 }).getMessage())).toBe('01' + '0100000000000000' + '2823' + 'd204000000000000');
    expect(hex(mdControlDatagram({ kind: 'addRange', lo: 10, hi: 0xffff_ffff_ffff_ffffn }).getMessage())).toBe('01' + '0100000000000000' + '2a23' + '0a00000000000000' + 'ffffffffffffffff');
    expect(hex(mdControlDatagram({ kind: 'setConName', name: 'ai' }).getMessage())).toBe('01' + '0100000000000000' + '3423' + '0200' + '6169');
  });

  it('every control message round-trips', () => {
    const msgs: MdControl[] = [
      { kind: 'addChannel', channel: 5 },
      { kind: 'removeChannel', channel: 0xffff_ffff_ffff_fffen },
      { kind: 'addRange', lo: 100, hi: 200 },
      { kind: 'removeRange', lo: 150, hi: 160 },
      { kind: 'addPostRemove', key: 77, datagram: new Uint8Array([1, 2, 3]) },
      { kind: 'clearPostRemoves', key: 77 },
      { kind: 'setConName', name: 'zone-1' },
      { kind: 'setConUrl', url: 'tcp://127.0.0.1:7199' },
      { kind: 'logMessage', blob: new Uint8Array([9, 9]) },
      { kind: 'unknown', msgType: 9999 },
    ];
    for (const m of msgs) {
      const b = mdControlDatagram(m).getMessage();
      const h = newMdHeader();
      expect(readMdHeader(b, 0, b.length, h)).toBeNull();
      expect(h.control).toBe(true);
      expect(parseMdControl(b, h)).toEqual(m);
    }
    expect(MdMsg.LOG_MESSAGE).toBe(9014);
  });

  it('finds truncation at every length short of a whole header, and missing control arguments', () => {
    const dg = new PyDatagram();
    dg.addUint8(2);
    dg.addUint64(10);
    dg.addUint64(11);
    dg.addUint64(99); // sender
    dg.addUint16(5); // msg type
    const full = dg.getMessage();
    const h = newMdHeader();
    for (let n = 0; n < full.length; n++) expect(readMdHeader(full, 0, n, h), `length ${n}`).not.toBeNull();
    expect(readMdHeader(full, 0, full.length, h)).toBeNull();
    expect(readMdHeader(new Uint8Array([255, 0, 0]), 0, 3, h)).toMatch(/recipient count 255/);
    const add = mdControlDatagram({ kind: 'addRange', lo: 1, hi: 2 }).getMessage();
    for (let n = 11; n < add.length; n++) {
      expect(readMdHeader(add, 0, n, h)).toBeNull();
      expect(() => parseMdControl(add, h)).toThrow(MdDatagramError);
    }
  });

  it('channel keys: canonical (number up to 2^53-1), exact through bytes, ordered across forms', () => {
    fc.assert(
      fc.property(u64, u64, (a, b) => {
        const ka = channelKey(a);
        expect(typeof ka).toBe(a <= BigInt(Number.MAX_SAFE_INTEGER) ? 'number' : 'bigint');
        const buf = new Uint8Array(8);
        writeChannelKey(buf, 0, ka);
        expect(readChannelKey(buf, 0)).toBe(ka);
        expect(new DataView(buf.buffer).getBigUint64(0, true)).toBe(a);
        expect(keyToBigInt(ka)).toBe(a);
        const kb = channelKey(b);
        expect(ka < kb).toBe(a < b);
      }),
      { numRuns: 500 },
    );
    expect(() => channelKey(-1)).toThrow(MdDatagramError);
    expect(() => channelKey(1n << 64n)).toThrow(MdDatagramError);
  });
});
