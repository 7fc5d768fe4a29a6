import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

describe('kiln.summary', () => {
  function cnn() {
    return new nn.Sequential(
      new nn.Conv2d(3, 8, 3, { padding: 1 }),
      new nn.BatchNorm2d(8),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(8, 16, 3, { groups: 2, bias: false }),
      new nn.Tanh(),
      new nn.AdaptiveAvgPool2d(1),
      new nn.Flatten(),
      new nn.Dropout(0.5),
      new nn.Linear(16, 5),
    );
  }

  it('a small CNN: output shapes with the symbolic batch, parameter counts and FLOPs computed by hand', () => {
    const model = cnn();
    model.at(0).namedParameters()[1]![1].requiresGrad_(false); // freeze conv1's bias: 8 non-trainable
    const runningMean = (model.at(1) as kiln.nn.BatchNorm2d).runningMean!.toArray();
    const s = kiln.summary(model, kiln.spec([kiln.dim('batch'), 3, 10, 10]), { sizes: { batch: 2 } });
    expect(s.mode).toBe('shape-only');
    expect(s.layers.map((l) => `${l.name} ${l.type}`)).toEqual([
      '0 Conv2d', '1 BatchNorm2d', '2 ReLU', '3 MaxPool2d', '4 Conv2d', '5 Tanh', '6 AdaptiveAvgPool2d', '7 Flatten', '8 Dropout', '9 Linear',
    ]);
    expect(s.layers.map((l) => l.outputShapes)).toEqual([
      [['batch', 8, 10, 10]], [['batch', 8, 10, 10]], [['batch', 8, 10, 10]], [['batch', 8, 5, 5]],
      [['batch', 16, 3, 3]], [['batch', 16, 3, 3]], [['batch', 16, 1, 1]], [['batch', 16]], [['batch', 16]], [['batch', 5]],
    ]);
    expect(s.layers.map((l) => l.params)).toEqual([
      8 * 3 * 3 * 3 + 8, // 224
      8 + 8, // γ, β
      0, 0,
      16 * (8 / 2) * 3 * 3, // 576, groups 2, no bias
      0, 0, 0, 0,
      16 * 5 + 5, // 85
    ]);
    expect(s.layers[0]!.trainableParams).toBe(216);
    // FLOPs at batch = 2 (multiply-add = 2):
    const flops = [
      2 * 8 * 10 * 10 * (2 * 3 * 9) + 2 * 8 * 10 * 10, // conv1: 1600 outputs × 2·Cin·k² + bias = 86400 + 1600 = 88000
      1600 * (2 + 1 + 1), // BatchNorm (eval, running stats): normalize 2 + scale + shift = 6400
      1600, // ReLU: one max per element
      2 * 8 * 5 * 5 * (2 * 2 - 1), // MaxPool 2×2: 3 comparisons per output = 1200
      2 * 16 * 3 * 3 * (2 * (8 / 2) * 9), // conv2: 288 outputs × 2·(Cin/groups)·k² = 20736
      288, // Tanh
      2 * 16 * (3 * 3), // adaptive average to 1×1: a 3×3 window per plane (8 adds + 1 divide) = 288
      0, 0, // Flatten, Dropout (eval)
      2 * 2 * 16 * 5 + 2 * 5, // Linear: 2·N·in·out + bias = 320 + 10 = 330
    ];
    expect(s.layers.map((l) => l.flops)).toEqual(flops);
    expect(s.totals).toEqual({
      params: 224 + 16 + 576 + 85, // 901
      trainableParams: 901 - 8,
      nonTrainableParams: 8,
      paramBytes: 901 * 4,
      flops: 118842, // 88000 + 6400 + 1600 + 1200 + 20736 + 288 + 288 + 330
      unknownFlopsLayers: 0,
    });
    // The table: every line between the rules has the same width (aligned columns).
    const text = s.toString();
    const lines = text.split('\n');
    const rule = lines.findIndex((l) => l.startsWith('---'));
    const table = lines.slice(rule - 1, rule + 1 + 10).filter((l) => !l.startsWith('---'));
    expect(new Set(table.map((l) => l.length)).size).toBe(1);
    expect(lines[rule + 1]).toMatch(/^0 \(Conv2d\) +\[batch, 8, 10, 10\] +224 +88,000$/);
    expect(text).toContain('Input: float32[batch, 3, 10, 10] (run at batch = 2)');
    expect(text).toContain('Total params: 901 (3.52 KiB)');
    expect(text).toContain('Non-trainable params: 8');
    expect(text).toContain('FLOPs: 118,842 at batch = 2 (multiply-add = 2)');
    // No side effects: no hooks left, training flags and running statistics untouched.
    expect([...model.modules()].every((m) => !nn.hasHooks(m) && m.training)).toBe(true);
    expect((model.at(1) as kiln.nn.BatchNorm2d).runningMean!.toArray()).toEqual(runningMean);
  });

  it('symbolic dims as a·s + c and as products; unknown layers are unknown, not 0; shared layers count once', () => {
    class Scale extends nn.Module {
      s = nn.parameter(kiln.ones([1]));
      forward(x: kiln.Tensor): kiln.Tensor {
        return x.mul(this.s);
      }
    }
    class Net extends nn.Module {
      conv = new nn.Conv1d(2, 4, 1, { padding: 1 }); // length seq → seq + 2
      flat = new nn.Flatten(0, 1); // [batch, 4, seq+2] → [4·batch, seq+2]
      shared = new nn.Linear(3, 3);
      scale = new Scale();
      forward(x: kiln.Tensor, y: kiln.Tensor): kiln.Tensor {
        const a = this.flat.forward(this.conv.forward(x));
        return this.scale.forward(this.shared.forward(this.shared.forward(y))).sum().add(a.sum());
      }
    }
    const net = new Net();
    const s = kiln.summary(net, [kiln.spec([kiln.dim('batch'), 2, kiln.dim('seq')]), kiln.spec([kiln.dim('batch'), kiln.dim('seq'), 3])]);
    expect(s.sizes).toEqual({ batch: 1, seq: 1 });
    expect(s.layers.map((l) => [l.name, l.outputShapes[0]])).toEqual([
      ['conv', ['batch', 4, 'seq+2']],
      ['flat', ['4*batch', 'seq+2']],
      ['shared', ['batch', 'seq', 3]],
      ['shared', ['batch', 'seq', 3]],
      ['scale', ['batch', 'seq', 3]],
    ]);
    expect(s.layers.map((l) => l.repeated)).toEqual([false, false, false, true, false]);
    expect(s.layers[4]!.flops).toBeNull();
    expect(s.totals.unknownFlopsLayers).toBe(1);
    // Conv1d at batch = seq = 1: 4 × 3 outputs × 2·2·1 + bias 12 = 60; Linear twice: 2·(2·3·3 + 3) = 42.
    expect(s.totals.flops).toBe(60 + 42);
    expect(s.totals.params).toBe(4 * 2 + 4 + 3 * 3 + 3 + 1); // shared Linear once
    const text = s.toString();
    expect(text).toMatch(/shared \(Linear\) .* \(shared\) +21\n/);
    expect(text).toMatch(/scale \(Scale\) .* 1 +\?\n/);
    expect(text).toContain('+ unknown (1 layer marked ?)');
  });

  it('runs eagerly on zeros when the model reads values, and recurrent and attention layers have FLOPs', () => {
    class Gate extends nn.Module {
      forward(x: kiln.Tensor): kiln.Tensor {
        return x.sum().item() >= 0 ? x.relu() : x; // a value read: no shape-only trace
      }
    }
    const model = new nn.Sequential(new nn.Linear(4, 6), new Gate());
    const s = kiln.summary(model, kiln.spec([kiln.dim('n'), 4]));
    expect(s.mode).toBe('eager');
    expect(s.layers.map((l) => l.outputShapes[0])).toEqual([['n', 6], ['n', 6]]);

    const lstm = new nn.LSTM(3, 5, { batchFirst: true, numLayers: 2 });
    const r = kiln.summary(lstm, kiln.spec([kiln.dim('batch'), kiln.dim('seq'), 3]), { sizes: { batch: 2, seq: 7 } });
    expect(r.layers[0]!.outputShapes).toEqual([['batch', 'seq', 5], [2, 'batch', 5], [2, 'batch', 5]]);
    // Per step and sample: layer 0 2·(3+5)·4·5 + biases 2·20 + gates 18·5 = 450; layer 1 2·(5+5)·20 + 40 + 90 = 530.
    expect(r.layers[0]!.flops).toBe(2 * 7 * (450 + 530));
    expect(r.totals.params).toBe(4 * 5 * (3 + 5 + 2) + 4 * 5 * (5 + 5 + 2));

    const mha = new nn.MultiheadAttention(8, 2, { batchFirst: true });
    const m = kiln.summary(mha, [0, 1, 2].map(() => kiln.spec([1, 3, 8])));
    // q, k, v projections 3·(2·3·64 + 24), q/√d 24, scores 2·3·3·8, softmax 5·2·3·3, weights·v 2·3·3·8, out 2·3·64 + 24.
    expect(m.layers[0]!.flops).toBe(3 * (384 + 24) + 24 + 144 + 90 + 144 + 408);
  });
});

describe('kiln.diagnostics.gradientNorms', () => {
  it('per-layer L2 norms equal the norms of the .grad tensors; flags exploding, vanishing and missing', () => {
    class Net extends nn.Module {
      fc1 = new nn.Linear(3, 4);
      act = new nn.ReLU();
      fc2 = new nn.Linear(4, 2);
      unused = new nn.Linear(2, 2);
      forward(x: kiln.Tensor): kiln.Tensor {
        return this.fc2.forward(this.act.forward(this.fc1.forward(x)));
      }
    }
    const net = new Net();
    const x = kiln.randn([8, 3], { seed: 21 });
    net.forward(x).square().mean().backward();
    const norm = (...ts: kiln.Tensor[]) => Math.sqrt(ts.reduce((s, t) => s + t.square().sum().item(), 0));
    const g = kiln.diagnostics.gradientNorms(net);
    expect([...g.norms.keys()]).toEqual(['fc1', 'fc2']);
    expect(g.norms.get('fc1')).toBeCloseTo(norm(net.fc1.weight.grad!, net.fc1.bias!.grad!), 5);
    expect(g.norms.get('fc2')).toBeCloseTo(norm(net.fc2.weight.grad!, net.fc2.bias!.grad!), 5);
    expect(g.total).toBeCloseTo(Math.hypot(g.norms.get('fc1')!, g.norms.get('fc2')!), 6);
    expect(g.missing).toEqual(['unused.weight', 'unused.bias']);
    expect(g.exploding).toEqual([]);
    const byParam = kiln.diagnostics.gradientNorms(net, { by: 'parameter' });
    expect(byParam.norms.get('fc2.bias')).toBeCloseTo(norm(net.fc2.bias!.grad!), 5);

    // Kill every ReLU unit (fc1 outputs < 0 for all samples): fc1 gets zero gradients → vanishing.
    net.zeroGrad();
    kiln.noGrad(() => net.fc1.bias!.copy_(kiln.full([4], -100)));
    net.forward(x).square().mean().mul(1e8).backward();
    const dead = kiln.diagnostics.gradientNorms(net, { exploding: 1e4 });
    expect(dead.norms.get('fc1')).toBe(0);
    expect(dead.vanishing).toEqual(['fc1']);
    expect(dead.exploding).toEqual(['fc2']); // the loss scaled by 1e8
    expect(dead.toString()).toMatch(/fc1 +0\.000e\+0 +vanishing\nfc2 +\S+ +exploding\ntotal/);
  });
});

describe('kiln.diagnostics.activationStats', () => {
  it('dead ReLU units and zeros, computed by hand', () => {
    const fc = new nn.Linear(2, 3, { bias: false });
    kiln.noGrad(() => fc.weight.copy_(kiln.tensor([[1, 0], [0, 1], [-1, -1]])));
    const model = new nn.Sequential(fc, new nn.ReLU());
    // fc(x) = [x0, x1, −x0−x1]: for x = [[1, 2], [3, −1]] → [[1, 2, −3], [3, −1, −2]];
    // ReLU → [[1, 2, 0], [3, 0, 0]]: unit 2 never positive (dead), unit 1 positive once.
    const r = kiln.diagnostics.activationStats(model, kiln.tensor([[1, 2], [3, -1]]));
    expect(r.layers.length).toBe(1);
    const s = r.layers[0]!;
    expect([s.name, s.type, s.call, s.units]).toEqual(['1', 'ReLU', 1, 3]);
    expect(s.deadFraction).toBeCloseTo(1 / 3, 12);
    expect(s.zeroFraction).toBeCloseTo(3 / 6, 12);
    expect(s.mean).toBeCloseTo(1, 6); // (1+2+3)/6
    expect(s.std).toBeCloseTo(Math.sqrt((0 + 1 + 1 + 4 + 1 + 1) / 6), 6);
    expect(s.saturatedFraction).toBeUndefined();
    expect(nn.hasHooks(model.at(1))).toBe(false);
  });

  it('saturated sigmoid and tanh outputs, and each call of a shared module', () => {
    class Net extends nn.Module {
      sig = new nn.Sigmoid();
      tanh = new nn.Tanh();
      forward(x: kiln.Tensor): kiln.Tensor {
        return this.tanh.forward(this.tanh.forward(x.mul(3)).mul(3)).add(this.sig.forward(x.mul(10)));
      }
    }
    // x = [[1, 0], [−1, 0.45]]:
    //   sigmoid(10x) = σ(10) 0.99995, σ(0) 0.5, σ(−10) 0.00005, σ(4.5) 0.98901 → 2 of 4 within 0.01 of 0 or 1;
    //   tanh(3x) = 0.99505, 0, −0.99505, tanh(1.35) 0.87405 → 2 of 4 above 0.99 in magnitude;
    //   tanh(3·that) = tanh(2.985) 0.99487, 0, −0.99487, tanh(2.622) 0.98948 → 2 of 4.
    const r = kiln.diagnostics.activationStats(new Net(), kiln.tensor([[1, 0], [-1, 0.45]]));
    expect(r.layers.map((l) => `${l.name}#${l.call}`)).toEqual(['tanh#1', 'tanh#2', 'sig#1']);
    expect(r.layers.map((l) => l.saturatedFraction)).toEqual([0.5, 0.5, 0.5]);
    const strict = kiln.diagnostics.activationStats(new Net(), kiln.tensor([[1, 0], [-1, 0.45]]), { eps: 0.005 });
    // Within 0.005: σ(10), σ(−10) yes; tanh(3) 0.99505 yes; tanh(2.985) 0.99487 no.
    expect(strict.layers.map((l) => l.saturatedFraction)).toEqual([0.5, 0, 0.5]);
    expect(r.toString()).toMatch(/tanh #2 \(Tanh\)/);
  });
});
