import { div, KilnError, noGrad, scope, where, type Tensor } from '../eager/index.js';

/** Options of `maxNormConstraint`. */
export interface MaxNormOptions {
  /**
   * The axis that indexes the constrained sub-tensors (PyTorch `renorm`'s `dim`):
   * with the default 0, each row of a Linear weight `[out, in]` (each output unit's
   * incoming weights) or each filter of a Conv2d weight `[out, in, kh, kw]` is
   * renormalized, the norm taken over all other axes. (Keras' `MaxNorm(axis)` names the
   * reduced axes instead.)
   */
  axis?: number;
  /** Added to the norm before dividing (default 1e-7, as PyTorch and Keras). */
  eps?: number;
}

/**
 * Max-norm constraint: every slice of `weight` along `axis` whose L2 norm exceeds
 * `maxNorm` is scaled down to norm `maxNorm` (`w ← w·maxNorm/(‖w‖ + eps)`), in place;
 * the other slices are left alone. Same as `torch.renorm(w, 2, axis, maxNorm)` and
 * Keras' `MaxNorm`. Call it after each optimizer step. Returns `weight`.
 *
 * @example
 * ```ts
 * const w = kiln.tensor([[3, 4], [0.3, 0.4]]);  // row norms 5 and 0.5
 * kiln.optim.maxNormConstraint(w, 1);
 * w.toArray(); // ≈ [[0.6, 0.8], [0.3, 0.4]]
 * // In training: after each opt.step(), maxNormConstraint(layer.weight, 3).
 * ```
 */
export function maxNormConstraint(weight: Tensor, maxNorm: number, options: MaxNormOptions = {}): Tensor {
  const op = 'maxNormConstraint';
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new KilnError(`maxNorm must be a number ≥ 0, got ${String(maxNorm)}`, { op });
  const rank = weight.rank;
  if (rank === 0) throw new KilnError('needs a tensor with at least one axis, got a scalar', { op });
  const axis = options.axis ?? 0;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) throw new KilnError(`axis ${String(axis)} is out of range for a tensor of rank ${rank}`, { op });
  const keep = axis < 0 ? axis + rank : axis;
  const eps = options.eps ?? 1e-7;
  const reduced = [...Array(rank).keys()].filter((a) => a !== keep);
  noGrad(() =>
    scope(() => {
      const norms = reduced.length ? weight.square().sum(reduced, { keepDims: true }).sqrt() : weight.abs();
      const scale = where(norms.greater(maxNorm), div(maxNorm, norms.add(eps)), 1);
      weight.copy_(weight.mul(scale));
    }),
  );
  return weight;
}
