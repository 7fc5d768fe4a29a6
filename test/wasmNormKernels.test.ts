/**
 * The wasm normalization kernels (src/runtime/wasm/kernels/normalization.ts on the
 * generated simdNormalization.ts): batchNorm, batchNormTraining (statistics in one
 * float64 pass), batchNormTrainingGrad, layerNorm and layerNormGrad agree with the reference backend's
 * portable kernels on awkward shapes (runs of every length mod 4, inner size 1, size-1
 * and zero-size dims, every weight/bias combination), NaN and ±Infinity propagate as
 * there, and data far from 0 keeps its variance (1e7 + [1..4] → 1.25 exactly).
 *
 * Tolerance: the two compute the same float64 formulas and differ only in the order of
 * the float64 additions inside the sums, so a float32 result may be off by a rounding
 * boundary: |wasm − reference| ≤ 1e-6·max(1, |reference|) per element (expected: equal
 * bits almost everywhere, which is also asserted: ≥ 99% of the elements of each case).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import type { Attrs } from '../src/ir/index.js';
import { rng } from './support/kernelChecks.js';

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Mixed-sign float32 values around `mean`. */
function values(n: number, seed: number, mean = 0.3, scale = 2): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + (r() * 2 - 1) * scale;
  return out;
}

/** Runs `op` on both backends with the same float32 inputs; returns [wasm, reference] outputs as arrays. */
function both(op: string, inputs: readonly { data: Float32Array; shape: number[] }[], attrs: Attrs): [Float32Array[], Float32Array[]] {
  const run = (backend: 'wasm' | 'reference') => kiln.scope(() => {
    const ts = inputs.map((i) => kiln.tensor(i.data, { shape: i.shape, backend }));
    return ts[0]!.applyOp(op, ts.slice(1), attrs).map((t) => Float32Array.from(t.dataSync()));
  });
  return [run('wasm'), run('reference')];
}

function expectClose(got: readonly Float32Array[], want: readonly Float32Array[], what: string): void {
  expect(got.length).toBe(want.length);
  let same = 0, total = 0;
  got.forEach((g, k) => {
    const w = want[k]!;
    expect(g.length, `${what} output ${k}`).toBe(w.length);
    for (let i = 0; i < w.length; i++) {
      total++;
      if (Object.is(g[i], w[i]) || (Number.isNaN(g[i]) && Number.isNaN(w[i]))) { same++; continue; }
      if (!Number.isFinite(w[i]!)) expect.fail(`${what} output ${k}[${i}]: ${g[i]}, expected ${w[i]}`);
      expect(Math.abs(g[i]! - w[i]!), `${what} output ${k}[${i}]`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w[i]!)));
    }
  });
  if (total >= 100) expect(same / total, `${what}: share of equal bits`).toBeGreaterThanOrEqual(0.99);
}

const channelShapes: number[][] = [[3, 5, 7], [5, 3], [1, 1], [2, 3, 1, 9], [4, 2, 4, 4], [2, 3, 5, 3], [7, 1, 17], [0, 3, 2], [16, 6, 6, 6]];

describe('wasm has its own kernels for the normalization ops', () => {
  it('batchNorm, batchNormTraining, batchNormTrainingGrad, layerNorm, layerNormGrad are native (not their decompositions)', () => {
    const k = engine.backends.get('wasm')!.kernels;
    for (const op of ['batchNorm', 'batchNormTraining', 'batchNormTrainingGrad', 'layerNorm', 'layerNormGrad']) expect(k.has(op), op).toBe(true);
  });
});

describe('batchNormTraining on wasm = reference', () => {
  it('odd sizes, inner size 1, size-1 and zero-size dims, with and without weight/bias', () => {
    channelShapes.forEach((shape, s) => {
      const c = shape[1]!;
      const x = { data: values(sizeOf(shape), s + 1), shape };
      const w = { data: values(c, s + 50, 0.5, 1), shape: [c] }, b = { data: values(c, s + 90), shape: [c] };
      for (const params of [[], [w], [w, b]]) expectClose(...both('batchNormTraining', [x, ...params], { eps: 1e-5 }), `[${shape}] with ${params.length} params`);
    });
  });

  it('statistics in float64 around a large offset: 1e7 + [1, 2, 3, 4] has mean 1e7 + 2.5 and variance 1.25 exactly', () => {
    const [[y, mean, variance]] = both('batchNormTraining', [{ data: Float32Array.of(1e7 + 1, 1e7 + 2, 1e7 + 3, 1e7 + 4), shape: [4, 1] }], { eps: 0 });
    expect(variance![0]).toBe(1.25);
    expect(mean![0]).toBe(Math.fround(1e7 + 2.5));
    const s = Math.sqrt(1.25);
    expect(Array.from(y!)).toEqual([-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s].map(Math.fround));
  });

  it('NaN and ±Infinity make only their own channel NaN, as on the reference backend', () => {
    const shape = [3, 4, 5];
    const d = values(60, 7);
    d[5 + 2] = NaN; // channel 1
    d[20 + 10 + 1] = Infinity; // channel 2
    d[40 + 15] = -Infinity; // channel 3
    const [got, want] = both('batchNormTraining', [{ data: d, shape }], { eps: 1e-5 });
    expectClose(got, want, 'specials');
    const [y, mean, variance] = got;
    expect(Number.isNaN(mean![1]!) && Number.isNaN(variance![1]!)).toBe(true);
    expect(Number.isFinite(mean![0]!) && Number.isFinite(variance![0]!)).toBe(true);
    for (let n = 0; n < 3; n++) for (let i = 0; i < 5; i++) expect(Number.isNaN(y![n * 20 + 5 + i]!)).toBe(true);
    for (let n = 0; n < 3; n++) for (let i = 0; i < 5; i++) expect(Number.isFinite(y![n * 20 + i]!)).toBe(true);
  });
});

describe('batchNorm (inference) and batchNormTrainingGrad on wasm = reference', () => {
  it('batchNorm by given statistics, odd sizes, NaN kept', () => {
    channelShapes.forEach((shape, s) => {
      const c = shape[1]!;
      const data = values(sizeOf(shape), s + 3);
      if (data.length > 2) data[1] = NaN;
      const x = { data, shape };
      const mean = { data: values(c, s + 4), shape: [c] }, variance = { data: values(c, s + 5, 1.5, 1), shape: [c] };
      const w = { data: values(c, s + 6), shape: [c] }, b = { data: values(c, s + 7), shape: [c] };
      for (const params of [[], [w], [w, b]]) expectClose(...both('batchNorm', [x, mean, variance, ...params], { eps: 1e-3 }), `[${shape}]`);
    });
  });

  it('the closed-form backward (dx, dweight, dbias), with and without a weight', () => {
    channelShapes.forEach((shape, s) => {
      const c = shape[1]!, n = sizeOf(shape);
      const x = { data: values(n, s + 11), shape }, dy = { data: values(n, s + 12, -0.1), shape };
      const vec = (seed: number, mean = 0) => ({ data: values(c, seed, mean, 1), shape: [c] });
      const ins = [x, dy, vec(s + 13, 0.3), vec(s + 14, 1.5), vec(s + 15), vec(s + 16)];
      expectClose(...both('batchNormTrainingGrad', ins, { eps: 1e-5 }), `[${shape}] no weight`);
      expectClose(...both('batchNormTrainingGrad', [...ins, vec(s + 17)], { eps: 1e-5 }), `[${shape}] weight`);
    });
  });
});

describe('layerNorm on wasm = reference', () => {
  const cases: [number[], number][] = [[[3, 7], 1], [[2, 3, 5], 1], [[2, 3, 5], 2], [[4, 1], 1], [[1, 33], 1], [[5, 16], 1], [[2, 2, 2, 3], 0], [[0, 4], 1], [[64, 96], 1]];
  it("without weight, with weight, with weight and bias (the op's input order allows no bias alone), odd row lengths, rows of one element, zero rows", () => {
    cases.forEach(([shape, axis], s) => {
      const tail = shape.slice(axis);
      const x = { data: values(sizeOf(shape), s + 21, 0.3, 3), shape };
      const w = { data: values(sizeOf(tail), s + 22), shape: tail }, b = { data: values(sizeOf(tail), s + 23), shape: tail };
      for (const params of [[], [w], [w, b]]) expectClose(...both('layerNorm', [x, ...params], { axis, eps: 1e-5 }), `[${shape}] axis ${axis}, ${params.length} params`);
    });
  });

  it('large offsets, NaN and ±Infinity rows: only the row holding one is NaN', () => {
    const d = new Float32Array(4 * 5);
    for (let i = 0; i < d.length; i++) d[i] = 1e7 + (i % 5) + 1;
    d[5 + 3] = NaN;
    d[10] = Infinity;
    d[19] = -Infinity;
    const [got, want] = both('layerNorm', [{ data: d, shape: [4, 5] }], { axis: 1, eps: 0 });
    expectClose(got, want, 'specials');
    const y = got[0]!;
    const s = Math.sqrt(2);
    expect(Array.from(y.slice(0, 5))).toEqual([-2 / s, -1 / s, 0, 1 / s, 2 / s].map(Math.fround));
    for (const r of [1, 2, 3]) expect(Array.from(y.slice(r * 5, r * 5 + 5)).every(Number.isNaN), `row ${r}`).toBe(true);
  });
});

describe('layerNormGrad on wasm = reference', () => {
  it('dx, dweight, dbias with and without a weight: odd row lengths, one-element rows, several leading axes, NaN kept per row', () => {
    const cases: [number[], number][] = [[[3, 7], 1], [[2, 3, 5], 1], [[2, 3, 5], 2], [[4, 1], 1], [[1, 33], 1], [[5, 16], 1], [[2, 2, 2, 3], 0], [[0, 4], 1], [[64, 96], 1]];
    cases.forEach(([shape, axis], s) => {
      const tail = shape.slice(axis), n = sizeOf(shape);
      const xd = values(n, s + 61, 0.3, 3);
      if (n > 6) xd[5] = NaN;
      const x = { data: xd, shape }, dy = { data: values(n, s + 62, -0.2), shape };
      const w = { data: values(sizeOf(tail), s + 63), shape: tail };
      expectClose(...both('layerNormGrad', [x, dy], { axis, eps: 1e-5 }), `[${shape}] axis ${axis}`);
      expectClose(...both('layerNormGrad', [x, dy, w], { axis, eps: 1e-5 }), `[${shape}] axis ${axis}, weight`);
    });
  });
});

describe('logSoftmax on wasm (last axis) = reference', () => {
  it('is a native kernel', () => {
    expect(engine.backends.get('wasm')!.kernels.has('logSoftmax')).toBe(true);
  });

  it('row lengths of every size mod 4 (1 to 33, 1000), many rows, wide ranges: |Δ| ≤ 1e-6·max(1, |ref|)', () => {
    const shapes = [[1, 1], [3, 2], [2, 3], [5, 4], [4, 5], [7, 6], [2, 7], [3, 9], [2, 33], [64, 1000], [2, 3, 17]];
    shapes.forEach((shape, s) => {
      const [got, want] = both('logSoftmax', [{ data: values(sizeOf(shape), s + 41, 0, 30), shape }], { axis: shape.length - 1 });
      const g = got[0]!, w = want[0]!;
      for (let i = 0; i < w.length; i++) expect(Math.abs(g[i]! - w[i]!), `[${shape}] at ${i}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w[i]!)));
    });
  });

  it('NaN, +Inf and all −Inf rows are NaN; −Inf elements give −Inf; a row of one element gives 0', () => {
    const d = Float32Array.of(
      1, NaN, 2, 3, 4,
      1, Infinity, 2, 3, 4,
      -Infinity, -Infinity, -Infinity, -Infinity, -Infinity,
      -Infinity, 0, 1, 2, 100,
    );
    const [[y], [ref]] = both('logSoftmax', [{ data: d, shape: [4, 5] }], { axis: 1 });
    for (let i = 0; i < 15; i++) expect(Number.isNaN(y![i]!), `at ${i}`).toBe(true);
    expect(y![15]).toBe(-Infinity);
    expect(Math.abs(y![19]!)).toBeLessThan(1e-6);
    for (let i = 15; i < 20; i++) expect(Math.abs(y![i]! - ref![i]!) <= 1e-6 * Math.max(1, Math.abs(ref![i]!)) || y![i] === ref![i]).toBe(true);
    const [[one]] = both('logSoftmax', [{ data: Float32Array.of(5, -3, NaN), shape: [3, 1] }], { axis: 1 });
    expect(Array.from(one!)).toEqual([0, 0, NaN]);
  });

  it('other axes go to the portable kernel (same bits as the reference)', () => {
    const shape = [3, 5, 4];
    const [got, want] = both('logSoftmax', [{ data: values(60, 51, 0, 5), shape }], { axis: 1 });
    expect(Array.from(got[0]!)).toEqual(Array.from(want[0]!));
  });
});
