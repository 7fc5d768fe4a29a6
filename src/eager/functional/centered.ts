import * as ops from '../../ops/reduce.js';
import { run1 } from '../dispatch.js';
import type { Tensor } from '../tensor.js';

/**
 * `[mean, x − mean]` over `axes` (normalized; the mean with kept dims) of a floating x, for `variance` and the
 * normalization layers. The mean is corrected once: the rounded mean m is off by up to
 * half an ulp of the mean, which for large offsets ([1e7+1 … 1e7+4]: m = 1e7+2 for
 * 1e7+2.5) is no smaller than the spread, so squaring x − m would add that error squared
 * (variance 2 instead of 1.667). x − m is exact there (Sterbenz), so subtracting its own
 * mean (≈ the error of m) leaves x − mean to float32 precision of the spread. The
 * correction is detached: as a function of x it is identically 0 (mean(x − mean(x))), so
 * every derivative of it is 0 and the backward pass need not trace it.
 */
export function centered(x: Tensor, axes: readonly number[]): [mean: Tensor, centered: Tensor] {
  const keep = { axes: [...axes], keepDims: true };
  const n = run1(ops.elementCount, [x], { axes: [...axes], dtype: x.dtype });
  const mean = run1(ops.sum, [x], keep).div(n);
  const shifted = x.sub(mean);
  return [mean, shifted.sub(run1(ops.sum, [shifted.detach()], keep).div(n))];
}
