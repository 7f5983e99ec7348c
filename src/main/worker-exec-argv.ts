/**
 * The `execArgv` the library's worker threads start with: the process's own, less the flags that only
 * apply to the main entry. A worker inherits `process.execArgv` by default, and Node refuses to start
 * one whose flags include `--input-type` ("can only be used with string input via --eval, --print, or
 * STDIN"), so a program run as `node --input-type=commonjs -e …` would otherwise get I/O threads that
 * die before their first instruction.
 *
 * Thread: main thread.
 * @module
 */

/** Flags (with their value, `--flag=v` or `--flag v`) that a worker thread refuses. */
const MAIN_ENTRY_ONLY = new Set(['--input-type']);

/**
 * `argv` (default `process.execArgv`) without the main-entry-only flags.
 * Thread: any.
 */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (!MAIN_ENTRY_ONLY.has(name)) {
      out.push(arg);
    } else if (eq === -1) {
      i++; // `--input-type commonjs`: the value is the next argument
    }
  }
  return out;
}
