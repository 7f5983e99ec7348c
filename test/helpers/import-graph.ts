/**
 * The import graph of `src/`, read with the TypeScript parser (no build needed), for the
 * architecture checks in `test/unit/import-graph.test.ts`.
 *
 * Thread: any (test helper).
 * @module
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** One import edge: `from` imports `to` (both paths relative to the root, `.ts`). */
export interface ImportEdge {
  from: string;
  to: string;
  /** `import type` / `export type` (erased at run time). */
  typeOnly: boolean;
}

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** True when every named binding of the clause is `type` (so the import is erased). */
function allTypeOnly(clause: ts.ImportClause | undefined): boolean {
  if (clause === undefined) return false; // side-effect import
  if (clause.isTypeOnly) return true;
  if (clause.name !== undefined) return false;
  const b = clause.namedBindings;
  if (b === undefined || !ts.isNamedImports(b)) return false;
  return b.elements.length > 0 && b.elements.every((e) => e.isTypeOnly);
}

/** Every relative import between the `.ts` files under `root/dir`, as paths relative to `root`. */
export function importGraph(root: string, dir = 'src'): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of listTs(resolve(root, dir))) {
    const text = readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const add = (spec: string, typeOnly: boolean): void => {
      if (!spec.startsWith('.')) return;
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      edges.push({ from: relative(root, file), to: relative(root, target), typeOnly });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier.text, allTypeOnly(node.importClause));
      else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier.text, node.isTypeOnly);
      else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] !== undefined && ts.isStringLiteral(node.arguments[0])) add(node.arguments[0].text, false);
      else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) add(node.argument.literal.text, true);
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return edges;
}

/** The cycles of the graph (each once, as a path that starts and ends at the same file). */
export function findCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, new Set());
    next.get(e.from)!.add(e.to);
  }
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, 1 | 2>(); // 1 on the stack, 2 done
  const stack: string[] = [];
  const dfs = (n: string): void => {
    state.set(n, 1);
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      const s = state.get(m);
      if (s === 1) {
        const cycle = [...stack.slice(stack.indexOf(m)), m];
        const key = [...cycle.slice(0, -1)].sort().join(' ');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(cycle);
        }
      } else if (s === undefined) dfs(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of [...next.keys()].sort()) if (!state.has(n)) dfs(n);
  return cycles;
}
