import { isFloat } from '../../ir/index.js';
import { normalizeAxes, normalizeAxis } from '../../ops/shapeHelpers.js';
import * as ops from '../../ops/reduce.js';
import type { Axes, ReduceOptions } from '../../ops/tensorLike.js';
import { opError, run1 } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import { centered as centerMean } from './centered.js';

function checkTensor(op: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw opError(op, `expected a Tensor, got ${x === null ? 'null' : typeof x}`);
}

function keepDimsOf(op: string, x: Tensor, options: ReduceOptions | undefined): boolean {
  if (options === undefined || options === null) return false;
  if (typeof options !== 'object') throw opError(op, `options must be an object like { keepDims: true }, got ${typeof options}`, [x]);
  const k = options.keepDims ?? false;
  if (typeof k !== 'boolean') throw opError(op, `keepDims must be a boolean, got ${typeof k}`, [x]);
  return k;
}

function axesOf(op: string, x: Tensor, axis: Axes | null | undefined): number[] {
  if (axis !== null && axis !== undefined && typeof axis !== 'number' && !Array.isArray(axis)) {
    throw opError(op, `axis must be a number, an array of numbers or null, got ${typeof axis}`, [x]);
  }
  try {
    // A 0-d tensor accepts axis 0 / -1 (as PyTorch does); there is nothing to reduce.
    return normalizeAxes(axis, x.rank).filter((a) => a < x.rank);
  } catch (e) {
    throw opError(op, (e as Error).message, [x]);
  }
}

/** Validated `{ axes, keepDims }` attrs of a reduction. */
function reduceAttrs(op: string, x: unknown, axis: Axes | null | undefined, options: ReduceOptions | undefined): { axes: number[]; keepDims: boolean } {
  checkTensor(op, x);
  return { axes: axesOf(op, x, axis), keepDims: keepDimsOf(op, x, options) };
}

function checkFloat(op: string, x: Tensor): void {
  if (!isFloat(x.dtype)) throw opError(op, `needs a floating-point input, got ${x.dtype} (as in PyTorch); cast it first, e.g. x.cast('float32')`, [x]);
}

/**
 * The number of elements of `x` over `axis` (all axes when omitted or null) as a 0-d
 * tensor (float32, or x's dtype when that is float), i.e. how many elements a reduction
 * over those axes combines. Divide by it instead of by a number read from `x.shape`
 * when the code will be compiled: it follows a symbolic batch size, where the number
 * would be a constant that specializes the graph to one size.
 *
 * @example
 * ```ts
 * const x = kiln.ones([4, 3]);
 * kiln.elementCount(x).item();    // 12
 * kiln.elementCount(x, 0).item(); // 4
 * x.sum(0).div(kiln.elementCount(x, 0)).toArray(); // [1, 1, 1]: mean over the batch
 * ```
 */
export function elementCount(x: Tensor, axis?: Axes | null): Tensor {
  checkTensor('elementCount', x);
  return run1(ops.elementCount, [x], { axes: axesOf('elementCount', x, axis), dtype: isFloat(x.dtype) ? x.dtype : 'float32' });
}

/**
 * Sum over `axis` (all axes when omitted or null), PyTorch `sum(dim, keepdim)`.
 * int32 stays int32; bool sums to int32. An empty axis list reduces nothing (as in
 * NumPy; all reductions here follow that).
 *
 * @example
 * ```ts
 * kiln.tensor([[1, 2], [3, 4]]).sum(1).toArray(); // [3, 7]
 * kiln.tensor([[1, 2], [3, 4]]).sum(0, { keepDims: true }).toArray(); // [[4, 6]]
 * ```
 */
export function sum(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor {
  return run1(ops.sum, [x], reduceAttrs('sum', x, axis, options));
}

/**
 * Arithmetic mean over `axis` (all axes when omitted). Float inputs only: like
 * PyTorch, an int or bool input is an error (cast it first).
 *
 * @example
 * ```ts
 * kiln.tensor([[1, 2], [3, 4]]).mean().item();  // 2.5
 * kiln.tensor([[1, 2], [3, 4]]).mean(-1).toArray(); // [1.5, 3.5]
 * ```
 */
export function mean(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor {
  const attrs = reduceAttrs('mean', x, axis, options);
  checkFloat('mean', x);
  // Composite: sum / n (an empty reduction gives 0/0 = NaN, as in PyTorch).
  return run1(ops.sum, [x], attrs).div(elementCount(x, attrs.axes));
}

/**
 * Maximum value over `axis` (all axes when omitted), like `torch.amax`: values only
 * (use `argmax` for the index). NaN propagates. The gradient is shared evenly among
 * tied maxima, as PyTorch's `amax` does.
 *
 * @example
 * ```ts
 * kiln.tensor([[1, 5], [3, 4]]).max().item();     // 5
 * kiln.tensor([[1, 5], [3, 4]]).max(0).toArray(); // [3, 5]
 * ```
 */
export function max(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor {
  return run1(ops.max, [x], reduceAttrs('max', x, axis, options));
}

/**
 * Minimum value over `axis` (all axes when omitted), like `torch.amin`; see `max`.
 *
 * @example
 * ```ts
 * kiln.tensor([[1, 5], [3, 4]]).min(1).toArray(); // [1, 3]
 * ```
 */
export function min(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor {
  return run1(ops.min, [x], reduceAttrs('min', x, axis, options));
}

/**
 * Product over `axis` (all axes when omitted). int32 stays int32, bool gives int32.
 * The gradient is correct where elements are zero (no division by zero).
 *
 * @example
 * ```ts
 * kiln.tensor([[1, 2], [3, 4]]).prod(1).toArray(); // [2, 12]
 * ```
 */
export function prod(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor {
  return run1(ops.prod, [x], reduceAttrs('prod', x, axis, options));
}

function argAttrs(op: string, x: unknown, axis: number | null | undefined, options: ReduceOptions | undefined): { axis: number | null; keepDims: boolean } {
  checkTensor(op, x);
  const keepDims = keepDimsOf(op, x, options);
  if (axis === null || axis === undefined) return { axis: null, keepDims };
  if (typeof axis !== 'number') throw opError(op, `axis must be a single number or null, got ${Array.isArray(axis) ? 'an array' : typeof axis}`, [x]);
  if (x.rank === 0 && (axis === 0 || axis === -1)) return { axis: 0, keepDims };
  try {
    return { axis: normalizeAxis(axis, x.rank), keepDims };
  } catch (e) {
    throw opError(op, (e as Error).message, [x]);
  }
}

/**
 * Index (int32) of the maximum along `axis`; with no axis, the index into the
 * flattened tensor. Ties give the first occurrence. Not differentiable.
 *
 * @example
 * ```ts
 * kiln.tensor([[1, 5, 5], [7, 0, 7]]).argmax(1).toArray(); // [1, 0]
 * kiln.tensor([[1, 5], [7, 0]]).argmax().item();           // 2
 * ```
 */
export function argmax(x: Tensor, axis?: number | null, options?: ReduceOptions): Tensor {
  return run1(ops.argmax, [x], argAttrs('argmax', x, axis, options));
}

/**
 * Index (int32) of the minimum along `axis` (flattened when omitted); first
 * occurrence on ties. Not differentiable.
 *
 * @example
 * ```ts
 * kiln.tensor([[1, 5, 0], [0, 2, 0]]).argmin(1).toArray(); // [2, 0]
 * ```
 */
export function argmin(x: Tensor, axis?: number | null, options?: ReduceOptions): Tensor {
  return run1(ops.argmin, [x], argAttrs('argmin', x, axis, options));
}

/**
 * Variance over `axis` (all axes when omitted). Unbiased (divides by n − 1) by
 * default, like `torch.var`; `{ unbiased: false }` divides by n. Float inputs only.
 *
 * @example
 * ```ts
 * const x = kiln.tensor([[1, 2, 3, 4]]);
 * x.variance().item();                     // 1.6667
 * x.variance(1, { unbiased: false }).toArray(); // [1.25]
 * ```
 */
export function variance(x: Tensor, axis?: Axes | null, options?: ReduceOptions & { unbiased?: boolean }): Tensor {
  const attrs = reduceAttrs('variance', x, axis, options);
  checkFloat('variance', x);
  const unbiased = options?.unbiased ?? true;
  if (typeof unbiased !== 'boolean') throw opError('variance', `unbiased must be a boolean, got ${typeof unbiased}`, [x]);
  const n = elementCount(x, attrs.axes);
  // Composite, two-pass (subtract the mean first, corrected for large offsets: see
  // `centered`). n − 1 = 0 gives NaN, as in PyTorch.
  const [, centered] = centerMean(x, attrs.axes);
  return run1(ops.sum, [centered.square()], attrs).div(unbiased ? n.sub(1) : n);
}

/**
 * log(Σ exp(x)) over `axis` (all axes when omitted), computed stably (the maximum is
 * subtracted first, so values like 1000 do not overflow). int/bool inputs give float32.
 *
 * @example
 * ```ts
 * kiln.tensor([1000, 1000]).logSumExp().item(); // 1000.6931
 * ```
 */
export function logSumExp(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor {
  return run1(ops.logSumExp, [x], reduceAttrs('logSumExp', x, axis, options));
}

function softmaxAttrs(op: string, x: unknown, axis: number | undefined): { axis: number } {
  checkTensor(op, x);
  checkFloat(op, x);
  const a = axis ?? -1;
  if (typeof a !== 'number') throw opError(op, `axis must be a single number, got ${Array.isArray(a) ? 'an array' : typeof a}`, [x]);
  if (x.rank === 0 && (a === 0 || a === -1)) return { axis: 0 };
  try {
    return { axis: normalizeAxis(a, x.rank) };
  } catch (e) {
    throw opError(op, (e as Error).message, [x]);
  }
}

/**
 * Softmax along `axis` (default −1, the last): exp(x − max) / Σ exp(x − max).
 * Float inputs only.
 *
 * @example
 * ```ts
 * kiln.tensor([[1, 2, 3]]).softmax().toArray(); // [[0.0900, 0.2447, 0.6652]]
 * ```
 */
export function softmax(x: Tensor, axis?: number): Tensor {
  const attrs = softmaxAttrs('softmax', x, axis);
  if (x.rank === 0) return run1(ops.softmax, [x.reshape([1])], attrs).reshape([]);
  return run1(ops.softmax, [x], attrs);
}

/**
 * log(softmax(x)) along `axis` (default −1), computed stably as x − logΣexp(x).
 * Float inputs only.
 *
 * @example
 * ```ts
 * kiln.tensor([[1, 2, 3]]).logSoftmax().toArray(); // [[-2.4076, -1.4076, -0.4076]]
 * ```
 */
export function logSoftmax(x: Tensor, axis?: number): Tensor {
  const attrs = softmaxAttrs('logSoftmax', x, axis);
  if (x.rank === 0) return run1(ops.logSoftmax, [x.reshape([1])], attrs).reshape([]);
  return run1(ops.logSoftmax, [x], attrs);
}
