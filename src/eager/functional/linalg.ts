import { isFloat, type DType } from '../../ir/index.js';
import * as ops from '../../ops/linalg.js';
import * as shapeOps from '../../ops/shape.js';
import { fromFlat } from '../creation.js';
import { opError, run1 } from '../dispatch.js';
import { isTracing } from '../engine.js';
import { fromNested, type NestedArray } from '../nested.js';
import { Tensor } from '../tensor.js';

/**
 * Matrix product with NumPy / `torch.matmul` semantics: 1-D·1-D is a dot product
 * (a scalar); a 1-D first operand gets a 1 prepended and a 1-D second operand a 1
 * appended (removed again from the result); operands of rank > 2 are stacks of
 * matrices whose batch dims broadcast. Both operands must share a dtype (float or int32).
 * One operand may be a (nested) array of numbers: it becomes a tensor on the other's
 * backend, of the other's dtype (float32 for a non-integer value next to an int32 tensor).
 *
 * @example
 * ```ts
 * const a = kiln.tensor([[1, 2], [3, 4]]);
 * kiln.matmul(a, kiln.tensor([[1], [1]])).toArray(); // [[3], [7]]
 * kiln.matmul(a, kiln.tensor([1, 1])).toArray();     // [3, 7]
 * a.matmul([[1], [1]]).toArray();                     // [[3], [7]]
 * kiln.randn([8, 2, 3]).matmul(kiln.randn([3, 4])).shape; // [8, 2, 4]
 * ```
 */
export function matmul(a: Tensor | NestedArray, b: Tensor | NestedArray): Tensor {
  if (!(b instanceof Tensor)) {
    if (!(a instanceof Tensor)) throw opError('matmul', `at least one operand must be a Tensor, got ${describe(a)} and ${describe(b)}`);
    b = operand(a, b, 1);
  } else if (!(a instanceof Tensor)) {
    a = operand(b, a, 0);
  }
  // Shape and dtype checks happen in the op's `infer` (errors name both shapes).
  return run1(ops.matmul, [a, b], {});
}

/** A nested-array operand as a tensor beside `like` (as a scalar operand of `add` takes its dtype). */
function operand(like: Tensor, value: unknown, index: number): Tensor {
  if (!Array.isArray(value) && !ArrayBuffer.isView(value)) throw opError('matmul', `operand ${index} must be a Tensor or a nested array of numbers, got ${describe(value)}`, [like]);
  let parsed: { shape: number[]; flat: number[] };
  try {
    parsed = fromNested(value as NestedArray);
  } catch (e) {
    throw opError('matmul', `operand ${index}: ${(e as Error).message}`, [like]);
  }
  let dtype: DType = like.dtype;
  if (!isFloat(dtype) && !parsed.flat.every(Number.isInteger)) dtype = 'float32';
  return fromFlat('matmul', parsed.flat, parsed.shape, { dtype, backend: like.backend.name });
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/**
 * With no dims, reverses all axes (NumPy `transpose()`, `x.T`); with two, swaps
 * them (`torch.transpose(x, dim0, dim1)`; negative dims count from the end).
 *
 * @example
 * ```ts
 * const x = kiln.tensor([[1, 2, 3], [4, 5, 6]]);
 * x.transpose().toArray();           // [[1, 4], [2, 5], [3, 6]]
 * kiln.zeros([2, 3, 4]).transpose(0, -1).shape; // [4, 3, 2]
 * ```
 */
export function transpose(x: Tensor, dim0?: number, dim1?: number): Tensor {
  const rank = x.rank;
  if (dim0 === undefined && dim1 === undefined) {
    const perm = new Array<number>(rank);
    for (let i = 0; i < rank; i++) perm[i] = rank - 1 - i;
    return permuteBy(x, perm);
  }
  if (dim0 === undefined || dim1 === undefined) {
    throw opError('transpose', `takes no dims (reverse all axes) or two dims to swap, got only one (${dim0 ?? dim1})`, [x]);
  }
  const d0 = dimOf('transpose', x, dim0);
  const d1 = dimOf('transpose', x, dim1);
  if (d0 === d1) return x;
  const perm = new Array<number>(rank);
  for (let i = 0; i < rank; i++) perm[i] = i;
  perm[d0] = d1;
  perm[d1] = d0;
  return permuteBy(x, perm);
}

/**
 * Reorders the axes (`torch.permute`): output axis `i` is input axis `dims[i]`.
 * `dims` must name every axis exactly once (negative dims count from the end).
 *
 * @example
 * ```ts
 * const x = kiln.zeros([2, 3, 4]);
 * x.permute(2, 0, 1).shape;            // [4, 2, 3]
 * kiln.permute(x, [0, -1, 1]).shape;   // [2, 4, 3]
 * ```
 */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  // `x.permute([2, 0, 1])` (a list, as torch accepts) arrives here as [[2, 0, 1]].
  if (dims.length === 1 && Array.isArray(dims[0])) dims = dims[0] as readonly number[];
  const rank = x.rank;
  if (dims.length !== rank) throw opError('permute', `needs ${rank} dims (one per axis), got [${dims.join(', ')}]`, [x]);
  const perm = new Array<number>(rank);
  const seen = new Array<boolean>(rank).fill(false);
  for (let i = 0; i < rank; i++) {
    const d = dimOf('permute', x, dims[i]!);
    if (seen[d]) throw opError('permute', `[${dims.join(', ')}] is not a permutation: dim ${dims[i]} appears twice`, [x]);
    seen[d] = true;
    perm[i] = d;
  }
  return permuteBy(x, perm);
}

/** Runs the `transpose` primitive, or something cheaper when the data order is unchanged. */
function permuteBy(x: Tensor, perm: readonly number[]): Tensor {
  // Moving only size-1 axes keeps the row-major order of the elements: a free reshape.
  // Not while tracing: a size that is 1 in this call may be a symbol (`batch`) in the
  // graph, where the transpose is a real one; the algebraic pass turns it into a reshape
  // where the moved sizes are 1 in the graph too.
  if (isTracing()) {
    return perm.every((p, i) => p === i) ? x : run1(ops.transpose, [x], { perm });
  }
  let last = -1;
  let sameOrder = true;
  for (let i = 0; i < perm.length; i++) {
    const p = perm[i]!;
    if (x.shape[p] === 1) continue;
    if (p < last) { sameOrder = false; break; }
    last = p;
  }
  if (!sameOrder) return run1(ops.transpose, [x], { perm });
  let identity = true;
  for (let i = 0; i < perm.length; i++) if (perm[i] !== i) { identity = false; break; }
  if (identity) return x;
  return run1(shapeOps.reshape, [x], { shape: perm.map((p) => x.shape[p]!) });
}

function dimOf(op: string, x: Tensor, dim: number): number {
  // Like torch, a scalar accepts dim 0 / -1 (as if it had one axis).
  const rank = Math.max(x.rank, 1);
  if (!Number.isInteger(dim) || dim < -rank || dim >= rank) {
    throw opError(op, `dim ${dim} is out of range for a tensor of rank ${x.rank} (expected ${-rank}..${rank - 1})`, [x]);
  }
  return dim < 0 ? dim + rank : dim;
}
