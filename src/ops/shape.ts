import { dimAdd, dimEquals, dimFloorDiv, dimProduct, dimSub, formatDim, KilnError, isFloat, registerOp, formatShape, symbolicInfer, type Dim, type DType, type ValueType } from '../ir/index.js';
import { sumTo } from './shapeHelpers.js';
import type { AnyTensor } from './tensorLike.js';

function dimsText(shape: readonly Dim[]): string {
  return `[${shape.map(formatDim).join(', ')}]`;
}

/** Reshape to attr `shape` (already resolved, no -1): shares storage, no kernel. */
export const reshape = registerOp<AnyTensor>({
  name: 'reshape',
  arity: 1,
  doc: 'Same elements, new shape (attr shape; -1 resolved by the caller).',
  alias: true,
  ...symbolicInfer(([x], attrs) => {
    const shape = attrs['shape'] as readonly Dim[];
    const n = dimProduct(x!.shape);
    if (!dimEquals(dimProduct(shape), n)) throw new KilnError(`cannot reshape ${dimsText(x!.shape)} (${formatDim(n)} elements) to ${dimsText(shape)}`);
    return [{ shape, dtype: x!.dtype }];
  }),
  grad: ({ inputs: [x], dys: [dy] }) => [dy!.reshape(x!.shape)],
});

/** Broadcast to attr `shape` (NumPy rules; -1 already resolved). */
export const expand = registerOp<AnyTensor>({
  name: 'expand',
  arity: 1,
  doc: 'Broadcast to a larger shape (attr shape).',
  ...symbolicInfer(([x], attrs) => {
    const shape = attrs['shape'] as readonly Dim[];
    const lead = shape.length - x!.shape.length;
    if (lead < 0 || x!.shape.some((d, i) => d !== 1 && !dimEquals(d, shape[lead + i]!))) {
      throw new KilnError(`cannot expand ${dimsText(x!.shape)} to ${dimsText(shape)}`);
    }
    return [{ shape, dtype: x!.dtype }];
  }),
  grad: ({ inputs: [x], dys: [dy] }) => [sumTo(dy!, x!.shape)],
});

// ---- slice ---------------------------------------------------------------------------

/** Elements a normalized slice `start:end:step` takes along one axis. */
export function sliceLength(start: number, end: number, step: number): number {
  return step > 0 ? Math.max(0, Math.ceil((end - start) / step)) : Math.max(0, Math.ceil((start - end) / -step));
}

/**
 * Output shape of a slice whose attrs cover every axis (already clamped, see `slice`).
 * Over symbolic dims (a slice of the batch axis up to `batch`, say) the bounds were
 * normalized when traced, so the length is the affine `⌈(end − start) / step⌉`.
 */
export function slicedShape(shape: readonly Dim[], starts: readonly Dim[], ends: readonly Dim[], steps: readonly number[]): Dim[] {
  const r = shape.length;
  const list = (a: readonly Dim[]) => a.map(formatDim).join(', ');
  if (starts.length !== r || ends.length !== r || steps.length !== r) {
    throw new KilnError(`slice attrs need one start/end/step per axis of ${dimsText(shape)}, got starts [${list(starts)}], ends [${list(ends)}], steps [${steps.join(', ')}]`);
  }
  const out = new Array<Dim>(r);
  for (let i = 0; i < r; i++) {
    const d = shape[i]!, s = starts[i]!, e = ends[i]!, st = steps[i]!;
    if (typeof d === 'number' && typeof s === 'number' && typeof e === 'number') {
      const ok = Number.isInteger(st) && st !== 0 && (st > 0 ? s >= 0 && s <= d && e >= 0 && e <= d : s >= -1 && s < d && e >= -1 && e < d);
      if (!ok) throw new KilnError(`slice ${s}:${e}:${st} is not normalized for axis ${i} of size ${d}`);
      out[i] = sliceLength(s, e, st);
      continue;
    }
    if (!Number.isInteger(st) || st === 0) throw new KilnError(`slice step ${st} of axis ${i} is not a nonzero integer`);
    const span = st > 0 ? dimSub(e, s) : dimSub(s, e);
    const k = Math.abs(st);
    out[i] = k === 1 ? span : dimFloorDiv(dimAdd(span, k - 1), k);
  }
  return out;
}

/**
 * Strided slice. Attrs `starts`, `ends`, `steps` hold one entry per axis, normalized like
 * Python's `slice.indices(d)`: for step > 0, 0 ≤ start, end ≤ d; for step < 0,
 * -1 ≤ start, end ≤ d-1 (end -1 = "through index 0").
 */
export const slice = registerOp<AnyTensor>({
  name: 'slice',
  arity: 1,
  doc: 'Strided slice (attrs starts, ends, steps per axis, normalized like Python slice.indices).',
  ...symbolicInfer(([x], attrs) => [{
    shape: slicedShape(x!.shape, attrs['starts'] as Dim[], attrs['ends'] as Dim[], attrs['steps'] as number[]),
    dtype: x!.dtype,
  }]),
  grad: ({ inputs: [x], dys: [dy], attrs }) => [
    dy!.applyOp('sliceGrad', [], { shape: x!.shape, starts: attrs['starts']!, ends: attrs['ends']!, steps: attrs['steps']! })[0]!,
  ],
});

/** The adjoint of `slice`: `dy` written into zeros of attr `shape` at the sliced places. */
export const sliceGrad = registerOp<AnyTensor>({
  name: 'sliceGrad',
  arity: 1,
  doc: 'Gradient of slice: scatters dy into zeros of attr shape (attrs starts, ends, steps as slice).',
  internalFor: 'slice',
  ...symbolicInfer(([dy], attrs) => {
    const shape = attrs['shape'] as Dim[];
    const want = slicedShape(shape, attrs['starts'] as Dim[], attrs['ends'] as Dim[], attrs['steps'] as number[]);
    if (want.length !== dy!.shape.length || want.some((d, i) => !dimEquals(d, dy!.shape[i]!))) {
      throw new KilnError(`gradient ${dimsText(dy!.shape)} does not match the slice output ${dimsText(want)}`);
    }
    return [{ shape, dtype: dy!.dtype }];
  }),
  grad: ({ dys: [ddy], attrs }) => [
    ddy!.applyOp('slice', [], { starts: attrs['starts']!, ends: attrs['ends']!, steps: attrs['steps']! })[0]!,
  ],
});

// ---- concat / split ------------------------------------------------------------------

/** Concatenation along attr `axis` (non-negative); every input has the same dtype and rank. */
export const concat = registerOp<AnyTensor>({
  name: 'concat',
  arity: [1, Infinity],
  doc: 'Joins tensors along an existing axis (attr axis).',
  ...symbolicInfer((inputs, attrs) => {
    const axis = attrs['axis'] as number;
    const first = inputs[0]!;
    const shape = first.shape.slice();
    if (axis < 0 || axis >= shape.length) throw new KilnError(`axis ${axis} is out of range for tensors of rank ${shape.length}`);
    let total: Dim = 0;
    for (let i = 0; i < inputs.length; i++) {
      const t = inputs[i]!;
      if (t.dtype !== first.dtype) throw new KilnError(`all inputs need one dtype, got ${first.dtype} and ${t.dtype} (input ${i})`);
      if (t.shape.length !== shape.length || t.shape.some((d, j) => j !== axis && !dimEquals(d, shape[j]!))) {
        throw new KilnError(`input ${i} has shape ${dimsText(t.shape)}, which does not match ${dimsText(first.shape)} except along axis ${axis}`);
      }
      total = dimAdd(total, t.shape[axis]!);
    }
    shape[axis] = total;
    return [{ shape, dtype: first.dtype }];
  }),
  grad: ({ inputs, dys: [dy], attrs, needs }) => {
    const axis = attrs['axis'] as number;
    if (inputs.length === 1) return [needs[0] ? dy! : null];
    const pieces = dy!.applyOp('split', [], { axis, sizes: inputs.map((x) => x.shape[axis]!) });
    return pieces.map((p, i) => (needs[i] ? p : null));
  },
});

/** Splits along attr `axis` into pieces of attr `sizes` (summing to the axis length): one output per piece. */
export const split = registerOp<AnyTensor>({
  name: 'split',
  arity: 1,
  doc: 'Cuts a tensor along an axis into pieces of the given sizes (attrs axis, sizes); one output per piece.',
  ...symbolicInfer(([x], attrs) => {
    const axis = attrs['axis'] as number;
    const sizes = attrs['sizes'] as Dim[];
    const text = sizes.map(formatDim).join(', ');
    if (axis < 0 || axis >= x!.shape.length) throw new KilnError(`axis ${axis} is out of range for a tensor of rank ${x!.shape.length}`);
    let total: Dim = 0;
    for (const s of sizes) {
      if (typeof s === 'number' && (!Number.isInteger(s) || s < 0)) throw new KilnError(`split sizes must be non-negative integers, got [${text}]`);
      total = dimAdd(total, s);
    }
    if (!dimEquals(total, x!.shape[axis]!)) throw new KilnError(`split sizes [${text}] sum to ${formatDim(total)}, but axis ${axis} of ${dimsText(x!.shape)} has ${formatDim(x!.shape[axis]!)}`);
    return sizes.map((s) => {
      const shape = x!.shape.slice();
      shape[axis] = s;
      return { shape, dtype: x!.dtype };
    });
  }),
  grad: ({ dys, attrs }) => [dys.length === 1 ? dys[0]! : dys[0]!.applyOp('concat', dys.slice(1), { axis: attrs['axis']! })[0]!],
});

// ---- pad -----------------------------------------------------------------------------

/** Output shape of padding `shape` by ONNX-layout `pads` ([begin per axis..., end per axis...]). */
export function paddedShape(shape: readonly Dim[], pads: readonly number[]): Dim[] {
  const r = shape.length;
  if (pads.length !== 2 * r) throw new KilnError(`pads need 2 entries per axis of ${dimsText(shape)} (${2 * r}), got [${pads.join(', ')}]`);
  return shape.map((d, i) => dimAdd(d, pads[i]! + pads[r + i]!));
}

/**
 * Pads with attr `mode` 'constant' (attr `value`) or 'reflect' (mirror without repeating
 * the edge). Attr `pads` is ONNX-ordered [begin per axis..., end per axis...], all ≥ 0.
 */
export const pad = registerOp<AnyTensor>({
  name: 'pad',
  arity: 1,
  doc: "Pads every axis (attr pads: ONNX order [begins..., ends...], ≥ 0; attr mode 'constant' with value, or 'reflect').",
  ...symbolicInfer(([x], attrs) => {
    const pads = attrs['pads'] as number[];
    const mode = attrs['mode'] as string;
    const shape = paddedShape(x!.shape, pads);
    const r = x!.shape.length;
    if (pads.some((p) => !Number.isInteger(p) || p < 0)) throw new KilnError(`pads must be non-negative integers here, got [${pads.join(', ')}]`);
    if (mode === 'reflect') {
      for (let i = 0; i < r; i++) {
        const d = x!.shape[i]!;
        // A symbolic size was checked when traced (and is guarded by the plan's shapes).
        if (typeof d === 'number' && (pads[i]! > 0 || pads[r + i]! > 0) && (pads[i]! >= d || pads[r + i]! >= d)) {
          throw new KilnError(`reflect padding (${pads[i]}, ${pads[r + i]}) of axis ${i} must be smaller than its size ${d}`);
        }
      }
    } else if (mode !== 'constant') throw new KilnError(`unknown pad mode '${mode}' (expected 'constant' or 'reflect')`);
    return [{ shape, dtype: x!.dtype }];
  }),
  grad: ({ inputs: [x], dys: [dy], attrs }) => {
    const pads = attrs['pads'] as number[];
    if (attrs['mode'] === 'reflect') return [dy!.applyOp('padReflectGrad', [], { pads })[0]!];
    const r = x!.rank;
    const starts = pads.slice(0, r);
    return [dy!.applyOp('slice', [], { starts, ends: starts.map((s, i) => s + x!.shape[i]!), steps: starts.map(() => 1) })[0]!];
  },
});

/** The adjoint of reflect padding: each padded element's gradient added to its source. */
export const padReflectGrad = registerOp<AnyTensor>({
  name: 'padReflectGrad',
  arity: 1,
  doc: 'Gradient of reflect pad: folds the mirrored borders of dy back onto the interior (attr pads).',
  internalFor: 'pad',
  ...symbolicInfer(([dy], attrs) => {
    const pads = attrs['pads'] as number[];
    const r = dy!.shape.length;
    if (pads.length !== 2 * r) throw new KilnError(`pads need 2 entries per axis of ${dimsText(dy!.shape)}, got [${pads.join(', ')}]`);
    const shape = dy!.shape.map((d, i) => dimSub(d, pads[i]! + pads[r + i]!));
    if (shape.some((d) => typeof d === 'number' && d < 1)) throw new KilnError(`pads [${pads.join(', ')}] leave nothing of ${dimsText(dy!.shape)}`);
    return [{ shape, dtype: dy!.dtype }];
  }),
  grad: ({ dys: [ddy], attrs }) => [ddy!.applyOp('pad', [], { pads: attrs['pads']!, mode: 'reflect', value: 0 })[0]!],
});

// ---- gather / scatter ----------------------------------------------------------------

/** Whether dim `a` is known to be larger than `b` (symbolic sizes were checked when traced). */
function exceeds(a: Dim, b: Dim): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a > b;
  return typeof a !== 'number' && typeof b !== 'number' && a.sym === b.sym && a.coef === b.coef && a.offset > b.offset;
}

function checkIndex(index: ValueType, what: string): void {
  if (index.dtype !== 'int32') throw new KilnError(`${what} must be int32, got ${index.dtype}`);
}

/** `torch.gather`: out[..i..] = x[..index[..i..] on attr axis..]; output has the index's shape. */
export const gather = registerOp<AnyTensor>({
  name: 'gather',
  arity: 2,
  doc: 'torch.gather along attr axis: picks x elements by an int32 index of the same rank.',
  ...symbolicInfer(([x, index], attrs) => {
    const axis = attrs['axis'] as number;
    checkIndex(index!, 'the index');
    const r = x!.shape.length;
    if (index!.shape.length !== r) throw new KilnError(`index ${dimsText(index!.shape)} must have the rank of the input ${dimsText(x!.shape)}`);
    if (axis < 0 || axis >= Math.max(r, 1)) throw new KilnError(`axis ${axis} is out of range for rank ${r}`);
    for (let d = 0; d < r; d++) {
      if (d !== axis && exceeds(index!.shape[d]!, x!.shape[d]!)) throw new KilnError(`index ${dimsText(index!.shape)} is larger than the input ${dimsText(x!.shape)} in dimension ${d}`);
    }
    return [{ shape: index!.shape, dtype: x!.dtype }];
  }),
  grad: ({ inputs: [x, index], dys: [dy], attrs, needs }) => [
    needs[0] ? x!.zerosLike().applyOp('scatterAdd', [index!, dy!], { axis: attrs['axis']! })[0]! : null,
    null,
  ],
});

/** `torch.scatter_add` (out of place): out = x; out[..index[..i..] on axis..] += src[..i..]. */
export const scatterAdd = registerOp<AnyTensor>({
  name: 'scatterAdd',
  arity: 3,
  doc: 'torch.scatter_add along attr axis: adds src elements into a copy of x at int32 index positions.',
  ...symbolicInfer(([x, index, src], attrs) => {
    const axis = attrs['axis'] as number;
    checkIndex(index!, 'the index');
    const r = x!.shape.length;
    if (src!.dtype !== x!.dtype) throw new KilnError(`src (${src!.dtype}) must have the dtype of the input (${x!.dtype})`);
    if (x!.dtype === 'bool') throw new KilnError('cannot add into a bool tensor');
    if (index!.shape.length !== r || src!.shape.length !== r) throw new KilnError(`input ${dimsText(x!.shape)}, index ${dimsText(index!.shape)} and src ${dimsText(src!.shape)} must have the same rank`);
    if (axis < 0 || axis >= Math.max(r, 1)) throw new KilnError(`axis ${axis} is out of range for rank ${r}`);
    for (let d = 0; d < r; d++) {
      if (exceeds(index!.shape[d]!, src!.shape[d]!) || (d !== axis && exceeds(index!.shape[d]!, x!.shape[d]!))) {
        throw new KilnError(`index ${dimsText(index!.shape)} is larger than src ${dimsText(src!.shape)} or the input ${dimsText(x!.shape)} in dimension ${d}`);
      }
    }
    return [{ shape: x!.shape, dtype: x!.dtype }];
  }),
  grad: ({ inputs: [, index, src], dys: [dy], attrs, needs }) => {
    let gs: AnyTensor | null = null;
    if (needs[2]) {
      gs = dy!.applyOp('gather', [index!], { axis: attrs['axis']! })[0]!;
      // src may be larger than the index: its unused elements get zero gradient.
      const r = src!.rank;
      if (index!.shape.some((d, i) => d !== src!.shape[i])) {
        const pads = new Array<number>(2 * r).fill(0);
        for (let i = 0; i < r; i++) pads[r + i] = src!.shape[i]! - index!.shape[i]!;
        gs = gs.applyOp('pad', [], { pads, mode: 'constant', value: 0 })[0]!;
      }
    }
    return [needs[0] ? dy! : null, null, gs];
  },
});

/** `torch.index_select`: the slices of x at the int32 1-D `index` along attr axis. */
export const indexSelect = registerOp<AnyTensor>({
  name: 'indexSelect',
  arity: 2,
  doc: 'torch.index_select: whole slices of x picked along attr axis by a 1-D int32 index.',
  ...symbolicInfer(([x, index], attrs) => {
    const axis = attrs['axis'] as number;
    checkIndex(index!, 'the index');
    if (index!.shape.length > 1) throw new KilnError(`the index must be 1-D, got shape ${dimsText(index!.shape)}`);
    if (axis < 0 || axis >= x!.shape.length) throw new KilnError(`axis ${axis} is out of range for ${dimsText(x!.shape)}`);
    const shape = x!.shape.slice();
    shape[axis] = dimProduct(index!.shape);
    return [{ shape, dtype: x!.dtype }];
  }),
  grad: ({ inputs: [x, index], dys: [dy], attrs, needs }) => [
    needs[0] ? dy!.applyOp('indexSelectGrad', [index!], { axis: attrs['axis']!, size: x!.shape[attrs['axis'] as number]! })[0]! : null,
    null,
  ],
});

/** The adjoint of `indexSelect` (torch `index_add` into zeros): slices of dy summed at their index. */
export const indexSelectGrad = registerOp<AnyTensor>({
  name: 'indexSelectGrad',
  arity: 2,
  doc: 'Gradient of indexSelect: adds slices of dy into zeros (axis length attr size) at the index.',
  internalFor: 'indexSelect',
  ...symbolicInfer(([dy, index], attrs) => {
    const axis = attrs['axis'] as number;
    checkIndex(index!, 'the index');
    if (axis < 0 || axis >= dy!.shape.length || !dimEquals(dy!.shape[axis]!, dimProduct(index!.shape))) {
      throw new KilnError(`gradient ${dimsText(dy!.shape)} does not match index ${dimsText(index!.shape)} on axis ${axis}`);
    }
    const shape = dy!.shape.slice();
    shape[axis] = attrs['size'] as Dim;
    return [{ shape, dtype: dy!.dtype }];
  }),
  grad: ({ inputs: [, index], dys: [ddy], attrs }) => [ddy!.applyOp('indexSelect', [index!], { axis: attrs['axis']! })[0]!, null],
});

// ---- oneHot / cast -------------------------------------------------------------------

/** One-hot encoding of int32 class indices: a trailing axis of attr `numClasses`, int32 0/1. */
export const oneHot = registerOp<AnyTensor>({
  name: 'oneHot',
  arity: 1,
  doc: 'One-hot encoding of int32 indices (attr numClasses): int32 output with a new last axis.',
  ...symbolicInfer(([x], attrs) => {
    const n = attrs['numClasses'] as number;
    if (x!.dtype !== 'int32') throw new KilnError(`needs int32 class indices, got ${x!.dtype}`);
    if (!Number.isInteger(n) || n < 0) throw new KilnError(`numClasses must be a non-negative integer, got ${n}`);
    return [{ shape: [...x!.shape, n], dtype: 'int32' }];
  }),
});

const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'bool'];

/** Converts to attr `dtype`: float→int truncates toward zero (saturating, NaN → 0), →bool is "nonzero". */
export const cast = registerOp<AnyTensor>({
  name: 'cast',
  arity: 1,
  doc: 'Converts the dtype (attr dtype): float→int truncates toward zero, saturates to the int32 range, NaN → 0; anything→bool is x ≠ 0.',
  ...symbolicInfer(([x], attrs) => {
    const dtype = attrs['dtype'] as DType;
    if (!DTYPES.includes(dtype)) throw new KilnError(`unknown dtype '${String(dtype)}' (expected one of ${DTYPES.join(', ')})`);
    return [{ shape: x!.shape, dtype }];
  }),
  // Only float→float casts carry a gradient (int and bool values are not differentiable).
  grad: ({ inputs: [x], outputs: [y], dys: [dy] }) => [isFloat(x!.dtype) && isFloat(y!.dtype) ? dy!.cast(x!.dtype) : null],
});
