/**
 * The generated GEMM with relaxed SIMD (`f32x4.relaxed_madd`), in its own process (vitest's
 * forks pool runs each file in one): Node 20 has relaxed SIMD only behind
 * `--experimental-wasm-relaxed-simd`, set here with v8.setFlagsFromString before any GEMM
 * module is compiled (NODE_OPTIONS refuses the flag). Kiln detects it (never requires it):
 *  - `relaxedSimdAvailable()` is true, and `gemmKernels` picks the FMA module by default;
 *  - a product whose rounding tells the two apart: (−1)·1 + (1+2⁻¹²)² is 2⁻¹¹ + 2⁻²⁴ fused
 *    (one rounding, exact here) and 2⁻¹¹ with the product rounded first; relaxed_madd (the
 *    multi-row tiles) may be either (the engine picks), the one-row GEMV tile and the plain
 *    module must give 2⁻¹¹;
 *  - linear and matmul through Kiln on the FMA kernels vs the float64 reference backend,
 *    NaN and ±Inf where the reference has them; tolerance 1e-5·√K of the largest magnitude
 *    (as test/gemmKernel.test.ts states it).
 */
import v8 from 'node:v8';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';
import { gemmOnHeap } from '../src/runtime/wasm/kernels/gemm.js';
import { gemmKernels, relaxedSimdAvailable } from '../src/runtime/wasm/kernels/gemmKernel.js';
import { relDiff } from './support/expectClose.js';
import { rng } from './support/kernelChecks.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

let wasm: WasmBackend;
beforeAll(async () => {
  await kiln.init();
  wasm = engine.backends.get('wasm') as unknown as WasmBackend;
});

describe('relaxed SIMD GEMM', () => {
  it('is detected, and picked by default only with KILN_RELAXED_SIMD=1', () => {
    expect(relaxedSimdAvailable()).toBe(true);
    expect(gemmKernels(wasm.memory)).toBe(gemmKernels(wasm.memory, false));
    process.env['KILN_RELAXED_SIMD'] = '1';
    expect(gemmKernels(wasm.memory)).not.toBe(gemmKernels(wasm.memory, false));
    expect(gemmKernels(wasm.memory)).toBe(gemmKernels(wasm.memory, true));
  });

  it('multi-row tiles multiply-add with relaxed_madd (fused or not, as the engine picks); the GEMV tile and the plain module round the product first', () => {
    const e = 2 ** -12;
    const fused = 2 ** -11 + 2 ** -24, rounded = 2 ** -11;
    // A [3, 2]: every row (−1, 1 + 2⁻¹²); B [2, N]: every column (1, 1 + 2⁻¹²).
    const a = wasm.alloc('float32', 6);
    (wasm.view(a) as Float32Array).set([-1, 1 + e, -1, 1 + e, -1, 1 + e]);
    for (const N of [9, 20]) { // the 4×8 and the 2×16 tile
      const b = wasm.alloc('float32', 2 * N), c = wasm.alloc('float32', 3 * N);
      const bv = wasm.view(b) as Float32Array;
      bv.fill(1, 0, N);
      bv.fill(1 + e, N, 2 * N);
      gemmOnHeap(wasm, a.ptr, 3, 2, b, 'kn', N, 0, c.ptr);
      const got = Array.from(wasm.view(c) as Float32Array);
      expect([fused, rounded]).toContain(got[0]);
      expect(new Set(got).size, `N = ${N}: one value everywhere`).toBe(1);
      if (N === 9) console.log(`relaxed_madd here: ${got[0] === fused ? 'fused (one rounding)' : 'unfused'}`);
      // One row: the GEMV tile (multiply, then add).
      gemmOnHeap(wasm, a.ptr, 1, 2, b, 'kn', N, 0, c.ptr);
      expect(Array.from((wasm.view(c) as Float32Array).subarray(0, N)), `N = ${N}, M = 1`).toEqual(new Array(N).fill(rounded));
      // The plain SIMD128 module, 3 rows.
      const edge = wasm.alloc('float32', 2 * 8);
      const plain = gemmKernels(wasm.memory, false);
      plain.pack(b.ptr + (N & ~7) * 4, N * 4, 4, 2, N & 7, edge.ptr);
      (plain['gemm_4x8'] as (...args: number[]) => void)(a.ptr, 8, b.ptr, N * 4, 32, edge.ptr, 0, 0, c.ptr, N * 4, 3, N, 2);
      expect(Array.from(wasm.view(c) as Float32Array), `N = ${N}, plain`).toEqual(new Array(3 * N).fill(rounded));
      for (const s of [b, c, edge]) wasm.free(s);
    }
    wasm.free(a);
  });

  function pair(shape: number[], seed: number, special: [number, number][] = []): [kiln.Tensor, kiln.Tensor] {
    const r = rng(seed);
    const v = Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => r() * 2 - 1);
    for (const [i, x] of special) v[i] = x;
    return [kiln.tensor(v, { shape, backend: 'wasm' }), kiln.tensor(Float64Array.from(v), { shape, dtype: 'float64', backend: 'reference' })];
  }

  it('linear and matmul through Kiln agree with the reference (odd sizes, M = 1, NaN and ±Inf)', () => {
    kiln.scope(() => {
      const cases: [number[][], [number, number][][], (...t: kiln.Tensor[]) => kiln.Tensor][] = [
        [[[9, 37], [21, 37], [21]], [[[5, NaN]], [[40, Infinity]], [[3, -Infinity]]], (x, w, b) => kiln.linear(x, w, b)],
        [[[1, 130], [130, 19]], [[], [[7, -Infinity]]], (a, b) => a.matmul(b)],
        [[[2, 3, 17], [2, 17, 5]], [[[4, NaN]], []], (a, b) => a.matmul(b)],
      ];
      for (const [shapes, special, f] of cases) {
        const ps = shapes.map((s, i) => pair(s, 10 + i, special[i] ?? []));
        const got = f(...ps.map((p) => p[0])), want = f(...ps.map((p) => p[1]));
        const K = shapes[0]!.at(-1)!;
        expect(relDiff(got, want), `${shapes.map((s) => `[${s}]`).join(' ')}`).toBeLessThanOrEqual(1e-5 * Math.sqrt(K) * 4);
      }
    });
  });
});
