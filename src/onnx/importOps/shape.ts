// Shape ONNX ops: Shape/Size/Constant/ConstantOfShape/Cast/Range, and the ops that move
// elements (Reshape, Flatten, Transpose, Concat, Split, Slice, Pad, Gather, Squeeze,
// Unsqueeze, Expand, Tile). On values known at import (shape tensors) they fold.
import { dimAdd, dimDivExact, dimProduct, isSym, KilnError, type Dim, type DType } from '../../ir/index.js';
import type { KnownDims, OnnxValue, OpContext, OpImporter } from '../importContext.js';
import { kilnDTypeForValue, known, readTensor } from '../importTensor.js';
import { axesOf, axisOf, castTo, reshape } from './support.js';

const INT_MAX = 2147483647;

function dimsValue(dims: readonly Dim[], scalar = false): OnnxValue {
  if (dims.every((d) => typeof d === 'number')) return known('int32', scalar ? [] : [dims.length], Float64Array.from(dims as number[]));
  const v: KnownDims = { kind: 'dims', shape: scalar ? [] : [dims.length], dims };
  return v;
}

const shapeOp: OpImporter = (c) => {
  const s = c.shape(c.input(0));
  let start = c.attrs.int('start', 0), end = c.attrs.int('end', s.length);
  start = Math.min(Math.max(start < 0 ? start + s.length : start, 0), s.length);
  end = Math.min(Math.max(end < 0 ? end + s.length : end, 0), s.length);
  return [dimsValue(s.slice(start, Math.max(start, end)))];
};

const size: OpImporter = (c) => [dimsValue([dimProduct(c.shape(c.input(0)))], true)];

const constant: OpImporter = (c) => {
  const a = c.attrs;
  if (a.has('value')) return [readTensor(a.tensor('value'), null)];
  if (a.has('value_float')) return [c.constant('float32', [], [a.float('value_float')])];
  if (a.has('value_floats')) { const f = a.floats('value_floats'); return [c.constant('float32', [f.length], f)]; }
  if (a.has('value_int')) return [c.constant('int32', [], [a.int('value_int')])];
  if (a.has('value_ints')) { const i = a.ints('value_ints'); return [c.constant('int32', [i.length], i)]; }
  throw new KilnError('Constant needs one of value, value_float(s), value_int(s) (sparse and string constants are not supported)');
};

const constantOfShape: OpImporter = (c) => {
  const dims = c.dims(c.input(0));
  if (!dims) throw new KilnError('the shape (input 0) must be known when the model is imported');
  const fill = c.attrs.has('value') ? readTensor(c.attrs.tensor('value'), null) : known('float32', [1], new Float32Array([0]));
  if (fill.data.length !== 1) throw new KilnError('value must hold one element');
  if (dims.every((d) => typeof d === 'number')) {
    const n = (dims as number[]).reduce((a, b) => a * b, 1);
    const data = fill.dtype === 'float32' ? new Float32Array(n) : fill.dtype === 'int32' ? new Float64Array(n) : fill.dtype === 'float64' ? new Float64Array(n) : new Uint8Array(n);
    data.fill(fill.data[0]!);
    return [known(fill.dtype, dims as number[], data)];
  }
  const one = reshape(c, fill, dims.map(() => 1));
  return [c.emit1('expand', [one], { shape: dims })];
};

function dtypeOfTo(c: OpContext): DType {
  return kilnDTypeForValue(c.attrs.int('to'), `Cast target`);
}

const cast: OpImporter = (c) => {
  const x = c.input(0);
  const to = dtypeOfTo(c);
  return [castTo(c, x, to)];
};

const range: OpImporter = (c) => {
  const [start, limit, delta] = [0, 1, 2].map((i) => {
    const v = c.values(c.input(i));
    if (!v) throw new KilnError(`Range's inputs must be known when the model is imported (input ${i} is computed at run time or symbolic)`);
    return v[0]!;
  }) as [number, number, number];
  if (delta === 0) throw new KilnError('Range delta must not be 0');
  const n = Math.max(Math.ceil((limit - start) / delta), 0);
  if (n > 2 ** 28) throw new KilnError(`Range of ${n} elements is too long`);
  const out = Array.from({ length: n }, (_, i) => start + i * delta);
  return [c.constant(c.type(c.input(0)).dtype, [n], out)];
};

/** Reshape's target: 0 copies the input's dim (unless allowzero), -1 is inferred. */
function reshapeTarget(xShape: readonly Dim[], spec: readonly Dim[], allowZero: boolean): Dim[] {
  const out: Dim[] = spec.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= xShape.length) throw new KilnError(`shape entry ${i} is 0 (copy) but the input has rank ${xShape.length}`);
      return xShape[i]!;
    }
    return d;
  });
  const infer = out.findIndex((d) => d === -1);
  if (out.filter((d) => d === -1).length > 1) throw new KilnError(`shape [${spec.join(', ')}] has more than one -1`);
  if (out.some((d) => typeof d === 'number' && d < -1)) throw new KilnError(`shape [${spec.join(', ')}] has a negative entry`);
  if (infer >= 0) {
    const rest = dimProduct(out.filter((_, i) => i !== infer));
    const total = dimProduct(xShape);
    if (rest === 0) throw new KilnError(`cannot infer -1 in shape [${spec.join(', ')}] with a zero-size dim`);
    out[infer] = dimDivExact(total, rest);
  }
  return out;
}

const reshapeOp: OpImporter = (c) => {
  const x = c.input(0);
  let spec: Dim[] | null;
  if (c.opset < 5) spec = c.attrs.ints('shape');
  else {
    spec = c.dims(c.input(1));
    if (!spec) throw new KilnError('the shape (input 1) must be known when the model is imported, but it is computed at run time');
  }
  return [reshape(c, x, reshapeTarget(c.shape(x), spec, c.attrs.int('allowzero', 0) === 1))];
};

const flatten: OpImporter = (c) => {
  const x = c.input(0);
  const s = c.shape(x);
  const axis = c.attrs.int('axis', 1);
  const a = axis < 0 ? axis + s.length : axis;
  if (a < 0 || a > s.length) throw new KilnError(`axis ${axis} is out of range for rank ${s.length}`);
  return [reshape(c, x, [dimProduct(s.slice(0, a)), dimProduct(s.slice(a))])];
};

const transpose: OpImporter = (c) => {
  const x = c.input(0);
  const rank = c.shape(x).length;
  const perm = c.attrs.ints('perm', Array.from({ length: rank }, (_, i) => rank - 1 - i));
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) throw new KilnError(`perm [${perm.join(', ')}] is not a permutation of ${rank} axes`);
  if (perm.every((p, i) => p === i)) return [x];
  return [c.emit1('transpose', [x], { perm })];
};

const concat: OpImporter = (c) => {
  const ins = Array.from({ length: c.inputCount }, (_, i) => c.input(i));
  if (ins.length === 0) throw new KilnError('Concat needs at least one input');
  const rank = c.shape(ins[0]!).length;
  const axis = axisOf(c.attrs.int('axis'), rank);
  // Empty pieces add nothing (shape tensors often concat a [0]).
  const kept = ins.filter((v) => c.shape(v)[axis] !== 0);
  if (kept.length === 0) return [ins[0]!];
  if (kept.length === 1) return [kept[0]!];
  return [c.emit1('concat', kept, { axis })];
};

const split: OpImporter = (c) => {
  const x = c.input(0);
  const s = c.shape(x);
  const axis = axisOf(c.attrs.int('axis', 0), s.length);
  let sizes: number[] | null = null;
  if (c.opset < 13) sizes = c.attrs.has('split') ? c.attrs.ints('split') : null;
  else if (c.optional(1)) sizes = c.constInts(1, 'split');
  const outputs = c.outputs.length;
  if (!sizes) {
    const d = s[axis]!;
    if (isSym(d)) throw new KilnError('splitting a symbolic axis evenly needs concrete sizes');
    const n = c.opset >= 18 && c.attrs.has('num_outputs') ? c.attrs.int('num_outputs') : outputs;
    const each = Math.ceil(d / n);
    sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(each, d - i * each)));
  }
  if (sizes.length === 1) return [x];
  return c.emit('split', [x], { axis, sizes });
};

/** ONNX slice bounds → Kiln's normalized (Python slice.indices) bounds for one axis. */
function sliceBounds(d: Dim, start: number, end: number, step: number): [Dim, Dim] {
  if (typeof d === 'number') {
    let s = start < 0 ? start + d : start;
    let e = end < 0 ? end + d : end;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, -1), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    return [s, e];
  }
  // Symbolic: the usual forms (0 / -k / "to the end").
  const big = (v: number) => Math.abs(v) >= INT_MAX;
  const s: Dim = step > 0 ? (start < 0 ? (big(start) ? 0 : dimAdd(d, start)) : big(start) ? d : start) : (start < 0 ? (big(start) ? -1 : dimAdd(d, start)) : big(start) ? dimAdd(d, -1) : start);
  const e: Dim = step > 0 ? (end < 0 ? (big(end) ? 0 : dimAdd(d, end)) : big(end) ? d : end) : (end < 0 ? (big(end) ? -1 : dimAdd(d, end)) : big(end) ? dimAdd(d, -1) : end);
  return [s, e];
}

const sliceOp: OpImporter = (c) => {
  const x = c.input(0);
  const shape = c.shape(x);
  const rank = shape.length;
  let starts: number[], ends: number[], axes: number[] | null, steps: number[] | null;
  if (c.opset < 10) {
    starts = c.attrs.ints('starts');
    ends = c.attrs.ints('ends');
    axes = c.attrs.has('axes') ? c.attrs.ints('axes') : null;
    steps = null;
  } else {
    starts = c.constInts(1, 'starts');
    ends = c.constInts(2, 'ends');
    axes = c.optional(3) ? c.constInts(3, 'axes') : null;
    steps = c.optional(4) ? c.constInts(4, 'steps') : null;
  }
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) throw new KilnError('starts, ends, axes and steps must have the same length');
  const s: Dim[] = shape.map(() => 0), e: Dim[] = [...shape], st: number[] = shape.map(() => 1);
  let any = false;
  axes.forEach((a0, i) => {
    const a = axisOf(a0, rank);
    if (steps![i] === 0) throw new KilnError('slice step must not be 0');
    [s[a], e[a]] = sliceBounds(shape[a]!, starts[i]!, ends[i]!, steps![i]!);
    st[a] = steps![i]!;
    any = true;
  });
  if (!any) return [x];
  return [c.emit1('slice', [x], { starts: s, ends: e, steps: st })];
};

const pad: OpImporter = (c) => {
  const x = c.input(0);
  const shape = c.shape(x);
  const rank = shape.length;
  const mode = c.attrs.string('mode', 'constant');
  let pads: number[], value = 0;
  if (c.opset < 11) {
    pads = c.attrs.ints(c.opset < 2 ? 'paddings' : 'pads');
    value = c.attrs.float('value', 0);
  } else {
    pads = c.constInts(1, 'pads');
    const v = c.optional(2) ? c.values(c.input(2)) : [0];
    if (!v) throw new KilnError('constant_value (input 2) must be known when the model is imported');
    value = v[0] ?? 0;
    const axes = c.opset >= 18 ? axesOf(c, 18, 3, rank) : null;
    if (axes) {
      const full = new Array<number>(2 * rank).fill(0);
      axes.forEach((a, i) => { full[a] = pads[i]!; full[rank + a] = pads[axes.length + i]!; });
      pads = full;
    }
  }
  if (pads.length !== 2 * rank) throw new KilnError(`pads must have ${2 * rank} entries for rank ${rank}, got ${pads.length}`);
  let y = x;
  // Negative pads crop.
  if (pads.some((p) => p < 0)) {
    const starts = shape.map((_, i) => Math.max(0, -pads[i]!));
    const ends = shape.map((d, i) => (pads[rank + i]! < 0 ? dimAdd(d, pads[rank + i]!) : d));
    y = c.emit1('slice', [y], { starts, ends, steps: shape.map(() => 1) });
    pads = pads.map((p) => Math.max(p, 0));
  }
  if (pads.every((p) => p === 0)) return [y];
  if (mode === 'constant' || mode === 'reflect') return [c.emit1('pad', [y], { pads, mode, value })];
  if (mode === 'edge') {
    const ys = c.concreteShape(y, "Pad mode 'edge'");
    for (let a = 0; a < rank; a++) {
      const [b, e] = [pads[a]!, pads[rank + a]!];
      if (!b && !e) continue;
      const d = ys[a]!;
      const idx = [...new Array<number>(b).fill(0), ...Array.from({ length: d }, (_, i) => i), ...new Array<number>(e).fill(d - 1)];
      y = c.emit1('indexSelect', [y, c.constant('int32', [idx.length], idx)], { axis: a });
    }
    return [y];
  }
  throw new KilnError(`Pad mode '${mode}' is not supported (constant, reflect, edge)`);
};

const gather: OpImporter = (c) => {
  const x = c.input(0), idx = c.input(1);
  const shape = c.shape(x);
  const axis = axisOf(c.attrs.int('axis', 0), shape.length);
  const idxShape = c.shape(idx);
  const d = shape[axis]!;
  let flat: OnnxValue;
  const vals = c.values(idx);
  if (vals) {
    const norm = vals.map((i) => {
      if (i < 0) {
        if (isSym(d)) throw new KilnError('negative Gather indices along a symbolic axis need concrete sizes');
        i += d;
      }
      if (typeof d === 'number' && (i < 0 || i >= d)) throw new KilnError(`Gather index ${i} is out of range for axis ${axis} of size ${d}`);
      return i;
    });
    flat = c.constant('int32', [norm.length], norm);
  } else {
    // Indices known only at run time: negative ones wrap by the axis length.
    const i32 = castTo(c, reshape(c, idx, [dimProduct(idxShape)]), 'int32');
    const n = c.emit1('elementCount', [x], { axes: [axis], dtype: 'int32' });
    flat = c.emit1('where', [c.emit1('less', [i32, c.scalar(0, 'int32')]), c.emit1('add', [i32, n]), i32]);
  }
  const picked = c.emit1('indexSelect', [x, flat], { axis });
  return [reshape(c, picked, [...shape.slice(0, axis), ...idxShape, ...shape.slice(axis + 1)])];
};

const gatherElements: OpImporter = (c) => {
  const x = c.input(0);
  const axis = axisOf(c.attrs.int('axis', 0), c.shape(x).length);
  return [c.emit1('gather', [x, castTo(c, c.input(1), 'int32')], { axis })];
};

const squeeze: OpImporter = (c) => {
  const x = c.input(0);
  const shape = c.shape(x);
  const axes = axesOf(c, 13, 1, shape.length) ?? shape.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of axes) if (shape[a] !== 1 && !isSym(shape[a])) throw new KilnError(`cannot squeeze axis ${a} of size ${String(shape[a])}`);
  return [reshape(c, x, shape.filter((_, i) => !axes.includes(i)))];
};

const unsqueeze: OpImporter = (c) => {
  const x = c.input(0);
  const shape = c.shape(x);
  const outRank = shape.length + (c.opset < 13 ? c.attrs.ints('axes').length : c.constInts(1, 'axes').length);
  const axes = axesOf(c, 13, 1, outRank)!;
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < outRank; i++) out.push(axes.includes(i) ? 1 : shape[k++]!);
  return [reshape(c, x, out)];
};

const expand: OpImporter = (c) => {
  const x = c.input(0);
  const want = c.dims(c.input(1));
  if (!want) throw new KilnError('the shape (input 1) must be known when the model is imported');
  const xs = c.shape(x);
  const rank = Math.max(xs.length, want.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const a = xs[i - (rank - xs.length)] ?? 1, b = want[i - (rank - want.length)] ?? 1;
    out.push(a === 1 ? b : b === 1 ? a : b);
  }
  const lifted = reshape(c, x, [...new Array<number>(rank - xs.length).fill(1), ...xs]);
  if (out.every((d, i) => d === c.shape(lifted)[i])) return [lifted];
  return [c.emit1('expand', [lifted], { shape: out })];
};

const tile: OpImporter = (c) => {
  const x = c.input(0);
  const shape = c.shape(x);
  const reps = c.constInts(1, 'repeats');
  if (reps.length !== shape.length) throw new KilnError(`repeats has ${reps.length} entries for rank ${shape.length}`);
  if (reps.every((r) => r === 1)) return [x];
  // [d0, d1, …] → [1, d0, 1, d1, …] → expand to [r0, d0, r1, d1, …] → [r0·d0, r1·d1, …].
  const inter = reshape(c, x, shape.flatMap((d) => [1, d]));
  const big = c.emit1('expand', [inter], { shape: shape.flatMap((d, i) => [reps[i]!, d]) });
  return [reshape(c, big, shape.map((d, i) => (reps[i] === 1 ? d : typeof d === 'number' ? d * reps[i]! : { ...d, coef: d.coef * reps[i]!, offset: d.offset * reps[i]! })))];
};

export const shapeImporters: Record<string, OpImporter> = {
  Shape: shapeOp,
  Size: size,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Cast: cast,
  CastLike: (c) => [castTo(c, c.input(0), c.type(c.input(1)).dtype)],
  Range: range,
  Reshape: reshapeOp,
  Flatten: flatten,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: sliceOp,
  Pad: pad,
  Gather: gather,
  GatherElements: gatherElements,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Expand: expand,
  Tile: tile,
};
