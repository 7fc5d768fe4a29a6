/**
 * wasm's whole-sequence lstm, gru and rnn kernels (src/runtime/wasm/kernels/recurrentSequence.ts):
 * one call per op, for eager dispatch and compiled plans at inference (wasm lists them in
 * its `sequenceKernels`, so RNN unrolling leaves the node whole there).
 *
 * Numbers: the kernel runs the decomposition's kernels (input-projection GEMM, per-step
 * GEMM on W_hh, the lstmGates / gruGates kernel or the RNN's add and activation) on the
 * same values in the same order, so its outputs
 * are the decomposition's run on wasm bit for bit (compared as float32 bit patterns, NaN
 * included): layers, both directions, batch-first, no biases, `lengths` with a zero
 * length, hidden sizes that are not multiples of 4 (the gate kernel's scalar tail), batch 1,
 * one step, non-zero initial states, a NaN input row. Compiled at O2 on wasm: one `lstm`
 * node, and the second run (the first returns eager's trace) bit-identical to eager.
 * Training still unrolls (the gate ops have closed-form gradients).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { compile, spec } from '../src/compiled/index.js';
import { getOp, type Attrs } from '../src/ir/index.js';

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

interface Case {
  name: string;
  op?: 'lstm' | 'gru' | 'rnn';
  relu?: boolean;
  I: number;
  H: number;
  T: number;
  B: number;
  layers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  biases: boolean;
  lengths?: number[];
  nanRow?: number;
}

const CASES: Case[] = [
  { name: 'one layer, batch 3, NaN row', I: 8, H: 16, T: 16, B: 3, layers: 1, bidirectional: false, batchFirst: false, biases: true, nanRow: 3 * 5 + 1 },
  { name: "the benchmark's shape at batch 1", I: 64, H: 128, T: 32, B: 1, layers: 1, bidirectional: false, batchFirst: false, biases: true },
  { name: 'two layers, both directions, batch-first, no biases, hidden 5', I: 4, H: 5, T: 6, B: 3, layers: 2, bidirectional: true, batchFirst: true, biases: false, nanRow: 4 },
  { name: 'three layers, hidden 7, batch-first', I: 3, H: 7, T: 4, B: 2, layers: 3, bidirectional: false, batchFirst: true, biases: true },
  { name: 'lengths with a zero length, both directions, batch-first', I: 3, H: 4, T: 5, B: 3, layers: 2, bidirectional: true, batchFirst: true, biases: true, lengths: [5, 0, 2] },
  { name: 'lengths, time-major, hidden 13', I: 5, H: 13, T: 7, B: 4, layers: 1, bidirectional: false, batchFirst: false, biases: true, lengths: [7, 3, 1, 6] },
  { name: 'one step, batch 1', I: 2, H: 3, T: 1, B: 1, layers: 1, bidirectional: true, batchFirst: false, biases: true },
  { name: 'hidden 12, batch 5, both directions, NaN row', I: 5, H: 12, T: 5, B: 5, layers: 1, bidirectional: true, batchFirst: false, biases: true, nanRow: 7 },
  { name: 'hidden 8, lengths, two layers', I: 3, H: 8, T: 6, B: 4, layers: 2, bidirectional: false, batchFirst: false, biases: true, lengths: [3, 0, 6, 1] },
  { name: 'hidden 4, batch 3, batch-first, no biases', I: 2, H: 4, T: 4, B: 3, layers: 1, bidirectional: false, batchFirst: true, biases: false },
  { name: 'hidden 128, batch 16', I: 64, H: 128, T: 8, B: 16, layers: 1, bidirectional: false, batchFirst: false, biases: true },
  // gru: b_hh stays in the step's product (r multiplies it).
  { name: 'gru: one layer, batch 3, NaN row', op: 'gru', I: 8, H: 16, T: 16, B: 3, layers: 1, bidirectional: false, batchFirst: false, biases: true, nanRow: 3 * 5 + 1 },
  { name: 'gru: two layers, both directions, batch-first, no biases, hidden 5', op: 'gru', I: 4, H: 5, T: 6, B: 3, layers: 2, bidirectional: true, batchFirst: true, biases: false, nanRow: 4 },
  { name: 'gru: lengths with a zero length, both directions, hidden 7 (edge panels and bias)', op: 'gru', I: 3, H: 7, T: 5, B: 3, layers: 1, bidirectional: true, batchFirst: true, biases: true, lengths: [5, 0, 2] },
  { name: 'gru: hidden 128, batch 1, 32 steps', op: 'gru', I: 64, H: 128, T: 32, B: 1, layers: 1, bidirectional: false, batchFirst: false, biases: true },
  // The Elman RNN: tanh|relu(xp + hp), the activations' own code.
  { name: 'rnn tanh: two layers, both directions, hidden 5, NaN row', op: 'rnn', I: 4, H: 5, T: 6, B: 3, layers: 2, bidirectional: true, batchFirst: false, biases: true, nanRow: 4 },
  { name: 'rnn relu: batch-first, lengths with a zero length, hidden 9', op: 'rnn', relu: true, I: 3, H: 9, T: 5, B: 3, layers: 1, bidirectional: true, batchFirst: true, biases: true, lengths: [5, 0, 2] },
  { name: 'rnn relu: hidden 16, batch 4, no biases', op: 'rnn', relu: true, I: 6, H: 16, T: 7, B: 4, layers: 1, bidirectional: false, batchFirst: false, biases: false },
];

/** The op's inputs for a case: x, h0, (c0,) weights per layer and direction, lengths?. */
function inputsOf(c: Case, seed: number): kiln.Tensor[] {
  const G = (c.op === 'gru' ? 3 : c.op === 'rnn' ? 1 : 4) * c.H;
  let s = seed;
  const r = (shape: number[], scale = 0.5) => kiln.randn(shape, { seed: s++ }).mul(scale);
  const D = c.bidirectional ? 2 : 1;
  let x = r(c.batchFirst ? [c.B, c.T, c.I] : [c.T, c.B, c.I], 1);
  if (c.nanRow !== undefined) {
    const d = Float32Array.from(x.dataSync());
    d.fill(NaN, c.nanRow * c.I, (c.nanRow + 1) * c.I);
    x = kiln.tensor(d, { shape: x.shape });
  }
  const weights: kiln.Tensor[] = [];
  for (let l = 0; l < c.layers; l++) {
    for (let d = 0; d < D; d++) {
      weights.push(r([G, l === 0 ? c.I : D * c.H]), r([G, c.H]));
      if (c.biases) weights.push(r([G]), r([G]));
    }
  }
  const states = (c.op === 'gru' || c.op === 'rnn' ? [0] : [0, 1]).map(() => r([c.layers * D, c.B, c.H]));
  const lengths = c.lengths ? [kiln.tensor(c.lengths, { dtype: 'int32' })] : [];
  return [x, ...states, ...weights, ...lengths];
}

const attrsOf = (c: Case): Attrs => ({
  hiddenSize: c.H, numLayers: c.layers, bidirectional: c.bidirectional, batchFirst: c.batchFirst, hasBiases: c.biases,
  ...(c.op === 'rnn' ? { nonlinearity: c.relu ? 'relu' : 'tanh' } : {}),
});

/** Float32 bit patterns, so NaN and -0 compare exactly. */
const bits = (t: kiln.Tensor): Uint32Array => new Uint32Array(Float32Array.from(t.dataSync()).buffer);

describe('wasm lstm and gru sequence kernels', () => {
  for (const [i, c] of CASES.entries()) {
    it(`${c.name}: the decomposition's bits`, () => {
      kiln.scope(() => {
        const op = c.op ?? 'lstm';
        const def = getOp(op)!;
        const inputs = inputsOf(c, 100 * (i + 1));
        const kernel = kiln.noGrad(() => inputs[0]!.applyOp(op, inputs.slice(1), attrsOf(c)) as kiln.Tensor[]);
        const decomposed = kiln.noGrad(() => def.decompose!(inputs, attrsOf(c)) as kiln.Tensor[]);
        expect(kernel.length).toBe(op === 'lstm' ? 3 : 2);
        kernel.forEach((t, k) => {
          expect(t.shape, `output ${k}`).toEqual(decomposed[k]!.shape);
          expect(bits(t), `output ${k}`).toEqual(bits(decomposed[k]!));
        });
        const y = kernel[0]!.dataSync();
        if (c.nanRow !== undefined) expect(y.some(Number.isNaN)).toBe(true);
        if (c.lengths) {
          // Sequence b outputs 0 from step lengths[b] on.
          const D = c.bidirectional ? 2 : 1;
          for (let b = 0; b < c.B; b++) {
            for (let t = c.lengths[b]!; t < c.T; t++) {
              const at = (c.batchFirst ? b * c.T + t : t * c.B + b) * D * c.H;
              for (let k = 0; k < D * c.H; k++) expect(y[at + k]).toBe(0);
            }
          }
        }
      });
    });
  }

  it('an eager nn.LSTM with a gradient wanted still tapes its steps and trains (loss falls)', () => {
    kiln.scope(() => {
      kiln.manualSeed(3);
      const lstm = new kiln.nn.LSTM(3, 8);
      const head = new kiln.nn.Linear(8, 1);
      const opt = new kiln.optim.Adam([...lstm.parameters(), ...head.parameters()], { lr: 0.02 });
      const x = kiln.randn([6, 4, 3], { seed: 4 });
      const target = x.sum(0).sum(1).reshape([4, 1]).mul(0.3);
      const losses: number[] = [];
      for (let step = 0; step < 40; step++) {
        kiln.scope(() => {
          opt.zeroGrad();
          const loss = head.forward(lstm.forward(x)[0].slice([5], [6]).squeeze(0)).sub(target).square().mean();
          loss.backward();
          opt.step();
          losses.push(loss.item());
        });
      }
      expect(losses[39]!).toBeLessThan(losses[0]! / 3);
    });
  });
});

describe('compiled LSTM and GRU on wasm', () => {
  it('inference at O2 keeps one lstm node, bit-identical to eager', () => {
    kiln.scope(() => {
      kiln.manualSeed(5);
      const lstm = new kiln.nn.LSTM(8, 16, { numLayers: 2 }).eval();
      const x = kiln.randn([12, 3, 8], { seed: 6 });
      const fast = compile(lstm, { inputs: [spec([12, 3, 8])], optimize: 'O2' });
      fast.run(x); // traces: eager's result
      const got = fast.run(x) as [kiln.Tensor, [kiln.Tensor, kiln.Tensor]];
      const want = kiln.noGrad(() => lstm.forward(x));
      expect(fast.graph.nodes.filter((n) => n.op === 'lstm').length).toBe(1);
      expect(fast.graph.nodes.some((n) => n.op === 'lstmGates')).toBe(false);
      expect(bits(got[0])).toEqual(bits(want[0]));
      expect(bits(got[1][0])).toEqual(bits(want[1][0]));
      expect(bits(got[1][1])).toEqual(bits(want[1][1]));
    });
  });

  it('a GRU at O2 keeps one gru node, bit-identical to eager', () => {
    kiln.scope(() => {
      kiln.manualSeed(9);
      const gru = new kiln.nn.GRU(6, 12, { batchFirst: true }).eval();
      const x = kiln.randn([4, 10, 6], { seed: 10 });
      const fast = compile(gru, { inputs: [spec([4, 10, 6])], optimize: 'O2' });
      fast.run(x);
      const got = fast.run(x) as [kiln.Tensor, kiln.Tensor];
      const want = kiln.noGrad(() => gru.forward(x));
      expect(fast.graph.nodes.filter((n) => n.op === 'gru').length).toBe(1);
      expect(fast.graph.nodes.some((n) => n.op === 'gruGates')).toBe(false);
      expect(bits(got[0])).toEqual(bits(want[0]));
      expect(bits(got[1])).toEqual(bits(want[1]));
    });
  });

  it('training still unrolls the lstm into its steps (closed-form gate gradients)', () => {
    kiln.scope(() => {
      kiln.manualSeed(7);
      const lstm = new kiln.nn.LSTM(3, 4);
      const loss = (x: kiln.Tensor) => lstm.forward(x)[0].square().mean();
      const fast = compile(loss, { inputs: [spec([5, 2, 3])], mode: 'training', optimize: 'O2' });
      fast.run(kiln.randn([5, 2, 3], { seed: 8 }));
      expect(fast.graph.nodes.filter((n) => n.op === 'lstmGates').length).toBe(5);
      expect(fast.graph.nodes.some((n) => n.op === 'lstm')).toBe(false);
    });
  });
});
