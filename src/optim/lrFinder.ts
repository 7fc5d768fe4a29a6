import { KilnError } from '../eager/index.js';

/** One learning rate tried by `lrFinder`. */
export interface LrTrial {
  lr: number;
  /** What `trainStep(lr)` returned. */
  losses: number[];
  diverged: boolean;
}

/** Options of `lrFinder`. */
export interface LrFinderOptions {
  /**
   * Resets the model (same initial weights every call), trains a few steps at `lr`,
   * and returns the losses: the loss at the start and after each step (at least two).
   */
  trainStep: (lr: number) => readonly number[];
  /** First (largest) lr tried (default 1). */
  start?: number;
  /** Multiplier between tries, in (0, 1) (default 0.5: halve). */
  factor?: number;
  /** Give up after this many tries (default 30). */
  maxTries?: number;
  /** Divergence test; default: a loss is not finite, or the last loss is not below the first. */
  diverged?: (losses: readonly number[]) => boolean;
}

/** The chosen learning rate and every trial, largest lr first. */
export interface LrFinderResult {
  lr: number;
  history: LrTrial[];
}

/**
 * Default divergence test of `lrFinder`: any non-finite loss, or no decrease from the
 * first loss to the last.
 *
 * @example
 * ```ts
 * kiln.optim.lossDiverged([1, 0.5, 0.2]); // false
 * kiln.optim.lossDiverged([1, 4, NaN]);   // true
 * ```
 */
export function lossDiverged(losses: readonly number[]): boolean {
  return losses.some((l) => !Number.isFinite(l)) || !(losses[losses.length - 1]! < losses[0]!);
}

/**
 * Learning-rate search by halving: start with a large learning rate and
 * halve it until training no longer diverges (the loss stays finite and decreases
 * over a few steps). Returns the first such lr and every trial.
 *
 * @example
 * ```ts
 * const x = kiln.tensor([1], { requiresGrad: true });
 * const { lr } = kiln.optim.lrFinder({
 *   trainStep: (lr) => {
 *     kiln.noGrad(() => x.copy_(1));                 // reset the model
 *     const opt = new kiln.optim.SGD([x], { lr });
 *     const losses: number[] = [];
 *     for (let i = 0; i <= 5; i++) {
 *       const loss = x.square().mul(3).sum();        // f = 3x²: diverges for lr ≥ 1/3
 *       losses.push(loss.item());
 *       if (i === 5) break;
 *       loss.backward(); opt.step(); opt.zeroGrad();
 *     }
 *     return losses;
 *   },
 * });
 * lr; // 0.25
 * ```
 */
export function lrFinder(options: LrFinderOptions): LrFinderResult {
  const op = 'lrFinder';
  const { trainStep, start = 1, factor = 0.5, maxTries = 30, diverged = lossDiverged } = options;
  if (typeof trainStep !== 'function') throw new KilnError('trainStep must be a function (lr) => losses', { op });
  if (typeof start !== 'number' || !(start > 0) || !Number.isFinite(start)) throw new KilnError(`start must be a positive number, got ${String(start)}`, { op });
  if (typeof factor !== 'number' || !(factor > 0 && factor < 1)) throw new KilnError(`factor must be in (0, 1), got ${String(factor)}`, { op });
  if (!Number.isInteger(maxTries) || maxTries < 1) throw new KilnError(`maxTries must be a positive integer, got ${String(maxTries)}`, { op });
  const history: LrTrial[] = [];
  let lr = start;
  for (let i = 0; i < maxTries; i++, lr *= factor) {
    const losses = trainStep(lr);
    if (!Array.isArray(losses) || losses.length < 2 || losses.some((l) => typeof l !== 'number')) {
      throw new KilnError(`trainStep(${lr}) must return at least two losses (numbers): the loss at the start and after each step`, { op });
    }
    const bad = diverged(losses);
    history.push({ lr, losses: [...losses], diverged: bad });
    if (!bad) return { lr, history };
  }
  throw new KilnError(`training diverged at every learning rate tried, from ${start} down to ${history[history.length - 1]!.lr}; check the model and loss, or raise maxTries`, { op });
}
