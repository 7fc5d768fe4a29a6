import type { Storage } from '../backend.js';

/**
 * A tensor's elements in one GPU buffer. Every dtype is 4 bytes per element on the GPU:
 * float32 as `f32`, int32 as `i32`, bool as `u32` 0/1 (the backend's `read`/`write`
 * convert bool to and from Kiln's host `Uint8Array`). float64 is not supported.
 */
export interface GpuStorage extends Storage {
  /** STORAGE | COPY_SRC | COPY_DST; byte size = max(4, size · 4) rounded up to a multiple of 4. */
  readonly buffer: GPUBuffer;
}

/** The byte size of the buffer of `size` elements: 4 bytes each, at least 4 (WebGPU refuses empty bindings). */
export function gpuBufferBytes(size: number): number {
  return Math.max(4, size * 4);
}

/**
 * WebGPU's numeric flags, so the backend needs no `GPUBufferUsage` global (Node's Dawn
 * does not install one unless asked).
 */
export const BufferUsage = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
export const MapMode = { READ: 0x1 } as const;
