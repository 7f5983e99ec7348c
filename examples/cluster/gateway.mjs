// @ts-check
// The gateway: owns the client connections. It accepts plain pandanet TCP clients on its own
// rendezvous, gives each one a channel (CLIENT_BASE + n) and a connection of its own to the message
// director — a participant subscribed to that channel, holding one post-remove ("this client is
// gone", to every zone server) — and forwards by channel both ways:
//   client → MD:  the client sends `u64 to · u16 type · payload`; the gateway checks `to` is a cell
//                 channel and sends `u8 1 · u64 to · u64 clientChannel · u16 type · payload`;
//   MD → client:  what the MD routes to the client's channel goes to the client without its
//                 recipient list: `u64 from · u16 type · payload`.
// When a client goes, the gateway closes its MD connection and the MD fires the post-remove: the zone
// holding the avatar learns it, wherever it is. If the gateway itself dies, the MD does the same for
// all its clients.
import {
  ConnectionWriter,
  Datagram,
  MdParticipant,
  NetAddress,
  PointerToConnection,
  PyDatagram,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  newMdHeader,
  readMdHeader,
} from 'pandanet';
import { CELL_BASE, CELLS, CLIENT_BASE, GATEWAY_CHANNEL, Msg, ZONES_ALL, cellChannel, readChannel, serve } from './common.mjs';

/**
 * @typedef {object} GatewayOptions
 * @property {string} mdHost the message director the gateway's participants join
 * @property {number} mdPort
 * @property {number} threads I/O threads (0 = polled)
 * @property {string=} host where clients connect (default 127.0.0.1)
 * @property {number=} port (default 0: any free port)
 */

/**
 * @typedef {object} Client
 * @property {import('pandanet').Connection} conn the client's connection
 * @property {number} channel
 * @property {MdParticipant | null} md its participant, once connected to the MD
 * @property {boolean} closed
 */

/** @param {GatewayOptions} o */
export async function startGateway(o) {
  const manager = new QueuedConnectionManager();
  const listener = new QueuedConnectionListener(manager, o.threads);
  const reader = new QueuedConnectionReader(manager, o.threads);
  const writer = new ConnectionWriter(manager, o.threads);
  // Clients and the MD both frame with Panda's 2-byte length header (the default), so one reader and
  // one writer carry both sides.
  const rendezvous = await manager.openTCPServerRendezvousAsync(o.host ?? '127.0.0.1', o.port ?? 0, 1024);
  if (rendezvous === null) throw new Error(`gateway: could not listen: ${manager.getLastError()?.message}`);
  listener.addConnection(rendezvous);

  // The gateway's own participant: it pings the cells until every one answers (readiness).
  const ctlConn = await manager.openTCPClientConnectionAsync(o.mdHost, o.mdPort, 3000);
  if (ctlConn === null) throw new Error(`gateway: could not reach the MD: ${manager.getLastError()?.message}`);
  reader.addConnection(ctlConn);
  const ctl = new MdParticipant(ctlConn, writer);
  ctl.setConName('gateway');
  ctl.registerForChannel(GATEWAY_CHANNEL);

  /** @type {Map<import('pandanet').Connection, Client>} by client connection */
  const clients = new Map();
  /** @type {Map<import('pandanet').Connection, Client>} by MD connection */
  const byMdConn = new Map();
  /** @type {Set<number>} cells that answered a ping */
  const ponged = new Set();
  const stats = { accepted: 0, up: 0, down: 0, rejected: 0 };
  let nextClient = 1;
  const h = newMdHeader();
  const up = new Datagram();
  const down = new Datagram();

  /** A new client: its channel, its MD connection, its subscription and post-remove, then HELLO. @param {Client} c */
  async function attach(c) {
    const mdConn = await manager.openTCPClientConnectionAsync(o.mdHost, o.mdPort, 3000).catch(() => null);
    if (mdConn === null || c.closed) {
      if (mdConn !== null) manager.closeConnection(mdConn);
      manager.closeConnection(c.conn);
      return;
    }
    reader.addConnection(mdConn);
    const md = new MdParticipant(mdConn, writer);
    md.setConName(`client ${c.channel}`);
    md.registerForChannel(c.channel);
    const goodbye = new PyDatagram();
    goodbye.addServerHeader(ZONES_ALL, c.channel, Msg.GONE);
    md.addPostRemove(c.channel, goodbye); // fired by the MD when this connection goes, however it goes
    c.md = md;
    byMdConn.set(mdConn, c);
    const hello = new Datagram();
    hello.addUint64(GATEWAY_CHANNEL);
    hello.addUint16(Msg.HELLO);
    hello.addUint64(c.channel);
    writer.send(hello, c.conn);
  }

  /** @param {Client} c */
  function detach(c) {
    c.closed = true;
    clients.delete(c.conn);
    manager.closeConnection(c.conn);
    if (c.md !== null) {
      const mdConn = c.md.getConnection();
      byMdConn.delete(mdConn);
      manager.closeConnection(mdConn); // the MD fires the client's post-remove
    }
  }

  const rv = new PointerToConnection();
  const addr = new NetAddress();
  const nc = new PointerToConnection();
  function acceptsAndResets() {
    while (listener.newConnectionAvailable()) {
      if (!listener.getNewConnection(rv, addr, nc)) continue;
      const conn = nc.p();
      if (conn === null) continue;
      conn.setNoDelay(true);
      reader.addConnection(conn);
      /** @type {Client} */
      const c = { conn, channel: CLIENT_BASE + nextClient++, md: null, closed: false };
      clients.set(conn, c);
      stats.accepted++;
      void attach(c);
    }
    while (manager.resetConnectionAvailable()) {
      if (!manager.getResetConnection(rv)) continue;
      const conn = rv.p();
      if (conn === null) continue;
      const c = clients.get(conn) ?? byMdConn.get(conn);
      if (c !== undefined) detach(c); // the client left, or its MD connection broke
      else manager.closeConnection(conn);
    }
  }

  const loop = serve(
    reader,
    (conn, data, offset, length) => {
      const c = clients.get(conn);
      if (c !== undefined) {
        // client → zone: `u64 to · u16 type · payload`, only to cell channels
        if (c.md === null || length < 10) return;
        const to = readChannel(data, offset);
        if (to < CELL_BASE || to >= CELL_BASE + CELLS) {
          stats.rejected++;
          return;
        }
        up.clear();
        up.addUint8(1);
        up.appendData(data, offset, 8);
        up.addUint64(c.channel); // the sender is the client's channel, whatever the client says
        up.appendData(data, offset + 8, length - 8);
        c.md.send(up);
        stats.up++;
        return;
      }
      if (readMdHeader(data, offset, length, h) !== null || h.control) return;
      const d = byMdConn.get(conn);
      if (d !== undefined) {
        // MD → client: drop the recipient list
        down.clear();
        down.appendData(data, h.sender, h.end - h.sender);
        writer.send(down, d.conn);
        stats.down++;
        return;
      }
      if (conn === ctlConn && h.msgType === Msg.PONG) ponged.add(readChannel(data, h.sender) - CELL_BASE);
    },
    acceptsAndResets,
    'gateway',
  );

  return {
    port: rendezvous.getLocalAddress().getPort(),
    stats,
    /** Clients connected now. */
    get clients() {
      return clients.size;
    },
    /**
     * Pings every cell channel until each one answers (their zone servers are subscribed and the MD
     * — or the MD cluster — routes to them), bounded by `timeoutMs`. Resolves with the cells missing.
     * @param {number} timeoutMs
     */
    async waitForZones(timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (ponged.size < CELLS && performance.now() < deadline) {
        for (let cell = 0; cell < CELLS; cell++) {
          if (ponged.has(cell)) continue;
          const ping = new PyDatagram();
          ping.addServerHeader(cellChannel(cell), GATEWAY_CHANNEL, Msg.PING);
          ctl.send(ping);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return Array.from({ length: CELLS }, (_, i) => i).filter((cell) => !ponged.has(cell));
    },
    /** Closes every client and MD connection and shuts the threads down. */
    async stop() {
      await loop.stop();
      for (const c of [...clients.values()]) detach(c);
      await manager.shutdownAsync({ timeoutMs: 2000 }).catch(() => undefined);
    },
  };
}
