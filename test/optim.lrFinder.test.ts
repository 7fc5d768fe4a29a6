/**
 * lrFinder on gradient descent for f(x) = a·x², whose iteration x ← (1 − 2a·lr)·x
 * diverges for lr > 1/a and oscillates with constant loss at lr = 1/a: halving from
 * start must return the first lr strictly below 1/a. Training runs through Kiln
 * (autograd + optim.SGD); the comparisons are exact (powers of two).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as optim from '../src/optim/index.js';

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

/** trainStep for f = a·x² from x = 1: the loss at the start and after each of `steps` steps. */
function quadraticTrainStep(a: number, steps = 5): (lr: number) => number[] {
  const x = kiln.tensor([1], { requiresGrad: true });
  return (lr) => {
    kiln.noGrad(() => x.copy_(1)); // reset the model
    const opt = new optim.SGD([x], { lr });
    const losses: number[] = [];
    for (let i = 0; i <= steps; i++) {
      kiln.scope(() => {
        const loss = x.square().mul(a).sum();
        losses.push(loss.item());
        if (i < steps) {
          opt.zeroGrad();
          loss.backward();
          opt.step();
        }
      });
    }
    opt.zeroGrad();
    return losses;
  };
}

describe('lrFinder', () => {
  it('a = 3 (threshold 1/3): tries 1 and 0.5, picks 0.25', () => {
    const { lr, history } = optim.lrFinder({ trainStep: quadraticTrainStep(3) });
    expect(lr).toBe(0.25);
    expect(history.map((h) => [h.lr, h.diverged])).toEqual([[1, true], [0.5, true], [0.25, false]]);
    expect(history[0]!.losses[5]).toBeGreaterThan(history[0]!.losses[0]!);
  });

  it('a = 4: lr = 1/4 exactly oscillates (loss constant) and counts as not converging', () => {
    const { lr, history } = optim.lrFinder({ trainStep: quadraticTrainStep(4) });
    const atThreshold = history.find((h) => h.lr === 0.25)!;
    expect(new Set(atThreshold.losses).size).toBe(1);
    expect(atThreshold.diverged).toBe(true);
    expect(lr).toBe(0.125);
  });

  it.each([0.3, 1, 2.5, 7, 40, 1000])('a = %s: the chosen lr is below 1/a and twice it is not', (a) => {
    const { lr } = optim.lrFinder({ trainStep: quadraticTrainStep(a) });
    expect(lr).toBeLessThan(1 / a);
    if (lr < 1) expect(lr * 2).toBeGreaterThanOrEqual(1 / a);
  });

  it('start, factor and a custom divergence test', () => {
    const { lr, history } = optim.lrFinder({ trainStep: quadraticTrainStep(3), start: 0.9, factor: 0.1 });
    expect(history.map((h) => h.lr)).toEqual([0.9, 0.9 * 0.1]);
    expect(lr).toBeCloseTo(0.09, 15);
    const strict = optim.lrFinder({ trainStep: quadraticTrainStep(3), diverged: (l) => l[l.length - 1]! > 1e-4 * l[0]! });
    expect(strict.lr).toBe(0.125); // at 0.25 the loss shrinks 4×/step: 4⁻⁵ ≈ 1e-3 > 1e-4
  });

  it('NaN or infinite losses count as divergence', () => {
    expect(optim.lossDiverged([1, NaN])).toBe(true);
    expect(optim.lossDiverged([1, Infinity])).toBe(true);
    expect(optim.lossDiverged([1, 0.5])).toBe(false);
  });

  it('gives up after maxTries with a clear error; validates its arguments', () => {
    expect(() => optim.lrFinder({ trainStep: () => [1, 2], maxTries: 3 })).toThrow(/lrFinder: training diverged at every learning rate tried, from 1 down to 0.25/);
    expect(() => optim.lrFinder({ trainStep: () => [1] })).toThrow(/must return at least two losses/);
    expect(() => optim.lrFinder({ trainStep: quadraticTrainStep(1), factor: 2 })).toThrow(/factor must be in \(0, 1\)/);
  });
});
