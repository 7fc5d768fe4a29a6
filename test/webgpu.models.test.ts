/**
 * The model tests on webgpu: an MLP, a CNN with BatchNorm, an LSTM and a residual block
 * run eagerly and compiled (`target: 'webgpu'`, every level) on the GPU and agree with
 * the same weights on the wasm backend. Tolerance: 1e-4 relative to the output's largest
 * magnitude — float32 sums of up to K = 800 terms in another order (≈1e-5·√K) through
 * several layers, and the GPU's own exp/tanh (a few ulp).
 */
import { beforeAll, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { Residual } from './support/residualBlock.js';
import { describeWebGpu, gpuBackend } from './support/webgpu.js';

const TOL = 1e-4;

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

/** Relative difference of `got` from `want` (to want's largest magnitude); NaN where they differ in NaN-ness. */
function relDiff(got: ArrayLike<number> | kiln.TypedArray, want: ArrayLike<number> | kiln.TypedArray): number {
  got = got as ArrayLike<number>;
  want = want as ArrayLike<number>;
  expect(got.length).toBe(want.length);
  let scale = 0, diff = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i]!) !== Number.isNaN(got[i]!)) return NaN;
    scale = Math.max(scale, Math.abs(want[i]!));
    diff = Math.max(diff, Math.abs(want[i]! - got[i]!));
  }
  return diff / Math.max(scale, 1e-30);
}

type Model = kiln.nn.Module & { forward(x: kiln.Tensor): unknown };

interface Case {
  name: string;
  build: () => Model;
  shape: number[];
}

const CASES: Case[] = [
  { name: 'MLP 64-48-32-10', shape: [5, 64], build: () => new kiln.nn.Sequential(new kiln.nn.Linear(64, 48), new kiln.nn.ReLU(), new kiln.nn.Linear(48, 32), new kiln.nn.Tanh(), new kiln.nn.Linear(32, 10)) },
  {
    name: 'CNN conv-BN-relu-pool-conv-relu-pool-dense', shape: [3, 1, 12, 12],
    build: () => new kiln.nn.Sequential(
      new kiln.nn.Conv2d(1, 4, 3), new kiln.nn.BatchNorm2d(4), new kiln.nn.ReLU(), new kiln.nn.MaxPool2d(2),
      new kiln.nn.Conv2d(4, 6, 3), new kiln.nn.ReLU(), new kiln.nn.AvgPool2d(2), new kiln.nn.Flatten(), new kiln.nn.Linear(6, 5),
    ),
  },
  { name: 'LSTM input 8, hidden 16, 6 steps', shape: [6, 3, 8], build: () => new kiln.nn.LSTM(8, 16) },
  { name: 'residual block with BN', shape: [2, 4, 7, 7], build: () => new Residual() },
];

/** `make()` built with webgpu as the default backend, holding `source`'s parameters and buffers. */
async function onWebGpu<M extends kiln.nn.Module>(make: () => M, source: kiln.nn.Module): Promise<M> {
  await kiln.init({ backend: 'webgpu' });
  try {
    return kiln.noGrad(() => {
      const m = make();
      m.loadStateDict(new Map<string, kiln.Tensor>([...source.stateDict()].map(([k, t]) => [k, kiln.tensor(t.dataSync() as Float32Array, { shape: [...t.shape], dtype: t.dtype, backend: 'webgpu' })])));
      return m;
    });
  } finally {
    await kiln.init({ backend: 'wasm' });
  }
}

/** The module's output tensor (an LSTM returns [y, [h, c]]: y). */
function firstOut(y: unknown): kiln.Tensor {
  return (Array.isArray(y) ? y[0] : y) as kiln.Tensor;
}

describeWebGpu('models on webgpu', () => {
  for (const c of CASES) {
    it(`${c.name}: eager and compiled (O0–O3) on webgpu agree with wasm`, async () => {
      kiln.manualSeed(3);
      const cpu = c.build().eval();
      // A few training-mode passes so BatchNorm's running statistics are not 0 / 1.
      cpu.train();
      kiln.noGrad(() => { for (let i = 0; i < 2; i++) kiln.scope(() => void cpu.forward(kiln.randn(c.shape, { seed: 20 + i }))); });
      cpu.eval();
      const xData = kiln.randn(c.shape, { seed: 7 }).dataSync() as Float32Array;
      const want = firstOut(cpu.forward(kiln.tensor(xData, { shape: c.shape }))).dataSync();

      const gpu = (await onWebGpu(c.build, cpu)).eval();
      expect(gpu.parameters().every((p) => p.backend.name === 'webgpu')).toBe(true);
      const x = kiln.tensor(xData, { shape: c.shape, backend: 'webgpu' });
      expect(relDiff(await firstOut(gpu.forward(x)).data(), want)).toBeLessThan(TOL);

      for (const level of ['O0', 'O1', 'O2', 'O3'] as const) {
        const fast = kiln.compile(gpu, { inputs: [kiln.spec(c.shape)], target: 'webgpu', optimize: level });
        fast.run(x); // traces
        const submits = gpuBackend().stats.submits;
        const out = firstOut(fast.run(x));
        expect(gpuBackend().stats.submits - submits, `${level}: one submit per run`).toBe(1);
        expect(relDiff(await out.data(), want), level).toBeLessThan(TOL);
      }
    });
  }

  it('an MLP trains on webgpu: loss and gradients match wasm', async () => {
    kiln.manualSeed(5);
    const make = () => new kiln.nn.Sequential(new kiln.nn.Linear(6, 8), new kiln.nn.ReLU(), new kiln.nn.Linear(8, 3));
    const cpu = make();
    const xData = kiln.randn([4, 6], { seed: 8 }).dataSync() as Float32Array;
    const yData = kiln.randn([4, 3], { seed: 9 }).dataSync() as Float32Array;
    const lossCpu = cpu.forward(kiln.tensor(xData, { shape: [4, 6] })).sub(kiln.tensor(yData, { shape: [4, 3] })).square().mean();
    lossCpu.backward();
    const gpu = await onWebGpu(make, cpu);
    const loss = gpu.forward(kiln.tensor(xData, { shape: [4, 6], backend: 'webgpu' })).sub(kiln.tensor(yData, { shape: [4, 3], backend: 'webgpu' })).square().mean();
    loss.backward();
    expect(relDiff(await loss.data(), lossCpu.dataSync())).toBeLessThan(TOL);
    const cpuGrads = cpu.parameters().map((p) => p.grad!.dataSync());
    const gpuParams = gpu.parameters();
    for (let i = 0; i < gpuParams.length; i++) expect(relDiff(await gpuParams[i]!.grad!.data(), cpuGrads[i]!), `grad ${i}`).toBeLessThan(TOL);
  });
});
