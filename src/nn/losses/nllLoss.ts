import type { Tensor } from '../../eager/index.js';
import { pickClasses, readClassTargets, type ClassTargetOptions, type ClassTargets } from './classTargets.js';
import { checkFloat, type Reduction } from './reduction.js';

/** Options of `nllLoss`. */
export interface NLLLossOptions extends ClassTargetOptions {
  /** Default `'mean'`: Σ losses / Σ weights of the non-ignored targets. */
  reduction?: Reduction;
}

/** The weighted negative log-likelihood of checked targets (`c.input` holds log-probabilities), reduced as PyTorch. */
export function nllFromTargets(c: ClassTargets, reduction: Reduction | undefined): Tensor {
  const picked = pickClasses(c.op, c.ignoreIndex, () => c.input.gather(1, c.safeTarget.unsqueeze(1))).squeeze(1);
  const loss = picked.mul(c.elementWeight).neg();
  switch (reduction ?? 'mean') {
    case 'none':
      return c.unbatched ? loss.reshape([]) : loss;
    case 'sum':
      return loss.sum();
    default:
      return loss.sum().div(c.elementWeight.sum());
  }
}

/**
 * Negative log-likelihood (PyTorch `nll_loss`): `−weight[y]·input[n, y]` for log-probability
 * inputs `[N, C]` or `[N, C, d1, …]` (or `[C]` unbatched) and int32 class targets
 * `[N]` / `[N, d1, …]`. `'mean'` divides by the summed weights of the targets that are
 * not `ignoreIndex`.
 *
 * @example
 * ```ts
 * const logp = kiln.tensor([[-0.1, -2.4], [-1.2, -0.4]]);
 * kiln.nn.nllLoss(logp, kiln.tensor([0, 1], { dtype: 'int32' })).item(); // (0.1 + 0.4) / 2
 * ```
 */
export function nllLoss(input: Tensor, target: Tensor, options: NLLLossOptions = {}): Tensor {
  checkFloat('nllLoss', 'input', input);
  const c = readClassTargets('nllLoss', input, target, options);
  return nllFromTargets(c, options.reduction);
}
