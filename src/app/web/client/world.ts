/**
 * What the page knows of the world: its own entity (from WELCOME), the entities of the latest
 * SNAPSHOTs, and the round trip of its inputs (from each snapshot's ack). Decodes with the game's
 * own `protocol.ts`; positions are interpolated between the last two snapshots for drawing. Pure
 * (no DOM, no sockets), so Node tests drive it directly.
 *
 * Thread: any (the page's main thread in practice).
 * @module
 */
import type { Datagram } from '../../../datagram/datagram.js';
import { InPlaceReader, MessageType, decodeSnapshot } from '../../protocol.js';

/** An entity as drawn: interpolated position. */
export interface DrawnEntity {
  id: number;
  x: number;
  y: number;
}

interface Tracked {
  px: number;
  py: number;
  x: number;
  y: number;
}

/** What {@link WorldState.apply} made of a datagram. */
export type Applied = 'welcome' | 'snapshot' | 'ignored';

/**
 * The client's view of the world, fed with every datagram the server sends.
 *
 * Thread: any (one thread).
 */
export class WorldState {
  /** Our entity (WELCOME), -1 before it. */
  entityId = -1;
  /** Server tick rate, Hz (WELCOME; 20 until then). */
  tickRate = 20;
  /** Side of the square world (WELCOME; 1000 until then). */
  worldSize = 1000;
  /** Latest snapshot's tick, -1 before any. */
  tick = -1;
  /** Snapshots applied. */
  snapshots = 0;
  /** Datagrams that were neither a WELCOME nor a well-formed SNAPSHOT. */
  ignored = 0;
  /** Latest input round trip, ms (null until a snapshot acks one of our inputs). */
  rttMs: number | null = null;
  /** Sequence of the latest input the server acked (0: none). */
  ackedSequence = 0;

  readonly #entities = new Map<number, Tracked>();
  readonly #reader = new InPlaceReader();
  #snapshotAtMs = 0;

  /** Applies one datagram received at `nowMs` (the clock the inputs' send times use). Thread: the state's thread. */
  apply(dg: Datagram, nowMs: number): Applied {
    const bytes = dg.getMessageView();
    const type = this.#reader.type(bytes, 0, bytes.length);
    if (type === MessageType.WELCOME) {
      const w = this.#reader.welcome(bytes, 0, bytes.length);
      if (w === null) return this.#ignore();
      this.entityId = w.entityId;
      this.tickRate = w.tickRate > 0 ? w.tickRate : 20;
      this.worldSize = w.worldSize > 0 ? w.worldSize : 1000;
      return 'welcome';
    }
    if (type !== MessageType.SNAPSHOT) return this.#ignore();
    let snap;
    try {
      snap = decodeSnapshot(dg);
    } catch {
      return this.#ignore();
    }
    const seen = new Set<number>();
    for (const e of snap.entities) {
      seen.add(e.id);
      const t = this.#entities.get(e.id);
      if (t === undefined) this.#entities.set(e.id, { px: e.x, py: e.y, x: e.x, y: e.y });
      else {
        t.px = t.x;
        t.py = t.y;
        t.x = e.x;
        t.y = e.y;
      }
    }
    for (const id of this.#entities.keys()) if (!seen.has(id)) this.#entities.delete(id);
    this.tick = snap.tick;
    this.snapshots++;
    this.#snapshotAtMs = nowMs;
    if (snap.ack.sequence > 0 && snap.ack.sequence !== this.ackedSequence) {
      this.ackedSequence = snap.ack.sequence;
      this.rttMs = Math.max(0, nowMs - snap.ack.sendTimeMs - snap.ack.holdMs);
    }
    return 'snapshot';
  }

  /** Entities in the latest snapshot. Thread: the state's thread. */
  get entityCount(): number {
    return this.#entities.size;
  }

  /** Our entity's latest position (not interpolated), or null when the latest snapshot did not carry it. Thread: the state's thread. */
  self(): { x: number; y: number } | null {
    const t = this.#entities.get(this.entityId);
    return t === undefined ? null : { x: t.x, y: t.y };
  }

  /**
   * Every entity at `nowMs`, moving from its previous snapshot position to its latest over one tick
   * (so drawing is one tick behind and smooth). Thread: the state's thread.
   */
  positionsAt(nowMs: number): DrawnEntity[] {
    const a = Math.min(1, Math.max(0, ((nowMs - this.#snapshotAtMs) * this.tickRate) / 1000));
    const out: DrawnEntity[] = [];
    for (const [id, t] of this.#entities) out.push({ id, x: t.px + (t.x - t.px) * a, y: t.py + (t.y - t.py) * a });
    return out;
  }

  #ignore(): Applied {
    this.ignored++;
    return 'ignored';
  }
}
