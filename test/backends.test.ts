import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';
import { loadWasmModule } from '../src/runtime/wasm/wasmModule.js';

// Spies on the raw exports must be in place before the backend binds them at init.
// (exp and sigmoid run generated kernels, simdMath.ts; sin and cos are still tfjs's.)
let nativeSin: MockInstance;
let nativeCos: MockInstance;
beforeAll(async () => {
  const mod = await loadWasmModule();
  nativeSin = vi.spyOn(mod, '_Sin');
  nativeCos = vi.spyOn(mod, '_Cos');
  await kiln.init({ backend: 'wasm' });
});

describe('wasm backend', () => {
  it('calls tfjs-backend-wasm exports (and generated kernels) directly, never the tfjs-core engine', () => {
    const eng = tf.engine();
    const runKernel = vi.spyOn(eng, 'runKernel');
    const runKernelFunc = vi.spyOn(eng as unknown as { runKernelFunc: () => unknown }, 'runKernelFunc');
    const x = kiln.randn([16, 16], { seed: 1, requiresGrad: true });
    const y = x.add(x).exp().mul(2).sigmoid().sin().sum();
    y.backward();
    expect(runKernel).not.toHaveBeenCalled();
    expect(runKernelFunc).not.toHaveBeenCalled();
    expect(nativeSin).toHaveBeenCalled();
    expect(nativeCos).toHaveBeenCalled(); // sin's gradient
  });

  it('kernels read inputs after the heap grows (views are re-created)', () => {
    const wasm = engine.backends.get('wasm') as unknown as WasmBackend;
    const a = kiln.arange(10, undefined, undefined, { dtype: 'float32' });
    const before = wasm.memory.buffer.byteLength;
    const big = kiln.zeros([before / 4 + 1024]); // forces memory.grow
    expect(wasm.memory.buffer.byteLength).toBeGreaterThan(before);
    expect(a.add(1).toArray()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    big.dispose();
  });
});
