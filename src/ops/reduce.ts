/**
 * Reductions. Primitives (registered, with kernels): sum, max, min, prod, argmax,
 * argmin, logSumExp, softmax, logSoftmax, elementCount. Composites (built from
 * primitives in `eager/functional/reduce.ts`, so they need no kernel or gradient of
 * their own): mean = sum / n, variance = sum((c − mean(c))²) / (n − ddof) with
 * c = x − mean(x) (the rounded mean corrected once, accurate with large offsets), where
 * n is an `elementCount` node rather than a number, so a traced mean follows a symbolic
 * batch. Sums accumulate in float64 on every backend.
 *
 * Reduction attrs: `axes` (sorted, unique, non-negative, each < rank) and `keepDims`.
 * Softmax/argmax attrs: `axis` (non-negative; argmax also `null` = flattened).
 */
import { formatDim, isFloat, KilnError, registerOp, symbolicInfer, type Attrs, type Dim, type GradContext, type IrAttrs, type TensorType, type ValueType } from '../ir/index.js';
import type { AnyTensor } from './tensorLike.js';

/** Output shape of reducing `shape` over sorted `axes`. */
export function reducedShape(shape: readonly number[], axes: readonly number[], keepDims: boolean): number[];
export function reducedShape(shape: readonly Dim[], axes: readonly number[], keepDims: boolean): Dim[];
export function reducedShape(shape: readonly Dim[], axes: readonly number[], keepDims: boolean): Dim[] {
  const out: Dim[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (axes.includes(i)) {
      if (keepDims) out.push(1);
    } else out.push(shape[i]!);
  }
  return out;
}

/** The reduced gradient/output re-expanded so it broadcasts against the input. */
export function keepDimsShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function shapeText(shape: readonly Dim[]): string {
  return `[${shape.map(formatDim).join(', ')}]`;
}

function checkAxes(shape: readonly Dim[], axes: readonly number[]): void {
  for (const a of axes) {
    if (!Number.isInteger(a) || a < 0 || a >= shape.length) throw new KilnError(`axis ${a} is out of range for shape ${shapeText(shape)}`);
  }
}

/** max/min/argmax have no identity element: an empty reduction is an error, as in PyTorch. (A symbolic dim is not empty: sizes below a compiled entry's smallest retrace.) */
function checkNonEmpty(shape: readonly Dim[], axes: readonly number[]): void {
  for (const a of axes) {
    if (shape[a] === 0) throw new KilnError(`cannot reduce over axis ${a} of size 0 (shape ${shapeText(shape)})`);
  }
}

type OutDType = 'same' | 'int' | 'float';

function reduceInfer(out: OutDType, nonEmpty = false) {
  return symbolicInfer(([x]: readonly ValueType[], attrs: IrAttrs): ValueType[] => {
    const axes = attrs['axes'] as number[];
    checkAxes(x!.shape, axes);
    if (nonEmpty) checkNonEmpty(x!.shape, axes);
    const dtype = out === 'float' ? (isFloat(x!.dtype) ? x!.dtype : 'float32')
      : out === 'int' && x!.dtype === 'bool' ? 'int32' : x!.dtype;
    return [{ shape: reducedShape(x!.shape, axes, attrs['keepDims'] as boolean), dtype }];
  });
}

/** `t` (a reduction result or its gradient) reshaped to keepDims form, so it broadcasts against `x`. */
function kept(t: AnyTensor, x: AnyTensor, attrs: Attrs): AnyTensor {
  return attrs['keepDims'] ? t : t.reshape(keepDimsShape(x.shape, attrs['axes'] as number[]));
}

/** sum over attr `axes` (sorted, non-negative), attr `keepDims`. bool sums to int32. */
export const sum = registerOp<AnyTensor>({
  name: 'sum',
  arity: 1,
  doc: 'Sum over axes (attrs axes, keepDims); bool sums to int32.',
  ...reduceInfer('int'),
  grad: ({ inputs: [x], dys: [dy], attrs }) => [kept(dy!, x!, attrs).expand(x!.shape)],
});

/**
 * Gradient of max/min: like PyTorch 1.13's `amax`/`amin` (and full `max()`/`min()`),
 * the gradient is split evenly among the elements that tie for the extreme value of
 * each reduced slice. (`torch.max(x, dim)` instead routes it all to the one index it
 * returns; Kiln's max/min return values only, so they follow `amax`.)
 */
function extremeGrad({ inputs: [x], outputs: [y], dys: [dy], attrs }: GradContext<AnyTensor>): AnyTensor[] {
  const mask = x!.equal(kept(y!, x!, attrs));
  const count = x!.onesLike().where(mask, 0).sum(attrs['axes'] as number[], { keepDims: true });
  return [kept(dy!, x!, attrs).div(count).where(mask, 0)];
}

export const max = registerOp<AnyTensor>({
  name: 'max',
  arity: 1,
  doc: 'Maximum over axes (attrs axes, keepDims); NaN propagates; gradient split evenly among ties.',
  ...reduceInfer('same', true),
  grad: extremeGrad,
});

export const min = registerOp<AnyTensor>({
  name: 'min',
  arity: 1,
  doc: 'Minimum over axes (attrs axes, keepDims); NaN propagates; gradient split evenly among ties.',
  ...reduceInfer('same', true),
  grad: extremeGrad,
});

/**
 * Product over axes; bool gives int32. The gradient is the product of the other
 * elements of the slice, computed without dividing by zero (as PyTorch does): with no
 * zero in the slice it is y / x; with exactly one zero, only that element gets the
 * product of the non-zeros; with two or more zeros every element gets 0.
 */
export const prod = registerOp<AnyTensor>({
  name: 'prod',
  arity: 1,
  doc: 'Product over axes (attrs axes, keepDims); bool gives int32; gradient safe at zeros.',
  ...reduceInfer('int'),
  grad: ({ inputs: [x], dys: [dy], attrs }) => {
    const xx = x!;
    const axes = attrs['axes'] as number[];
    const isZero = xx.equal(0);
    const safe = xx.where(isZero.logicalNot(), 1);
    const zeros = isZero.sum(axes, { keepDims: true });
    const nonZeroProd = safe.prod(axes, { keepDims: true });
    const others = nonZeroProd.div(safe).where(zeros.equal(0), nonZeroProd.where(isZero, 0).where(zeros.equal(1), 0));
    return [kept(dy!, xx, attrs).mul(others)];
  },
});

const argInfer = symbolicInfer(([x]: readonly ValueType[], attrs: IrAttrs): ValueType[] => {
  const axis = attrs['axis'] as number | null;
  const keepDims = attrs['keepDims'] as boolean;
  const shape = x!.shape;
  if (axis === null) {
    if (shape.includes(0)) throw new KilnError(`cannot take the arg-extreme of an empty tensor (shape ${shapeText(shape)})`);
    return [{ shape: keepDims ? shape.map(() => 1) : [], dtype: 'int32' }];
  }
  if (shape.length === 0 && axis === 0) return [{ shape: [], dtype: 'int32' }];
  checkAxes(shape, [axis]);
  checkNonEmpty(shape, [axis]);
  return [{ shape: reducedShape(shape, [axis], keepDims), dtype: 'int32' }];
});

/** Index of the first maximum along attr `axis` (null: of the flattened tensor). Not differentiable. */
/**
 * The number of elements of `x` over attr `axes` (the product of those dims) as a 0-d
 * tensor of attr `dtype`. It reads only x's shape: in a graph it is computed from the
 * runtime shape, so `sum / elementCount` stays correct under a symbolic dim where a
 * number read at trace time would pin the dim to one size. Not differentiable.
 */
export const elementCount = registerOp<AnyTensor>({
  name: 'elementCount',
  arity: 1,
  doc: 'Product of the dims of x over attr axes, as a 0-d tensor of attr dtype (reads only the shape).',
  ...symbolicInfer(([x], attrs) => {
    checkAxes(x!.shape, attrs['axes'] as number[]);
    return [{ shape: [], dtype: attrs['dtype'] as TensorType['dtype'] }];
  }),
});

export const argmax = registerOp<AnyTensor>({
  name: 'argmax',
  arity: 1,
  doc: 'Index (int32) of the first maximum along attr axis (null: flattened), attr keepDims; NaN counts as largest.',
  ...argInfer,
});

/** Index of the first minimum along attr `axis` (null: of the flattened tensor). Not differentiable. */
export const argmin = registerOp<AnyTensor>({
  name: 'argmin',
  arity: 1,
  doc: 'Index (int32) of the first minimum along attr axis (null: flattened), attr keepDims; NaN counts as smallest.',
  ...argInfer,
});

/** log Σ exp(x) over axes, computed as m + log Σ exp(x − m) with m the slice max (stable). */
export const logSumExp = registerOp<AnyTensor>({
  name: 'logSumExp',
  arity: 1,
  doc: 'log(sum(exp(x))) over axes (attrs axes, keepDims), numerically stable; ints give float32.',
  ...reduceInfer('float'),
  // d/dx = exp(x − y): the softmax of each slice.
  grad: ({ inputs: [x], outputs: [y], dys: [dy], attrs }) => [kept(dy!, x!, attrs).mul(x!.sub(kept(y!, x!, attrs)).exp())],
});

function softmaxInfer(name: string) {
  return symbolicInfer(([x]: readonly ValueType[], attrs: IrAttrs): ValueType[] => {
    if (!isFloat(x!.dtype)) throw new KilnError(`${name} needs a floating-point input, got ${x!.dtype}`);
    checkAxes(x!.shape, [attrs['axis'] as number]);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  });
}

/** exp(x − max) / Σ exp(x − max) along attr `axis`. */
export const softmax = registerOp<AnyTensor>({
  name: 'softmax',
  arity: 1,
  doc: 'Softmax along attr axis (stable: the max is subtracted first).',
  ...softmaxInfer('softmax'),
  // dx = y · (dy − Σ dy·y)
  grad: ({ outputs: [y], dys: [dy], attrs }) => [y!.mul(dy!.sub(dy!.mul(y!).sum(attrs['axis'] as number, { keepDims: true })))],
});

/** x − logΣexp(x) along attr `axis`. */
export const logSoftmax = registerOp<AnyTensor>({
  name: 'logSoftmax',
  arity: 1,
  doc: 'Log-softmax along attr axis (stable).',
  ...softmaxInfer('logSoftmax'),
  // dx = dy − softmax · Σ dy, with softmax = exp(y)
  grad: ({ outputs: [y], dys: [dy], attrs }) => [dy!.sub(y!.exp().mul(dy!.sum(attrs['axis'] as number, { keepDims: true })))],
});
