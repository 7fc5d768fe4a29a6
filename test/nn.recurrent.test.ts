/**
 * Recurrent layers beyond the PyTorch goldens (nn.recurrent.golden.test.ts): init,
 * dropout between layers, variable-length invariants, packing helpers, memory without a
 * tape, errors, and a small BPTT training run. Tolerances are stated per test.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import {
  GRU, GRUCell, LSTM, LSTMCell, packPaddedSequence, packSequence, padPackedSequence, padSequence, PackedSequence, RNN, RNNCell,
} from '../src/nn/recurrent/index.js';

beforeAll(async () => {
  await kiln.init();
});

/** max |a − b| over all elements (same shapes required). */
function maxDiff(a: kiln.Tensor, b: kiln.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

describe('parameters', () => {
  it('are named, shaped and ordered as PyTorch, and start in U(±1/√hidden)', () => {
    const lstm = new LSTM(3, 4, { numLayers: 2, bidirectional: true });
    expect(lstm.namedParameters().map(([n, p]) => `${n}:${p.shape.join('x')}`)).toEqual([
      'weightIh_l0:16x3', 'weightHh_l0:16x4', 'biasIh_l0:16', 'biasHh_l0:16',
      'weightIh_l0_reverse:16x3', 'weightHh_l0_reverse:16x4', 'biasIh_l0_reverse:16', 'biasHh_l0_reverse:16',
      'weightIh_l1:16x8', 'weightHh_l1:16x4', 'biasIh_l1:16', 'biasHh_l1:16',
      'weightIh_l1_reverse:16x8', 'weightHh_l1_reverse:16x4', 'biasIh_l1_reverse:16', 'biasHh_l1_reverse:16',
    ]);
    const values = lstm.parameters().flatMap((p) => Array.from(p.dataSync()));
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(0.5); // 1/√4
    expect(new Set(values).size).toBeGreaterThan(values.length * 0.99); // random, not constant
    expect(lstm.weightIh_l0).toBe(lstm.layerWeights(0).weightIh);
    expect(new GRU(3, 4, { bias: false }).namedParameters().map(([n]) => n)).toEqual(['weightIh_l0', 'weightHh_l0']);
    expect(new GRUCell(3, 4).namedParameters().map(([n, p]) => `${n}:${p.shape.join('x')}`)).toEqual(['weightIh:12x3', 'weightHh:12x4', 'biasIh:12', 'biasHh:12']);
  });
});

describe('dropout between layers', () => {
  it('is applied in training only, and never after the last layer', () => {
    kiln.scope(() => {
      kiln.manualSeed(1);
      const x = kiln.randn([5, 2, 3]);
      const rnn = new RNN(3, 6, { numLayers: 2, dropout: 0.5 });
      const plain = new RNN(3, 6, { numLayers: 2 });
      plain.loadStateDict(rnn.stateDict());
      const [evalOut, evalH] = rnn.eval().forward(x);
      const [ref, refH] = plain.forward(x);
      expect(maxDiff(evalOut, ref)).toBe(0); // eval: exactly the dropout-free network
      expect(maxDiff(evalH, refH)).toBe(0);
      const [trainOut] = rnn.train().forward(x);
      expect(maxDiff(trainOut, ref)).toBeGreaterThan(1e-3);
      // One layer: nothing lies between layers, so training changes nothing.
      const single = new RNN(3, 6, { dropout: 0.5 });
      const [a] = single.train().forward(x);
      const [b] = single.eval().forward(x);
      expect(maxDiff(a, b)).toBe(0);
    });
  });
});

describe('variable-length batches', () => {
  for (const [name, make] of [
    ['RNN', () => new RNN(3, 4, { numLayers: 2, bidirectional: true })],
    ['LSTM', () => new LSTM(3, 4, { numLayers: 2, bidirectional: true })],
    ['GRU', () => new GRU(3, 4, { numLayers: 2, bidirectional: true })],
  ] as const) {
    it(`${name}: each sequence gives what it gives alone (tolerance 1e-6 abs), with zero outputs and zero input-gradient past its length`, () => {
      kiln.scope(() => {
        kiln.manualSeed(2);
        const m = make();
        const lengths = [2, 6, 4];
        const x = kiln.randn([6, 3, 3]).requiresGrad_();
        const run = (input: kiln.Tensor, opts?: { lengths: number[] }): [kiln.Tensor, kiln.Tensor] => {
          if (m instanceof LSTM) {
            const [o, [h]] = m.forward(input, null, opts);
            return [o, h];
          }
          return (m as RNN | GRU).forward(input, null, opts);
        };
        const [out, hN] = run(x, { lengths });
        lengths.forEach((len, b) => {
          const alone = x.slice([0, b], [len, b + 1]);
          const [o, h] = run(alone);
          expect(maxDiff(out.slice([0, b], [len, b + 1]), o)).toBeLessThan(1e-6);
          expect(maxDiff(hN.slice([b], [b + 1], { axes: [1] }), h)).toBeLessThan(1e-6);
          if (len < 6) expect(maxDiff(out.slice([len, b], [6, b + 1]), kiln.zeros([6 - len, 1, 8]))).toBe(0);
        });
        out.sum().add(hN.sum()).backward();
        const g = x.grad!;
        lengths.forEach((len, b) => {
          if (len < 6) expect(maxDiff(g.slice([len, b], [6, b + 1]), kiln.zeros([6 - len, 1, 3]))).toBe(0);
        });
        x.zeroGrad();
        x.dispose();
      });
    });
  }

  it('a PackedSequence and the lengths option agree exactly; packing round-trips', () => {
    kiln.scope(() => {
      kiln.manualSeed(3);
      const gru = new GRU(2, 3, { batchFirst: true });
      const x = kiln.randn([3, 5, 2]);
      const lengths = [3, 5, 1];
      const packed = packPaddedSequence(x, lengths, { batchFirst: true, enforceSorted: false });
      expect([...packed.batchSizes]).toEqual([3, 2, 2, 1, 1]);
      expect([...packed.sortedIndices]).toEqual([1, 0, 2]);
      expect([...packed.unsortedIndices]).toEqual([1, 0, 2]);
      expect(packed.data.shape).toEqual([9, 2]);
      const [pOut, pH] = gru.forward(packed);
      expect(pOut).toBeInstanceOf(PackedSequence);
      const [padded, lens] = padPackedSequence(pOut, { batchFirst: true });
      const [out, h] = gru.forward(x, null, { lengths });
      expect(lens).toEqual(lengths);
      expect(maxDiff(padded, out)).toBe(0);
      expect(maxDiff(pH, h)).toBe(0);
      // pad → pack → pad keeps the valid part and zeros the rest.
      const [back] = padPackedSequence(packed, { batchFirst: true, totalLength: 6, paddingValue: -1 });
      expect(back.shape).toEqual([3, 6, 2]);
      expect(maxDiff(back.slice([1, 0], [2, 5]), x.slice([1, 0], [2, 5]))).toBe(0);
      expect(Array.from(back.slice([2, 1], [3, 6]).dataSync())).toEqual(new Array(10).fill(-1));
    });
  });

  it('packSequence takes a list of sequences (any order) or a padded tensor with lengths', () => {
    kiln.scope(() => {
      const a = kiln.tensor([[1], [2]]);
      const b = kiln.tensor([[3], [4], [5]]);
      const padded = padSequence([a, b]);
      expect(padded.toArray()).toEqual([[[1], [3]], [[2], [4]], [[0], [5]]]);
      expect(padSequence([a, b], { batchFirst: true, paddingValue: 9 }).toArray()).toEqual([[[1], [2], [9]], [[3], [4], [5]]]);
      const p = packSequence([a, b]);
      expect(p.data.toArray()).toEqual([[3], [1], [4], [2], [5]]); // step by step, longest first
      expect(packSequence(padded, [2, 3]).data.toArray()).toEqual([[3], [1], [4], [2], [5]]);
    });
  });

  it('rejects bad lengths', () => {
    const x = kiln.zeros([4, 2, 3]);
    expect(() => packPaddedSequence(x, [2, 3])).toThrow(/decreasing order/);
    expect(() => packPaddedSequence(x, [5, 3])).toThrow(/\[1, 4\]/);
    expect(() => packPaddedSequence(x, [3, 0])).toThrow(/\[1, 4\]/);
    expect(() => packPaddedSequence(x, [3])).toThrow(/expected 2 lengths/);
    expect(() => new GRU(3, 2).forward(x, null, { lengths: [1.5, 2] })).toThrow(/integer/);
  });

  it('lengths of 0 leave the initial state and give zero outputs', () => {
    kiln.scope(() => {
      const rnn = new RNN(3, 2);
      const h0 = kiln.randn([1, 2, 2], { seed: 4 });
      const [out, hN] = rnn.forward(kiln.randn([3, 2, 3], { seed: 5 }), h0, { lengths: [0, 0] });
      expect(maxDiff(out, kiln.zeros([3, 2, 2]))).toBe(0);
      expect(maxDiff(hN, h0)).toBe(0);
    });
  });
});

describe('memory', () => {
  it('without a tape, a forward keeps about one state per time step alive (bytes on the backend)', () => {
    kiln.scope(() => {
      const [T, B, H] = [40, 2, 8];
      const lstm = new LSTM(4, H);
      const x = kiln.randn([T, B, 4], { seed: 6 });
      const backend = x.backend.name;
      const grown = (fn: () => unknown): number =>
        kiln.scope(() => {
          const before = kiln.memory().liveBytes[backend]!;
          fn();
          return kiln.memory().liveBytes[backend]! - before;
        });
      const stateBytes = T * B * H * 4;
      const taped = grown(() => lstm.forward(x));
      const untaped = grown(() => kiln.noGrad(() => lstm.forward(x)));
      // Untaped: each step's h (kept for the output) plus the stacked output, ≈ 2 states
      // per step; the tape keeps gates, cells and products: more than 10.
      expect(untaped).toBeLessThan(3 * stateBytes);
      expect(taped).toBeGreaterThan(10 * stateBytes);
    });
  });
});

describe('cells', () => {
  it('accept unbatched inputs and zero initial states (tolerance 1e-6 abs)', () => {
    kiln.scope(() => {
      const x = kiln.randn([2, 3], { seed: 7 });
      const rnn = new RNNCell(3, 4, { nonlinearity: 'relu' });
      expect(maxDiff(rnn.forward(x.slice([1], [2]).squeeze(0)), rnn.forward(x).slice([1], [2]).squeeze(0))).toBeLessThan(1e-6);
      const lstm = new LSTMCell(3, 4);
      const [h, c] = lstm.forward(x);
      const [h2, c2] = lstm.forward(x, [kiln.zeros([2, 4]), kiln.zeros([2, 4])]);
      expect(maxDiff(h, h2)).toBe(0);
      expect(maxDiff(c, c2)).toBe(0);
      expect(lstm.forward(x.slice([0], [1]).squeeze(0))[1].shape).toEqual([4]);
    });
  });
});

describe('errors', () => {
  it('name the layer and the expected shapes', () => {
    const gru = new GRU(3, 4, { numLayers: 2 });
    expect(() => gru.forward(kiln.zeros([5, 2, 7]))).toThrow(/GRU.*expected 3 input features/);
    expect(() => gru.forward(kiln.zeros([5, 2, 3]), kiln.zeros([1, 2, 4]))).toThrow(/initial state of shape \[2, 2, 4\]/);
    expect(() => gru.forward(kiln.zeros([3]))).toThrow(/rank 3/);
    expect(() => new LSTM(3, 4).forward(kiln.zeros([5, 2, 3]), [kiln.zeros([1, 2, 4])] as unknown as [kiln.Tensor, kiln.Tensor])).toThrow(/pair/);
    expect(() => new RNN(3, 4, { nonlinearity: 'sigmoid' as 'tanh' })).toThrow(/nonlinearity/);
    expect(() => new RNN(0, 4)).toThrow(/inputSize/);
    expect(() => new LSTMCell(3, 4).forward(kiln.zeros([2, 5]))).toThrow(/LSTMCell.*\[batch, 3\]/);
  });
});

describe('training through time', () => {
  it("an Elman RNN with a sigmoid readout learns to recall the first input (loss falls ≥ 5×)", () => {
    kiln.scope(() => {
      kiln.manualSeed(8);
      const T = 6;
      const rnn = new RNN(1, 8);
      const W = kiln.nn.parameter(kiln.randn([1, 8], { seed: 9 }).mul(0.3));
      const bo = kiln.nn.parameter(kiln.zeros([1]));
      const bits = kiln.tensor([0, 1, 1, 0, 1, 0, 0, 1], { shape: [1, 8, 1] });
      const x = kiln.concat([bits.mul(2).sub(1), kiln.randn([T - 1, 8, 1], { seed: 10 }).mul(0.5)], 0);
      const params = [...rnn.parameters(), W, bo];
      const lossOf = (): kiln.Tensor => {
        const [out] = rnn.forward(x);
        const o = out.slice([T - 1], [T]).squeeze(0).matmul(W.transpose()).add(bo).sigmoid(); // o_T = σ(W h_T + b_o)
        return o.sub(bits.squeeze(0)).square().mean();
      };
      const first = kiln.scope(() => lossOf().item());
      for (let step = 0; step < 300; step++) {
        kiln.scope(() => {
          lossOf().backward();
          kiln.noGrad(() => {
            for (const p of params) {
              p.sub_(p.grad!.mul(0.5));
              p.zeroGrad();
            }
          });
        });
      }
      const last = kiln.scope(() => lossOf().item());
      expect(last).toBeLessThan(first / 5);
    });
  });
});
