import { vi } from 'vitest';
import { gpuBackend } from './webgpu.js';

/**
 * Runs `fn` with the webgpu backend's dispatch grids split as if the device allowed only
 * `max` workgroups per dimension (instead of 65535), so small shapes exercise the split
 * (x·y workgroups with an overhang the shaders must drop) that only huge ones reach on
 * real limits. Same rule as `WebGpuBackend.grid`.
 */
export async function withGridLimit(max: number, fn: () => Promise<void>): Promise<void> {
  const backend = gpuBackend();
  const spy = vi.spyOn(backend, 'grid').mockImplementation((n: number, workgroupSize: number): [number, number] => {
    const groups = Math.max(1, Math.ceil(n / workgroupSize));
    if (groups <= max) return [groups, 1];
    const y = Math.ceil(groups / max);
    return [Math.ceil(groups / y), y];
  });
  try {
    await fn();
    if (spy.mock.calls.length === 0) throw new Error('withGridLimit: no kernel asked for a grid');
  } finally {
    spy.mockRestore();
  }
}
