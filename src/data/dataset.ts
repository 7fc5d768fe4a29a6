import { KilnError, type Tensor } from '../eager/index.js';

/**
 * What a batch of samples of type `T` looks like after collation: tensors gain a
 * leading batch dimension, numbers become a float32 tensor `[B]`, and arrays/tuples and
 * plain objects are collated field by field.
 */
export type Collated<T> = T extends Tensor
  ? Tensor
  : T extends number
    ? Tensor
    : T extends readonly unknown[]
      ? { -readonly [K in keyof T]: Collated<T[K]> }
      : T extends object
        ? { [K in keyof T]: Collated<T[K]> }
        : never;

/**
 * A finite, indexable collection of samples (PyTorch's map-style `Dataset`).
 * `getBatch`, when present, returns many samples already collated, so a `DataLoader`
 * can skip building one tensor per sample.
 *
 * @example
 * ```ts
 * const squares: kiln.data.Dataset<number> = { length: 100, get: (i) => i * i };
 * for (const xb of new kiln.data.DataLoader(squares, { batchSize: 10 })) console.log(xb.shape); // [10]
 * ```
 */
export interface Dataset<T> {
  readonly length: number;
  get(index: number): T;
  getBatch?(indices: ArrayLike<number>): Collated<T>;
}

/** Throws unless `index` is an integer in `[0, length)`. */
export function checkIndex(op: string, index: number, length: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new KilnError(`index ${index} is out of range for a dataset of length ${length}`, { op });
  }
}

/**
 * The samples of `dataset` at `indices`, in that order (PyTorch's `Subset`). Batched
 * access passes through to the parent, so a subset of a `TensorDataset` batches fast.
 *
 * @example
 * ```ts
 * const ds = new kiln.data.TensorDataset(x, y);
 * const firstHundred = new kiln.data.Subset(ds, Array.from({ length: 100 }, (_, i) => i));
 * ```
 */
export class Subset<T> implements Dataset<T> {
  readonly indices: Int32Array;
  readonly getBatch?: (indices: ArrayLike<number>) => Collated<T>;

  constructor(readonly dataset: Dataset<T>, indices: ArrayLike<number>) {
    this.indices = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      checkIndex('Subset', indices[i]!, dataset.length);
      this.indices[i] = indices[i]!;
    }
    const parentBatch = dataset.getBatch?.bind(dataset);
    if (parentBatch) {
      this.getBatch = (batch) => {
        const mapped = new Int32Array(batch.length);
        for (let i = 0; i < batch.length; i++) {
          const j = batch[i]!;
          checkIndex('Subset.getBatch', j, this.indices.length);
          mapped[i] = this.indices[j]!;
        }
        return parentBatch(mapped);
      };
    }
  }

  get length(): number {
    return this.indices.length;
  }

  get(index: number): T {
    checkIndex('Subset.get', index, this.indices.length);
    return this.dataset.get(this.indices[index]!);
  }
}
