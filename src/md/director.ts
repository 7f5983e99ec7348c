/**
 * The message director's logic, without sockets: participants, control messages, routing, post-removes,
 * termination, and Astron's tree rules as calls on a {@link DirectorOutput}. {@link MessageDirector}
 * wires it to pandanet connections; tests can drive it directly.
 *
 * Rules (docs/cluster.md, from Astron's behaviour):
 * - A datagram goes to every participant subscribed to any of its recipients (channel or range), once
 *   per participant, byte for byte, never back to its sender. No subscriber: dropped (still forwarded
 *   upstream when it came from a local participant).
 * - A control datagram (one recipient, channel 1, no sender) from a participant is acted on, never
 *   routed; from upstream it is an ordinary datagram (routed to subscribers of channel 1, if any).
 * - A truncated datagram (or a control message with missing arguments) terminates its sender: its
 *   subscriptions go, its post-removes fire, nothing more it sends is routed. From upstream, it is
 *   logged and dropped.
 * - When a participant goes (disconnect, reset, termination), its subscriptions are removed (with
 *   the upstream REMOVEs of {@link ChannelMap.unsubscribeAll}), then its post-removes are routed as if
 *   it had sent them, key by key, each key followed by CLEAR_POST_REMOVES upstream.
 * - Upstream (when configured): every datagram a local participant sends (post-removes included) is
 *   forwarded unchanged; datagrams from upstream are only delivered locally; subscription changes are
 *   forwarded as {@link ChannelMap} says; ADD_POST_REMOVE is forwarded when added, CLEAR_POST_REMOVES
 *   when asked and after a participant's post-removes fired.
 *
 * Pure module. Thread: the owner's thread only (the main thread for {@link MessageDirector}).
 * @module
 */
import { MdDatagramError } from '../errors.js';
import { ChannelMap, type RouteTarget } from './channel-map.js';
import { newMdHeader, parseMdControl, readMdHeader, type ChannelKey, type MdControl, type MdHeader } from './protocol.js';

/** One participant (a connection to this MD) as the director sees it. Thread: the director's owner. */
export class MdParticipantRecord<C> implements RouteTarget {
  routeStamp = 0;
  /** `active` until it goes; `terminated` when the MD cut it off (its socket may still be open for a while); `gone` when removed. */
  state: 'active' | 'terminated' | 'gone' = 'active';
  /** SET_CON_NAME (for logs). */
  name = '';
  /** SET_CON_URL (for logs). */
  url = '';
  /** Post-removes by key, in the order added. */
  readonly postRemoves = new Map<ChannelKey, Uint8Array[]>();
  /** Datagrams it sent (control messages included). */
  datagramsIn = 0;
  /** Datagrams routed to it. */
  datagramsOut = 0;
  /** {@link Director.receiveMeshBatch}'s per-batch chain of this participant's datagrams: the batch it belongs to, first and last entry. */
  batchStamp = 0;
  batchHead = -1;
  batchTail = -1;

  constructor(
    /** Director-wide id (for logs). */
    readonly id: number,
    /** The transport's handle (a pandanet `Connection` in {@link MessageDirector}). */
    readonly conn: C,
  ) {}

  /** A name for logs: the SET_CON_NAME name, else `participant #id`. */
  label(): string {
    return this.name !== '' ? `'${this.name}' (#${this.id})` : `participant #${this.id}`;
  }
}

/** What the director asks of its transport. Thread: the director's owner. */
export interface DirectorOutput<C> {
  /**
   * Routes `data[offset, offset + length)` unchanged to `to[0 .. n)` and, when `up`, upstream. Called
   * once per datagram; the bytes are valid only during the call. Must not call back into the director
   * (report a failed send later, e.g. with {@link Director.terminate} after the call).
   */
  route(data: Uint8Array, offset: number, length: number, to: readonly MdParticipantRecord<C>[], n: number, up: boolean): void;
  /** Sends a control message upstream (only called when the director has an upstream). */
  controlUp(msg: MdControl): void;
  /** The transport side of a termination: stop reading `p` now, close it later (see docs/cluster.md). */
  terminated(p: MdParticipantRecord<C>, reason: string): void;
  /** A log line. */
  log(level: 'debug' | 'info' | 'warning' | 'error', message: string): void;
}

/**
 * The director's hooks into a cluster mesh (`src/md/mesh.ts`), when the node has one. Called
 * synchronously from the director's calls; must not call back into the director. Thread: the
 * director's owner.
 */
export interface DirectorMesh<C> {
  /** A datagram from a local participant (post-removes included) was routed: send it to the remote nodes holding a recipient. */
  forward(data: Uint8Array, offset: number, length: number, h: MdHeader): void;
  /** This node's interest changed: ADD/REMOVE_CHANNEL (first channel subscriber / last one), ADD/REMOVE_RANGE (set semantics). */
  interest(msgs: readonly MdControl[]): void;
  /** `p`'s stored post-removes changed (added or cleared). */
  postRemovesChanged(p: MdParticipantRecord<C>): void;
  /** `p` is gone and its post-removes fired (they must no longer be held cluster-wide). */
  participantGone(p: MdParticipantRecord<C>): void;
}

/** Counters of a {@link Director}. Thread: any (a snapshot). */
export interface DirectorCounters {
  /** Participants now active. */
  participants: number;
  /** Non-control datagrams from local participants (post-removes included). */
  datagramsIn: number;
  /** Control messages from local participants. */
  controlIn: number;
  /** Datagrams from upstream. */
  fromUpstream: number;
  /** Datagrams that reached at least one local participant. */
  routed: number;
  /** Deliveries to local participants (a datagram to 3 participants counts 3). */
  deliveries: number;
  /** Datagrams no local participant was subscribed to. */
  droppedNoSubscriber: number;
  /** Datagrams forwarded upstream (local traffic and post-removes). */
  toUpstream: number;
  /** Control messages sent upstream. */
  controlUp: number;
  /** Participants terminated by the MD (truncated datagram, slow consumer...). */
  terminated: number;
  /** Truncated datagrams seen (from participants or upstream). */
  truncated: number;
  /** Unknown control codes seen. */
  unknownControl: number;
  /** Post-remove datagrams routed. */
  postRemovesFired: number;
}

/** The routing/state machine of one message director. Thread: the owner's thread only. */
export class Director<C> {
  readonly map = new ChannelMap<MdParticipantRecord<C>>();
  readonly #out: DirectorOutput<C>;
  readonly #participants = new Set<MdParticipantRecord<C>>();
  readonly #header: MdHeader = newMdHeader();
  readonly #recipients: MdParticipantRecord<C>[] = [];
  /** {@link receiveMeshBatch}'s scratch: batch generation, participants in first-seen order, entries (offset, length) and each entry's next of the same participant. */
  #batchGen = 0;
  readonly #batchWho: MdParticipantRecord<C>[] = [];
  readonly #one: MdParticipantRecord<C>[] = [];
  #batchOff = new Int32Array(2 * 1024);
  #batchNext = new Int32Array(1024);
  #nextId = 1;
  #mesh: DirectorMesh<C> | null = null;
  /** Whether this node has a parent (tree rules apply). */
  readonly hasUpstream: boolean;
  readonly counters: DirectorCounters = {
    participants: 0,
    datagramsIn: 0,
    controlIn: 0,
    fromUpstream: 0,
    routed: 0,
    deliveries: 0,
    droppedNoSubscriber: 0,
    toUpstream: 0,
    controlUp: 0,
    terminated: 0,
    truncated: 0,
    unknownControl: 0,
    postRemovesFired: 0,
  };

  constructor(out: DirectorOutput<C>, options: { upstream: boolean }) {
    this.#out = out;
    this.hasUpstream = options.upstream;
  }

  /** Attaches the cluster mesh (once, before participants connect; never together with an upstream). */
  attachMesh(mesh: DirectorMesh<C>): void {
    this.#mesh = mesh;
  }

  /** A new participant on `conn`. */
  addParticipant(conn: C): MdParticipantRecord<C> {
    const p = new MdParticipantRecord(this.#nextId++, conn);
    this.#participants.add(p);
    this.counters.participants = this.#participants.size;
    return p;
  }

  /** Active participants. */
  participants(): IterableIterator<MdParticipantRecord<C>> {
    return this.#participants.values();
  }

  /**
   * A datagram `data[offset, offset + length)` from participant `p` (ignored unless `p` is active).
   * Control messages are acted on; others routed. A truncated one terminates `p`.
   */
  receive(p: MdParticipantRecord<C>, data: Uint8Array, offset: number, length: number): void {
    if (p.state !== 'active') return;
    p.datagramsIn++;
    const h = this.#header;
    const bad = readMdHeader(data, offset, length, h);
    if (bad !== null) {
      this.counters.truncated++;
      this.terminate(p, `truncated datagram (${bad})`);
      return;
    }
    if (h.control) {
      this.counters.controlIn++;
      let msg: MdControl;
      try {
        msg = parseMdControl(data, h);
      } catch (err) {
        if (!(err instanceof MdDatagramError)) throw err;
        this.counters.truncated++;
        this.terminate(p, `truncated control message (${err.message})`);
        return;
      }
      this.#control(p, msg);
      return;
    }
    this.counters.datagramsIn++;
    this.#route(p, data, offset, length, h);
  }

  /** A datagram from upstream: delivered locally, never sent back up. Truncated: logged and dropped. */
  receiveFromUpstream(data: Uint8Array, offset: number, length: number): void {
    const h = this.#header;
    const bad = readMdHeader(data, offset, length, h);
    this.counters.fromUpstream++;
    if (bad !== null) {
      this.counters.truncated++;
      this.#out.log('warning', `md: truncated datagram from upstream (${bad}); dropped`);
      return;
    }
    this.#route(null, data, offset, length, h);
  }

  /**
   * A batch of datagrams from another node of the mesh, `[u16 LE length][datagram]…` in
   * `data[0, end)`: delivered to local subscribers only (never forwarded), grouped by recipient — each participant's
   * datagrams of the batch go out one after the other, in the batch's order (so a participant's run
   * becomes one batch record of the writer, and the order per sender and receiver holds), the
   * participants in the order of their first datagram. Truncated datagrams: logged and dropped; a
   * cut-off last frame ends the batch. Returns the number of datagrams read.
   */
  receiveMeshBatch(data: Uint8Array, end: number): number {
    const h = this.#header;
    const to = this.#recipients;
    const gen = ++this.#batchGen;
    const who = this.#batchWho;
    let whoN = 0;
    let offs = this.#batchOff;
    let next = this.#batchNext;
    let entries = 0;
    let count = 0;
    let at = 0;
    while (at + 2 <= end) {
      const length = data[at]! | (data[at + 1]! << 8);
      const offset = at + 2;
      if (offset + length > end) break;
      at = offset + length;
      count++;
      if (readMdHeader(data, offset, length, h) !== null) {
        this.counters.truncated++;
        this.#out.log('warning', 'md: truncated datagram from the mesh; dropped');
        continue;
      }
      const n = this.map.collect(data, h.recipients, h.count, to, null);
      if (n === 0) {
        this.counters.droppedNoSubscriber++;
        continue;
      }
      this.counters.routed++;
      this.counters.deliveries += n;
      if (entries + n > next.length) {
        const cap = Math.max(2 * next.length, entries + n);
        const o2 = new Int32Array(2 * cap);
        o2.set(offs);
        const n2 = new Int32Array(cap);
        n2.set(next);
        this.#batchOff = offs = o2;
        this.#batchNext = next = n2;
      }
      for (let i = 0; i < n; i++) {
        const p = to[i]!;
        p.datagramsOut++;
        const e = entries++;
        offs[2 * e] = offset;
        offs[2 * e + 1] = length;
        next[e] = -1;
        if (p.batchStamp !== gen) {
          p.batchStamp = gen;
          p.batchHead = e;
          who[whoN++] = p;
        } else next[p.batchTail] = e;
        p.batchTail = e;
      }
    }
    const one = this.#one;
    for (let w = 0; w < whoN; w++) {
      const p = who[w]!;
      one[0] = p;
      for (let e = p.batchHead; e >= 0; e = next[e]!) this.#out.route(data, offs[2 * e]!, offs[2 * e + 1]!, one, 1, false);
    }
    who.length = 0;
    return count;
  }

  /**
   * A post-remove of a participant of a dead node, fired by this node: routed to local subscribers
   * and to every remote node holding a recipient, as if its participant had sent it.
   */
  firePostRemoveOfDeadNode(dg: Uint8Array): void {
    const h = this.#header;
    if (readMdHeader(dg, 0, dg.length, h) !== null) {
      this.#out.log('warning', 'md: a dead node\'s post-remove is truncated; not routed');
      return;
    }
    this.counters.postRemovesFired++;
    this.#route(null, dg, 0, dg.length, h);
    this.#mesh?.forward(dg, 0, dg.length, h);
  }

  #route(from: MdParticipantRecord<C> | null, data: Uint8Array, offset: number, length: number, h: MdHeader): void {
    const to = this.#recipients; // reused: collect overwrites or appends, so it never has holes
    const n = this.map.collect(data, h.recipients, h.count, to, from);
    const up = from !== null && this.hasUpstream;
    if (n > 0) {
      this.counters.routed++;
      this.counters.deliveries += n;
      for (let i = 0; i < n; i++) to[i]!.datagramsOut++;
    } else this.counters.droppedNoSubscriber++;
    if (up) this.counters.toUpstream++;
    if (n > 0 || up) this.#out.route(data, offset, length, to, n, up);
    if (from !== null && this.#mesh !== null) this.#mesh.forward(data, offset, length, h);
  }

  /** A change of this node's interest: upstream (tree rules) and to the mesh. */
  #sub(msg: MdControl | null): void {
    if (msg === null) return;
    this.#up(msg);
    this.#mesh?.interest([msg]);
  }

  #up(msg: MdControl | null): void {
    if (msg === null || !this.hasUpstream) return;
    this.counters.controlUp++;
    this.#out.controlUp(msg);
  }

  #control(p: MdParticipantRecord<C>, msg: MdControl): void {
    switch (msg.kind) {
      case 'addChannel':
        this.#sub(this.map.subscribeChannel(p, msg.channel));
        return;
      case 'removeChannel':
        this.#sub(this.map.unsubscribeChannel(p, msg.channel));
        return;
      case 'addRange':
        this.#sub(this.map.subscribeRange(p, msg.lo, msg.hi));
        return;
      case 'removeRange': {
        // REMOVE_RANGE also drops p's channel subscriptions inside it, without a REMOVE_CHANNEL for
        // the tree (as Astron); the mesh must hear of the channels that lost their last subscriber.
        const inside = this.#mesh === null ? null : this.map.channelsOf(p).filter((c) => msg.lo <= c && c <= msg.hi);
        for (const m of this.map.unsubscribeRange(p, msg.lo, msg.hi)) this.#sub(m);
        if (inside !== null) {
          const gone = inside.filter((c) => this.map.channelSubscriberCount(c) === 0);
          if (gone.length > 0) this.#mesh!.interest(gone.map((c): MdControl => ({ kind: 'removeChannel', channel: c })));
        }
        return;
      }
      case 'addPostRemove': {
        const list = p.postRemoves.get(msg.key);
        if (list === undefined) p.postRemoves.set(msg.key, [msg.datagram]);
        else list.push(msg.datagram);
        this.#up(msg);
        this.#mesh?.postRemovesChanged(p);
        return;
      }
      case 'clearPostRemoves':
        p.postRemoves.delete(msg.key);
        this.#up(msg);
        this.#mesh?.postRemovesChanged(p);
        return;
      case 'setConName':
        p.name = msg.name;
        return;
      case 'setConUrl':
        p.url = msg.url;
        return;
      case 'logMessage':
        this.#out.log('info', `md: log message from ${p.label()} (${msg.blob.length} bytes)`);
        return;
      case 'unknown':
        this.counters.unknownControl++;
        this.#out.log('warning', `md: unknown control message ${msg.msgType} from ${p.label()}; ignored`);
        return;
    }
  }

  /**
   * The MD cuts `p` off (truncated datagram, slow consumer): it is removed (subscriptions go, its
   * post-removes fire) and the transport told to stop reading it. No-op unless `p` is active.
   */
  terminate(p: MdParticipantRecord<C>, reason: string): void {
    if (p.state !== 'active') return;
    p.state = 'terminated';
    this.counters.terminated++;
    this.#out.log('warning', `md: terminating ${p.label()}: ${reason}`);
    this.#out.terminated(p, reason);
    this.#remove(p);
  }

  /**
   * `p` disconnected (FIN or reset): its subscriptions go and its post-removes fire. Idempotent (a
   * terminated participant's later disconnect only marks it gone).
   */
  disconnected(p: MdParticipantRecord<C>): void {
    if (p.state === 'active') this.#remove(p);
    p.state = 'gone';
  }

  /**
   * Forgets `p` without firing its post-removes or telling upstream anything (a clean stop of the
   * whole node: in a tree, the parent still holds the forwarded post-removes and fires them when this
   * node's link closes).
   */
  forget(p: MdParticipantRecord<C>): void {
    this.map.unsubscribeAll(p);
    this.#participants.delete(p);
    this.counters.participants = this.#participants.size;
    p.state = 'gone';
  }

  #remove(p: MdParticipantRecord<C>): void {
    for (const m of this.map.unsubscribeAll(p)) this.#sub(m);
    this.#participants.delete(p);
    this.counters.participants = this.#participants.size;
    const h = this.#header;
    for (const [key, list] of p.postRemoves) {
      for (const dg of list) {
        const bad = readMdHeader(dg, 0, dg.length, h);
        if (bad !== null) {
          this.#out.log('warning', `md: post-remove of ${p.label()} is truncated (${bad}); not routed`);
          continue;
        }
        this.counters.postRemovesFired++;
        this.counters.datagramsIn++;
        this.#route(p, dg, 0, dg.length, h);
      }
      this.#up({ kind: 'clearPostRemoves', key });
    }
    p.postRemoves.clear();
    this.#mesh?.participantGone(p);
  }

  /**
   * The control messages that rebuild this node's state on a (re)connected parent: ADD_CHANNEL for
   * every channel with a local channel subscriber, ADD_RANGE for every interval held by local range
   * subscriptions, ADD_POST_REMOVE for every pending post-remove. Sends them through
   * {@link DirectorOutput.controlUp}; returns how many.
   */
  resyncUpstream(): number {
    if (!this.hasUpstream) return 0;
    let n = 0;
    for (const c of this.map.subscribedChannels()) {
      this.#up({ kind: 'addChannel', channel: c });
      n++;
    }
    for (const r of this.map.coveredRanges()) {
      this.#up({ kind: 'addRange', lo: r.lo, hi: r.hi });
      n++;
    }
    for (const p of this.#participants) {
      for (const [key, list] of p.postRemoves) {
        for (const dg of list) {
          this.#up({ kind: 'addPostRemove', key, datagram: dg });
          n++;
        }
      }
    }
    return n;
  }
}
