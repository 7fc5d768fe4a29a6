import { KilnError, promoteTypes, type DType } from '../../ir/index.js';
import type { Axes } from '../../ops/tensorLike.js';
import * as ops from '../../ops/shape.js';
import { opError, run, run1 } from '../dispatch.js';
import { Tensor } from '../tensor.js';

function checkTensor(op: string, x: unknown, what = 'input'): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw opError(op, `expected a Tensor as ${what}, got ${x === null ? 'null' : typeof x}`);
}

/** A dim in [-rank, rank) made non-negative (pass rank + 1 to allow inserting an axis at the end). */
function dimOf(op: string, x: Tensor, dim: unknown, rank = x.rank, name = 'dim'): number {
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < -rank || dim >= rank) {
    throw opError(op, `${name} ${String(dim)} is out of range for a tensor of rank ${x.rank} (expected ${-rank}..${rank - 1})`, [x]);
  }
  return dim < 0 ? dim + rank : dim;
}

function checkIndex(op: string, x: Tensor, index: unknown): asserts index is Tensor {
  checkTensor(op, index, 'index');
  if (index.dtype !== 'int32') throw opError(op, `the index must be an int32 tensor, got ${index.dtype} (cast it with .cast('int32'))`, [x, index]);
}

/** Runs an op whose kernel validates index values; its KilnError gets the op, shapes and call site. */
function runChecked(op: string, def: Parameters<typeof run1>[0], inputs: readonly Tensor[], attrs: Parameters<typeof run1>[2]): Tensor {
  try {
    return run1(def, inputs, attrs);
  } catch (e) {
    if (e instanceof KilnError && !e.callSite) throw opError(op, e.message, inputs);
    throw e;
  }
}

function intList(op: string, x: Tensor, v: unknown, name: string): number[] {
  if (!Array.isArray(v) || v.some((d) => typeof d !== 'number' || !(Number.isInteger(d) || d === Infinity || d === -Infinity))) {
    throw opError(op, `${name} must be an array of integers, got ${JSON.stringify(v)}`, [x]);
  }
  return v as number[];
}

// ---- reshape family ------------------------------------------------------------------

/**
 * Same elements in a new shape; one dim may be -1 (inferred). Shares storage.
 *
 * @example
 * ```ts
 * kiln.arange(6).reshape([2, -1]).shape; // [2, 3]
 * ```
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const holes = shape.filter((d) => d === -1).length;
  if (holes > 1) throw opError('reshape', `only one dimension can be -1, got [${shape.join(', ')}]`, [x]);
  const resolved = holes ? shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d)) : shape;
  if (resolved.some((d) => !Number.isInteger(d) || d < 0)) throw opError('reshape', `cannot reshape [${x.shape.join(', ')}] (${x.size} elements) to [${shape.join(', ')}]`, [x]);
  return run1(ops.reshape, [x], { shape: resolved });
}

/** Reshape that returns `x` itself when the shape does not change. */
function reshapeTo(x: Tensor, shape: readonly number[]): Tensor {
  if (shape.length === x.rank && shape.every((d, i) => d === x.shape[i])) return x;
  return run1(ops.reshape, [x], { shape });
}

/**
 * Merges dims `startDim..endDim` (inclusive, negative counts from the end) into one,
 * like `torch.flatten`. A 0-d tensor becomes 1-D. Shares storage.
 *
 * @example
 * ```ts
 * kiln.zeros([2, 3, 4]).flatten().shape;     // [24]
 * kiln.zeros([2, 3, 4]).flatten(1).shape;    // [2, 12]
 * kiln.flatten(kiln.zeros([2, 3, 4, 5]), 1, 2).shape; // [2, 12, 5]
 * ```
 */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  checkTensor('flatten', x);
  if (x.rank === 0) return reshapeTo(x, [1]);
  const s = dimOf('flatten', x, startDim, x.rank, 'startDim');
  const e = dimOf('flatten', x, endDim, x.rank, 'endDim');
  if (s > e) throw opError('flatten', `startDim ${startDim} comes after endDim ${endDim}`, [x]);
  let merged = 1;
  for (let i = s; i <= e; i++) merged *= x.shape[i]!;
  return reshapeTo(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/**
 * Removes size-1 dims: all of them, or those named by `axis` (a number or a list;
 * a named dim whose size is not 1 is left alone, as in PyTorch). Shares storage.
 *
 * @example
 * ```ts
 * kiln.zeros([1, 3, 1]).squeeze().shape;      // [3]
 * kiln.zeros([1, 3, 1]).squeeze(-1).shape;    // [1, 3]
 * kiln.zeros([1, 3, 1]).squeeze([0, 1]).shape; // [3, 1]
 * ```
 */
export function squeeze(x: Tensor, axis?: Axes): Tensor {
  checkTensor('squeeze', x);
  let drop: boolean[];
  if (axis === undefined || axis === null) drop = x.shape.map((d) => d === 1);
  else {
    const list = typeof axis === 'number' ? [axis] : Array.isArray(axis) ? axis : null;
    if (!list) throw opError('squeeze', `axis must be a number or an array of numbers, got ${typeof axis}`, [x]);
    drop = new Array<boolean>(x.rank).fill(false);
    // A 0-d tensor accepts dim 0 / -1, as in PyTorch.
    for (const a of list) {
      const d = dimOf('squeeze', x, a, Math.max(x.rank, 1), 'axis');
      if (d < x.rank && x.shape[d] === 1) drop[d] = true;
    }
  }
  return reshapeTo(x, x.shape.filter((_, i) => !drop[i]));
}

/**
 * Inserts a size-1 dim at `axis` (in [-rank-1, rank]; negative counts from the end of
 * the result, as in PyTorch). Shares storage.
 *
 * @example
 * ```ts
 * kiln.zeros([2, 3]).unsqueeze(0).shape;  // [1, 2, 3]
 * kiln.zeros([2, 3]).unsqueeze(-1).shape; // [2, 3, 1]
 * ```
 */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  checkTensor('unsqueeze', x);
  const d = dimOf('unsqueeze', x, axis, x.rank + 1, 'axis');
  const shape = x.shape.slice();
  shape.splice(d, 0, 1);
  return run1(ops.reshape, [x], { shape });
}

/**
 * Broadcasts to `shape` without copying semantics (PyTorch `expand`; -1 keeps a dim).
 *
 * @example
 * ```ts
 * kiln.tensor([1, 2, 3]).expand([2, -1]).toArray(); // [[1, 2, 3], [1, 2, 3]]
 * ```
 */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.rank;
  const resolved = shape.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead]! : d));
  if (resolved.length === x.rank && resolved.every((d, i) => d === x.shape[i])) return x;
  return run1(ops.expand, [x], { shape: resolved });
}

/**
 * NumPy `broadcast_to`.
 *
 * @example
 * ```ts
 * kiln.broadcastTo(kiln.tensor([[1], [2]]), [2, 3]).toArray(); // [[1, 1, 1], [2, 2, 2]]
 * ```
 */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  return expand(x, shape);
}

// ---- slice ---------------------------------------------------------------------------

/**
 * Takes `starts[i]:ends[i]:steps[i]` along `axes[i]` (default axes 0..n-1, steps 1),
 * with Python/ONNX semantics: negative indices count from the end, out-of-range
 * bounds clamp, ±Infinity mean "to the end"; negative steps walk backwards.
 *
 * @example
 * ```ts
 * const x = kiln.arange(10);
 * x.slice([2], [-2]).toArray();                    // [2, 3, 4, 5, 6, 7]
 * x.slice([1], [100], { steps: [3] }).toArray();   // [1, 4, 7]
 * x.slice([-1], [-Infinity], { steps: [-2] }).toArray(); // [9, 7, 5, 3, 1]
 * kiln.zeros([4, 6]).slice([1], [3], { axes: [-1] }).shape; // [4, 2]
 * ```
 */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], options?: { axes?: readonly number[]; steps?: readonly number[] }): Tensor {
  checkTensor('slice', x);
  const st = intList('slice', x, starts, 'starts');
  const en = intList('slice', x, ends, 'ends');
  const n = st.length;
  if (en.length !== n) throw opError('slice', `starts [${st.join(', ')}] and ends [${en.join(', ')}] differ in length`, [x]);
  const axes = options?.axes === undefined ? null : intList('slice', x, options.axes, 'axes');
  const steps = options?.steps === undefined ? null : intList('slice', x, options.steps, 'steps');
  if (axes && axes.length !== n) throw opError('slice', `axes [${axes.join(', ')}] must have one entry per start (${n})`, [x]);
  if (steps && steps.length !== n) throw opError('slice', `steps [${steps.join(', ')}] must have one entry per start (${n})`, [x]);
  const r = x.rank;
  if (!axes && n > r) throw opError('slice', `${n} starts for a tensor of rank ${r}`, [x]);
  const S = new Array<number>(r).fill(0);
  const E = x.shape.slice();
  const P = new Array<number>(r).fill(1);
  const seen = new Array<boolean>(r).fill(false);
  let identity = true;
  for (let i = 0; i < n; i++) {
    const a = axes ? dimOf('slice', x, axes[i], r, 'axis') : i;
    if (seen[a]) throw opError('slice', `axis ${a} appears twice in axes [${axes!.join(', ')}]`, [x]);
    seen[a] = true;
    const step = steps ? steps[i]! : 1;
    if (step === 0 || !Number.isFinite(step)) throw opError('slice', `step must be a non-zero integer, got ${step} for axis ${a}`, [x]);
    const d = x.shape[a]!;
    let s = st[i]!, e = en[i]!;
    // Python's slice.indices(d).
    if (step > 0) {
      s = s < 0 ? Math.max(0, s + d) : Math.min(s, d);
      e = e < 0 ? Math.max(0, e + d) : Math.min(e, d);
    } else {
      s = s < 0 ? Math.max(-1, s + d) : Math.min(s, d - 1);
      e = e < 0 ? Math.max(-1, e + d) : Math.min(e, d - 1);
    }
    S[a] = s; E[a] = e; P[a] = step;
    if (step !== 1 || s !== 0 || e !== d) identity = false;
  }
  if (identity) return x;
  return run1(ops.slice, [x], { starts: S, ends: E, steps: P });
}

// ---- concat / stack / split ----------------------------------------------------------

function tensorList(op: string, tensors: unknown): Tensor[] {
  if (!Array.isArray(tensors) || tensors.length === 0) throw opError(op, 'expected a non-empty array of tensors');
  tensors.forEach((t, i) => checkTensor(op, t, `element ${i}`));
  return tensors as Tensor[];
}

/**
 * Joins tensors along an existing `axis` (`torch.cat`); all other dims must match.
 * Mixed dtypes are promoted (bool < int32 < float32 < float64), as in PyTorch.
 *
 * @example
 * ```ts
 * const a = kiln.zeros([2, 3]), b = kiln.ones([2, 1]);
 * kiln.concat([a, b], 1).shape;  // [2, 4]
 * kiln.cat([a, a], -2).shape;    // [4, 3]
 * ```
 */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  const ts = tensorList('concat', tensors);
  const first = ts[0]!;
  if (first.rank === 0) throw opError('concat', 'cannot concatenate 0-d tensors (use stack)', ts);
  const a = dimOf('concat', first, axis, first.rank, 'axis');
  let dtype: DType = first.dtype;
  for (const t of ts) dtype = promoteTypes(dtype, t.dtype);
  const inputs = ts.map((t) => (t.dtype === dtype ? t : cast(t, dtype)));
  return run1(ops.concat, inputs, { axis: a });
}

/**
 * Alias of {@link concat} (`torch.cat`).
 *
 * @example
 * ```ts
 * kiln.cat([kiln.zeros([2]), kiln.ones([3])]).toArray(); // [0, 0, 1, 1, 1]
 * ```
 */
export const cat = concat;

/**
 * Joins same-shaped tensors along a new `axis` (in [-rank-1, rank]), `torch.stack`.
 *
 * @example
 * ```ts
 * const a = kiln.zeros([2, 3]);
 * kiln.stack([a, a, a]).shape;      // [3, 2, 3]
 * kiln.stack([a, a], -1).shape;     // [2, 3, 2]
 * ```
 */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  const ts = tensorList('stack', tensors);
  const first = ts[0]!;
  for (let i = 1; i < ts.length; i++) {
    const t = ts[i]!;
    if (t.rank !== first.rank || t.shape.some((d, j) => d !== first.shape[j])) {
      throw opError('stack', `all tensors need the same shape, got [${first.shape.join(', ')}] (element 0) and [${t.shape.join(', ')}] (element ${i})`, ts);
    }
  }
  const a = dimOf('stack', first, axis, first.rank + 1, 'axis');
  const shape = first.shape.slice();
  shape.splice(a, 0, 1);
  // Inserting a size-1 axis is a free reshape; the copy happens once, in concat.
  return concat(ts.map((t) => run1(ops.reshape, [t], { shape })), a);
}

/**
 * Cuts `x` along `axis` (`torch.split`): a number is the size of each piece (the last
 * one may be smaller); an array lists the sizes, which must sum to the axis length.
 *
 * @example
 * ```ts
 * const x = kiln.arange(5);
 * x.split(2).map((p) => p.toArray());      // [[0, 1], [2, 3], [4]]
 * x.split([1, 4]).map((p) => p.shape);     // [[1], [4]]
 * kiln.zeros([2, 8]).split(4, -1).length;  // 2
 * ```
 */
export function split(x: Tensor, splitSizeOrSections: number | readonly number[], axis = 0): Tensor[] {
  checkTensor('split', x);
  if (x.rank === 0) throw opError('split', 'cannot split a 0-d tensor', [x]);
  const a = dimOf('split', x, axis, x.rank, 'axis');
  const d = x.shape[a]!;
  let sizes: number[];
  if (typeof splitSizeOrSections === 'number') {
    const s = splitSizeOrSections;
    if (!Number.isInteger(s) || s < 0 || (s === 0 && d !== 0)) throw opError('split', `split size must be a positive integer, got ${s}`, [x]);
    sizes = [];
    for (let at = 0; at < d; at += s) sizes.push(Math.min(s, d - at));
    if (d === 0) sizes.push(0);
  } else {
    sizes = intList('split', x, splitSizeOrSections, 'sizes');
    const total = sizes.reduce((p, q) => p + q, 0);
    if (sizes.some((q) => q < 0) || total !== d) {
      throw opError('split', `sizes [${sizes.join(', ')}] must be non-negative and sum to ${d} (the length of axis ${axis}), they sum to ${total}`, [x]);
    }
  }
  if (sizes.length === 1) return [x];
  return run(ops.split, [x], { axis: a, sizes });
}

// ---- pad -----------------------------------------------------------------------------

/**
 * Pads like `torch.nn.functional.pad`: `pads` lists (before, after) pairs starting
 * from the LAST dim: `[left, right]` pads the last dim, `[left, right, top, bottom]`
 * the last two, and so on. `mode` 'constant' fills with `value` (default 0; negative
 * pads crop); 'reflect' mirrors without repeating the edge (each pad < that dim's size).
 *
 * @example
 * ```ts
 * const x = kiln.tensor([[1, 2, 3]]);
 * x.pad([1, 2]).toArray();                          // [[0, 1, 2, 3, 0, 0]]
 * x.pad([0, 0, 1, 0], { value: 9 }).toArray();      // [[9, 9, 9], [1, 2, 3]]
 * x.pad([2, 1], { mode: 'reflect' }).toArray();     // [[3, 2, 1, 2, 3, 2]]
 * ```
 */
export function pad(x: Tensor, pads: readonly number[], options?: { mode?: 'constant' | 'reflect'; value?: number }): Tensor {
  checkTensor('pad', x);
  const p = intList('pad', x, pads, 'pads');
  const mode = options?.mode ?? 'constant';
  const value = options?.value ?? 0;
  if (mode !== 'constant' && mode !== 'reflect') throw opError('pad', `mode must be 'constant' or 'reflect', got '${String(mode)}'`, [x]);
  if (typeof value !== 'number') throw opError('pad', `value must be a number, got ${typeof value}`, [x]);
  const r = x.rank;
  if (p.length % 2 !== 0 || p.length > 2 * r) throw opError('pad', `pads must hold (before, after) pairs for at most ${r} dims, got [${p.join(', ')}]`, [x]);
  // To ONNX order [begin per axis..., end per axis...].
  const full = new Array<number>(2 * r).fill(0);
  for (let k = 0; k < p.length / 2; k++) {
    const axis = r - 1 - k;
    full[axis] = p[2 * k]!;
    full[r + axis] = p[2 * k + 1]!;
  }
  if (full.every((q) => q === 0)) return x;
  let src = x;
  if (full.some((q) => q < 0)) {
    if (mode !== 'constant') throw opError('pad', `negative pads are only allowed in 'constant' mode, got [${p.join(', ')}]`, [x]);
    // Negative pads crop: slice them off first, then pad by the non-negative parts.
    const starts = x.shape.map((_, i) => Math.max(0, -full[i]!));
    const ends = x.shape.map((d, i) => d - Math.max(0, -full[r + i]!));
    if (ends.some((e, i) => e < starts[i]!)) throw opError('pad', `negative pads [${p.join(', ')}] crop more than the tensor holds`, [x]);
    src = slice(x, starts, ends);
    for (let i = 0; i < full.length; i++) full[i] = Math.max(0, full[i]!);
    if (full.every((q) => q === 0)) return src;
  }
  return run1(ops.pad, [src], { pads: full, mode, value: mode === 'constant' ? value : 0 });
}

// ---- gather / scatter ----------------------------------------------------------------

/**
 * `torch.gather`: `out[i][j][k] = x[index[i][j][k]][j][k]` for `axis` 0 (and so on):
 * `index` (int32) has the rank of `x`, the output its shape. Indices must lie in
 * [0, x.shape[axis]); repeated indices are fine (their gradients add up).
 *
 * @example
 * ```ts
 * const x = kiln.tensor([[1, 2], [3, 4]]);
 * x.gather(1, kiln.tensor([[0, 0], [1, 0]], { dtype: 'int32' })).toArray(); // [[1, 1], [4, 3]]
 * ```
 */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  checkTensor('gather', x);
  checkIndex('gather', x, index);
  const a = dimOf('gather', x, axis, Math.max(x.rank, 1), 'axis');
  return runChecked('gather', ops.gather, [x, index], { axis: a });
}

/**
 * `torch.scatter_add` (out of place): a copy of `x` where each `src[i][j][k]` is added
 * at `[index[i][j][k]][j][k]` for `axis` 0 (and so on). `index` is int32 with the rank
 * of `x`; `src` has `x`'s dtype and is at least as large as `index`.
 *
 * @example
 * ```ts
 * const idx = kiln.tensor([0, 1, 0], { dtype: 'int32' });
 * kiln.scatterAdd(kiln.zeros([2]), 0, idx, kiln.tensor([1, 2, 3])).toArray(); // [4, 2]
 * ```
 */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  checkTensor('scatterAdd', x);
  checkIndex('scatterAdd', x, index);
  checkTensor('scatterAdd', src, 'src');
  const a = dimOf('scatterAdd', x, axis, Math.max(x.rank, 1), 'axis');
  return runChecked('scatterAdd', ops.scatterAdd, [x, index, src], { axis: a });
}

/**
 * `torch.index_select`: the slices of `x` at the positions of the 1-D int32 `index`
 * along `axis` (repeats allowed; gradients of repeated rows add up).
 *
 * @example
 * ```ts
 * const x = kiln.tensor([[1, 2], [3, 4], [5, 6]]);
 * x.indexSelect(0, kiln.tensor([2, 0, 2], { dtype: 'int32' })).toArray(); // [[5, 6], [1, 2], [5, 6]]
 * ```
 */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  checkTensor('indexSelect', x);
  checkIndex('indexSelect', x, index);
  if (x.rank === 0) throw opError('indexSelect', 'needs a tensor of rank ≥ 1', [x, index]);
  const a = dimOf('indexSelect', x, axis, x.rank, 'axis');
  return runChecked('indexSelect', ops.indexSelect, [x, index], { axis: a });
}

// ---- oneHot / cast -------------------------------------------------------------------

/**
 * One-hot encoding of int32 class indices (`F.one_hot`): a new last axis of
 * `numClasses` (-1: max index + 1), int32 0/1. Indices outside [0, numClasses) throw.
 *
 * @example
 * ```ts
 * kiln.tensor([0, 2], { dtype: 'int32' }).oneHot(3).toArray(); // [[1, 0, 0], [0, 0, 1]]
 * ```
 */
export function oneHot(x: Tensor, numClasses = -1): Tensor {
  checkTensor('oneHot', x);
  if (x.dtype !== 'int32') throw opError('oneHot', `needs int32 class indices, got ${x.dtype} (cast with .cast('int32'))`, [x]);
  if (typeof numClasses !== 'number' || !Number.isInteger(numClasses) || numClasses < -1) {
    throw opError('oneHot', `numClasses must be a non-negative integer or -1, got ${String(numClasses)}`, [x]);
  }
  let n = numClasses;
  if (n === -1) {
    // Like PyTorch, infer from the data (a read of the indices).
    if (x.size === 0) throw opError('oneHot', 'cannot infer numClasses from an empty tensor; pass it explicitly', [x]);
    const data = x.dataSync();
    let max = -Infinity;
    for (let i = 0; i < data.length; i++) {
      if (data[i]! < 0) throw opError('oneHot', `class index ${data[i]} (at position ${i}) is negative`, [x]);
      if (data[i]! > max) max = data[i]!;
    }
    n = max + 1;
  }
  return runChecked('oneHot', ops.oneHot, [x], { numClasses: n });
}

const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'bool'];

/**
 * Converts to `dtype`. Float → int32 truncates toward zero (as PyTorch) and, on every
 * backend alike, saturates values outside the int32 range (±Infinity included) to
 * −2147483648 / 2147483647 and maps NaN to 0 (PyTorch leaves these platform-defined).
 * Any → bool is `x != 0`, so NaN is true (as in PyTorch); bool → number gives 0/1.
 * Gradients flow through float → float casts only. Casting to the current dtype
 * returns `x` itself.
 *
 * @example
 * ```ts
 * kiln.tensor([-1.7, 0, 2.9]).cast('int32').toArray(); // [-1, 0, 2]
 * kiln.tensor([3e9, -Infinity, NaN]).cast('int32').toArray(); // [2147483647, -2147483648, 0]
 * kiln.tensor([-1.7, 0, NaN]).cast('bool').toArray();  // [true, false, true]
 * ```
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkTensor('cast', x);
  if (x.dtype === dtype) return x;
  if (!DTYPES.includes(dtype)) throw opError('cast', `unknown dtype '${String(dtype)}' (expected one of ${DTYPES.join(', ')})`, [x]);
  return run1(ops.cast, [x], { dtype });
}
