/**
 * The browser entry points load in a browser: from the built `dist/datagram/index.js`
 * (`pandanet/datagram`), `dist/browser/index.js` (`pandanet/browser`) and the demo page's script
 * (`dist/app/web/client/main.js`), the run-time import graph reaches no Node built-in, no package
 * (a page has no import map) and no Node-only global (`Buffer`, `process`, …). Reads the build
 * (vitest's global setup brings it up to date).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { walkBuiltGraph } from '../helpers/built-graph.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = (p: string): string => join(root, 'dist', p);

const ENTRIES = ['datagram/index.js', 'browser/index.js', 'app/web/client/main.js'];

describe('import graph of the browser entry points (built)', () => {
  it.each(ENTRIES)('dist/%s: no Node built-in, no package, no Node-only global', (entry) => {
    expect(existsSync(dist(entry))).toBe(true);
    const g = walkBuiltGraph(root, [dist(entry)]);
    expect(g.files).toContain(join('dist', entry));
    expect({ builtinImports: g.builtinImports, packageImports: g.packageImports, nodeGlobals: g.nodeGlobals }).toEqual({ builtinImports: [], packageImports: [], nodeGlobals: [] });
  });

  it('pandanet/browser reaches the datagram classes and errors, and nothing of the Node runtime', () => {
    const g = walkBuiltGraph(root, [dist('browser/index.js')]);
    expect(g.files).toEqual(expect.arrayContaining([join('dist', 'datagram', 'py-datagram.js'), join('dist', 'errors.js')]));
    expect(g.files.filter((f) => /dist\/(main|workers|md|protocol)\//.test(f))).toEqual([]);
  });

  it('finds what it must refuse (the checker itself): the Node entry point imports built-ins and uses process', () => {
    const g = walkBuiltGraph(root, [dist('index.js')]);
    expect(g.builtinImports.some((s) => s.endsWith(': node:worker_threads'))).toBe(true);
    expect(g.nodeGlobals.some((s) => s.endsWith(': process'))).toBe(true);
  });
});
