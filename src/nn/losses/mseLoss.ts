import type { Tensor } from '../../eager/index.js';
import { checkFloat, reduceLoss, type LossOptions } from './reduction.js';

/**
 * Mean squared error `(input − target)²`, reduced (PyTorch `mse_loss`; shapes broadcast).
 *
 * @example
 * ```ts
 * kiln.nn.mseLoss(kiln.tensor([1, 2]), kiln.tensor([0, 0])).item(); // (1 + 4) / 2 = 2.5
 * ```
 */
export function mseLoss(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  checkFloat('mseLoss', 'input', input);
  checkFloat('mseLoss', 'target', target);
  return reduceLoss('mseLoss', input.sub(target).square(), options.reduction);
}
