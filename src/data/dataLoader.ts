import { KilnError, scope, Tensor } from '../eager/index.js';
import { defaultCollate } from './collate.js';
import type { Collated, Dataset } from './dataset.js';
import { checkSeed, drawSeed, SeededRandom } from './random.js';

/** Options of a `DataLoader`. */
export interface DataLoaderOptions<T, B> {
  /** Samples per batch. Default 1 (as PyTorch). */
  batchSize?: number;
  /** Visit samples in a new random order each epoch. Default false. */
  shuffle?: boolean;
  /**
   * Seed of the shuffling: epoch `e` uses the permutation derived from `(seed, e)`, so
   * a run is reproducible. Default: drawn from Kiln's global generator
   * (`kiln.manualSeed`) at the first epoch.
   */
  seed?: number;
  /** Skip the last batch when it is smaller than `batchSize`. Default false. */
  dropLast?: boolean;
  /**
   * Dispose the tensors of each batch when the next one is requested (or the epoch
   * ends), unless they were marked with `keep()`. Default false: batches belong to the
   * caller, like any tensor it creates (and an enclosing `kiln.scope` frees them).
   */
  autoDispose?: boolean;
  /** Builds a batch from samples; default `defaultCollate` (or the dataset's own `getBatch`). */
  collate?: (samples: T[]) => B;
}

/**
 * Iterates over a dataset in mini-batches (PyTorch's `DataLoader`). Each
 * `for … of` is one epoch; with `shuffle`, every epoch has its own permutation,
 * determined by the seed and the epoch number. A `TensorDataset` (or a `Subset` of
 * one) is batched by copying rows into one tensor per field; other datasets are
 * collated sample by sample.
 *
 * @example
 * ```ts
 * const loader = new kiln.data.DataLoader(new kiln.data.TensorDataset(x, y), { batchSize: 64, shuffle: true, seed: 0 });
 * for (let epoch = 0; epoch < 3; epoch++) {
 *   for (const [xb, yb] of loader) {
 *     kiln.scope(() => { step(xb, yb); });
 *     xb.dispose(); yb.dispose();   // or use { autoDispose: true }
 *   }
 * }
 * console.log(loader.length); // batches per epoch
 * ```
 */
export class DataLoader<T, B = Collated<T>> implements Iterable<B> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly autoDispose: boolean;
  private seedValue: number | undefined;
  private nextEpoch = 0;
  private readonly collate: ((samples: T[]) => B) | undefined;

  constructor(readonly dataset: Dataset<T>, options: DataLoaderOptions<T, B> = {}) {
    const bs = options.batchSize ?? 1;
    if (!Number.isInteger(bs) || bs < 1) throw new KilnError(`batchSize must be a positive integer, got ${bs}`, { op: 'DataLoader' });
    if (options.seed !== undefined) checkSeed('DataLoader', options.seed);
    this.batchSize = bs;
    this.shuffle = options.shuffle ?? false;
    this.dropLast = options.dropLast ?? false;
    this.autoDispose = options.autoDispose ?? false;
    this.seedValue = options.seed;
    this.collate = options.collate;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The epoch the next iteration will run (0 for the first). */
  get epoch(): number {
    return this.nextEpoch;
  }

  /** Sets the epoch the next iteration runs, e.g. to resume a run with the same orders. */
  setEpoch(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw new KilnError(`epoch must be a non-negative integer, got ${epoch}`, { op: 'DataLoader.setEpoch' });
    this.nextEpoch = epoch;
  }

  /** The seed in use (drawn from the global generator at the first epoch if none was given). */
  get seed(): number {
    this.seedValue ??= drawSeed();
    return this.seedValue;
  }

  /** The order in which epoch `epoch` visits the samples. */
  order(epoch: number): Int32Array {
    const n = this.dataset.length;
    if (!this.shuffle) {
      const idx = new Int32Array(n);
      for (let i = 0; i < n; i++) idx[i] = i;
      return idx;
    }
    return new SeededRandom(this.seed, epoch).permutation(n);
  }

  [Symbol.iterator](): Iterator<B> {
    const epoch = this.nextEpoch++;
    return this.batches(this.order(epoch));
  }

  private *batches(order: Int32Array): Generator<B, void, undefined> {
    const n = order.length;
    const count = this.length;
    let previous: B | undefined;
    for (let b = 0; b < count; b++) {
      if (previous !== undefined && this.autoDispose) disposeBatch(previous);
      const indices = order.subarray(b * this.batchSize, Math.min(n, (b + 1) * this.batchSize));
      previous = this.makeBatch(indices);
      yield previous;
    }
    // After a `break` the generator never gets here: the caller keeps the last batch.
    if (previous !== undefined && this.autoDispose) disposeBatch(previous);
  }

  private makeBatch(indices: Int32Array): B {
    const ds = this.dataset;
    if (!this.collate && ds.getBatch) return ds.getBatch(indices) as unknown as B;
    // Per-sample tensors that dataset.get creates are freed here; only the batch leaves.
    return scope(() => {
      const samples: T[] = [];
      for (let i = 0; i < indices.length; i++) samples.push(ds.get(indices[i]!));
      return this.collate ? this.collate(samples) : (defaultCollate(samples) as unknown as B);
    });
  }
}

function disposeBatch(batch: unknown, depth = 0): void {
  if (depth > 8 || batch === null || typeof batch !== 'object') return;
  if (batch instanceof Tensor) {
    if (!batch.keepAlive) batch.dispose();
  } else if (Array.isArray(batch)) {
    for (const v of batch) disposeBatch(v, depth + 1);
  } else if (Object.getPrototypeOf(batch) === Object.prototype) {
    for (const v of Object.values(batch)) disposeBatch(v, depth + 1);
  }
}
