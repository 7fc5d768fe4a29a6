/** activationStats' `bins` (histograms) and `perUnit` (per-unit / per-channel shares), by hand. */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

describe('kiln.diagnostics.activationStats detail', () => {
  it('ReLU: histogram over [min, max] and the share of positive outputs per unit', () => {
    // Identity-like ReLU input [[1, 2, −3], [3, −1, −2]] → outputs [[1, 2, 0], [3, 0, 0]].
    const fc = new nn.Linear(2, 3, { bias: false });
    kiln.noGrad(() => fc.weight.copy_(kiln.tensor([[1, 0], [0, 1], [-1, -1]])));
    const model = new nn.Sequential(fc, new nn.ReLU());
    const s = kiln.diagnostics.activationStats(model, kiln.tensor([[1, 2], [3, -1]]), { bins: 3, perUnit: 'auto' }).layers[0]!;
    // Range [0, 3], width 1: [0,1) holds 0,0,0; [1,2) holds 1; [2,3] holds 2 and 3.
    expect(s.histogram).toEqual({ edges: [0, 1, 2, 3], counts: [3, 1, 2] });
    expect(s.perUnit).toEqual({ by: 'unit', shares: [1, 0.5, 0] }); // unit 2 dead
    const plain = kiln.diagnostics.activationStats(model, kiln.tensor([[1, 2], [3, -1]]));
    expect(plain.layers[0]!.histogram).toBeUndefined();
    expect(plain.layers[0]!.perUnit).toBeUndefined();
  });

  it('conv outputs per channel; tanh and sigmoid histograms over their fixed ranges; saturation per unit', () => {
    // ReLU on [N=2, C=2, 1, 2]: channel 0 outputs 1, 0 | 2, 0 → 2 of 4 positive; channel 1 all 0 (dead).
    const x = kiln.tensor([[[[1, -1]], [[-1, -2]]], [[[2, -5]], [[0, -1]]]]);
    const relu = kiln.diagnostics.activationStats(new nn.ReLU(), x, { perUnit: 'auto' }).layers[0]!;
    expect(relu.perUnit).toEqual({ by: 'channel', shares: [0.5, 0] });
    expect(kiln.diagnostics.activationStats(new nn.ReLU(), x, { perUnit: 'unit' }).layers[0]!.perUnit).toEqual({ by: 'unit', shares: [1, 0, 0, 0] });

    // tanh(3x) for x = [[1, 0], [−1, 0.1]] → 0.995, 0, −0.995, 0.291: unit 0 saturated in both samples, unit 1 never.
    const tanh = kiln.diagnostics.activationStats(new nn.Tanh(), kiln.tensor([[3, 0], [-3, 0.3]]), { bins: 4, perUnit: 'unit' }).layers[0]!;
    expect(tanh.histogram).toEqual({ edges: [-1, -0.5, 0, 0.5, 1], counts: [1, 0, 2, 1] });
    expect(tanh.perUnit).toEqual({ by: 'unit', shares: [1, 0] });
    const sig = kiln.diagnostics.activationStats(new nn.Sigmoid(), kiln.tensor([[10, 0]]), { bins: 2 }).layers[0]!;
    expect(sig.histogram).toEqual({ edges: [0, 0.5, 1], counts: [0, 2] }); // 0.5 and 0.99995 in [0.5, 1]
  });

  it('rejects bad options', () => {
    const m = new nn.ReLU();
    expect(() => kiln.diagnostics.activationStats(m, kiln.tensor([[1]]), { bins: 0 })).toThrow(/bins must be a positive integer/);
    expect(() => kiln.diagnostics.activationStats(m, kiln.tensor([[1]]), { perUnit: 'layer' as 'unit' })).toThrow(/perUnit must be/);
  });
});
