import type { Tensor } from '../../eager/index.js';
import { checkFloat, reduceLoss, type LossOptions } from './reduction.js';

/**
 * Mean absolute error `|input − target|`, reduced (PyTorch `l1_loss`; shapes broadcast).
 *
 * @example
 * ```ts
 * kiln.nn.l1Loss(kiln.tensor([1, -2]), kiln.tensor([0, 0]), { reduction: 'sum' }).item(); // 3
 * ```
 */
export function l1Loss(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  checkFloat('l1Loss', 'input', input);
  checkFloat('l1Loss', 'target', target);
  return reduceLoss('l1Loss', input.sub(target).abs(), options.reduction);
}
