// The closed-form linear readout shared by the reservoir models.
import { KilnError, linalg, noGrad, scope, tensor, type Tensor, type TypedArray } from '../../eager/index.js';
import { layerError } from '../layers/common.js';

/** Rows per block of the Gram accumulation: a block's columns (rows × F doubles) stay in cache. */
const BLOCK = 256;

/**
 * ΦᵀΦ (`[f, f]`) and ΦᵀY (`[f, o]`) in float64 from row-major Φ `[n, f]` and Y `[n, o]`.
 * Rows go in blocks, transposed so that each entry is a dot product over contiguous
 * memory, four entries (2 × 2) at a time to share the loads; only the upper triangle of
 * ΦᵀΦ is computed, then mirrored. Products of float32 values are exact in float64, so
 * the only rounding is the float64 summation. (The reference backend's float64 matmul
 * does the same work 10× slower: 21.8 s against 1.9 s for an [8000, 1000] Φ.)
 */
export function crossProducts(phi: TypedArray, y: TypedArray, n: number, f: number, o: number): { gram: Float64Array; cross: Float64Array } {
  const gram = new Float64Array(f * f);
  const cross = new Float64Array(f * o);
  const cols = f + o; // the block's columns: f features, then o targets
  const t = new Float64Array(cols * BLOCK);
  const add = (i: number, j: number, v: number): void => {
    if (j < f) gram[i * f + j] += v;
    else cross[i * o + j - f] += v;
  };
  for (let r0 = 0; r0 < n; r0 += BLOCK) {
    const rn = Math.min(BLOCK, n - r0);
    for (let r = 0; r < rn; r++) {
      const row = (r0 + r) * f, yrow = (r0 + r) * o;
      for (let i = 0; i < f; i++) t[i * BLOCK + r] = phi[row + i]!;
      for (let c = 0; c < o; c++) t[(f + c) * BLOCK + r] = y[yrow + c]!;
    }
    for (let i = 0; i < f; i += 2) {
      const ti = i * BLOCK;
      if (i + 1 === f) {
        // The last row alone.
        for (let j = i; j < cols; j++) {
          const tj = j * BLOCK;
          let a = 0;
          for (let r = 0; r < rn; r++) a += t[ti + r]! * t[tj + r]!;
          add(i, j, a);
        }
        break;
      }
      const ti1 = ti + BLOCK;
      let j = i;
      for (; j + 1 < cols; j += 2) {
        const tj = j * BLOCK, tj1 = tj + BLOCK;
        let a00 = 0, a01 = 0, a10 = 0, a11 = 0;
        for (let r = 0; r < rn; r++) {
          const x0 = t[ti + r]!, x1 = t[ti1 + r]!, y0 = t[tj + r]!, y1 = t[tj1 + r]!;
          a00 += x0 * y0;
          a01 += x0 * y1;
          a10 += x1 * y0;
          a11 += x1 * y1;
        }
        add(i, j, a00);
        add(i, j + 1, a01);
        add(i + 1, j, a10);
        add(i + 1, j + 1, a11);
      }
      if (j < cols) {
        const tj = j * BLOCK;
        let a0 = 0, a1 = 0;
        for (let r = 0; r < rn; r++) {
          a0 += t[ti + r]! * t[tj + r]!;
          a1 += t[ti1 + r]! * t[tj + r]!;
        }
        add(i, j, a0);
        add(i + 1, j, a1);
      }
    }
  }
  // Mirror the upper triangle (the 2 × 2 blocks on the diagonal also wrote some of the lower one).
  for (let i = 0; i < f; i++) for (let j = 0; j < i; j++) gram[i * f + j] = gram[j * f + i]!;
  return { gram, cross };
}

/**
 * Ridge regression W = argmin ‖Φ·W − Y‖² + λ·‖W₁..‖² for features Φ `[N, F]` whose
 * column 0 is the constant 1 (the intercept, not penalized, as in scikit-learn's
 * `Ridge`) and targets Y `[N, O]`. Returns W `[F, O]`, float64 on the reference backend.
 *
 * Always in float64, whatever the inputs' dtype and backend:
 * - λ > 0: the normal equations (ΦᵀΦ + λ·D)·W = ΦᵀY, D = diag(0, 1, …, 1), by Cholesky
 *   (`linalg.cholesky` + `linalg.choleskySolve`). Forming ΦᵀΦ squares Φ's condition
 *   number; λ bounds it (the penalized block's eigenvalues are ≥ λ), which is why this
 *   is the usual reservoir-computing readout. Cost ≈ N·F²/2 + F³/3 multiply-adds.
 * - λ = 0: plain least squares by Householder QR (`linalg.lstsq`), which works with
 *   cond(Φ) itself; Φ must have full column rank. Cost ≈ 2·N·F².
 */
export function ridgeReadout(layer: string, features: Tensor, targets: Tensor, ridge: number): Tensor {
  const [n, f] = [features.shape[0]!, features.shape[1]!];
  const o = targets.shape[1]!;
  return noGrad(() => scope(() => {
    try {
      if (ridge === 0) return linalg.lstsq(features.to('reference').cast('float64'), targets.to('reference').cast('float64'));
      const { gram, cross } = crossProducts(features.dataSync(), targets.dataSync(), n, f, o);
      for (let i = 1; i < f; i++) gram[i * f + i] += ridge;
      const opts = { dtype: 'float64', backend: 'reference' } as const;
      const l = linalg.cholesky(tensor(gram, { ...opts, shape: [f, f] }));
      return linalg.choleskySolve(tensor(cross, { ...opts, shape: [f, o] }), l);
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
      const hint = ridge === 0
        ? 'the features are linearly dependent (use ridge > 0)'
        : `the regularized normal equations are not positive-definite in float64 (ridge ${ridge}; increase it)`;
      throw layerError(layer, `cannot fit the readout: ${hint}: ${e.message.split('\n')[0]}`);
    }
  }));
}
