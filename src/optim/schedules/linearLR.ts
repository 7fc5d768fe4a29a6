import { LRScheduler, type LrOptimizer } from './lrScheduler.js';

/** Options of `LinearLR`. */
export interface LinearLROptions {
  /** Factor of the base lr at epoch 0, in (0, 1] (default 1/3). */
  startFactor?: number;
  /** Factor reached at epoch `totalIters`, in [0, 1] (default 1). */
  endFactor?: number;
  /** Epochs of the linear ramp (default 5). */
  totalIters?: number;
}

/**
 * Scales the lr by a factor moving linearly from `startFactor` to `endFactor` over
 * `totalIters` epochs, then constant (as `torch.optim.lr_scheduler.LinearLR`).
 * With the default `endFactor` 1 it is a linear warm-up.
 *
 * @example
 * ```ts
 * const opt = new kiln.optim.SGD([w], { lr: 0.1 });
 * const sched = new kiln.optim.LinearLR(opt, { startFactor: 0.25, totalIters: 3 });
 * sched.getLastLr(); // [0.025]
 * sched.step(); sched.step(); sched.step();
 * sched.getLastLr(); // ≈ [0.1]
 * ```
 */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;

  /** `name` (@internal) labels error messages of subclasses such as `LinearWarmup`. */
  constructor(optimizer: LrOptimizer, options: LinearLROptions = {}, name = 'LinearLR') {
    super(optimizer, name);
    this.startFactor = options.startFactor ?? 1 / 3;
    this.endFactor = options.endFactor ?? 1;
    this.totalIters = options.totalIters ?? 5;
    this.check('startFactor', this.startFactor, (v) => v > 0 && v <= 1, 'must be in (0, 1]');
    this.check('endFactor', this.endFactor, (v) => v >= 0 && v <= 1, 'must be in [0, 1]');
    this.check('totalIters', this.totalIters, (v) => Number.isInteger(v) && v > 0, 'must be a positive integer');
    this.initialStep();
  }

  protected computeLr(): number[] {
    const { lastEpoch: t, startFactor: s, endFactor: e, totalIters: n } = this;
    const lrs = this.currentLrs();
    if (t === 0) return lrs.map((lr) => lr * s);
    if (t > n) return lrs;
    const factor = 1 + (e - s) / (n * s + (t - 1) * (e - s));
    return lrs.map((lr) => lr * factor);
  }
}
