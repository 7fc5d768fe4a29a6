import { KilnError, noGrad, type Tensor } from '../eager/index.js';
import { paramList } from './paramList.js';

/**
 * Clamps every gradient element of `params` into `[-clipValue, clipValue]`, in place
 * (as `torch.nn.utils.clip_grad_value_`). Parameters without a gradient are skipped.
 *
 * @example
 * ```ts
 * const w = kiln.tensor([3, -0.2], { requiresGrad: true });
 * w.square().mul(0.5).sum().backward(); // grad [3, -0.2]
 * kiln.optim.clipGradValue([w], 0.5);
 * w.grad!.toArray();                    // ≈ [0.5, -0.2]
 * ```
 */
export function clipGradValue(params: Tensor | Iterable<Tensor>, clipValue: number): void {
  const op = 'clipGradValue';
  if (typeof clipValue !== 'number' || !(clipValue >= 0)) throw new KilnError(`clipValue must be a number ≥ 0, got ${String(clipValue)}`, { op });
  const grads = paramList(op, params).flatMap((t) => (t.grad ? [t.grad] : []));
  noGrad(() => {
    for (const g of grads) {
      const clipped = g.clip(-clipValue, clipValue);
      g.copy_(clipped);
      clipped.dispose();
    }
  });
}
