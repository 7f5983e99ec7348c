/**
 * Model test of the writer's accounting (defect 2, "nothing lost, nothing wedged"): random sends
 * (sizes, `block`), refusals (writer queue cap changes including 0, `maxPendingSendBytes` per run,
 * outbound-ring record limit), raw-mode and collect-tcp switches, and a raw `node:net` peer that
 * reads, pauses and drains. After every step each counter is checked against a model of the truth:
 *
 * - `conn.getStats()` datagramsOut / bytesOut = exactly what `send` accepted;
 * - `getPendingSendBytes()` lies between the bytes collect-tcp holds and (accepted framed bytes −
 *   bytes the peer has received); `getCurrentQueueSize()` between 0 and the datagrams accepted
 *   (always 0 for an immediate writer);
 * - each send's outcome is one the state allowed: refused only where a cap or the high-water mark
 *   could refuse it, thrown only past the ring's record limit, accepted otherwise;
 * - at each drain, the peer has received exactly the accepted frames, in order, byte for byte, and
 *   pending bytes and the queue are back to 0.
 *
 * Real sockets, so the run count is small (a few seconds per mode); every wait has a deadline.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Datagram, ErrorCode, PandaNetError, type Connection } from '../../src/index.js';
import { MODES, makeClient, patternBytes, rawListen, waitFor, withNetConfig, type RawPeer } from '../helpers/net.js';

/** SpscRing: a record carries at most capacity/2 − 12 bytes (rounded down to 4). */
const maxRecord = (ringBytes: number): number => (ringBytes / 2 - 12) & ~3;

type Op =
  | { k: 'send'; size: number; block: boolean }
  | { k: 'cap'; n: number }
  | { k: 'pause' }
  | { k: 'resume' }
  | { k: 'raw'; on: boolean }
  | { k: 'collect'; on: boolean }
  | { k: 'flush' }
  | { k: 'drain' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ k: fc.constant('send' as const), size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 900, max: 2100 })), block: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('cap' as const), n: fc.constantFrom(0, 1, 3, 10_000) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'pause' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'resume' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('raw' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('collect' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ k: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'drain' as const }) },
);

const runArb: fc.Arbitrary<Run> = fc.record({
  hwm: fc.constantFrom(0, 1500, 8 << 10, 4 << 20),
  outbound: fc.constantFrom(4096, 1 << 16),
  ops: fc.array(opArb, { minLength: 15, maxLength: 50 }),
});

/** What the test knows to be true. */
interface Model {
  threaded: boolean;
  cap: number;
  raw: boolean;
  collect: boolean;
  paused: boolean;
  /** Datagrams and payload bytes `send` accepted. */
  count: number;
  payload: number;
  /** The accepted frames, in order (what the peer must receive). */
  frames: Buffer[];
  framed: number;
  /** Framed bytes collect-tcp holds (accepted, not yet handed to the thread). */
  held: number;
  seed: number;
}

interface Run {
  /** maxPendingSendBytes of this run's manager. */
  hwm: number;
  /** Outbound ring size of this run's manager (4096: records of at most 2,036 bytes). */
  outbound: number;
  ops: Op[];
}

async function runOnce(threads: number, run: Run): Promise<void> {
  const raw = await rawListen();
  const client = withNetConfig({ maxPendingSendBytes: run.hwm, ringBytes: { outbound: run.outbound } }, () => makeClient(raw.port, threads));
  try {
    await waitFor(() => raw.peers.length === 1, { what: 'the raw peer to accept the client' });
    const peer: RawPeer = raw.peers[0]!;
    const conn: Connection = client.conn;
    const writer = client.writer;
    conn.setSendBufferSize(4096); // small kernel buffers: a paused peer pushes back sooner
    const m: Model = { threaded: threads > 0, cap: writer.getMaxQueueSize(), raw: false, collect: false, paused: false, count: 0, payload: 0, frames: [], framed: 0, held: 0, seed: 1 };
    const ringLimit = maxRecord(run.outbound) - 4; // a batch item: 4-byte record prefix + its header

    const check = (where: string): void => {
      const stats = conn.getStats();
      expect({ datagramsOut: stats.datagramsOut, bytesOut: stats.bytesOut }, `stats ${where}`).toEqual({ datagramsOut: m.count, bytesOut: m.payload });
      const received = peer.received().length; // read before pending: both only move towards the truth
      const pending = conn.getPendingSendBytes();
      expect(received, `bytes at the peer ${where}`).toBeLessThanOrEqual(m.framed - m.held);
      expect(pending, `pending ${where} (held ${m.held})`).toBeGreaterThanOrEqual(m.held);
      expect(pending, `pending ${where} (accepted ${m.framed}, received ${received})`).toBeLessThanOrEqual(m.framed - received);
      const queued = writer.getCurrentQueueSize();
      expect(queued, `queue ${where}`).toBeGreaterThanOrEqual(0);
      expect(queued, `queue ${where}`).toBeLessThanOrEqual(m.threaded ? m.count : 0);
    };

    const drain = async (where: string): Promise<void> => {
      peer.socket.resume();
      m.paused = false;
      if (m.held > 0) {
        expect(conn.flush(), `flush ${where}`).toBe(true);
        m.held = 0;
      }
      const what = (): string => `drain ${where}: peer ${peer.received().length}/${m.framed} bytes, pending ${conn.getPendingSendBytes()}, queue ${writer.getCurrentQueueSize()}`;
      await waitFor(() => peer.received().length >= m.framed && conn.getPendingSendBytes() === 0 && writer.getCurrentQueueSize() === 0, { what });
      expect(Buffer.compare(peer.received(), Buffer.concat(m.frames)), `bytes at the peer ${where}`).toBe(0);
      check(where);
    };

    for (const [i, op] of run.ops.entries()) {
      const where = `after op #${i} ${JSON.stringify(op)}`;
      switch (op.k) {
        case 'send': {
          const payload = patternBytes(op.size, m.seed++);
          const framedLen = op.size + (m.raw ? 0 : 2);
          const collectPath = m.collect || m.held > 0;
          const block = op.block && m.cap > 0; // block with cap 0 would wait its full 2 s
          const pending0 = conn.getPendingSendBytes();
          const queued0 = writer.getCurrentQueueSize();
          // Pending bytes and the queue only fall between these reads and the send (the I/O thread drains them).
          const capMay = m.threaded && !collectPath && queued0 >= m.cap;
          const mustRefuse = run.hwm === 0 || (m.threaded && !collectPath && m.cap === 0);
          const mayRefuse = mustRefuse || pending0 >= run.hwm || capMay;
          const tooLong = !collectPath && op.size > ringLimit - (m.raw ? 0 : 2);
          let outcome: 'accepted' | 'refused' | string;
          try {
            outcome = writer.send(new Datagram(payload), conn, block) ? 'accepted' : 'refused';
          } catch (err) {
            outcome = err instanceof PandaNetError ? err.code : String(err);
          }
          if (outcome === 'accepted') {
            expect(mustRefuse || tooLong, `send accepted ${where} (hwm ${run.hwm}, cap ${m.cap}, ring limit ${ringLimit})`).toBe(false);
            const frame = Buffer.alloc(framedLen);
            if (!m.raw) frame.writeUInt16LE(op.size, 0);
            frame.set(payload, m.raw ? 0 : 2);
            m.frames.push(frame);
            m.count++;
            m.payload += op.size;
            m.framed += framedLen;
            if (m.collect) m.held += framedLen;
            else m.held = 0; // collect off: this send flushed what was held, then its own datagram
          } else if (outcome === 'refused') {
            expect(mayRefuse, `send refused ${where} (pending before ${pending0}, hwm ${run.hwm}, queue before ${queued0}, cap ${m.cap})`).toBe(true);
          } else {
            expect(outcome, `send threw ${where}`).toBe(ErrorCode.TOO_LONG);
            expect(tooLong, `TooLongError ${where} (ring limit ${ringLimit})`).toBe(true);
          }
          break;
        }
        case 'cap':
          writer.setMaxQueueSize(op.n);
          m.cap = op.n;
          break;
        case 'pause':
          peer.socket.pause();
          m.paused = true;
          break;
        case 'resume':
          peer.socket.resume();
          m.paused = false;
          break;
        case 'raw':
          writer.setRawMode(op.on);
          m.raw = op.on;
          break;
        case 'collect':
          conn.setCollectTcp(op.on);
          conn.setCollectTcpInterval(3600);
          if (op.on && !m.collect) {
            // Start the interval now (the flush hands over what was held, if anything).
            expect(conn.flush(), `flush ${where}`).toBe(true);
            m.held = 0;
          }
          m.collect = op.on;
          break;
        case 'flush':
          expect(conn.flush(), `flush ${where}`).toBe(true);
          m.held = 0;
          break;
        case 'drain':
          await drain(where);
          break;
      }
      check(where);
    }
    await drain('at the end');
  } finally {
    client.manager.shutdown();
    for (const p of raw.peers) p.socket.destroy();
    raw.server.close();
  }
}

describe.each(MODES)('send accounting model ($name)', ({ threads }) => {
  it('random sends, refusals, cap changes, pauses and drains: every counter matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(runArb, (run) => runOnce(threads, run)),
      { numRuns: 12, endOnFailure: true },
    );
  });
});
