/**
 * The "next" layers beyond their PyTorch golden values (nn.layers.golden.test.ts):
 * Dropout2d and attention dropout are random, so their structure and statistics are
 * checked (whole channels zeroed, 1/(1−p) scale, 5-SE keep rate, eval identity, seeded
 * reproducibility); default initializations (bounds and constants); Embedding.fromPretrained;
 * Module.children()/modules(); argument errors; finite-difference gradient checks of
 * GroupNorm and multi-head attention (float64, reference backend); a compiled
 * TransformerEncoderLayer equal to eager.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import {
  Conv1d, Dropout2d, Embedding, GroupNorm, Linear, MaxPool2d, MultiheadAttention, ReLU, Sequential, TransformerEncoderLayer, Upsample,
} from '../src/nn/layers/index.js';
import { groupNorm } from '../src/nn/layers/groupNorm.js';
import { multiheadAttention } from '../src/nn/layers/multiheadAttention.js';
import { Module } from '../src/nn/module.js';

beforeAll(async () => {
  await kiln.init();
});

const BACKENDS = ['reference', 'wasm'] as const;

function close(a: kiln.Tensor, b: kiln.Tensor, tol = 1e-6): boolean {
  const x = a.dataSync(), y = b.dataSync();
  return x.length === y.length && x.every((v, i) => Math.abs(v - y[i]!) <= tol * Math.max(1, Math.abs(y[i]!)));
}

describe('Dropout2d', () => {
  for (const backend of BACKENDS) {
    it(`zeroes whole channels at rate p (5 SE), scales the rest by 1/(1−p), identity in eval, on ${backend}`, () => {
      kiln.scope(() => {
        const p = 0.3, n = 64, c = 64, hw = 3;
        const drop = new Dropout2d(p);
        const x = kiln.rand([n, c, hw, hw], { seed: 1, backend }).add(0.5).requiresGrad_(); // no zeros
        const y = drop.forward(x);
        const w = kiln.randn([n, c, hw, hw], { seed: 2, backend });
        y.mul(w).sum().backward();
        const xs = x.dataSync(), ys = y.dataSync(), gs = x.grad!.dataSync(), ws = w.dataSync();
        let dropped = 0, worstY = 0, worstG = 0;
        for (let ch = 0; ch < n * c; ch++) {
          // The whole plane shares one mask value (read off its first element), and the gradient is that mask.
          const first = ch * hw * hw;
          const scale = ys[first] === 0 ? 0 : 1 / (1 - p);
          if (scale === 0) dropped++;
          for (let i = first; i < first + hw * hw; i++) {
            worstY = Math.max(worstY, Math.abs(ys[i]! - xs[i]! * scale) / Math.max(1, Math.abs(xs[i]!)));
            worstG = Math.max(worstG, Math.abs(gs[i]! - ws[i]! * scale) / Math.max(1, Math.abs(ws[i]!)));
          }
        }
        expect(worstY).toBeLessThanOrEqual(1e-6);
        expect(worstG).toBeLessThanOrEqual(1e-6);
        const total = n * c;
        expect(Math.abs(dropped / total - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / total));
        x.zeroGrad();
        drop.eval();
        expect(drop.forward(x)).toBe(x);
      });
    });
  }

  it('is reproducible under kiln.manualSeed, handles CHW input, p = 1 zeroes everything', () => {
    kiln.scope(() => {
      const drop = new Dropout2d(0.5);
      const x = kiln.rand([4, 8, 2, 2], { seed: 3 }).add(0.5);
      kiln.manualSeed(11);
      const a = drop.forward(x).dataSync();
      kiln.manualSeed(11);
      const b = drop.forward(x).dataSync();
      expect([...a]).toEqual([...b]);
      const chw = drop.forward(kiln.ones([16, 2, 3])).dataSync();
      for (let ch = 0; ch < 16; ch++) {
        const plane = [...chw.subarray(ch * 6, ch * 6 + 6)];
        expect(plane.every((v) => v === plane[0]) && (plane[0] === 0 || plane[0] === 2)).toBe(true);
      }
      expect([...new Dropout2d(1).forward(x).dataSync()].every((v) => v === 0)).toBe(true);
      expect(() => drop.forward(kiln.ones([4, 4]))).toThrow(/Dropout2d.*NCHW or CHW/);
      expect(() => new Dropout2d(-0.1)).toThrow(/probability/);
    });
  });
});

describe('attention dropout', () => {
  it('MultiheadAttention training weights are the eval weights, each zeroed or scaled by 1/(1−p); seeded', () => {
    kiln.scope(() => {
      const p = 0.4;
      const mha = new MultiheadAttention(8, 2, { dropout: p, batchFirst: true });
      const x = kiln.randn([2, 6, 8], { seed: 4 });
      const opts = { averageAttnWeights: false };
      const [, ref] = mha.eval().forward(x, x, x, opts);
      mha.train();
      kiln.manualSeed(5);
      const [y1, w1] = mha.forward(x, x, x, opts);
      kiln.manualSeed(5);
      const [y2] = mha.forward(x, x, x, opts);
      expect([...y1.dataSync()]).toEqual([...y2.dataSync()]);
      const r = ref!.dataSync(), t = w1!.dataSync();
      let zeros = 0;
      for (let i = 0; i < r.length; i++) {
        if (t[i] === 0) zeros++;
        else expect(Math.abs(t[i]! - r[i]! / (1 - p))).toBeLessThanOrEqual(1e-6);
      }
      expect(zeros).toBeGreaterThan(0);
      expect(zeros).toBeLessThan(r.length);
    });
  });

  it('TransformerEncoderLayer: training (dropout 0.1) is seeded and differs from eval; eval is deterministic', () => {
    kiln.scope(() => {
      const layer = new TransformerEncoderLayer(8, 2, { dimFeedforward: 16 });
      const x = kiln.randn([5, 3, 8], { seed: 6 });
      kiln.manualSeed(7);
      const a = layer.forward(x);
      kiln.manualSeed(7);
      const b = layer.forward(x);
      expect(close(a, b, 0)).toBe(true);
      layer.eval();
      const e1 = layer.forward(x), e2 = layer.forward(x);
      expect(close(e1, e2, 0)).toBe(true);
      expect(close(a, e1, 1e-3)).toBe(false);
    });
  });
});

describe('default initialization (PyTorch)', () => {
  function range(t: kiln.Tensor): { min: number; max: number } {
    const d = t.dataSync();
    return { min: Math.min(...d), max: Math.max(...d) };
  }

  it('MultiheadAttention: inProjWeight Xavier-uniform, outProj.weight U(±1/√E), biases 0', () => {
    const mha = new MultiheadAttention(64, 4);
    const xavier = Math.sqrt(6 / (64 + 192));
    const w = range(mha.inProjWeight);
    expect(w.min).toBeGreaterThanOrEqual(-xavier);
    expect(w.max).toBeLessThanOrEqual(xavier);
    expect(w.max).toBeGreaterThan(0.99 * xavier);
    const o = range(mha.outProj.weight);
    expect(o.min).toBeGreaterThanOrEqual(-1 / 8);
    expect(o.max).toBeLessThanOrEqual(1 / 8);
    expect(o.max).toBeGreaterThan(0.99 / 8);
    expect([...mha.inProjBias!.dataSync(), ...mha.outProj.bias!.dataSync()].every((v) => v === 0)).toBe(true);
    const noBias = new MultiheadAttention(8, 2, { bias: false });
    expect(noBias.namedParameters().map(([n]) => n)).toEqual(['inProjWeight', 'outProj.weight']);
  });

  it('Conv1d: weight and bias U(±1/√(inChannels/groups·k)); GroupNorm: weight 1, bias 0', () => {
    const conv = new Conv1d(8, 64, 5, { groups: 2 });
    const bound = 1 / Math.sqrt(4 * 5);
    expect(conv.weight.shape).toEqual([64, 4, 5]);
    const w = range(conv.weight);
    expect(w.min).toBeGreaterThanOrEqual(-bound);
    expect(w.max).toBeLessThanOrEqual(bound);
    expect(w.max).toBeGreaterThan(0.95 * bound);
    const b = range(conv.bias!);
    expect(Math.max(-b.min, b.max)).toBeLessThanOrEqual(bound);
    const gn = new GroupNorm(2, 6);
    expect([...gn.weight!.dataSync()]).toEqual([1, 1, 1, 1, 1, 1]);
    expect([...gn.bias!.dataSync()]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(new GroupNorm(2, 6, { affine: false }).numParameters()).toBe(0);
  });
});

describe('Embedding.fromPretrained', () => {
  it('copies the table; freeze (default) stops gradients, freeze: false trains; no random draw', () => {
    kiln.scope(() => {
      const table = kiln.randn([5, 3], { seed: 8 });
      kiln.manualSeed(9);
      const frozen = Embedding.fromPretrained(table);
      const afterBuild = kiln.randn([4]).dataSync();
      kiln.manualSeed(9);
      expect([...kiln.randn([4]).dataSync()]).toEqual([...afterBuild]); // the global stream was not used
      expect([...frozen.weight.dataSync()]).toEqual([...table.dataSync()]);
      expect(frozen.weight.requiresGrad).toBe(false);
      expect(frozen.parameters()).toHaveLength(1); // listed, as in PyTorch
      const ids = kiln.tensor([1, 4, 1], { dtype: 'int32' });
      const out = frozen.forward(ids);
      expect(out.requiresGrad).toBe(false);
      expect([...out.dataSync().subarray(0, 3)]).toEqual([...table.dataSync().subarray(3, 6)]);
      kiln.noGrad(() => table.mul_(0));
      expect(frozen.weight.dataSync()[3]).not.toBe(0); // a copy

      const tuned = Embedding.fromPretrained(kiln.randn([5, 3], { seed: 8 }), { freeze: false, paddingIdx: 1 });
      expect(tuned.weight.dataSync()[3]).not.toBe(0); // the padding row keeps its pretrained values
      tuned.forward(ids).sum().backward();
      const g = tuned.weight.grad!.dataSync();
      expect([...g.subarray(3, 6)]).toEqual([0, 0, 0]); // padding row: no gradient
      expect([...g.subarray(12, 15)]).toEqual([1, 1, 1]);
      tuned.zeroGrad();
      expect(() => Embedding.fromPretrained(kiln.zeros([3]))).toThrow(/2-D/);
    });
  });
});

describe('Module.children() and modules()', () => {
  it('direct children and all modules depth-first, each once even when shared', () => {
    const shared = new Linear(2, 2);
    const inner = new Sequential(shared, new ReLU());
    class Net extends Module {
      a = shared;
      b = inner;
      c = shared;
      forward(x: kiln.Tensor): kiln.Tensor {
        return x;
      }
    }
    const net = new Net();
    expect([...net.children()]).toEqual([shared, inner]);
    const all = [...net.modules()];
    expect(all).toHaveLength(4);
    expect(all[0]).toBe(net);
    expect(all[1]).toBe(shared);
    expect(all[2]).toBe(inner);
    expect(all[3]).toBeInstanceOf(ReLU);
  });
});

describe('argument and input errors name the layer', () => {
  it('constructors', () => {
    expect(() => new GroupNorm(4, 6)).toThrow(/GroupNorm.*divisible/);
    expect(() => new MultiheadAttention(10, 3)).toThrow(/MultiheadAttention.*divisible/);
    expect(() => new Upsample({ size: 4, scaleFactor: 2 })).toThrow(/exactly one/);
    expect(() => new Upsample()).toThrow(/exactly one/);
    expect(() => new Upsample({ scaleFactor: 2, alignCorners: true })).toThrow(/bilinear/);
    expect(() => new Conv1d(4, 4, 3, { padding: 'same', stride: 2 })).toThrow(/stride 1/);
    expect(() => new Conv1d(4, 6, 3, { groups: 4 })).toThrow(/divisible/);
    expect(() => new TransformerEncoderLayer(8, 2, { activation: 'tanh' as 'relu' })).toThrow(/activation/);
  });

  it('inputs and masks', () => {
    kiln.scope(() => {
      const mha = new MultiheadAttention(4, 2);
      const x = kiln.randn([3, 2, 4]);
      expect(() => mha.forward(x, x, x, { keyPaddingMask: kiln.zeros([3, 2]).greater(0) })).toThrow(/keyPaddingMask must have shape \[2, 3\]/);
      expect(() => mha.forward(x, x, x, { attnMask: kiln.zeros([3, 2]) })).toThrow(/attnMask/);
      expect(() => mha.forward(x, x, x, { attnMask: kiln.zeros([3, 3], { dtype: 'int32' }) })).toThrow(/bool or float/);
      expect(() => mha.forward(x, kiln.randn([3, 2, 5]), x)).toThrow(/key must be/);
      expect(() => new GroupNorm(2, 4).forward(kiln.randn([2, 6, 3]))).toThrow(/GroupNorm.*\[N, 4, \*\]/);
      expect(() => new Conv1d(3, 4, 3).forward(kiln.randn([2, 3, 4, 4]))).toThrow(/Conv1d/);
      expect(() => new MaxPool2d(3, { dilation: 3 }).forward(kiln.randn([1, 1, 5, 5]))).toThrow(/does not fit/);
    });
  });
});

describe('finite-difference gradient checks (float64, reference backend)', () => {
  const opts = { dtype: 'float64' as const, backend: 'reference' as const };
  const r = (shape: number[], seed: number) => kiln.randn(shape, { ...opts, seed });

  it('GroupNorm w.r.t. input, weight and bias; the module w.r.t. its input', () => {
    const res = kiln.testing.gradcheck((x, w, b) => groupNorm(x, 2, w, b, 1e-5), [r([2, 4, 3], 1), r([4], 2), r([4], 3)]);
    expect(res.ok).toBe(true);
    const gn = new GroupNorm(3, 6, opts);
    expect(kiln.testing.gradcheck((x) => gn.forward(x), [r([2, 6, 2, 2], 4)]).ok).toBe(true);
  });

  it('multi-head attention w.r.t. query, key, value and every projection, with masks and per-head weights', () => {
    const pad = kiln.tensor([[0, 0, 0, 1], [0, 0, 0, 0]], { backend: 'reference' }).greater(0);
    const attn = r([3, 4], 5);
    const f = (q: kiln.Tensor, k: kiln.Tensor, v: kiln.Tensor, wi: kiln.Tensor, bi: kiln.Tensor, wo: kiln.Tensor, bo: kiln.Tensor) => {
      const [out, weights] = multiheadAttention(q, k, v, {
        numHeads: 2, inProjWeight: wi, inProjBias: bi, outProjWeight: wo, outProjBias: bo,
        keyPaddingMask: pad, attnMask: attn, averageAttnWeights: false,
      });
      return kiln.concat([out.flatten(), weights!.flatten()]);
    };
    const inputs = [r([2, 3, 4], 6), r([2, 4, 4], 7), r([2, 4, 4], 8), r([12, 4], 9).mul(0.5), r([12], 10), r([4, 4], 11), r([4], 12)];
    expect(kiln.testing.gradcheck(f, inputs).ok).toBe(true);
    // Self-attention (one packed projection) through the module.
    const mha = new MultiheadAttention(4, 2, opts);
    expect(kiln.testing.gradcheck((x) => mha.forward(x, x, x)[0], [r([3, 2, 4], 13)]).ok).toBe(true);
  });
});

describe('compiled', () => {
  it('a TransformerEncoderLayer (eval) compiles with a symbolic batch and matches eager', () => {
    kiln.scope(() => {
      const layer = new TransformerEncoderLayer(8, 2, { dimFeedforward: 16, batchFirst: true, activation: 'gelu' }).eval();
      const fast = kiln.compile(layer, { inputs: [kiln.spec([kiln.dim('batch'), 5, 8])] });
      for (const [n, seed] of [[2, 14], [3, 15]] as const) {
        const x = kiln.randn([n, 5, 8], { seed });
        expect(close(fast.run(x) as kiln.Tensor, layer.forward(x), 1e-5)).toBe(true);
      }
      expect(fast.traceCount).toBe(1); // one graph serves both batch sizes
    });
  });
});
