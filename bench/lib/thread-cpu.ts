/**
 * Per-thread CPU time from `/proc` (Linux only).
 *
 * `process.cpuUsage()` is process-wide: in a pandanet server it includes the I/O worker threads and
 * V8's helper threads. {@link threadCpuUs} reads the *calling* thread's own CPU time, so called on
 * the main thread it is main-thread-only CPU. Source: `/proc/thread-self/schedstat` (time on CPU in
 * ns, and time spent runnable but waiting for a CPU) where the kernel has it; otherwise utime +
 * stime from `/proc/thread-self/stat`, counted in clock ticks (`CLK_TCK`, usually 100/s: 10 ms
 * resolution, so measure windows of a second or more). {@link cpuSource} says which one is used.
 * A read costs ~20 µs: take them at the edges of a window, never per datagram.
 *
 * What it does not do: name threads (Node leaves every thread's `comm` as "node"), or work off Linux
 * (it returns NaN there).
 *
 * Thread: any (each call measures the thread that makes it).
 * @module
 */
import { readFileSync, readdirSync } from 'node:fs';
import { clockTicksPerSecond } from './machine.js';

/** Read once at load (it runs `getconf`), so that no measured window pays for the child process. */
const TCK = clockTicksPerSecond();

/** utime + stime (ticks) of a `/proc/.../stat` line; fields are counted after the `)` of comm. */
function ticksOf(stat: string): number {
  const close = stat.lastIndexOf(')');
  const f = stat.slice(close + 2).split(' ');
  // f[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(f[11]) + Number(f[12]);
}

/** `[on-CPU ns, run-queue wait ns]` from a schedstat file, or null. */
function schedOf(path: string): [number, number] | null {
  try {
    const f = readFileSync(path, 'utf8').trim().split(/\s+/);
    const run = Number(f[0]);
    const wait = Number(f[1]);
    return Number.isFinite(run) && Number.isFinite(wait) ? [run, wait] : null;
  } catch {
    return null;
  }
}

const HAS_SCHEDSTAT = schedOf('/proc/thread-self/schedstat') !== null;

/** Where per-thread CPU times come from: `schedstat` (ns) or `stat` (clock ticks), or `none`. */
export function cpuSource(): 'schedstat' | 'stat' | 'none' {
  if (HAS_SCHEDSTAT) return 'schedstat';
  try {
    readFileSync('/proc/thread-self/stat', 'utf8');
    return 'stat';
  } catch {
    return 'none';
  }
}

/** CPU time of one thread's proc directory entry, µs (schedstat, else stat); NaN when unreadable. */
function cpuOf(dir: string): number {
  if (HAS_SCHEDSTAT) {
    const s = schedOf(`${dir}/schedstat`);
    if (s !== null) return s[0] / 1000;
  }
  try {
    return (ticksOf(readFileSync(`${dir}/stat`, 'utf8')) * 1e6) / TCK;
  } catch {
    return Number.NaN;
  }
}

/** CPU time (µs) used so far by the calling thread; NaN where `/proc/thread-self` is missing. */
export function threadCpuUs(): number {
  return cpuOf('/proc/thread-self');
}

/**
 * Time (µs) the calling thread has spent runnable but waiting for a CPU (schedstat only; NaN
 * otherwise). On an oversubscribed machine this is where "slow" goes.
 */
export function threadRunDelayUs(): number {
  const s = HAS_SCHEDSTAT ? schedOf('/proc/thread-self/schedstat') : null;
  return s === null ? Number.NaN : s[1] / 1000;
}

/** CPU time (µs) used so far by every thread of this process, by thread id. Empty off Linux. */
export function allThreadsCpuUs(): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const t of tids) {
    const us = cpuOf(`/proc/self/task/${t}`);
    if (Number.isFinite(us)) out.set(Number(t), us); // else: the thread exited between readdir and read
  }
  return out;
}

/** Per-thread CPU used between two {@link allThreadsCpuUs} snapshots, largest first (µs). */
export function threadCpuDeltas(before: Map<number, number>, after: Map<number, number>): Array<{ tid: number; cpuUs: number }> {
  const out: Array<{ tid: number; cpuUs: number }> = [];
  for (const [tid, end] of after) out.push({ tid, cpuUs: end - (before.get(tid) ?? 0) });
  return out.sort((a, b) => b.cpuUs - a.cpuUs);
}

/**
 * Machine-wide busy CPU time so far (all cores, µs) from the first line of `/proc/stat`: user, nice,
 * system, irq, softirq and steal. Subtracting what a benchmark's own processes used over a window
 * estimates the load *other* processes put on the machine meanwhile. NaN off Linux.
 */
export function machineBusyUs(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return (busy * 1e6) / TCK;
  } catch {
    return Number.NaN;
  }
}
