import { arrayFor, type DType, type TypedArray } from '../../ir/index.js';
import type { Backend, Kernel } from '../backend.js';
import { adaptArrayKernel, arrayKernels, newArrayStorage, storageBytes, type ArrayStorage } from '../arrayKernels.js';
import './kernels/index.js';

/** Plain-TypeScript backend: every op, float32 and float64. The semantic truth. */
export class ReferenceBackend implements Backend<ArrayStorage> {
  readonly name = 'reference' as const;
  readonly supportsFloat64 = true;
  readonly kernels = new Map<string, Kernel<ArrayStorage>>();
  private live = 0;

  constructor() {
    for (const [name, k] of arrayKernels) this.kernels.set(name, adaptArrayKernel(this, k, (s) => s.data));
  }

  alloc(dtype: DType, size: number): ArrayStorage {
    const s = newArrayStorage(dtype, size);
    this.live += storageBytes(s);
    return s;
  }

  free(storage: ArrayStorage): void {
    this.live -= storageBytes(storage);
  }

  read(storage: ArrayStorage): TypedArray {
    const out = arrayFor(storage.dtype, storage.size);
    out.set(storage.data);
    return out;
  }

  write(storage: ArrayStorage, data: TypedArray): void {
    storage.data.set(data);
    storage.version++;
  }

  fill(storage: ArrayStorage, value: number): void {
    storage.data.fill(storage.dtype === 'bool' ? (value ? 1 : 0) : value);
    storage.version++;
  }

  copy(src: ArrayStorage, dst: ArrayStorage): void {
    dst.data.set(src.data);
    dst.version++;
  }

  liveBytes(): number {
    return this.live;
  }
}
