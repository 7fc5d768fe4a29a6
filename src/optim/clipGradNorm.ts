import { KilnError, noGrad, scope, type Tensor } from '../eager/index.js';
import { paramList } from './paramList.js';

/** Options of `clipGradNorm`. */
export interface ClipGradNormOptions {
  /** Order of the norm: any p > 0, or `Infinity` for the max-abs norm (default 2). */
  normType?: number;
  /** Throw if the total norm is NaN or infinite (default false: the gradients then become NaN, as in PyTorch). */
  errorIfNonfinite?: boolean;
}

/**
 * Rescales the gradients of `params` in place so that their total norm (the norm of
 * all gradients concatenated into one vector) is at most `maxNorm`, as
 * `torch.nn.utils.clip_grad_norm_`: each gradient is multiplied by
 * `min(1, maxNorm / (total + 1e-6))`. Parameters without a gradient are skipped.
 * Returns the total norm before clipping.
 *
 * @example
 * ```ts
 * const w = kiln.tensor([3, 4], { requiresGrad: true });
 * w.square().mul(0.5).sum().backward();         // grad [3, 4]: norm 5
 * const norm = kiln.optim.clipGradNorm([w], 1); // 5
 * w.grad!.toArray();                            // ≈ [0.6, 0.8]
 * ```
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, options: ClipGradNormOptions = {}): number {
  const op = 'clipGradNorm';
  const p = options.normType ?? 2;
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm)) throw new KilnError(`maxNorm must be a number, got ${String(maxNorm)}`, { op });
  if (typeof p !== 'number' || !(p > 0)) throw new KilnError(`normType must be a positive number or Infinity, got ${String(p)}`, { op });
  const grads = paramList(op, params).flatMap((t) => (t.grad ? [t.grad] : []));
  if (grads.length === 0) return 0;
  const total = noGrad(() =>
    scope(() => {
      if (p === Infinity) return grads.map((g) => g.abs().max()).reduce((a, b) => a.maximum(b)).item();
      // Σ|g|^p over every element of every gradient, then one read and the p-th root here.
      const power = (g: Tensor): Tensor => (p === 2 ? g.square() : p === 1 ? g.abs() : g.abs().pow(p));
      const sum = grads.map((g) => power(g).sum()).reduce((a, b) => a.add(b)).item();
      return p === 2 ? Math.sqrt(sum) : p === 1 ? sum : sum ** (1 / p);
    }),
  );
  if (options.errorIfNonfinite && !Number.isFinite(total)) {
    throw new KilnError(`the total norm of order ${p} of the gradients is ${total}, so they cannot be clipped; pass errorIfNonfinite: false to clip anyway`, { op });
  }
  const coef = maxNorm / (total + 1e-6);
  // PyTorch clamps the coefficient at 1 and always multiplies; skipping the no-op saves a pass.
  if (!(coef >= 1)) noGrad(() => grads.forEach((g) => g.mul_(coef)));
  return total;
}
