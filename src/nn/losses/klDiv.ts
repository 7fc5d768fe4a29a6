import { elementCount, KilnError, type Tensor, where } from '../../eager/index.js';
import { checkFloat } from './reduction.js';

/** Options of `klDiv`. */
export interface KLDivOptions {
  /**
   * `'batchmean'`: sum / batch size (the true KL divergence per sample); `'mean'` (the
   * default, as PyTorch): mean over all elements; `'sum'`; `'none'`.
   */
  reduction?: 'none' | 'mean' | 'sum' | 'batchmean';
  /** `target` holds log-probabilities instead of probabilities. Default false. */
  logTarget?: boolean;
}

/**
 * Kullback–Leibler divergence KL(target ‖ input) (PyTorch `kl_div`) with `input` as
 * log-probabilities: elementwise `target·(log target − input)` (0 where target = 0), or
 * `exp(target)·(target − input)` with `logTarget`.
 *
 * @example
 * ```ts
 * const logq = kiln.tensor([[0.2, 0.8]]).log(), p = kiln.tensor([[0.5, 0.5]]);
 * kiln.nn.klDiv(logq, p, { reduction: 'batchmean' }).item(); // 0.5·ln(0.5/0.2) + 0.5·ln(0.5/0.8)
 * ```
 */
export function klDiv(input: Tensor, target: Tensor, options: KLDivOptions = {}): Tensor {
  const op = 'klDiv';
  checkFloat(op, 'input', input);
  checkFloat(op, 'target', target);
  let loss: Tensor;
  if (options.logTarget) {
    loss = target.exp().mul(target.sub(input));
  } else {
    // xlogy(t, t): the log is taken of 1 where t = 0, so the term and its gradient are 0 there, not NaN.
    const tLogT = target.mul(where(target.greater(0), target, 1).log());
    loss = tLogT.sub(target.mul(input));
  }
  switch (options.reduction ?? 'mean') {
    case 'none':
      return loss;
    case 'sum':
      return loss.sum();
    case 'mean':
      return loss.mean();
    case 'batchmean':
      return input.rank ? loss.sum().div(elementCount(input, 0)) : loss.sum();
    default:
      throw new KilnError(`reduction must be 'none', 'mean', 'sum' or 'batchmean', got '${String(options.reduction)}'`, { op });
  }
}
