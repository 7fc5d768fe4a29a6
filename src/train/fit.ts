import { argmax, KilnError, noGrad, scope, type Tensor } from '../eager/index.js';
import { callForward, type Module } from '../nn/module.js';
import { ProgressBar } from './progress.js';

/** What `fit` needs of an optimizer (any `kiln.optim` optimizer). */
export interface Steppable {
  step(): void;
  zeroGrad(): void;
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
  /** Report classification accuracy (argmax over dim 1 vs int targets). Default true. */
  accuracy?: boolean;
  /** Called after each epoch; return `true` to stop (e.g. early stopping). */
  onEpochEnd?: (record: EpochRecord) => boolean | void;
  /** 'auto' (bar on a TTY, lines otherwise), 'lines', or 'none'. */
  log?: 'auto' | 'lines' | 'none';
}

/** One epoch of history. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  seconds: number;
}

/** Mean loss (and accuracy) of `model` over `batches`, without gradients, in eval mode. */
export function evaluate(model: Module, batches: Batches, loss: FitOptions['loss'], options: { accuracy?: boolean } = {}): { loss: number; accuracy?: number } {
  const wasTraining = model.training;
  model.eval();
  let total = 0, correct = 0, count = 0;
  try {
    forEachBatch(batches, (x, y) =>
      noGrad(() => {
        const pred = callForward(model, x) as Tensor;
        const n = x.shape[0] ?? 1;
        total += loss(pred, y).item() * n;
        if (options.accuracy ?? true) correct += countCorrect(pred, y);
        count += n;
      }),
    );
  } finally {
    model.train(wasTraining);
  }
  if (count === 0) throw new KilnError('evaluate: no batches');
  return { loss: total / count, ...(options.accuracy ?? true ? { accuracy: correct / count } : {}) };
}

/**
 * Runs `body` on each batch inside its own scope, fetching the batch inside it too, so
 * batches a loader creates are freed with the step (batches made earlier are untouched).
 */
function forEachBatch(batches: Batches, body: (x: Tensor, y: Tensor) => void): void {
  const it = batches[Symbol.iterator]();
  for (;;) {
    const done = scope(() => {
      const next = it.next();
      if (next.done) return true;
      body(next.value[0], next.value[1]);
      return false;
    });
    if (done) return;
  }
}

function countCorrect(pred: Tensor, y: Tensor): number {
  const p = argmax(pred, 1).dataSync();
  const t = y.dataSync();
  let c = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === t[i]) c++;
  return c;
}

/**
 * Trains `model` for `epochs` over `train`, with a progress bar on a TTY (plain lines
 * otherwise), and returns the per-epoch history. Each step runs in a `kiln.scope`.
 *
 * @example
 * ```ts
 * const history = await kiln.fit(model, {
 *   optimizer: new kiln.optim.Adam(model.parameters(), { lr: 1e-3 }),
 *   loss: (p, y) => kiln.nn.crossEntropy(p, y),
 *   train: trainLoader, val: valLoader, epochs: 5,
 * });
 * console.log(history.at(-1)!.valAccuracy);
 * ```
 */
export async function fit(model: Module, options: FitOptions): Promise<EpochRecord[]> {
  const history: EpochRecord[] = [];
  const log = options.log ?? 'auto';
  const withAcc = options.accuracy ?? true;
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const t0 = performance.now();
    model.train();
    const total = options.train.length ?? 0;
    const bar = new ProgressBar(`epoch ${epoch}/${options.epochs}`, total, log === 'none' ? null : process.stderr);
    let lossSum = 0, correct = 0, count = 0, step = 0;
    forEachBatch(options.train, (x, y) => {
      options.optimizer.zeroGrad();
      const pred = callForward(model, x) as Tensor;
      const loss = options.loss(pred, y);
      loss.backward();
      options.optimizer.step();
      const n = x.shape[0] ?? 1;
      lossSum += loss.item() * n;
      if (withAcc) correct += noGrad(() => countCorrect(pred, y));
      count += n;
      step++;
      bar.update(step, `loss ${(lossSum / count).toFixed(4)}${withAcc ? ` acc ${((100 * correct) / count).toFixed(1)}%` : ''}`);
    });
    if (count === 0) throw new KilnError('fit: the training set produced no batches');
    const record: EpochRecord = { epoch, trainLoss: lossSum / count, seconds: 0 };
    if (withAcc) record.trainAccuracy = correct / count;
    if (options.val) {
      const v = evaluate(model, options.val, options.loss, { accuracy: withAcc });
      record.valLoss = v.loss;
      if (v.accuracy !== undefined) record.valAccuracy = v.accuracy;
    }
    record.seconds = (performance.now() - t0) / 1000;
    history.push(record);
    bar.finish(formatRecord(record, options.epochs));
    if (options.onEpochEnd?.(record) === true) break;
    await new Promise((r) => setImmediate(r)); // let the event loop breathe between epochs
  }
  return history;
}

function formatRecord(r: EpochRecord, epochs: number): string {
  const pct = (v?: number) => (v === undefined ? '' : ` ${(100 * v).toFixed(2)}%`);
  let s = `epoch ${r.epoch}/${epochs}  train loss ${r.trainLoss.toFixed(4)}${pct(r.trainAccuracy)}`;
  if (r.valLoss !== undefined) s += `  val loss ${r.valLoss.toFixed(4)}${pct(r.valAccuracy)}`;
  return `${s}  (${r.seconds.toFixed(1)}s)`;
}
