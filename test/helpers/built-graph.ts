/**
 * The run-time import graph of built ES modules (`dist/…/*.js`), read with the TypeScript parser:
 * from an entry file, every static import, `export … from` and literal dynamic `import()` is
 * followed; what each module imports from outside the graph (a Node built-in, a package) and which
 * Node-only globals (`Buffer`, `process`, `require`, …) it names are collected. For the check that the
 * browser entry points (`pandanet/datagram`, `pandanet/browser`, the demo page) load in a browser.
 *
 * Thread: any (test helper).
 * @module
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';

/** Globals that exist in Node and not in a browser. */
export const NODE_ONLY_GLOBALS = ['Buffer', 'process', 'require', 'module', '__dirname', '__filename', 'global', 'setImmediate'] as const;

/** What {@link walkBuiltGraph} found. */
export interface BuiltGraph {
  /** Every module reached, relative to `root`. */
  files: string[];
  /** `file: specifier` for each import of a Node built-in (`node:x` or a bare built-in name). */
  builtinImports: string[];
  /** `file: specifier` for each bare import that is not a built-in (a package: a browser needs an import map). */
  packageImports: string[];
  /** `file:line: name` for each use of a {@link NODE_ONLY_GLOBALS} name as a free identifier. */
  nodeGlobals: string[];
}

const BUILTINS = new Set(builtinModules);

function isNameOnly(node: ts.Identifier): boolean {
  const p = node.parent;
  if (p === undefined) return false;
  if (ts.isPropertyAccessExpression(p) && p.name === node) return true;
  if ((ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p) || ts.isMethodDeclaration(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p)) && p.name === node) return true;
  if ((ts.isImportSpecifier(p) || ts.isExportSpecifier(p)) && p.propertyName === node) return true;
  return false;
}

/**
 * Walks the graph from `entries` (absolute paths of built `.js` files); paths in the answer are
 * relative to `root`.
 *
 * Thread: any.
 */
export function walkBuiltGraph(root: string, entries: readonly string[]): BuiltGraph {
  const seen = new Set<string>();
  const out: BuiltGraph = { files: [], builtinImports: [], packageImports: [], nodeGlobals: [] };
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = relative(root, file);
    out.files.push(rel);
    const text = readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
    const add = (spec: string): void => {
      if (spec.startsWith('.') || spec.startsWith('/')) {
        queue.push(resolve(dirname(file), spec));
      } else if (spec.startsWith('node:') || BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0]!)) {
        out.builtinImports.push(`${rel}: ${spec}`);
      } else {
        out.packageImports.push(`${rel}: ${spec}`);
      }
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        if (!node.importClause?.isTypeOnly) add(node.moduleSpecifier.text);
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
        if (!node.isTypeOnly) add(node.moduleSpecifier.text);
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] !== undefined && ts.isStringLiteralLike(node.arguments[0])) {
        add(node.arguments[0].text);
      } else if (ts.isIdentifier(node) && (NODE_ONLY_GLOBALS as readonly string[]).includes(node.text) && !isNameOnly(node)) {
        out.nodeGlobals.push(`${rel}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}: ${node.text}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  out.files.sort();
  return out;
}
