import { KilnError, noGrad, scope, type Tensor } from '../eager/index.js';
import { fromHost } from './hostTensor.js';

/** Options of a `Standardizer`. */
export interface StandardizerOptions {
  /**
   * Axes the statistics pool over. Default `[0]`: one mean and std per feature (every
   * position of a sample). Axis 0 (samples) must be among them.
   */
  axes?: readonly number[];
  /** For NCHW images: pool over N, H and W, i.e. one mean and std per channel. */
  perChannel?: boolean;
  /**
   * Features whose standard deviation is at most `eps` (e.g. always-black border
   * pixels) are only centred, not divided, so they cannot blow up on new data.
   * Default 1e-8.
   */
  eps?: number;
}

/** A fitted standardizer's state, as plain JSON. */
export interface StandardizerState {
  shape: number[];
  mean: number[];
  scale: number[];
  eps: number;
}

/**
 * Input normalization by the training set's mean and standard deviation:
 * `(x − mean) / std`. `fit` on the training split only, then `transform` every split
 * with those statistics (the validation and test sets must not leak into them).
 * Statistics are population (biased) standard deviations, accumulated in float64.
 *
 * @example
 * ```ts
 * const norm = new kiln.data.Standardizer({ perChannel: true }).fit(trainImages);
 * const trainX = norm.transform(trainImages);
 * const testX = norm.transform(testImages); // with the training statistics
 * ```
 */
export class Standardizer {
  readonly eps: number;
  private readonly axesOption: readonly number[] | undefined;
  private readonly perChannel: boolean;
  /** Shape of the statistics (reduced axes kept as 1), e.g. `[1, 784]` or `[1, 1, 1, 1]`. */
  statShape: number[] | null = null;
  /** Per-feature means of the training data (float64, row-major over `statShape`). */
  mean: Float64Array | null = null;
  /** Per-feature population standard deviations of the training data. */
  std: Float64Array | null = null;
  /** What `transform` divides by: `std`, or 1 where `std ≤ eps`. */
  scale: Float64Array | null = null;

  constructor(options: StandardizerOptions = {}) {
    this.eps = options.eps ?? 1e-8;
    if (!(this.eps >= 0)) throw new KilnError(`eps must be non-negative, got ${this.eps}`, { op: 'Standardizer' });
    if (options.axes && options.perChannel) throw new KilnError('pass either axes or perChannel, not both', { op: 'Standardizer' });
    this.axesOption = options.axes;
    this.perChannel = options.perChannel ?? false;
  }

  /** Whether `fit` has run. */
  get fitted(): boolean {
    return this.statShape !== null;
  }

  /** Computes mean and std of `x` (the training data) and returns `this`. */
  fit(x: Tensor): this {
    const op = 'Standardizer.fit';
    checkFloat(op, x);
    const axes = this.resolveAxes(op, x);
    if (x.shape[0] === 0) throw new KilnError('cannot fit on an empty tensor', { op });
    const statShape = x.shape.map((d, i) => (axes.has(i) ? 1 : d));
    const k = statShape.reduce((a, b) => a * b, 1);
    const data = x.dataSync();
    const index = statIndexer(x.shape, statShape);
    const count = data.length / k;
    const mean = new Float64Array(k);
    index((i, s) => (mean[s] += data[i]!));
    for (let s = 0; s < k; s++) mean[s]! /= count;
    const sq = new Float64Array(k);
    index((i, s) => {
      const d = data[i]! - mean[s]!;
      sq[s] += d * d;
    });
    const std = sq.map((v) => Math.sqrt(v / count));
    this.statShape = statShape;
    this.mean = mean;
    this.std = std;
    this.scale = std.map((v) => (v > this.eps ? v : 1));
    return this;
  }

  /** `(x − mean) / std` with the fitted statistics, as a new tensor (dtype and backend of `x`). */
  transform(x: Tensor): Tensor {
    const { mean, inv } = this.statsFor('Standardizer.transform', x);
    return apply(x, () => x.sub(mean()).mul(inv()));
  }

  /** `fit(x)` then `transform(x)`. */
  fitTransform(x: Tensor): Tensor {
    return this.fit(x).transform(x);
  }

  /** Undoes `transform`: `x · std + mean`. */
  inverseTransform(x: Tensor): Tensor {
    const { mean, scale } = this.statsFor('Standardizer.inverseTransform', x);
    return apply(x, () => x.mul(scale()).add(mean()));
  }

  /** The fitted statistics as plain JSON (to save next to a model checkpoint). */
  toJSON(): StandardizerState {
    if (!this.statShape || !this.mean || !this.scale) throw new KilnError('not fitted yet: call fit(trainX) first', { op: 'Standardizer.toJSON' });
    return { shape: [...this.statShape], mean: [...this.mean], scale: [...this.scale], eps: this.eps };
  }

  /** A fitted standardizer from `toJSON()` output. */
  static fromJSON(state: StandardizerState): Standardizer {
    const s = new Standardizer({ eps: state.eps });
    const k = state.shape.reduce((a, b) => a * b, 1);
    if (state.mean.length !== k || state.scale.length !== k) throw new KilnError(`state holds ${state.mean.length} means and ${state.scale.length} scales for shape [${state.shape.join(', ')}]`, { op: 'Standardizer.fromJSON' });
    s.statShape = [...state.shape];
    s.mean = Float64Array.from(state.mean);
    s.scale = Float64Array.from(state.scale);
    s.std = Float64Array.from(state.scale);
    return s;
  }

  private resolveAxes(op: string, x: Tensor): Set<number> {
    if (this.perChannel) {
      if (x.rank < 2) throw new KilnError(`perChannel needs [N, C, ...] data, got shape [${x.shape.join(', ')}]`, { op });
      return new Set(x.shape.map((_, i) => i).filter((i) => i !== 1));
    }
    const axes = (this.axesOption ?? [0]).map((a) => (a < 0 ? a + x.rank : a));
    for (const a of axes) if (!Number.isInteger(a) || a < 0 || a >= x.rank) throw new KilnError(`axis ${a} is out of range for shape [${x.shape.join(', ')}]`, { op });
    if (!axes.includes(0)) throw new KilnError('axes must include 0 (the sample axis): statistics are taken across samples', { op });
    return new Set(axes);
  }

  private statsFor(op: string, x: Tensor): { mean: () => Tensor; inv: () => Tensor; scale: () => Tensor } {
    const { statShape, mean, scale } = this;
    if (!statShape || !mean || !scale) throw new KilnError('not fitted yet: call fit(trainX) on the training split first', { op });
    checkFloat(op, x);
    const ok = x.rank === statShape.length && statShape.every((d, i) => d === 1 || d === x.shape[i]);
    if (!ok) throw new KilnError(`fitted on samples of shape [${statShape.join(', ')}] (1 = pooled axis), got [${x.shape.join(', ')}]`, { op });
    const make = (v: Float64Array) => () => fromHost(x.dtype === 'float64' ? v : Float32Array.from(v), statShape, x.dtype, x.backend.name);
    return { mean: make(mean), scale: make(scale), inv: make(scale.map((v) => 1 / v)) };
  }
}

/**
 * Fits a `Standardizer` on `train` only and applies it to every given split.
 *
 * @example
 * ```ts
 * const { train, test, standardizer } = kiln.data.standardize({ train: trainX, test: testX }, { perChannel: true });
 * ```
 */
export function standardize<S extends { train: Tensor; val?: Tensor; test?: Tensor }>(
  splits: S,
  options: StandardizerOptions = {},
): { [K in keyof S]: Tensor } & { standardizer: Standardizer } {
  const standardizer = new Standardizer(options).fit(splits.train);
  const out: Record<string, Tensor | Standardizer> = { standardizer };
  for (const [k, v] of Object.entries(splits)) if (v !== undefined) out[k] = standardizer.transform(v as Tensor);
  return out as { [K in keyof S]: Tensor } & { standardizer: Standardizer };
}

function checkFloat(op: string, x: Tensor): void {
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new KilnError(`expected float32 or float64 data, got ${x.dtype} (cast it first)`, { op });
  if (x.rank === 0) throw new KilnError('expected a batch [N, ...], got a scalar', { op });
}

// Data that needs no gradient is transformed in a scope, so the constants and the
// intermediate are freed at once; with requiresGrad the backward pass needs them.
function apply(x: Tensor, f: () => Tensor): Tensor {
  return x.requiresGrad ? f() : scope(() => noGrad(f));
}

/** Calls `visit(flatIndex, statIndex)` for every element of `shape`, row-major. */
function statIndexer(shape: readonly number[], statShape: readonly number[]): (visit: (i: number, s: number) => void) => void {
  const rank = shape.length;
  const statStride = new Array<number>(rank);
  let acc = 1;
  for (let a = rank - 1; a >= 0; a--) {
    statStride[a] = statShape[a] === 1 ? 0 : acc;
    acc *= statShape[a]!;
  }
  const size = shape.reduce((a, b) => a * b, 1);
  // The last axis is the inner loop; an odometer carries the outer coordinates.
  const inner = rank === 0 ? 1 : shape[rank - 1]!;
  const innerStride = rank === 0 ? 0 : statStride[rank - 1]!;
  return (visit) => {
    const coord = new Array<number>(rank).fill(0);
    let base = 0;
    for (let i = 0; i < size; i += inner) {
      for (let j = 0, s = base; j < inner; j++, s += innerStride) visit(i + j, s);
      for (let a = rank - 2; a >= 0; a--) {
        coord[a]!++;
        base += statStride[a]!;
        if (coord[a]! < shape[a]!) break;
        base -= statStride[a]! * shape[a]!;
        coord[a] = 0;
      }
    }
  };
}
