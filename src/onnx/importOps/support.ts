// Small helpers the op importers share.
import { dimEquals, KilnError, type Dim, type DType } from '../../ir/index.js';
import type { OnnxValue, OpContext } from '../importContext.js';

/** An ONNX axis (negative counts from the end) as an index into `rank` dims. */
export function axisOf(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new KilnError(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Axes given by attribute (before `inputSince`) or by input `inputIndex` (from it on); null when absent. */
export function axesOf(c: OpContext, inputSince: number, inputIndex: number, rank: number, attr = 'axes'): number[] | null {
  let axes: number[] | null;
  if (c.opset < inputSince) axes = c.attrs.has(attr) ? c.attrs.ints(attr) : null;
  else axes = c.optional(inputIndex) ? c.constInts(inputIndex, attr) : null;
  if (axes === null) return null;
  const out = axes.map((a) => axisOf(a, rank, attr));
  if (new Set(out).size !== out.length) throw new KilnError(`${attr} [${axes.join(', ')}] repeat an axis`);
  return out;
}

/** `x` reshaped (a no-op when the shape is already `shape`). */
export function reshape(c: OpContext, x: OnnxValue, shape: readonly Dim[]): OnnxValue {
  const s = c.shape(x);
  if (s.length === shape.length && s.every((d, i) => sameDim(d, shape[i]!))) return x;
  return c.emit1('reshape', [x], { shape: [...shape] });
}

export function sameDim(a: Dim, b: Dim): boolean {
  return dimEquals(a, b);
}

/** `x` cast to `dtype` (a no-op when it has it). */
export function castTo(c: OpContext, x: OnnxValue, dtype: DType): OnnxValue {
  return c.type(x).dtype === dtype ? x : c.emit1('cast', [x], { dtype });
}

/** Requires that input `i` be a float tensor. */
export function requireFloat(c: OpContext, x: OnnxValue, what = 'input'): void {
  const t = c.type(x).dtype;
  if (t !== 'float32' && t !== 'float64') throw new KilnError(`${what} must be a float tensor, got ${t}`);
}
