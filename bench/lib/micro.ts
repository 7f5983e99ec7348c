/**
 * The `micro` workload: runs every compiled micro benchmark in `build/bench/micro/*.js` (in-memory
 * benches: codec, ring, datagram…), each as its own process so a crash or hang is contained.
 *
 * Each file is started as the entry script, with `--runs=N` and `--quick` passed through; by the
 * convention of that folder a file exports `main()` and calls it when it is the entry script, with
 * its own meaning of `--quick`. Each file gets a hard timeout; a file that fails or times out is
 * reported and the others still run.
 *
 * Thread: main thread of the dispatcher.
 * @module
 */
import { fork } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MICRO_DIR = new URL('../micro/', import.meta.url);

/** Options of the micro workload. */
export interface MicroOptions {
  runs?: number;
  quick: boolean;
  /** Hard limit per file, ms. */
  timeoutMs: number;
  /** Run only files whose base name is listed (default: all). */
  only?: string[];
}

/** Outcome per file. */
export interface MicroOutcome {
  file: string;
  ok: boolean;
  detail: string;
  wallMs: number;
}

function runFile(path: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const child = fork(path, args, { stdio: 'inherit' });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ ok: false, detail: `killed after the ${timeoutMs / 1000} s timeout` });
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: err.message });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code === 0 ? { ok: true, detail: 'ok' } : { ok: false, detail: signal !== null ? `killed by ${signal}` : `exit code ${code}` });
    });
  });
}

/** Runs the micro benchmarks found in build/bench/micro. */
export async function runMicro(o: MicroOptions): Promise<MicroOutcome[]> {
  const dir = fileURLToPath(MICRO_DIR);
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.js'))
        .filter((f) => o.only === undefined || o.only.includes(f.replace(/\.js$/, '')))
        .sort()
    : [];
  if (files.length === 0) {
    console.log(`micro: no compiled micro benchmarks in ${dir}`);
    return [];
  }
  const args = [...(o.runs !== undefined ? [`--runs=${o.runs}`] : []), ...(o.quick ? ['--quick'] : [])];
  const out: MicroOutcome[] = [];
  for (const f of files) {
    console.log(`\n## micro: ${f.replace(/\.js$/, '')} ${args.join(' ')}\n`);
    const t0 = performance.now();
    const r = await runFile(`${dir}${f}`, args, o.timeoutMs);
    out.push({ file: f, ...r, wallMs: performance.now() - t0 });
    if (!r.ok) console.log(`micro ${f} FAILED: ${r.detail}`);
  }
  return out;
}
