import type { WasmBackend } from '../wasmBackend.js';

/**
 * A kernel's scratch block, kept across calls and grown when a call needs more (runs
 * after warm-up allocate nothing): the returned function gives the address of at least
 * `bytes` bytes (0 for none), 8-byte aligned. Scratch holds nothing between calls.
 *
 * @example
 * ```ts
 * const scratch = reusedScratch(backend);             // once, in the kernel factory
 * const acc = scratch(8 * rows);                       // per call: float64 accumulators
 * ```
 */
export function reusedScratch(backend: WasmBackend): (bytes: number) => number {
  let ptr = 0, cap = 0;
  return (bytes) => {
    if (bytes <= 0) return 0;
    if (bytes > cap) {
      const next = backend.malloc('float32', Math.ceil(bytes / 4));
      if (ptr) backend.freeBlock(ptr);
      ptr = next;
      cap = Math.ceil(bytes / 4) * 4;
    }
    return ptr;
  };
}
