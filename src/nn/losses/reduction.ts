// How a loss turns per-element terms into its result (PyTorch's `reduction` argument).
import { KilnError, Tensor } from '../../eager/index.js';

/** `'none'`: per-element losses; `'mean'` (default): their mean; `'sum'`: their sum. */
export type Reduction = 'none' | 'mean' | 'sum';

/** Options every loss takes. */
export interface LossOptions {
  /** Default `'mean'`. */
  reduction?: Reduction;
}

/** Applies `reduction` to elementwise losses. */
export function reduceLoss(op: string, loss: Tensor, reduction: Reduction | undefined): Tensor {
  switch (reduction ?? 'mean') {
    case 'none':
      return loss;
    case 'mean':
      return loss.mean();
    case 'sum':
      return loss.sum();
    default:
      throw new KilnError(`reduction must be 'none', 'mean' or 'sum', got '${String(reduction)}'`, { op });
  }
}

/** Throws unless `x` is a floating-point tensor. */
export function checkFloat(op: string, what: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new KilnError(`${what} must be a Tensor, got ${x === null ? 'null' : typeof x}`, { op });
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new KilnError(`${what} must be floating-point, got ${x.dtype}`, { op });
}

/** Throws unless `a` and `b` have the same shape. */
export function checkSameShape(op: string, a: Tensor, b: Tensor, what = 'input and target'): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new KilnError(`${what} must have the same shape, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`, { op });
  }
}
