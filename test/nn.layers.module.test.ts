/**
 * Module behaviour of the layers: parameter names and order, parameter counts,
 * train/eval propagation, stateDict/loadStateDict, containers, Dropout statistics,
 * argument and input errors, finite-difference gradient checks of the normalization
 * layers (float64, reference backend, kiln.testing.gradcheck defaults: atol 1e-5, rtol 1e-3).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, ELU, Embedding, Flatten, Identity,
  LayerNorm, LeakyReLU, Linear, LogSoftmax, MaxPool2d, ModuleList, PReLU, ReLU, Sequential, Sigmoid, Softmax, Tanh,
} from '../src/nn/layers/index.js';
import { Module } from '../src/nn/module.js';

beforeAll(async () => {
  await kiln.init();
});

class Block extends Module {
  conv = new Conv2d(2, 4, 3, { padding: 1 });
  bn = new BatchNorm2d(4);
  forward(x: kiln.Tensor): kiln.Tensor {
    return this.bn.forward(this.conv.forward(x)).relu();
  }
}

class Net extends Module {
  stem = new Sequential(new Linear(3, 2), new ReLU());
  blocks = new ModuleList([new Block(), new Block()]);
  head = new Linear(2, 1, { bias: false });
  forward(x: kiln.Tensor): kiln.Tensor {
    return this.head.forward(this.stem.forward(x));
  }
}

describe('parameters and names', () => {
  it('Sequential names children 0, 1, … and lists parameters in PyTorch order', () => {
    const model = new Sequential(new Linear(4, 8), new ReLU(), new BatchNorm1d(8), new Linear(8, 2));
    expect(model.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '3.weight', '3.bias']);
    expect(model.namedBuffers().map(([n]) => n)).toEqual(['2.runningMean', '2.runningVar', '2.numBatchesTracked']);
    expect(model.numParameters()).toBe(4 * 8 + 8 + 8 + 8 + 8 * 2 + 2);
  });

  it('nested modules, ModuleList and Sequential give dotted paths', () => {
    const net = new Net();
    expect(net.namedParameters().map(([n]) => n)).toEqual([
      'stem.0.weight', 'stem.0.bias',
      'blocks.0.conv.weight', 'blocks.0.conv.bias', 'blocks.0.bn.weight', 'blocks.0.bn.bias',
      'blocks.1.conv.weight', 'blocks.1.conv.bias', 'blocks.1.bn.weight', 'blocks.1.bn.bias',
      'head.weight',
    ]);
    expect([...net.namedModules()].map(([n]) => n)).toEqual(['', 'stem', 'stem.0', 'stem.1', 'blocks', 'blocks.0', 'blocks.0.conv', 'blocks.0.bn', 'blocks.1', 'blocks.1.conv', 'blocks.1.bn', 'head']);
    expect(net.numParameters()).toBe(3 * 2 + 2 + 2 * (4 * 2 * 9 + 4 + 4 + 4) + 2);
  });

  it('numParameters of a classic MLP and of layers without parameters', () => {
    const mlp = new Sequential(new Linear(784, 128), new ReLU(), new Linear(128, 10));
    expect(mlp.numParameters()).toBe(101_770);
    for (const m of [new ReLU(), new Flatten(), new MaxPool2d(2), new AvgPool2d(2), new AdaptiveAvgPool2d(1), new Dropout(), new Identity(), new Sigmoid(), new Tanh(), new Softmax(), new LogSoftmax(), new ELU(), new LeakyReLU()]) {
      expect(m.numParameters()).toBe(0);
    }
    expect(new PReLU(5).numParameters()).toBe(5);
    expect(new Embedding(10, 3).numParameters()).toBe(30);
    expect(new LayerNorm([3, 4], { elementwiseAffine: false }).numParameters()).toBe(0);
    expect(new BatchNorm1d(4, { affine: false, trackRunningStats: false }).stateDict().size).toBe(0);
    expect(new ConvTranspose2d(4, 6, 3, { groups: 2 }).numParameters()).toBe(4 * 3 * 9 + 6);
  });

  it('parameters are leaves that require grad; buffers do not', () => {
    const bn = new BatchNorm1d(3);
    for (const p of bn.parameters()) expect(p.isLeaf && p.requiresGrad).toBe(true);
    for (const [, b] of bn.namedBuffers()) expect(b.requiresGrad).toBe(false);
  });
});

describe('containers', () => {
  it('Sequential: at, negative at, length, iteration, append, errors', () => {
    const a = new Linear(2, 3), b = new ReLU(), c = new Linear(3, 1);
    const seq = new Sequential(a, b);
    expect(seq.length).toBe(2);
    expect(seq.at(0)).toBe(a);
    expect(seq.at(-1)).toBe(b);
    expect(seq[1]).toBe(b);
    seq.append(c);
    expect([...seq]).toEqual([a, b, c]);
    expect(() => seq.at(3)).toThrow(/out of range/);
    expect(() => seq.append({} as Module)).toThrow(/expected a Module/);
    const y = seq.forward(kiln.ones([4, 2]));
    expect(y.shape).toEqual([4, 1]);
  });

  it('ModuleList: append, extend, iteration; no forward', () => {
    const list = new ModuleList([new ReLU()]);
    list.append(new Linear(1, 1)).extend([new Tanh(), new Sigmoid()]);
    expect(list.length).toBe(4);
    expect(list.at(-1)).toBeInstanceOf(Sigmoid);
    expect([...list].map((m) => m.constructor.name)).toEqual(['ReLU', 'Linear', 'Tanh', 'Sigmoid']);
    expect(list.namedParameters().map(([n]) => n)).toEqual(['1.weight', '1.bias']);
    expect(() => list.forward(kiln.ones([1]))).toThrow(/no forward/);
  });

  it('an empty Sequential is the identity', () => {
    const x = kiln.ones([2]);
    expect(new Sequential().forward(x)).toBe(x);
  });
});

describe('train / eval', () => {
  it('propagates to every descendant', () => {
    const net = new Net();
    net.eval();
    expect([...net.namedModules()].every(([, m]) => !m.training)).toBe(true);
    net.train();
    expect([...net.namedModules()].every(([, m]) => m.training)).toBe(true);
  });

  it('BatchNorm uses batch statistics in training and running statistics in eval (exact to 1e-5)', () => {
    const bn = new BatchNorm1d(2, { momentum: 0.5 });
    const x = kiln.tensor([[1, 10], [3, 30]]);
    const y = bn.forward(x).toArray() as number[][];
    // Batch mean [2, 20], biased variance [1, 100]: outputs ≈ ±1.
    expect(y[0]![0]).toBeCloseTo(-1 / Math.sqrt(1 + 1e-5), 5);
    expect(y[1]![1]).toBeCloseTo(1, 4);
    // Running: mean 0.5·[2, 20]; variance 0.5·1 + 0.5·(unbiased [2, 200]).
    expect(bn.runningMean!.toArray()).toEqual([1, 10]);
    expect(bn.runningVar!.toArray()).toEqual([1.5, 100.5]);
    expect(bn.numBatchesTracked!.item()).toBe(1);
    bn.eval();
    const z = bn.forward(kiln.tensor([[1, 10]])).toArray() as number[][];
    expect(z[0]![0]).toBeCloseTo(0, 5);
    expect(z[0]![1]).toBeCloseTo(0, 5);
    expect(bn.numBatchesTracked!.item()).toBe(1); // eval does not count
    bn.resetRunningStats();
    expect(bn.runningVar!.toArray()).toEqual([1, 1]);
  });

  it('Dropout: keep rate 1−p and scale 1/(1−p) in training (5 SE), identity in eval', () => {
    const drop = new Dropout(0.3);
    const n = 100_000;
    const y = drop.forward(kiln.ones([n])).dataSync();
    let zeros = 0, misScaled = 0;
    for (const v of y) {
      if (v === 0) zeros++;
      else if (!(Math.abs(v - 1 / 0.7) < 1e-6)) misScaled++;
    }
    expect(misScaled).toBe(0);
    expect(Math.abs(zeros / n - 0.3)).toBeLessThan(5 * Math.sqrt((0.3 * 0.7) / n));
    drop.eval();
    const x = kiln.randn([10]);
    expect([...drop.forward(x).dataSync()]).toEqual([...x.dataSync()]);
    expect(() => new Dropout(1.5)).toThrow(/probability/);
  });
});

describe('memory', () => {
  it('training steps inside kiln.scope leave no tensors behind (running statistics update in place)', () => {
    const model = new Sequential(new Linear(4, 8), new BatchNorm1d(8), new PReLU(), new Dropout(0.2), new Linear(8, 2), new LayerNorm(2));
    const emb = new Embedding(5, 4, { paddingIdx: 0 });
    const ids = kiln.tensor([0, 1, 2, 0, 4, 3], { dtype: 'int32' });
    const step = (): void => kiln.scope(() => {
      model.zeroGrad();
      emb.zeroGrad();
      model.forward(emb.forward(ids)).square().mean().backward();
    });
    step();
    const live = kiln.memory().liveTensors;
    for (let i = 0; i < 5; i++) step();
    expect(kiln.memory().liveTensors).toBe(live);
    expect((model.at(1) as BatchNorm1d).numBatchesTracked!.item()).toBe(6);
  });
});

describe('stateDict / loadStateDict', () => {
  it('round-trips every parameter and buffer in place', () => {
    const a = new Net();
    kiln.nn.callForward(a.blocks.at(0), kiln.randn([2, 2, 3, 3])); // moves running statistics
    const b = new Net();
    const before = b.stateDict();
    b.loadStateDict(a.stateDict());
    const after = b.stateDict();
    for (const [name, t] of a.stateDict()) {
      expect(after.get(name), name).toBe(before.get(name)); // same tensors, written in place
      expect([...after.get(name)!.dataSync()], name).toEqual([...t.dataSync()]);
    }
    expect((b.blocks.at(0) as Block).bn.numBatchesTracked!.item()).toBe(1);
  });

  it('strict loading names missing, unexpected and mis-shaped entries and writes nothing', () => {
    const fc = new Linear(3, 2);
    const w0 = [...fc.weight.dataSync()];
    const good = new Linear(3, 2).stateDict();
    expect(() => fc.loadStateDict(new Map([['weight', good.get('weight')!]]))).toThrow(/missing bias/);
    expect(() => fc.loadStateDict(new Map([...good, ['extra', kiln.zeros([1])]]))).toThrow(/unexpected extra/);
    expect(() => fc.loadStateDict({ weight: kiln.zeros([2, 4]), bias: kiln.zeros([2]) })).toThrow(/weight: shape \[2, 4\] does not match \[2, 3\]/);
    expect([...fc.weight.dataSync()]).toEqual(w0);
    fc.loadStateDict(new Map([['weight', kiln.ones([2, 3])]]), { strict: false });
    expect(fc.weight.dataSync().every((v) => v === 1)).toBe(true);
  });
});

describe('errors name the layer and the shapes', () => {
  it('constructor arguments', () => {
    expect(() => new Conv2d(3, 4, 3, { groups: 2 })).toThrow(/divisible by groups/);
    expect(() => new Conv2d(3, 4, 3, { padding: 'same', stride: 2 })).toThrow(/'same' needs stride 1/);
    expect(() => new Conv2d(3, 4, [3, 3, 3] as unknown as [number, number])).toThrow(/kernelSize must be/);
    expect(() => new ConvTranspose2d(2, 2, 3, { stride: 2, outputPadding: 2 })).toThrow(/outputPadding must be smaller/);
    expect(() => new MaxPool2d(2, { padding: 2 })).toThrow(/at most half the kernel/);
    expect(() => new Linear(-1, 2)).toThrow(/inFeatures must be an integer/);
    expect(() => new Embedding(5, 2, { paddingIdx: 5 })).toThrow(/paddingIdx/);
    expect(() => new BatchNorm1d(3, { momentum: 2 })).toThrow(/momentum/);
    expect(() => new AdaptiveAvgPool2d(0)).toThrow(/outputSize/);
  });

  it('input shapes', () => {
    expect(() => new Linear(4, 2).forward(kiln.ones([3, 5]))).toThrow(/Linear: expected input \[\.\.\., 4\], got shape \[3, 5\]/);
    expect(() => new Conv2d(3, 4, 3).forward(kiln.ones([1, 2, 5, 5]))).toThrow(/Conv2d: expected 3 input channels/);
    expect(() => new Conv2d(3, 4, 3).forward(kiln.ones([3, 5, 5]))).toThrow(/NCHW/);
    expect(() => new BatchNorm2d(3).forward(kiln.ones([2, 3, 4]))).toThrow(/BatchNorm2d: expected NCHW/);
    expect(() => new BatchNorm1d(3).forward(kiln.ones([2, 4]))).toThrow(/expected 3 channels/);
    expect(() => new BatchNorm1d(3).forward(kiln.ones([1, 3]))).toThrow(/more than 1 value per channel/);
    expect(() => new LayerNorm(4).forward(kiln.ones([2, 5]))).toThrow(/LayerNorm: expected input \[\.\.\., 4\]/);
    expect(() => new Embedding(4, 2).forward(kiln.ones([3]))).toThrow(/indices must be int32/);
    expect(() => new PReLU(3).forward(kiln.ones([2, 4]))).toThrow(/PReLU: expected 3 channels/);
  });
});

describe('finite-difference gradient checks (float64, reference backend)', () => {
  const opts = { dtype: 'float64' as const, backend: 'reference' as const };

  it('BatchNorm2d (training) and LayerNorm w.r.t. the input', () => {
    const bn = new BatchNorm2d(2, opts);
    kiln.noGrad(() => {
      bn.weight!.copy_(kiln.tensor([1.5, 0.5], opts));
      bn.bias!.copy_(kiln.tensor([0.2, -0.3], opts));
    });
    const x = kiln.randn([3, 2, 2, 2], { ...opts, seed: 1 });
    expect(kiln.testing.gradcheck((x) => bn.forward(x), [x]).ok).toBe(true);
    const ln = new LayerNorm([2, 3], opts);
    expect(kiln.testing.gradcheck((x) => ln.forward(x), [kiln.randn([4, 2, 3], { ...opts, seed: 2 })]).ok).toBe(true);
  });

  it('PReLU w.r.t. input, AdaptiveAvgPool2d with overlapping bins', () => {
    const act = new PReLU(2, opts);
    expect(kiln.testing.gradcheck((x) => act.forward(x), [kiln.randn([3, 2, 4], { ...opts, seed: 3 })]).ok).toBe(true);
    const pool = new AdaptiveAvgPool2d([3, 2]);
    expect(kiln.testing.gradcheck((x) => pool.forward(x), [kiln.randn([1, 2, 5, 5], { ...opts, seed: 4 })]).ok).toBe(true);
  });
});
