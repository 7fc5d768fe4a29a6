import { arrayFor, bytesPerElement, KilnError, type DType, type TypedArray } from '../../ir/index.js';
import { isAllocationFailure, KernelAllocations, outOfMemory, type Arena, type Backend, type Kernel } from '../backend.js';
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
    if (arenaViews.has(storage)) return; // the arena's
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

  allocArena(bytes: number): ReferenceArena {
    try {
      return { bytes, buffer: new ArrayBuffer(bytes) };
    } catch (e) {
      if (isAllocationFailure(e)) throw outOfMemory('reference', 'bool', bytes, `an ArrayBuffer of that size cannot be created: ${e.message}`, { bytes: this.live, storages: this.storages });
      throw e;
    }
  }

  arenaView(arena: ReferenceArena, byteOffset: number, dtype: DType, size: number): ArrayStorage {
    if (byteOffset < 0 || byteOffset % bytesPerElement(dtype) !== 0 || byteOffset + size * bytesPerElement(dtype) > arena.bytes) {
      throw new KilnError(`arena view of ${size} ${dtype} elements at byte ${byteOffset} does not fit an arena of ${arena.bytes} bytes`);
    }
    const s: ArrayStorage = { dtype, size, refs: 1, version: 0, data: viewOf(arena.buffer, byteOffset, dtype, size) };
    arenaViews.add(s);
    return s;
  }

  freeArenaView(view: ArrayStorage): void {
    view.refs = 0;
  }

  freeArena(_arena: ReferenceArena): void {
    // Garbage-collected with its last view.
  }
}

/** An execution plan's arena as one ArrayBuffer. */
interface ReferenceArena extends Arena {
  readonly buffer: ArrayBuffer;
}

/** Storages that view an arena (their `free` is a no-op). */
const arenaViews = new WeakSet<ArrayStorage>();

function viewOf(buffer: ArrayBuffer, offset: number, dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, offset, size);
    case 'float64': return new Float64Array(buffer, offset, size);
    case 'int32': return new Int32Array(buffer, offset, size);
    case 'bool': return new Uint8Array(buffer, offset, size);
  }
}
