/**
 * The WebGPU backend itself: storages (float32/int32/bool round trips, fill, copy), the
 * dispatch path (pipelines cached by key, one submit per read, uniforms of many
 * dispatches in one submit), async-only reads (sync reads throw pointing to `await
 * t.data()`), and failures that must be clear errors, never hangs: float64, a buffer
 * over the device's limit, a WGSL compile error, a lost device (also during a pending
 * read). Values are exact: these paths only move bits. And every op has a kernel or a
 * decomposition on webgpu.
 */
import { beforeAll, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { createWebGpuBackend } from '../src/runtime/webgpu/index.js';
import { listOps } from '../src/ir/index.js';
import { describeWebGpu, gpuBackend, onGpu } from './support/webgpu.js';
import { kilnError } from './support/kilnError.js';

function expectKilnError(fn: () => unknown, pattern: RegExp): void {
  expect(kilnError(fn).message).toMatch(pattern);
}

beforeAll(async () => {
  await kiln.init({ backend: 'reference' });
});

describeWebGpu('webgpu backend', () => {
  it('round-trips float32 (NaN, ±Inf, ±0, subnormals), int32 and bool bits through data()', async () => {
    const f = new Float32Array([1.5, -0, 0, NaN, Infinity, -Infinity, 1e-45, 3.4028234663852886e38, -7]);
    expect(Array.from(await onGpu(f, [9]).data()).map((v) => Object.is(v, -0) ? '-0' : v)).toEqual(Array.from(f).map((v) => Object.is(v, -0) ? '-0' : v));
    const i = new Int32Array([0, -1, 2147483647, -2147483648, 5]);
    const gotI = await onGpu(i, [5], 'int32').data();
    expect(gotI).toBeInstanceOf(Int32Array);
    expect(Array.from(gotI)).toEqual(Array.from(i));
    const gotB = await onGpu([1, 0, 1, 1, 0], [5], 'bool').data();
    expect(gotB).toBeInstanceOf(Uint8Array);
    expect(Array.from(gotB)).toEqual([1, 0, 1, 1, 0]);
  });

  it('reads empty and one-element tensors', async () => {
    expect(Array.from(await onGpu([], [0, 3]).data())).toEqual([]);
    expect(Array.from(await onGpu([42], []).data())).toEqual([42]);
  });

  it('fill and copy run on the GPU, for every dtype', async () => {
    const b = gpuBackend();
    for (const [dtype, value, want] of [['float32', -2.5, -2.5], ['int32', -7, -7], ['bool', 3, 1]] as const) {
      const s = b.alloc(dtype, 1001);
      b.fill(s, value);
      const d = b.alloc(dtype, 1001);
      b.copy(s, d);
      const got = await b.readAsync(d);
      expect(got.length).toBe(1001);
      expect(got.every((v) => v === want), `${dtype} fill ${value}`).toBe(true);
      b.free(s);
      b.free(d);
    }
  });

  it('add: same shape, scalar and broadcast operands, odd sizes (exact)', async () => {
    const a = new Float32Array(37 * 3).map((_, i) => i * 0.25 - 5);
    const c = new Float32Array(3).map((_, i) => (i + 1) * 100);
    const y1 = await onGpu(a, [37, 3]).add(onGpu(a, [37, 3])).data();
    expect(Array.from(y1)).toEqual(Array.from(a, (v) => v + v));
    const y2 = await onGpu(a, [37, 3]).add(onGpu([0.5], [])).data();
    expect(Array.from(y2)).toEqual(Array.from(a, (v) => v + 0.5));
    const y3 = await onGpu(c, [1, 3]).add(onGpu(a, [37, 1, 3])).data();
    expect(Array.from(y3)).toEqual(Array.from(a, (v, i) => v + c[i % 3]!));
    const col = new Float32Array(37).map((_, i) => i);
    const y4 = await onGpu(col, [37, 1]).add(onGpu(c, [3])).data();
    expect(Array.from(y4)).toEqual(Array.from({ length: 111 }, (_, i) => Math.floor(i / 3) + c[i % 3]!));
  });

  it('caches pipelines by key: new shapes create none, and a chain of ops is one submit', async () => {
    const b = gpuBackend();
    await onGpu([1, 2, 3], [3]).add(onGpu([1], [1])).data(); // warm: same-shape and scalar pipelines
    await onGpu([1, 2, 3], [3]).add(onGpu([1, 2, 3], [3])).data();
    const before = { ...b.stats };
    let x = onGpu(new Float32Array(513).fill(1), [513]);
    for (let k = 0; k < 5; k++) x = x.add(x);
    const y = onGpu(new Float32Array(7).fill(2), [7]).add(onGpu([3], []));
    expect(Array.from(await x.data()).every((v) => v === 32)).toBe(true);
    expect(Array.from(await y.data())).toEqual(new Array(7).fill(5));
    expect(b.stats.pipelines - before.pipelines).toBe(0);
    // Two reads: two submits (the writes of the inputs each flush nothing new).
    expect(b.stats.submits - before.submits).toBeLessThanOrEqual(2 + 2);
    const mark = b.stats.submits;
    let z = onGpu([1], [1]);
    const w = onGpu([1], [1]);
    const submitsAfterWrites = b.stats.submits;
    for (let k = 0; k < 300; k++) z = z.add(w); // 300 dispatches with uniforms, one encoder
    expect(b.stats.submits).toBe(submitsAfterWrites);
    expect(Array.from(await z.data())).toEqual([301]);
    expect(b.stats.submits - submitsAfterWrites).toBe(1);
    expect(mark).toBeLessThanOrEqual(submitsAfterWrites);
  });

  it('sync reads throw a KilnError pointing to `await t.data()`', async () => {
    const x = onGpu([1, 2], [2]);
    expectKilnError(() => x.dataSync(), /synchronous read of a webgpu tensor.*await t\.data\(\)/);
    expectKilnError(() => x.toArray(), /synchronous read.*toArray/);
    expectKilnError(() => onGpu([1], []).item(), /synchronous read.*item/);
    expectKilnError(() => x.toString(), /synchronous read.*await t\.data\(\)/);
    expectKilnError(() => x.to('reference'), /synchronous read.*to\('reference'\)/);
    // The other way is fine.
    const back = kiln.tensor([3, 4], { backend: 'reference' }).to('webgpu');
    expect(Array.from(await back.data())).toEqual([3, 4]);
  });

  it('float64 and buffers over the device limit are KilnErrors naming the op', () => {
    expectKilnError(() => kiln.tensor([1], { dtype: 'float64', backend: 'webgpu' }), /float64/);
    const b = gpuBackend();
    const tooMany = Math.floor(Math.min(b.limits.maxBufferSize, b.limits.maxStorageBufferBindingSize) / 4) + 1;
    expectKilnError(() => kiln.zeros([tooMany], { backend: 'webgpu' }), /out of memory.*webgpu.*largest storage buffer/);
  });

  it('splits a dispatch over maxComputeWorkgroupsPerDimension', () => {
    const b = gpuBackend();
    const max = b.limits.maxComputeWorkgroupsPerDimension;
    expect(b.grid(10, 256)).toEqual([1, 1]);
    expect(b.grid(max * 256, 256)).toEqual([max, 1]);
    const [x, y] = b.grid(max * 256 + 1, 256);
    expect(x).toBeLessThanOrEqual(max);
    expect(x * y * 256).toBeGreaterThanOrEqual(max * 256 + 1);
  });

  it('every op has a webgpu kernel or runs its decomposition (the linear solvers aside, for now)', () => {
    const b = gpuBackend();
    const missing = listOps().filter((o) => !b.kernels.has(o.name) && !o.decompose && !o.alias).map((o) => o.name);
    // No WGSL kernels yet: they run on the reference backend (move the tensors with await t.data()).
    const notYet = new Set(['cholesky', 'solveTriangular', 'solve', 'lstsq']);
    expect(missing.filter((name) => !notYet.has(name))).toEqual([]);
  });

  it('a WGSL compile error rejects the next read, naming the kernel', async () => {
    const b = await createWebGpuBackend();
    try {
      const s = b.alloc('float32', 4);
      b.write(s, new Float32Array([1, 2, 3, 4]));
      b.dispatch({ key: 'test.broken', code: '@compute @workgroup_size(1) fn main( {', buffers: [s.buffer], workgroups: [1] });
      await expect(b.readAsync(s)).rejects.toThrow(/WGSL kernel 'test\.broken' failed to compile/);
      // The error is reported once; later reads work.
      expect(Array.from(await b.readAsync(s))).toEqual([1, 2, 3, 4]);
    } finally {
      b.destroy();
    }
  });

  it('a lost device gives clear errors, also to a read in flight (no hang)', async () => {
    const b = await createWebGpuBackend();
    const s = b.alloc('float32', 1 << 16);
    b.fill(s, 1);
    const pending = b.readAsync(s);
    b.device.destroy();
    await expect(pending).rejects.toThrow(/WebGPU device was lost.*kiln\.init/);
    await expect(b.readAsync(s)).rejects.toThrow(/WebGPU device was lost/);
    expect(b.lost).toBe(true);
    expect(() => b.alloc('float32', 4)).toThrow(/WebGPU device was lost/);
  });
});
