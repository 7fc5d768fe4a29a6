import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

describe('memory', () => {
  it('scope frees intermediates and keeps results, grads and parameters', () => {
    const w = kiln.randn([4, 3], { seed: 1, requiresGrad: true });
    const run = () =>
      kiln.scope(() => {
        const x = kiln.ones([2, 4]);
        const loss = x.matmul(w).relu().sum();
        loss.backward();
        return { loss, extra: [x.mul(2)] };
      });
    run(); // first run creates the cached scalar constants (0, 2) that ops keep
    w.zeroGrad();
    const before = kiln.memory().liveTensors;
    const out = run();
    expect(out.loss.item()).toBeGreaterThanOrEqual(0);
    expect(out.extra[0]!.toArray()).toEqual([[2, 2, 2, 2], [2, 2, 2, 2]]);
    expect(w.disposed).toBe(false);
    expect(w.grad!.disposed).toBe(false);
    // w.grad, loss, extra[0] are new and survive; everything else was freed.
    expect(kiln.memory().liveTensors - before).toBe(3);
  });

  it('nested scopes hand kept tensors to the enclosing scope', () => {
    let inner: kiln.Tensor | null = null;
    kiln.scope(() => {
      inner = kiln.scope(() => kiln.ones([2]).add(1));
      expect(inner.disposed).toBe(false);
    });
    expect(inner!.disposed).toBe(true);
  });

  it('scope frees intermediates when fn throws, and rejects async functions', () => {
    const before = kiln.memory().liveTensors;
    expect(() =>
      kiln.scope(() => {
        kiln.ones([3]).add(1);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(kiln.memory().liveTensors).toBe(before);
    expect(() => kiln.scope(async () => kiln.ones([1]))).toThrow(/synchronous/);
  });

  it('using a disposed tensor throws a KilnError naming the op', () => {
    const t = kiln.ones([2]);
    t.dispose();
    expect(() => t.add(1)).toThrow(/add: input 0 was disposed/);
    expect(() => t.dataSync()).toThrow(kiln.KilnError);
  });

  it('a 10,000-step training loop in scope keeps live wasm bytes constant and never grows the heap', () => {
    const wasm = engine.backends.get('wasm') as unknown as WasmBackend;
    const w1 = kiln.randn([16, 32], { seed: 2, requiresGrad: true });
    const w2 = kiln.randn([32, 4], { seed: 3, requiresGrad: true });
    const x = kiln.randn([8, 16], { seed: 4 });
    const y = kiln.randn([8, 4], { seed: 5 });
    const step = () =>
      kiln.scope(() => {
        const pred = x.matmul(w1).tanh().matmul(w2);
        const loss = pred.sub(y).square().sum().mul(1 / 32);
        w1.zeroGrad();
        w2.zeroGrad();
        loss.backward();
        // SGD update in place of the parameters' storage would be the optimizer's job;
        // here we only exercise allocation: read the grads like an optimizer would.
        return loss.item();
      });
    for (let i = 0; i < 50; i++) step(); // warm-up: heap reaches its working size
    const heap = wasm.memory.buffer.byteLength;
    const live = wasm.liveBytes();
    const tensors = kiln.memory().liveTensors;
    for (let i = 0; i < 10_000; i++) {
      step();
      if (i % 1000 === 0) {
        expect(wasm.liveBytes()).toBe(live);
        expect(kiln.memory().liveTensors).toBe(tensors);
      }
    }
    expect(wasm.liveBytes()).toBe(live);
    expect(wasm.memory.buffer.byteLength).toBe(heap);
  });
});
