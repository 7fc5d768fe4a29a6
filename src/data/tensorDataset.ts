import { KilnError, type BackendName, type DType, type Tensor, type TypedArray } from '../eager/index.js';
import { checkIndex, type Collated, type Dataset } from './dataset.js';
import { allocLike, fromHost, rowSize } from './hostTensor.js';

interface HostCopy {
  readonly data: TypedArray;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly backend: BackendName;
  readonly row: number;
}

/**
 * Samples are rows (along axis 0) of one or more tensors with the same first
 * dimension, e.g. images and labels (PyTorch's `TensorDataset`).
 *
 * The elements are copied to host memory once, when the dataset is created (so the
 * tensors may be disposed afterwards); a batch is gathered by copying whole rows into
 * one fresh tensor per field, on the tensors' backend and in their dtype.
 *
 * @example
 * ```ts
 * const ds = new kiln.data.TensorDataset(images, labels); // [N, 1, 28, 28], [N]
 * const [x0, y0] = ds.get(0);                              // [1, 28, 28], []
 * const [xb, yb] = ds.getBatch([0, 5, 7]);                 // [3, 1, 28, 28], [3]
 * ```
 */
export class TensorDataset<T extends readonly Tensor[] = [Tensor, Tensor]> implements Dataset<T> {
  readonly length: number;
  private readonly fields: HostCopy[];

  constructor(...tensors: T) {
    if (tensors.length === 0) throw new KilnError('needs at least one tensor', { op: 'TensorDataset' });
    const n = tensors[0]!.shape[0];
    this.fields = tensors.map((t, k) => {
      if (t.rank === 0) throw new KilnError(`tensor ${k} is a scalar; samples are rows along axis 0`, { op: 'TensorDataset' });
      if (t.shape[0] !== n) {
        throw new KilnError(
          `all tensors need the same size along axis 0, got ${tensors.map((u) => `[${u.shape.join(', ')}]`).join(', ')}`,
          { op: 'TensorDataset' },
        );
      }
      return { data: t.dataSync(), shape: [...t.shape], dtype: t.dtype, backend: t.backend.name, row: rowSize(t.shape) };
    });
    this.length = n!;
  }

  /** Shapes of the fields, including the leading sample dimension. */
  get shapes(): number[][] {
    return this.fields.map((f) => [...f.shape]);
  }

  /** Sample `index`: one tensor per field, without the leading dimension. */
  get(index: number): T {
    checkIndex('TensorDataset.get', index, this.length);
    const out = this.fields.map((f) => fromHost(f.data.slice(index * f.row, (index + 1) * f.row), f.shape.slice(1), f.dtype, f.backend));
    return out as unknown as T;
  }

  /** The samples at `indices` stacked along a new axis 0: one fresh tensor per field. */
  getBatch(indices: ArrayLike<number>): Collated<T> {
    const b = indices.length;
    for (let i = 0; i < b; i++) checkIndex('TensorDataset.getBatch', indices[i]!, this.length);
    const out = this.fields.map((f) => {
      const dst = allocLike(f.data, b * f.row);
      const r = f.row;
      if (r === 1) {
        for (let i = 0; i < b; i++) dst[i] = f.data[indices[i]!]!;
      } else {
        for (let i = 0; i < b; i++) {
          const j = indices[i]!;
          dst.set(f.data.subarray(j * r, j * r + r), i * r);
        }
      }
      return fromHost(dst, [b, ...f.shape.slice(1)], f.dtype, f.backend);
    });
    return out as unknown as Collated<T>;
  }
}
