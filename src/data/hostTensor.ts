// Host (JS typed-array) round trips for data work. Data preparation is copying, not
// arithmetic, so it happens on typed arrays and each result becomes one fresh tensor.
import { KilnError, tensor, type BackendName, type DType, type Tensor, type TypedArray } from '../eager/index.js';

/** A new tensor holding `data` (row-major) with the given shape, dtype and backend. */
export function fromHost(data: TypedArray, shape: readonly number[], dtype: DType, backend?: BackendName): Tensor {
  return tensor(data, { shape, dtype, ...(backend ? { backend } : {}) });
}

/** A zeroed typed array of the same kind as `like`. */
export function allocLike(like: TypedArray, size: number): TypedArray {
  const Ctor = like.constructor as new (n: number) => TypedArray;
  return new Ctor(size);
}

/** Elements per row along axis 0 (the product of the other dimensions). */
export function rowSize(shape: readonly number[]): number {
  let n = 1;
  for (let i = 1; i < shape.length; i++) n *= shape[i]!;
  return n;
}

/** Throws unless `x` is an image batch `[N, C, H, W]` of a floating dtype. */
export function checkImageBatch(op: string, x: Tensor): void {
  if (x.rank !== 4) throw new KilnError(`expected an NCHW image batch [N, C, H, W], got shape [${x.shape.join(', ')}]`, { op });
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new KilnError(`expected float32 or float64 images, got ${x.dtype}`, { op });
}
