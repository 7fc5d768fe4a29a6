import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

describe('smoke', () => {
  it('elementwise + autograd on both backends', async () => {
    for (const backend of ['reference', 'wasm'] as const) {
      await kiln.init({ backend });
      const x = kiln.tensor([[1, 2], [3, 4]], { requiresGrad: true });
      const y = x.mul(x).add(x.exp());
      expect(y.backend.name).toBe(backend);
      const g = kiln.grad((t: kiln.Tensor) => t.mul(t).mul(t).mul(kiln.ones([2, 2])).logicalNot().cast('float32').sum());
      void g;
      const z = x.mul(3).sin();
      console.log(backend, y.toString(), z.toString());
    }
  });
});
