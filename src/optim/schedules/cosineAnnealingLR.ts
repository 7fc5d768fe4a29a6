import { LRScheduler, type LrOptimizer } from './lrScheduler.js';

/** Options of `CosineAnnealingLR`. */
export interface CosineAnnealingLROptions {
  /** Epochs of a half cosine period (the lr reaches `etaMin` at epoch `tMax`). */
  tMax: number;
  /** Minimum lr (default 0). */
  etaMin?: number;
}

/**
 * Cosine annealing (SGDR without restarts): `lr = etaMin + (base − etaMin)·(1 + cos(π·epoch/tMax))/2`,
 * continuing as a cosine past `tMax` (as `torch.optim.lr_scheduler.CosineAnnealingLR`,
 * whose recursive form this follows, so it chains with other schedulers).
 *
 * @example
 * ```ts
 * const opt = new kiln.optim.SGD([w], { lr: 0.1 });
 * const sched = new kiln.optim.CosineAnnealingLR(opt, { tMax: 10, etaMin: 1e-3 });
 * for (let epoch = 0; epoch < 10; epoch++) sched.step();
 * sched.getLastLr(); // ≈ [0.001]
 * ```
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: LrOptimizer, options: CosineAnnealingLROptions) {
    super(optimizer, 'CosineAnnealingLR');
    this.tMax = options.tMax;
    this.etaMin = options.etaMin ?? 0;
    this.check('tMax', this.tMax, (v) => Number.isInteger(v) && v > 0, 'must be a positive integer');
    this.check('etaMin', this.etaMin, Number.isFinite, 'must be a finite number');
    this.initialStep();
  }

  protected computeLr(): number[] {
    const { lastEpoch: t, tMax, etaMin } = this;
    const lrs = this.currentLrs();
    if (t === 0) return lrs;
    // Python's modulo (never negative): the epoch right after a minimum restarts the rise.
    const period = 2 * tMax;
    if ((((t - 1 - tMax) % period) + period) % period === 0) {
      return lrs.map((lr, i) => lr + ((this.baseLrs[i]! - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2);
    }
    const ratio = (1 + Math.cos((Math.PI * t) / tMax)) / (1 + Math.cos((Math.PI * (t - 1)) / tMax));
    return lrs.map((lr) => ratio * (lr - etaMin) + etaMin);
  }
}
