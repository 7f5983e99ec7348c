/**
 * vitest global setup: the I/O worker runs from `dist/` (a `worker_threads` Worker cannot load
 * TypeScript on Node 20 without a loader, and vitest transforms only the test process's own
 * modules), so before any test the build is brought up to date with the current source: when a file
 * under `src/` is newer than the last build (or there is none), `tsc -p tsconfig.build.json` runs.
 * Tests then never run a stale worker. Runs once per `vitest run`, in the main vitest process.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

/** True when `dist/` is missing or older than some file of `src/` (or the build's config). */
export function buildIsStale(): boolean {
  const stamp = join(root, 'dist', 'workers', 'io-worker.js'); // every build rewrites it
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  const configs = ['tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(join(root, f)).mtimeMs);
  return Math.max(newestMtime(join(root, 'src')), ...configs) > built;
}

export default function setup(): void {
  if (!buildIsStale()) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit', timeout: 300_000 });
}
