import { KilnError, type Tensor } from '../../eager/index.js';
import { checkFloat, reduceLoss, type LossOptions } from './reduction.js';

/** Huber terms with q = min(|d|, δ): `½q² + δ(|d| − q)` = ½d² inside δ, δ(|d| − ½δ) outside; smooth, no branch. */
function huberTerms(d: Tensor, delta: number): Tensor {
  const a = d.abs();
  const q = a.minimum(delta);
  return q.square().mul(0.5).add(a.sub(q).mul(delta));
}

/**
 * Huber loss (PyTorch `huber_loss`): `½(x − y)²` where `|x − y| < δ`, else
 * `δ·(|x − y| − ½δ)`; `delta` defaults to 1.
 *
 * @example
 * ```ts
 * kiln.nn.huberLoss(kiln.tensor([0.5, 3]), kiln.tensor([0, 0]), { reduction: 'none' }).toArray(); // [0.125, 2.5]
 * ```
 */
export function huberLoss(input: Tensor, target: Tensor, options: LossOptions & { delta?: number } = {}): Tensor {
  checkFloat('huberLoss', 'input', input);
  checkFloat('huberLoss', 'target', target);
  const delta = options.delta ?? 1;
  if (!(delta > 0)) throw new KilnError(`delta must be positive, got ${delta}`, { op: 'huberLoss' });
  return reduceLoss('huberLoss', huberTerms(input.sub(target), delta), options.reduction);
}

/**
 * Smooth L1 loss (PyTorch `smooth_l1_loss`): `½(x − y)²/β` where `|x − y| < β`, else
 * `|x − y| − ½β` — the Huber loss divided by β; `beta` defaults to 1, and 0 gives L1.
 *
 * @example
 * ```ts
 * kiln.nn.smoothL1Loss(kiln.tensor([0.5, 3]), kiln.tensor([0, 0]), { beta: 1 }).item(); // (0.125 + 2.5) / 2
 * ```
 */
export function smoothL1Loss(input: Tensor, target: Tensor, options: LossOptions & { beta?: number } = {}): Tensor {
  checkFloat('smoothL1Loss', 'input', input);
  checkFloat('smoothL1Loss', 'target', target);
  const beta = options.beta ?? 1;
  if (!(beta >= 0)) throw new KilnError(`beta must be non-negative, got ${beta}`, { op: 'smoothL1Loss' });
  const d = input.sub(target);
  return reduceLoss('smoothL1Loss', beta === 0 ? d.abs() : huberTerms(d, beta).div(beta), options.reduction);
}
