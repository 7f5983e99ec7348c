/**
 * Datagrams an I/O thread holds while a reader's ring is full must keep their bytes while other
 * connections on the same thread keep reading (all streams of a thread share one read buffer).
 * Regression test: the held copies were once views into that buffer.
 */
import { describe, expect, it } from 'vitest';
import { Datagram, NetDatagram } from '../../src/index.js';
import { MODES, acceptAll, makeClient, makeServer, waitFor, withNetConfig } from '../helpers/net.js';

function patterned(tag: number, seq: number, size: number): Datagram {
  const d = new Datagram();
  d.addUint8(tag);
  d.addUint32(seq);
  for (let i = 5; i < size; i++) d.addUint8((tag * 31 + seq * 7 + i) & 0xff);
  return d;
}

describe.each(MODES)('held datagrams keep their bytes ($name)', ({ threads }) => {
  it('while another connection on the thread reads, every held datagram arrives intact and in order', async () => {
    // One I/O thread: both connections share its read buffer.
    const server = withNetConfig({ ringBytes: { reader: 16 << 10 } }, () => makeServer(Math.min(threads, 1)));
    const client = makeClient(server.port, threads, 2);
    await acceptAll(server, 2);
    const [a, b] = client.connections;
    for (let i = 0; i < 200; i++) expect(client.writer.send(patterned(1, i, 500), a!)).toBe(true);
    await waitFor(() => server.manager.getThreadStats().some((t) => t.backpressurePauses > 0), { what: 'the reader ring to fill' });
    for (let i = 0; i < 200; i++) expect(client.writer.send(patterned(2, i, 300), b!)).toBe(true);
    const got = new Map<number, number[]>([[1, []], [2, []]]);
    const dg = new NetDatagram();
    let bad = '';
    await waitFor(() => got.get(1)!.length === 200 && got.get(2)!.length === 200, {
      what: () => `all datagrams (a ${got.get(1)!.length}, b ${got.get(2)!.length}) ${bad}`,
      tick: () => {
        while (server.reader.dataAvailable() && server.reader.getData(dg)) {
          const bytes = dg.getMessage();
          const tag = bytes[0]!;
          const seq = new DataView(bytes.buffer).getUint32(1, true);
          const want = patterned(tag, seq, tag === 1 ? 500 : 300).getMessage();
          if (bad === '' && !Buffer.from(bytes).equals(Buffer.from(want))) bad = `corrupt datagram tag ${tag} seq ${seq}`;
          got.get(tag)?.push(seq);
        }
      },
    });
    expect(bad).toBe('');
    expect(got.get(1)).toEqual([...Array(200).keys()]);
    expect(got.get(2)).toEqual([...Array(200).keys()]);
  });
});
