/**
 * Hardening, numerics: every check runs on the reference and the wasm backend.
 *  - log1p is accurate near 0 (wasm's was log(1 + x) in float32: 0 at 1e-10);
 *  - relu keeps NaN (it returned 0) on the generated SIMD kernels' vector body and scalar
 *    tail, through nn.ReLU, nn.Linear + ReLU and a compiled graph; leakyRelu, elu, clip,
 *    maximum and minimum propagate NaN as PyTorch does;
 *  - binaryCrossEntropy rejects probabilities outside [0, 1] (and NaN) with a KilnError;
 *    soft targets pass; under kiln.compile (fullGraph) out-of-range gives NaN, no break;
 *  - float → int32 casts truncate, saturate and map NaN to 0 on every backend (the
 *    reference wrapped modulo 2³²); float → bool is x ≠ 0 (NaN true);
 *  - variance and the batch/layer/group norms' statistics are exact with large offsets
 *    ([1e7+1 … 1e7+4]: 2 instead of 1.667), sums and means accumulate in float64 on wasm
 *    for short rows too (tfjs's float32 `_Sum` lost [1e8, 3, −1e8, 3]'s 6), as does prod.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';

const BACKENDS = ['reference', 'wasm'] as const;
const f32 = Math.fround;

/** `n` values cycling through `vals`: long enough for the SIMD kernels' 16-wide body and their scalar tail. */
const spread = (vals: readonly number[], n = 37): number[] => Array.from({ length: n }, (_x, i) => vals[i % vals.length]!);

for (const backend of BACKENDS) {
  const t = (d: number[], shape?: number[]): kiln.Tensor => kiln.tensor(d, { backend, ...(shape ? { shape } : {}) });
  const flat = (x: kiln.Tensor): number[] => Array.from(x.dataSync());

  describe(`numerics on ${backend}`, () => {
    // The default backend, so layers create their parameters there too.
    beforeAll(() => kiln.init({ backend }));

    it('log1p: within 1 ulp of Math.log1p rounded to float32, near 0 and far from it', () => {
      const xs = [1e-10, -1e-7, 1e-3, -1e-3, 0.5, 1e6, 1e30, 3e38, -0.5, -0.999, -1, -2, 0, NaN, Infinity];
      const got = flat(t(xs).log1p());
      xs.forEach((x, i) => {
        const want = f32(Math.log1p(f32(x)));
        const g = got[i]!;
        if (Number.isNaN(want)) expect(g, `log1p(${x})`).toBeNaN();
        else if (!Number.isFinite(want)) expect(g, `log1p(${x})`).toBe(want);
        // Tolerance: one float32 ulp of the result (2⁻²³ relative).
        else expect(Math.abs(g - want), `log1p(${x}) = ${g}, want ${want}`).toBeLessThanOrEqual(Math.abs(want) * 2 ** -23);
      });
    });

    it('relu keeps NaN (vector body and scalar tail); -0 and negatives give 0', () => {
      const xs = spread([NaN, -1, 2, -0, 0.5, NaN, -3e38, Infinity, -Infinity]);
      const got = flat(t(xs).relu());
      xs.forEach((x, i) => {
        if (Number.isNaN(x)) expect(got[i], `relu at ${i}`).toBeNaN();
        else expect(got[i], `relu(${x}) at ${i}`).toBe(x > 0 ? x : 0);
      });
      expect(flat(new kiln.nn.ReLU().forward(t([NaN, 1, -1])))).toEqual([NaN, 1, 0]);
    });

    it('leakyRelu, elu, clip, maximum, minimum propagate NaN as PyTorch', () => {
      const xs = spread([NaN, -2, 3, NaN, 0.25]);
      const isNaNAt = (y: kiln.Tensor): boolean[] => flat(y).map(Number.isNaN);
      const nanAt = xs.map(Number.isNaN);
      expect(isNaNAt(t(xs).leakyRelu(0.1))).toEqual(nanAt);
      expect(isNaNAt(t(xs).elu())).toEqual(nanAt); // alpha 1: tfjs's Elu on wasm
      expect(isNaNAt(t(xs).elu(0.5))).toEqual(nanAt);
      expect(isNaNAt(t(xs).clip(-1, 1))).toEqual(nanAt);
      expect(isNaNAt(t(xs).clip(0, null))).toEqual(nanAt);
      expect(isNaNAt(t(xs).clip(null, 0))).toEqual(nanAt);
      const other = t(spread([1, NaN, -5]));
      const either = xs.map((x, i) => Number.isNaN(x) || i % 3 === 1);
      expect(isNaNAt(t(xs).maximum(other))).toEqual(either);
      expect(isNaNAt(t(xs).minimum(other))).toEqual(either);
      expect(isNaNAt(t(xs).maximum(t([0])))).toEqual(nanAt); // broadcast scalar
      expect(isNaNAt(t([0]).minimum(t(xs)))).toEqual(nanAt);
    });

    it('nn.Linear + ReLU, eager and compiled, keeps a NaN input NaN (no fused clamp hides it)', () => {
      const model = new kiln.nn.Sequential(new kiln.nn.Linear(3, 5), new kiln.nn.ReLU()).eval();
      const x = t([NaN, 1, 2, 0.5, -1, 3], [2, 3]);
      const eager = flat(model.forward(x));
      expect(eager.slice(0, 5).every(Number.isNaN)).toBe(true);
      expect(eager.slice(5).some(Number.isNaN)).toBe(false);
      if (backend === 'wasm') {
        const fast = kiln.compile(model, { inputs: [kiln.spec([kiln.dim('batch'), 3])], fullGraph: true });
        for (let run = 0; run < 2; run++) {
          const y = flat(fast.run(x) as kiln.Tensor);
          expect(y.slice(0, 5).every(Number.isNaN), `compiled run ${run}`).toBe(true);
          expect(y.slice(5)).toEqual(eager.slice(5));
        }
      }
    });

    it('binaryCrossEntropy: inputs outside [0, 1] or NaN throw a KilnError; bounds and soft targets pass', () => {
      const y = t([1, 0]);
      for (const bad of [[1.5, 0.2], [0.5, -0.5], [NaN, 0.2], [0.5, -1e-7]]) {
        let err: unknown = null;
        try { kiln.nn.binaryCrossEntropy(t(bad), y); } catch (e) { err = e; }
        expect(err, `input ${bad}`).toBeInstanceOf(kiln.KilnError);
        expect((err as Error).message).toMatch(/binaryCrossEntropy: all elements of input should be between 0 and 1, got (NaN|values from)/);
        expect((err as Error).message).toContain('numerics.test.ts'); // the user's line
      }
      // p = 0 or 1 is allowed (logs clamped at −100); targets are not checked (PyTorch neither).
      expect(kiln.nn.binaryCrossEntropy(t([0, 1]), t([0, 1])).item()).toBe(0);
      expect(kiln.nn.binaryCrossEntropy(t([1, 0]), t([0, 1]), { reduction: 'sum' }).item()).toBe(200);
      // PyTorch 1.13: binary_cross_entropy([0.5, 0.2], [1.5, -0.5]) = 0.1116 (tolerance 1e-4).
      expect(kiln.nn.binaryCrossEntropy(t([0.5, 0.2]), t([1.5, -0.5])).item()).toBeCloseTo(0.1116, 4);
      expect(new kiln.nn.BCELoss().forward(t([0.9]), t([1])).item()).toBeCloseTo(-Math.log(0.9), 6);
      expect(() => new kiln.nn.BCELoss().forward(t([2]), t([1]))).toThrow(/between 0 and 1/);
    });

    it('binaryCrossEntropy under kiln.compile: no graph break (fullGraph), out-of-range gives NaN', () => {
      const fast = kiln.compile((p: kiln.Tensor, y: kiln.Tensor) => kiln.nn.binaryCrossEntropy(p, y),
        { inputs: [kiln.spec([kiln.dim('n')]), kiln.spec([kiln.dim('n')])], fullGraph: true, target: backend });
      const y = t([1, 0, 1]);
      for (let run = 0; run < 2; run++) {
        const good = (fast.run(t([0.9, 0.2, 1]), y) as kiln.Tensor).item();
        expect(Math.abs(good - kiln.nn.binaryCrossEntropy(t([0.9, 0.2, 1]), y).item())).toBeLessThanOrEqual(1e-7);
        expect((fast.run(t([0.9, 1.5, 1]), y) as kiln.Tensor).item(), `run ${run}`).toBeNaN();
        expect((fast.run(t([NaN, 0.5, 1]), y) as kiln.Tensor).item(), `run ${run}`).toBeNaN();
      }
      expect(fast.traceCount).toBe(1);
    });

    it('float → int32 casts: truncate, saturate to [−2³¹, 2³¹−1], NaN → 0; float → bool: x ≠ 0', () => {
      const xs = [NaN, 3e9, -3e9, 2.7, -2.7, Infinity, -Infinity, 2147483520, 2147483648, -2147483648, -2147483904, -0.5, 0.5, -0, 1e38];
      const want = [0, 2147483647, -2147483648, 2, -2, 2147483647, -2147483648, 2147483520, 2147483647, -2147483648, -2147483648, 0, 0, 0, 2147483647];
      expect(flat(t(xs).cast('int32'))).toEqual(want);
      // Longer than the wasm kernels' small-size paths.
      expect(flat(t(spread(xs, 300)).cast('int32'))).toEqual(spread(want, 300));
      if (backend === 'reference') {
        const d = kiln.tensor([2147483647.9, -2147483648.9, 4e9, NaN, -7.9], { backend, dtype: 'float64' });
        expect(flat(d.cast('int32'))).toEqual([2147483647, -2147483648, 2147483647, 0, -7]);
      }
      expect(t([NaN, 0, -0, 1e-45, -Infinity, 0.5]).cast('bool').toArray()).toEqual([true, false, false, true, true, true]);
    });

    it('variance is exact with a large offset (1e7 + [1, 2, 3, 4]: 1.6667, not 2), and its gradient', () => {
      const x = kiln.tensor([1e7 + 1, 1e7 + 2, 1e7 + 3, 1e7 + 4], { backend, requiresGrad: true });
      const v = x.variance();
      // Tolerance: one float32 ulp of the result.
      expect(Math.abs(v.item() - 5 / 3)).toBeLessThanOrEqual(2 ** -22);
      expect(x.variance(0, { unbiased: false }).item()).toBe(1.25);
      v.backward();
      // d var / dx = 2 (x − mean) / (n − 1) = [−1, −1/3, 1/3, 1] (tolerance 1e-6).
      flat(x.grad!).forEach((g, i) => expect(Math.abs(g - [-1, -1 / 3, 1 / 3, 1][i]!)).toBeLessThanOrEqual(1e-6));
      // Per row and per column, each with its own offset, against float64 on the same float32 values.
      const rows = 3, cols = 50;
      const data = Array.from({ length: rows * cols }, (_x, i) => f32(10 ** (5 + (i % rows)) + Math.sin(i * 1.7) * 3));
      const m = kiln.tensor(data, { backend, shape: [cols, rows] });
      const got = flat(m.variance(0));
      for (let r = 0; r < rows; r++) {
        const col = data.filter((_x, i) => i % rows === r);
        const mean = col.reduce((a, b) => a + b, 0) / cols;
        const want = col.reduce((a, b) => a + (b - mean) ** 2, 0) / (cols - 1);
        // Tolerance: 1e-5 relative (the old composite was off by up to ~1e-1 here).
        expect(Math.abs(got[r]! - want), `column ${r}: ${got[r]} vs ${want}`).toBeLessThanOrEqual(1e-5 * want);
      }
    });

    it('BatchNorm batch statistics are exact with a large offset', () => {
      const bn = new kiln.nn.BatchNorm1d(1, { momentum: 1 });
      const y = flat(bn.forward(t([1e7 + 1, 1e7 + 2, 1e7 + 3, 1e7 + 4], [4, 1])));
      const s = Math.sqrt(1.25 + 1e-5);
      // Normalized by the biased variance 1.25 (tolerance 1e-6); running variance unbiased 5/3.
      y.forEach((v, i) => expect(Math.abs(v - (i - 1.5) / s), `y[${i}] = ${v}`).toBeLessThanOrEqual(1e-6));
      expect(Math.abs(bn.runningVar!.item() - 5 / 3)).toBeLessThanOrEqual(2 ** -22);
    });

    it('relu passes the gradient through at NaN inputs, as PyTorch (it was 0)', () => {
      const x = kiln.tensor([NaN, -1, 0, 2], { backend, requiresGrad: true });
      x.relu().mul(kiln.tensor([3, 3, 3, 3], { backend })).sum().backward();
      expect(flat(x.grad!)).toEqual([3, 0, 0, 3]);
    });

    it('creating int32 tensors truncates fractions and rejects values outside int32 (they wrapped modulo 2³²)', () => {
      expect(flat(kiln.tensor([1.7, -1.7, 2147483647, -2147483648], { dtype: 'int32', backend }))).toEqual([1, -1, 2147483647, -2147483648]);
      for (const v of [3e9, -3e9, 2147483648, NaN, Infinity]) {
        expect(() => kiln.tensor([0, v], { dtype: 'int32', backend }), `tensor(${v})`).toThrow(/tensor: value .* cannot be converted to int32 without overflow/);
        expect(() => kiln.full([2], v, { dtype: 'int32', backend }), `full(${v})`).toThrow(kiln.KilnError);
      }
      expect(() => kiln.tensor(new Float32Array([3e9]), { dtype: 'int32', backend })).toThrow(kiln.KilnError);
    });

    it('LayerNorm and GroupNorm statistics are exact with a large offset (as BatchNorm)', () => {
      // Each row/group is 1e7 + [1, 2, 3, 4]: normalized by the biased variance 1.25, not 1.5
      // (the uncorrected mean 1e7+2 gave (x − m)² summing to 6). Tolerance 1e-6.
      const s = Math.sqrt(1.25 + 1e-5);
      const want = [0, 1, 2, 3].map((i) => (i - 1.5) / s);
      const x = t([1e7 + 1, 1e7 + 2, 1e7 + 3, 1e7 + 4, 1e7 + 1, 1e7 + 2, 1e7 + 3, 1e7 + 4], [2, 4]);
      const close = (got: number[], wanted: number[]) => got.forEach((v, i) => expect(Math.abs(v - wanted[i]!), `y[${i}] = ${v}`).toBeLessThanOrEqual(1e-6));
      close(flat(new kiln.nn.LayerNorm([4]).forward(x)), [...want, ...want]);
      close(flat(new kiln.nn.GroupNorm(1, 2).forward(x.reshape([1, 2, 4]))), [...want, ...want]);
    });

    it('sums and means of short rows accumulate in float64 (no float32 running sum)', () => {
      // [1e8, 3, −1e8, 3]: a float32 running sum loses each 3 (ulp of 1e8 is 8).
      const row = [1e8, 3, -1e8, 3];
      const x = t(spread(row, 64 * 4), [64, 4]);
      expect(flat(x.sum(1))).toEqual(new Array(64).fill(6));
      expect(flat(x.mean(1))).toEqual(new Array(64).fill(1.5));
      expect(flat(t(spread([1e30, 1e30, 1e-30, 1e-30], 16 * 4), [16, 4]).prod(1)).every((v) => Math.abs(v - 1) < 1e-6)).toBe(true);
    });
  });
}
