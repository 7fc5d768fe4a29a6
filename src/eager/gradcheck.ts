import { KilnError } from '../ir/index.js';
import { noGrad, valueAndGrad } from './autograd.js';
import { randn } from './creation.js';
import type { Tensor } from './tensor.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance (default 1e-3). */
  rtol?: number;
  /** Throw on mismatch (default true); otherwise just return the report. */
  raise?: boolean;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic − numeric| − rtol·|numeric| over all checked elements. */
  worst: number;
  /** Human-readable mismatches, at most 10. */
  mismatches: string[];
}

/**
 * Checks autograd against central finite differences `(f(x+ε) − f(x−ε)) / 2ε` in
 * float64 on the reference backend (inputs are moved there first). A non-scalar
 * output is reduced with fixed random weights, which checks a vector–Jacobian product.
 * Only float inputs are perturbed; others are passed through.
 *
 * @example
 * ```ts
 * const x = kiln.randn([3, 4], { seed: 1 });
 * kiln.testing.gradcheck((x) => x.tanh().mul(x), [x]).ok; // true
 * ```
 */
export function gradcheck(f: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: GradcheckOptions = {}): GradcheckResult {
  const eps = options.eps ?? 1e-6, atol = options.atol ?? 1e-5, rtol = options.rtol ?? 1e-3;
  const xs = inputs.map((x) => {
    const r = x.to('reference');
    return x.dtype === 'float32' ? r.cast('float64') : r;
  });
  const isDiff = xs.map((x) => x.dtype === 'float64');
  const probe = noGrad(() => f(...xs));
  const weights = randn(probe.shape, { seed: 1234, backend: 'reference', dtype: 'float64' });
  const scalar = (...args: Tensor[]): Tensor => f(...args).mul(weights).sum();

  const [, analytic] = valueAndGrad(scalar)(...xs);
  const mismatches: string[] = [];
  let worst = -Infinity;
  xs.forEach((x, k) => {
    if (!isDiff[k]) return;
    const base = x.dataSync() as Float64Array;
    const ga = analytic[k]!.dataSync();
    for (let i = 0; i < base.length; i++) {
      const at = (v: number): number => {
        const data = Float64Array.from(base);
        data[i] = v;
        const moved = xs.map((y, j) => (j === k ? fromData(y, data) : y));
        return noGrad(() => scalar(...moved).item());
      };
      const numeric = (at(base[i]! + eps) - at(base[i]! - eps)) / (2 * eps);
      const err = Math.abs(ga[i]! - numeric) - rtol * Math.abs(numeric);
      worst = Math.max(worst, err);
      if (!(err <= atol) && mismatches.length < 10) mismatches.push(`input ${k} element ${i}: analytic ${ga[i]} vs numeric ${numeric}`);
    }
  });
  const result = { ok: mismatches.length === 0, worst, mismatches };
  if (!result.ok && (options.raise ?? true)) throw new KilnError(`gradcheck failed:\n  ${mismatches.join('\n  ')}`, { op: 'gradcheck' });
  return result;
}

function fromData(like: Tensor, data: Float64Array): Tensor {
  const storage = like.backend.alloc('float64', data.length);
  like.backend.write(storage, data);
  return new (like.constructor as typeof Tensor)(storage, like.shape, 'float64', like.backend);
}
