/**
 * Runs a standalone ESM script against the built library (`dist/`) in a child process, to check that
 * the process exits by itself (nothing keeps it alive once everything is closed). The script is
 * written to a temporary folder, removed when the test finishes; the child is killed at 10 s.
 *
 * Thread: main thread (vitest worker) only.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, onTestFinished } from 'vitest';

/** The built library's entry point, which the scripts import. */
export const DIST_INDEX = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** How a script's process ended, and what it printed. */
export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

/**
 * Writes `source(indexUrl)` (an ESM script importing the library from `indexUrl`) to a temporary file
 * and runs it with `args`; resolves when it exits (SIGKILL at 10 s).
 */
export async function runExitScript(name: string, source: (indexUrl: string) => string, args: string[]): Promise<ExitResult> {
  expect(existsSync(DIST_INDEX), 'dist/index.js is missing: run `npm run build` first').toBe(true);
  const dir = mkdtempSync(join(tmpdir(), 'pandanet-exit-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, name);
  writeFileSync(script, source(pathToFileURL(DIST_INDEX).href));
  return new Promise<ExitResult>((resolve, reject) => {
    let out = '';
    const child = spawn(process.execPath, [script, ...args], { timeout: 10_000, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}
