/**
 * A small progress bar on stderr, redrawn in place with `\r` on a terminal.
 *
 * `step()` advances it; `log()` prints a line above it (the bar is cleared, the line written, the
 * bar redrawn). Off a terminal (output piped to a file) there is no bar to redraw: each logged line
 * is prefixed with the step count instead, so the file still shows where the run was.
 *
 * Thread: main thread of the dispatcher.
 * @module
 */

const WIDTH = 24;

function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** One workload's progress. */
export class Progress {
  private done = 0;
  private note = '';
  private readonly t0 = performance.now();
  private readonly tty: boolean;
  private drawn = false;

  constructor(
    private readonly label: string,
    private total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY) && process.env.BENCH_NO_BAR === undefined;
    this.draw();
  }

  /** The bar as text (exported for tests and logs). */
  bar(): string {
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const full = Math.round(frac * WIDTH);
    const elapsed = performance.now() - this.t0;
    const eta = this.done > 0 && this.done < this.total ? (elapsed / this.done) * (this.total - this.done) : Number.NaN;
    return `${this.label} [${'#'.repeat(full)}${'-'.repeat(WIDTH - full)}] ${this.done}/${this.total} ${fmtDuration(elapsed)}${Number.isFinite(eta) ? ` ETA ${fmtDuration(eta)}` : ''}${this.note ? `  ${this.note}` : ''}`;
  }

  private clear(): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[2K');
    this.drawn = false;
  }

  private draw(): void {
    if (!this.tty) return;
    const cols = this.stream.columns ?? 120;
    const text = this.bar();
    this.stream.write(`\r\x1b[2K${text.length > cols - 1 ? text.slice(0, cols - 1) : text}`);
    this.drawn = true;
  }

  /** Says what is running now (redraws). */
  setNote(note: string): void {
    this.note = note;
    this.draw();
  }

  /** More steps than planned turned up. */
  addTotal(n: number): void {
    this.total += n;
    this.draw();
  }

  /** One step done. */
  step(n = 1): void {
    this.done += n;
    this.draw();
  }

  /** Prints a line above the bar. */
  log(line: string): void {
    this.clear();
    this.stream.write(this.tty ? `${line}\n` : `[${this.label} ${this.done}/${this.total}] ${line}\n`);
    this.draw();
  }

  /** Clears the bar for good and prints the total time. */
  finish(): void {
    this.clear();
    this.stream.write(`${this.label}: ${this.done}/${this.total} steps in ${fmtDuration(performance.now() - this.t0)}\n`);
  }
}
