import { KilnError, noGrad, type Tensor } from '../eager/index.js';
import type { Weights } from './statefulModel.js';

/** Options of `EarlyStopping`. */
export interface EarlyStoppingOptions {
  /** Epochs without improvement tolerated; training stops at the `patience`-th such epoch in a row. */
  patience: number;
  /** Minimum change that counts as an improvement (default 0). */
  minDelta?: number;
  /** 'min': the metric should fall (a loss); 'max': it should rise (an accuracy). Default 'min'. */
  mode?: 'min' | 'max';
  /** Keep a copy of the weights at the best epoch and restore them when stopping (default true). */
  restoreBestWeights?: boolean;
}

/**
 * Early stopping on a validation metric (Keras semantics): call `step(metric, model)`
 * after each epoch; it returns true once the metric has failed to improve by more
 * than `minDelta` for `patience` epochs in a row. With `restoreBestWeights` it keeps
 * a copy of the weights from the best epoch and writes them back into the model
 * (in place) when it says stop; `restoreBest(model)` does so on demand.
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Linear(2, 1);
 * const stopper = new kiln.optim.EarlyStopping({ patience: 2 });
 * for (const valLoss of [0.9, 0.7, 0.8, 0.75, 0.6]) {
 *   // ... one epoch of training, then valLoss from the validation set ...
 *   if (stopper.step(valLoss, model)) break; // stops at 0.75, restoring the 0.7 epoch's weights
 * }
 * ```
 */
export class EarlyStopping {
  readonly patience: number;
  readonly minDelta: number;
  readonly mode: 'min' | 'max';
  readonly restoreBestWeights: boolean;
  /** Best metric so far (±Infinity before the first step). */
  best: number;
  /** Epoch (0-based count of `step` calls) of the best metric, -1 before any. */
  bestEpoch = -1;
  /** Consecutive epochs without improvement. */
  wait = 0;
  /** Number of `step` calls so far. */
  epoch = 0;
  /** Whether `step` has returned true. */
  stopped = false;
  private snapshot: Tensor[] | Map<string, Tensor> | null = null;

  constructor(options: EarlyStoppingOptions) {
    const fail = (message: string): never => {
      throw new KilnError(message, { op: 'EarlyStopping' });
    };
    if (typeof options !== 'object' || options === null) fail('expected options like { patience: 5 }');
    this.patience = options.patience;
    this.minDelta = options.minDelta ?? 0;
    this.mode = options.mode ?? 'min';
    this.restoreBestWeights = options.restoreBestWeights ?? true;
    if (!Number.isInteger(this.patience) || this.patience < 0) fail(`patience must be a non-negative integer, got ${String(this.patience)}`);
    if (typeof this.minDelta !== 'number' || !(this.minDelta >= 0)) fail(`minDelta must be a number ≥ 0, got ${String(this.minDelta)}`);
    if (this.mode !== 'min' && this.mode !== 'max') fail(`mode must be 'min' or 'max', got ${String(this.mode)}`);
    this.best = this.mode === 'min' ? Infinity : -Infinity;
  }

  /**
   * Records one epoch's metric; returns true when training should stop (having
   * restored the best weights into `model` if `restoreBestWeights`).
   */
  step(metric: number, model?: Weights): boolean {
    if (typeof metric !== 'number') throw new KilnError(`step(metric) needs a number (use loss.item()), got ${typeof metric}`, { op: 'EarlyStopping' });
    if (this.restoreBestWeights && model === undefined) {
      throw new KilnError('restoreBestWeights needs the model: call step(metric, model), or pass restoreBestWeights: false', { op: 'EarlyStopping' });
    }
    const epoch = this.epoch++;
    if (this.isImprovement(metric)) {
      this.best = metric;
      this.bestEpoch = epoch;
      this.wait = 0;
      if (this.restoreBestWeights) this.save(model!);
      return false;
    }
    this.wait++;
    if (this.wait >= this.patience) {
      this.stopped = true;
      if (this.restoreBestWeights) this.restoreBest(model!);
      return true;
    }
    return false;
  }

  /** Whether `metric` improves on the best by more than `minDelta`. */
  isImprovement(metric: number): boolean {
    return this.mode === 'min' ? metric < this.best - this.minDelta : metric > this.best + this.minDelta;
  }

  /** Writes the best weights seen so far into `model` (in place). No-op before the first snapshot. */
  restoreBest(model: Weights): void {
    const snap = this.snapshot;
    if (!snap) return;
    if (Array.isArray(model)) {
      const tensors = model as readonly Tensor[];
      if (!Array.isArray(snap) || snap.length !== tensors.length) throw new KilnError(`restoreBest: the snapshot holds ${Array.isArray(snap) ? snap.length : 'named'} tensors, the model ${tensors.length}`, { op: 'EarlyStopping' });
      noGrad(() => tensors.forEach((t, i) => t.copy_(snap[i]!)));
    } else {
      if (!(snap instanceof Map)) throw new KilnError('restoreBest: the snapshot is a list of tensors but the model is a stateful model', { op: 'EarlyStopping' });
      (model as Exclude<Weights, readonly Tensor[]>).loadStateDict(snap);
    }
  }

  /** Forgets the best metric and frees the saved weights (to reuse the object). */
  reset(): void {
    this.dispose();
    this.best = this.mode === 'min' ? Infinity : -Infinity;
    this.bestEpoch = -1;
    this.wait = 0;
    this.epoch = 0;
    this.stopped = false;
  }

  /** Frees the saved weights. */
  dispose(): void {
    const snap = this.snapshot;
    if (snap) for (const t of snap.values()) t.dispose();
    this.snapshot = null;
  }

  private save(model: Weights): void {
    const copy = (t: Tensor): Tensor => noGrad(() => t.clone()).keep();
    let next: Tensor[] | Map<string, Tensor>;
    if (Array.isArray(model)) {
      next = (model as readonly Tensor[]).map(copy);
    } else {
      const state = (model as Exclude<Weights, readonly Tensor[]>).stateDict();
      const entries = state instanceof Map ? [...state] : Object.entries(state);
      next = new Map(entries.map(([k, t]) => [k, copy(t)]));
    }
    this.dispose();
    this.snapshot = next;
  }
}
