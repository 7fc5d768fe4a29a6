/**
 * dropout is random, so no golden values: statistics of the mask, the 1/(1−p) scale,
 * eval-mode identity, seeded reproducibility across backends, and the gradient.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

beforeAll(async () => {
  await kiln.init();
});

const BACKENDS = ['reference', 'wasm'] as const;

describe('dropout', () => {
  for (const backend of BACKENDS) {
    it(`keeps 1−p of 100k elements (within 4 standard errors) and scales them by 1/(1−p) on ${backend}`, () => {
      kiln.scope(() => {
        const n = 100_000, p = 0.3;
        const x = kiln.rand([n], { seed: 5, backend }).add(0.5); // no zeros
        const y = kiln.dropout(x, p, { seed: 42 });
        const xs = x.dataSync(), ys = y.dataSync();
        let kept = 0, worst = 0;
        for (let i = 0; i < n; i++) {
          if (ys[i] === 0) continue;
          kept++;
          worst = Math.max(worst, Math.abs(ys[i]! - xs[i]! / (1 - p)) / Math.abs(ys[i]!));
        }
        expect(worst).toBeLessThanOrEqual(1e-6);
        const se = Math.sqrt((p * (1 - p)) / n);
        expect(Math.abs(kept / n - (1 - p))).toBeLessThan(4 * se);
      });
    });

    it(`is the identity when not training or p = 0, zeros when p = 1, on ${backend}`, () => {
      kiln.scope(() => {
        const x = kiln.randn([4, 5], { seed: 1, backend });
        expect(kiln.dropout(x, 0.3, { training: false })).toBe(x);
        expect(kiln.dropout(x, 0)).toBe(x);
        const z = kiln.dropout(x, 1);
        expect(Array.from(z.dataSync()).every((v) => v === 0)).toBe(true);
        expect(z.shape).toEqual([4, 5]);
      });
    });

    it(`has gradient mask·1/(1−p) on ${backend}`, () => {
      kiln.scope(() => {
        const p = 0.25;
        const x = kiln.randn([64, 33], { seed: 3, backend }).requiresGrad_();
        const y = kiln.dropout(x, p, { seed: 9 });
        const w = kiln.randn([64, 33], { seed: 4, backend });
        y.mul(w).sum().backward();
        const ys = y.dataSync(), gs = x.grad!.dataSync(), ws = w.dataSync();
        for (let i = 0; i < ys.length; i++) {
          const expected = ys[i] === 0 ? 0 : ws[i]! / (1 - p);
          expect(Math.abs(gs[i]! - expected)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(expected)));
        }
        x.zeroGrad();
        kiln.dropout(x, 1).sum().backward();
        expect(Array.from(x.grad!.dataSync()).every((v) => v === 0)).toBe(true);
      });
    });
  }

  it('gives the same mask for the same seed on both backends, another for another seed', () => {
    kiln.scope(() => {
      const mask = (backend: kiln.BackendName, seed: number): number[] =>
        Array.from(kiln.dropout(kiln.ones([1000], { backend }), 0.5, { seed }).dataSync(), (v) => (v === 0 ? 0 : 1));
      const a = mask('reference', 7);
      expect(mask('wasm', 7)).toEqual(a);
      expect(mask('reference', 7)).toEqual(a);
      expect(mask('reference', 8)).not.toEqual(a);
    });
  });

  it('draws a fresh mask per call without a seed', () => {
    kiln.scope(() => {
      kiln.manualSeed(0);
      const x = kiln.ones([1000]);
      const a = Array.from(kiln.dropout(x, 0.5).dataSync());
      const b = Array.from(kiln.dropout(x, 0.5).dataSync());
      expect(a).not.toEqual(b);
      kiln.manualSeed(0);
      expect(Array.from(kiln.dropout(x, 0.5).dataSync())).toEqual(a);
    });
  });

  it('validates p and the dtype', () => {
    const x = kiln.ones([3]);
    for (const p of [-0.1, 1.5, NaN]) {
      expect(() => kiln.dropout(x, p)).toThrow(kiln.KilnError);
      expect(() => kiln.dropout(x, p)).toThrow(/dropout: dropout probability has to be between 0 and 1/);
    }
    expect(() => kiln.dropout(kiln.ones([3], { dtype: 'int32' }), 0.5)).toThrow(/floating-point/);
  });
});
