import { LRScheduler, type LrOptimizer } from './lrScheduler.js';

/** Options of `ExponentialLR`. */
export interface ExponentialLROptions {
  /** Multiplicative factor per epoch. */
  gamma: number;
}

/**
 * Multiplies the lr by `gamma` every epoch: `lr = base·gamma^epoch`
 * (as `torch.optim.lr_scheduler.ExponentialLR`).
 *
 * @example
 * ```ts
 * const opt = new kiln.optim.Adam([w], { lr: 1e-2 });
 * const sched = new kiln.optim.ExponentialLR(opt, { gamma: 0.9 });
 * sched.step();
 * sched.getLastLr(); // ≈ [0.009]
 * ```
 */
export class ExponentialLR extends LRScheduler {
  readonly gamma: number;

  constructor(optimizer: LrOptimizer, options: ExponentialLROptions) {
    super(optimizer, 'ExponentialLR');
    this.gamma = options.gamma;
    this.check('gamma', this.gamma, Number.isFinite, 'must be a finite number');
    this.initialStep();
  }

  protected computeLr(): number[] {
    const lrs = this.currentLrs();
    return this.lastEpoch === 0 ? lrs : lrs.map((lr) => lr * this.gamma);
  }
}
