/**
 * The live view's text: the plain line scripts parse, the terminal frame, the summary, and when
 * ANSI redraws are used.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { BotReport } from '../../src/app/bots.js';
import { ANSI_REDRAW, LiveView, fmtBytes, fmtMs, fmtPct, formatFrame, formatLine, formatSummary } from '../../src/app/live-view.js';
import type { Sample } from '../../src/app/sampler.js';

const rtt = { count: 100, p50: 0.62, p99: 1.9, max: 4 };
const bots: BotReport = {
  bots: 20,
  connected: 20,
  peakConnected: 20,
  connecting: 0,
  failed: 0,
  connectErrors: 0,
  disconnects: 0,
  inputsSent: 400,
  sendFailures: 0,
  snapshotsReceived: 390,
  bytesReceived: 100_000,
  rtt,
  rttTotal: rtt,
  latency: { count: 100, p50: 25, p99: 50, max: 60 },
  latencyTotal: { count: 100, p50: 25, p99: 50, max: 60 },
  elapsedMs: 3000,
};

function sample(over: Partial<Sample> = {}): Sample {
  return {
    elapsedS: 3.02,
    intervalS: 1,
    host: '127.0.0.1',
    port: 9099,
    threadsAsked: 2,
    tickRate: 20,
    connections: 21,
    clients: 20,
    datagramsInPerS: 400,
    bytesInPerS: 8400,
    datagramsOutPerS: 400,
    bytesOutPerS: 108_000,
    datagramsIn: 1200,
    bytesIn: 25_200,
    datagramsOut: 1200,
    bytesOut: 324_000,
    accepts: 20,
    resets: 0,
    resetsPerS: 0,
    backpressurePauses: 0,
    tcpWrites: 1000,
    tcpReads: 600,
    outboundSleeps: 40,
    manager: { threads: [], connections: 21, resetsReported: 0, readers: [], writers: [] },
    readers: [
      { id: 1, polled: false, queued: 0, maxQueue: 50_000, overflow: false, dropped: 0 },
      { id: 2, polled: false, queued: 3, maxQueue: 50_000, overflow: false, dropped: 0 },
    ],
    writers: [{ slot: 1, threads: 2, queued: 0, maxQueue: 10_000 }],
    overflow: false,
    dropped: 0,
    mainUtilization: 0.034,
    threads: [
      { index: 0, alive: true, connections: 11, utilization: 0.066, datagramsInPerS: 200, datagramsOutPerS: 200 },
      { index: 1, alive: true, connections: 10, utilization: 0.022, datagramsInPerS: 200, datagramsOutPerS: 200 },
    ],
    ticksPerS: 20,
    tickMs: 0.38,
    tickMaxMs: 2,
    loop: { steps: 60, late: 0, skipped: 0, busyMs: 20, maxBusyMs: 2 },
    game: { joins: 20, leaves: 0, inputs: 1200, ignored: 0, snapshotsSent: 1200, snapshotBytes: 324_000, sendFailures: 0, refused: 0, spectators: 0 },
    inputsPerS: 400,
    snapshotsPerS: 400,
    bots,
    botsInputsPerS: 401,
    botsSnapshotsPerS: 399.6,
    ...over,
  };
}

class Sink extends Writable {
  text = '';
  isTTY: boolean;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('live view', () => {
  it('formats numbers compactly', () => {
    expect(fmtBytes(999)).toBe('999 B');
    expect(fmtBytes(8400)).toBe('8.40 kB');
    expect(fmtBytes(3_200_000)).toBe('3.20 MB');
    expect(fmtPct(0.034)).toBe('3.4%');
    expect(fmtPct(0.5)).toBe('50%');
    expect(fmtMs(0.618)).toBe('0.62 ms');
    expect(fmtMs(25.34)).toBe('25.3 ms');
  });

  it('writes one parseable line per sample', () => {
    const line = formatLine(sample());
    expect(line).toBe(
      '[  3s] conns 21 clients 20 | in 400 dg/s 8.40 kB/s | out 400 dg/s 108 kB/s | queues r 0/50000 3/50000 w 0/10000 | overflow no | resets 0 | main 3.4% | io 6.6% 2.2% | tick 20/s 0.38 ms | bots 20/20 inputs 401/s snaps 400/s rtt p50 0.62 ms p99 1.90 ms',
    );
    expect(formatLine(sample({ bots: null }))).not.toContain('bots');
    const flagged = formatLine(sample({ overflow: true, readers: [{ id: 2, polled: false, queued: 5, maxQueue: 5, overflow: true, dropped: 7 }] }));
    expect(flagged).toContain('overflow reader #2 (7 dropped)');
  });

  it('draws frames with ANSI on a terminal, plain lines otherwise', () => {
    const tty = new Sink(true);
    const fancy = new LiveView(tty);
    expect(fancy.fancy).toBe(true);
    fancy.pin('pinned line');
    fancy.render(sample());
    fancy.render(sample());
    fancy.close();
    expect(tty.text.split(ANSI_REDRAW).length).toBe(3);
    expect(tty.text).toContain(' round trip     p50 0.62 ms · p99 1.90 ms');
    expect(tty.text).toContain('(324 kB) in 1,000 TCP writes');
    expect(tty.text).toContain('(25.2 kB) in 600 TCP reads');
    expect(tty.text.split('pinned line').length).toBe(4); // written once, then at the bottom of both frames

    const forced = new LiveView(new Sink(true), { plain: true });
    expect(forced.fancy).toBe(false);
    const pipe = new Sink(false);
    const plain = new LiveView(pipe);
    plain.render(sample());
    expect(pipe.text).not.toContain('\u001b');
    expect(pipe.text.endsWith('\n')).toBe(true);
    expect(formatFrame(sample()).length).toBeGreaterThan(8);
  });

  it('summarises a run, saying whether it was clean', () => {
    const base = {
      durationS: 5.04,
      host: '127.0.0.1',
      port: 9099,
      threads: 2,
      tickRate: 20,
      server: { ...sample().game, ticks: 100, lateTicks: 0, skippedTicks: 0, datagramsIn: 1, datagramsOut: 1, bytesIn: 1, bytesOut: 1, resets: 20, overflow: false, dropped: 0 },
      bots,
      problems: [],
    };
    const lines = formatSummary(base);
    expect(lines.every((l) => l.startsWith('summary'))).toBe(true);
    expect(lines).toContain('summary bots: 20/20 connected at peak, 0 failed, 400 inputs sent, 390 snapshots received, 0 dropped by the server');
    expect(lines.at(-1)).toBe('summary: clean exit');
    expect(formatSummary({ ...base, problems: ['bots process exited unexpectedly (SIGKILL)'] }).at(-1)).toBe('summary: FAILED: bots process exited unexpectedly (SIGKILL)');
  });
});
