import type { Kernel } from '../backend.js';
import type { GpuStorage } from './gpuStorage.js';
import type { WebGpuBackend } from './webgpuBackend.js';

/** Makes one op's kernel for a backend (kernels record dispatches; they never `await`). */
export type WebGpuKernelFactory = (backend: WebGpuBackend) => Kernel<GpuStorage>;

/** Every registered factory by op name; each `WebGpuBackend` instantiates all of them. */
export const webGpuKernelFactories = new Map<string, WebGpuKernelFactory>();

/**
 * Registers kernels by op name. Each kernel file calls it at module load and is imported
 * by `./kernels/index.ts`; a second registration of a name replaces the first.
 *
 * @example
 * ```ts
 * registerWebGpuKernels({
 *   neg: (backend) => (inputs, _attrs, outTypes) => {
 *     const x = inputs[0]!.storage;
 *     const y = backend.alloc(outTypes[0]!.dtype, x.size);
 *     backend.dispatch({ key: 'neg', code: NEG_WGSL, buffers: [x.buffer, y.buffer], workgroups: [Math.ceil(x.size / 64)] });
 *     return [y];
 *   },
 * });
 * ```
 */
export function registerWebGpuKernels(kernels: Record<string, WebGpuKernelFactory>): void {
  for (const [name, factory] of Object.entries(kernels)) webGpuKernelFactories.set(name, factory);
}
