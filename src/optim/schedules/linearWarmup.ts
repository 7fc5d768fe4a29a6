import { LinearLR } from './linearLR.js';
import type { LrOptimizer } from './lrScheduler.js';

/** Options of `LinearWarmup`. */
export interface LinearWarmupOptions {
  /** Epochs (or steps, if you step it per batch) until the full lr is reached. */
  warmupSteps: number;
  /** Factor of the lr at step 0, in (0, 1] (default 1/3, as PyTorch's LinearLR). */
  startFactor?: number;
}

/**
 * Linear learning-rate warm-up: from `startFactor·lr` to `lr` over `warmupSteps`
 * steps, then constant. Equivalent to `LinearLR(opt, { startFactor, endFactor: 1,
 * totalIters: warmupSteps })`.
 *
 * @example
 * ```ts
 * const opt = new kiln.optim.Adam([w], { lr: 1e-3 });
 * const warmup = new kiln.optim.LinearWarmup(opt, { warmupSteps: 100, startFactor: 0.01 });
 * for (let i = 0; i < 1000; i++) {
 *   // ... one training step ...
 *   warmup.step();
 * }
 * ```
 */
export class LinearWarmup extends LinearLR {
  constructor(optimizer: LrOptimizer, options: LinearWarmupOptions) {
    super(optimizer, { startFactor: options.startFactor ?? 1 / 3, endFactor: 1, totalIters: options.warmupSteps }, 'LinearWarmup');
  }
}
