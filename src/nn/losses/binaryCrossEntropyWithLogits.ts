import type { Tensor } from '../../eager/index.js';
import { checkFloat, checkSameShape, reduceLoss, type LossOptions } from './reduction.js';

/** Options of `binaryCrossEntropyWithLogits`. */
export interface BinaryCrossEntropyWithLogitsOptions extends LossOptions {
  /** Rescales each element's loss (broadcast against the input). */
  weight?: Tensor | null;
  /** Weight of the positive term per class (broadcast along the last axis): > 1 raises recall. */
  posWeight?: Tensor | null;
}

/**
 * Binary cross-entropy of logits (PyTorch `binary_cross_entropy_with_logits`), with
 * `σ` folded in for stability:
 * `ℓ = (1 − y)·x + (1 + (posWeight − 1)·y)·softplus(−x)`, which is
 * `−[posWeight·y·log σ(x) + (1 − y)·log(1 − σ(x))]` without ever forming σ(x) — no
 * overflow for large |x|.
 *
 * @example
 * ```ts
 * const logits = kiln.tensor([[2, -1]]), y = kiln.tensor([[1, 0]]);
 * kiln.nn.binaryCrossEntropyWithLogits(logits, y, { posWeight: kiln.tensor([3, 1]) }).item();
 * ```
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, options: BinaryCrossEntropyWithLogitsOptions = {}): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  checkFloat(op, 'input', input);
  checkFloat(op, 'target', target);
  checkSameShape(op, input, target);
  const softplusNeg = input.neg().softplus();
  const logWeight = options.posWeight ? options.posWeight.sub(1).mul(target).add(1) : null;
  let loss = target.neg().add(1).mul(input).add(logWeight ? logWeight.mul(softplusNeg) : softplusNeg);
  if (options.weight) loss = loss.mul(options.weight);
  return reduceLoss(op, loss, options.reduction);
}
