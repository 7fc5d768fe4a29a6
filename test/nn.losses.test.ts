/**
 * Losses and penalties beyond the PyTorch goldens (nn.losses.golden.test.ts): numerical
 * edge cases (saturated probabilities, huge logits, zero targets), the λ/2·‖w‖²
 * convention, buffers, and errors. Tolerances are stated per test.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import {
  activationSparsityPenalty, binaryCrossEntropy, binaryCrossEntropyWithLogits, CrossEntropyLoss, crossEntropy, huberLoss,
  klDiv, l1Penalty, l2Penalty, mseLoss, nllLoss, smoothL1Loss,
} from '../src/nn/losses/index.js';

beforeAll(async () => {
  await kiln.init();
});

const int = (data: number[]) => kiln.tensor(data, { dtype: 'int32' });
const allFinite = (t: kiln.Tensor) => Array.from(t.dataSync()).every(Number.isFinite);

describe('numerical edge cases', () => {
  it('binaryCrossEntropy: saturated probabilities give the clamped loss (100) and finite gradients', () => {
    kiln.scope(() => {
      const p = kiln.tensor([0, 1, 0, 1]).requiresGrad_();
      const loss = binaryCrossEntropy(p, kiln.tensor([1, 0, 0, 1]), { reduction: 'sum' });
      expect(loss.item()).toBeCloseTo(200, 4);
      loss.backward();
      expect(allFinite(p.grad!)).toBe(true);
    });
  });

  it('binaryCrossEntropyWithLogits: |logit| = 1e4 gives finite loss and gradients σ(x) − y (tolerance 1e-6)', () => {
    kiln.scope(() => {
      const x = kiln.tensor([1e4, -1e4, 1e4, -1e4]).requiresGrad_();
      const y = kiln.tensor([1, 0, 0, 1]);
      const loss = binaryCrossEntropyWithLogits(x, y, { reduction: 'none' });
      const values = Array.from(loss.dataSync());
      expect(values[0]).toBeCloseTo(0, 6);
      expect(values[1]).toBeCloseTo(0, 6);
      expect(values[2]).toBeCloseTo(1e4, 1);
      expect(values[3]).toBeCloseTo(1e4, 1);
      loss.sum().backward();
      expect(Array.from(x.grad!.dataSync()).map((g) => Math.round(g * 1e6) / 1e6)).toEqual([0, 0, 1, -1]);
    });
  });

  it('klDiv: zero targets contribute 0 and give finite gradients w.r.t. input and target', () => {
    kiln.scope(() => {
      const logq = kiln.tensor([[0.2, 0.3, 0.5]]).log().requiresGrad_();
      const p = kiln.tensor([[0, 0.4, 0.6]]).requiresGrad_();
      const loss = klDiv(logq, p, { reduction: 'sum' });
      expect(loss.item()).toBeCloseTo(0.4 * Math.log(0.4 / 0.3) + 0.6 * Math.log(0.6 / 0.5), 6);
      loss.backward();
      expect(allFinite(logq.grad!)).toBe(true);
      expect(allFinite(p.grad!)).toBe(true);
    });
  });

  it('crossEntropy: logits of ±1e4 stay finite (computed through logSoftmax)', () => {
    kiln.scope(() => {
      const logits = kiln.tensor([[1e4, -1e4, 0]]).requiresGrad_();
      const loss = crossEntropy(logits, int([1]));
      expect(loss.item()).toBeCloseTo(2e4, 0);
      loss.backward();
      expect(allFinite(logits.grad!)).toBe(true);
    });
  });

  it("'mean' over targets that are all ignored is NaN, as PyTorch (0/0)", () => {
    kiln.scope(() => {
      expect(Number.isNaN(nllLoss(kiln.zeros([2, 3]), int([-100, -100])).item())).toBe(true);
      expect(nllLoss(kiln.zeros([2, 3]), int([-100, -100]), { reduction: 'sum' }).item()).toBe(0);
    });
  });

  it('huberLoss and smoothL1Loss meet continuously at the threshold (tolerance 1e-6)', () => {
    kiln.scope(() => {
      const zero = kiln.zeros([2]);
      const d = kiln.tensor([0.5 - 1e-7, 0.5 + 1e-7]);
      const [a, b] = Array.from(huberLoss(d, zero, { delta: 0.5, reduction: 'none' }).dataSync());
      expect(Math.abs(a! - b!)).toBeLessThan(1e-6);
      const [c, e] = Array.from(smoothL1Loss(d, zero, { beta: 0.5, reduction: 'none' }).dataSync());
      expect(Math.abs(c! - e!)).toBeLessThan(1e-6);
    });
  });
});

describe('penalties', () => {
  it('l2Penalty is ½·Σ‖w‖²: its gradient is exactly w (the λ/2·‖w‖² convention)', () => {
    kiln.scope(() => {
      const w = kiln.tensor([[3, -4], [1, 2]]).requiresGrad_();
      const b = kiln.tensor([0.5]).requiresGrad_();
      const p = l2Penalty([w, b]);
      expect(p.item()).toBeCloseTo(0.5 * (9 + 16 + 1 + 4 + 0.25), 6);
      p.backward();
      expect(w.grad!.toArray()).toEqual([[3, -4], [1, 2]]);
      expect(b.grad!.toArray()).toEqual([0.5]);
    });
  });

  it('l1Penalty is Σ|w| with gradient sign(w); a single tensor is accepted', () => {
    kiln.scope(() => {
      const w = kiln.tensor([3, -4, 0.5]).requiresGrad_();
      const p = l1Penalty(w);
      expect(p.item()).toBeCloseTo(7.5, 6);
      p.backward();
      expect(w.grad!.toArray()).toEqual([1, -1, 1]);
    });
  });

  it('activationSparsityPenalty (KL) is 0 when every unit averages ρ, positive otherwise', () => {
    kiln.scope(() => {
      const h = kiln.tensor([[0.1, 0.3], [0.3, 0.1]]); // unit means 0.2 and 0.2
      expect(Math.abs(activationSparsityPenalty(h, { target: 0.2 }).item())).toBeLessThan(1e-6);
      expect(activationSparsityPenalty(h, { target: 0.05 }).item()).toBeGreaterThan(0.05);
      // Dead (all-zero) units give a large but finite penalty thanks to the clamp.
      expect(Number.isFinite(activationSparsityPenalty(kiln.zeros([4, 3])).item())).toBe(true);
      expect(activationSparsityPenalty(kiln.tensor([[1, -2], [0, 3]]), { kind: 'l1' }).item()).toBeCloseTo(3, 6);
    });
  });
});

describe('modules', () => {
  it('keep class weights as buffers (saved by stateDict) and read options at construction', () => {
    const weight = kiln.tensor([1, 2, 3]);
    const ce = new CrossEntropyLoss({ weight, labelSmoothing: 0.1 });
    expect([...ce.stateDict().keys()]).toEqual(['weight']);
    expect(ce.parameters()).toEqual([]);
    const logits = kiln.randn([4, 3], { seed: 1 });
    const y = int([0, 2, 1, 2]);
    expect(ce.forward(logits, y).item()).toBe(crossEntropy(logits, y, { weight, labelSmoothing: 0.1 }).item());
  });
});

describe('errors', () => {
  it('name the loss and what is wrong', () => {
    const logits = kiln.zeros([2, 3]);
    expect(() => crossEntropy(logits, int([0, 3]))).toThrow(/crossEntropy.*target class is out of range.*index 3/);
    expect(() => nllLoss(logits, int([-1, 0]), { weight: kiln.ones([3]) })).toThrow(/nllLoss.*target class is out of range/);
    expect(() => crossEntropy(logits, int([0]))).toThrow(/targets of shape \[2\]/);
    expect(() => crossEntropy(logits, kiln.zeros([2, 4]))).toThrow(/same shape/);
    expect(() => crossEntropy(logits, int([0, 1]), { labelSmoothing: 1.5 })).toThrow(/labelSmoothing/);
    expect(() => crossEntropy(logits, int([0, 1]), { weight: kiln.ones([2]) })).toThrow(/one entry per class \[3\]/);
    expect(() => crossEntropy(logits, kiln.tensor([0, 1]))).toThrow(/same shape/);
    expect(() => mseLoss(logits, logits, { reduction: 'avg' as 'mean' })).toThrow(/reduction/);
    expect(() => mseLoss(int([1]), int([1]))).toThrow(/floating-point/);
    expect(() => huberLoss(logits, logits, { delta: 0 })).toThrow(/delta/);
    expect(() => binaryCrossEntropy(kiln.zeros([2]), kiln.zeros([3]))).toThrow(/same shape/);
    expect(() => klDiv(logits, logits, { reduction: 'avg' as 'mean' })).toThrow(/batchmean/);
    expect(() => l2Penalty([])).toThrow(/at least one/);
    expect(() => activationSparsityPenalty(kiln.zeros([3]))).toThrow(/\[batch, units/);
    expect(() => activationSparsityPenalty(kiln.zeros([2, 3]), { target: 1 })).toThrow(/\(0, 1\)/);
  });
});
