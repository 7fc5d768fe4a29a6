import type { TypedArray } from '../../../ir/index.js';
import type { ArrayKernel } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';

/**
 * A reduction's shape with size-1 dims dropped and neighbouring dims of the same kind
 * (reduced / kept) merged, so any axes become a few alternating blocks:
 * [K, R] row reductions, [R, K] column reductions (bias gradients), [K, R, K], [R], ….
 */
export interface ReducePlan {
  readonly dims: number[];
  readonly reduced: boolean[];
}

export function reducePlan(shape: readonly number[], axes: readonly number[]): ReducePlan {
  const dims: number[] = [];
  const reduced: boolean[] = [];
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const r = axes.includes(d);
    const last = dims.length - 1;
    if (last >= 0 && reduced[last] === r) dims[last] *= n;
    else {
      dims.push(n);
      reduced.push(r);
    }
  }
  return { dims, reduced };
}

/**
 * Reduces the contiguous run `a[i0 .. i0+len)` into `acc[o]`. `aux` is a per-output
 * array some reductions need (the shift of logSumExp).
 */
export type RowFn = (a: TypedArray, acc: Float64Array, aux: Float64Array | null, i0: number, len: number, o: number) => void;
/** Reduces `rows` consecutive rows of `len` elements from `a[i0]` element-wise into `acc[o0 .. o0+len)`. */
export type ColFn = (a: TypedArray, acc: Float64Array, aux: Float64Array | null, i0: number, len: number, rows: number, o0: number) => void;

/**
 * Walks a reduction in input order, handing contiguous blocks to `row` (the innermost
 * block is reduced) or `col` (the innermost block is kept; the reduced block just
 * outside it is passed as `rows`). Callbacks get the arrays as arguments (not through
 * closures) and loop over whole blocks, so the inner loops stay tight: a [128, 512]
 * sum over axis 0 is a single `col` call.
 */
export function walkReduce(a: TypedArray, acc: Float64Array, aux: Float64Array | null, shape: readonly number[], axes: readonly number[], row: RowFn, col: ColFn): void {
  const { dims, reduced } = reducePlan(shape, axes);
  const rank = dims.length;
  if (rank === 0) {
    col(a, acc, aux, 0, 1, 1, 0); // a single element
    return;
  }
  const innerReduced = reduced[rank - 1]!;
  const len = dims[rank - 1]!;
  // Blocks handled by one callback: the innermost, plus the reduced one outside a kept innermost.
  const handled = innerReduced || rank === 1 ? 1 : 2;
  const rows = handled === 2 ? dims[rank - 2]! : 1;
  const step = len * rows;
  const outer = rank - handled;
  const outStrides = new Array<number>(outer).fill(0);
  let acc0 = innerReduced ? 1 : len;
  for (let d = outer - 1; d >= 0; d--) {
    if (!reduced[d]) {
      outStrides[d] = acc0;
      acc0 *= dims[d]!;
    }
  }
  let runs = 1;
  for (let d = 0; d < outer; d++) runs *= dims[d]!;
  const counter = new Array<number>(outer).fill(0);
  let o = 0;
  for (let r = 0, i = 0; r < runs; r++, i += step) {
    if (innerReduced) row(a, acc, aux, i, len, o);
    else col(a, acc, aux, i, len, rows, o);
    for (let d = outer - 1; d >= 0; d--) {
      counter[d]++;
      o += outStrides[d]!;
      if (counter[d]! < dims[d]!) break;
      o -= outStrides[d]! * counter[d]!;
      counter[d] = 0;
    }
  }
}

// ---- sum ----------------------------------------------------------------------------
// Accumulation is in float64 (exact for int32 sums below 2^53; more accurate float32
// sums), written back once; Int32Array's conversion wraps like int32 arithmetic.

const sumRow: RowFn = (a, acc, _aux, i0, len, o) => {
  // Four partial sums: independent adds pipeline (a float add has a latency of ~4).
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const end = i0 + len, end4 = i0 + (len & ~3);
  let j = i0;
  for (; j < end4; j += 4) {
    s0 += a[j]!;
    s1 += a[j + 1]!;
    s2 += a[j + 2]!;
    s3 += a[j + 3]!;
  }
  for (; j < end; j++) s0 += a[j]!;
  acc[o] += (s0 + s1) + (s2 + s3);
};

const sumCol: ColFn = (a, acc, _aux, i0, len, rows, o0) => {
  // Eight rows per pass over `acc`: an eighth of the accumulator loads and stores.
  let r = 0;
  for (; r + 8 <= rows; r += 8) {
    const b0 = i0 + r * len, b1 = b0 + len, b2 = b1 + len, b3 = b2 + len;
    const b4 = b3 + len, b5 = b4 + len, b6 = b5 + len, b7 = b6 + len;
    for (let j = 0; j < len; j++) {
      acc[o0 + j] += ((a[b0 + j]! + a[b1 + j]!) + (a[b2 + j]! + a[b3 + j]!)) + ((a[b4 + j]! + a[b5 + j]!) + (a[b6 + j]! + a[b7 + j]!));
    }
  }
  for (; r < rows; r++) {
    const b = i0 + r * len;
    for (let j = 0; j < len; j++) acc[o0 + j] += a[b + j]!;
  }
};

// ---- prod ---------------------------------------------------------------------------

const prodRow: RowFn = (a, acc, _aux, i0, len, o) => {
  let p = acc[o]!;
  for (let j = i0, end = i0 + len; j < end; j++) p *= a[j]!;
  acc[o] = p;
};
const prodCol: ColFn = (a, acc, _aux, i0, len, rows, o0) => {
  for (let r = 0; r < rows; r++) {
    const b = i0 + r * len;
    for (let j = 0; j < len; j++) acc[o0 + j] *= a[b + j]!;
  }
};
// int32 products wrap like int32 multiplication (float64 would lose the low bits).
const prodRowInt: RowFn = (a, acc, _aux, i0, len, o) => {
  let p = acc[o]!;
  for (let j = i0, end = i0 + len; j < end; j++) p = Math.imul(p, a[j]!);
  acc[o] = p;
};
const prodColInt: ColFn = (a, acc, _aux, i0, len, rows, o0) => {
  for (let r = 0; r < rows; r++) {
    const b = i0 + r * len;
    for (let j = 0; j < len; j++) acc[o0 + j] = Math.imul(acc[o0 + j]!, a[b + j]!);
  }
};

// ---- max / min ----------------------------------------------------------------------
// Math.max / Math.min propagate NaN (as PyTorch's max does) without a branch; four
// running maxima keep the compare chains independent.

const maxRow: RowFn = (a, acc, _aux, i0, len, o) => {
  let m0 = acc[o]!, m1 = m0, m2 = m0, m3 = m0;
  const end = i0 + len, end4 = i0 + (len & ~3);
  let j = i0;
  for (; j < end4; j += 4) {
    m0 = Math.max(m0, a[j]!);
    m1 = Math.max(m1, a[j + 1]!);
    m2 = Math.max(m2, a[j + 2]!);
    m3 = Math.max(m3, a[j + 3]!);
  }
  for (; j < end; j++) m0 = Math.max(m0, a[j]!);
  acc[o] = Math.max(Math.max(m0, m1), Math.max(m2, m3));
};
const maxCol: ColFn = (a, acc, _aux, i0, len, rows, o0) => {
  for (let r = 0; r < rows; r++) {
    const b = i0 + r * len;
    for (let j = 0; j < len; j++) acc[o0 + j] = Math.max(acc[o0 + j]!, a[b + j]!);
  }
};
const minRow: RowFn = (a, acc, _aux, i0, len, o) => {
  let m0 = acc[o]!, m1 = m0, m2 = m0, m3 = m0;
  const end = i0 + len, end4 = i0 + (len & ~3);
  let j = i0;
  for (; j < end4; j += 4) {
    m0 = Math.min(m0, a[j]!);
    m1 = Math.min(m1, a[j + 1]!);
    m2 = Math.min(m2, a[j + 2]!);
    m3 = Math.min(m3, a[j + 3]!);
  }
  for (; j < end; j++) m0 = Math.min(m0, a[j]!);
  acc[o] = Math.min(Math.min(m0, m1), Math.min(m2, m3));
};
const minCol: ColFn = (a, acc, _aux, i0, len, rows, o0) => {
  for (let r = 0; r < rows; r++) {
    const b = i0 + r * len;
    for (let j = 0; j < len; j++) acc[o0 + j] = Math.min(acc[o0 + j]!, a[b + j]!);
  }
};

// ---- exp-sum with a per-output shift (logSumExp) ----------------------------------------

const expSumRow: RowFn = (a, acc, shift, i0, len, o) => {
  const m = shift![o]!;
  let s = acc[o]!;
  for (let j = i0, end = i0 + len; j < end; j++) s += Math.exp(a[j]! - m);
  acc[o] = s;
};
const expSumCol: ColFn = (a, acc, shift, i0, len, rows, o0) => {
  for (let r = 0; r < rows; r++) {
    const b = i0 + r * len;
    for (let j = 0; j < len; j++) acc[o0 + j] += Math.exp(a[b + j]! - shift![o0 + j]!);
  }
};

/** A reduction kernel: `acc` starts at `init`, is reduced into, then written to the output. */
function reduceKernel(init: number, row: RowFn, col: ColFn, intRow?: RowFn, intCol?: ColFn): ArrayKernel {
  return ([x], attrs, [out]) => {
    const a = x!.data;
    const o = out!.data;
    const acc = new Float64Array(o.length);
    if (init !== 0) acc.fill(init);
    if (a.length > 0) {
      const int = intRow !== undefined && out!.dtype === 'int32';
      walkReduce(a, acc, null, x!.shape, attrs['axes'] as number[], int ? intRow : row, int ? intCol! : col);
    }
    o.set(acc);
  };
}

const logSumExpKernel: ArrayKernel = ([x], attrs, [out]) => {
  const a = x!.data;
  const o = out!.data;
  const axes = attrs['axes'] as number[];
  const shift = new Float64Array(o.length).fill(-Infinity);
  const acc = new Float64Array(o.length);
  if (a.length > 0) {
    walkReduce(a, shift, null, x!.shape, axes, maxRow, maxCol);
    // As PyTorch: an infinite max is not subtracted (inf − inf would give NaN).
    for (let i = 0; i < shift.length; i++) if (shift[i] === Infinity || shift[i] === -Infinity) shift[i] = 0;
    walkReduce(a, acc, shift, x!.shape, axes, expSumRow, expSumCol);
  }
  for (let i = 0; i < o.length; i++) o[i] = Math.log(acc[i]!) + (a.length > 0 ? shift[i]! : 0);
};

/** Splits `shape` around `axis` into [outer, n, inner] element counts. */
export function axisSplit(shape: readonly number[], axis: number): [number, number, number] {
  let outer = 1, inner = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d]!;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  return [outer, shape[axis] ?? 1, inner];
}

/**
 * argmax / argmin: index of the first extreme along an axis (null: flattened). NaN
 * counts as the extreme (PyTorch). Outputs are written in full (wasm heap outputs are
 * not zeroed).
 */
function argKernel(isMax: boolean): ArrayKernel {
  return ([x], attrs, [out]) => {
    const a = x!.data;
    const o = out!.data;
    const axis = attrs['axis'] as number | null;
    const [outer, n, inner] = axis === null ? [1, a.length, 1] : axisSplit(x!.shape, axis);
    if (inner === 1) {
      // The extreme first (a fast NaN-propagating scan), then its first position.
      const m = new Float64Array(1);
      for (let p = 0; p < outer; p++) {
        const base = p * n, end = base + n;
        m[0] = isMax ? -Infinity : Infinity;
        (isMax ? maxRow : minRow)(a, m, null, base, n, 0);
        const e = m[0]!;
        let j = base;
        if (e === e) while (j < end - 1 && a[j] !== e) j++;
        else while (j < end - 1 && a[j] === a[j]) j++;
        o[p] = j - base;
      }
      return;
    }
    const m = new Float64Array(inner);
    for (let p = 0; p < outer; p++) {
      const base = p * n * inner, ob = p * inner;
      for (let i = 0; i < inner; i++) {
        m[i] = a[base + i]!;
        o[ob + i] = 0;
      }
      for (let r = 1; r < n; r++) {
        const rb = base + r * inner;
        for (let i = 0; i < inner; i++) {
          const v = a[rb + i]!, mi = m[i]!;
          if ((isMax ? !(v <= mi) : !(v >= mi)) && mi === mi) {
            m[i] = v;
            o[ob + i] = r;
          }
        }
      }
    }
  };
}

/** softmax / logSoftmax along attr `axis`: max, exp-sum, then normalize (in float64). */
function softmaxKernel(log: boolean): ArrayKernel {
  return ([x], attrs, [out]) => {
    const a = x!.data;
    const o = out!.data;
    const [outer, n, inner] = axisSplit(x!.shape, attrs['axis'] as number);
    const m = new Float64Array(inner);
    const s = new Float64Array(inner);
    for (let p = 0; p < outer; p++) {
      const base = p * n * inner;
      if (inner === 1) {
        // Contiguous rows (the common case: the last axis).
        m[0] = -Infinity;
        maxRow(a, m, null, base, n, 0);
        const mx = m[0]!;
        let sum = 0;
        if (log) {
          for (let j = base, end = base + n; j < end; j++) sum += Math.exp(a[j]! - mx);
          const lse = mx + Math.log(sum);
          for (let j = base, end = base + n; j < end; j++) o[j] = a[j]! - lse;
        } else {
          for (let j = base, end = base + n; j < end; j++) {
            const v = Math.exp(a[j]! - mx);
            o[j] = v;
            sum += v;
          }
          const inv = 1 / sum;
          for (let j = base, end = base + n; j < end; j++) o[j] = o[j]! * inv;
        }
        continue;
      }
      // Strided axis: `inner` columns at once, walking memory in order.
      m.fill(-Infinity);
      s.fill(0);
      maxCol(a, m, null, base, inner, n, 0);
      for (let r = 0; r < n; r++) {
        const rb = base + r * inner;
        if (log) for (let i = 0; i < inner; i++) s[i] += Math.exp(a[rb + i]! - m[i]!);
        else {
          for (let i = 0; i < inner; i++) {
            const v = Math.exp(a[rb + i]! - m[i]!);
            o[rb + i] = v;
            s[i] += v;
          }
        }
      }
      if (log) for (let i = 0; i < inner; i++) s[i] = m[i]! + Math.log(s[i]!);
      else for (let i = 0; i < inner; i++) s[i] = 1 / s[i]!;
      for (let r = 0; r < n; r++) {
        const rb = base + r * inner;
        if (log) for (let i = 0; i < inner; i++) o[rb + i] = a[rb + i]! - s[i]!;
        else for (let i = 0; i < inner; i++) o[rb + i] = o[rb + i]! * s[i]!;
      }
    }
  };
}

registerArrayKernels({
  elementCount: ([x], attrs, [out]) => {
    let n = 1;
    for (const a of attrs['axes'] as number[]) n *= x!.shape[a]!;
    out!.data[0] = n;
  },
  sum: reduceKernel(0, sumRow, sumCol),
  prod: reduceKernel(1, prodRow, prodCol, prodRowInt, prodColInt),
  max: reduceKernel(-Infinity, maxRow, maxCol),
  min: reduceKernel(Infinity, minRow, minCol),
  argmax: argKernel(true),
  argmin: argKernel(false),
  logSumExp: logSumExpKernel,
  softmax: softmaxKernel(false),
  logSoftmax: softmaxKernel(true),
});
