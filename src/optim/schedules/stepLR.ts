import { LRScheduler, type LrOptimizer } from './lrScheduler.js';

/** Options of `StepLR`. */
export interface StepLROptions {
  /** Epochs between decays. */
  stepSize: number;
  /** Multiplicative factor of each decay (default 0.1). */
  gamma?: number;
}

/**
 * Multiplies the lr by `gamma` every `stepSize` epochs: `lr = base·gamma^⌊epoch/stepSize⌋`
 * (as `torch.optim.lr_scheduler.StepLR`).
 *
 * @example
 * ```ts
 * const opt = new kiln.optim.SGD([w], { lr: 0.1 });
 * const sched = new kiln.optim.StepLR(opt, { stepSize: 10, gamma: 0.5 });
 * for (let epoch = 0; epoch < 30; epoch++) sched.step(); // after each epoch's training
 * sched.getLastLr(); // [0.0125]
 * ```
 */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: LrOptimizer, options: StepLROptions) {
    super(optimizer, 'StepLR');
    this.stepSize = options.stepSize;
    this.gamma = options.gamma ?? 0.1;
    this.check('stepSize', this.stepSize, (v) => Number.isInteger(v) && v > 0, 'must be a positive integer');
    this.check('gamma', this.gamma, Number.isFinite, 'must be a finite number');
    this.initialStep();
  }

  protected computeLr(): number[] {
    const lrs = this.currentLrs();
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }
}
