import { KilnError, stridesOf, type DType, type TypedArray } from '../../../ir/index.js';
import type { ArrayKernel } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';

/**
 * Below this many elements a plain loop beats `subarray` + `set` (each allocates a view
 * object); above it `set` is a memcpy.
 */
const SET_MIN = 32;

/**
 * The box `shape` (with source/destination strides) with size-1 dims dropped and
 * dims that stay contiguous in both merged, innermost first; null when it is empty.
 */
export function coalesceBox(sStr: readonly number[], dStr: readonly number[], shape: readonly number[]): { n: number[]; ss: number[]; ds: number[] } | null {
  const n: number[] = [], ss: number[] = [], ds: number[] = [];
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d === 0) return null;
    if (d === 1) continue;
    const k = n.length - 1;
    if (k >= 0 && ss[k]! * n[k]! === sStr[i] && ds[k]! * n[k]! === dStr[i]) n[k]! *= d;
    else { n.push(d); ss.push(sStr[i]!); ds.push(dStr[i]!); }
  }
  return { n, ss, ds };
}

/**
 * Copies a box of `shape` elements from `src` (at `sOff`, element strides `sStr`) to
 * `dst` (at `dOff`, strides `dStr`). Size-1 dims are dropped and dims that are contiguous
 * in both arrays are merged first, so whole inner blocks move with one `set` (memcpy);
 * a source stride of 0 (broadcast) becomes `fill`. Strides may be negative.
 */
export function copyBox(
  src: TypedArray, sOff: number, sStr: readonly number[],
  dst: TypedArray, dOff: number, dStr: readonly number[],
  shape: readonly number[],
): void {
  const box = coalesceBox(sStr, dStr, shape);
  if (!box) return;
  const { n, ss, ds } = box;
  const r = n.length;
  if (r === 0) { dst[dOff] = src[sOff]!; return; }
  const len = n[0]!, si = ss[0]!, di = ds[0]!;
  const mode = di === 1 && len >= SET_MIN ? (si === 1 ? 1 : si === 0 ? 2 : 0) : 0;
  let rows = 1;
  for (let k = 1; k < r; k++) rows *= n[k]!;
  const ctr = r > 1 ? new Array<number>(r).fill(0) : null;
  let s = sOff, d = dOff;
  for (let row = 0; row < rows; row++) {
    if (mode === 1) dst.set(src.subarray(s, s + len), d);
    else if (mode === 2) dst.fill(src[s]!, d, d + len);
    else for (let j = 0, a = s, b = d; j < len; j++, a += si, b += di) dst[b] = src[a]!;
    // Odometer over the outer dims (ctr[k] counts dim k, k ≥ 1).
    for (let k = 1; k < r; k++) {
      s += ss[k]!; d += ds[k]!;
      if (++ctr![k]! < n[k]!) break;
      s -= ss[k]! * n[k]!; d -= ds[k]! * n[k]!;
      ctr![k] = 0;
    }
  }
}

/** Throws naming the first index outside [0, size). */
export function checkIndices(index: TypedArray, size: number, axis: number): void {
  for (let i = 0; i < index.length; i++) {
    const v = index[i]!;
    if (v < 0 || v >= size) throw new KilnError(`index ${v} (at position ${i} of the index) is out of range for dimension ${axis} of size ${size} (expected 0..${size - 1})`);
  }
}

/** Right-aligned strides of `inShape` inside `outShape`, 0 along broadcast dims. */
function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const lead = outShape.length - inShape.length;
  const st = new Array<number>(outShape.length).fill(0);
  let acc = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    st[lead + i] = inShape[i] === 1 ? 0 : acc;
    acc *= inShape[i]!;
  }
  return st;
}

const expand: ArrayKernel = ([x], _attrs, [out]) => {
  if (x!.data.length === out!.data.length) { out!.data.set(x!.data); return; }
  copyBox(x!.data, 0, broadcastStrides(x!.shape, out!.shape), out!.data, 0, stridesOf(out!.shape), out!.shape);
};

/** Offset of the first sliced element and the strides of the slice inside x (in elements). */
export function sliceGeometry(shape: readonly number[], starts: readonly number[], steps: readonly number[]): { off: number; str: number[] } {
  const xs = stridesOf(shape);
  let off = 0;
  const str = new Array<number>(shape.length);
  for (let i = 0; i < shape.length; i++) {
    off += starts[i]! * xs[i]!;
    str[i] = xs[i]! * steps[i]!;
  }
  return { off, str };
}

const slice: ArrayKernel = ([x], attrs, [out]) => {
  const { off, str } = sliceGeometry(x!.shape, attrs['starts'] as number[], attrs['steps'] as number[]);
  copyBox(x!.data, off, str, out!.data, 0, stridesOf(out!.shape), out!.shape);
};

const sliceGrad: ArrayKernel = ([dy], attrs, [out]) => {
  out!.data.fill(0);
  const { off, str } = sliceGeometry(out!.shape, attrs['starts'] as number[], attrs['steps'] as number[]);
  copyBox(dy!.data, 0, stridesOf(dy!.shape), out!.data, off, str, dy!.shape);
};

/** Outer size (dims before axis) and inner size (dims after) of a shape. */
function aroundAxis(shape: readonly number[], axis: number): [number, number] {
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return [outer, inner];
}

/** Copies `len` elements: `set` for long runs, a loop for short ones. */
function copyRun(src: TypedArray, s: number, dst: TypedArray, d: number, len: number): void {
  if (len >= SET_MIN) dst.set(src.subarray(s, s + len), d);
  else for (let j = 0; j < len; j++) dst[d + j] = src[s + j]!;
}

// concat/split as [outer, axis·inner] blocks: each input is one contiguous run per outer index.
const concat: ArrayKernel = (inputs, attrs, [out]) => {
  const axis = attrs['axis'] as number;
  const o = out!.data;
  const [outer, inner] = aroundAxis(out!.shape, axis);
  const rowOut = out!.shape[axis]! * inner;
  let col = 0;
  for (const x of inputs) {
    const run = x.shape[axis]! * inner;
    const a = x.data;
    if (outer === 1) copyRun(a, 0, o, col, run);
    else for (let i = 0; i < outer; i++) copyRun(a, i * run, o, i * rowOut + col, run);
    col += run;
  }
};

const split: ArrayKernel = ([x], attrs, outs) => {
  const axis = attrs['axis'] as number;
  const a = x!.data;
  const [outer, inner] = aroundAxis(x!.shape, axis);
  const rowIn = x!.shape[axis]! * inner;
  let col = 0;
  for (const out of outs) {
    const run = out.shape[axis]! * inner;
    const o = out.data;
    if (outer === 1) copyRun(a, col, o, 0, run);
    else for (let i = 0; i < outer; i++) copyRun(a, i * rowIn + col, o, i * run, run);
    col += run;
  }
};

const pad: ArrayKernel = ([x], attrs, [out]) => {
  const pads = attrs['pads'] as number[];
  if (attrs['mode'] === 'reflect') { reflectPad(x!.data, x!.shape, out!.data, out!.shape, pads, false); return; }
  const o = out!.data;
  const r = x!.shape.length;
  const os = stridesOf(out!.shape);
  let off = 0;
  for (let i = 0; i < r; i++) off += pads[i]! * os[i]!;
  o.fill(attrs['value'] as number);
  copyBox(x!.data, 0, stridesOf(x!.shape), o, off, os, x!.shape);
};

const padReflectGrad: ArrayKernel = ([dy], attrs, [out]) => {
  out!.data.fill(0);
  reflectPad(out!.data, out!.shape, dy!.data, dy!.shape, attrs['pads'] as number[], true);
};

/**
 * Reflect padding of `x` into `y` (`accumulate` false), or its adjoint: every element of
 * `y` added back into `x` at its source (`accumulate` true). Per axis, a table maps each
 * padded position to its source offset, so the loop is one table lookup per element.
 */
function reflectPad(x: TypedArray, xShape: readonly number[], y: TypedArray, yShape: readonly number[], pads: readonly number[], accumulate: boolean): void {
  const r = xShape.length;
  if (y.length === 0) return;
  if (r === 0) { if (accumulate) x[0] = x[0]! + y[0]!; else y[0] = x[0]!; return; }
  const xs = stridesOf(xShape);
  const maps = yShape.map((n, a) => {
    const m = new Int32Array(n);
    const d = xShape[a]!, b = pads[a]!;
    for (let o = 0; o < n; o++) {
      let i = o - b;
      if (i < 0) i = -i;
      if (i >= d) i = 2 * (d - 1) - i;
      m[o] = i * xs[a]!;
    }
    return m;
  });
  const last = maps[r - 1]!, len = yShape[r - 1]!;
  let rows = 1;
  for (let a = 0; a < r - 1; a++) rows *= yShape[a]!;
  const ctr = new Array<number>(r).fill(0);
  let p = 0;
  for (let row = 0; row < rows; row++) {
    let base = 0;
    for (let a = 0; a < r - 1; a++) base += maps[a]![ctr[a]!]!;
    if (accumulate) for (let j = 0; j < len; j++, p++) x[base + last[j]!] += y[p]!;
    else for (let j = 0; j < len; j++, p++) y[p] = x[base + last[j]!]!;
    for (let a = r - 2; a >= 0; a--) {
      if (++ctr[a]! < yShape[a]!) break;
      ctr[a] = 0;
    }
  }
}

/**
 * For each position of an index of `shape` (row-major), the offset of its coordinates
 * into an array with strides `str`, leaving out the coordinate on `axis` (-1: none left out).
 */
function indexOffsets(shape: readonly number[], str: readonly number[], axis: number): Int32Array {
  const r = shape.length;
  let size = 1;
  for (const d of shape) size *= d;
  const offs = new Int32Array(size);
  if (size === 0) return offs;
  const st = str.slice();
  if (axis >= 0) st[axis] = 0;
  const ctr = new Array<number>(r).fill(0);
  let base = 0;
  for (let p = 0; p < size; p++) {
    offs[p] = base;
    for (let a = r - 1; a >= 0; a--) {
      base += st[a]!;
      if (++ctr[a]! < shape[a]!) break;
      base -= st[a]! * shape[a]!;
      ctr[a] = 0;
    }
  }
  return offs;
}

const gather: ArrayKernel = ([x, index], attrs, [out]) => {
  const axis = attrs['axis'] as number;
  const idx = index!.data, o = out!.data, a = x!.data;
  const size = x!.shape[axis]!;
  checkIndices(idx, size, axis);
  const xs = stridesOf(x!.shape);
  const offs = indexOffsets(index!.shape, xs, axis);
  const sa = xs[axis]!;
  for (let p = 0; p < o.length; p++) o[p] = a[offs[p]! + idx[p]! * sa]!;
};

const scatterAdd: ArrayKernel = ([x, index, src], attrs, [out]) => {
  const axis = attrs['axis'] as number;
  const idx = index!.data, o = out!.data, s = src!.data;
  checkIndices(idx, x!.shape[axis]!, axis);
  o.set(x!.data);
  const os = stridesOf(out!.shape);
  const outOffs = indexOffsets(index!.shape, os, axis);
  // src may be larger than the index: walk it with its own strides (axis included).
  const srcOffs = indexOffsets(index!.shape, stridesOf(src!.shape), -1);
  const sa = os[axis]!;
  for (let p = 0; p < idx.length; p++) {
    const t = outOffs[p]! + idx[p]! * sa;
    o[t] = o[t]! + s[srcOffs[p]!]!;
  }
};

const indexSelect: ArrayKernel = ([x, index], attrs, [out]) => {
  const axis = attrs['axis'] as number;
  const idx = index!.data, a = x!.data, o = out!.data;
  const d = x!.shape[axis]!;
  checkIndices(idx, d, axis);
  const [outer, inner] = aroundAxis(x!.shape, axis);
  const m = idx.length;
  let q = 0;
  for (let i = 0; i < outer; i++) {
    const rowBase = i * d;
    for (let j = 0; j < m; j++, q += inner) copyRun(a, (rowBase + idx[j]!) * inner, o, q, inner);
  }
};

const indexSelectGrad: ArrayKernel = ([dy, index], attrs, [out]) => {
  const axis = attrs['axis'] as number;
  const idx = index!.data, g = dy!.data, o = out!.data;
  const d = out!.shape[axis]!;
  checkIndices(idx, d, axis);
  o.fill(0);
  const [outer, inner] = aroundAxis(out!.shape, axis);
  const m = idx.length;
  let q = 0;
  for (let i = 0; i < outer; i++) {
    const rowBase = i * d;
    for (let j = 0; j < m; j++) {
      const t = (rowBase + idx[j]!) * inner;
      for (let k = 0; k < inner; k++, q++) o[t + k] += g[q]!;
    }
  }
};

const oneHot: ArrayKernel = ([x], attrs, [out]) => {
  const n = attrs['numClasses'] as number;
  const a = x!.data, o = out!.data;
  checkClasses(a, n);
  o.fill(0);
  for (let i = 0; i < a.length; i++) o[i * n + a[i]!] = 1;
};

/** Throws naming the first class index outside [0, numClasses). */
export function checkClasses(a: TypedArray, n: number): void {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v < 0 || v >= n) throw new KilnError(`class index ${v} (at position ${i}) is out of range for ${n} classes (expected 0..${n - 1})`);
  }
}

const I32_MAX = 2147483647, I32_MIN = -2147483648;

/**
 * Converts elements. float → int32: truncate toward zero, saturate to [−2³¹, 2³¹−1]
 * (±Infinity too), NaN → 0: wasm's `i32.trunc_sat_f32_s`, which the wasm backend runs,
 * so every backend agrees (typed-array assignment alone would wrap modulo 2³²).
 * → bool is x ≠ 0 (NaN is true, as in PyTorch).
 */
export function castInto(a: TypedArray, from: DType, o: TypedArray, to: DType): void {
  if (to === 'bool' && from !== 'bool') for (let i = 0; i < a.length; i++) o[i] = a[i] !== 0 ? 1 : 0;
  else if (to === 'int32' && (from === 'float32' || from === 'float64')) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      // In range, the Int32Array store truncates toward zero.
      o[i] = v >= I32_MAX ? I32_MAX : v <= I32_MIN ? I32_MIN : v === v ? v : 0;
    }
  } else o.set(a);
}

const cast: ArrayKernel = ([x], _attrs, [out]) => castInto(x!.data, x!.dtype, out!.data, out!.dtype);

registerArrayKernels({ expand, slice, sliceGrad, concat, split, pad, padReflectGrad, gather, scatterAdd, indexSelect, indexSelectGrad, oneHot, cast });
