import { bytesPerElement, KilnError, type Attrs, type DType, type TensorType, type TypedArray } from '../ir/index.js';

export type BackendName = 'reference' | 'wasm' | 'webgpu';

/** A backend's handle on one tensor's elements. Shared by aliases (reshape), hence `refs`. */
export interface Storage {
  readonly dtype: DType;
  readonly size: number;
  refs: number;
  /** Bumped by every write after allocation (`write`, `copy`): caches of derived values check it. */
  version: number;
}

/** A kernel's view of one input. */
export interface KernelInput<S extends Storage = Storage> {
  readonly storage: S;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/**
 * Runs one op: reads inputs and returns outputs of the inferred types `outTypes`.
 *
 * `outs`, when given, are caller-given outputs: `outs[k]` (if defined) is a storage of
 * `outTypes[k]`'s dtype and element count, on the wasm backend usually a view into an
 * execution plan's arena (`free` of a view is a no-op). It may alias an input when the
 * memory plan reuses a dying input in place (only for `IN_PLACE_OPS` ops). A kernel that
 * honours it writes output k there and returns that same object at index k; a kernel
 * that ignores it stays correct (the executor copies a different storage into the given
 * one and frees it, a slow path counted per plan). Scratch is not an output.
 *
 * @example
 * ```ts
 * const relu: Kernel = (inputs, _attrs, outTypes, outs) => {
 *   const y = outs?.[0] ?? backend.alloc(outTypes[0]!.dtype, inputs[0]!.storage.size);
 *   // ... write max(x, 0) into y (element i only reads element i: safe when y is x) ...
 *   return [y];
 * };
 * ```
 */
export type Kernel<S extends Storage = Storage> =
  (inputs: readonly KernelInput<S>[], attrs: Attrs, outTypes: readonly TensorType[], outs?: readonly (S | undefined)[]) => S[];

/**
 * A one-output kernel's result: `outs` itself when `out` is its caller-given output (a
 * plan's hot path then allocates no array per call; callers only read the result), else `[out]`.
 *
 * @example
 * ```ts
 * const out = outs?.[0] ?? backend.alloc('float32', n);
 * // ... write out ...
 * return oneOutput(out, outs);
 * ```
 */
export function oneOutput<S extends Storage>(out: S, outs: readonly (S | undefined)[] | undefined): S[] {
  return outs !== undefined && outs.length === 1 && outs[0] === out ? (outs as S[]) : [out];
}

/** A tensor as plain arrays: what portable kernels read and write. */
export interface ArrayTensor {
  readonly data: TypedArray;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** A kernel over plain typed arrays; outputs are preallocated and zero-filled. */
export type ArrayKernel = (inputs: readonly ArrayTensor[], attrs: Attrs, outputs: readonly ArrayTensor[]) => void;

export interface Backend<S extends Storage = Storage> {
  readonly name: BackendName;
  readonly kernels: Map<string, Kernel<S>>;
  readonly supportsFloat64: boolean;
  /**
   * A fresh storage of `size` elements. Throws the `outOfMemory` KilnError, counting and
   * touching nothing, when they cannot be had.
   */
  alloc(dtype: DType, size: number): S;
  /** Frees the elements (and sets `refs` to 0); the storage must not be used afterwards. */
  free(storage: S): void;
  /** Copies elements out (a fresh array the caller owns). Throws where `readsAsyncOnly`. */
  read(storage: S): TypedArray;
  /**
   * Copies elements out once the work that writes them is done (GPU backends map a
   * buffer). Optional: `Tensor.data()` uses `read` where it is absent.
   */
  readAsync?(storage: S): Promise<TypedArray>;
  /** True where only `readAsync` can read (webgpu): sync reads then throw, saying to `await t.data()`. */
  readonly readsAsyncOnly?: boolean;
  /** Copies `data` (already of the storage's dtype and size) in. */
  write(storage: S, data: TypedArray): void;
  /** Sets every element to `value` (as a typed-array store converts it; bool: nonzero is 1), on the backend. */
  fill(storage: S, value: number): void;
  /** Copies all elements of `src` into `dst` (same dtype and size), on the backend. */
  copy(src: S, dst: S): void;
  /** Bytes currently held by live storages (arenas, like kernels' caches, are not counted). */
  liveBytes(): number;
  /**
   * Starts the work recorded so far (a GPU backend batches kernels into one command
   * buffer). Optional: backends that run kernels at once have nothing to flush. A compiled
   * run calls it once at its end: one submit per run.
   */
  flush?(): void;
  /**
   * One block of `bytes` bytes that storages can view (an execution plan's arena, see
   * `arenaView`); throws the `outOfMemory` KilnError when it cannot be had. Optional: a
   * backend without it runs plans with a fresh storage per intermediate.
   */
  allocArena?(bytes: number): Arena;
  /**
   * A storage over `size` elements of `dtype` at `byteOffset` in `arena` (a multiple of the
   * dtype's size). It is valid until `freeArenaView`; `free` of it is a no-op, and kernels'
   * caches see it as one storage whose `version` the plan bumps before each write.
   */
  arenaView?(arena: Arena, byteOffset: number, dtype: DType, size: number): S;
  /** Lets go of a view (`refs = 0`: caches keyed by it drop it); its arena stays. */
  freeArenaView?(view: S): void;
  /** Frees the arena (after its views were let go of). */
  freeArena?(arena: Arena): void;
}

/** A block of backend memory for an execution plan's intermediates (see `Backend.allocArena`). */
export interface Arena {
  readonly bytes: number;
}

/** `n` bytes as `1,073,741,824 bytes (1 GiB)`. */
export function formatBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, u = '';
  for (const name of units) {
    if (v < 1024) break;
    v /= 1024;
    u = name;
  }
  const exact = `${n.toLocaleString('en-US')} bytes`;
  return u ? `${exact} (${Number(v.toPrecision(3))} ${u})` : exact;
}

/** Whether `e` is the JS engine refusing a typed array or buffer that large (a RangeError). */
export function isAllocationFailure(e: unknown): e is RangeError {
  return e instanceof RangeError && /invalid typed array length|array buffer allocation failed|invalid array buffer length/i.test(e.message);
}

/**
 * The one out-of-memory error of every backend: the bytes asked for, why they cannot be
 * had, and what is live. Thrown by `alloc` before anything is counted or written; the
 * dispatcher (or the creation function) adds the op, the input shapes and the call site.
 */
export function outOfMemory(backend: string, dtype: DType, size: number, why: string, live: { bytes: number; storages: number }): KilnError {
  const bytes = size * bytesPerElement(dtype);
  return new KilnError(
    `out of memory: cannot allocate ${formatBytes(bytes)} for ${size.toLocaleString('en-US')} ${dtype} elements on the '${backend}' backend (${why}); ` +
    `live: ${formatBytes(live.bytes)} in ${live.storages} buffers (free tensors with dispose() or kiln.scope)`,
  );
}

/**
 * Storages allocated by the kernel calls in progress, so that a kernel that throws (out
 * of memory on its second allocation, an index out of range found after allocating)
 * leaks nothing: `guard` frees what the failed call allocated and did not free itself.
 * A backend calls `note` from `alloc` and marks freed storages with `refs = 0`.
 */
export class KernelAllocations<S extends Storage> {
  /** `inflight[0..count)`: what the calls in progress allocated (kept as a stack without shrinking, so a run allocates no array). */
  private readonly inflight: (S | undefined)[] = [];
  private count = 0;
  private depth = 0;

  constructor(private readonly free: (s: S) => void) {}

  note(s: S): void {
    if (this.depth > 0) this.inflight[this.count++] = s;
  }

  /** `kernel`, freeing on failure; `check` runs after it returns and may throw (a failure it reported aside). */
  guard(kernel: Kernel<S>, check?: () => void): Kernel<S> {
    return (inputs, attrs, outTypes, given) => {
      const mark = this.count;
      this.depth++;
      try {
        const outs = kernel(inputs, attrs, outTypes, given);
        if (check) check();
        return outs;
      } catch (e) {
        for (let i = mark; i < this.count; i++) {
          const s = this.inflight[i]!;
          if (s.refs > 0) this.free(s);
        }
        throw e;
      } finally {
        this.depth--;
        for (let i = mark; i < this.count; i++) this.inflight[i] = undefined;
        this.count = mark;
      }
    };
  }
}
