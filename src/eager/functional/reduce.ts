import { normalizeAxes } from '../../ops/shapeHelpers.js';
import * as ops from '../../ops/reduce.js';
import type { Axes, ReduceOptions } from '../../ops/tensorLike.js';
import { opError, run1 } from '../dispatch.js';
import type { Tensor } from '../tensor.js';

// TODO(reductions): the rest is implemented by the reductions work item.
const todo = (op: string): never => { throw opError(op, 'not implemented yet'); };

function axesOf(op: string, x: Tensor, axis: Axes | null | undefined): number[] {
  try {
    return normalizeAxes(axis, x.rank);
  } catch (e) {
    throw opError(op, (e as Error).message, [x]);
  }
}

/**
 * Sum over `axis` (all axes when omitted), PyTorch `sum(dim, keepdim)`.
 *
 * @example
 * ```ts
 * kiln.tensor([[1, 2], [3, 4]]).sum(1).toArray(); // [3, 7]
 * ```
 */
export function sum(x: Tensor, axis?: Axes | null, options: ReduceOptions = {}): Tensor {
  return run1(ops.sum, [x], { axes: axesOf('sum', x, axis), keepDims: options.keepDims ?? false });
}
export function mean(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('mean'); }
export function max(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('max'); }
export function min(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('min'); }
export function prod(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('prod'); }
export function argmax(x: Tensor, axis?: number | null, options?: ReduceOptions): Tensor { return todo('argmax'); }
export function argmin(x: Tensor, axis?: number | null, options?: ReduceOptions): Tensor { return todo('argmin'); }
export function variance(x: Tensor, axis?: Axes | null, options?: ReduceOptions & { unbiased?: boolean }): Tensor { return todo('variance'); }
export function logSumExp(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('logSumExp'); }
export function softmax(x: Tensor, axis?: number): Tensor { return todo('softmax'); }
export function logSoftmax(x: Tensor, axis?: number): Tensor { return todo('logSoftmax'); }
