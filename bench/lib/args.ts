/**
 * Tiny command-line parser for the benchmark dispatcher: positional names, `--flag`,
 * `--key value` and `--key=value`. Unknown flags are reported, not ignored.
 *
 * Thread: any (pure).
 * @module
 */

/** Parsed command line. */
export interface ParsedArgs {
  names: string[];
  flags: Map<string, string | true>;
}

/** Parses `argv`; `valued` lists the flags that take a value (`--runs 3` or `--runs=3`). */
export function parseArgs(argv: readonly string[], valued: ReadonlySet<string>): ParsedArgs {
  const names: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      names.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const key = eq === -1 ? a.slice(2) : a.slice(2, eq);
    if (eq !== -1) flags.set(key, a.slice(eq + 1));
    else if (valued.has(key)) {
      const v = argv[i + 1];
      if (v === undefined) throw new Error(`--${key} needs a value`);
      flags.set(key, v);
      i++;
    } else flags.set(key, true);
  }
  return { names, flags };
}

/** A positive integer flag, or undefined when absent. */
export function intFlag(flags: ParsedArgs['flags'], key: string, min = 1): number | undefined {
  const v = flags.get(key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < min) throw new Error(`--${key} needs an integer ≥ ${min}, got ${String(v)}`);
  return n;
}

/** A comma-separated list flag, or undefined when absent. */
export function listFlag(flags: ParsedArgs['flags'], key: string): string[] | undefined {
  const v = flags.get(key);
  if (v === undefined) return undefined;
  if (v === true || v === '') throw new Error(`--${key} needs a comma-separated list`);
  return v.split(',').map((s) => s.trim());
}
