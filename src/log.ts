/**
 * Panda's `notify` output for the `net` category, reduced to what a server needs: a level and a sink.
 * Default level is `warning` (Panda logs every connection at `info`, which floods a game server's
 * output); set `PANDANET_LOG=debug|info|warning|error|silent` or call {@link setLogLevel}. Replace the
 * sink with {@link setLogSink} to route lines into your own logger.
 *
 * I/O threads: their lines reach the main thread's sink. Each worker's sink publishes a `LOG` event,
 * which the main thread logs (through its own level and sink) when it next drains the worker's
 * events: at the reader, listener and manager calls that poll (`dataAvailable`, `poll`,
 * `newConnectionAvailable`, `resetConnectionAvailable`, ...). An application that makes none of
 * these calls sees a worker's lines only when it next does. The level lives in one shared word that
 * the workers read (passed at their start), so a worker makes no event for a line the main thread
 * would not show, and a {@link setLogLevel} applies to every worker at once, with no message.
 *
 * Thread: any (the main thread's level applies to its I/O workers; the sink is per thread).
 * @module
 */
import { isMainThread } from 'node:worker_threads';
import { InvalidArgumentError } from './errors.js';

/** Log levels, most verbose first. */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'silent';
/** Receives every line at or above the current level. */
export type LogSink = (level: Exclude<LogLevel, 'silent'>, message: string) => void;

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3, silent: 4 };
const LEVELS = Object.keys(ORDER) as LogLevel[];

/**
 * Reads a `PANDANET_LOG` value: a level name (any case), or unset / empty for `warning`. Anything
 * else also gives `warning`, with a one-line `warning` saying so. Thread: any.
 */
export function parseLogLevel(value: string | undefined): { level: LogLevel; warning?: string } {
  if (value === undefined || value.trim() === '') return { level: 'warning' };
  const name = value.trim().toLowerCase();
  if (Object.hasOwn(ORDER, name)) return { level: name as LogLevel };
  return { level: 'warning', warning: `PANDANET_LOG=${JSON.stringify(value)} is not a log level; use one of ${LEVELS.join(', ')} (using warning)` };
}

/** This thread's level, as an index into {@link LEVELS}; on a worker, the main thread's word. */
let levelWord = new Int32Array(new SharedArrayBuffer(4));
let sink: LogSink = (lvl, message) => {
  process.stderr.write(`:net(${lvl}): ${message}\n`);
};

{
  const initial = parseLogLevel(process.env['PANDANET_LOG']);
  Atomics.store(levelWord, 0, ORDER[initial.level]);
  // Workers read the same variable: only the main thread says it once.
  if (initial.warning !== undefined && isMainThread) log('warning', initial.warning);
}

/** Sets the minimum level written (on the main thread: for its I/O workers too). Throws InvalidArgumentError for an unknown level. Thread: any. */
export function setLogLevel(next: LogLevel): void {
  if (typeof next !== 'string' || !Object.hasOwn(ORDER, next)) throw new InvalidArgumentError(`setLogLevel: unknown level ${JSON.stringify(next)}; use one of ${LEVELS.join(', ')}`);
  Atomics.store(levelWord, 0, ORDER[next]);
}
/** The current level. Thread: any. */
export function getLogLevel(): LogLevel {
  return LEVELS[Atomics.load(levelWord, 0)] ?? 'warning';
}
/** Routes log lines to `next`. Thread: any (affects the calling thread). */
export function setLogSink(next: LogSink): void {
  sink = next;
}
/** Writes one line if `lvl` is enabled. Thread: any. */
export function log(lvl: Exclude<LogLevel, 'silent'>, message: string): void {
  if (ORDER[lvl] >= Atomics.load(levelWord, 0)) sink(lvl, message);
}

/** @internal The word holding this thread's level, for an I/O worker to share (`WorkerInit.logLevel`). Thread: main. */
export function logLevelWord(): SharedArrayBuffer {
  return levelWord.buffer as SharedArrayBuffer;
}
/** @internal Makes this thread follow the level in `word` (another thread's {@link logLevelWord}). Thread: I/O workers. */
export function followLogLevel(word: SharedArrayBuffer): void {
  levelWord = new Int32Array(word);
}
