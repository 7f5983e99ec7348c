// @ts-check
// What the parts of the cluster example share: the world, the channel plan, the message types, and
// the event-driven read loop every part runs. See README.md in this folder.
import { Datagram, DatagramIterator } from 'pandanet';

// ---- the world: a strip of 10 cells, each a "zone id" with its own MD channel ------------------
export const WORLD_WIDTH = 200;
export const WORLD_HEIGHT = 100;
export const CELLS = 10;
export const CELL_WIDTH = WORLD_WIDTH / CELLS;
/** Channel of cell (zone id) k: CELL_BASE + k. Zone server A owns cells 0–4, B owns 5–9 (MD ranges). */
export const CELL_BASE = 4000;
/** Every zone server subscribes here: client goodbyes (post-removes) are addressed to it. */
export const ZONES_ALL = 4100;
/** The gateway's own participant (readiness pings). */
export const GATEWAY_CHANNEL = 4300;
/** Client channels: CLIENT_BASE + n, one per client connection of the gateway. */
export const CLIENT_BASE = 1_000_000;

/** Message types (the `u16 msgtype` of Astron's header). */
export const Msg = Object.freeze({
  /** gateway → client: `u64 yourChannel` (sent by the gateway, from GATEWAY_CHANNEL). */
  HELLO: 2001,
  /** client → cell channel: `f32 x, f32 y` — put me in the world here. */
  ENTER: 2010,
  /** zone → client: `u64 zoneChannel, string zoneName` — send your moves to zoneChannel. */
  YOU_ARE_IN: 2011,
  /** client → zone channel: `f32 x, f32 y`. */
  MOVE: 2012,
  /** zone → every client in the zone (one datagram, many recipients): `u16 n, n × (u64 channel, f32 x, f32 y)`. */
  STATE: 2013,
  /** zone → cell channel of the other zone: `u64 client, f32 x, f32 y` — take this avatar. */
  HANDOVER: 2020,
  /** post-remove of a client's channel, to ZONES_ALL: the client is gone. */
  GONE: 2030,
  /** gateway → cell channel: ping (answered with PONG from that cell channel). */
  PING: 2040,
  PONG: 2041,
});

/** The cell (zone id) of x. @param {number} x */
export function cellOf(x) {
  return Math.min(CELLS - 1, Math.max(0, Math.floor(x / CELL_WIDTH)));
}

/** @param {number} cell */
export function cellChannel(cell) {
  return CELL_BASE + cell;
}

/** The channel at `data[at]` (all channels of this example are below 2^53). @param {Uint8Array} data @param {number} at */
export function readChannel(data, at) {
  let v = 0;
  for (let i = 7; i >= 0; i--) v = v * 256 + /** @type {number} */ (data[at + i]);
  return v;
}

/**
 * An iterator over bytes a `drainData` visitor gets (valid only during the call: copied here).
 * @param {Uint8Array} data @param {number} from @param {number} end
 */
export function iterate(data, from, end) {
  const dg = new Datagram();
  dg.appendData(data, from, end - from);
  return new DatagramIterator(dg);
}

/**
 * The read loop every part runs, as the MessageDirector does: drain what the reader holds, run
 * `after` (accepts, resets), and sleep until the I/O threads deliver (or 5 ms, to notice accepts and
 * disconnects). Works in polled mode (threads 0) too: `poll()` moves what arrived into the queue.
 * @param {import('pandanet').QueuedConnectionReader} reader
 * @param {import('pandanet').DatagramVisitor} visit
 * @param {(() => void)=} after
 * @param {string=} name for error messages
 */
export function serve(reader, visit, after, name = 'loop') {
  let running = true;
  /** @type {import('pandanet').DatagramVisitor} */
  const safeVisit = (conn, data, offset, length, address) => {
    try {
      visit(conn, data, offset, length, address);
    } catch (err) {
      console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const done = (async () => {
    let woken = false;
    while (running) {
      reader.poll();
      const n = reader.drainData(safeVisit, 4096);
      after?.();
      if (!running) break;
      if (n > 0) {
        woken = false;
        await new Promise((r) => setImmediate(r));
      } else if (woken) {
        // woken with nothing to read (data of a connection no longer read): don't spin
        woken = false;
        await new Promise((r) => setTimeout(r, 1));
      } else woken = await reader.waitForDataAsync(5).catch(() => false);
    }
  })();
  return {
    /** Ends the loop; resolves once it has. */
    stop() {
      running = false;
      return done;
    },
  };
}
