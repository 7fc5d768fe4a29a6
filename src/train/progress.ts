import { stderrSink, type TextSink } from '../platform/index.js';

export type { TextSink };

/**
 * A one-line progress bar on a TTY (redrawn in place), plain lines otherwise (CI logs,
 * pipes, a browser's console), nothing when silent. The default stream is
 * `process.stderr` in Node and the console elsewhere; any `{ write(text) }` works.
 *
 * @example
 * ```ts
 * const bar = new kiln.ProgressBar('epoch 1/1', 100);
 * for (let i = 1; i <= 100; i++) bar.update(i, `loss ${(1 / i).toFixed(3)}`);
 * bar.finish('epoch 1/1 done');
 * ```
 */
export class ProgressBar {
  private lastDraw = 0;
  private readonly start = performance.now();
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: TextSink | null = stderrSink(),
  ) {
    this.tty = !!stream?.isTTY;
  }

  /** Shows progress `done`/`total` with a status text; throttled to ~10 redraws a second. */
  update(done: number, status = ''): void {
    if (!this.stream || !this.tty) return;
    const now = performance.now();
    if (done < this.total && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 24;
    const frac = this.total ? done / this.total : 1;
    const filled = Math.round(frac * width);
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 ? elapsed / frac - elapsed : 0;
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    this.stream.write(`\r${this.label} ${bar} ${String(done).padStart(String(this.total).length)}/${this.total} ${elapsed.toFixed(0)}s<${eta.toFixed(0)}s ${status}\x1b[K`);
  }

  /** Ends the bar with a final line (printed in both TTY and plain modes). */
  finish(line: string): void {
    if (!this.stream) return;
    this.stream.write(this.tty ? `\r${line}\x1b[K\n` : `${line}\n`);
  }
}
