/**
 * Activation fusion (O2): conv2d / convTranspose2d / linear followed by an activation
 * whose input nothing else reads becomes one node with an `activation` attribute, and the
 * fused kernel gives the unfused graph's bits, NaN and ±Inf included (XNNPACK's clamp
 * would turn NaN into 0; Kiln's relu keeps it).
 *
 * Tolerances: activation fusion itself is exact (the kernels apply the activation's own
 * code to the result they wrote), so O1 vs O2 compare bit for bit. O0 vs O2 on
 * Conv→BN→ReLU differs by BN folding's rounding only: within 1e-5 relative to the
 * output's largest finite magnitude, NaN exactly where O0 has it. Second runs are
 * compared (the first call of a signature returns the tracing result).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { relDiff } from './support/expectClose.js';
import { compile, dim, spec, type CompiledModel } from '../src/compiled/index.js';
import { parseGraph, printGraph, verifyGraph } from '../src/ir/index.js';
import type { OptLevel } from '../src/passes/index.js';
import { identical } from './support/identical.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

/** `x` with NaN, -Inf and +Inf written into a few elements (NaN and -Inf reach the activations). */
function withSpecials(x: kiln.Tensor): kiln.Tensor {
  const d = Float32Array.from(x.dataSync());
  for (let i = 0; i < d.length; i += 29) d[i] = NaN;
  for (let i = 7; i < d.length; i += 41) d[i] = -Infinity;
  for (let i = 13; i < d.length; i += 53) d[i] = Infinity;
  return kiln.tensor(d, { shape: x.shape });
}

type Target = 'wasm' | 'reference';

function compiled(model: kiln.nn.Module, shape: Parameters<typeof spec>[0], x: kiln.Tensor, level: OptLevel, target: Target = 'wasm', mode: 'inference' | 'training' = 'inference'): { fast: CompiledModel; out: kiln.Tensor } {
  const fast = compile(model, { inputs: [spec(shape)], optimize: level, target, mode });
  fast.run(x); // tracing call: eager's result
  return { fast, out: fast.run(x) as kiln.Tensor };
}

const ops = (fast: CompiledModel) => fast.graph.nodes.map((n) => n.op);

function scrambleBatchNorm(bn: kiln.nn.BatchNorm2d, seed: number): void {
  kiln.noGrad(() => {
    const c = bn.runningMean!.shape[0]!;
    bn.runningMean!.copy_(kiln.randn([c], { seed }));
    bn.runningVar!.copy_(kiln.rand([c], { seed: seed + 1 }).add(0.25));
    bn.weight!.copy_(kiln.randn([c], { seed: seed + 2 }));
    bn.bias!.copy_(kiln.randn([c], { seed: seed + 3 }));
  });
}

/** A module applying `f` (activations without a layer class: relu6, hardtanh, softplus). */
class Fn extends nn.Module {
  constructor(private readonly f: (x: kiln.Tensor) => kiln.Tensor) {
    super();
  }
  forward(x: kiln.Tensor): kiln.Tensor {
    return this.f(x);
  }
}
const relu6 = () => new Fn((x) => x.clip(0, 6));

function convBnRelu(inC: number, outC: number): kiln.nn.Sequential {
  const m = new nn.Sequential(new nn.Conv2d(inC, outC, 3, { padding: 1 }), new nn.BatchNorm2d(outC), new nn.ReLU());
  scrambleBatchNorm(m.at(1) as kiln.nn.BatchNorm2d, 5);
  return m.eval();
}

describe('activation fusion: structure', () => {
  it('Conv2d→BatchNorm2d(eval)→ReLU at O2 is one conv2d node carrying activation="relu"', () => {
    kiln.manualSeed(1);
    const model = convBnRelu(3, 5);
    const x = kiln.randn([2, 3, 7, 5], { seed: 1 });
    const { fast } = compiled(model, [dim('batch'), 3, 7, 5], x, 'O2');
    expect(ops(fast)).toEqual(['conv2d']);
    const conv = fast.graph.nodes[0]!;
    expect(conv.attrs['activation']).toBe('relu');
    expect(conv.inputs.length).toBe(3); // BN became the bias
    expect(fast.explain()).toMatch(/activationFusion +2 → 1 nodes/);
    // The attribute prints and parses back.
    const text = printGraph(fast.graph, { constants: 'inline' });
    expect(text).toContain('activation="relu"');
    expect(printGraph(verifyGraph(parseGraph(text)), { constants: 'inline' })).toBe(text);
  });

  it('O1 keeps the relu separate (fusion is O2)', () => {
    kiln.manualSeed(2);
    const { fast } = compiled(convBnRelu(2, 3), [dim('batch'), 2, 5, 5], kiln.randn([1, 2, 5, 5], { seed: 2 }), 'O1');
    expect(ops(fast)).toEqual(['conv2d', 'relu']);
  });

  it('an activation whose input has another use is not fused', () => {
    kiln.manualSeed(3);
    class Skip extends nn.Module {
      fc = new nn.Linear(5, 5);
      forward(x: kiln.Tensor): kiln.Tensor {
        const h = this.fc.forward(x);
        return h.relu().add(h);
      }
    }
    const { fast } = compiled(new Skip().eval(), [dim('batch'), 5], kiln.randn([3, 5], { seed: 3 }), 'O2');
    // relu and add stay out of the linear (elementwise fusion then makes them one node on wasm).
    expect(ops(fast)).toEqual(['linear', 'fusedElementwise']);
    expect(fast.graph.nodes[1]!.attrs['program']).toBe('relu(x0); add(t0, x0)');
    expect(fast.graph.nodes[0]!.attrs['activation']).toBeUndefined();
  });

  it('leakyRelu, relu6 (clip), hardtanh, sigmoid, tanh and elu fuse with their params; softplus does not', () => {
    kiln.manualSeed(4);
    const acts: [kiln.nn.Module, string, Record<string, unknown>][] = [
      [new nn.LeakyReLU(0.2), 'leakyRelu', { activationAlpha: 0.2 }],
      [relu6(), 'clip', { activationMin: 0, activationMax: 6 }],
      [new Fn((x) => x.clip(-2, 3)), 'clip', { activationMin: -2, activationMax: 3 }],
      [new nn.Sigmoid(), 'sigmoid', {}],
      [new nn.Tanh(), 'tanh', {}],
      [new nn.ELU(0.5), 'elu', { activationAlpha: 0.5 }],
    ];
    for (const [act, op, params] of acts) {
      const model = new nn.Sequential(new nn.Linear(4, 6), act).eval();
      const { fast } = compiled(model, [dim('batch'), 4], kiln.randn([2, 4], { seed: 4 }), 'O2');
      expect(ops(fast), op).toEqual(['linear']);
      expect(fast.graph.nodes[0]!.attrs).toMatchObject({ activation: op, ...params });
    }
    const soft = compiled(new nn.Sequential(new nn.Linear(4, 6), new Fn((x) => x.softplus())).eval(), [dim('batch'), 4], kiln.randn([2, 4], { seed: 4 }), 'O2');
    expect(ops(soft.fast)).toEqual(['linear', 'softplus']);
  });

  it('a fused conv is not an anchor for BN folding or bias fusion afterwards (nothing folds past the activation)', () => {
    kiln.manualSeed(5);
    // conv → relu → BN: the BN must stay after the fused relu, not fold into the conv.
    const model = new nn.Sequential(new nn.Conv2d(2, 3, 3), new nn.ReLU(), new nn.BatchNorm2d(3));
    scrambleBatchNorm(model.at(2) as kiln.nn.BatchNorm2d, 9);
    model.eval();
    const x = withSpecials(kiln.randn([2, 2, 6, 6], { seed: 5 }));
    const o0 = compiled(model, [dim('batch'), 2, 6, 6], x, 'O0').out;
    const { fast, out } = compiled(model, [dim('batch'), 2, 6, 6], x, 'O2');
    expect(fast.graph.nodes[0]!.op).toBe('conv2d');
    expect(fast.graph.nodes[0]!.attrs['activation']).toBe('relu');
    expect(ops(fast)).toContain('batchNorm');
    expect(relDiff(out, o0)).toBeLessThan(1e-5);
  });
});

describe('activation fusion: results', () => {
  for (const target of ['wasm', 'reference'] as const) {
    it(`Conv→BN→ReLU on ${target}: O2 = O1 bit for bit and O0 within 1e-5, NaN/±Inf inputs, odd sizes`, () => {
      kiln.manualSeed(6);
      const model = convBnRelu(3, 5);
      for (const x of [kiln.randn([3, 3, 7, 5], { seed: 6 }), withSpecials(kiln.randn([1, 3, 9, 1], { seed: 7 }).mul(1e3))]) {
        const shape: Parameters<typeof spec>[0] = [dim('batch'), 3, x.shape[2]!, x.shape[3]!];
        const o0 = compiled(model, shape, x, 'O0', target).out;
        const o1 = compiled(model, shape, x, 'O1', target).out;
        const { fast, out } = compiled(model, shape, x, 'O2', target);
        expect(ops(fast)).toEqual(['conv2d']);
        expect(identical(out, o1)).toBe(true);
        expect(relDiff(out, o0)).toBeLessThan(1e-5);
        // O3's layout pass keeps the fused activation (NHWC conv): the same bits.
        expect(identical(compiled(model, shape, x, 'O3', target).out, out)).toBe(true);
      }
      // NaN stays NaN through the fused relu (XNNPACK's clamp would give 0).
      const nanIn = kiln.full([1, 3, 4, 4], NaN);
      const y = compiled(model, [dim('batch'), 3, 4, 4], nanIn, 'O2', target).out.dataSync();
      expect(Array.from(y).every(Number.isNaN)).toBe(true);
    });

    it(`linear + each activation on ${target}: O2 = O1 bit for bit, NaN/-Inf/+Inf inputs (NaN stays NaN)`, () => {
      kiln.manualSeed(7);
      const acts = () => [new nn.ReLU(), new nn.LeakyReLU(0.1), relu6(), new Fn((x) => x.clip(null, 0.25)), new nn.Sigmoid(), new nn.Tanh(), new nn.ELU()];
      for (const act of acts()) {
        const model = new nn.Sequential(new nn.Linear(7, 5), act).eval();
        const x = withSpecials(kiln.randn([11, 7], { seed: 8 }).mul(4));
        const o1 = compiled(model, [dim('batch'), 7], x, 'O1', target).out;
        const { fast, out } = compiled(model, [dim('batch'), 7], x, 'O2', target);
        expect(ops(fast)).toEqual(['linear']);
        expect(identical(out, o1), fast.graph.nodes[0]!.attrs['activation'] as string).toBe(true);
        expect(Array.from(out.dataSync()).some(Number.isNaN)).toBe(true);
      }
    });

    it(`convTranspose2d (stride 1 and 2) + relu on ${target}: O2 = O1 bit for bit, NaN inputs`, () => {
      kiln.manualSeed(8);
      for (const stride of [1, 2]) {
        const model = new nn.Sequential(new nn.ConvTranspose2d(3, 4, 3, { stride }), new nn.ReLU()).eval();
        const x = withSpecials(kiln.randn([2, 3, 5, 3], { seed: 9 }));
        const o1 = compiled(model, [dim('batch'), 3, 5, 3], x, 'O1', target).out;
        const { fast, out } = compiled(model, [dim('batch'), 3, 5, 3], x, 'O2', target);
        expect(ops(fast)).toEqual(['convTranspose2d']);
        expect(identical(out, o1)).toBe(true);
      }
    });
  }

  it('a fused linear on float64 inputs (portable kernel) equals the unfused ops', () => {
    const x = kiln.tensor(Float64Array.of(-1, NaN, 2, -Infinity, 0.5, 3), { shape: [3, 2], dtype: 'float64', backend: 'reference' });
    const w = kiln.tensor(Float64Array.of(1, -2, 0.5, 1, -1, 0), { shape: [3, 2], dtype: 'float64', backend: 'reference' });
    const fused = x.applyOp('linear', [w], { activation: 'relu' })[0]!;
    const plain = x.applyOp('linear', [w])[0]!.relu();
    expect(identical(fused, plain)).toBe(true);
  });
});

describe('activation fusion: training mode', () => {
  it('Linear→ReLU→Linear→Tanh at O2 (training): fused nodes, gradients equal eager exactly', () => {
    const make = () => {
      kiln.manualSeed(11);
      return new nn.Sequential(new nn.Linear(6, 8), new nn.ReLU(), new nn.Linear(8, 3), new nn.Tanh());
    };
    const a = make(), b = make();
    const fast = compile(a, { inputs: [spec([dim('batch'), 6])], mode: 'training', optimize: 'O2' });
    for (const n of [4, 7, 4]) {
      const x = withSpecials(kiln.randn([n, 6], { seed: n })).where(kiln.randn([n, 6], { seed: n + 1 }).greater(-1.5), 0.5);
      a.zeroGrad();
      b.zeroGrad();
      const ya = fast.run(x) as kiln.Tensor, yb = b.forward(x) as kiln.Tensor;
      expect(identical(ya, yb)).toBe(true);
      ya.square().mean().backward();
      yb.square().mean().backward();
      a.parameters().forEach((p, i) => expect(identical(p.grad!, b.parameters()[i]!.grad!)).toBe(true));
    }
    expect(ops(fast)).toEqual(['linear', 'linear']);
  });

  it('leakyRelu(0.1), elu and sigmoid fused in training: gradients equal eager exactly', () => {
    const make = () => {
      kiln.manualSeed(21);
      return new nn.Sequential(new nn.Linear(5, 6), new nn.LeakyReLU(0.1), new nn.Linear(6, 6), new nn.ELU(), new nn.Linear(6, 2), new nn.Sigmoid());
    };
    const a = make(), b = make();
    const fast = compile(a, { inputs: [spec([dim('batch'), 5])], mode: 'training', optimize: 'O2' });
    for (const n of [3, 6, 3]) {
      const x = kiln.randn([n, 5], { seed: 30 + n }).mul(3);
      a.zeroGrad();
      b.zeroGrad();
      const ya = fast.run(x) as kiln.Tensor, yb = b.forward(x) as kiln.Tensor;
      expect(identical(ya, yb)).toBe(true);
      ya.square().sum().backward();
      yb.square().sum().backward();
      a.parameters().forEach((p, i) => expect(identical(p.grad!, b.parameters()[i]!.grad!), `parameter ${i}`).toBe(true));
    }
    expect(ops(fast)).toEqual(['linear', 'linear', 'linear']);
  });

  it('training mode does not fuse clip (its gradient needs the input at the bounds); inference does', () => {
    kiln.manualSeed(12);
    const model = new nn.Sequential(new nn.Linear(3, 4), relu6());
    const train = compile(model, { inputs: [spec([dim('batch'), 3])], mode: 'training', optimize: 'O2' });
    train.run(kiln.randn([2, 3]));
    expect(ops(train)).toEqual(['linear', 'clip']);
    // leakyRelu's gradient follows from the output only for alpha ≥ 0 (a negative slope flips the sign test).
    for (const [alpha, fused] of [[0.1, true], [-0.5, false]] as const) {
      const m = new nn.Sequential(new nn.Linear(3, 4), new nn.LeakyReLU(alpha));
      const t = compile(m, { inputs: [spec([dim('batch'), 3])], mode: 'training', optimize: 'O2' });
      t.run(kiln.randn([2, 3]));
      expect(ops(t), `alpha ${alpha}`).toEqual(fused ? ['linear'] : ['linear', 'leakyRelu']);
    }
  });

  it('gradcheck through a fused conv2d + leakyRelu / sigmoid (float64, reference)', () => {
    for (const [op, extra] of [['leakyRelu', { activationAlpha: 0.3 }], ['sigmoid', {}], ['relu', {}]] as const) {
      const x = kiln.randn([1, 2, 4, 3], { seed: 13, dtype: 'float64', backend: 'reference' }).requiresGrad_();
      const w = kiln.randn([3, 2, 2, 2], { seed: 14, dtype: 'float64', backend: 'reference' }).requiresGrad_();
      const attrs = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, activation: op, ...extra };
      expect(kiln.testing.gradcheck((xx: kiln.Tensor, ww: kiln.Tensor) => xx.applyOp('conv2d', [ww], attrs)[0]!, [x, w]).ok, op).toBe(true);
    }
  });

  it('an unknown activation or a missing param is refused by inference', () => {
    const x = kiln.randn([2, 3]), w = kiln.randn([4, 3]);
    expect(() => x.applyOp('linear', [w], { activation: 'softmax' })).toThrow(/unknown fused activation 'softmax'/);
    expect(() => x.applyOp('linear', [w], { activation: 'leakyRelu' })).toThrow(/needs a number attribute 'alpha' \(activationAlpha\)/);
  });
});
