import { arrayFor, bytesPerElement, type DType, type TypedArray } from '../../ir/index.js';
import { adaptArrayKernel, arrayKernels } from '../arrayKernels.js';
import type { Backend, Kernel, Storage } from '../backend.js';
import { nativeKernels } from './nativeKernels.js';
import type { WasmModule } from './wasmModule.js';
import '../reference/kernels/index.js';
import './kernels/index.js';

/** A tensor's elements on the wasm heap, registered with tfjs-backend-wasm under `id`. */
export interface WasmStorage extends Storage {
  readonly ptr: number;
  readonly id: number;
}

/**
 * Backend on tfjs-backend-wasm's XNNPACK kernels, called directly on Kiln-owned heap
 * buffers. Ops without a native kernel run their portable kernel on heap views.
 */
export class WasmBackend implements Backend<WasmStorage> {
  readonly name = 'wasm' as const;
  readonly supportsFloat64 = false;
  readonly kernels = new Map<string, Kernel<WasmStorage>>();
  private nextId = 1;
  private live = 0;
  /** 8 slots of 16 int32s for shape/axis arguments, allocated once. */
  private readonly scratch: number;

  constructor(readonly module: WasmModule) {
    this.scratch = module._malloc(8 * 64);
    for (const [name, k] of arrayKernels) this.kernels.set(name, adaptArrayKernel(this, k, (s) => this.view(s), true));
    for (const [name, make] of nativeKernels) this.kernels.set(name, make(this, name));
  }

  /** The heap's current memory (it can grow: never cache its buffer across allocations). */
  get memory(): WebAssembly.Memory {
    return this.module.asm.memory;
  }

  alloc(dtype: DType, size: number): WasmStorage {
    const bytes = size * bytesPerElement(dtype);
    // malloc(0) may return 0; keep every storage a distinct allocation.
    const ptr = this.module._malloc(bytes > 0 ? bytes : 4);
    const id = this.nextId++;
    this.module._register_tensor(id, size, ptr);
    this.live += bytes;
    return { dtype, size, refs: 1, version: 0, ptr, id };
  }

  free(s: WasmStorage): void {
    this.module._dispose_data(s.id);
    this.module._free(s.ptr);
    this.live -= s.size * bytesPerElement(s.dtype);
  }

  /** A typed-array view of the storage on the heap as it is now. */
  view(s: WasmStorage): TypedArray {
    const buf = this.module.asm.memory.buffer;
    switch (s.dtype) {
      case 'float32': return new Float32Array(buf, s.ptr, s.size);
      case 'int32': return new Int32Array(buf, s.ptr, s.size);
      case 'bool': return new Uint8Array(buf, s.ptr, s.size);
      case 'float64': throw new Error('float64 storage on the wasm backend');
    }
  }

  read(s: WasmStorage): TypedArray {
    const out = arrayFor(s.dtype, s.size);
    out.set(this.view(s));
    return out;
  }

  write(s: WasmStorage, data: TypedArray): void {
    this.view(s).set(data);
    this.invalidate(s);
  }

  fill(s: WasmStorage, value: number): void {
    this.view(s).fill(s.dtype === 'bool' ? (value ? 1 : 0) : value);
    this.invalidate(s);
  }

  copy(src: WasmStorage, dst: WasmStorage): void {
    const bytes = src.size * bytesPerElement(src.dtype);
    new Uint8Array(this.module.asm.memory.buffer).copyWithin(dst.ptr, src.ptr, src.ptr + bytes);
    this.invalidate(dst);
  }

  /**
   * XNNPACK caches packed matmul/conv weights keyed by tensor id alone: after an
   * in-place write, re-register the id so the next kernel packs the new values.
   */
  private invalidate(s: WasmStorage): void {
    s.version++;
    this.module._dispose_data(s.id);
    this.module._register_tensor(s.id, s.size, s.ptr);
  }

  liveBytes(): number {
    return this.live;
  }

  /** Writes a shape into a scratch int32 array on the heap; returns its pointer. */
  shapePtr(shape: readonly number[], slot: number): number {
    const base = this.scratch + slot * 64;
    const view = new Int32Array(this.module.asm.memory.buffer, base, shape.length);
    for (let i = 0; i < shape.length; i++) view[i] = shape[i]!;
    return base;
  }

}
