// Resize (opsets 10–18) and Upsample (opsets 7–9), modes nearest and linear, as
// gathers along each resized axis with indices (and, for linear, weights) computed at
// import from the concrete sizes. Coordinates are computed in float32 like ONNX Runtime.
import { KilnError } from '../../ir/index.js';
import type { OnnxValue, OpContext, OpImporter } from '../importContext.js';

const f = Math.fround;

interface Plan {
  mode: 'nearest' | 'linear';
  transform: string;
  nearest: string;
}

function sourceCoord(x: number, inSize: number, outSize: number, scale: number, transform: string): number {
  switch (transform) {
    case 'half_pixel': return f(f(f(x + 0.5) / scale) - 0.5);
    case 'pytorch_half_pixel': return outSize > 1 ? f(f(f(x + 0.5) / scale) - 0.5) : 0;
    case 'align_corners': return outSize === 1 ? 0 : f(f(x * (inSize - 1)) / (outSize - 1));
    case 'asymmetric': return f(x / scale);
    case 'tf_half_pixel_for_nn': return f(f(x + 0.5) / scale);
    default: throw new KilnError(`coordinate_transformation_mode '${transform}' is not supported`);
  }
}

function nearestIndex(x: number, mode: string): number {
  switch (mode) {
    case 'round_prefer_floor': return x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x);
    case 'round_prefer_ceil': return Math.round(x);
    case 'floor': return Math.floor(x);
    case 'ceil': return Math.ceil(x);
    default: throw new KilnError(`nearest_mode '${mode}' is not supported`);
  }
}

function resizeAxis(c: OpContext, x: OnnxValue, axis: number, inSize: number, outSize: number, scale: number, p: Plan): OnnxValue {
  const rank = c.shape(x).length;
  if (p.mode === 'nearest') {
    const idx = Array.from({ length: outSize }, (_, o) => Math.min(Math.max(nearestIndex(sourceCoord(o, inSize, outSize, scale, p.transform), p.nearest), 0), inSize - 1));
    if (outSize === inSize && idx.every((v, i) => v === i)) return x;
    return c.emit1('indexSelect', [x, c.constant('int32', [outSize], idx)], { axis });
  }
  const i0: number[] = [], i1: number[] = [], w: number[] = [];
  for (let o = 0; o < outSize; o++) {
    const s = Math.min(Math.max(sourceCoord(o, inSize, outSize, scale, p.transform), 0), inSize - 1);
    const lo = Math.floor(s);
    i0.push(lo);
    i1.push(Math.min(lo + 1, inSize - 1));
    w.push(f(s - lo));
  }
  if (outSize === inSize && w.every((v) => v === 0) && i0.every((v, i) => v === i)) return x;
  const a = c.emit1('indexSelect', [x, c.constant('int32', [outSize], i0)], { axis });
  const b = c.emit1('indexSelect', [x, c.constant('int32', [outSize], i1)], { axis });
  const wShape = Array.from({ length: rank }, (_, i) => (i === axis ? outSize : 1));
  const dtype = c.type(x).dtype;
  const wb = c.constant(dtype, wShape, w);
  const wa = c.constant(dtype, wShape, w.map((v) => f(1 - v)));
  return c.emit1('add', [c.emit1('mul', [a, wa]), c.emit1('mul', [b, wb])]);
}

function resizeWith(c: OpContext, x: OnnxValue, scales: number[] | null, sizes: number[] | null, p: Plan): OnnxValue {
  const shape = c.concreteShape(x, 'Resize');
  const rank = shape.length;
  if (p.mode !== 'nearest' && p.mode !== 'linear') throw new KilnError(`Resize mode '${p.mode as string}' is not supported (nearest, linear)`);
  let y = x;
  for (let a = 0; a < rank; a++) {
    const inSize = shape[a]!;
    let outSize: number, scale: number;
    if (sizes) {
      outSize = sizes[a]!;
      scale = f(outSize / inSize);
    } else {
      scale = f(scales![a]!);
      outSize = Math.floor(f(inSize * scale));
    }
    if (!(outSize >= 1) || !Number.isFinite(scale) || scale <= 0) throw new KilnError(`Resize to size ${outSize} (scale ${scale}) along axis ${a} is not valid`);
    if (outSize === inSize && scale === 1) continue;
    y = resizeAxis(c, y, a, inSize, outSize, scale, p);
  }
  return y;
}

function known(c: OpContext, i: number): number[] | null {
  const v = c.optional(i);
  if (!v) return null;
  const vals = c.values(v);
  if (!vals) throw new KilnError(`input ${i} of Resize must be known when the model is imported`);
  return vals.length ? vals : null;
}

const resize: OpImporter = (c) => {
  const x = c.input(0);
  const rank = c.shape(x).length;
  const mode = c.attrs.string('mode', 'nearest') as Plan['mode'];
  if (c.opset < 11) return [resizeWith(c, x, known(c, 1), null, { mode, transform: 'asymmetric', nearest: 'floor' })];
  const transform = c.attrs.string('coordinate_transformation_mode', 'half_pixel');
  if (transform === 'tf_crop_and_resize') throw new KilnError("coordinate_transformation_mode 'tf_crop_and_resize' is not supported");
  if (c.attrs.int('antialias', 0)) throw new KilnError('Resize with antialias is not supported');
  if (c.attrs.string('keep_aspect_ratio_policy', 'stretch') !== 'stretch') throw new KilnError('keep_aspect_ratio_policy other than stretch is not supported');
  let scales = known(c, 2), sizes = known(c, 3);
  if (!scales && !sizes) throw new KilnError('Resize needs scales or sizes');
  const axes = c.attrs.has('axes') ? c.attrs.ints('axes').map((a) => (a < 0 ? a + rank : a)) : null;
  if (axes) {
    const full = (vals: number[], fill: (a: number) => number) => Array.from({ length: rank }, (_, a) => (axes.includes(a) ? vals[axes.indexOf(a)]! : fill(a)));
    const shape = c.concreteShape(x, 'Resize');
    if (scales) scales = full(scales, () => 1);
    if (sizes) sizes = full(sizes, (a) => shape[a]!);
  }
  if ((scales ?? sizes)!.length !== rank) throw new KilnError(`Resize needs ${rank} scales or sizes, got ${(scales ?? sizes)!.length}`);
  return [resizeWith(c, x, sizes ? null : scales, sizes, { mode, transform, nearest: c.attrs.string('nearest_mode', 'round_prefer_floor') })];
};

const upsample: OpImporter = (c) => {
  const x = c.input(0);
  const mode = c.attrs.string('mode', 'nearest') as Plan['mode'];
  const scales = c.opset < 9 ? c.attrs.floats('scales') : known(c, 1);
  if (!scales) throw new KilnError('Upsample needs scales');
  return [resizeWith(c, x, scales, null, { mode: mode === ('bilinear' as string) ? 'linear' : mode, transform: 'asymmetric', nearest: 'floor' })];
};

export const resizeImporters: Record<string, OpImporter> = {
  Resize: resize,
  Upsample: upsample,
};
