/**
 * Where results go and what every result file carries: the git state and a fingerprint of the
 * compiled pandanet that ran, the machine, the options; JSON + Markdown (+ SVG charts) written side
 * by side as `bench/results/<workload>-<date>[-quick][-N].{json,md}` and `…-<chart>.svg`.
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, machineInfo, type MachineInfo } from './machine.js';

/** `bench/results/` of the checkout this build belongs to (build/bench/lib → ../../../bench/results). */
export const RESULTS_DIR = new URL('../../../bench/results/', import.meta.url);

/** `git describe --always --dirty` of the checkout this build came from ('unknown' outside git). */
export function gitDescribe(): string {
  const cwd = fileURLToPath(new URL('../../../', import.meta.url));
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** sha256 (first 16 hex) over the compiled pandanet the servers load (build/src/**\/*.js). */
export function buildFingerprint(): string {
  const root = new URL('../../src/', import.meta.url);
  const h = createHash('sha256');
  const walk = (dir: URL): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) walk(new URL(`${e.name}/`, dir));
      else if (e.name.endsWith('.js')) {
        h.update(fileURLToPath(new URL(e.name, dir)).slice(fileURLToPath(root).length));
        h.update(readFileSync(new URL(e.name, dir)));
      }
    }
  };
  try {
    walk(root);
    return h.digest('hex').slice(0, 16);
  } catch {
    return 'unknown';
  }
}

/** Fields every result file starts with. */
export interface ResultHeader {
  workload: string;
  date: string;
  git: string;
  buildFingerprint: string;
  machine: MachineInfo;
}

/** The header, read at the start of a workload (the checkout may move while it runs). */
export function resultHeader(workload: string): ResultHeader {
  return { workload, date: new Date().toISOString(), git: gitDescribe(), buildFingerprint: buildFingerprint(), machine: machineInfo() };
}

/** A free base path (no extension) for a workload's files of this date. */
export function resultBase(workload: string, date: string, quick: boolean): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stem = `${workload}-${date.slice(0, 10)}${quick ? '-quick' : ''}`;
  const dir = fileURLToPath(RESULTS_DIR);
  let base = `${dir}${stem}`;
  for (let i = 2; existsSync(`${base}.json`) || existsSync(`${base}.md`); i++) base = `${dir}${stem}-${i}`;
  return base;
}

/** Writes `<base>.json`, `<base>.md` and `<base>-<name>.svg`; returns the paths written. */
export function saveResult(base: string, json: unknown, markdown: string, charts: Record<string, string> = {}): string[] {
  const written: string[] = [];
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  written.push(`${base}.json`);
  const chartLinks = Object.keys(charts).map((name) => `![${name}](${basename(base)}-${name}.svg)`);
  writeFileSync(`${base}.md`, `${markdown.trimEnd()}\n${chartLinks.length > 0 ? `\n${chartLinks.join('\n\n')}\n` : ''}`);
  written.push(`${base}.md`);
  for (const [name, svg] of Object.entries(charts)) {
    writeFileSync(`${base}-${name}.svg`, svg);
    written.push(`${base}-${name}.svg`);
  }
  return written;
}

/** The lines a Markdown report starts with: title, machine, build. */
export function markdownHeader(title: string, h: ResultHeader, extra: string[] = []): string {
  return [`# ${title}`, '', `- Machine: ${describeMachine(h.machine)}`, `- Date: ${h.date}; git ${h.git}; build ${h.buildFingerprint}`, ...extra.map((e) => `- ${e}`), ''].join('\n');
}
