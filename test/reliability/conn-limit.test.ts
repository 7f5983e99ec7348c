/**
 * Connection limit per listener (issue 8): `setMaxConnections(5)` and 8 clients → 5 accepted and
 * kept (they keep echoing), 3 refused: closed by the server at once (the clients see EOF), counted by
 * `getRefusedCount()`, never handed to the application (no accept, no reset entry). The limit counts
 * connections of this listener that are still open: once one closes (by the application or by the
 * peer), a new client gets in. Every test runs in every mode.
 */
import { describe, expect, it } from 'vitest';
import { MODES, makeServer, waitFor } from '../helpers/net.js';
import { connectPeer, fdCount, record, roundTrip, sawEof, serverApp, serverSideOf, settle, waitForFds, warmUp, type Peer } from '../helpers/faults.js';

describe.each(MODES)('connection limit ($name)', ({ threads }) => {
  it('setMaxConnections(5), 8 clients → 5 accepted and kept, 3 refused with EOF, getRefusedCount() 3', async () => {
    const server = makeServer(threads);
    const app = serverApp(server);
    await warmUp(app);
    const base = server.accepted.length;
    const fd0 = fdCount();
    expect(server.listener.getMaxConnections()).toBe(0);
    expect(server.listener.getRefusedCount()).toBe(0);
    server.listener.setMaxConnections(5);
    expect(server.listener.getMaxConnections()).toBe(5);

    const peers: Peer[] = [];
    for (let i = 0; i < 8; i++) peers.push(await connectPeer(server.port));
    await waitFor(() => server.listener.getRefusedCount() >= 3 && peers.filter(sawEof).length >= 3, {
      what: () => `3 refusals (refused ${server.listener.getRefusedCount()}, accepted ${server.accepted.length - base}, EOF at ${peers.filter(sawEof).length} clients)`,
      tick: app.tick,
    });
    await settle(app);
    const kept = server.accepted.slice(-5);
    expect(server.accepted.length - base, 'connections handed to the application (after the warm-up)').toBe(5);
    expect(server.listener.getRefusedCount()).toBe(3);
    const refusedPeers = peers.filter(sawEof);
    const keptPeers = peers.filter((p) => !sawEof(p));
    expect(refusedPeers).toHaveLength(3);
    expect(keptPeers).toHaveLength(5);
    for (const p of refusedPeers) expect(p.error, 'refused cleanly (FIN, not an error)').toBeNull();
    expect(app.resets, 'refused connections are never reported to the application').toEqual([]);
    // The 5 kept ones are the ones accepted, and all of them work.
    for (const p of keptPeers) expect(kept).toContain(serverSideOf(app, p));
    for (const [i, p] of keptPeers.entries()) await roundTrip(p, app, i);
    // More clients while at the limit: refused too.
    const extra = await connectPeer(server.port);
    await waitFor(() => sawEof(extra), { what: 'the 9th client to be refused', tick: app.tick });
    expect(server.listener.getRefusedCount()).toBe(4);

    // Room again when the application closes one...
    expect(server.manager.closeConnection(serverSideOf(app, keptPeers[0]!)!)).toBe(true);
    const next = await connectPeer(server.port);
    await app.waitAccepted(server.accepted.length + 1);
    await roundTrip(next, app, 100);
    // ...and when a peer goes away (reported reset).
    const leaving = serverSideOf(app, keptPeers[1]!)!;
    keptPeers[1]!.socket.destroy();
    await app.waitReset([leaving]);
    const next2 = await connectPeer(server.port);
    await app.waitAccepted(server.accepted.length + 1);
    await roundTrip(next2, app, 101);
    expect(server.listener.getRefusedCount()).toBe(4);
    expect(server.accepted.filter((c) => c.isOpen())).toHaveLength(5);

    for (const p of [...peers, extra, next, next2]) p.socket.destroy();
    await waitFor(() => server.accepted.every((c) => !c.isOpen()), { what: 'every accepted connection to be closed', tick: app.tick });
    const fd1 = await waitForFds(fd0, { tick: app.tick });
    record('conn-limit', { threads, limit: 5, clients: 8, accepted: 5, refused: 3, refusedClientsSawEof: refusedPeers.length, resetsForRefused: 0, fdBefore: fd0, fdAfterRelease: fd1 });
  });

  it('a limit set while connections are already open counts them too', async () => {
    const server = makeServer(threads);
    const app = serverApp(server);
    const peers: Peer[] = [];
    for (let i = 0; i < 3; i++) peers.push(await connectPeer(server.port));
    await app.acceptNext(3);
    server.listener.setMaxConnections(3);
    const late = await connectPeer(server.port);
    await waitFor(() => sawEof(late) || server.accepted.length > 3, { what: 'the 4th client to be refused or accepted', tick: app.tick });
    await settle(app);
    expect(server.accepted.length, 'connections open at once with a limit of 3').toBe(3);
    expect(server.listener.getRefusedCount()).toBe(1);
    expect(sawEof(late)).toBe(true);
  });
});
