/**
 * Keeps pandanet's log from flooding a benchmark: a server under overload can log one line per
 * dropped datagram (hundreds of thousands). Installs a log sink that prints the first few lines of
 * each distinct message to stderr and counts the rest; the counts go into the server's report.
 *
 * Thread: main thread of a server process.
 * @module
 */
import { setLogSink } from '../../src/index.js';

const PRINT_EACH = 3;
const counts = new Map<string, number>();

/** Installs the sink (idempotent). */
export function guardLog(): void {
  setLogSink((level, message) => {
    const key = `${level}: ${message}`;
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    if (n <= PRINT_EACH) process.stderr.write(`${key}${n === PRINT_EACH ? ' (further repeats counted, not printed)' : ''}\n`);
  });
}

/** How many times each message was logged so far. */
export function logCounts(): Record<string, number> {
  return Object.fromEntries(counts);
}

/** How many times a message containing `text` was logged so far. */
export function logCount(text: string): number {
  let n = 0;
  for (const [k, v] of counts) if (k.includes(text)) n += v;
  return n;
}
