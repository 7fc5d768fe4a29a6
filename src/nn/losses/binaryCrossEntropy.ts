import { isTracing, KilnError, noGrad, scope, type Tensor, userCallSite, where } from '../../eager/index.js';
import { checkFloat, checkSameShape, reduceLoss, type LossOptions } from './reduction.js';

/** Options of `binaryCrossEntropy`. */
export interface BinaryCrossEntropyOptions extends LossOptions {
  /** Rescales each element's loss (broadcast against the input). */
  weight?: Tensor | null;
}

/**
 * `max(log q, −100)`, as PyTorch clamps BCE's logs. Where q = 0 (a saturated sigmoid in
 * float32) the log is taken of 1 instead and replaced by −100, so the backward pass
 * sees no 0/0 and yields 0 there rather than NaN.
 */
function clampedLog(q: Tensor): Tensor {
  const positive = q.greater(0);
  return where(positive, where(positive, q, 1).log().clip(-100, null), -100);
}

/**
 * PyTorch's check that every probability lies in [0, 1] (NaN fails it too): outside it
 * the loss is meaningless (negative, or NaN from a log). Eagerly the extremes are read
 * back (two reductions and a read, as PyTorch's kernel does) and a KilnError is thrown.
 * While `kiln.compile` traces, a read would split the graph (a graph break), so the
 * check becomes data instead: the returned mask (null eagerly) marks the valid
 * elements, and the others' losses become NaN, so the loss is NaN (never a silently
 * negative number) with no break. (Poisoning the input would not do: the clamped logs
 * map NaN to −100.)
 */
function checkProbabilities(op: string, input: Tensor): Tensor | null {
  if (isTracing()) return input.clip(0, 1).equal(input); // false for NaN and outside [0, 1]
  if (input.size === 0) return null;
  const [lo, hi] = noGrad(() => scope(() => [input.min().item(), input.max().item()]));
  if (lo! >= 0 && hi! <= 1) return null;
  const got = Number.isNaN(lo!) ? 'got NaN' : `got values from ${lo} to ${hi}`;
  throw new KilnError(`all elements of input should be between 0 and 1, ${got} (input: ${input.dtype}[${input.shape.join(', ')}])`, { op, callSite: userCallSite() });
}

/**
 * Binary cross-entropy of probabilities (PyTorch `binary_cross_entropy`):
 * `−weight·(y·log p + (1 − y)·log(1 − p))`, each log clamped to ≥ −100 as PyTorch does,
 * so p = 0 or 1 gives a finite loss. `input` and `target` have the same shape.
 * An input outside [0, 1] (or NaN) throws a KilnError, as in PyTorch; under
 * `kiln.compile` it gives a NaN loss instead (no graph break). Targets may be soft
 * (any value; PyTorch does not check them either).
 *
 * @example
 * ```ts
 * const p = kiln.tensor([0.9, 0.2]), y = kiln.tensor([1, 0]);
 * kiln.nn.binaryCrossEntropy(p, y).item(); // −(log 0.9 + log 0.8) / 2
 * ```
 */
export function binaryCrossEntropy(input: Tensor, target: Tensor, options: BinaryCrossEntropyOptions = {}): Tensor {
  const op = 'binaryCrossEntropy';
  checkFloat(op, 'input', input);
  checkFloat(op, 'target', target);
  checkSameShape(op, input, target);
  const valid = checkProbabilities(op, input);
  let loss = target.mul(clampedLog(input)).add(target.neg().add(1).mul(clampedLog(input.neg().add(1)))).neg();
  if (valid) loss = loss.where(valid, NaN);
  if (options.weight) loss = loss.mul(options.weight);
  return reduceLoss(op, loss, options.reduction);
}
