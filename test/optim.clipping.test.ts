/**
 * clipGradNorm / clipGradValue / maxNormConstraint against PyTorch
 * (test/golden/optim/clipping.json: torch.nn.utils.clip_grad_norm_, clip_grad_value_,
 * torch.renorm), on the reference and wasm backends in float32.
 * Tolerances: clipped gradients and weights 1e-5·max(1, |ref|) per element; the total
 * norm 1e-5·√K·max(1, |ref|) relative (K = 20 summed elements).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as optim from '../src/optim/index.js';

interface GoldenTensor { shape: number[]; data: number[] }
const here = path.dirname(fileURLToPath(import.meta.url));
const golden = JSON.parse(readFileSync(path.join(here, 'golden/optim/clipping.json'), 'utf8')) as {
  grads: GoldenTensor[];
  clipGradNorm: { name: string; maxNorm: number; normType: number | 'inf'; hasGrad: boolean[]; total: number; clipped: (GoldenTensor | null)[] }[];
  clipGradValue: { clipValue: number; clipped: GoldenTensor[] }[];
  renorm: { name: string; axis: number; maxNorm: number; weight: GoldenTensor; result: GoldenTensor }[];
};

const TOL = 1e-5;

function expectClose(actual: ArrayLike<number>, ref: GoldenTensor | { data: number[] }, tol: number, what: string): void {
  expect(actual.length, what).toBe(ref.data.length);
  ref.data.forEach((r, i) => {
    if (!(Math.abs(actual[i]! - r) <= tol * Math.max(1, Math.abs(r)))) throw new Error(`${what}[${i}]: got ${actual[i]}, PyTorch ${r}`);
  });
}

describe.each(['reference', 'wasm'] as kiln.BackendName[])('clipping vs PyTorch (%s)', (backend) => {
  beforeAll(async () => {
    await kiln.init({ backend });
  });

  const paramsWithGrads = (hasGrad: boolean[]): kiln.Tensor[] =>
    golden.grads.map((g, i) => {
      const p = kiln.zeros(g.shape, { requiresGrad: true });
      if (hasGrad[i]) p.grad = kiln.tensor(g.data, { shape: g.shape }).keep();
      return p;
    });

  it.each(golden.clipGradNorm.map((c) => [c.name, c] as const))('clipGradNorm %s', (_name, c) => {
    const params = paramsWithGrads(c.hasGrad);
    const total = optim.clipGradNorm(params, c.maxNorm, { normType: c.normType === 'inf' ? Infinity : c.normType });
    expectClose([total], { data: [c.total] }, TOL * Math.sqrt(20), 'total norm');
    params.forEach((p, i) => {
      const ref = c.clipped[i];
      if (ref === null) expect(p.grad).toBeNull();
      else expectClose(p.grad!.dataSync(), ref!, TOL, `grad ${i}`);
    });
  });

  it.each(golden.clipGradValue.map((c) => [c.clipValue, c] as const))('clipGradValue %s', (_v, c) => {
    const params = paramsWithGrads([true, true, true]);
    const gradsBefore = params.map((p) => p.grad);
    optim.clipGradValue(params, c.clipValue);
    params.forEach((p, i) => {
      expect(p.grad).toBe(gradsBefore[i]); // in place
      expectClose(p.grad!.dataSync(), c.clipped[i]!, TOL, `grad ${i}`);
    });
  });

  it.each(golden.renorm.map((c) => [c.name, c] as const))('maxNormConstraint %s (torch.renorm)', (_name, c) => {
    const w = kiln.tensor(c.weight.data, { shape: c.weight.shape, requiresGrad: true });
    const storage = w.storage;
    expect(optim.maxNormConstraint(w, c.maxNorm, { axis: c.axis })).toBe(w);
    expect(w.storage).toBe(storage);
    expectClose(w.dataSync(), c.result, TOL, 'weight');
  });
});

describe('clipping edge cases', () => {
  beforeAll(async () => {
    await kiln.init({ backend: 'wasm' });
  });

  it('no gradients: total norm 0', () => {
    expect(optim.clipGradNorm([kiln.zeros([2], { requiresGrad: true })], 1)).toBe(0);
  });

  it('a non-finite norm throws with errorIfNonfinite, else poisons the grads like PyTorch', () => {
    const p = kiln.zeros([2], { requiresGrad: true });
    p.grad = kiln.tensor([Infinity, 1]).keep();
    expect(() => optim.clipGradNorm(p, 1, { errorIfNonfinite: true })).toThrow(/clipGradNorm: the total norm of order 2 .* is Infinity/);
    expect(optim.clipGradNorm(p, 1)).toBe(Infinity);
    expect(Number.isNaN(p.grad.dataSync()[0])).toBe(true);
  });

  it('rejects bad arguments', () => {
    const p = kiln.zeros([2], { requiresGrad: true });
    expect(() => optim.clipGradNorm(p, 1, { normType: 0 })).toThrow(/normType must be a positive number/);
    expect(() => optim.clipGradValue(p, -1)).toThrow(/clipValue must be a number ≥ 0/);
    expect(() => optim.maxNormConstraint(p, 1, { axis: 1 })).toThrow(/axis 1 is out of range/);
    expect(() => optim.clipGradNorm([1 as unknown as kiln.Tensor], 1)).toThrow(kiln.KilnError);
  });

  it('maxNormConstraint leaves rows within the bound untouched (exactly)', () => {
    const w = kiln.tensor([[0.3, 0.4], [3, 4]]); // row norms 0.5 and 5
    optim.maxNormConstraint(w, 1);
    const [a, b, c, d] = w.dataSync();
    expect([a, b]).toEqual([Math.fround(0.3), Math.fround(0.4)]);
    expect(Math.hypot(c!, d!)).toBeCloseTo(1, 5);
  });
});
