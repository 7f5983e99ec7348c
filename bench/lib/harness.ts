/**
 * Bounded runs of child processes: {@link bounded} gives the body a `spawn` that forks a
 * {@link Child} and remembers it; whatever happens (success, error, the hard timeout), every child
 * spawned is SIGKILLed when the run ends, and a run that overstays its timeout is rejected.
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import { Child, type Tagged } from './child.js';

/** Forks a child that the run will clean up. */
export type Spawn = <In extends Tagged, Out extends Tagged>(module: URL, params: unknown, label: string, execArgv?: string[]) => Child<In, Out>;

/** What a run body gets. */
export interface RunContext {
  spawn: Spawn;
  /** Hands a process started otherwise (a native load client) to the run, which kills it at its end. */
  adopt<T extends { kill(): void }>(p: T): T;
  /** Milliseconds left before the hard timeout (at least 1). */
  left(): number;
}

/** Runs `body` with a hard timeout; kills every child it spawned when done. */
export async function bounded<T>(timeoutMs: number, body: (ctx: RunContext) => Promise<T>): Promise<T> {
  const children: Array<{ kill(): void }> = [];
  const deadline = performance.now() + timeoutMs;
  const spawn: Spawn = <In extends Tagged, Out extends Tagged>(module: URL, params: unknown, label: string, execArgv: string[] = []) => {
    const c = new Child<In, Out>(module, [JSON.stringify(params)], label, execArgv);
    children.push(c);
    return c;
  };
  const adopt = <T extends { kill(): void }>(p: T): T => {
    children.push(p);
    return p;
  };
  let timer: NodeJS.Timeout | undefined;
  const hard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`run exceeded its ${Math.round(timeoutMs / 1000)} s hard timeout; its processes were killed`)), timeoutMs);
  });
  try {
    return await Promise.race([body({ spawn, adopt, left: () => Math.max(1, deadline - performance.now()) }), hard]);
  } finally {
    clearTimeout(timer);
    for (const c of children) c.kill();
  }
}

/** A short message from an error. */
export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
