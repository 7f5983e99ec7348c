// @ts-check
// A zone server: one participant of a message director that owns a range of zone ids (cells of the
// world, one MD channel each), keeps the positions of the avatars in them, broadcasts their state to
// the players in the zone 10 times a second, and hands an avatar that walks out of its cells to
// whoever owns the cell it walked into — it only knows the cell's channel; the MD's ranges find the
// owner (the other zone server, maybe on another MD node).
import { MdParticipant, PyDatagram, QueuedConnectionManager, newMdHeader, readMdHeader } from 'pandanet';
import { Msg, ZONES_ALL, cellChannel, cellOf, iterate, readChannel, serve } from './common.mjs';

const STATE_EVERY_MS = 100;
/** Astron's header holds at most 255 recipients: a bigger zone sends its state in several datagrams. */
const MAX_RECIPIENTS = 255;

/**
 * @typedef {object} ZoneOptions
 * @property {string} name
 * @property {string} host the message director's address
 * @property {number} port
 * @property {number} threads I/O threads (0 = polled)
 * @property {number} firstCell first zone id (cell) it owns
 * @property {number} lastCell last zone id it owns (inclusive)
 */

/** @typedef {{ entered: number, handoversIn: number, handoversOut: number, left: number, moves: number, stale: number, stateDatagrams: number }} ZoneStats */

/**
 * Connects to the MD and starts serving.
 * @param {ZoneOptions} o
 */
export async function startZone(o) {
  const manager = new QueuedConnectionManager();
  const { participant: md, reader } = await MdParticipant.connect(manager, o.host, o.port, { threads: o.threads, name: o.name });
  md.registerForRange(cellChannel(o.firstCell), cellChannel(o.lastCell)); // ADD_RANGE: my zone ids
  md.registerForChannel(ZONES_ALL); // goodbyes of clients (their post-removes)

  /** @type {Map<number, { x: number, y: number }>} avatars by client channel */
  const avatars = new Map();
  /** Clients whose goodbye came: a hand-over racing their goodbye must not bring them back. */
  const gone = new Set();
  /** @type {ZoneStats} */
  const stats = { entered: 0, handoversIn: 0, handoversOut: 0, left: 0, moves: 0, stale: 0, stateDatagrams: 0 };
  const mine = (/** @type {number} */ cell) => cell >= o.firstCell && cell <= o.lastCell;
  const h = newMdHeader();

  /** @param {number} client @param {number} x */
  function welcome(client, x) {
    const dg = new PyDatagram();
    dg.addServerHeader(client, cellChannel(cellOf(x)), Msg.YOU_ARE_IN);
    dg.addUint64(cellChannel(cellOf(x))); // any of my cell channels reaches me
    dg.addString(o.name);
    md.send(dg);
  }

  /** The avatar left my cells: hand it to the owner of the cell it is in now. @param {number} client @param {number} x @param {number} y */
  function handOver(client, x, y) {
    avatars.delete(client);
    stats.handoversOut++;
    const dg = new PyDatagram();
    dg.addServerHeader(cellChannel(cellOf(x)), cellChannel(o.firstCell), Msg.HANDOVER);
    dg.addUint64(client);
    dg.addFloat32(x);
    dg.addFloat32(y);
    md.send(dg);
  }

  const loop = serve(
    reader,
    (_conn, data, offset, length) => {
      if (readMdHeader(data, offset, length, h) !== null || h.control) return;
      const from = readChannel(data, h.sender);
      const it = iterate(data, h.payload, h.end);
      switch (h.msgType) {
        case Msg.ENTER: {
          const x = it.getFloat32();
          const y = it.getFloat32();
          if (gone.has(from)) return;
          if (!avatars.has(from)) stats.entered++;
          avatars.set(from, { x, y });
          welcome(from, x); // again if it asked again (its first answer may have been lost)
          return;
        }
        case Msg.MOVE: {
          const a = avatars.get(from);
          if (a === undefined) {
            stats.stale++; // sent before it learned of its hand-over: it will send to its new zone
            return;
          }
          a.x = it.getFloat32();
          a.y = it.getFloat32();
          stats.moves++;
          if (!mine(cellOf(a.x))) handOver(from, a.x, a.y);
          return;
        }
        case Msg.HANDOVER: {
          const client = Number(it.getUint64());
          const x = it.getFloat32();
          const y = it.getFloat32();
          if (gone.has(client)) return;
          avatars.set(client, { x, y });
          stats.handoversIn++;
          welcome(client, x);
          return;
        }
        case Msg.GONE: {
          gone.add(from);
          if (avatars.delete(from)) stats.left++;
          return;
        }
        case Msg.PING: {
          const pong = new PyDatagram();
          pong.addServerHeader(from, readChannel(data, h.recipients), Msg.PONG);
          md.send(pong);
          return;
        }
      }
    },
    undefined,
    o.name,
  );

  // 10 times a second, every player in the zone gets the positions of everyone in it: one datagram
  // addressed to all of them (up to 255 recipients), which the MD delivers once to each.
  const tick = setInterval(() => {
    if (avatars.size === 0) return;
    const all = [...avatars];
    for (let i = 0; i < all.length; i += MAX_RECIPIENTS) {
      const group = all.slice(i, i + MAX_RECIPIENTS);
      const dg = new PyDatagram();
      dg.addUint8(group.length);
      for (const [client] of group) dg.addChannel(client);
      dg.addChannel(cellChannel(o.firstCell)); // sender
      dg.addUint16(Msg.STATE);
      dg.addUint16(all.length);
      for (const [client, a] of all) {
        dg.addUint64(client);
        dg.addFloat32(a.x);
        dg.addFloat32(a.y);
      }
      md.send(dg);
      stats.stateDatagrams++;
    }
  }, STATE_EVERY_MS);

  return {
    name: o.name,
    stats,
    /** Avatars in the zone now. */
    get population() {
      return avatars.size;
    },
    /** Leaves the MD (closing the connection) and shuts its threads down. */
    async stop() {
      clearInterval(tick);
      await loop.stop();
      await manager.shutdownAsync({ timeoutMs: 2000 }).catch(() => undefined);
    },
  };
}

