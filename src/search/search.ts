import { KilnError } from '../eager/index.js';
import { loadNodeHost, stderrSink, type TextSink } from '../platform/index.js';
import { checkSeed } from '../data/random.js';
import { ProgressBar } from '../train/progress.js';
import { sample, trialSeeds, type ConfigOf, type Space } from './space.js';
import { compareTrials, formatValue, SearchResult, type Direction, type TrialRecord } from './result.js';
import {
  serialRunner,
  type TrialFunction, type TrialModule, type TrialOutcome, type TrialRunner, type TrialTask,
} from './trialRunner.js';

/** Options shared by `randomSearch` and `successiveHalving`. */
export interface SearchOptions<S extends Space> {
  /** The space to sample configurations from. */
  space: S;
  /**
   * The objective: `{ module, export }` naming an exported function
   * `(config, { budget, seed, id }) => number | { score, ...extra }` (sync or async) that
   * worker threads load, or, with `workers: 0`, such a function itself.
   */
  trial: TrialModule | TrialFunction<ConfigOf<S>>;
  /** Seed of the configurations and of the per-trial seeds. Default 0. */
  seed?: number;
  /**
   * Worker threads running trials in parallel; 0 runs them one after another in this
   * thread. Default: the number of CPUs (capped by the trial count) for a module, 0 for a function.
   */
  workers?: number;
  /** Whether lower (default) or higher scores are better. */
  direction?: Direction;
  /** `'auto'` (default): a progress bar on a TTY, a line per finished trial otherwise; `'none'`: silent. */
  log?: 'auto' | 'none';
  /** Per-trial time limit in ms (worker threads only): the worker is terminated and replaced, the trial recorded as failed. */
  timeout?: number;
  /** Extra Node options for the worker threads (e.g. `['--max-old-space-size=2048']`). */
  execArgv?: readonly string[];
  /**
   * Load the trial module in the workers through tsx. Default: when the module is `.ts`
   * (an error if tsx cannot be resolved) or this process runs under tsx (so a `.mjs`
   * trial may import `.ts` files).
   */
  tsx?: boolean;
  /** Called with each trial record as it finishes (finishing order). */
  onTrial?: (trial: TrialRecord<ConfigOf<S>>) => void;
}

/** Options of `randomSearch`. */
export interface RandomSearchOptions<S extends Space> extends SearchOptions<S> {
  /** How many configurations to sample and evaluate. */
  trials: number;
  /** The budget every trial gets (`context.budget`). Default 1. */
  budget?: number;
}

/** Options of `successiveHalving`. */
export interface SuccessiveHalvingOptions<S extends Space> extends SearchOptions<S> {
  /** Configurations evaluated at the smallest budget. */
  n: number;
  /** The first rung's budget. */
  minBudget: number;
  /** The largest budget: rungs run at minBudget·eta^k while that is ≤ maxBudget. */
  maxBudget: number;
  /** The factor between rungs: each keeps the best 1/eta and multiplies the budget by eta. Default 3. */
  eta?: number;
}

interface Plan<S extends Space> {
  op: string;
  direction: Direction;
  runner: TrialRunner;
  progress: Progress;
  onTrial?: (trial: TrialRecord<ConfigOf<S>>) => void;
}

/** Progress: a bar on a TTY, a line per finished trial otherwise, nothing with log 'none'. */
class Progress {
  private readonly stream: TextSink | null;
  private bar: ProgressBar | undefined;
  private best: number | undefined;
  private done = 0;
  private total = 0;
  private label = '';

  constructor(log: 'auto' | 'none', private readonly direction: Direction) {
    this.stream = log === 'none' ? null : stderrSink();
  }

  begin(label: string, total: number): void {
    this.label = label;
    this.total = total;
    this.done = 0;
    this.bar = new ProgressBar(label, total, this.stream);
    this.bar.update(0);
  }

  trial<C>(t: TrialRecord<C>): void {
    this.done++;
    if (t.status === 'ok' && (this.best === undefined || (this.direction === 'minimize' ? t.score < this.best : t.score > this.best))) this.best = t.score;
    const best = this.best === undefined ? '' : `best ${formatValue(this.best, 6)}`;
    if (this.stream && !this.stream.isTTY) {
      const config = Object.entries(t.config as Record<string, unknown>).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
      const what = t.status === 'ok' ? `score ${formatValue(t.score, 6)}` : `failed (${t.error})`;
      this.stream.write(`${this.label} trial ${this.done}/${this.total} (id ${t.id})  ${what}  ${config}  ${(t.ms / 1000).toFixed(1)}s  ${best}\n`);
    }
    this.bar?.update(this.done, best);
  }

  end(line: string): void {
    this.bar?.finish(line);
  }
}

function checkCount(op: string, name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new KilnError(`${name} must be an integer ≥ ${min}, got ${v}`, { op });
}

function checkPositive(op: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new KilnError(`${name} must be a positive finite number, got ${v}`, { op });
}

/** Validates the shared options and builds the runner (threads or in-process). */
async function prepare<S extends Space>(op: string, options: SearchOptions<S>, maxParallel: number): Promise<Plan<S> & { seed: number }> {
  const seed = options.seed ?? 0;
  checkSeed(op, seed);
  const direction = options.direction ?? 'minimize';
  if (direction !== 'minimize' && direction !== 'maximize') throw new KilnError(`direction must be 'minimize' or 'maximize', got ${String(direction)}`, { op });
  if (options.timeout !== undefined) checkPositive(op, 'timeout', options.timeout);
  const { trial } = options;
  let runner: TrialRunner;
  if (typeof trial === 'function') {
    const workers = options.workers ?? 0;
    if (workers !== 0) {
      throw new KilnError(
        `a trial function cannot run in worker threads (closures do not cross threads): pass { module, export } naming a module that exports it, or workers: 0 to run in this thread`,
        { op },
      );
    }
    runner = serialRunner(trial);
  } else if (trial !== null && typeof trial === 'object') {
    const host = await loadNodeHost();
    if (!host) throw new KilnError('a trial module { module, export } needs Node (worker threads, files); in a browser pass the trial function itself with workers: 0', { op });
    const { resolveTrialModule, importTrialFunction, workerPool } = host.trials;
    const mod = resolveTrialModule(trial, op);
    const workers = options.workers ?? Math.max(1, Math.min(host.availableParallelism(), maxParallel));
    checkCount(op, 'workers', workers, 0);
    runner = workers === 0
      ? serialRunner(await importTrialFunction(mod, op))
      : workerPool(mod, { workers, op, ...(options.timeout !== undefined ? { timeout: options.timeout } : {}), ...(options.execArgv ? { execArgv: options.execArgv } : {}), ...(options.tsx !== undefined ? { tsx: options.tsx } : {}) });
  } else {
    throw new KilnError('trial must be { module, export } or (with workers: 0) a function', { op });
  }
  return {
    op, seed, direction, runner, progress: new Progress(options.log ?? 'auto', direction),
    ...(options.onTrial ? { onTrial: options.onTrial } : {}),
  };
}

/** Runs one batch of tasks and turns the outcomes into records. */
async function runRung<S extends Space>(
  plan: Plan<S>, tasks: readonly (TrialTask & { configId: number; rung: number })[],
): Promise<TrialRecord<ConfigOf<S>>[]> {
  const record = (task: TrialTask & { configId: number; rung: number }, o: TrialOutcome): TrialRecord<ConfigOf<S>> => {
    const r: TrialRecord<ConfigOf<S>> = {
      id: task.id, configId: task.configId, config: task.config as ConfigOf<S>,
      score: o.status === 'ok' ? o.score : NaN, budget: task.budget, seed: task.seed, rung: task.rung, status: o.status, ms: o.ms,
    };
    if (o.status === 'failed') r.error = o.error;
    else if (o.extra) r.extra = o.extra;
    return r;
  };
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const outcomes = await plan.runner.runAll(tasks, (task, outcome) => {
    const r = record(byId.get(task.id)!, outcome);
    plan.progress.trial(r);
    plan.onTrial?.(r);
  });
  return tasks.map((t, i) => record(t, outcomes[i]!));
}

function pickBest<C>(op: string, trials: TrialRecord<C>[], direction: Direction): TrialRecord<C> {
  const ok = trials.filter((t) => t.status === 'ok');
  if (ok.length === 0) {
    const errors = [...new Set(trials.map((t) => t.error))].slice(0, 3).join('; ');
    throw new KilnError(`all ${trials.length} trials failed, so there is no best configuration; errors: ${errors}`, { op });
  }
  return [...ok].sort(compareTrials<C>(direction))[0]!;
}

function summary<C>(name: string, trials: TrialRecord<C>[], best: TrialRecord<C>, ms: number): string {
  const failed = trials.filter((t) => t.status === 'failed').length;
  return `${name}: ${trials.length} trials${failed ? ` (${failed} failed)` : ''}, best ${formatValue(best.score, 6)} (id ${best.id}) in ${(ms / 1000).toFixed(1)}s`;
}

/**
 * Random search: samples `trials` configurations from `space` (seeded, so the same seed
 * gives the same configurations and, for a deterministic trial, the same results,
 * whatever the worker count or finishing order), evaluates them in parallel worker
 * threads, and returns every trial, the best and a results table. A trial that throws,
 * returns something other than a score, crashes its worker or times out is recorded as
 * failed with the reason; the search goes on.
 *
 * @example
 * ```ts
 * // trial.mjs: export function trial(config, { budget, seed }) { …train…; return { score: valLoss, accuracy }; }
 * const { space } = kiln.search;
 * const result = await kiln.search.randomSearch({
 *   space: { lr: space.logUniform(1e-4, 1e-1), hidden: space.choice([32, 64, 128]), weightDecay: space.logUniform(1e-6, 1e-2) },
 *   trial: { module: new URL('./trial.mjs', import.meta.url), export: 'trial' },
 *   trials: 16, workers: 2, seed: 0, budget: 3,
 * });
 * console.log(result.table());
 * console.log(result.best.config);
 * ```
 */
export async function randomSearch<S extends Space>(options: RandomSearchOptions<S>): Promise<SearchResult<ConfigOf<S>>> {
  const op = 'search.randomSearch';
  checkCount(op, 'trials', options.trials, 1);
  const budget = options.budget ?? 1;
  checkPositive(op, 'budget', budget);
  const plan = await prepare(op, options, options.trials);
  const t0 = performance.now();
  try {
    const configs = sample(options.space, options.trials, { seed: plan.seed });
    const seeds = trialSeeds(plan.seed, options.trials);
    const tasks = configs.map((config, i) => ({ id: i, configId: i, rung: 0, config, budget, seed: seeds[i]! }));
    plan.progress.begin('random search', tasks.length);
    const trials = await runRung(plan, tasks);
    const best = pickBest(op, trials, plan.direction);
    plan.progress.end(summary('random search', trials, best, performance.now() - t0));
    return new SearchResult(trials, plan.direction, best);
  } finally {
    await plan.runner.close();
  }
}

/**
 * The rungs of successive halving: budgets minBudget·eta^k (k = 0, 1, … while ≤ maxBudget)
 * and how many configurations each evaluates: n, then ⌊n/eta^k⌋ (at least 1).
 *
 * @example
 * ```ts
 * kiln.search.halvingSchedule({ n: 27, minBudget: 1, maxBudget: 9, eta: 3 });
 * // [{ budget: 1, configs: 27 }, { budget: 3, configs: 9 }, { budget: 9, configs: 3 }]
 * ```
 */
export function halvingSchedule(options: { n: number; minBudget: number; maxBudget: number; eta?: number }): { budget: number; configs: number }[] {
  const op = 'search.successiveHalving';
  const eta = options.eta ?? 3;
  checkCount(op, 'n', options.n, 1);
  checkPositive(op, 'minBudget', options.minBudget);
  checkPositive(op, 'maxBudget', options.maxBudget);
  if (options.maxBudget < options.minBudget) throw new KilnError(`maxBudget (${options.maxBudget}) must be ≥ minBudget (${options.minBudget})`, { op });
  if (!(Number.isFinite(eta) && eta > 1)) throw new KilnError(`eta must be a number > 1, got ${eta}`, { op });
  const rungs: { budget: number; configs: number }[] = [];
  let configs = options.n;
  for (let k = 0; ; k++) {
    const budget = options.minBudget * eta ** k;
    if (budget > options.maxBudget * (1 + 1e-12)) break;
    rungs.push({ budget, configs });
    configs = Math.max(1, Math.floor(configs / eta));
  }
  return rungs;
}

/**
 * Successive halving (Jamieson & Talwalkar 2016; Hyperband's inner loop): evaluates `n`
 * sampled configurations at `minBudget`, keeps the best ⌊n/eta⌋, multiplies the budget by
 * `eta` and repeats while the budget stays ≤ `maxBudget` (see `halvingSchedule`). Each
 * rung runs in parallel on the worker threads, which stay up between rungs; survivors are
 * chosen after the whole rung finishes (ties by sampling order), so results do not depend
 * on finishing order. A configuration keeps its seed at every budget. Failed trials are
 * never promoted. The best is the best trial of the highest rung that completed one.
 *
 * @example
 * ```ts
 * const { space } = kiln.search;
 * const result = await kiln.search.successiveHalving({
 *   space: { lr: space.logUniform(1e-4, 1e-1), hidden: space.int(16, 256, { log: true }) },
 *   trial: { module: './trial.mjs', export: 'trial' },   // budget = epochs
 *   n: 27, minBudget: 1, maxBudget: 9, eta: 3, workers: 2, seed: 0,
 * });
 * console.log(result.table({ top: 10 }));
 * ```
 */
export async function successiveHalving<S extends Space>(options: SuccessiveHalvingOptions<S>): Promise<SearchResult<ConfigOf<S>>> {
  const op = 'search.successiveHalving';
  const schedule = halvingSchedule(options);
  const plan = await prepare(op, options, options.n);
  const t0 = performance.now();
  try {
    const configs = sample(options.space, options.n, { seed: plan.seed });
    const seeds = trialSeeds(plan.seed, options.n);
    const trials: TrialRecord<ConfigOf<S>>[] = [];
    let alive = configs.map((_, i) => i);
    for (let rung = 0; rung < schedule.length && alive.length > 0; rung++) {
      const { budget } = schedule[rung]!;
      const first = trials.length;
      const tasks = alive.map((c, i) => ({ id: first + i, configId: c, rung, config: configs[c]!, budget, seed: seeds[c]! }));
      plan.progress.begin(`halving rung ${rung + 1}/${schedule.length} (budget ${formatValue(budget)})`, tasks.length);
      const done = await runRung(plan, tasks);
      trials.push(...done);
      const ok = done.filter((t) => t.status === 'ok').sort(compareTrials<ConfigOf<S>>(plan.direction));
      const keep = schedule[rung + 1]?.configs ?? 0; // the planned count, even when failures left fewer
      alive = ok.slice(0, keep).map((t) => t.configId);
      const rungBest = ok[0];
      plan.progress.end(
        `halving rung ${rung + 1}/${schedule.length}: budget ${formatValue(budget)}, ${tasks.length} config${tasks.length === 1 ? '' : 's'}` +
        `${rungBest ? `, best ${formatValue(rungBest.score, 6)} (config ${rungBest.configId})` : ', all failed'}` +
        `${rung + 1 < schedule.length ? `, ${alive.length} promoted` : ''}`,
      );
    }
    const best = pickBest(op, trials, plan.direction);
    if (options.log !== 'none') stderrSink().write(`${summary('successive halving', trials, best, performance.now() - t0)}\n`);
    return new SearchResult(trials, plan.direction, best);
  } finally {
    await plan.runner.close();
  }
}
