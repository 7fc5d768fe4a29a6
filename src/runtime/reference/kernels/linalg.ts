import type { TypedArray } from '../../../ir/index.js';
import { registerArrayKernels } from '../../arrayKernels.js';

/**
 * How a (possibly batched, broadcast) matmul splits into 2-D products `M×K · K×N`:
 * for batch element `t` of the output, A's matrix starts at `aOff[t]·M·K`, B's at
 * `bOff[t]·K·N` (offsets in matrices; broadcast dims repeat a matrix).
 */
export interface MatmulPlan {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** Output batch elements. */
  readonly batch: number;
  /** Matrices in A and in B. */
  readonly batchA: number;
  readonly batchB: number;
  readonly aOff: Int32Array;
  readonly bOff: Int32Array;
}

const ZERO = new Int32Array(1);

/** Plans a matmul of shapes `a` and `b` (NumPy rules, already validated by the op). */
export function planMatmul(a: readonly number[], b: readonly number[]): MatmulPlan {
  const ra = a.length, rb = b.length;
  const k = a[ra - 1]!;
  const m = ra === 1 ? 1 : a[ra - 2]!;
  const n = rb === 1 ? 1 : b[rb - 1]!;
  // No batch dims (the common case): skip the offset tables.
  if (ra <= 2 && rb <= 2) return { m, k, n, batch: 1, batchA: 1, batchB: 1, aOff: ZERO, bOff: ZERO };
  const ab = ra > 2 ? a.slice(0, ra - 2) : [];
  const bb = rb > 2 ? b.slice(0, rb - 2) : [];
  const r = Math.max(ab.length, bb.length);
  const shape = new Array<number>(r);
  const sa = new Array<number>(r).fill(0);
  const sb = new Array<number>(r).fill(0);
  let accA = 1, accB = 1;
  for (let i = r - 1; i >= 0; i--) {
    const da = ab[ab.length - r + i] ?? 1;
    const db = bb[bb.length - r + i] ?? 1;
    shape[i] = da === 1 ? db : da;
    // A broadcast dim (size 1 against a larger one) has stride 0: the matrix repeats.
    if (da !== 1) sa[i] = accA;
    if (db !== 1) sb[i] = accB;
    accA *= da;
    accB *= db;
  }
  let batch = 1;
  for (const d of shape) batch *= d;
  const aOff = new Int32Array(batch);
  const bOff = new Int32Array(batch);
  const idx = new Array<number>(r).fill(0);
  let oa = 0, ob = 0;
  for (let t = 0; t < batch; t++) {
    aOff[t] = oa;
    bOff[t] = ob;
    for (let d = r - 1; d >= 0; d--) {
      idx[d]++;
      oa += sa[d]!;
      ob += sb[d]!;
      if (idx[d]! < shape[d]!) break;
      oa -= sa[d]! * shape[d]!;
      ob -= sb[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return { m, k, n, batch, batchA: accA, batchB: accB, aOff, bOff };
}

/**
 * One 2-D product `out[M×N] = A[M×K]·B[K×N]` at the given element offsets, i-k-j
 * order (unit-stride inner loop over rows of B and out), accumulated in float64.
 */
export function matmul2d(
  a: TypedArray, aBase: number, b: TypedArray, bBase: number, out: TypedArray, oBase: number,
  m: number, k: number, n: number, acc: Float64Array,
): void {
  for (let i = 0; i < m; i++) {
    acc.fill(0, 0, n);
    const ai = aBase + i * k;
    for (let p = 0; p < k; p++) {
      const av = a[ai + p]!;
      const bp = bBase + p * n;
      for (let j = 0; j < n; j++) acc[j] += av * b[bp + j]!;
    }
    const oi = oBase + i * n;
    for (let j = 0; j < n; j++) out[oi + j] = acc[j]!;
  }
}

/**
 * Writes `x` (shape `shape`) permuted by `perm` into `out`: output axis `i` is input
 * axis `perm[i]`. Walks the output in order; the innermost axis is a strided copy.
 */
export function permuteInto(x: TypedArray, shape: readonly number[], perm: readonly number[], out: TypedArray): void {
  const r = perm.length;
  const size = out.length;
  if (size === 0) return;
  if (r === 0) {
    out[0] = x[0]!;
    return;
  }
  const inStrides = new Array<number>(r);
  let acc = 1;
  for (let d = r - 1; d >= 0; d--) {
    inStrides[d] = acc;
    acc *= shape[d]!;
  }
  const os = perm.map((p) => shape[p]!);
  const st = perm.map((p) => inStrides[p]!);
  const inner = os[r - 1]!;
  const innerStride = st[r - 1]!;
  const idx = new Array<number>(r).fill(0);
  let src = 0;
  for (let o = 0; o < size; o += inner) {
    for (let j = 0, s = src; j < inner; j++, s += innerStride) out[o + j] = x[s]!;
    for (let d = r - 2; d >= 0; d--) {
      idx[d]++;
      src += st[d]!;
      if (idx[d]! < os[d]!) break;
      src -= st[d]! * os[d]!;
      idx[d] = 0;
    }
  }
}

/**
 * An equivalent, smaller transpose: drops size-1 axes and merges runs of input axes
 * that stay adjacent and in order (e.g. [B, H, M, N] by [0, 1, 3, 2] becomes
 * [B·H, M, N] by [0, 2, 1]). An identity result means the data order is unchanged.
 */
export function simplifyPermutation(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const newIndex = new Array<number>(shape.length).fill(-1);
  const kept: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] !== 1) {
      newIndex[d] = kept.length;
      kept.push(shape[d]!);
    }
  }
  // Groups of consecutive input axes, in output order: [first, last] input axis.
  const groups: [number, number][] = [];
  for (const p of perm) {
    if (shape[p] === 1) continue;
    const q = newIndex[p]!;
    const g = groups[groups.length - 1];
    if (g && q === g[1] + 1) g[1] = q;
    else groups.push([q, q]);
  }
  const byInput = groups.map((_, i) => i).sort((x, y) => groups[x]![0] - groups[y]![0]);
  const rankInInput = new Array<number>(groups.length);
  byInput.forEach((g, i) => (rankInInput[g] = i));
  const outShape = byInput.map((g) => {
    let size = 1;
    for (let d = groups[g]![0]; d <= groups[g]![1]; d++) size *= kept[d]!;
    return size;
  });
  return { shape: outShape, perm: rankInInput };
}

registerArrayKernels({
  matmul: ([a, b], _attrs, [out]) => {
    const plan = planMatmul(a!.shape, b!.shape);
    const { m, k, n } = plan;
    if (out!.data.length === 0 || k === 0) return; // outputs arrive zero-filled
    const acc = new Float64Array(n);
    for (let t = 0; t < plan.batch; t++) {
      matmul2d(a!.data, plan.aOff[t]! * m * k, b!.data, plan.bOff[t]! * k * n, out!.data, t * m * n, m, k, n, acc);
    }
  },
  transpose: ([x], attrs, [out]) => {
    const s = simplifyPermutation(x!.shape, attrs['perm'] as number[]);
    permuteInto(x!.data, s.shape, s.perm, out!.data);
  },
});
