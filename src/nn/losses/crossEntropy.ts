import { KilnError, Tensor } from '../../eager/index.js';
import { readClassTargets, type ClassTargetOptions } from './classTargets.js';
import { nllFromTargets } from './nllLoss.js';
import { checkFloat, checkSameShape, type Reduction } from './reduction.js';

/** Options of `crossEntropy`. */
export interface CrossEntropyOptions extends ClassTargetOptions {
  /** Default `'mean'` (see `crossEntropy` for what it divides by). */
  reduction?: Reduction;
  /** ε in [0, 1]: the target becomes (1 − ε)·target + ε/C (uniform over the C classes). Default 0. */
  labelSmoothing?: number;
}

/**
 * Cross-entropy of logits (PyTorch `cross_entropy`), computed from `logSoftmax` over
 * the class axis 1 of `input` `[N, C]` / `[N, C, d1, …]` (or `[C]` unbatched). Two kinds
 * of target:
 * - **class indices**: int32 `[N]` / `[N, d1, …]`; loss `−weight[y]·log softmax(x)[y]`;
 *   `ignoreIndex` entries contribute nothing; `'mean'` divides by the summed weights of
 *   the kept targets (their count without `weight`);
 * - **probabilities**: a float tensor shaped like `input`; loss `−Σ_c weight[c]·p_c·log
 *   softmax(x)_c`; `'mean'` divides by the number of elements N·d1·….
 *
 * `labelSmoothing` ε mixes the target with the uniform distribution, exactly as PyTorch
 * (with class indices: (1 − ε)·NLL + ε/C·Σ_c −weight[c]·log softmax(x)_c).
 *
 * @example
 * ```ts
 * const logits = kiln.tensor([[2, 0.5, -1], [0.1, 0.2, 3]]);
 * const loss = kiln.nn.crossEntropy(logits, kiln.tensor([0, 2], { dtype: 'int32' }), { labelSmoothing: 0.1 });
 * ```
 */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  checkFloat(op, 'input', input);
  if (!(target instanceof Tensor)) throw new KilnError(`target must be a Tensor, got ${target === null ? 'null' : typeof target}`, { op });
  const eps = options.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new KilnError(`labelSmoothing must lie in [0, 1], got ${eps}`, { op });
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'none' && reduction !== 'mean' && reduction !== 'sum') throw new KilnError(`reduction must be 'none', 'mean' or 'sum', got '${String(reduction)}'`, { op });
  const classAxis = input.rank === 1 ? 0 : 1;
  const classes = input.shape[classAxis] ?? 0;
  const weight = options.weight ?? null;
  // The weight as [1, C, 1, …] so it broadcasts against the input.
  const weightAlongClasses = (x: Tensor): Tensor | null => weight && weight.reshape(x.shape.map((d, i) => (i === classAxis ? d : 1)));

  if (target.dtype !== 'int32') {
    checkFloat(op, 'probability target', target);
    checkSameShape(op, input, target, 'input and probability target');
    if (weight && (weight.rank !== 1 || weight.shape[0] !== classes)) throw new KilnError(`weight must have one entry per class [${classes}], got [${weight.shape.join(', ')}]`, { op });
    const p = eps > 0 ? target.mul(1 - eps).add(eps / classes) : target;
    const w = weightAlongClasses(input);
    let terms = input.logSoftmax(classAxis).mul(p);
    if (w) terms = terms.mul(w);
    const loss = terms.sum(classAxis).neg();
    if (reduction === 'none') return loss;
    return reduction === 'sum' ? loss.sum() : loss.mean();
  }

  const c = readClassTargets(op, input, target, options);
  const logp = c.input.logSoftmax(1);
  const nll = nllFromTargets({ ...c, input: logp }, reduction);
  if (eps === 0) return nll;
  // −Σ_c weight[c]·log p_c per element, zero where ignored: the uniform part of the smoothed target.
  const w = weightAlongClasses(logp);
  const uniformTerm = (w ? logp.mul(w) : logp).sum(1).neg().mul(c.kept);
  let smooth: Tensor;
  if (reduction === 'none') smooth = c.unbatched ? uniformTerm.reshape([]) : uniformTerm;
  else if (reduction === 'sum') smooth = uniformTerm.sum();
  else smooth = uniformTerm.sum().div(c.elementWeight.sum());
  return nll.mul(1 - eps).add(smooth.mul(eps / classes));
}
