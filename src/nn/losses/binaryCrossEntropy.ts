import { type Tensor, where } from '../../eager/index.js';
import { checkFloat, checkSameShape, reduceLoss, type LossOptions } from './reduction.js';

/** Options of `binaryCrossEntropy`. */
export interface BinaryCrossEntropyOptions extends LossOptions {
  /** Rescales each element's loss (broadcast against the input). */
  weight?: Tensor | null;
}

/**
 * `max(log q, −100)`, as PyTorch clamps BCE's logs. Where q = 0 (a saturated sigmoid in
 * float32) the log is taken of 1 instead and replaced by −100, so the backward pass
 * sees no 0/0 and yields 0 there rather than NaN.
 */
function clampedLog(q: Tensor): Tensor {
  const positive = q.greater(0);
  return where(positive, where(positive, q, 1).log().clip(-100, null), -100);
}

/**
 * Binary cross-entropy of probabilities (PyTorch `binary_cross_entropy`):
 * `−weight·(y·log p + (1 − y)·log(1 − p))`, each log clamped to ≥ −100 as PyTorch does,
 * so p = 0 or 1 gives a finite loss. `input` and `target` have the same shape.
 *
 * @example
 * ```ts
 * const p = kiln.tensor([0.9, 0.2]), y = kiln.tensor([1, 0]);
 * kiln.nn.binaryCrossEntropy(p, y).item(); // −(log 0.9 + log 0.8) / 2
 * ```
 */
export function binaryCrossEntropy(input: Tensor, target: Tensor, options: BinaryCrossEntropyOptions = {}): Tensor {
  const op = 'binaryCrossEntropy';
  checkFloat(op, 'input', input);
  checkFloat(op, 'target', target);
  checkSameShape(op, input, target);
  let loss = target.mul(clampedLog(input)).add(target.neg().add(1).mul(clampedLog(input.neg().add(1)))).neg();
  if (options.weight) loss = loss.mul(options.weight);
  return reduceLoss(op, loss, options.reduction);
}
