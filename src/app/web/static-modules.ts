/**
 * The built ES modules a page needs, read once from `dist/` into memory: the page script and
 * everything it imports, found by following the relative `import` / `export … from` specifiers of
 * the compiled files. Only those files are served (nothing else of `dist/`, nothing of the file
 * system), from memory.
 *
 * Thread: main thread (reads files synchronously at start).
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled tree this file belongs to (`dist/`); from the TypeScript source (tests), the build next to it. Thread: any. */
export function defaultModulesRoot(): string {
  const here = fileURLToPath(new URL('../../', import.meta.url));
  return basename(here) === 'src' ? join(dirname(here), 'dist') : here;
}

// tsc's output: `import { a } from './x.js';`, `import './x.js';`, `export { a } from './x.js';`, `export * from './x.js';`
const SPECIFIER = /^\s*(?:import|export)\s(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/gm;

/**
 * Every module reachable from `entry` (a path relative to `root`, with `/`), as path → source.
 * Throws when the entry or an import is missing (the package is not built) or an import leaves
 * `root` or is not relative (a browser could not load it).
 *
 * Thread: main thread (synchronous file reads, at start).
 */
export function loadModuleGraph(root: string, entry: string): Map<string, string> {
  const out = new Map<string, string>();
  const queue = [entry];
  while (queue.length > 0) {
    const rel = queue.shift()!;
    if (out.has(rel)) continue;
    const file = resolve(root, rel);
    if (!existsSync(file)) throw new Error(`${file} is missing: build pandanet first (npm run build)`);
    const text = readFileSync(file, 'utf8');
    out.set(rel, text);
    for (const m of text.matchAll(SPECIFIER)) {
      const spec = m[1]!;
      if (!spec.startsWith('./') && !spec.startsWith('../')) throw new Error(`${rel} imports '${spec}', which a browser cannot load without an import map`);
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(root.endsWith(sep) ? root : root + sep)) throw new Error(`${rel} imports '${spec}', outside ${root}`);
      queue.push(relative(root, target).split(sep).join(posix.sep));
    }
  }
  return out;
}
