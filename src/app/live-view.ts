/**
 * The terminal view of a running server: one frame a second, redrawn in place (ANSI "cursor home,
 * clear to end") when stdout is a terminal, one plain line per second otherwise (`--plain`, pipes,
 * CI logs). Also formats the final summary. The formatting functions are pure, so tests read the
 * same text a user sees.
 *
 * Plain line, one per interval (fields always in this order, so scripts can parse it):
 * ```
 * [  3s] conns 201 clients 200 | in 4000 dg/s 84.0 kB/s | out 4000 dg/s 3.20 MB/s | queues r 0/50000 0/50000 w 0/10000 | overflow no | resets 0 | main 12% | io 8% 9% | tick 20/s 0.41 ms | bots 200/200 inputs 4000/s snaps 4000/s rtt p50 0.62 ms p99 1.90 ms
 * ```
 *
 * Thread: main thread only.
 * @module
 */
import type { BotReport, RttFigures } from './bots.js';
import type { GameServerCounters } from './game-server.js';
import type { Sample } from './sampler.js';

const ESC = '\u001b[';
/** Cursor home + clear screen to the end. */
export const ANSI_REDRAW = `${ESC}H${ESC}J`;
const HIDE_CURSOR = `${ESC}?25l`;
const SHOW_CURSOR = `${ESC}?25h`;

/** `1234567` → `1,234,567`. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Bytes (or bytes per second) with a decimal unit: `84.0 kB`, `3.20 MB`. */
export function fmtBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  if (u === 0) return `${Math.round(v)} B`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

/** A 0..1 fraction as a percentage: `12%`, `0.4%`. */
export function fmtPct(f: number): string {
  const p = f * 100;
  return p >= 10 || p === 0 ? `${Math.round(p)}%` : `${p.toFixed(1)}%`;
}

/** Milliseconds with 2–3 significant digits: `0.62 ms`, `25.3 ms`, `812 ms`. */
export function fmtMs(ms: number): string {
  return `${ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)} ms`;
}

function rttText(r: RttFigures): string {
  return r.count === 0 ? 'rtt - (no samples yet)' : `rtt p50 ${fmtMs(r.p50)} p99 ${fmtMs(r.p99)}`;
}

function overflowText(s: Sample): string {
  const flagged = s.readers.filter((r) => r.overflow);
  if (flagged.length === 0) return 'none';
  return flagged.map((r) => `reader #${r.id} (${fmtInt(r.dropped)} dropped)`).join(', ');
}

function botsLine(b: BotReport, s: Sample): string {
  const failed = b.failed > 0 ? ` failed ${b.failed}` : '';
  return `bots ${b.connected}/${b.bots}${failed} inputs ${Math.round(s.botsInputsPerS)}/s snaps ${Math.round(s.botsSnapshotsPerS)}/s ${rttText(b.rtt)}`;
}

/** The plain one-line form of a sample. */
export function formatLine(s: Sample): string {
  const parts = [
    `[${Math.round(s.elapsedS).toString().padStart(3)}s] conns ${s.connections} clients ${s.clients}`,
    `in ${Math.round(s.datagramsInPerS)} dg/s ${fmtBytes(s.bytesInPerS)}/s`,
    `out ${Math.round(s.datagramsOutPerS)} dg/s ${fmtBytes(s.bytesOutPerS)}/s`,
    `queues r ${s.readers.map((r) => `${r.queued}/${r.maxQueue}`).join(' ') || '-'} w ${s.writers.map((w) => `${w.queued}/${w.maxQueue}`).join(' ') || '-'}`,
    `overflow ${s.overflow ? overflowText(s) : 'no'}`,
    `resets ${s.resets}`,
    `main ${fmtPct(s.mainUtilization)}`,
    `io ${s.threads.map((t) => (t.alive ? fmtPct(t.utilization) : 'dead')).join(' ')}`,
    `tick ${Math.round(s.ticksPerS)}/s ${fmtMs(s.tickMs)}`,
  ];
  if (s.bots !== null) parts.push(botsLine(s.bots, s));
  return parts.join(' | ');
}

/** The full-screen form of a sample (lines, without the ANSI prefix). */
export function formatFrame(s: Sample): string[] {
  const lines = [
    `pandanet · server ${s.host}:${s.port} · ${s.threadsAsked === 0 ? 'polled mode' : `${s.threadsAsked} I/O thread${s.threadsAsked === 1 ? '' : 's'}`} · ${s.tickRate} Hz · up ${Math.round(s.elapsedS)} s · Ctrl-C stops`,
    '',
    ` connections    ${fmtInt(s.connections)} open · ${fmtInt(s.clients)} clients · ${fmtInt(s.accepts)} accepted · ${fmtInt(s.resets)} resets (${s.resetsPerS.toFixed(0)}/s)`,
    ` datagrams in   ${fmtInt(s.datagramsInPerS)}/s · ${fmtBytes(s.bytesInPerS)}/s · total ${fmtInt(s.datagramsIn)} (${fmtBytes(s.bytesIn)}) in ${fmtInt(s.tcpReads)} TCP reads`,
    ` datagrams out  ${fmtInt(s.datagramsOutPerS)}/s · ${fmtBytes(s.bytesOutPerS)}/s · total ${fmtInt(s.datagramsOut)} (${fmtBytes(s.bytesOut)}) in ${fmtInt(s.tcpWrites)} TCP writes`,
    ` queues         readers ${s.readers.map((r) => `#${r.id} ${fmtInt(r.queued)}/${fmtInt(r.maxQueue)}`).join(' ')} · writers ${s.writers.map((w) => `#${w.slot} ${fmtInt(w.queued)}/${fmtInt(w.maxQueue)}`).join(' ')}`,
    ` overflow       ${overflowText(s)} · backpressure pauses ${fmtInt(s.backpressurePauses)}`,
    ` game           ${s.ticksPerS.toFixed(1)} ticks/s · ${fmtMs(s.tickMs)}/tick (longest ${fmtMs(s.tickMaxMs)}) · inputs ${fmtInt(s.inputsPerS)}/s · snapshots ${fmtInt(s.snapshotsPerS)}/s · ignored ${fmtInt(s.game.ignored)}`,
    ` main thread    ${fmtPct(s.mainUtilization)} busy`,
    ` I/O threads    ${s.threads.map((t) => `#${t.index} ${t.alive ? fmtPct(t.utilization) : 'dead'} (${t.connections} sockets)`).join(' · ')}`,
  ];
  const b = s.bots;
  if (b !== null) {
    lines.push(
      ` bots           ${b.connected}/${b.bots} connected${b.connecting > 0 ? ` · ${b.connecting} connecting` : ''}${b.failed > 0 ? ` · ${b.failed} failed` : ''} · inputs ${fmtInt(s.botsInputsPerS)}/s · snapshots ${fmtInt(s.botsSnapshotsPerS)}/s`,
      ` round trip     ${b.rtt.count === 0 ? 'no samples yet' : `p50 ${fmtMs(b.rtt.p50)} · p99 ${fmtMs(b.rtt.p99)} · max ${fmtMs(b.rtt.max)}`}`,
      ` input→snapshot ${b.latency.count === 0 ? 'no samples yet' : `p50 ${fmtMs(b.latency.p50)} · p99 ${fmtMs(b.latency.p99)} (includes the wait for the next tick)`}`,
    );
  }
  return lines;
}

/** Everything the final summary says. */
export interface RunSummary {
  durationS: number;
  host: string;
  port: number;
  threads: number;
  tickRate: number;
  /** Server totals; null when there was no server (`pandanet bots`). */
  server: (GameServerCounters & { ticks: number; lateTicks: number; skippedTicks: number; datagramsIn: number; datagramsOut: number; bytesIn: number; bytesOut: number; resets: number; overflow: boolean; dropped: number }) | null;
  /** The bots' final report; null when there were none. */
  bots: BotReport | null;
  /** Problems that make the run unclean (exit code 1). */
  problems: string[];
}

/** The summary lines, each starting with `summary`. */
export function formatSummary(r: RunSummary): string[] {
  const lines = [`summary: ran ${r.durationS.toFixed(1)} s against ${r.host}:${r.port} (${r.threads === 0 ? 'polled mode' : `${r.threads} I/O threads`}, ${r.tickRate} Hz)`];
  const s = r.server;
  if (s !== null) {
    lines.push(
      `summary server: ${fmtInt(s.joins)} joins, ${fmtInt(s.leaves)} leaves, ${fmtInt(s.ticks)} ticks (${s.lateTicks} late, ${s.skippedTicks} skipped), ` +
        `${fmtInt(s.inputs)} inputs applied, ${fmtInt(s.snapshotsSent)} snapshots sent (${fmtBytes(s.snapshotBytes)}), ${fmtInt(s.sendFailures)} send failures`,
      `summary traffic: in ${fmtInt(s.datagramsIn)} datagrams (${fmtBytes(s.bytesIn)}), out ${fmtInt(s.datagramsOut)} datagrams (${fmtBytes(s.bytesOut)}), ` +
        `resets ${fmtInt(s.resets)}, overflow ${s.overflow ? `yes (${fmtInt(s.dropped)} dropped)` : 'no'}`,
    );
  }
  const b = r.bots;
  if (b !== null) {
    lines.push(
      `summary bots: ${b.peakConnected}/${b.bots} connected at peak, ${b.failed} failed, ${fmtInt(b.inputsSent)} inputs sent, ${fmtInt(b.snapshotsReceived)} snapshots received, ${b.disconnects} dropped by the server`,
      `summary rtt: ${b.rttTotal.count === 0 ? 'no samples' : `p50 ${fmtMs(b.rttTotal.p50)}, p99 ${fmtMs(b.rttTotal.p99)}, max ${fmtMs(b.rttTotal.max)} over ${fmtInt(b.rttTotal.count)} samples`}` +
        (b.latencyTotal.count === 0 ? '' : `; input→snapshot p50 ${fmtMs(b.latencyTotal.p50)}, p99 ${fmtMs(b.latencyTotal.p99)}`),
    );
  }
  lines.push(r.problems.length === 0 ? 'summary: clean exit' : `summary: FAILED: ${r.problems.join('; ')}`);
  return lines;
}

/** Options of a {@link LiveView}. */
export interface LiveViewOptions {
  /** Force plain lines even on a terminal. */
  plain?: boolean;
}

/** Writes samples to a stream, as frames (terminal) or lines. */
export class LiveView {
  readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  /** True when drawing frames in place. */
  readonly fancy: boolean;
  #drawn = false;
  #closed = false;
  readonly #pinned: string[] = [];

  constructor(out: NodeJS.WritableStream & { isTTY?: boolean }, opts: LiveViewOptions = {}) {
    this.out = out;
    this.fancy = out.isTTY === true && opts.plain !== true;
  }

  /** Shows one sample. */
  render(s: Sample): void {
    if (this.#closed) return;
    if (!this.fancy) {
      this.out.write(`${formatLine(s)}\n`);
      return;
    }
    const lines = formatFrame(s);
    if (this.#pinned.length > 0) lines.push('', ...this.#pinned);
    this.out.write(`${this.#drawn ? '' : HIDE_CURSOR}${ANSI_REDRAW}${lines.join('\n')}\n`);
    this.#drawn = true;
  }

  /** Writes a line now, and keeps it at the bottom of every frame (terminal): addresses, endpoints. */
  pin(text: string): void {
    this.#pinned.push(text);
    this.out.write(`${text}\n`);
  }

  /** Writes a line below the view (terminal) or in the stream (plain). */
  note(text: string): void {
    this.out.write(`${text}\n`);
  }

  /** Restores the cursor. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.fancy && this.#drawn) this.out.write(SHOW_CURSOR);
  }
}
