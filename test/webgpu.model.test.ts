/**
 * Eager training on webgpu: an nn.Sequential MLP (Linear → ReLU → Linear → Tanh → Linear)
 * with the same weights on the reference and webgpu backends, three steps of forward,
 * mseLoss, backward and an optimizer step (SGD with momentum, Adam), read with `await
 * t.data()`. Loss, every gradient and the updated weights agree within 1e-5·√K relative
 * to max(1, |reference|), K = 16 (the longest sum: a hidden layer's width, or the batch
 * of 9 for weight gradients) — float32 GPU sums in another order than the reference's.
 */
import { beforeAll, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { describeWebGpu, expectUlps } from './support/webgpu.js';
import { rng } from './support/kernelChecks.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init({ backend: 'reference' });
});

const REL = 1e-5 * Math.sqrt(16);

/** got ≈ want within REL·max(1, |want|) elementwise; NaN where want has NaN. */
function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const w = Math.fround(want[i]!), g = got[i]!;
    if (Number.isNaN(w)) expect(Number.isNaN(g), `${what}[${i}]`).toBe(true);
    else expect(Math.abs(g - w), `${what}[${i}]: ${g} vs ${w}`).toBeLessThanOrEqual(REL * Math.max(1, Math.abs(w)));
  }
}

function mlp(): kiln.nn.Sequential {
  return new nn.Sequential(new nn.Linear(5, 16), new nn.ReLU(), new nn.Linear(16, 16), new nn.Tanh(), new nn.Linear(16, 3));
}

/** Two copies of the MLP with the same weights: one per backend. */
async function twins(): Promise<[kiln.nn.Sequential, kiln.nn.Sequential]> {
  kiln.manualSeed(7);
  const ref = mlp();
  await kiln.init({ backend: 'webgpu' });
  try {
    const gpu = mlp();
    kiln.noGrad(() => gpu.parameters().forEach((p, i) => p.copy_(ref.parameters()[i]!)));
    return [ref, gpu];
  } finally {
    await kiln.init({ backend: 'reference' });
  }
}

describeWebGpu('eager models on webgpu', () => {
  for (const optimizer of ['sgd', 'adam'] as const) {
    it(`MLP: forward, mseLoss, backward and ${optimizer} steps match the reference`, async () => {
      const [ref, gpu] = await twins();
      const r = rng(3);
      const xs = Array.from({ length: 9 * 5 }, () => r() * 4 - 2);
      const ys = Array.from({ length: 9 * 3 }, () => r() * 2 - 1);
      const make = (m: kiln.nn.Sequential) =>
        optimizer === 'sgd' ? new kiln.optim.SGD(m.parameters(), { lr: 0.1, momentum: 0.9 }) : new kiln.optim.Adam(m.parameters(), { lr: 0.01 });
      const opts = [make(ref), make(gpu)] as const;
      for (let step = 0; step < 3; step++) {
        const losses: kiln.Tensor[] = [];
        for (const [k, m] of [ref, gpu].entries()) {
          const backend = k === 0 ? 'reference' : 'webgpu';
          const x = kiln.tensor(xs, { shape: [9, 5], backend });
          const y = kiln.tensor(ys, { shape: [9, 3], backend });
          opts[k].zeroGrad();
          const loss = nn.mseLoss(m.forward(x), y);
          loss.backward();
          losses.push(loss);
        }
        const [lossRef, lossGpu] = losses;
        expect(lossGpu!.shape).toEqual([]);
        close(await lossGpu!.data(), lossRef!.dataSync(), `loss at step ${step}`);
        const pr = ref.parameters(), pg = gpu.parameters();
        for (let i = 0; i < pr.length; i++) close(await pg[i]!.grad!.data(), pr[i]!.grad!.dataSync(), `grad ${i} at step ${step}`);
        opts[0].step();
        opts[1].step();
        for (let i = 0; i < pr.length; i++) close(await pg[i]!.data(), pr[i]!.dataSync(), `weight ${i} after step ${step}`);
      }
    });
  }

  it('a NaN input propagates through the MLP as on the reference (relu keeps NaN)', async () => {
    const [ref, gpu] = await twins();
    const xs = [NaN, 0, 1, -1, 2, 0.5, -0.5, 0.25, 1, 1];
    const want = kiln.noGrad(() => ref.forward(kiln.tensor(xs, { shape: [2, 5], backend: 'reference' }))).dataSync();
    const got = await kiln.noGrad(() => gpu.forward(kiln.tensor(xs, { shape: [2, 5], backend: 'webgpu' }))).data();
    expectUlps(got.subarray(0, 3), want.subarray(0, 3), 0, 'row with NaN');
    close(got.subarray(3), want.subarray(3), 'finite row');
  });
});
