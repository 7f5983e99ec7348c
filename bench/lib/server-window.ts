/**
 * Measurement windows inside a server process: CPU of every thread, labelled (`main`, `io-0`…
 * `io-N` for pandanet's I/O threads, `other` for V8/libuv helpers), the main thread's time spent
 * waiting for a CPU, process CPU, and pandanet's per-I/O-thread stats (event-loop utilisation from
 * `manager.getThreadStats()`, whose utilisation is "since the previous call": the window's start
 * snapshot makes it the window's).
 *
 * I/O threads are recognised as the threads that appeared while the pandanet objects were made
 * ({@link ThreadLabels.markBefore} / {@link ThreadLabels.markAfter}), in creation order (ascending
 * thread id), which is the pool's index order. Node names every thread "node", so there is nothing
 * better to go by.
 *
 * Thread: main thread of a server process.
 * @module
 */
import { readdirSync } from 'node:fs';
import type { ThreadStats } from '../../src/index.js';
import { allThreadsCpuUs, cpuSource, threadCpuUs, threadRunDelayUs } from './thread-cpu.js';

function tids(): number[] {
  try {
    return readdirSync('/proc/self/task')
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/** Thread id → label. */
export class ThreadLabels {
  private before = new Set<number>();
  private io: number[] = [];

  /** Call just before creating the pandanet manager, readers and writers. */
  markBefore(): void {
    this.before = new Set(tids());
  }

  /** Call once they exist (after the first open call): the new threads are the I/O threads. */
  markAfter(maxIo: number): void {
    this.io = tids()
      .filter((t) => !this.before.has(t))
      .slice(0, maxIo);
  }

  label(tid: number): string {
    if (tid === process.pid) return 'main';
    const k = this.io.indexOf(tid);
    return k >= 0 ? `io-${k}` : 'other';
  }

  get ioCount(): number {
    return this.io.length;
  }
}

/** One labelled thread's CPU over a window. */
export interface ThreadCpu {
  label: string;
  tid: number;
  cpuUs: number;
}

/** Per-I/O-thread figures over the window. */
export interface IoWindow {
  index: number;
  datagramsIn: number;
  datagramsOut: number;
  backpressurePauses: number;
  udpDropped: number;
  utilization: number;
}

/** What a window reports. */
export interface WindowReport {
  windowMs: number;
  mainCpuUs: number;
  /** Main thread runnable but waiting for a CPU, µs (NaN without schedstat). */
  mainRunDelayUs: number;
  processCpuUs: number;
  cpuSource: string;
  /** Every thread that used CPU in the window, largest first. */
  threads: ThreadCpu[];
  io: IoWindow[];
}

interface Snap {
  t: number;
  main: number;
  delay: number;
  proc: NodeJS.CpuUsage;
  threads: Map<number, number>;
  io: ThreadStats[];
}

/** A measurement window. */
export class CpuWindow {
  private start: Snap | null = null;

  constructor(
    private readonly labels: ThreadLabels,
    private readonly ioStats: () => ThreadStats[] = () => [],
  ) {}

  private snap(): Snap {
    return { t: performance.now(), main: threadCpuUs(), delay: threadRunDelayUs(), proc: process.cpuUsage(), threads: allThreadsCpuUs(), io: this.ioStats() };
  }

  begin(): void {
    this.start = this.snap();
  }

  get open(): boolean {
    return this.start !== null;
  }

  end(): WindowReport {
    const a = this.start ?? this.snap();
    const b = this.snap();
    this.start = null;
    const cpu = process.cpuUsage(a.proc);
    const threads: ThreadCpu[] = [];
    for (const [tid, us] of b.threads) {
      const d = us - (a.threads.get(tid) ?? 0);
      if (d > 0) threads.push({ tid, label: this.labels.label(tid), cpuUs: Math.round(d) });
    }
    threads.sort((x, y) => y.cpuUs - x.cpuUs);
    const io = b.io.map((s) => {
      const s0 = a.io.find((x) => x.index === s.index);
      return {
        index: s.index,
        datagramsIn: s.datagramsIn - (s0?.datagramsIn ?? 0),
        datagramsOut: s.datagramsOut - (s0?.datagramsOut ?? 0),
        backpressurePauses: s.backpressurePauses - (s0?.backpressurePauses ?? 0),
        udpDropped: s.udpDropped - (s0?.udpDropped ?? 0),
        utilization: s.utilization,
      };
    });
    return { windowMs: b.t - a.t, mainCpuUs: b.main - a.main, mainRunDelayUs: b.delay - a.delay, processCpuUs: cpu.user + cpu.system, cpuSource: cpuSource(), threads, io };
  }
}

/** CPU of the threads with `label` (µs); io threads summed when label is 'io'. */
export function cpuOfLabel(r: WindowReport, label: string): number {
  return r.threads.filter((t) => (label === 'io' ? t.label.startsWith('io-') : t.label === label)).reduce((s, t) => s + t.cpuUs, 0);
}

/** CPU (µs) of each I/O thread, by index. */
export function ioThreadCpu(r: WindowReport, n: number): number[] {
  const out = new Array<number>(n).fill(0);
  for (const t of r.threads) if (t.label.startsWith('io-')) out[Number(t.label.slice(3))] = t.cpuUs;
  return out;
}
