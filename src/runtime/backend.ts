import type { Attrs, DType, TensorType, TypedArray } from '../ir/index.js';

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

/** Runs one op: reads inputs, allocates and returns outputs of the inferred types. */
export type Kernel<S extends Storage = Storage> = (inputs: readonly KernelInput<S>[], attrs: Attrs, outTypes: readonly TensorType[]) => S[];

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
  alloc(dtype: DType, size: number): S;
  /** Frees the elements; the storage must not be used afterwards. */
  free(storage: S): void;
  /** Copies elements out (a fresh array the caller owns). */
  read(storage: S): TypedArray;
  /** Copies `data` (already of the storage's dtype and size) in. */
  write(storage: S, data: TypedArray): void;
  /** Sets every element to `value` (as a typed-array store converts it; bool: nonzero is 1), on the backend. */
  fill(storage: S, value: number): void;
  /** Copies all elements of `src` into `dst` (same dtype and size), on the backend. */
  copy(src: S, dst: S): void;
  /** Bytes currently held by live storages. */
  liveBytes(): number;
}
