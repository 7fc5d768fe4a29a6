import { KilnError, noGrad, scope, Tensor } from '../eager/index.js';
import { callForward, type Module } from '../nn/module.js';
import { addConfusion, confusionMatrix, precisionRecallF1, toClassIndices, type Average, type ConfusionMatrix } from './metrics.js';
import { lineSink, stderrSink, yieldToEventLoop } from '../platform/index.js';
import { ProgressBar } from './progress.js';
import { ReportCollector, type ReportOptions } from './reportCollect.js';

/** What `fit` needs of an optimizer (any `kiln.optim` optimizer). */
export interface Steppable {
  step(): void;
  zeroGrad(): void;
  /** Read for the learning rate `onBatchEnd` reports (`paramGroups[0].lr`), when present. */
  readonly paramGroups?: readonly { readonly lr?: unknown }[];
}

/**
 * A metric `fit` and `evaluate` can report for classification (predictions `[N, C]`
 * reduced by argmax over dim 1, integer targets): `'accuracy'`, `'precision'`,
 * `'recall'`, `'f1'` (averaged as `average` says, default macro) or `'confusion'`
 * (the confusion matrix, rows = true class).
 */
export type MetricName = 'accuracy' | 'precision' | 'recall' | 'f1' | 'confusion';

/** Metric values of one pass over a data set (those that were asked for). */
export interface MetricValues {
  accuracy?: number;
  precision?: number;
  recall?: number;
  f1?: number;
  /** `confusion[t][p]`: samples of true class t predicted as p. */
  confusion?: ConfusionMatrix;
}

/** What `onBatchEnd` receives after each optimizer step. */
export interface BatchRecord {
  /** 1-based, as `EpochRecord.epoch`. */
  epoch: number;
  /** 1-based index of the batch within the epoch. */
  batch: number;
  /** Number of batches per epoch, when the loader knows it. */
  batches?: number;
  /** This batch's loss (the value `loss` returned, before the step). */
  loss: number;
  /** Samples in this batch (size of dim 0). */
  size: number;
  /** The optimizer's learning rate for this step (`paramGroups[0].lr`), when it has one. */
  lr?: number;
}

/** Batches of `[inputs, targets]`, e.g. a `kiln.data.DataLoader`. */
export type Batches = Iterable<readonly [Tensor, Tensor]> & { readonly length?: number };

export interface FitOptions {
  optimizer: Steppable;
  /** Loss of a batch: `(predictions, targets) => scalar`. */
  loss: (pred: Tensor, target: Tensor) => Tensor;
  train: Batches;
  /** Validation batches, evaluated after every epoch in eval mode. */
  val?: Batches;
  epochs: number;
  /** Report classification accuracy (argmax over dim 1 vs int targets). Default true; ignored when `metrics` is given. */
  accuracy?: boolean;
  /**
   * Metrics to report per epoch in `trainMetrics`/`valMetrics` (and accuracy also in
   * `trainAccuracy`/`valAccuracy`), e.g. `['accuracy', 'f1', 'confusion']`.
   * Default: `['accuracy']` unless `accuracy: false`.
   */
  metrics?: readonly MetricName[];
  /** Average for `precision`, `recall`, `f1`: `'macro'` (default), `'micro'` or `'weighted'`. */
  average?: Average;
  /** Classes for the confusion matrix; default the predictions' dim 1. */
  numClasses?: number;
  /** Called after each optimizer step; return `true` to stop training after this batch (the epoch is still validated and recorded). */
  onBatchEnd?: (record: BatchRecord) => boolean | void;
  /** Called after each epoch; return `true` to stop (e.g. early stopping). */
  onEpochEnd?: (record: EpochRecord) => boolean | void;
  /**
   * 'auto' (bar on a TTY, lines otherwise; the console in a browser), 'lines', 'none', or
   * a function that receives each finished epoch's line (e.g. to show it in a page).
   */
  log?: 'auto' | 'lines' | 'none' | ((line: string) => void);
  /**
   * Write a self-contained HTML training report (Node only) to this path, or as
   * `ReportOptions` say: loss/accuracy curves, learning rate, per-layer gradient norms,
   * activation histograms and dead/saturated units, first-layer filters, the validation
   * confusion matrix, and a PNG of the curves beside it. Rewritten atomically after each
   * epoch; a failure to collect or write it is a warning, never an error of `fit`.
   */
  report?: string | ReportOptions;
}

/** One epoch of history. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  /** Present when `metrics` was given: the requested metrics on the training batches (as the model was during the epoch). */
  trainMetrics?: MetricValues;
  /** Present when `metrics` was given and there is a validation set. */
  valMetrics?: MetricValues;
  seconds: number;
}

/** Options of `evaluate`. */
export interface EvaluateOptions {
  /** Report accuracy (default true); ignored when `metrics` is given. */
  accuracy?: boolean;
  /** Metrics to report (see `FitOptions.metrics`). */
  metrics?: readonly MetricName[];
  /** Average for `precision`, `recall`, `f1` (default `'macro'`). */
  average?: Average;
  /** Classes for the confusion matrix; default the predictions' dim 1. */
  numClasses?: number;
}

/** What `evaluate` returns: the mean loss and the metrics that were asked for. */
export interface EvaluateResult extends MetricValues {
  loss: number;
}

/**
 * Mean loss and metrics of `model` over `batches`, without gradients, in eval mode.
 *
 * @example
 * ```ts
 * const r = kiln.evaluate(model, testLoader, (p, y) => kiln.nn.crossEntropy(p, y), { metrics: ['accuracy', 'f1', 'confusion'] });
 * console.log(r.loss, r.accuracy, r.f1, r.confusion);
 * ```
 */
export function evaluate(model: Module, batches: Batches, loss: FitOptions['loss'], options: EvaluateOptions = {}): EvaluateResult {
  return evaluateWith(model, batches, loss, resolveMetrics(options.metrics, options.accuracy), options, false).result;
}

/**
 * `evaluate` with resolved metrics; `extraConfusion` also accumulates a confusion matrix
 * that is not part of the result (for the training report), given up quietly (`null`)
 * when the predictions are not class scores.
 */
function evaluateWith(model: Module, batches: Batches, loss: FitOptions['loss'], metricSet: ReadonlySet<MetricName>, options: EvaluateOptions, extraConfusion: boolean): { result: EvaluateResult; confusion: ConfusionMatrix | null } {
  const wasTraining = model.training;
  model.eval();
  const metrics = new MetricAccumulator(metricSet, options.numClasses, extraConfusion);
  let total = 0, count = 0;
  try {
    forEachBatch(batches, (x, y) =>
      noGrad(() => {
        const pred = callForward(model, x) as Tensor;
        const n = x.shape[0] ?? 1;
        total += loss(pred, y).item() * n;
        metrics.add(pred, y);
        count += n;
        return false;
      }),
    );
  } finally {
    model.train(wasTraining);
  }
  if (count === 0) throw new KilnError('evaluate: no batches');
  return { result: { loss: total / count, ...metrics.values(options.average) }, confusion: metrics.extraConfusion };
}

function resolveMetrics(metrics: readonly MetricName[] | undefined, accuracy: boolean | undefined): ReadonlySet<MetricName> {
  if (metrics === undefined) return new Set(accuracy ?? true ? ['accuracy'] : []);
  const known: readonly MetricName[] = ['accuracy', 'precision', 'recall', 'f1', 'confusion'];
  if (!Array.isArray(metrics)) throw new KilnError(`metrics must be an array of ${known.map((k) => `'${k}'`).join(', ')}`, { op: 'fit' });
  for (const m of metrics) {
    if (!known.includes(m)) throw new KilnError(`unknown metric ${JSON.stringify(m)}: expected one of ${known.map((k) => `'${k}'`).join(', ')}`, { op: 'fit' });
  }
  return new Set(metrics);
}

/** Accumulates correct counts (accuracy) or a confusion matrix (the other metrics) over batches. */
class MetricAccumulator {
  private correct = 0;
  private count = 0;
  private confusion: ConfusionMatrix | null = null;
  private readonly needConfusion: boolean;
  /** Whether to keep a confusion matrix the metrics do not need (given up on a failure). */
  private extra: boolean;

  constructor(readonly metrics: ReadonlySet<MetricName>, private readonly numClasses: number | undefined, extraConfusion = false) {
    this.needConfusion = [...metrics].some((m) => m !== 'accuracy');
    this.extra = extraConfusion && !this.needConfusion;
  }

  /** The confusion matrix kept for `extraConfusion` (or needed by the metrics anyway), null when it could not be computed. */
  get extraConfusion(): ConfusionMatrix | null {
    return this.needConfusion || this.extra ? this.confusion : null;
  }

  /** Accuracy over the batches so far (0 before any). */
  get accuracy(): number {
    return this.count === 0 ? 0 : this.correct / this.count;
  }

  get empty(): boolean {
    return this.metrics.size === 0;
  }

  add(pred: Tensor, y: Tensor): void {
    if (this.empty && !this.extra) return;
    noGrad(() => {
      if (this.empty) {
        this.addExtra(pred, y, () => this.addConfusion(pred, toClassIndices(pred, 'fit'), toClassIndices(y, 'fit')));
        return;
      }
      const p = toClassIndices(pred, 'fit');
      const t = toClassIndices(y, 'fit');
      if (this.metrics.has('accuracy')) {
        for (let i = 0; i < p.length; i++) if (p[i] === t[i]) this.correct++;
        this.count += p.length;
      }
      if (this.needConfusion) this.addConfusion(pred, p, t);
      else if (this.extra) this.addExtra(pred, y, () => this.addConfusion(pred, p, t));
    });
  }

  private addConfusion(pred: Tensor, p: ArrayLike<number>, t: ArrayLike<number>): void {
    const k = this.numClasses ?? (pred.rank >= 2 ? pred.shape[1] : undefined);
    if (k === undefined) throw new KilnError('precision, recall, f1 and confusion need predictions of shape [N, C] or the numClasses option', { op: 'fit' });
    const m = confusionMatrix(p, t, k);
    this.confusion = this.confusion ? addConfusion(this.confusion, m) : m;
  }

  /**
   * Runs an optional confusion update, only for class scores `[N, C ≥ 2]` with class-index
   * `[N]` or probability `[N, C]` targets: anything else (not a classifier), or a failure,
   * drops the extra matrix instead of raising.
   */
  private addExtra(pred: Tensor, y: Tensor, update: () => void): void {
    const scores = pred.rank === 2 && (pred.shape[1] ?? 0) >= 2 && (y.rank === 1 || (y.rank === 2 && y.shape[1] === pred.shape[1]));
    try {
      if (!scores) throw new KilnError('not class scores');
      update();
    } catch {
      this.extra = false;
      this.confusion = null;
    }
  }

  values(average: Average = 'macro'): MetricValues {
    const out: MetricValues = {};
    if (this.metrics.has('accuracy')) out.accuracy = this.accuracy;
    if (this.confusion && this.needConfusion) {
      const s = precisionRecallF1(this.confusion)[average];
      if (this.metrics.has('precision')) out.precision = s.precision;
      if (this.metrics.has('recall')) out.recall = s.recall;
      if (this.metrics.has('f1')) out.f1 = s.f1;
      if (this.metrics.has('confusion')) out.confusion = this.confusion.map((row) => [...row]);
    }
    return out;
  }
}

/**
 * Runs `body` on each batch inside its own scope, fetching the batch inside it too, so
 * batches a loader creates are freed with the step (batches made earlier are untouched).
 */
function forEachBatch(batches: Batches, body: (x: Tensor, y: Tensor) => boolean): void {
  const it = batches[Symbol.iterator]();
  for (;;) {
    const done = scope(() => {
      const next = it.next();
      if (next.done) return true;
      return body(next.value[0], next.value[1]);
    });
    if (done) {
      it.return?.();
      return;
    }
  }
}

/** `paramGroups[0].lr` as a number (a tensor learning rate is read), else undefined. */
function currentLr(optimizer: Steppable): number | undefined {
  const lr = optimizer.paramGroups?.[0]?.lr;
  if (typeof lr === 'number') return lr;
  if (lr instanceof Tensor && lr.size === 1) return lr.item();
  return undefined;
}

/**
 * Trains `model` for `epochs` over `train`, with a progress bar on a TTY (plain lines
 * otherwise), and returns the per-epoch history. Each step runs in a `kiln.scope`.
 * `metrics` adds `trainMetrics`/`valMetrics` (precision, recall, F1 averaged as
 * `average` says, and the confusion matrix, from `kiln.metrics`) to each record;
 * `onBatchEnd` runs after every optimizer step, `onEpochEnd` after every epoch.
 * `report: 'run.html'` writes a self-contained HTML training report and `run.png` (Node;
 * see `ReportOptions`), collected through those same callbacks.
 *
 * @example
 * ```ts
 * const history = await kiln.fit(model, {
 *   optimizer: new kiln.optim.Adam(model.parameters(), { lr: 1e-3 }),
 *   loss: (p, y) => kiln.nn.crossEntropy(p, y),
 *   train: trainLoader, val: valLoader, epochs: 5,
 *   metrics: ['accuracy', 'f1', 'confusion'],             // default ['accuracy']
 *   onBatchEnd: ({ epoch, batch, loss, lr }) => { if (batch % 100 === 0) console.log(epoch, batch, loss, lr); },
 *   report: 'run.html',                                    // and run.png: curves, gradients, activations, filters, confusion
 * });
 * console.log(history.at(-1)!.valAccuracy, history.at(-1)!.valMetrics!.f1, history.at(-1)!.valMetrics!.confusion);
 * ```
 */
export async function fit(model: Module, options: FitOptions): Promise<EpochRecord[]> {
  const history: EpochRecord[] = [];
  const log = options.log ?? 'auto';
  const metricSet = resolveMetrics(options.metrics, options.accuracy);
  const detailed = options.metrics !== undefined;
  const withAcc = metricSet.has('accuracy');
  // The report collects through the same per-batch and per-epoch callbacks as the user's (its own first).
  const report = options.report === undefined ? null : new ReportCollector(model, options.report, options);
  const onBatchEnd = chain(report?.onBatchEnd, options.onBatchEnd);
  const onEpochEnd = chain(report?.onEpochEnd, options.onEpochEnd);
  let stop = false;
  try {
    for (let epoch = 1; epoch <= options.epochs && !stop; epoch++) {
      const t0 = performance.now();
      model.train();
      const total = options.train.length ?? 0;
      const bar = new ProgressBar(`epoch ${epoch}/${options.epochs}`, total, log === 'none' ? null : typeof log === 'function' ? lineSink(log) : stderrSink());
      const metrics = new MetricAccumulator(metricSet, options.numClasses);
      let lossSum = 0, count = 0, step = 0;
      forEachBatch(options.train, (x, y) => {
        options.optimizer.zeroGrad();
        const pred = callForward(model, x) as Tensor;
        const loss = options.loss(pred, y);
        loss.backward();
        const lr = onBatchEnd ? currentLr(options.optimizer) : undefined;
        options.optimizer.step();
        const n = x.shape[0] ?? 1;
        const value = loss.item();
        lossSum += value * n;
        metrics.add(pred, y);
        count += n;
        step++;
        bar.update(step, `loss ${(lossSum / count).toFixed(4)}${withAcc ? ` acc ${(100 * metrics.accuracy).toFixed(1)}%` : ''}`);
        if (onBatchEnd) {
          const record: BatchRecord = { epoch, batch: step, loss: value, size: n };
          if (options.train.length !== undefined) record.batches = options.train.length;
          if (lr !== undefined) record.lr = lr;
          if (onBatchEnd(record) === true) stop = true;
        }
        return stop;
      });
      if (count === 0) throw new KilnError('fit: the training set produced no batches');
      const record: EpochRecord = { epoch, trainLoss: lossSum / count, seconds: 0 };
      const trainValues = metrics.values(options.average);
      if (trainValues.accuracy !== undefined) record.trainAccuracy = trainValues.accuracy;
      if (detailed) record.trainMetrics = trainValues;
      if (options.val) {
        const evalOptions: EvaluateOptions = { ...(options.average ? { average: options.average } : {}), ...(options.numClasses ? { numClasses: options.numClasses } : {}) };
        const { result: v, confusion } = evaluateWith(model, options.val, options.loss, metricSet, evalOptions, report !== null);
        if (report) report.valConfusion = confusion;
        record.valLoss = v.loss;
        if (v.accuracy !== undefined) record.valAccuracy = v.accuracy;
        if (detailed) {
          const { loss: _loss, ...values } = v;
          record.valMetrics = values;
        }
      }
      record.seconds = (performance.now() - t0) / 1000;
      history.push(record);
      bar.finish(formatRecord(record, options.epochs));
      const halt = onEpochEnd?.(record) === true;
      if (report?.due(epoch, halt || stop)) await report.write(history);
      if (halt) break;
      if (!stop) await yieldToEventLoop(); // let the event loop (a page: its rendering) breathe between epochs
    }
  } catch (err) {
    // A run that fails still leaves a report of what it got through (then the error goes on).
    if (report) await report.write(history, err);
    throw err;
  } finally {
    report?.dispose();
  }
  return history;
}

/** One callback calling `first` then `second` (the result of `second` decides), or undefined when both are. */
function chain<R>(first: ((r: R) => void) | undefined, second: ((r: R) => boolean | void) | undefined): ((r: R) => boolean | void) | undefined {
  if (!first) return second;
  if (!second) return first;
  return (r) => {
    first(r);
    return second(r);
  };
}

function formatRecord(r: EpochRecord, epochs: number): string {
  const pct = (v?: number) => (v === undefined ? '' : ` ${(100 * v).toFixed(2)}%`);
  const more = (m?: MetricValues) =>
    m ? (['precision', 'recall', 'f1'] as const).map((k) => (m[k] === undefined ? '' : ` ${k} ${m[k].toFixed(4)}`)).join('') : '';
  let s = `epoch ${r.epoch}/${epochs}  train loss ${r.trainLoss.toFixed(4)}${pct(r.trainAccuracy)}${more(r.trainMetrics)}`;
  if (r.valLoss !== undefined) s += `  val loss ${r.valLoss.toFixed(4)}${pct(r.valAccuracy)}${more(r.valMetrics)}`;
  return `${s}  (${r.seconds.toFixed(1)}s)`;
}
