// Classification metrics (kiln.metrics): confusion matrix, precision/recall/F1 with
// sklearn's conventions, computed on the host from class indices.
import { argmax, KilnError, noGrad, Tensor, userCallSite } from '../eager/index.js';

/**
 * Class labels: a tensor of class indices ([N], int32 or integral floats), a tensor of
 * per-class scores, logits or probabilities ([N, C, ...], reduced by argmax over dim 1),
 * or a plain array of indices.
 */
export type Labels = Tensor | ArrayLike<number>;

/**
 * A confusion matrix: `m[t][p]` counts the samples of true class `t` predicted as class
 * `p` (sklearn's orientation: rows are the truth, columns the prediction).
 */
export type ConfusionMatrix = number[][];

/** Precision, recall and F1 averaged over classes one way. */
export interface AveragedScores {
  precision: number;
  recall: number;
  f1: number;
}

/** What `precisionRecallF1` returns: per-class scores and the three usual averages. */
export interface ClassificationScores {
  /** Per class: tp / (tp + fp); 0 for a class never predicted (sklearn's `zero_division=0`). */
  precision: number[];
  /** Per class: tp / (tp + fn); 0 for a class absent from the targets. */
  recall: number[];
  /** Per class: 2·tp / (2·tp + fp + fn) (= the harmonic mean of the two); 0 where that is 0/0. */
  f1: number[];
  /** Per class: how many targets have that class. */
  support: number[];
  /** Unweighted mean over all `numClasses` classes (absent classes count, with 0). */
  macro: AveragedScores;
  /** From the summed tp, fp and fn: equals accuracy for single-label data. */
  micro: AveragedScores;
  /** Mean weighted by support (0 when there are no samples). */
  weighted: AveragedScores;
  /** Fraction of samples on the diagonal (0 when there are none). */
  accuracy: number;
}

/** Which average `fit`/`evaluate` report as `precision`, `recall` and `f1`. */
export type Average = 'macro' | 'micro' | 'weighted';

function fail(op: string, message: string): never {
  throw new KilnError(message, { op, callSite: userCallSite() });
}

/** Class indices of `labels` (argmax over dim 1 for score tensors), as host numbers. */
export function toClassIndices(labels: Labels, op = 'metrics'): ArrayLike<number> {
  if (labels instanceof Tensor) {
    if (labels.rank >= 2) return noGrad(() => argmax(labels, 1).dataSync());
    if (labels.rank === 0) fail(op, 'labels must be a tensor of shape [N] (class indices) or [N, C, …] (scores), got a 0-d tensor');
    return labels.dataSync();
  }
  if (labels === null || typeof labels !== 'object' || typeof (labels as ArrayLike<number>).length !== 'number') {
    fail(op, `labels must be a Tensor or an array of class indices, got ${labels === null ? 'null' : typeof labels}`);
  }
  return labels;
}

/**
 * The confusion matrix of predicted vs. true classes (sklearn `confusion_matrix` with
 * `labels=range(numClasses)`): `m[t][p]` counts samples of class `t` predicted as `p`.
 * `numClasses` defaults to the score dimension of a `[N, C]` prediction, else to the
 * largest label + 1. Labels must be integers in `[0, numClasses)`.
 *
 * @example
 * ```ts
 * const m = kiln.metrics.confusionMatrix([0, 1, 1, 2], [0, 1, 2, 2], 3);
 * // [[1, 0, 0],
 * //  [0, 1, 0],
 * //  [0, 1, 1]]   (one sample of class 2 was predicted as 1)
 * ```
 */
export function confusionMatrix(pred: Labels, target: Labels, numClasses?: number): ConfusionMatrix {
  const op = 'confusionMatrix';
  const scoreClasses = pred instanceof Tensor && pred.rank >= 2 ? pred.shape[1]! : undefined;
  const p = toClassIndices(pred, op);
  const t = toClassIndices(target, op);
  if (p.length !== t.length) fail(op, `pred has ${p.length} labels but target has ${t.length}`);
  let k = numClasses ?? scoreClasses;
  if (k === undefined) {
    k = 0;
    for (let i = 0; i < p.length; i++) k = Math.max(k, p[i]! + 1, t[i]! + 1);
  }
  if (!Number.isInteger(k) || k < 1) fail(op, `numClasses must be a positive integer, got ${String(numClasses ?? k)}`);
  const m: ConfusionMatrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < p.length; i++) {
    const a = t[i]!, b = p[i]!;
    if (!Number.isInteger(a) || a < 0 || a >= k) fail(op, `target ${i} is ${a}, not a class index in [0, ${k})`);
    if (!Number.isInteger(b) || b < 0 || b >= k) fail(op, `prediction ${i} is ${b}, not a class index in [0, ${k})`);
    m[a]![b]!++;
  }
  return m;
}

/** Adds `b` into `a` (same size), for confusion matrices accumulated over batches. */
export function addConfusion(a: ConfusionMatrix, b: ConfusionMatrix): ConfusionMatrix {
  if (a.length !== b.length) throw new KilnError(`cannot add confusion matrices of ${a.length} and ${b.length} classes (the number of classes changed between batches)`, { op: 'metrics' });
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a.length; j++) a[i]![j]! += b[i]![j]!;
  return a;
}

const ratio = (num: number, den: number): number => (den === 0 ? 0 : num / den);

/**
 * Per-class precision, recall, F1 and support, their macro, micro and support-weighted
 * averages, and accuracy — sklearn's `precision_recall_fscore_support` with
 * `labels=range(numClasses)` and `zero_division=0`: a 0/0 score is 0 (no warning, no
 * NaN). Give predictions and targets (as for `confusionMatrix`) or a confusion matrix.
 * Note that sklearn without `labels` averages only over the classes present in the
 * targets or predictions; here every one of `numClasses` classes counts.
 *
 * @example
 * ```ts
 * const s = kiln.metrics.precisionRecallF1([0, 0, 1, 1], [0, 1, 1, 1], 2);
 * s.precision; // [0.5, 1]     class 0: 1 of 2 predicted 0s right
 * s.recall;    // [1, 0.6667]  class 1: 2 of 3 found
 * s.macro.f1;  // (0.6667 + 0.8) / 2 = 0.7333
 * s.accuracy;  // 0.75
 * ```
 */
export function precisionRecallF1(confusion: ConfusionMatrix): ClassificationScores;
export function precisionRecallF1(pred: Labels, target: Labels, numClasses?: number): ClassificationScores;
export function precisionRecallF1(a: ConfusionMatrix | Labels, target?: Labels, numClasses?: number): ClassificationScores {
  const m = target === undefined ? checkConfusion(a) : confusionMatrix(a as Labels, target, numClasses);
  const k = m.length;
  const tp = new Array<number>(k).fill(0), fp = new Array<number>(k).fill(0), fn = new Array<number>(k).fill(0), support = new Array<number>(k).fill(0);
  let total = 0;
  for (let t = 0; t < k; t++) {
    for (let p = 0; p < k; p++) {
      const c = m[t]![p]!;
      total += c;
      support[t]! += c;
      if (t === p) tp[t]! += c;
      else {
        fn[t]! += c;
        fp[p]! += c;
      }
    }
  }
  const precision = tp.map((x, i) => ratio(x, x + fp[i]!));
  const recall = tp.map((x, i) => ratio(x, x + fn[i]!));
  const f1 = tp.map((x, i) => ratio(2 * x, 2 * x + fp[i]! + fn[i]!));
  const mean = (v: number[]) => ratio(v.reduce((s, x) => s + x, 0), v.length);
  const weightedMean = (v: number[]) => ratio(v.reduce((s, x, i) => s + x * support[i]!, 0), total);
  const sum = (v: number[]) => v.reduce((s, x) => s + x, 0);
  const [TP, FP, FN] = [sum(tp), sum(fp), sum(fn)];
  return {
    precision, recall, f1, support,
    macro: { precision: mean(precision), recall: mean(recall), f1: mean(f1) },
    micro: { precision: ratio(TP, TP + FP), recall: ratio(TP, TP + FN), f1: ratio(2 * TP, 2 * TP + FP + FN) },
    weighted: { precision: weightedMean(precision), recall: weightedMean(recall), f1: weightedMean(f1) },
    accuracy: ratio(TP, total),
  };
}

function checkConfusion(m: unknown): ConfusionMatrix {
  const ok = Array.isArray(m) && m.length > 0 && m.every((row) => Array.isArray(row) && row.length === m.length && row.every((c) => Number.isInteger(c) && c >= 0));
  if (!ok) fail('precisionRecallF1', 'expected a square confusion matrix of non-negative integer counts (or pred, target[, numClasses])');
  return m as ConfusionMatrix;
}

/**
 * Fraction of samples whose predicted class equals the target.
 *
 * @example
 * ```ts
 * kiln.metrics.accuracy(kiln.tensor([[2, 1], [0, 3]]), kiln.tensor([0, 0], { dtype: 'int32' })); // 0.5
 * ```
 */
export function accuracy(pred: Labels, target: Labels): number {
  const p = toClassIndices(pred, 'accuracy');
  const t = toClassIndices(target, 'accuracy');
  if (p.length !== t.length) fail('accuracy', `pred has ${p.length} labels but target has ${t.length}`);
  let c = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === t[i]) c++;
  return ratio(c, p.length);
}
