import { arrayFor, bytesPerElement, type DType, type TypedArray } from '../ir/index.js';
import type { ArrayKernel, ArrayTensor, Backend, Kernel, Storage } from './backend.js';

/**
 * Portable kernels over typed arrays, one per op. The reference backend runs them on
 * JS arrays; the wasm backend runs them on views of its heap for ops it has no native
 * kernel for (zero copies either way).
 */
export const arrayKernels = new Map<string, ArrayKernel>();

export function registerArrayKernels(kernels: Record<string, ArrayKernel>): void {
  for (const [name, k] of Object.entries(kernels)) {
    if (arrayKernels.has(name)) throw new Error(`array kernel ${name} registered twice`);
    arrayKernels.set(name, k);
  }
}

/**
 * Portable kernels only the reference backend takes: ops whose decomposition runs faster
 * on wasm than a JS loop would (normalization, whose primitives are SIMD kernels there;
 * the recurrent ops, whose steps are XNNPACK GEMMs).
 */
export const referenceKernels = new Map<string, ArrayKernel>();

export function registerReferenceKernels(kernels: Record<string, ArrayKernel>): void {
  for (const [name, k] of Object.entries(kernels)) {
    if (arrayKernels.has(name) || referenceKernels.has(name)) throw new Error(`array kernel ${name} registered twice`);
    referenceKernels.set(name, k);
  }
}

/**
 * Wraps an array kernel as a backend kernel, given how to view a storage as an array.
 * `zeroFill`: fresh storages are not zeroed (a heap), so zero them. Caller-given
 * outputs (`outs`) are always zeroed, except one that is an input (an in-place write:
 * the elementwise kernels allowed that read element i before writing it).
 */
export function adaptArrayKernel<S extends Storage>(backend: Backend<S>, kernel: ArrayKernel, view: (s: S) => TypedArray, zeroFill = false): Kernel<S> {
  return (inputs, attrs, outTypes, given) => {
    const outs = outTypes.map((t, i) => given?.[i] ?? backend.alloc(t.dtype, sizeOfShape(t.shape)));
    // Views are taken after every allocation: an allocation may grow (and detach) a heap.
    const ins: ArrayTensor[] = inputs.map((x) => ({ data: view(x.storage), shape: x.shape, dtype: x.dtype }));
    const outArrays: ArrayTensor[] = outTypes.map((t, i) => ({ data: view(outs[i]!), shape: t.shape, dtype: t.dtype }));
    // Kernels may accumulate into outputs.
    for (let i = 0; i < outs.length; i++) {
      const o = outs[i]!;
      if (given?.[i] ? !inputs.some((x) => x.storage === o) : zeroFill) outArrays[i]!.data.fill(0);
    }
    kernel(ins, attrs, outArrays);
    return outs;
  };
}

function sizeOfShape(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Storage of the reference backend: a plain typed array. */
export interface ArrayStorage extends Storage {
  readonly data: TypedArray;
}

export function newArrayStorage(dtype: DType, size: number): ArrayStorage {
  return { dtype, size, refs: 1, version: 0, data: arrayFor(dtype, size) };
}

export function storageBytes(s: Storage): number {
  return s.size * bytesPerElement(s.dtype);
}
