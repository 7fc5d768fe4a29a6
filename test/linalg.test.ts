/**
 * matmul / transpose / permute beyond the golden table: errors, cheap no-op paths, and
 * the wasm backend's native paths (XNNPACK per batch slice, packed-B cache, _Transpose)
 * checked against the reference backend on shapes big enough to take them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

beforeAll(async () => {
  await kiln.init();
});

function close(actual: kiln.Tensor, expected: kiln.Tensor, tol: number): void {
  expect(actual.shape).toEqual(expected.shape);
  const a = actual.dataSync(), e = expected.dataSync();
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - e[i]!) / Math.max(1, Math.abs(e[i]!)));
  expect(worst).toBeLessThanOrEqual(tol);
}

function toRef64(x: kiln.Tensor): kiln.Tensor {
  return kiln.tensor(x.dataSync(), { shape: x.shape, dtype: 'float64', backend: 'reference' });
}

/** Runs `f` on the wasm backend and on the reference backend in float64, compares. */
function sameOnBoth(shapes: number[][], f: (...xs: kiln.Tensor[]) => kiln.Tensor, k = 1): void {
  kiln.scope(() => {
    const xs = shapes.map((s, i) => kiln.randn(s, { seed: 10 + i, backend: 'wasm' }));
    const ref = f(...xs.map(toRef64));
    close(f(...xs), ref, 1e-5 * Math.sqrt(k));
  });
}

describe('matmul errors', () => {
  it('names both shapes on an inner-dimension mismatch', () => {
    expect(() => kiln.zeros([2, 3]).matmul(kiln.zeros([4, 5]))).toThrow(/inner dimensions differ: \[2, 3\] @ \[4, 5\] \(3 vs 4\)/);
    expect(() => kiln.matmul(kiln.zeros([3]), kiln.zeros([4]))).toThrow(/matmul.*inner dimensions/);
  });
  it('rejects scalars, bool, mixed dtypes and unbroadcastable batches', () => {
    expect(() => kiln.matmul(kiln.tensor(2), kiln.zeros([2]))).toThrow(/at least 1-D/);
    expect(() => kiln.matmul(kiln.zeros([2, 2], { dtype: 'bool' }), kiln.zeros([2, 2], { dtype: 'bool' }))).toThrow(/bool/);
    expect(() => kiln.matmul(kiln.zeros([2, 2]), kiln.zeros([2, 2], { dtype: 'int32' }))).toThrow(/same dtype.*float32 and int32/);
    expect(() => kiln.matmul(kiln.zeros([2, 3, 4]), kiln.zeros([3, 4, 5]))).toThrow(/batch dimensions \[2\] and \[3\]/);
  });
  it('reports the user call site', () => {
    try {
      kiln.zeros([2, 3]).matmul(kiln.zeros([2, 3]));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(kiln.KilnError);
      expect(String((e as Error).message)).toMatch(/linalg\.test\.ts/);
    }
  });
});

describe('transpose / permute errors and shortcuts', () => {
  it('validates dims', () => {
    const x = kiln.zeros([2, 3, 4]);
    expect(() => x.transpose(0, 3)).toThrow(/dim 3 is out of range for a tensor of rank 3/);
    expect(() => kiln.transpose(x, 1)).toThrow(/two dims/);
    expect(() => x.permute(0, 1)).toThrow(/needs 3 dims/);
    expect(() => x.permute(0, 1, 1)).toThrow(/not a permutation/);
    expect(() => x.permute(0, 1, -4)).toThrow(/out of range/);
    expect(() => x.permute(0, 1.5, 2)).toThrow(/out of range/);
  });
  it('accepts a list in the method form, like torch', () => {
    const x = kiln.zeros([2, 3, 4]);
    expect((x.permute as (...d: unknown[]) => kiln.Tensor)([2, 0, 1]).shape).toEqual([4, 2, 3]);
  });
  it('returns the input for identity permutations and scalars, reshapes when only size-1 axes move', () => {
    const x = kiln.randn([2, 1, 3], { seed: 1 });
    expect(x.permute(0, 1, 2)).toBe(x);
    expect(x.transpose(1, 1)).toBe(x);
    const s = kiln.tensor(3);
    expect(s.transpose()).toBe(s);
    expect(s.transpose(0, -1)).toBe(s);
    const y = x.transpose(0, 1); // [1, 2, 3]: same element order, storage shared
    expect(y.shape).toEqual([1, 2, 3]);
    expect(y.storage).toBe(x.storage);
    expect(y.toArray()).toEqual([x.toArray() as number[][][]].map((a) => a.map((r) => r[0]))); // [[x[0,0,:], x[1,0,:]]]
  });
  it('the primitive op itself rejects a non-permutation attr', () => {
    const def = kiln.listOps().find((d) => d.name === 'transpose')!;
    expect(() => def.infer([{ shape: [2, 3], dtype: 'float32' }], { perm: [0, 0] })).toThrow(/not a permutation/);
  });
});

describe('matmul edge shapes', () => {
  for (const backend of ['reference', 'wasm'] as const) {
    it(`empty operands on ${backend}`, () => {
      const z = kiln.matmul(kiln.ones([2, 0], { backend }), kiln.ones([0, 3], { backend }));
      expect(z.toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
      expect(kiln.matmul(kiln.ones([0, 4], { backend }), kiln.ones([4, 3], { backend })).shape).toEqual([0, 3]);
      expect(kiln.matmul(kiln.ones([2, 0, 4], { backend }), kiln.ones([4, 3], { backend })).shape).toEqual([2, 0, 3]);
      expect(kiln.matmul(kiln.ones([0], { backend }), kiln.ones([0], { backend })).item()).toBe(0);
    });
    it(`int32 on ${backend}`, () => {
      const a = kiln.tensor([[1, 2], [3, 4]], { dtype: 'int32', backend });
      expect(a.matmul(a).toArray()).toEqual([[7, 10], [15, 22]]);
      expect(a.matmul(a).dtype).toBe('int32');
    });
    it(`NaN and Inf propagate on ${backend}`, () => {
      const a = kiln.tensor([[0, 1]], { backend });
      const b = kiln.tensor([[Infinity], [1]], { backend });
      expect(Number.isNaN(a.matmul(b).item())).toBe(true); // 0·∞ = NaN, as in IEEE and torch
    });
  }
});

describe('wasm native paths agree with the reference backend', () => {
  it('2-D, large and non-square (XNNPACK)', () => sameOnBoth([[70, 130], [130, 45]], (a, b) => a.matmul(b), 130));
  it('batched with distinct B per slice', () => sameOnBoth([[5, 20, 30], [5, 30, 25]], (a, b) => a.matmul(b), 30));
  it('batched, B broadcast along a batch dim (each B packed once)', () => sameOnBoth([[4, 3, 20, 30], [3, 30, 25]], (a, b) => a.matmul(b), 30));
  it('batched, A broadcast', () => sameOnBoth([[20, 30], [2, 3, 30, 25]], (a, b) => a.matmul(b), 30));
  it('batched, A broadcast along a batch dim', () => sameOnBoth([[3, 1, 20, 30], [3, 2, 30, 25]], (a, b) => a.matmul(b), 30));
  it('stacked rows when B has no batch', () => sameOnBoth([[2, 3, 20, 30], [1, 30, 25]], (a, b) => a.matmul(b), 30));
  it('a B that XNNPACK would pack afresh and is wider than A is tall runs as (Bᵀ·Aᵀ)ᵀ; B reused, then written in place', () => {
    kiln.scope(() => {
      const a = kiln.randn([6, 37], { seed: 1 }), b = kiln.randn([37, 45], { seed: 2 });
      const want = () => toRef64(a).matmul(toRef64(b));
      close(a.matmul(b), want(), 1e-5 * Math.sqrt(37)); // first use: transposed product
      close(a.matmul(b), want(), 1e-5 * Math.sqrt(37)); // unchanged: direct, packed once
      close(a.matmul(b), want(), 1e-5 * Math.sqrt(37)); // cached packing
      kiln.noGrad(() => b.mul_(-2));                     // written in place: packed again
      close(a.matmul(b), want(), 1e-5 * Math.sqrt(37));
      kiln.noGrad(() => b.add_(1));
      close(a.matmul(b), want(), 1e-5 * Math.sqrt(37));
      close(a.matmul(b), want(), 1e-5 * Math.sqrt(37));
      // Stacked rows (A batched, B shared) on the same path.
      sameOnBoth([[2, 3, 37], [37, 50]], (x, y) => x.matmul(y), 37);
    });
  });
  it('small batched slices (JS loop)', () => sameOnBoth([[7, 3, 4], [7, 4, 5]], (a, b) => a.matmul(b), 4));
  it('vector-matrix and matrix-vector', () => {
    sameOnBoth([[300], [300, 70]], (a, b) => a.matmul(b), 300);
    sameOnBoth([[70, 300], [300]], (a, b) => a.matmul(b), 300);
  });
  it('gradients of broadcast batched matmuls', () => {
    const shapes: [number[], number[]][] = [[[2, 1, 20, 30], [3, 30, 25]], [[20, 30], [2, 3, 30, 25]], [[2, 3, 20, 30], [30, 25]], [[30], [2, 30, 25]]];
    for (const [sa, sb] of shapes) {
      for (const which of [0, 1]) {
        // Gradients sum over up to 6 batch elements of K = 20..30 products each.
        sameOnBoth([sa, sb], (a, b) => {
          const w = kiln.randn(kiln.matmul(kiln.zeros(sa, { backend: 'reference' }), kiln.zeros(sb, { backend: 'reference' })).shape, { seed: 99, backend: 'reference' });
          const wl = a.backend.name === 'reference' ? toRef64(w) : w.to('wasm');
          return kiln.grad((x: kiln.Tensor, y: kiln.Tensor) => x.matmul(y).mul(wl).sum())(a, b)[which]!;
        }, 6 * 30);
      }
    }
  });
  it('transposes of many ranks and dtypes (_Transpose)', () => {
    sameOnBoth([[33, 65]], (x) => x.transpose(), 1);
    sameOnBoth([[3, 4, 5, 6]], (x) => x.permute(3, 1, 0, 2), 1);
    sameOnBoth([[2, 3, 2, 3, 2, 3, 2]], (x) => x.permute(6, 0, 5, 1, 4, 2, 3), 1);
    sameOnBoth([[2, 1, 3, 1, 4]], (x) => x.permute(4, 3, 2, 1, 0), 1);
    for (const dtype of ['int32', 'bool'] as const) {
      const data = Array.from({ length: 60 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
      const x = kiln.tensor(data, { shape: [3, 4, 5], dtype, backend: 'reference' });
      expect(x.to('wasm').permute(2, 0, 1).toArray()).toEqual(x.permute(2, 0, 1).toArray());
      expect(x.to('wasm').transpose().toArray()).toEqual(x.transpose().toArray());
    }
  });
});

describe('wasm: XNNPACK caches B packed by tensor id', () => {
  it('a reshaped alias of B (same storage, other K×N) is not computed with the old packing', () => {
    const w = kiln.randn([4, 6], { seed: 5, backend: 'wasm' });
    const x = kiln.randn([3, 4], { seed: 6, backend: 'wasm' });
    const x2 = kiln.randn([3, 6], { seed: 7, backend: 'wasm' });
    const ref = (a: kiln.Tensor, b: kiln.Tensor): kiln.Tensor => a.to('reference').matmul(b.to('reference'));
    close(x.matmul(w), ref(x, w), 1e-5);
    const w2 = w.reshape([6, 4]); // shares w's storage id
    close(x2.matmul(w2), ref(x2, w2), 1e-5);
    close(x.matmul(w), ref(x, w), 1e-5);
  });
  it('an in-place update of B is seen by the next matmul', () => {
    const w = kiln.randn([4, 6], { seed: 5, backend: 'wasm' });
    const x = kiln.randn([3, 4], { seed: 6, backend: 'wasm' });
    const before = x.matmul(w).toArray();
    kiln.noGrad(() => w.mul_(2));
    const after = x.matmul(w);
    close(after, kiln.tensor(before, { backend: 'wasm' }).mul(2), 1e-5);
  });
});

describe('higher-order gradients through matmul and transpose', () => {
  it('d²/dx² of sum((x·A)²) = 2·A·Aᵀ summed appropriately (gradcheck of the gradient)', () => {
    const a = kiln.randn([3, 2], { seed: 2, backend: 'reference', dtype: 'float64' });
    const x = kiln.randn([4, 3], { seed: 1, backend: 'reference', dtype: 'float64' });
    const gradF = (t: kiln.Tensor): kiln.Tensor => kiln.grad((u: kiln.Tensor) => u.matmul(a).square().sum())(t)[0]!.transpose().sum(0);
    const res = kiln.testing.gradcheck(gradF, [x], { raise: false });
    expect(res.mismatches).toEqual([]);
  });
});
