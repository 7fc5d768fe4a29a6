import { KilnError, Tensor } from '../eager/index.js';
import { Subset, type Dataset } from './dataset.js';
import { checkSeed, drawSeed, SeededRandom } from './random.js';

/** Options of the split functions. */
export interface SplitOptions {
  /** Seed of the random assignment. Default: drawn from Kiln's global generator (`kiln.manualSeed`). */
  seed?: number;
}

/**
 * Turns split sizes into counts summing to `n`: either integer counts that already sum
 * to `n`, or fractions summing to 1 (rounded by largest remainder, so the counts
 * always add up; ties go to the earlier split).
 *
 * @example
 * ```ts
 * kiln.data.splitCounts(10, [1 / 3, 1 / 3, 1 / 3]); // [4, 3, 3]
 * ```
 */
export function splitCounts(n: number, lengths: readonly number[], op = 'splitCounts'): number[] {
  if (lengths.length === 0) throw new KilnError('needs at least one split size', { op });
  for (const v of lengths) if (!(Number.isFinite(v) && v >= 0)) throw new KilnError(`split sizes must be non-negative numbers, got [${lengths.join(', ')}]`, { op });
  const total = lengths.reduce((a, b) => a + b, 0);
  if (lengths.every(Number.isInteger) && total === n) return [...lengths];
  if (Math.abs(total - 1) > 1e-6) {
    throw new KilnError(`split sizes must be counts summing to the dataset length ${n} or fractions summing to 1, got [${lengths.join(', ')}] (sum ${total})`, { op });
  }
  const exact = lengths.map((f) => (f / total) * n);
  const counts = exact.map(Math.floor);
  let left = n - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % byRemainder.length, left--) counts[byRemainder[k]!.i]!++;
  return counts;
}

/**
 * Splits a dataset into non-overlapping random subsets of the given sizes (counts, or
 * fractions summing to 1), like PyTorch's `random_split`. Same seed → same split.
 *
 * @example
 * ```ts
 * const [train, val] = kiln.data.randomSplit(ds, [0.9, 0.1], { seed: 0 });
 * ```
 */
export function randomSplit<T>(dataset: Dataset<T>, lengths: readonly number[], options: SplitOptions = {}): Subset<T>[] {
  const counts = splitCounts(dataset.length, lengths, 'randomSplit');
  const perm = new SeededRandom(seedOf('randomSplit', options)).permutation(dataset.length);
  const out: Subset<T>[] = [];
  let start = 0;
  for (const c of counts) {
    out.push(new Subset(dataset, perm.subarray(start, start + c)));
    start += c;
  }
  return out;
}

/**
 * Index sets of a stratified split: every class is divided in the given proportions
 * (counts or fractions), so each split keeps the class balance of `labels`. Split
 * totals are exactly those of `splitCounts(labels.length, fractions)`; each class gets
 * its proportional share up to rounding by at most one sample per split. Indices come
 * in a seeded random order.
 *
 * @example
 * ```ts
 * const [trainIdx, testIdx] = kiln.data.stratifiedSplit(labels, [0.8, 0.2], { seed: 0 });
 * const train = new kiln.data.Subset(ds, trainIdx);
 * ```
 */
export function stratifiedSplit(labels: Tensor | ArrayLike<number>, fractions: readonly number[], options: SplitOptions = {}): Int32Array[] {
  const op = 'stratifiedSplit';
  const y = labels instanceof Tensor ? labelsOf(labels, op) : labels;
  const n = y.length;
  const totals = splitCounts(n, fractions, op);
  const s = totals.length;
  const rng = new SeededRandom(seedOf(op, options));

  // Members of each class, shuffled (classes in ascending label order).
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    if (!Number.isInteger(c)) throw new KilnError(`labels must be integers, got ${c} at index ${i}`, { op });
    let members = byClass.get(c);
    if (!members) byClass.set(c, (members = []));
    members.push(i);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b).map((c) => rng.shuffle(byClass.get(c)!));

  // Per-class quotas: floors first, then the remaining units by largest remainder,
  // while respecting both each class's size and each split's total.
  const quota = classes.map((m) => totals.map((t) => (m.length * t) / n));
  const take = quota.map((q) => q.map(Math.floor));
  const need = classes.map((m, c) => m.length - take[c]!.reduce((a, b) => a + b, 0));
  const deficit = totals.map((t, j) => t - take.reduce((a, row) => a + row[j]!, 0));
  const pairs: { c: number; j: number; r: number }[] = [];
  quota.forEach((q, c) => q.forEach((v, j) => pairs.push({ c, j, r: v - Math.floor(v) })));
  pairs.sort((a, b) => b.r - a.r || a.c - b.c || a.j - b.j);
  for (const { c, j } of pairs) {
    if (need[c]! > 0 && deficit[j]! > 0) {
      take[c]![j]!++;
      need[c]!--;
      deficit[j]!--;
    }
  }
  // Rare leftovers (a split owed more units than fractional parts offered).
  for (let c = 0; c < classes.length; c++) {
    for (let j = 0; need[c]! > 0 && j < s; j++) {
      const k = Math.min(need[c]!, deficit[j]!);
      take[c]![j]! += k;
      need[c]! -= k;
      deficit[j]! -= k;
    }
  }

  const out = totals.map((t) => new Int32Array(t));
  const filled = new Array<number>(s).fill(0);
  classes.forEach((members, c) => {
    let start = 0;
    for (let j = 0; j < s; j++) {
      const k = take[c]![j]!;
      out[j]!.set(members.slice(start, start + k), filled[j]!);
      filled[j]! += k;
      start += k;
    }
  });
  for (const idx of out) rng.shuffle(idx);
  return out;
}

/** Train/validation/test subsets. */
export interface TrainValTest<T> {
  train: Subset<T>;
  val: Subset<T>;
  test: Subset<T>;
}

/**
 * Splits a dataset into train, validation and test subsets: select models on `val`,
 * report once on `test`. Sizes are fractions (default 0.1 each) or counts; with
 * `stratify` (the labels) every class keeps its proportions in each subset.
 *
 * @example
 * ```ts
 * const { train, val, test } = kiln.data.trainValTestSplit(ds, { val: 0.1, test: 0.2, seed: 0, stratify: labels });
 * ```
 */
export function trainValTestSplit<T>(
  dataset: Dataset<T>,
  options: SplitOptions & { val?: number; test?: number; stratify?: Tensor | ArrayLike<number> } = {},
): TrainValTest<T> {
  const op = 'trainValTestSplit';
  const n = dataset.length;
  const val = options.val ?? 0.1;
  const test = options.test ?? 0.1;
  const asCount = (v: number, name: string): number => {
    if (!(Number.isFinite(v) && v >= 0)) throw new KilnError(`${name} must be a fraction in [0, 1) or a count, got ${v}`, { op });
    return v < 1 ? v * n : v;
  };
  const vc = asCount(val, 'val');
  const tc = asCount(test, 'test');
  if (vc + tc > n) throw new KilnError(`val (${val}) and test (${test}) leave no room for training in ${n} samples`, { op });
  const raw = [n - vc - tc, vc, tc];
  const sizes = raw.every(Number.isInteger) ? raw : raw.map((v) => v / n);
  const seed = seedOf(op, options);
  if (options.stratify !== undefined) {
    const y = options.stratify instanceof Tensor ? labelsOf(options.stratify, op) : options.stratify;
    if (y.length !== n) throw new KilnError(`stratify has ${y.length} labels for ${n} samples`, { op });
    const [a, b, c] = stratifiedSplit(y, sizes, { seed });
    return { train: new Subset(dataset, a!), val: new Subset(dataset, b!), test: new Subset(dataset, c!) };
  }
  const [a, b, c] = randomSplit(dataset, sizes, { seed });
  return { train: a!, val: b!, test: c! };
}

function seedOf(op: string, options: SplitOptions): number {
  if (options.seed === undefined) return drawSeed();
  checkSeed(op, options.seed);
  return options.seed;
}

function labelsOf(t: Tensor, op: string): ArrayLike<number> {
  if (t.rank !== 1) throw new KilnError(`labels must be a 1-D tensor, got shape [${t.shape.join(', ')}]`, { op });
  return t.dataSync();
}
