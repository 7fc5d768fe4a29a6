// Weight-decay style regularization terms to add to a loss.
import { KilnError, Tensor } from '../../eager/index.js';

function sumOver(op: string, params: Iterable<Tensor> | Tensor, term: (w: Tensor) => Tensor): Tensor {
  const list = params instanceof Tensor ? [params] : [...params];
  if (!list.length) throw new KilnError('needs at least one tensor', { op });
  let total: Tensor | null = null;
  for (const w of list) {
    if (!(w instanceof Tensor)) throw new KilnError(`expected tensors, got ${w === null ? 'null' : typeof w}`, { op });
    const t = term(w).sum();
    total = total ? total.add(t) : t;
  }
  return total!;
}

/**
 * L1 penalty `Σ_w Σ_i |w_i|` over the given tensors (usually the weights, not the
 * biases); add `λ·l1Penalty(ws)` to the loss to push weights to exactly zero.
 *
 * @example
 * ```ts
 * const fc = new kiln.nn.Linear(4, 2);
 * const x = kiln.randn([8, 4]), y = kiln.randn([8, 2]);
 * const loss = kiln.nn.mseLoss(fc.forward(x), y).add(kiln.nn.l1Penalty([fc.weight]).mul(1e-4));
 * ```
 */
export function l1Penalty(params: Iterable<Tensor> | Tensor): Tensor {
  return sumOver('l1Penalty', params, (w) => w.abs());
}

/**
 * L2 penalty `½·Σ_w ‖w‖²` — note the ½: the usual textbook convention, so that
 * `λ·l2Penalty(ws)` is `λ/2·‖w‖²` and contributes exactly `λ·w` to each gradient
 * (the same as SGD's `weightDecay: λ`).
 *
 * @example
 * ```ts
 * kiln.nn.l2Penalty([kiln.tensor([3, 4])]).item(); // ½·25 = 12.5
 * ```
 */
export function l2Penalty(params: Iterable<Tensor> | Tensor): Tensor {
  return sumOver('l2Penalty', params, (w) => w.square()).mul(0.5);
}
