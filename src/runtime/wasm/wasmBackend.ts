import { arrayFor, bytesPerElement, KilnError, type DType, type TypedArray } from '../../ir/index.js';
import { adaptArrayKernel, arrayKernels } from '../arrayKernels.js';
import { formatBytes, KernelAllocations, outOfMemory, type Arena, type Backend, type Kernel, type Storage } from '../backend.js';
import { nativeKernels } from './nativeKernels.js';
import type { WasmModule } from './wasmModule.js';
import '../reference/kernels/index.js';
import './kernels/index.js';

/**
 * The most bytes tfjs-backend-wasm's heap grows to (65535 wasm pages, its Emscripten
 * `getHeapMax()` in both builds): no allocation of more can succeed.
 */
export const WASM_HEAP_MAX_BYTES = 4294901760;

/**
 * The top of the heap Kiln's own buffers never take: tfjs-backend-wasm and XNNPACK
 * allocate there (tensor records, packed weights, operator workspaces). Without it a full
 * heap leaves a kernel unable to create its operator; it then returns garbage (caught by
 * `checkNative`) or, in C++ `new`, aborts the whole module.
 */
export const NATIVE_RESERVE_BYTES = 64 * 1024 * 1024;

/** A tensor's elements on the wasm heap, registered with tfjs-backend-wasm under `id`. */
export interface WasmStorage extends Storage {
  /**
   * Byte offset on the heap, unsigned: the heap reaches 4 GiB, so offsets from 2 GiB on
   * are negative as int32. Element offsets are `ptr >>> 2` (never `>> 2`).
   */
  readonly ptr: number;
  readonly id: number;
}

/** An execution plan's arena on the heap: one `_malloc` block (see `Backend.allocArena`). */
export interface WasmArena extends Arena {
  readonly ptr: number;
}

/**
 * A buffer on the heap (what `alloc` returns). Its tensor id is registered with
 * tfjs-backend-wasm only when read: kernels read `id` only to hand the tensor to a native
 * kernel, and Kiln's generated kernels address it by `ptr` alone, so a storage they alone
 * touch never pays the two wasm calls (registering, forgetting). XNNPACK caches operators
 * (packed matmul B, conv filters, biases) by id alone, so an id read after a write
 * (`version` bumped: by `write`/`fill`/`copy`, in-place kernels, a plan before each write
 * into an arena view) is registered again, dropping them.
 */
class HeapStorage implements WasmStorage {
  refs = 1;
  version = 0;
  /** The `version` the id was registered at; -1: not registered. */
  private registered = -1;

  constructor(private readonly module: WasmModule, readonly dtype: DType, readonly size: number, readonly ptr: number, private readonly tensorId: number) {}

  get id(): number {
    if (this.registered !== this.version) {
      if (this.registered >= 0) this.module._dispose_data(this.tensorId);
      this.module._register_tensor(this.tensorId, this.size, this.ptr);
      this.registered = this.version;
    }
    return this.tensorId;
  }

  /** Forgets the id (the storage is freed, or the view not used again). */
  release(): void {
    if (this.registered >= 0) this.module._dispose_data(this.tensorId);
    this.registered = -1;
    this.refs = 0;
  }
}

/** A storage over part of an arena (`Backend.arenaView`): freed with the arena, not by `free`. */
export class ArenaView extends HeapStorage {}

/**
 * Backend on tfjs-backend-wasm's XNNPACK kernels, called directly on Kiln-owned heap
 * buffers. Ops without a native kernel run their portable kernel on heap views.
 */
/** Typed views of the whole wasm heap (`WasmBackend.heap`). */
export interface HeapViews {
  readonly f32: Float32Array;
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
}

export class WasmBackend implements Backend<WasmStorage> {
  readonly name = 'wasm' as const;
  readonly supportsFloat64 = false;
  readonly kernels = new Map<string, Kernel<WasmStorage>>();
  private nextId = 1;
  private live = 0;
  private storages = 0;
  private readonly inflight = new KernelAllocations<WasmStorage>((s) => this.free(s));
  /** 8 slots of 16 int32s for shape/axis arguments, allocated once. */
  private readonly scratch: number;

  constructor(readonly module: WasmModule) {
    this.scratch = this.malloc('int32', 8 * 16);
    // Guarded: a kernel that throws frees what it allocated (see KernelAllocations).
    const check = () => this.checkNative();
    for (const [name, k] of arrayKernels) this.kernels.set(name, this.inflight.guard(adaptArrayKernel(this, k, (s) => this.view(s), true)));
    for (const [name, make] of nativeKernels) this.kernels.set(name, this.inflight.guard(make(this, name), check));
  }

  /** The heap's current memory (it can grow: never cache its buffer across allocations). */
  get memory(): WebAssembly.Memory {
    return this.module.asm.memory;
  }

  alloc(dtype: DType, size: number): WasmStorage {
    const bytes = size * bytesPerElement(dtype);
    const ptr = this.malloc(dtype, size);
    this.live += bytes;
    this.storages++;
    const s = new HeapStorage(this.module, dtype, size, ptr, this.nextId++);
    this.inflight.note(s);
    return s;
  }

  free(s: WasmStorage): void {
    if (s instanceof ArenaView) return; // the arena's: freed with it
    (s as HeapStorage).release();
    this.freeBlock(s.ptr);
    this.live -= s.size * bytesPerElement(s.dtype);
    this.storages--;
  }

  allocArena(bytes: number): WasmArena {
    return { bytes, ptr: this.malloc('bool', bytes) };
  }

  arenaView(arena: WasmArena, byteOffset: number, dtype: DType, size: number): ArenaView {
    if (byteOffset < 0 || byteOffset % bytesPerElement(dtype) !== 0 || byteOffset + size * bytesPerElement(dtype) > arena.bytes) {
      throw new KilnError(`arena view of ${size} ${dtype} elements at byte ${byteOffset} does not fit an arena of ${arena.bytes} bytes`);
    }
    return new ArenaView(this.module, dtype, size, arena.ptr + byteOffset, this.nextId++);
  }

  /** Forgets a view's tensor id (its arena stays). */
  freeArenaView(view: WasmStorage): void {
    if (view instanceof ArenaView) view.release();
  }

  freeArena(arena: WasmArena): void {
    this.freeBlock(arena.ptr);
  }

  /**
   * `_malloc` of `size` elements as an unsigned heap offset, or the out-of-memory
   * KilnError (nothing allocated), 16-byte aligned. `_malloc` takes a 32-bit size (larger
   * ones would wrap) and returns 0 when the heap cannot grow: writing there would overwrite
   * the heap's first tensors. Kernels' scratch buffers come from here too (release with
   * `freeBlock`).
   */
  malloc(dtype: DType, size: number): number {
    // malloc(0) may return 0; keep every storage a distinct allocation.
    const bytes = Math.max(size * bytesPerElement(dtype), 4);
    const limit = WASM_HEAP_MAX_BYTES - NATIVE_RESERVE_BYTES;
    if (!(size >= 0 && bytes <= limit)) {
      throw outOfMemory('wasm', dtype, size, `more than the wasm heap's limit of ${fmt(limit)} bytes for tensors`, this.liveSummary());
    }
    // Emscripten's malloc aligns to 8 bytes; blocks start 16-byte aligned here, so a v128
    // access never straddles a cache line (measured: the lstm gate kernel writing into an
    // output 8 bytes off ran 2× slower). The offset to the raw block sits in the 4 bytes
    // before the aligned start (there are 8 or 16), for `freeBlock`.
    const raw = this.module._malloc(bytes + 16) >>> 0;
    if (raw === 0 || raw + bytes + 16 > limit) {
      if (raw !== 0) this.module._free(raw);
      const heap = this.module.asm.memory.buffer.byteLength;
      throw outOfMemory('wasm', dtype, size, `the heap holds ${fmt(heap)} bytes and cannot grow past ${fmt(limit)} for tensors`, this.liveSummary());
    }
    const ptr = ((raw + 16) & ~15) >>> 0;
    this.heap().i32[(ptr >>> 2) - 1] = ptr - raw;
    return ptr;
  }

  /** Frees a block `malloc` returned (kernels' scratch and caches too). */
  freeBlock(ptr: number): void {
    this.module._free(ptr - this.heap().i32[(ptr >>> 2) - 1]!);
  }

  private heapViews: HeapViews | null = null;

  /**
   * Views of the whole heap (index f32/i32 by byte address >> 2, u8 by byte address), made
   * again only when the heap grew: the one place kernels get them, so a call allocates none.
   */
  heap(): HeapViews {
    const buffer = this.module.asm.memory.buffer;
    if (this.heapViews?.f32.buffer !== buffer) this.heapViews = { f32: new Float32Array(buffer), i32: new Int32Array(buffer), u8: new Uint8Array(buffer) };
    return this.heapViews;
  }

  /**
   * Throws when the native kernel that just ran printed a failure and returned as if it had
   * worked (its outputs are garbage): out of memory for XNNPACK's status 6.
   */
  private checkNative(): void {
    const failure = this.module.nativeFailure;
    if (failure === null) return;
    this.module.nativeFailure = null;
    const oom = /Got status 6\b/.test(failure);
    const live = this.liveSummary();
    throw new KilnError(
      oom
        ? `out of memory inside the native kernel (${failure.replace(/\s*Use -c dbg.*$/, '')}); live: ${formatBytes(live.bytes)} in ${live.storages} buffers (free tensors with dispose() or kiln.scope)`
        : `the native kernel failed: ${failure}`,
    );
  }

  /** Bytes and buffers held by live storages (what an out-of-memory error reports). */
  liveSummary(): { bytes: number; storages: number } {
    return { bytes: this.live, storages: this.storages };
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

  /** After an in-place write: the id is registered again when next read (see `HeapStorage`), so XNNPACK packs the new values. */
  private invalidate(s: WasmStorage): void {
    s.version++;
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

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
