// Portable kernels of tril/triu, cholesky, solveTriangular, solve and lstsq. Each works
// in float64 on a private copy of one matrix of the batch at a time, whatever the
// tensors' dtype, and writes the result rounded to the output's dtype. The wasm backend
// runs them on views of its heap (XNNPACK has no factorizations).
import { KilnError, type TypedArray } from '../../../ir/index.js';
import type { ArrayTensor } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';
import { planMatmul } from './linalg.js';

/** 2⁻⁵², the spacing of float64 numbers at 1. */
const EPS64 = 2 ** -52;

function batchOf(shape: readonly number[]): number[] {
  return shape.slice(0, shape.length - 2);
}

/** ` (batch element [1, 0])` for a failure in matrix `t` of a batch of shape `batch`; '' without batch dims. */
function where(batch: readonly number[], t: number): string {
  if (batch.length === 0) return '';
  const idx = new Array<number>(batch.length);
  for (let d = batch.length - 1; d >= 0; d--) {
    idx[d] = t % batch[d]!;
    t = Math.floor(t / batch[d]!);
  }
  return ` (batch element [${idx.join(', ')}])`;
}

function triangle(x: ArrayTensor, out: ArrayTensor, diagonal: number, lower: boolean): void {
  const r = x.shape.length;
  const rows = x.shape[r - 2]!, cols = x.shape[r - 1]!;
  const mat = rows * cols;
  if (mat === 0) return;
  const count = x.data.length / mat;
  const src = x.data, dst = out.data;
  for (let t = 0; t < count; t++) {
    const base = t * mat;
    for (let i = 0; i < rows; i++) {
      const row = base + i * cols;
      for (let j = 0; j < cols; j++) {
        const keep = lower ? j - i <= diagonal : j - i >= diagonal;
        dst[row + j] = keep ? src[row + j]! : 0;
      }
    }
  }
}

/** Whether every element of the `len` elements at `base` is finite. */
function allFinite(a: TypedArray, base: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (!Number.isFinite(a[base + i]!)) return false;
  return true;
}

function cholesky([a]: readonly ArrayTensor[], out: ArrayTensor): void {
  const n = a.shape[a.shape.length - 1]!;
  const nn = n * n;
  if (nn === 0) return;
  const batch = batchOf(a.shape);
  const count = a.data.length / nn;
  const l = new Float64Array(nn);
  const src = a.data, dst = out.data;
  for (let t = 0; t < count; t++) {
    const base = t * nn;
    l.fill(0);
    for (let j = 0; j < n; j++) {
      const lj = j * n;
      let d = src[base + lj + j]!;
      for (let k = 0; k < j; k++) d -= l[lj + k]! * l[lj + k]!;
      if (!(d > 0)) {
        if (!allFinite(src, base, nn)) throw new KilnError(`the input has non-finite elements${where(batch, t)}`);
        throw new KilnError(`the input is not positive-definite: its leading minor of order ${j + 1} is not positive${where(batch, t)}`);
      }
      const ljj = Math.sqrt(d);
      l[lj + j] = ljj;
      for (let i = j + 1; i < n; i++) {
        const li = i * n;
        // The symmetric part of A: ½(A[i, j] + A[j, i]).
        let s = 0.5 * (src[base + li + j]! + src[base + lj + i]!);
        for (let k = 0; k < j; k++) s -= l[li + k]! * l[lj + k]!;
        l[li + j] = s / ljj;
      }
    }
    for (let i = 0; i < nn; i++) dst[base + i] = l[i]!;
  }
}

function solveTriangular([a, b]: readonly ArrayTensor[], upper: boolean, out: ArrayTensor): void {
  const plan = planMatmul(a.shape, b.shape);
  const n = a.shape[a.shape.length - 1]!;
  const k = b.shape[b.shape.length - 1]!;
  const nn = n * n, nk = n * k;
  if (nk === 0) return;
  const batch = batchOf(out.shape);
  const x = new Float64Array(nk);
  const av = a.data, bv = b.data, dst = out.data;
  for (let t = 0; t < plan.batch; t++) {
    const aBase = plan.aOff[t]! * nn, bBase = plan.bOff[t]! * nk;
    for (let step = 0; step < n; step++) {
      const i = upper ? n - 1 - step : step;
      const ai = aBase + i * n;
      const xi = i * k;
      for (let c = 0; c < k; c++) x[xi + c] = bv[bBase + xi + c]!;
      const lo = upper ? i + 1 : 0, hi = upper ? n : i;
      for (let j = lo; j < hi; j++) {
        const aij = av[ai + j]!;
        if (aij === 0) continue;
        const xj = j * k;
        for (let c = 0; c < k; c++) x[xi + c] -= aij * x[xj + c]!;
      }
      const d = av[ai + i]!;
      if (d === 0) throw new KilnError(`the triangular matrix is singular: diagonal element ${i} is zero${where(batch, t)}`);
      for (let c = 0; c < k; c++) x[xi + c] /= d;
    }
    const oBase = t * nk;
    for (let i = 0; i < nk; i++) dst[oBase + i] = x[i]!;
  }
}

function solve([a, b]: readonly ArrayTensor[], out: ArrayTensor): void {
  const plan = planMatmul(a.shape, b.shape);
  const n = a.shape[a.shape.length - 1]!;
  const k = b.shape[b.shape.length - 1]!;
  const nn = n * n, nk = n * k;
  if (nk === 0) return;
  const batch = batchOf(out.shape);
  const lu = new Float64Array(nn);
  const x = new Float64Array(nk);
  const av = a.data, bv = b.data, dst = out.data;
  for (let t = 0; t < plan.batch; t++) {
    const aBase = plan.aOff[t]! * nn, bBase = plan.bOff[t]! * nk, oBase = t * nk;
    let scale = 0;
    let finite = true;
    for (let i = 0; i < nn; i++) {
      const v = av[aBase + i]!;
      lu[i] = v;
      const m = Math.abs(v);
      if (m > scale) scale = m;
      else if (!(m <= scale)) finite = false; // NaN
    }
    if (!finite || scale === Infinity) {
      // No meaningful solution: NaN, as the arithmetic would give.
      for (let i = 0; i < nk; i++) dst[oBase + i] = NaN;
      continue;
    }
    for (let i = 0; i < nk; i++) x[i] = bv[bBase + i]!;
    // Singular to working precision: a pivot no larger than the rounding error that
    // elimination in float64 leaves in an exactly singular matrix of this size.
    const tol = n * EPS64 * scale;
    for (let col = 0; col < n; col++) {
      let p = col;
      let best = Math.abs(lu[col * n + col]!);
      for (let r = col + 1; r < n; r++) {
        const v = Math.abs(lu[r * n + col]!);
        if (v > best) {
          best = v;
          p = r;
        }
      }
      if (!(best > tol)) {
        const why = best === 0 ? 'is zero' : `is ${best.toExponential(2)} ≤ n·2⁻⁵²·max|A| = ${tol.toExponential(2)}`;
        throw new KilnError(`A is singular to working precision: pivot ${col} of its LU factorization ${why}${where(batch, t)}`);
      }
      if (p !== col) {
        for (let c = 0; c < n; c++) {
          const tmp = lu[col * n + c]!;
          lu[col * n + c] = lu[p * n + c]!;
          lu[p * n + c] = tmp;
        }
        for (let c = 0; c < k; c++) {
          const tmp = x[col * k + c]!;
          x[col * k + c] = x[p * k + c]!;
          x[p * k + c] = tmp;
        }
      }
      const pivot = lu[col * n + col]!;
      for (let r = col + 1; r < n; r++) {
        const f = lu[r * n + col]! / pivot;
        if (f === 0) continue;
        for (let c = col + 1; c < n; c++) lu[r * n + c] -= f * lu[col * n + c]!;
        for (let c = 0; c < k; c++) x[r * k + c] -= f * x[col * k + c]!;
      }
    }
    for (let i = n - 1; i >= 0; i--) {
      const xi = i * k;
      for (let j = i + 1; j < n; j++) {
        const f = lu[i * n + j]!;
        if (f === 0) continue;
        for (let c = 0; c < k; c++) x[xi + c] -= f * x[j * k + c]!;
      }
      const d = lu[i * n + i]!;
      for (let c = 0; c < k; c++) dst[oBase + xi + c] = (x[xi + c]! /= d);
    }
  }
}

/**
 * Householder QR of the `rows × cols` matrix `q` (column-major, rows ≥ cols), in place:
 * afterwards column j holds its reflector vector v (rows j.., v[j] included) and `r`
 * holds R (cols × cols, row-major). H_j = I − β_j·v·vᵀ, Q = H_0·H_1·…·H_{cols−1}.
 */
function householder(q: Float64Array, rows: number, cols: number, r: Float64Array, betas: Float64Array): void {
  r.fill(0);
  for (let j = 0; j < cols; j++) {
    const cj = j * rows;
    let norm2 = 0;
    for (let i = j; i < rows; i++) norm2 += q[cj + i]! * q[cj + i]!;
    const norm = Math.sqrt(norm2);
    const x0 = q[cj + j]!;
    const alpha = x0 >= 0 ? -norm : norm;
    if (norm === 0) {
      betas[j] = 0;
    } else {
      q[cj + j] = x0 - alpha;
      // vᵀv = norm² − x0² + (x0 − α)² = 2·norm·(norm + |x0|)
      betas[j] = 1 / (norm * (norm + Math.abs(x0)));
    }
    r[j * cols + j] = alpha;
    for (let c = j + 1; c < cols; c++) {
      const cc = c * rows;
      let s = 0;
      for (let i = j; i < rows; i++) s += q[cj + i]! * q[cc + i]!;
      s *= betas[j]!;
      for (let i = j; i < rows; i++) q[cc + i] -= s * q[cj + i]!;
      r[j * cols + c] = q[cc + j]!;
    }
  }
}

/** Applies H_j (reflector j of `q`, rows j..) to each of the `k` columns of `y` (column-major, `rows` long). */
function reflect(q: Float64Array, rows: number, j: number, beta: number, y: Float64Array, k: number): void {
  if (beta === 0) return;
  const cj = j * rows;
  for (let c = 0; c < k; c++) {
    const yc = c * rows;
    let s = 0;
    for (let i = j; i < rows; i++) s += q[cj + i]! * y[yc + i]!;
    s *= beta;
    for (let i = j; i < rows; i++) y[yc + i] -= s * q[cj + i]!;
  }
}

function lstsq([a, b]: readonly ArrayTensor[], out: ArrayTensor): void {
  const plan = planMatmul(a.shape, b.shape);
  const m = a.shape[a.shape.length - 2]!, n = a.shape[a.shape.length - 1]!;
  const k = b.shape[b.shape.length - 1]!;
  const mn = m * n, mk = m * k, nk = n * k;
  if (nk === 0) return;
  const batch = batchOf(out.shape);
  const tall = m >= n;
  // QR of A (tall) or of Aᵀ (wide): `rows × cols` with rows ≥ cols.
  const rows = tall ? m : n, cols = tall ? n : m;
  const q = new Float64Array(rows * cols);
  const r = new Float64Array(cols * cols);
  const betas = new Float64Array(cols);
  const y = new Float64Array(rows * k); // column-major work columns
  const av = a.data, bv = b.data, dst = out.data;
  for (let t = 0; t < plan.batch; t++) {
    const aBase = plan.aOff[t]! * mn, bBase = plan.bOff[t]! * mk, oBase = t * nk;
    if (!allFinite(av, aBase, mn)) {
      for (let i = 0; i < nk; i++) dst[oBase + i] = NaN;
      continue;
    }
    if (m === 0) continue; // no equations: the minimum-norm solution is 0
    // q column c = column c of A (tall) or row c of A (wide); the scale of A's columns.
    let scale = 0;
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let i = 0; i < rows; i++) {
        const v = tall ? av[aBase + i * n + c]! : av[aBase + c * n + i]!;
        q[c * rows + i] = v;
        s += v * v;
      }
      scale = Math.max(scale, Math.sqrt(s));
    }
    householder(q, rows, cols, r, betas);
    const tol = rows * EPS64 * scale;
    for (let j = 0; j < cols; j++) {
      const d = Math.abs(r[j * cols + j]!);
      if (!(d > tol)) throw new KilnError(`A is rank-deficient: ${tall ? 'column' : 'row'} ${j} is ${d === 0 ? 'a combination of the ones before it' : `within ${d.toExponential(2)} of the span of the ones before it (tolerance ${tol.toExponential(2)})`}; lstsq needs full rank${where(batch, t)}`);
    }
    if (tall) {
      // Qᵀ·B, then R·X = (Qᵀ·B)[0:n] by back substitution.
      for (let c = 0; c < k; c++) for (let i = 0; i < m; i++) y[c * m + i] = bv[bBase + i * k + c]!;
      for (let j = 0; j < n; j++) reflect(q, m, j, betas[j]!, y, k);
      for (let c = 0; c < k; c++) {
        const yc = c * m;
        for (let i = n - 1; i >= 0; i--) {
          let s = y[yc + i]!;
          for (let j = i + 1; j < n; j++) s -= r[i * n + j]! * y[yc + j]!;
          y[yc + i] = s / r[i * n + i]!;
          dst[oBase + i * k + c] = y[yc + i]!;
        }
      }
    } else {
      // Aᵀ = Q·R, so A = Rᵀ·Qᵀ: solve Rᵀ·z = B (forward), then X = Q·[z; 0].
      y.fill(0);
      for (let c = 0; c < k; c++) {
        const yc = c * n;
        for (let i = 0; i < m; i++) {
          let s = bv[bBase + i * k + c]!;
          for (let j = 0; j < i; j++) s -= r[j * m + i]! * y[yc + j]!;
          y[yc + i] = s / r[i * m + i]!;
        }
      }
      for (let j = m - 1; j >= 0; j--) reflect(q, n, j, betas[j]!, y, k);
      for (let c = 0; c < k; c++) for (let i = 0; i < n; i++) dst[oBase + i * k + c] = y[c * n + i]!;
    }
  }
}

registerArrayKernels({
  tril: ([x], attrs, [out]) => triangle(x!, out!, attrs['diagonal'] as number, true),
  triu: ([x], attrs, [out]) => triangle(x!, out!, attrs['diagonal'] as number, false),
  cholesky: (inputs, _attrs, [out]) => cholesky(inputs, out!),
  solveTriangular: (inputs, attrs, [out]) => solveTriangular(inputs, attrs['upper'] as boolean, out!),
  solve: (inputs, _attrs, [out]) => solve(inputs, out!),
  lstsq: (inputs, _attrs, [out]) => lstsq(inputs, out!),
});
