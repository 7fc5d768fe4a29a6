import { arrayFor, type DType, type TypedArray } from '../../ir/index.js';
import { isAllocationFailure, KernelAllocations, outOfMemory, type Backend, type Kernel } from '../backend.js';
import { adaptArrayKernel, arrayKernels, newArrayStorage, referenceKernels, storageBytes, type ArrayStorage } from '../arrayKernels.js';
import './kernels/index.js';

/** Plain-TypeScript backend: every op, float32 and float64. The semantic truth. */
export class ReferenceBackend implements Backend<ArrayStorage> {
  readonly name = 'reference' as const;
  readonly supportsFloat64 = true;
  readonly kernels = new Map<string, Kernel<ArrayStorage>>();
  private live = 0;
  private storages = 0;
  private readonly inflight = new KernelAllocations<ArrayStorage>((s) => this.free(s));

  constructor() {
    // Guarded: a kernel that throws frees what it allocated (see KernelAllocations).
    for (const [name, k] of [...arrayKernels, ...referenceKernels]) this.kernels.set(name, this.inflight.guard(adaptArrayKernel(this, k, (s) => s.data)));
  }

  alloc(dtype: DType, size: number): ArrayStorage {
    let s: ArrayStorage;
    try {
      s = newArrayStorage(dtype, size);
    } catch (e) {
      // Past the engine's typed-array length limit, or no memory for the buffer.
      if (isAllocationFailure(e)) throw outOfMemory('reference', dtype, size, `a JavaScript typed array of that size cannot be created: ${e.message}`, { bytes: this.live, storages: this.storages });
      throw e;
    }
    this.live += storageBytes(s);
    this.storages++;
    this.inflight.note(s);
    return s;
  }

  free(storage: ArrayStorage): void {
    storage.refs = 0;
    this.live -= storageBytes(storage);
    this.storages--;
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
