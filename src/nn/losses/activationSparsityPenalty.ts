import { elementCount, KilnError, Tensor } from '../../eager/index.js';

/** Options of `activationSparsityPenalty`. */
export interface ActivationSparsityOptions {
  /** `'kl'` (default): sparse-autoencoder KL(ρ ‖ ρ̂); `'l1'`: L1 of the activations. */
  kind?: 'kl' | 'l1';
  /** Target mean activation ρ for `'kl'`, in (0, 1). Default 0.05. */
  target?: number;
}

/** ρ̂ is kept inside [ε, 1 − ε] so a dead or saturated unit gives a large, finite penalty. */
const EPS = 1e-6;

/**
 * Sparsity penalty on hidden activations `h` `[batch, units…]` (sparse autoencoders):
 * - `'kl'`: with ρ̂_j the mean activation of unit j over the batch (activations in
 *   (0, 1), e.g. after a sigmoid), `Σ_j ρ·log(ρ/ρ̂_j) + (1 − ρ)·log((1 − ρ)/(1 − ρ̂_j))`,
 *   the KL divergence between Bernoulli(ρ) and Bernoulli(ρ̂_j), summed over units;
 *   ρ̂ is clamped to [1e-6, 1 − 1e-6];
 * - `'l1'`: `Σ |h| / batch`, the L1 norm of each example's activations, averaged over the batch.
 * Multiply by a weight β and add it to the loss.
 *
 * @example
 * ```ts
 * const x = kiln.rand([16, 8]);
 * const encoder = new kiln.nn.Linear(8, 4), decoder = new kiln.nn.Linear(4, 8);
 * const h = encoder.forward(x).sigmoid();
 * const loss = kiln.nn.mseLoss(decoder.forward(h).sigmoid(), x)
 *   .add(kiln.nn.activationSparsityPenalty(h, { target: 0.05 }).mul(3));
 * ```
 */
export function activationSparsityPenalty(h: Tensor, options: ActivationSparsityOptions = {}): Tensor {
  const op = 'activationSparsityPenalty';
  if (!(h instanceof Tensor) || h.rank < 2) throw new KilnError(`expected activations [batch, units…], got ${h instanceof Tensor ? `shape [${h.shape.join(', ')}]` : typeof h}`, { op });
  const kind = options.kind ?? 'kl';
  if (kind === 'l1') return h.abs().sum().div(elementCount(h, 0));
  if (kind !== 'kl') throw new KilnError(`kind must be 'kl' or 'l1', got '${String(kind)}'`, { op });
  const rho = options.target ?? 0.05;
  if (!(rho > 0 && rho < 1)) throw new KilnError(`target must lie in (0, 1), got ${rho}`, { op });
  const rhoHat = h.mean(0).clip(EPS, 1 - EPS);
  // ρ·log ρ − ρ·log ρ̂ + (1 − ρ)·log(1 − ρ) − (1 − ρ)·log(1 − ρ̂), constants folded.
  const constant = rho * Math.log(rho) + (1 - rho) * Math.log(1 - rho);
  const perUnit = rhoHat.log().mul(-rho).sub(rhoHat.neg().add(1).log().mul(1 - rho)).add(constant);
  return perUnit.sum();
}
