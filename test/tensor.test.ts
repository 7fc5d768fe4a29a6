import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

beforeAll(async () => {
  await kiln.init();
});

describe('creation and reading', () => {
  it('tensor infers shape and dtype; options override', () => {
    const x = kiln.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(x.shape).toEqual([2, 3]);
    expect(x.dtype).toBe('float32');
    expect(kiln.tensor([true, false]).dtype).toBe('bool');
    expect(kiln.tensor([1.7, -2.7], { dtype: 'int32' }).toArray()).toEqual([1, -2]);
    expect(kiln.tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] }).toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(kiln.tensor(5).shape).toEqual([]);
    expect(kiln.tensor(5).item()).toBe(5);
  });

  it('zeros, ones, full, eye, arange, linspace', () => {
    expect(kiln.zeros([2]).toArray()).toEqual([0, 0]);
    expect(kiln.ones([1, 2]).toArray()).toEqual([[1, 1]]);
    expect(kiln.full([2], 7, { dtype: 'int32' }).toArray()).toEqual([7, 7]);
    expect(kiln.eye(2, 3).toArray()).toEqual([[1, 0, 0], [0, 1, 0]]);
    expect(kiln.arange(4).toArray()).toEqual([0, 1, 2, 3]);
    expect(kiln.arange(4).dtype).toBe('int32');
    expect(kiln.arange(1, 2, 0.25).toArray()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(kiln.arange(5, 0, -2).toArray()).toEqual([5, 3, 1]);
    expect(kiln.linspace(0, 1, 5).toArray()).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it('elementCount: the product of the dims over the axes, a 0-d float tensor, no gradient, both backends', () => {
    for (const backend of ['reference', 'wasm'] as const) {
      const x = kiln.zeros([2, 3, 4], { backend, requiresGrad: true });
      expect(kiln.elementCount(x).item()).toBe(24);
      expect(kiln.elementCount(x, [0, 2]).item()).toBe(8);
      expect(kiln.elementCount(x, -1).shape).toEqual([]);
      expect(kiln.elementCount(x, []).item()).toBe(1);
      expect(kiln.elementCount(kiln.zeros([0, 5], { backend }), 0).item()).toBe(0);
      expect(kiln.elementCount(kiln.zeros([3], { backend, dtype: 'int32' })).dtype).toBe('float32');
      expect(kiln.elementCount(x).requiresGrad).toBe(false);
      expect(() => kiln.elementCount(x, 3)).toThrow(/elementCount.*axis 3/);
    }
    expect(kiln.elementCount(kiln.zeros([2, 2], { backend: 'reference', dtype: 'float64' })).dtype).toBe('float64');
  });

  it('full and fullLike fill on the backend: every element, dtype conversion, bool nonzero is 1, both backends', () => {
    for (const backend of ['reference', 'wasm'] as const) {
      // Reused heap memory is not zero: a freed block of 7s must not show through zeros().
      kiln.full([1000], 7, { backend }).dispose();
      expect(kiln.zeros([1000], { backend }).dataSync().every((v) => v === 0)).toBe(true);
      expect(kiln.full([3], 2.75, { backend, dtype: 'int32' }).toArray()).toEqual([2, 2, 2]);
      expect(kiln.full([2], 0.5, { backend, dtype: 'bool' }).toArray()).toEqual([true, true]);
      expect(kiln.full([2], Math.PI, { backend }).toArray()).toEqual([Math.fround(Math.PI), Math.fround(Math.PI)]);
      const b = kiln.tensor([true, false], { backend });
      expect(b.fullLike(0.25).toArray()).toEqual([true, true]);
      expect(kiln.full([2], 1, { backend, requiresGrad: true }).requiresGrad).toBe(true);
    }
  });

  it('data, dataSync, item, toArray agree on both backends', async () => {
    for (const backend of ['reference', 'wasm'] as const) {
      const x = kiln.tensor([[1, 2], [3, 4]], { backend });
      expect(Array.from(await x.data())).toEqual([1, 2, 3, 4]);
      expect(Array.from(x.dataSync())).toEqual([1, 2, 3, 4]);
      expect(x.toArray()).toEqual([[1, 2], [3, 4]]);
      expect(kiln.tensor([true, false], { backend }).toArray()).toEqual([true, false]);
    }
  });

  it('float64 on the reference backend; to() moves tensors', () => {
    const x = kiln.tensor([0.1], { dtype: 'float64', backend: 'reference' });
    expect(x.item()).toBe(0.1);
    const y = kiln.tensor([1, 2]).to('reference');
    expect(y.backend.name).toBe('reference');
    expect(y.to('wasm').toArray()).toEqual([1, 2]);
  });

  it('toString prints like PyTorch and elides large tensors', () => {
    expect(kiln.tensor([[1, 2], [3, 4]]).toString()).toBe('tensor([[1., 2.],\n        [3., 4.]])');
    expect(kiln.tensor([0.5, -1.25]).toString()).toBe('tensor([ 0.5000, -1.2500])');
    expect(kiln.tensor([1, 2], { dtype: 'int32' }).toString()).toBe('tensor([1, 2], dtype=int32)');
    expect(kiln.tensor([1], { requiresGrad: true }).toString()).toBe('tensor([1.], requiresGrad=true)');
    const big = kiln.arange(2000).toString();
    expect(big).toBe('tensor([   0,    1,    2, ..., 1997, 1998, 1999], dtype=int32)');
    const m = kiln.zeros([40, 40]).toString().split('\n');
    expect(m.length).toBe(7);
    expect(m[3]!.trim()).toBe('...,');
  });
});
