/**
 * What machine a benchmark ran on: printed first and stored with every result file.
 *
 * Thread: main thread (reads `os` and `/proc`).
 * @module
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

/** The machine description stored in results. */
export interface MachineInfo {
  cpuModel: string;
  /** Logical CPUs the process may use (`os.availableParallelism()`). */
  cores: number;
  totalMemGiB: number;
  platform: string;
  arch: string;
  kernel: string;
  node: string;
  v8: string;
  /** Clock ticks per second of `/proc/.../stat` times (`getconf CLK_TCK`). */
  clkTck: number;
}

let cachedTck: number | undefined;

/** `getconf CLK_TCK`, 100 when it can't be read. */
export function clockTicksPerSecond(): number {
  if (cachedTck !== undefined) return cachedTck;
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
    cachedTck = Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    cachedTck = 100;
  }
  return cachedTck;
}

/** Describes this machine. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: os.platform(),
    arch: os.arch(),
    kernel: os.release(),
    node: process.version,
    v8: process.versions.v8,
    clkTck: clockTicksPerSecond(),
  };
}

/** One line for the top of a report. */
export function describeMachine(m: MachineInfo): string {
  return `${m.cores} cores, ${m.cpuModel}, ${m.totalMemGiB} GiB, ${m.platform}/${m.arch} ${m.kernel}, Node ${m.node} (V8 ${m.v8}), CLK_TCK ${m.clkTck}`;
}
