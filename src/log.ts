/**
 * Panda's `notify` output for the `net` category, reduced to what a server needs: a level and a sink.
 * Default level is `warning` (Panda logs every connection at `info`, which floods a game server's
 * output); set `PANDANET_LOG=info|debug|error|silent` or call {@link setLogLevel}. Replace the sink
 * with {@link setLogSink} to route lines into your own logger.
 *
 * Thread: any (each thread has its own level and sink; workers read `PANDANET_LOG`).
 * @module
 */

/** Log levels, most verbose first. */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'silent';
/** Receives every line at or above the current level. */
export type LogSink = (level: Exclude<LogLevel, 'silent'>, message: string) => void;

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3, silent: 4 };

function initialLevel(): LogLevel {
  const env = process.env['PANDANET_LOG'];
  return env !== undefined && env in ORDER ? (env as LogLevel) : 'warning';
}

let level: LogLevel = initialLevel();
let sink: LogSink = (lvl, message) => {
  process.stderr.write(`:net(${lvl}): ${message}\n`);
};

/** Sets the minimum level written. Thread: any (affects the calling thread). */
export function setLogLevel(next: LogLevel): void {
  level = next;
}
/** The current level. Thread: any. */
export function getLogLevel(): LogLevel {
  return level;
}
/** Routes log lines to `next`. Thread: any (affects the calling thread). */
export function setLogSink(next: LogSink): void {
  sink = next;
}
/** Writes one line if `lvl` is enabled. Thread: any. */
export function log(lvl: Exclude<LogLevel, 'silent'>, message: string): void {
  if (ORDER[lvl] >= ORDER[level]) sink(lvl, message);
}
