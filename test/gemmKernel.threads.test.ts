/**
 * The generated GEMM's threaded-build route (src/runtime/wasm/kernels/gemm.ts), in its own
 * process (the threaded module is loaded once per process): with 2 threads a large
 * product with a constant B goes to XNNPACK's `_FusedMatMul` (split over the pool), small
 * ones and B seen for the first time stay on the generated kernel; either way the result
 * matches the float64 reference backend, the bias is added after the sum, and a weight
 * written in place is seen. Tolerance as in test/gemmKernel.test.ts: 1e-5·√K of the
 * largest magnitude.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';
import { relDiff } from './support/expectClose.js';

let wasm: WasmBackend;
beforeAll(async () => {
  await kiln.init({ threads: 2 });
  wasm = engine.backends.get('wasm') as unknown as WasmBackend;
});

/** Runs `f`, counting `_FusedMatMul` calls. */
function xnnCalls(f: () => void): number {
  const m = wasm.module as unknown as Record<string, (...a: number[]) => unknown>;
  const real = m['__FusedMatMul']!;
  let calls = 0;
  m['__FusedMatMul'] = (...a: number[]) => { calls++; return real(...a); };
  try {
    f();
  } finally {
    m['__FusedMatMul'] = real;
  }
  return calls;
}

const onReference = (t: kiln.Tensor): kiln.Tensor => t.to('reference').cast('float64');

describe('GEMM on the threaded build', () => {
  it('a large linear goes to XNNPACK (bias after the sum), a small one and a first-use matmul B do not; all match the reference', () => {
    expect(kiln.wasmThreads()).toBe(2);
    kiln.scope(() => {
      const x = kiln.randn([32, 300], { seed: 1 }), w = kiln.randn([301, 300], { seed: 2 }), b = kiln.randn([301], { seed: 3 });
      let y: kiln.Tensor | null = null;
      expect(xnnCalls(() => (y = kiln.linear(x, w, b)))).toBe(1);
      const want = kiln.linear(onReference(x), onReference(w), onReference(b));
      expect(relDiff(y!, want)).toBeLessThanOrEqual(1e-5 * Math.sqrt(300) * 4);
      // In place: the next call sees the new weight (XNNPACK's packing dropped).
      kiln.noGrad(() => w.mul_(-1));
      const y2 = kiln.linear(x, w, b);
      expect(relDiff(y2, kiln.linear(onReference(x), onReference(w), onReference(b)))).toBeLessThanOrEqual(1e-5 * Math.sqrt(300) * 4);
      // Small: stays on the generated kernel.
      expect(xnnCalls(() => void kiln.linear(kiln.randn([2, 30], { seed: 4 }), kiln.randn([7, 30], { seed: 5 })))).toBe(0);
      // A matmul B: first use unpacked on the generated kernel, then (a constant) XNNPACK.
      const bm = kiln.randn([300, 256], { seed: 6 });
      let m1: kiln.Tensor | null = null, m2: kiln.Tensor | null = null;
      expect(xnnCalls(() => (m1 = x.matmul(bm)))).toBe(0);
      expect(xnnCalls(() => (m2 = x.matmul(bm)))).toBe(1);
      const mw = onReference(x).matmul(onReference(bm));
      expect(relDiff(m1!, mw)).toBeLessThanOrEqual(1e-5 * Math.sqrt(300) * 4);
      expect(relDiff(m2!, mw)).toBeLessThanOrEqual(1e-5 * Math.sqrt(300) * 4);
    });
  });
});
