/**
 * Initializers (kiln.nn.init) and the layers' default initialization. Statistical checks
 * use large tensors and bounds of several standard errors (SE): sample mean within
 * 5·SE of the true mean; sample standard deviation within 2% of the true one (≈ 9 SE of
 * the std at ≥ 100k elements); uniform samples within their bounds and reaching 99% of them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, Embedding, init, LayerNorm, Linear, PReLU, type LinearOptions } from '../src/nn/layers/index.js';

beforeAll(async () => {
  await kiln.init();
});

function stats(t: kiln.Tensor): { mean: number; std: number; min: number; max: number; n: number } {
  const d = t.dataSync();
  let s = 0, min = Infinity, max = -Infinity;
  for (const v of d) {
    s += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = s / d.length;
  let ss = 0;
  for (const v of d) ss += (v - mean) ** 2;
  return { mean, std: Math.sqrt(ss / d.length), min, max, n: d.length };
}

/** U(−b, b): inside the bounds, reaching them, mean 0 (5 SE), std b/√3 (2%). */
function expectUniform(t: kiln.Tensor, lo: number, hi: number): void {
  const s = stats(t);
  const std = (hi - lo) / Math.sqrt(12);
  expect(s.min).toBeGreaterThanOrEqual(lo);
  expect(s.max).toBeLessThanOrEqual(hi);
  expect(s.min).toBeLessThan(lo + 0.01 * (hi - lo) + (s.n < 1000 ? 0.2 * (hi - lo) : 0));
  expect(s.max).toBeGreaterThan(hi - 0.01 * (hi - lo) - (s.n < 1000 ? 0.2 * (hi - lo) : 0));
  expect(Math.abs(s.mean - (lo + hi) / 2)).toBeLessThan((5 * std) / Math.sqrt(s.n));
  if (s.n >= 100_000) expect(Math.abs(s.std / std - 1)).toBeLessThan(0.02);
}

/** N(mean, std²): mean within 5 SE, std within 2%. */
function expectNormal(t: kiln.Tensor, mean: number, std: number): void {
  const s = stats(t);
  expect(Math.abs(s.mean - mean)).toBeLessThan((5 * std) / Math.sqrt(s.n));
  expect(Math.abs(s.std / std - 1)).toBeLessThan(0.02);
}

function matrix(t: kiln.Tensor): number[][] {
  const rows = t.shape[0]!;
  const cols = t.size / rows;
  const d = t.dataSync();
  return Array.from({ length: rows }, (_, r) => Array.from(d.subarray(r * cols, (r + 1) * cols)));
}

/** Largest |(AᵀA or AAᵀ) − g²·I| entry, computed in float64. */
function orthogonalityError(a: number[][], byColumns: boolean, gain = 1): number {
  const rows = a.length, cols = a[0]!.length;
  const n = byColumns ? cols : rows;
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let dot = 0;
      if (byColumns) for (let r = 0; r < rows; r++) dot += a[r]![i]! * a[r]![j]!;
      else for (let c = 0; c < cols; c++) dot += a[i]![c]! * a[j]![c]!;
      worst = Math.max(worst, Math.abs(dot - (i === j ? gain * gain : 0)));
    }
  }
  return worst;
}

describe('fan and gain', () => {
  it('calculateFanInAndFanOut follows PyTorch (dim 1 in, dim 0 out, kernel multiplies both)', () => {
    expect(init.calculateFanInAndFanOut([16, 3, 5, 5])).toEqual({ fanIn: 75, fanOut: 400 });
    expect(init.calculateFanInAndFanOut([4, 5])).toEqual({ fanIn: 5, fanOut: 4 });
    expect(init.calculateFanInAndFanOut(kiln.zeros([7, 2, 3]))).toEqual({ fanIn: 6, fanOut: 21 });
    expect(() => init.calculateFanInAndFanOut([3])).toThrow(/fewer than 2 dimensions/);
  });

  it('calculateGain matches PyTorch (exact to 1e-15)', () => {
    expect(init.calculateGain('linear')).toBe(1);
    expect(init.calculateGain('conv2d')).toBe(1);
    expect(init.calculateGain('sigmoid')).toBe(1);
    expect(init.calculateGain('tanh')).toBeCloseTo(5 / 3, 15);
    expect(init.calculateGain('relu')).toBeCloseTo(Math.SQRT2, 15);
    expect(init.calculateGain('leakyRelu')).toBeCloseTo(Math.sqrt(2 / (1 + 0.01 ** 2)), 15);
    expect(init.calculateGain('leakyRelu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 15);
    expect(init.calculateGain('selu')).toBe(0.75);
    expect(() => init.calculateGain('swish' as init.Nonlinearity)).toThrow(/unsupported nonlinearity/);
  });
});

describe('initializers', () => {
  const big = (): kiln.Tensor => kiln.zeros([500, 400]); // fanIn 400, fanOut 500, 200k elements

  it('constant_, zeros_, ones_ fill exactly', () => {
    const t = kiln.zeros([3, 4]);
    expect(init.constant_(t, 0.5)).toBe(t);
    expect([...t.dataSync()]).toEqual(new Array(12).fill(0.5));
    init.ones_(t);
    expect([...t.dataSync()]).toEqual(new Array(12).fill(1));
    init.zeros_(t);
    expect([...t.dataSync()]).toEqual(new Array(12).fill(0));
  });

  it('uniform_ and normal_ have the requested distribution', () => {
    expectUniform(init.uniform_(big(), -0.3, 0.7, { seed: 1 }), -0.3, 0.7);
    expectNormal(init.normal_(big(), 2, 0.5, { seed: 2 }), 2, 0.5);
  });

  it('xavierUniform_: U(±gain·√6/√(fanIn+fanOut)); xavierNormal_: std gain·√(2/(fanIn+fanOut))', () => {
    const b = Math.sqrt(6 / 900);
    expectUniform(init.xavierUniform_(big(), { seed: 3 }), -b, b);
    expectUniform(init.xavierUniform_(big(), { seed: 3, gain: 2 }), -2 * b, 2 * b);
    expectNormal(init.xavierNormal_(big(), { seed: 4 }), 0, Math.sqrt(2 / 900));
  });

  it('kaimingUniform_ / kaimingNormal_ follow PyTorch (a, mode, nonlinearity)', () => {
    expectUniform(init.kaimingUniform_(big(), { seed: 5 }), -Math.sqrt(6 / 400), Math.sqrt(6 / 400));
    expectUniform(init.kaimingUniform_(big(), { seed: 5, a: Math.sqrt(5) }), -1 / 20, 1 / 20);
    const tanhBound = ((5 / 3) * Math.sqrt(3)) / Math.sqrt(500);
    expectUniform(init.kaimingUniform_(big(), { seed: 6, mode: 'fanOut', nonlinearity: 'tanh' }), -tanhBound, tanhBound);
    expectNormal(init.kaimingNormal_(big(), { seed: 7 }), 0, Math.sqrt(2 / 400));
    expectNormal(init.kaimingNormal_(big(), { seed: 7, mode: 'fanOut', nonlinearity: 'relu' }), 0, Math.sqrt(2 / 500));
    expect(() => init.kaimingNormal_(big(), { mode: 'fan_in' as init.FanMode })).toThrow(/mode must be/);
  });

  it('lecunUniform_ / lecunNormal_ have variance 1/fanIn', () => {
    expectUniform(init.lecunUniform_(big(), { seed: 8 }), -Math.sqrt(3 / 400), Math.sqrt(3 / 400));
    expectNormal(init.lecunNormal_(big(), { seed: 9 }), 0, 1 / 20);
  });

  it('orthogonal_ gives WᵀW = I (tall), WWᵀ = I (wide), gain² I with a gain; to 1e-5', () => {
    const tall = init.orthogonal_(kiln.zeros([64, 32]), { seed: 10 });
    expect(orthogonalityError(matrix(tall), true)).toBeLessThan(1e-5);
    const wide = init.orthogonal_(kiln.zeros([20, 50]), { seed: 11 });
    expect(orthogonalityError(matrix(wide), false)).toBeLessThan(1e-5);
    const square = init.orthogonal_(kiln.zeros([40, 40]), { seed: 12, gain: 2 });
    expect(orthogonalityError(matrix(square), true, 2)).toBeLessThan(4e-5);
    expect(orthogonalityError(matrix(square), false, 2)).toBeLessThan(4e-5);
    // A conv weight is flattened to [out, in·kh·kw].
    const conv = init.orthogonal_(kiln.zeros([8, 2, 3, 3]), { seed: 13 });
    expect(orthogonalityError(matrix(conv), false)).toBeLessThan(1e-5);
    const f64 = init.orthogonal_(kiln.zeros([30, 10], { backend: 'reference', dtype: 'float64' }), { seed: 14 });
    expect(orthogonalityError(matrix(f64), true)).toBeLessThan(1e-12);
    expect(() => init.orthogonal_(kiln.zeros([5]))).toThrow(/2 or more dimensions/);
  });

  it('the same seed gives the same values; another seed other values; no seed uses the global stream', () => {
    const draw = (seed?: number) => [...init.xavierUniform_(kiln.zeros([10, 10]), { seed }).dataSync()];
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect([...init.orthogonal_(kiln.zeros([6, 4]), { seed: 1 }).dataSync()]).toEqual([...init.orthogonal_(kiln.zeros([6, 4]), { seed: 1 }).dataSync()]);
    kiln.manualSeed(7);
    const a = draw();
    const b = draw();
    kiln.manualSeed(7);
    expect(draw()).toEqual(a);
    expect(b).not.toEqual(a);
  });

  it('works in place on a parameter that requires grad, leaving it a leaf', () => {
    const w = kiln.zeros([4, 4], { requiresGrad: true });
    init.normal_(w, 0, 1, { seed: 1 });
    expect(w.isLeaf).toBe(true);
    expect(w.requiresGrad).toBe(true);
    expect(stats(w).std).toBeGreaterThan(0.1);
  });

  it('rejects integer tensors and bad arguments', () => {
    expect(() => init.uniform_(kiln.zeros([3], { dtype: 'int32' }))).toThrow(/floating-point/);
    expect(() => init.uniform_(kiln.zeros([3]), 1, 0)).toThrow(/a <= b/);
    expect(() => init.normal_(kiln.zeros([3]), 0, -1)).toThrow(/std/);
  });
});

describe("layers' default initialization is PyTorch's", () => {
  it('Linear: weight and bias U(±1/√inFeatures)', () => {
    const fc = new Linear(400, 300);
    expectUniform(fc.weight, -0.05, 0.05);
    expectUniform(fc.bias!, -0.05, 0.05);
    expect(fc.weight.shape).toEqual([300, 400]);
  });

  it('Conv2d: U(±1/√(inC/groups·kH·kW)); ConvTranspose2d: fan from weight dim 1 (outC/groups·kH·kW)', () => {
    const conv = new Conv2d(32, 64, 5, { groups: 2 }); // fanIn 16·25 = 400
    expectUniform(conv.weight, -0.05, 0.05);
    expectUniform(conv.bias!, -0.05, 0.05);
    const up = new ConvTranspose2d(64, 32, [2, 4]); // weight [64, 32, 2, 4], fanIn 256
    expect(up.weight.shape).toEqual([64, 32, 2, 4]);
    expectUniform(up.weight, -1 / 16, 1 / 16);
    expectUniform(up.bias!, -1 / 16, 1 / 16);
  });

  it('Embedding N(0, 1) with the padding row 0; BatchNorm and LayerNorm 1/0; PReLU 0.25', () => {
    const emb = new Embedding(1000, 200, { paddingIdx: 3 });
    expectNormal(emb.weight, 0, 1);
    expect(emb.weight.dataSync().subarray(3 * 200, 4 * 200).every((v) => v === 0)).toBe(true);
    expect(emb.weight.dataSync().subarray(2 * 200, 3 * 200).every((v) => v === 0)).toBe(false);
    const bn = new BatchNorm2d(3);
    expect(bn.weight!.toArray()).toEqual([1, 1, 1]);
    expect(bn.bias!.toArray()).toEqual([0, 0, 0]);
    expect(bn.runningMean!.toArray()).toEqual([0, 0, 0]);
    expect(bn.runningVar!.toArray()).toEqual([1, 1, 1]);
    expect(bn.numBatchesTracked!.item()).toBe(0);
    const ln = new LayerNorm([2, 2]);
    expect(ln.weight!.toArray()).toEqual([[1, 1], [1, 1]]);
    expect(ln.bias!.toArray()).toEqual([[0, 0], [0, 0]]);
    expect(new PReLU(2).weight.toArray()).toEqual([0.25, 0.25]);
  });

  it('the same global seed gives the same layer weights', () => {
    kiln.manualSeed(123);
    const a = new Linear(20, 10);
    kiln.manualSeed(123);
    const b = new Linear(20, 10);
    expect([...a.weight.dataSync()]).toEqual([...b.weight.dataSync()]);
    expect([...a.bias!.dataSync()]).toEqual([...b.bias!.dataSync()]);
    expect([...a.weight.dataSync()]).not.toEqual([...new Linear(20, 10).weight.dataSync()]);
  });
});

describe('init / bias options (named schemes)', () => {
  it("{ init: 'glorotUniform', bias: 'zeros' } is Glorot/Xavier-uniform weights with zero biases", () => {
    const fc = new Linear(400, 100, { init: 'glorotUniform', bias: 'zeros' });
    const b = Math.sqrt(6 / 500);
    expectUniform(fc.weight, -b, b);
    expect(fc.bias!.dataSync().every((v) => v === 0)).toBe(true);
  });

  it('every named weight scheme gives its distribution', () => {
    const make = (options: LinearOptions) => new Linear(400, 500, options).weight;
    expectNormal(make({ init: 'glorotNormal' }), 0, Math.sqrt(2 / 900));
    expectUniform(make({ init: 'xavierUniform' }), -Math.sqrt(6 / 900), Math.sqrt(6 / 900));
    expectUniform(make({ init: 'heUniform' }), -Math.sqrt(6 / 400), Math.sqrt(6 / 400));
    expectNormal(make({ init: 'heNormal' }), 0, Math.sqrt(2 / 400));
    expectNormal(make({ init: 'kaimingNormal' }), 0, Math.sqrt(2 / 400));
    expectUniform(make({ init: 'lecunUniform' }), -Math.sqrt(3 / 400), Math.sqrt(3 / 400));
    expectNormal(make({ init: 'lecunNormal' }), 0, 1 / 20);
    expect(make({ init: 'ones' }).dataSync().every((v) => v === 1)).toBe(true);
    expect(orthogonalityError(matrix(new Linear(50, 100, { init: 'orthogonal' }).weight), true)).toBeLessThan(1e-5);
  });

  it('bias schemes, constants and functions; bias: false has none', () => {
    expect(new Linear(3, 2, { biasInit: 'ones' }).bias!.toArray()).toEqual([1, 1]);
    expect(new Linear(3, 2, { biasInit: 0.1 }).bias!.dataSync()[0]).toBeCloseTo(0.1, 7);
    expect(new Linear(3, 2, { bias: false }).bias).toBeNull();
    expect(new Conv2d(1, 2, 3, { bias: false }).bias).toBeNull();
    const custom = new Linear(3, 2, { init: (w) => init.constant_(w, 0.5), biasInit: (b) => init.constant_(b, -1) });
    expect(custom.weight.dataSync().every((v) => v === 0.5)).toBe(true);
    expect(custom.bias!.toArray()).toEqual([-1, -1]);
  });

  it('unknown schemes and conflicting bias options are errors', () => {
    expect(() => new Linear(3, 2, { init: 'glorot' as 'glorotUniform' })).toThrow(/unknown weight init 'glorot'/);
    expect(() => new Linear(3, 2, { biasInit: 'random' as 'zeros' })).toThrow(/unknown bias init/);
    expect(() => new Linear(3, 2, { bias: 'zeros', biasInit: 'ones' })).toThrow(/not both/);
  });
});
