/** Whether lower or higher scores are better. */
export type Direction = 'minimize' | 'maximize';

/** One evaluation of one configuration at one budget. */
export interface TrialRecord<C> {
  /** Position in `result.trials` (sampling order, then rung order; never finishing order). */
  id: number;
  /** Which sampled configuration this is (successive halving evaluates one at several budgets). */
  configId: number;
  config: C;
  /** The score, or NaN when the trial failed. */
  score: number;
  budget: number;
  /** The seed the trial was given (per configuration, the same at every budget). */
  seed: number;
  /** The successive-halving rung (0 for random search). */
  rung: number;
  status: 'ok' | 'failed';
  /** Why the trial failed: the message it threw, a bad return value, a crash or a timeout. */
  error?: string;
  /** Wall-clock milliseconds of the trial function. */
  ms: number;
  /** Values the trial returned besides `score` (`{ score, accuracy }` → `{ accuracy }`). */
  extra?: Record<string, unknown>;
}

/** Options of `SearchResult.table`. */
export interface TableOptions {
  /** Show only the best `top` rows (failed trials last). Default: all. */
  top?: number;
}

/** Orders trials best first: successful before failed, higher budgets first, then by score, then by id. */
export function compareTrials<C>(direction: Direction): (a: TrialRecord<C>, b: TrialRecord<C>) => number {
  const sign = direction === 'minimize' ? 1 : -1;
  return (a, b) => {
    if (a.status !== b.status) return a.status === 'ok' ? -1 : 1;
    if (a.budget !== b.budget) return b.budget - a.budget;
    if (a.status === 'ok' && a.score !== b.score) return sign * (a.score - b.score);
    return a.id - b.id;
  };
}

/** Formats a value for the table: integers as they are, others to 4 significant digits. */
export function formatValue(v: unknown, digits = 4): string {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return '-';
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    if (!Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(digits - 1);
    return String(Number(v.toPrecision(digits)));
  }
  if (typeof v === 'string') return v;
  if (v === undefined) return '';
  return JSON.stringify(v) ?? String(v);
}

/**
 * Lays out rows as an aligned text table: numeric columns right-aligned, others left,
 * two spaces between columns.
 */
export function alignTable(header: readonly string[], rows: readonly (readonly unknown[])[], digits: readonly number[] = []): string {
  const cells = rows.map((r) => r.map((v, j) => formatValue(v, digits[j] ?? 4)));
  const numeric = header.map((_, j) => rows.length > 0 && rows.every((r) => typeof r[j] === 'number' || r[j] === undefined));
  const width = header.map((h, j) => Math.max(h.length, ...cells.map((r) => r[j]!.length)));
  const line = (r: readonly string[]) =>
    r.map((c, j) => (j === r.length - 1 && !numeric[j] ? c : numeric[j] ? c.padStart(width[j]!) : c.padEnd(width[j]!))).join('  ').trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}

/**
 * What a search returns: every trial in id order, the best one and a results table.
 *
 * @example
 * ```ts
 * const { space } = kiln.search;
 * const result = await kiln.search.randomSearch({
 *   space: { x: space.uniform(-2, 2) }, trial: ({ x }) => (x - 1) ** 2, trials: 20, workers: 0, log: 'none',
 * });
 * console.log(result.best.config.x);   // ≈ 1
 * console.log(result.table({ top: 5 }));
 * ```
 */
export class SearchResult<C> {
  /** The best successful trial: at the highest budget any trial completed, the best score by `direction`. */
  readonly best: TrialRecord<C>;

  constructor(
    readonly trials: TrialRecord<C>[],
    readonly direction: Direction,
    best: TrialRecord<C>,
  ) {
    this.best = best;
  }

  /**
   * An aligned table of the trials sorted best first (successful trials by score, at the
   * highest budget first when budgets differ; failed trials last with their error).
   */
  table(options: TableOptions = {}): string {
    const sorted = [...this.trials].sort(compareTrials<C>(this.direction));
    const shown = options.top !== undefined ? sorted.slice(0, Math.max(0, options.top)) : sorted;
    const configKeys = [...new Set(this.trials.flatMap((t) => Object.keys(t.config as object)))];
    const extraKeys = [...new Set(this.trials.flatMap((t) => Object.keys(t.extra ?? {})))];
    const budgets = new Set(this.trials.map((t) => t.budget)).size > 1;
    const header = ['rank', 'id', ...(budgets ? ['budget'] : []), 'score', ...configKeys, ...extraKeys, 'ms', 'status'];
    const digits = header.map((h) => (h === 'score' ? 6 : 4));
    const rows = shown.map((t, i) => {
      const config = t.config as Record<string, unknown>;
      const status = t.status === 'ok' ? 'ok' : `failed: ${truncate(t.error ?? '', 70)}`;
      return [
        t.status === 'ok' ? i + 1 : undefined, t.id, ...(budgets ? [t.budget] : []), t.score,
        ...configKeys.map((k) => config[k]), ...extraKeys.map((k) => t.extra?.[k]), Math.round(t.ms), status,
      ];
    });
    return alignTable(header, rows, digits);
  }

  /** The table (all rows). */
  toString(): string {
    return this.table();
  }
}

function truncate(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}
