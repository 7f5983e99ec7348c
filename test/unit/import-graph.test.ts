/**
 * Architecture guards on the import graph of `src/` (read from source with the TypeScript parser):
 * no import cycle among the imports that remain at run time, and the main thread's code imports nothing from the workers' (what both sides
 * share lives in `src/protocol/` and `src/shared-memory/`).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findCycles, importGraph } from '../helpers/import-graph.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const edges = importGraph(root);

describe('import graph of src/', () => {
  it('reads the graph (sanity: main imports protocol)', () => {
    expect(edges.some((e) => e.from.startsWith('src/main/') && e.to.startsWith('src/protocol/'))).toBe(true);
  });

  it('has no import cycle among the imports that stay at run time', () => {
    // Type-only imports are erased; the public classes name each other in their signatures
    // (`Connection.getManager(): ConnectionManager` and back), as Panda's API does.
    expect(findCycles(edges.filter((e) => !e.typeOnly)).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('src/main/ imports nothing from src/workers/', () => {
    expect(edges.filter((e) => e.from.startsWith('src/main/') && e.to.startsWith('src/workers/')).map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });

  it('finds a cycle when there is one (the checker itself)', () => {
    const fake = [
      { from: 'a', to: 'b', typeOnly: false },
      { from: 'b', to: 'c', typeOnly: true },
      { from: 'c', to: 'a', typeOnly: false },
      { from: 'c', to: 'd', typeOnly: false },
    ];
    expect(findCycles(fake)).toEqual([['a', 'b', 'c', 'a']]);
  });
});
