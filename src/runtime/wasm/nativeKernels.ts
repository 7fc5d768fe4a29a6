import type { Kernel } from '../backend.js';
import type { WasmBackend, WasmStorage } from './wasmBackend.js';

/** Builds a native kernel; `name` is the op, so a factory can find its portable fallback. */
export type NativeKernelFactory = (backend: WasmBackend, name: string) => Kernel<WasmStorage>;

/**
 * Native (XNNPACK / tfjs-backend-wasm) kernels, by op name. Each family file adds its
 * own; they override the portable kernels on the wasm backend.
 */
export const nativeKernels = new Map<string, NativeKernelFactory>();

export function registerNativeKernels(kernels: Record<string, NativeKernelFactory>): void {
  for (const [name, k] of Object.entries(kernels)) {
    if (nativeKernels.has(name)) throw new Error(`native kernel ${name} registered twice`);
    nativeKernels.set(name, k);
  }
}
