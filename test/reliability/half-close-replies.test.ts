/**
 * A peer that half-closes keeps its replies (issue "Nothing lost, nothing wedged", defect 9). The peer
 * sends whole datagrams and then `end()` (FIN) while it keeps reading; the application takes the
 * datagrams and replies (`send` returns true), then takes the reset and closes. As in Panda, whose
 * socket stays open until the application closes it, every reply is written, then the server's FIN.
 * A send after the reset was taken returns false. Every mode.
 */
import { describe, expect, it } from 'vitest';
import { NetDatagram, type Connection } from '../../src/index.js';
import { MODES, makeServer, waitFor, yieldOnce } from '../helpers/net.js';
import { connectPeer, record } from '../helpers/faults.js';

describe.each(MODES)('half-close replies ($name)', ({ threads }) => {
  it('peer sends 3 datagrams then FIN: the 3 replies reach it, then EOF; send after the reset was taken → false', async () => {
    const server = makeServer(threads);
    const peer = await connectPeer(server.port);
    const dg = new NetDatagram();
    const sendResults: boolean[] = [];
    const resets: Connection[] = [];
    let lateSend: boolean | null = null;
    const accept = (): void => {
      while (server.listener.newConnectionAvailable()) {
        const c = server.listener.getNewConnection();
        if (c === null) break;
        server.accepted.push(c);
        server.reader.addConnection(c);
      }
    };
    const tick = (): void => {
      accept();
      while (server.reader.dataAvailable()) {
        if (!server.reader.getData(dg)) break;
        sendResults.push(server.writer.send(dg, dg.getConnection()!));
      }
      while (server.manager.resetConnectionAvailable()) {
        const c = server.manager.getResetConnection();
        if (c === null) break;
        resets.push(c);
        if (lateSend === null) lateSend = server.writer.send(dg, c);
        server.manager.closeConnection(c);
      }
    };
    await waitFor(() => server.accepted.length === 1, { what: 'the accept', tick: accept });
    for (let i = 0; i < 3; i++) peer.sendFrame(Buffer.from(`request ${i}`));
    peer.socket.end();
    // The I/O thread has read the datagrams and the FIN before the application takes anything: the
    // application then replies to a peer that has already half-closed (no race with the FIN).
    const workerResets = (): number => server.manager.getThreadStats().reduce((n, t) => n + t.resets, 0);
    await waitFor(() => workerResets() === 1, { what: 'the I/O thread to see the FIN', tick: accept });
    await waitFor(() => resets.length >= 1 && (peer.ended || peer.closed), {
      what: () => `the reset and the peer's EOF (resets ${resets.length}, sends ${JSON.stringify(sendResults)}, peer got ${peer.frames.length} frames, ended ${peer.ended}, closed ${peer.closed})`,
      tick,
    });
    // Whatever was written arrived before the EOF; a few more turns for a straggler (there must be none).
    for (let i = 0; i < 20; i++) {
      tick();
      await yieldOnce();
    }
    record('half-close-replies', { threads, sends: sendResults, repliesReceived: peer.frames.length, ended: peer.ended, lateSend });
    expect(sendResults).toEqual([true, true, true]);
    expect(peer.frames.map((f) => f.toString())).toEqual(['request 0', 'request 1', 'request 2']);
    expect(peer.ended, 'the peer saw the server\'s FIN').toBe(true);
    expect(peer.error).toBeNull();
    // The reset, then the entry the late send made (a send on a closed connection reports it again,
    // spec §12.17).
    expect(resets).toEqual([server.accepted[0], server.accepted[0]]);
    expect(lateSend, 'send after the reset was taken').toBe(false);
  });
});
