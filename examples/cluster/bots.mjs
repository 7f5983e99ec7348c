// @ts-check
// Bots: plain pandanet TCP clients of the gateway (they know nothing of the message director). Each
// one waits for the gateway's HELLO (its channel), asks the cell it stands in to let it in (ENTER),
// and once a zone answers (YOU_ARE_IN: where to send its moves) walks along x at about 50 units/s, sending
// its position 10 times a second. They start near the border between the two zone servers (x = 100)
// walking towards it, and bounce at the ends of the world: they cross it again and again, and each
// crossing is a hand-over between the zones.
import { ConnectionWriter, Datagram, QueuedConnectionManager, QueuedConnectionReader } from 'pandanet';
import { CELL_WIDTH, Msg, WORLD_HEIGHT, WORLD_WIDTH, cellChannel, cellOf, iterate, readChannel, serve } from './common.mjs';

const MOVE_EVERY_MS = 100;
const SPEED = 50; // units per second, ± 20 %, per bot
const ENTER_RETRY_MS = 500;

/**
 * @typedef {object} Bot
 * @property {import('pandanet').Connection} conn
 * @property {number} channel its channel (0 until the gateway's HELLO)
 * @property {number} zone where it sends its moves (0 until a zone's YOU_ARE_IN)
 * @property {string} zoneName
 * @property {number} x
 * @property {number} y
 * @property {number} vx
 * @property {number} lastEnter when it last sent ENTER (performance.now())
 * @property {number} states STATE datagrams received
 */

/**
 * Connects `count` bots to the gateway at host:port and starts them.
 * @param {{ host: string, port: number, count: number, threads: number, seed?: number }} o
 */
export async function startBots(o) {
  const manager = new QueuedConnectionManager();
  const reader = new QueuedConnectionReader(manager, o.threads);
  const writer = new ConnectionWriter(manager, o.threads);
  const random = mulberry32(o.seed ?? 16);
  const conns = await Promise.all(Array.from({ length: o.count }, () => manager.openTCPClientConnectionAsync(o.host, o.port, 3000).catch(() => null)));
  /** @type {Map<import('pandanet').Connection, Bot>} */
  const bots = new Map();
  for (const conn of conns) {
    if (conn === null) continue;
    conn.setNoDelay(true);
    reader.addConnection(conn);
    const x = WORLD_WIDTH / 2 - 1.5 * CELL_WIDTH + random() * 3 * CELL_WIDTH; // within 30 of the border
    bots.set(conn, { conn, channel: 0, zone: 0, zoneName: '', x, y: 10 + random() * (WORLD_HEIGHT - 20), vx: (x < WORLD_WIDTH / 2 ? SPEED : -SPEED) * (0.8 + 0.4 * random()), lastEnter: -Infinity, states: 0 });
  }
  const out = new Datagram();

  /** @param {Bot} b @param {number} to @param {number} type */
  function sendPosition(b, to, type) {
    out.clear();
    out.addUint64(to);
    out.addUint16(type);
    out.addFloat32(b.x);
    out.addFloat32(b.y);
    writer.send(out, b.conn);
  }

  /** @param {Bot} b */
  function enter(b) {
    b.lastEnter = performance.now();
    sendPosition(b, cellChannel(cellOf(b.x)), Msg.ENTER);
  }

  const loop = serve(
    reader,
    (conn, data, offset, length) => {
      const b = bots.get(conn);
      if (b === undefined || length < 10) return;
      // from the gateway: `u64 from · u16 type · payload`
      const type = /** @type {number} */ (data[offset + 8]) | (/** @type {number} */ (data[offset + 9]) << 8);
      if (type === Msg.HELLO) {
        b.channel = readChannel(data, offset + 10);
        enter(b);
      } else if (type === Msg.YOU_ARE_IN) {
        const it = iterate(data, offset + 10, offset + length);
        b.zone = Number(it.getUint64());
        b.zoneName = it.getString();
      } else if (type === Msg.STATE) b.states++;
    },
    undefined,
    'bots',
  );

  const tick = setInterval(() => {
    const now = performance.now();
    for (const b of bots.values()) {
      if (b.channel === 0) continue;
      if (b.zone === 0) {
        // Not placed yet (the zone's answer can be lost while subscriptions spread): ask again.
        if (now - b.lastEnter >= ENTER_RETRY_MS) enter(b);
        continue;
      }
      b.x += (b.vx * MOVE_EVERY_MS) / 1000;
      if (b.x < 1 || b.x > WORLD_WIDTH - 1) {
        b.vx = -b.vx;
        b.x = Math.min(WORLD_WIDTH - 1, Math.max(1, b.x));
      }
      sendPosition(b, b.zone, Msg.MOVE);
    }
  }, MOVE_EVERY_MS);

  return {
    /** Bots whose TCP connection to the gateway opened. */
    connected: bots.size,
    /** Bots the gateway greeted (they have a channel). */
    get greeted() {
      let n = 0;
      for (const b of bots.values()) if (b.channel !== 0) n++;
      return n;
    },
    /** Bots a zone placed in the world. */
    get placed() {
      let n = 0;
      for (const b of bots.values()) if (b.zone !== 0) n++;
      return n;
    },
    /** STATE datagrams received, all bots together. */
    get states() {
      let n = 0;
      for (const b of bots.values()) n += b.states;
      return n;
    },
    /** Stop moving, disconnect (the gateway sees each bot go), shut the threads down. */
    async stop() {
      clearInterval(tick);
      for (const b of bots.values()) manager.closeConnection(b.conn);
      await loop.stop();
      await manager.shutdownAsync({ timeoutMs: 2000 }).catch(() => undefined);
    },
  };
}

/** A small seeded PRNG (the same run, the same bots). @param {number} seed */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
