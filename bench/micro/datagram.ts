/**
 * Micro benchmark: encode + decode of a typical 64-byte game message.
 *
 * Message: `uint16` message type · `uint32` entity id · three `float32` (position) · a short string
 * (`uint16` length + UTF-8) · zero padding to 64 bytes.
 *
 *  - `pandanet`       `Datagram` (reused with `clear()`) + `DatagramIterator` (re-targeted with
 *                     `assign()`), i.e. the recommended hot-path usage.
 *  - `hand-written`   the same bytes written and read with a `DataView` over a preallocated 64-byte
 *                     buffer at constant offsets, with no validation, and the same techniques pandanet
 *                     uses internally (a JS loop to encode short ASCII strings, one explicit-argument
 *                     `String.fromCharCode` call to decode them, `TextEncoder`/`TextDecoder` otherwise;
 *                     padding zeroed 8 bytes at a time). The ratio against it measures only the cost
 *                     of the API (argument checks, bounds and capacity checks, cursor bookkeeping).
 *  - `hand-idiomatic` (second baseline) the same hand-written code as most people write it:
 *                     `TextEncoder.encodeInto`, `TextDecoder.decode`, `fill()`.
 *  - `pandanet-fresh` (informational, in no ratio) a new `Datagram` and `DatagramIterator` per
 *                     message, as ported Python code usually does.
 *
 * Each task call runs a batch of messages (tinybench times every call; one ~100 ns message per
 * call would mostly measure the timer). The task set is repeated in `rounds` separate benches
 * (default 5) in one process, alternating the order of the first two tasks; the table shows the
 * median and min–max messages/s per task, then the ratios pandanet / hand-written and
 * pandanet / hand-idiomatic (median of the per-round ratios, with min–max). All encoders are
 * checked to produce identical bytes before timing.
 *
 * Build and run: `npx tsc -p tsconfig.bench.json && node build/bench/micro/datagram.js [--rounds=5] [--quick]`.
 *
 * Thread: main() on any thread (it only computes).
 * @module
 */
import { arch, availableParallelism, cpus, platform, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { Datagram, DatagramIterator } from '../../src/datagram/index.js';

const MESSAGE_BYTES = 64;
const BATCH = 1000;
const NAMES = ['player-0001', 'orc_warlord', 'npc:merchant', 'arrow#77'];

/** Options for {@link main}. */
export interface DatagramBenchOptions {
  /** Number of repeated benches of the task set (default 5). */
  rounds: number;
  /** Measuring time per task per round, ms (default 600). */
  timeMs: number;
}

/** One task's results across rounds, in messages (encode + decode) per second. */
export interface TaskSummary {
  name: string;
  rates: number[];
  median: number;
  min: number;
  max: number;
}

/** Everything {@link main} measured. */
export interface DatagramBenchResult {
  tasks: TaskSummary[];
  /** pandanet / hand-written (matched techniques), per round. */
  ratios: number[];
  ratioMedian: number;
  ratioMin: number;
  ratioMax: number;
  /** pandanet / hand-idiomatic, per round. */
  idiomaticRatios: number[];
  idiomaticRatioMedian: number;
}

let sink = 0;

// ------------------------------------------------------------------------------------------------
// pandanet

function encodePandanet(dg: Datagram, i: number): void {
  dg.addUint16(0x2a);
  dg.addUint32(i);
  dg.addFloat32(i * 0.5);
  dg.addFloat32(-i);
  dg.addFloat32(1.25);
  dg.addString(NAMES[i & 3]!);
  dg.padBytes(MESSAGE_BYTES - dg.getLength());
}

function decodePandanet(it: DatagramIterator): number {
  const type = it.getUint16();
  const id = it.getUint32();
  const x = it.getFloat32();
  const y = it.getFloat32();
  const z = it.getFloat32();
  const name = it.getString();
  it.skipBytes(it.getRemainingSize());
  return type + id + x + y + z + name.length;
}

function runPandanet(dg: Datagram, it: DatagramIterator): void {
  let acc = 0;
  for (let i = 0; i < BATCH; i++) {
    dg.clear();
    encodePandanet(dg, i);
    acc += decodePandanet(it.assign(dg));
  }
  sink += acc;
}

function runPandanetFresh(): void {
  let acc = 0;
  for (let i = 0; i < BATCH; i++) {
    const dg = new Datagram();
    encodePandanet(dg, i);
    acc += decodePandanet(new DatagramIterator(dg));
  }
  sink += acc;
}

// ------------------------------------------------------------------------------------------------
// hand-written, matched: the same techniques pandanet uses internally

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function writeString(buf: Uint8Array, view: DataView, off: number, s: string): number {
  let n = 0;
  if (s.length <= 64) {
    for (; n < s.length; n++) {
      const c = s.charCodeAt(n);
      if (c >= 0x80) break;
      buf[off + 2 + n] = c;
    }
  }
  if (n < s.length) n = encoder.encodeInto(s, buf.subarray(off + 2)).written;
  view.setUint16(off, n, true);
  return off + 2 + n;
}

/** ≤ 16 ASCII bytes → string with one explicit-argument `fromCharCode` call (pandanet's technique). */
function asciiChunk(b: Uint8Array, a: number, n: number): string {
  const f = String.fromCharCode;
  switch (n) {
    case 0: return '';
    case 1: return f(b[a]!);
    case 2: return f(b[a]!, b[a + 1]!);
    case 3: return f(b[a]!, b[a + 1]!, b[a + 2]!);
    case 4: return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!);
    case 5: return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!);
    case 6: return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!);
    case 7: return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!);
    case 8: return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!);
    case 9: return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!);
    case 10: return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!, b[a + 9]!);
    case 11: return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!, b[a + 9]!, b[a + 10]!);
    case 12: return f(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!, b[a + 7]!, b[a + 8]!, b[a + 9]!, b[a + 10]!, b[a + 11]!);
    default: return decoder.decode(b.subarray(a, a + n));
  }
}

function readString(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= 16) {
    let any = 0;
    for (let i = start; i < end; i++) any |= buf[i]!;
    if (any < 0x80) return asciiChunk(buf, start, end - start);
  }
  return decoder.decode(buf.subarray(start, end));
}

function encodeHand(buf: Uint8Array, view: DataView, i: number): number {
  view.setUint16(0, 0x2a, true);
  view.setUint32(2, i, true);
  view.setFloat32(6, i * 0.5, true);
  view.setFloat32(10, -i, true);
  view.setFloat32(14, 1.25, true);
  const end = writeString(buf, view, 18, NAMES[i & 3]!);
  // Zero the padding 8 bytes at a time, as Datagram.padBytes does (much cheaper than fill()).
  let p = end;
  for (; p + 8 <= MESSAGE_BYTES; p += 8) view.setFloat64(p, 0);
  for (; p < MESSAGE_BYTES; p++) view.setUint8(p, 0);
  return MESSAGE_BYTES;
}

function decodeHand(buf: Uint8Array, view: DataView, length: number): number {
  const type = view.getUint16(0, true);
  const id = view.getUint32(2, true);
  const x = view.getFloat32(6, true);
  const y = view.getFloat32(10, true);
  const z = view.getFloat32(14, true);
  const n = view.getUint16(18, true);
  if (20 + n > length) throw new RangeError('message overrun');
  const name = readString(buf, 20, 20 + n);
  return type + id + x + y + z + name.length;
}

function runHand(buf: Uint8Array, view: DataView): void {
  let acc = 0;
  for (let i = 0; i < BATCH; i++) {
    const length = encodeHand(buf, view, i);
    acc += decodeHand(buf, view, length);
  }
  sink += acc;
}

// ------------------------------------------------------------------------------------------------
// hand-written, idiomatic: TextEncoder.encodeInto / TextDecoder.decode and fill()

function encodeIdiomatic(buf: Uint8Array, view: DataView, i: number): number {
  view.setUint16(0, 0x2a, true);
  view.setUint32(2, i, true);
  view.setFloat32(6, i * 0.5, true);
  view.setFloat32(10, -i, true);
  view.setFloat32(14, 1.25, true);
  const n = encoder.encodeInto(NAMES[i & 3]!, buf.subarray(20)).written;
  view.setUint16(18, n, true);
  buf.fill(0, 20 + n, MESSAGE_BYTES);
  return MESSAGE_BYTES;
}

function decodeIdiomatic(buf: Uint8Array, view: DataView, length: number): number {
  const type = view.getUint16(0, true);
  const id = view.getUint32(2, true);
  const x = view.getFloat32(6, true);
  const y = view.getFloat32(10, true);
  const z = view.getFloat32(14, true);
  const n = view.getUint16(18, true);
  if (20 + n > length) throw new RangeError('message overrun');
  const name = decoder.decode(buf.subarray(20, 20 + n));
  return type + id + x + y + z + name.length;
}

function runIdiomatic(buf: Uint8Array, view: DataView): void {
  let acc = 0;
  for (let i = 0; i < BATCH; i++) {
    const length = encodeIdiomatic(buf, view, i);
    acc += decodeIdiomatic(buf, view, length);
  }
  sink += acc;
}

// ------------------------------------------------------------------------------------------------

function stats(values: number[]): { median: number; min: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(1)} k`;
}

function sameBytes(): boolean {
  const dg = new Datagram();
  const buf = new Uint8Array(MESSAGE_BYTES);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < 8; i++) {
    dg.clear();
    encodePandanet(dg, i * 12345);
    const a = dg.getMessageView();
    if (a.length !== MESSAGE_BYTES) return false;
    for (const encode of [encodeHand, encodeIdiomatic]) {
      buf.fill(0xee);
      encode(buf, view, i * 12345);
      for (let k = 0; k < MESSAGE_BYTES; k++) if (a[k] !== buf[k]) return false;
    }
  }
  return true;
}

function parseArgs(argv: readonly string[]): DatagramBenchOptions {
  const opts: DatagramBenchOptions = { rounds: 5, timeMs: 600 };
  for (const a of argv) {
    if (a === '--quick') {
      opts.rounds = 2;
      opts.timeMs = 150;
    } else if (a.startsWith('--rounds=')) opts.rounds = Math.max(1, Number.parseInt(a.slice(9), 10) || 5);
  }
  return opts;
}

/**
 * Runs the benchmark and prints the machine, a results table and the ratio. Returns the numbers.
 *
 * Thread: any.
 */
export async function main(options: Partial<DatagramBenchOptions> = {}): Promise<DatagramBenchResult> {
  const opts = { ...parseArgs([]), ...options };
  const cpuList = cpus();
  console.log(
    `machine: ${availableParallelism()} cores (${cpuList[0]?.model.trim() ?? 'unknown CPU'}), ` +
      `${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()}/${arch()}, node ${process.version}, V8 ${process.versions.v8}`,
  );
  console.log(
    `message: ${MESSAGE_BYTES} bytes (uint16, uint32, 3 × float32, short string, padding); ` +
      `${BATCH} encode+decode per task call; ${opts.rounds} rounds × ${opts.timeMs} ms per task`,
  );
  if (!sameBytes()) {
    console.error('pandanet and hand-written encoders disagree: the comparison would be meaningless');
    process.exitCode = 1;
    return { tasks: [], ratios: [], ratioMedian: NaN, ratioMin: NaN, ratioMax: NaN, idiomaticRatios: [], idiomaticRatioMedian: NaN };
  }

  const dg = new Datagram();
  const it = new DatagramIterator();
  const buf = new Uint8Array(MESSAGE_BYTES);
  const view = new DataView(buf.buffer);
  const taskFns: Array<[string, () => void]> = [
    ['pandanet', () => runPandanet(dg, it)],
    ['hand-written', () => runHand(buf, view)],
    ['hand-idiomatic', () => runIdiomatic(buf, view)],
    ['pandanet-fresh', () => runPandanetFresh()],
  ];
  const rates = new Map<string, number[]>(taskFns.map(([n]) => [n, []]));
  const ratios: number[] = [];
  const idiomaticRatios: number[] = [];

  for (let round = 0; round < opts.rounds; round++) {
    // Alternate the order so neither task always runs first.
    const ordered = round % 2 === 0 ? taskFns : [taskFns[1]!, taskFns[0]!, ...taskFns.slice(2)];
    const bench = new Bench({ time: opts.timeMs, warmupTime: 200, throws: true });
    for (const [name, fn] of ordered) bench.add(name, fn);
    await bench.run();
    const roundRates = new Map<string, number>();
    for (const task of bench.tasks) {
      const r = task.result;
      if (r === undefined || r.error !== undefined) throw r?.error ?? new RangeError(`task ${task.name} produced no result`);
      const perSecond = r.throughput.mean * BATCH;
      roundRates.set(task.name, perSecond);
      rates.get(task.name)!.push(perSecond);
    }
    ratios.push(roundRates.get('pandanet')! / roundRates.get('hand-written')!);
    idiomaticRatios.push(roundRates.get('pandanet')! / roundRates.get('hand-idiomatic')!);
  }

  const tasks: TaskSummary[] = taskFns.map(([name]) => ({ name, rates: rates.get(name)!, ...stats(rates.get(name)!) }));
  const ratio = stats(ratios);
  const idiomatic = stats(idiomaticRatios);
  console.log('');
  console.log('task              median msg/s      min – max msg/s        ns/msg (median)');
  for (const t of tasks) {
    console.log(
      `${t.name.padEnd(16)}  ${fmt(t.median).padStart(10)}      ${`${fmt(t.min)} – ${fmt(t.max)}`.padEnd(22)} ${(1e9 / t.median).toFixed(1).padStart(8)}`,
    );
  }
  console.log('');
  console.log(
    `ratio pandanet / hand-written (matched): median ${ratio.median.toFixed(2)}× (min ${ratio.min.toFixed(2)}×, max ${ratio.max.toFixed(2)}×; ` +
      `per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}); target ≥ 0.80×`,
  );
  console.log(
    `ratio pandanet / hand-idiomatic:         median ${idiomatic.median.toFixed(2)}× (min ${idiomatic.min.toFixed(2)}×, max ${idiomatic.max.toFixed(2)}×)`,
  );
  if (sink === 0.5) console.log(''); // keep results observable
  return {
    tasks,
    ratios,
    ratioMedian: ratio.median,
    ratioMin: ratio.min,
    ratioMax: ratio.max,
    idiomaticRatios,
    idiomaticRatioMedian: idiomatic.median,
  };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(parseArgs(process.argv.slice(2))).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
