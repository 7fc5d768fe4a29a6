/**
 * High-level ops (linear, batchNorm, batchNormTraining, layerNorm) and the decomposition
 * mechanism: each op's kernel against its decomposition, the fallback that runs the
 * decomposition where a backend has no kernel (eager, compiled, interpreted), gradients
 * (closed forms and second order through the decompositions, float64 gradcheck), NaN
 * propagation, and the graphs the layers trace to. PyTorch goldens are in
 * test/golden/cases/highlevel.py (run by ops.golden.test.ts).
 *
 * Tolerances: float32 kernel vs decomposition 2e-5·max(1, |value|) (different summation
 * orders of the same float64/float32 arithmetic); compiled vs eager exact where the same
 * kernels run; gradcheck in float64 with its defaults (atol 1e-5, rtol 1e-3).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import { applyOp } from '../src/eager/dispatch.js';
import { interpretEager } from '../src/compiled/index.js';
import { getOp, type Attrs } from '../src/ir/index.js';
import type { Kernel } from '../src/runtime/backend.js';

const { nn } = kiln;
const BACKENDS = ['reference', 'wasm'] as const;
/**
 * Compile options that keep the traced graph as it is (no passes), so the tests see what
 * the layers emit. Parsed, not written as a literal: the option's type lands with the pass
 * manager, and older CompileOptions would reject the property.
 */
const O0: Partial<kiln.CompileOptions> = JSON.parse('{"optimize":"O0"}') as Partial<kiln.CompileOptions>;

beforeAll(async () => {
  await kiln.init();
});

function maxRelDiff(a: kiln.Tensor, b: kiln.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync(), y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!) / Math.max(1, Math.abs(y[i]!));
    m = Number.isNaN(x[i]!) && Number.isNaN(y[i]!) ? m : Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}

function decompose(op: string, inputs: kiln.Tensor[], attrs: Attrs): kiln.Tensor[] {
  return getOp(op)!.decompose!(inputs as never, attrs) as kiln.Tensor[];
}

/** Runs `fn` with `op`'s kernel removed from `backend` (so its decomposition runs). */
function withoutKernel<R>(backend: kiln.BackendName, op: string, fn: () => R): R {
  const b = engine.backends.get(backend)!;
  const k = b.kernels.get(op) as Kernel | undefined;
  b.kernels.delete(op);
  try {
    return fn();
  } finally {
    if (k) b.kernels.set(op, k);
  }
}

/** Inputs of each op for the kernel/decomposition comparisons. */
function cases(backend: kiln.BackendName): { op: string; inputs: kiln.Tensor[]; attrs: Attrs }[] {
  const r = (shape: number[], seed: number, scale = 1, shift = 0) => kiln.randn(shape, { seed, backend }).mul(scale).add(shift);
  const x4 = r([3, 4, 5, 6], 1, 2, 0.5), c = 4;
  const [, mean, variance] = applyOp('batchNormTraining', [x4], { eps: 1e-5 });
  return [
    { op: 'linear', inputs: [r([7, 9], 2), r([5, 9], 3), r([5], 4)], attrs: {} },
    { op: 'linear', inputs: [r([2, 3, 9], 5), r([6, 9], 6)], attrs: {} },
    { op: 'batchNorm', inputs: [x4, r([c], 7), kiln.rand([c], { seed: 8, backend }).add(0.5), r([c], 9), r([c], 10)], attrs: { eps: 1e-5 } },
    { op: 'batchNorm', inputs: [r([6, c], 11), r([c], 12), kiln.rand([c], { seed: 13, backend }).add(0.5)], attrs: { eps: 0.1 } },
    { op: 'batchNormTraining', inputs: [x4, r([c], 14), r([c], 15)], attrs: { eps: 1e-5 } },
    { op: 'batchNormTraining', inputs: [r([8, c, 3], 16, 1, 1e4)], attrs: { eps: 1e-5 } },
    { op: 'batchNormTrainingGrad', inputs: [x4, r([3, 4, 5, 6], 17), mean!, variance!, r([c], 18), r([c], 19), r([c], 20)], attrs: { eps: 1e-5 } },
    { op: 'layerNorm', inputs: [r([4, 3, 8], 21, 3, 2), r([3, 8], 22), r([3, 8], 23)], attrs: { axis: 1, eps: 1e-5 } },
    { op: 'layerNorm', inputs: [r([5, 16], 24, 1, 1e4)], attrs: { axis: 1, eps: 1e-5 } },
    { op: 'layerNormGrad', inputs: [r([4, 3, 8], 25), r([4, 3, 8], 26), r([8], 27)], attrs: { axis: 2, eps: 1e-5 } },
  ];
}

describe('kernel and decomposition agree', () => {
  for (const backend of BACKENDS) {
    it(`on ${backend}, for every high-level op and its backward op (2e-5 relative)`, () => {
      kiln.scope(() => {
        for (const { op, inputs, attrs } of cases(backend)) {
          const byKernel = applyOp(op, inputs, attrs);
          const byParts = decompose(op, inputs, attrs);
          byKernel.forEach((t, i) => expect(maxRelDiff(t, byParts[i]!), `${op} output ${i}`).toBeLessThan(2e-5));
        }
      });
    });
  }

  it('large offsets: batch statistics of 1e7 + [1, 2, 3, 4] are exact (variance 1.25)', () => {
    for (const backend of BACKENDS) {
      const x = kiln.tensor([1e7 + 1, 1e7 + 2, 1e7 + 3, 1e7 + 4], { backend }).reshape([4, 1]);
      const [y, mean, variance] = applyOp('batchNormTraining', [x], { eps: 0 });
      expect(variance!.toArray()).toEqual([1.25]);
      expect(Math.abs(mean!.item() - (1e7 + 2.5))).toBeLessThanOrEqual(0.5); // float32: half an ulp
      expect(maxRelDiff(y!, kiln.tensor([-1.5, -0.5, 0.5, 1.5], { backend }).div(Math.sqrt(1.25)).reshape([4, 1]))).toBeLessThan(1e-6);
    }
  });
});

describe('kiln.batchNorm', () => {
  it('training updates the running statistics in place as F.batch_norm does (momentum, unbiased variance); eval uses them', () => {
    for (const backend of BACKENDS) {
      const x = kiln.tensor([[1, 10], [3, 20], [8, 60]], { backend });
      const mean = kiln.tensor([1, 1], { backend }), variance = kiln.tensor([2, 2], { backend });
      kiln.batchNorm(x, mean, variance, { training: true, momentum: 0.5 });
      // batch means 4, 30; unbiased variances 13, 700
      expect(maxRelDiff(mean, kiln.tensor([2.5, 15.5], { backend }))).toBeLessThan(1e-6);
      expect(maxRelDiff(variance, kiln.tensor([7.5, 351], { backend }))).toBeLessThan(1e-6);
      const y = kiln.batchNorm(x, mean, variance, { eps: 0 });
      expect(maxRelDiff(y, x.sub(kiln.tensor([2.5, 15.5], { backend })).div(kiln.tensor([7.5, 351], { backend }).sqrt()))).toBeLessThan(1e-6);
      expect(() => kiln.batchNorm(x, null, null)).toThrow(/running statistics are needed/);
      expect(() => kiln.batchNorm(x.slice([0], [1]), null, null, { training: true })).toThrow(/more than 1 value per channel/);
    }
  });
});

describe('an op without a kernel runs its decomposition', () => {
  it('wasm runs rnn, lstm and gru (one sequence kernel each), batchNorm, batchNormTraining(+Grad), layerNorm(+Grad) and linear on its own kernels', () => {
    const wasm = engine.backends.get('wasm')!;
    for (const op of ['rnn', 'lstm', 'gru']) expect(wasm.kernels.has(op), op).toBe(true);
    // Generated SIMD normalization kernels (wasm/kernels/normalization.ts; test/wasmNormKernels.test.ts).
    for (const op of ['batchNorm', 'batchNormTraining', 'batchNormTrainingGrad', 'layerNorm', 'layerNormGrad', 'linear']) expect(wasm.kernels.has(op), op).toBe(true);
  });

  // layerNorm on wasm below (no kernel there); withoutKernel keeps these tests meaningful
  // should wasm gain one.
  const model = () => {
    const m = new nn.Sequential(new nn.Linear(6, 8), new nn.LayerNorm(8), new nn.ReLU(), new nn.Linear(8, 3));
    return m;
  };

  it('eagerly: same values and gradients (the closed-form gradient is kept)', () => {
    const m = model();
    const x = kiln.randn([5, 6], { seed: 3 });
    const ref = m.forward(x);
    ref.sum().backward();
    const gRef = m.parameters().map((p) => p.grad!.clone());
    m.zeroGrad();
    withoutKernel('wasm', 'layerNorm', () => {
      const y = m.forward(x);
      expect(maxRelDiff(y, ref)).toBeLessThan(2e-5);
      y.sum().backward();
      m.parameters().forEach((p, i) => expect(maxRelDiff(p.grad!, gRef[i]!), `parameter ${i}`).toBeLessThan(1e-4));
      const noTape = kiln.noGrad(() => kiln.layerNorm(kiln.randn([2, 8]), 8));
      expect(noTape.gradFn).toBeNull();
      const onTape = kiln.layerNorm(kiln.randn([2, 8]).requiresGrad_(), 8);
      expect(onTape.gradFn!.def.name).toBe('layerNorm');
    });
  });

  it('compiled: the plan runs the decomposition kernel; graph and interpreter agree', () => {
    const m = model().eval();
    const x = kiln.randn([4, 6], { seed: 4 });
    const eager = kiln.noGrad(() => m.forward(x));
    withoutKernel('wasm', 'layerNorm', () => {
      const fast = kiln.compile(m, { ...O0, inputs: [kiln.spec([kiln.dim('batch'), 6])] });
      const y = fast.run(x) as kiln.Tensor;
      expect(fast.graph.nodes.map((n) => n.op)).toEqual(['linear', 'layerNorm', 'relu', 'linear']);
      expect(maxRelDiff(y, eager)).toBeLessThan(2e-5);
      const [yi] = kiln.noGrad(() => interpretEager(fast.graph, [x]));
      expect(maxRelDiff(yi!, y)).toBe(0);
      const y7 = fast.run(kiln.randn([7, 6], { seed: 5 })) as kiln.Tensor;
      expect(y7.shape).toEqual([7, 3]);
      fast.dispose();
    });
  });

  it('constant folding folds such an op through its decomposition (a normalized parameter)', () => {
    const w = kiln.randn([8], { seed: 1 });
    const f = (x: kiln.Tensor) => x.mul(kiln.layerNorm(w.reshape([1, 8]), 8));
    const fast = kiln.compile(f, { inputs: [kiln.spec([kiln.dim('batch'), 8])] }); // default level: folding on
    const x = kiln.randn([3, 8], { seed: 2 });
    expect(maxRelDiff(fast.run(x) as kiln.Tensor, f(x))).toBe(0);
    expect(fast.graph.nodes.map((n) => n.op)).toEqual(['mul']);
    fast.dispose();
  });

  it('the decomposition kernel frees everything but its outputs', () => {
    withoutKernel('wasm', 'layerNorm', () => {
      const x = kiln.randn([3, 8]);
      kiln.noGrad(() => kiln.layerNorm(x, 8)).dispose(); // warm up (caches)
      const before = kiln.memory();
      kiln.noGrad(() => kiln.layerNorm(x, 8)).dispose();
      const after = kiln.memory();
      expect(after.liveTensors).toBe(before.liveTensors);
      expect(after.liveBytes).toEqual(before.liveBytes);
    });
  });
});

describe('gradients', () => {
  const f64 = (shape: number[], seed: number, scale = 1, shift = 0) => kiln.randn(shape, { seed, backend: 'reference', dtype: 'float64' }).mul(scale).add(shift);

  it('closed forms match finite differences (float64), the running statistics and the mean/variance outputs included', () => {
    const x = f64([4, 3, 2], 1, 2), w = f64([3], 2), b = f64([3], 3), m = f64([3], 4), v = f64([3], 5).abs().add(0.5);
    const wy = f64([4, 3, 2], 6), wm = f64([3], 7), wv = f64([3], 8);
    const checks: [string, (...xs: kiln.Tensor[]) => kiln.Tensor, kiln.Tensor[]][] = [
      ['batchNorm', (x, m, v, w, b) => applyOp('batchNorm', [x!, m!, v!, w!, b!], { eps: 1e-3 })[0]!.mul(wy).sum(), [x, m, v, w, b]],
      ['batchNormTraining (y, mean, var)', (x, w, b) => {
        const [y, mean, variance] = applyOp('batchNormTraining', [x!, w!, b!], { eps: 1e-3 });
        return y!.mul(wy).sum().add(mean!.mul(wm).sum()).add(variance!.mul(wv).sum());
      }, [x, w, b]],
      ['layerNorm', (x, w, b) => applyOp('layerNorm', [x!, w!, b!], { axis: 2, eps: 1e-3 })[0]!.mul(wy).sum(), [x, f64([2], 9), f64([2], 10)]],
      ['linear', (x, w, b) => applyOp('linear', [x!, w!, b!], {})[0]!.mul(f64([4, 3, 5], 11)).sum(), [x, f64([5, 2], 12), f64([5], 13)]],
    ];
    for (const [name, f, inputs] of checks) expect(kiln.testing.gradcheck(f, inputs, { raise: false }).mismatches, name).toEqual([]);
  });

  it('second derivatives through the backward ops (their gradients go through their decompositions)', () => {
    const x = f64([3, 2, 4], 1, 2, 1), w = f64([2], 2), wy = f64([3, 2, 4], 3), wg = f64([3, 2, 4], 4);
    const viaGrad = (op: 'batchNormTraining' | 'layerNorm') => (x: kiln.Tensor, w: kiln.Tensor) => {
      const attrs: Attrs = op === 'layerNorm' ? { axis: 1, eps: 1e-3 } : { eps: 1e-3 };
      const wOf = op === 'layerNorm' ? w.reshape([2, 1]).expand([2, 4]) : w;
      const [dx, dw] = kiln.grad((x: kiln.Tensor, w: kiln.Tensor) => applyOp(op, [x, w], attrs)[0]!.mul(wy).sum())(x, wOf);
      return dx!.mul(wg).sum().add(dw!.square().sum());
    };
    for (const op of ['batchNormTraining', 'layerNorm'] as const) {
      expect(kiln.testing.gradcheck(viaGrad(op), [x, w], { raise: false }).mismatches, op).toEqual([]);
    }
  });
});

describe('NaN propagates', () => {
  for (const backend of BACKENDS) {
    it(`on ${backend}`, () => {
      kiln.scope(() => {
        const x = kiln.randn([4, 3], { seed: 1, backend });
        const nanAt = x.mul(kiln.tensor([[1, 1, 1], [1, NaN, 1], [1, 1, 1], [1, 1, 1]], { backend }));
        const nanRows = (t: kiln.Tensor) => (t.toArray() as number[][]).map((r) => r.map(Number.isNaN));
        // linear: the NaN row only
        const lin = kiln.linear(nanAt, kiln.randn([5, 3], { seed: 2, backend }), kiln.randn([5], { seed: 3, backend }));
        expect(nanRows(lin)).toEqual([0, 1, 2, 3].map((r) => new Array(5).fill(r === 1)));
        // layerNorm: the NaN row only
        expect(nanRows(kiln.layerNorm(nanAt, 3))).toEqual([0, 1, 2, 3].map((r) => new Array(3).fill(r === 1)));
        // batchNorm, training: the NaN channel in every sample (its statistics are NaN)
        expect(nanRows(kiln.batchNorm(nanAt, null, null, { training: true }))).toEqual([0, 1, 2, 3].map(() => [false, true, false]));
        // batchNorm, inference: the NaN element only; a NaN statistic: its channel
        const rm = kiln.tensor([0, 0, NaN], { backend }), rv = kiln.ones([3], { backend });
        expect(nanRows(kiln.batchNorm(nanAt, rm, rv))).toEqual([0, 1, 2, 3].map((r) => [false, r === 1, true]));
      });
    });
  }
});

describe('layers trace to one node each', () => {
  it('Conv→BatchNorm2d→ReLU in eval compiles to conv2d, batchNorm, relu (12 nodes before these ops), equal to eager', () => {
    const m = new nn.Sequential(new nn.Conv2d(3, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU());
    m.train();
    kiln.noGrad(() => m.forward(kiln.randn([4, 3, 6, 6], { seed: 1 }).mul(2).add(1))); // non-trivial running statistics
    m.eval();
    const fast = kiln.compile(m, { ...O0, inputs: [kiln.spec([kiln.dim('batch'), 3, 6, 6])] });
    const x = kiln.randn([2, 3, 6, 6], { seed: 2 });
    const y = fast.run(x) as kiln.Tensor;
    expect(fast.graph.nodes.map((n) => n.op)).toEqual(['conv2d', 'batchNorm', 'relu']);
    expect(maxRelDiff(y, kiln.noGrad(() => m.forward(x)))).toBe(0);
    fast.dispose();
  });

  it('an MLP compiles to linear, relu, linear (7 nodes before: transposes, matmuls, adds)', () => {
    const m = new nn.Sequential(new nn.Linear(12, 16), new nn.ReLU(), new nn.Linear(16, 3)).eval();
    const fast = kiln.compile(m, { ...O0, inputs: [kiln.spec([kiln.dim('batch'), 12])] });
    const x = kiln.randn([5, 12], { seed: 3 });
    const y = fast.run(x) as kiln.Tensor;
    expect(fast.graph.nodes.map((n) => n.op)).toEqual(['linear', 'relu', 'linear']);
    expect(maxRelDiff(y, kiln.noGrad(() => m.forward(x)))).toBe(0);
    fast.dispose();
  });

  it('BatchNorm in compiled training: one batchNormTraining node, running statistics as eager', () => {
    const make = () => {
      kiln.manualSeed(7);
      return new nn.Sequential(new nn.Linear(4, 3), new nn.BatchNorm1d(3));
    };
    const eagerModel = make(), compiledModel = make();
    const fast = kiln.compile(compiledModel, { ...O0, inputs: [kiln.spec([kiln.dim('batch'), 4])], mode: 'training' });
    for (const b of [6, 9, 6]) {
      const x = kiln.randn([b, 4], { seed: b });
      const ye = eagerModel.forward(x), yc = fast.run(x) as kiln.Tensor;
      expect(maxRelDiff(yc, ye)).toBeLessThan(1e-6);
    }
    expect(fast.graph.nodes.map((n) => n.op)).toContain('batchNormTraining');
    const bnE = eagerModel.at(1) as kiln.nn.BatchNorm1d, bnC = compiledModel.at(1) as kiln.nn.BatchNorm1d;
    expect(maxRelDiff(bnC.runningMean!, bnE.runningMean!)).toBeLessThan(1e-6);
    expect(maxRelDiff(bnC.runningVar!, bnE.runningVar!)).toBeLessThan(1e-6);
    expect(bnC.numBatchesTracked!.item()).toBe(3);
    fast.dispose();
  });
});

describe('linear on wasm keeps Wᵀ per weight version', () => {
  it('sees in-place updates of the weight and the bias, and other weights, as the reference kernel does', () => {
    const w = kiln.randn([70, 24], { seed: 1 }), b = kiln.randn([70], { seed: 2 });
    const check = (x: kiln.Tensor, w: kiln.Tensor, b: kiln.Tensor | null) => {
      const ref = kiln.linear(x.to('reference'), w.to('reference'), b?.to('reference'));
      expect(maxRelDiff(kiln.linear(x, w, b), ref)).toBeLessThan(2e-6);
    };
    for (const rows of [1, 1, 5, 40]) check(kiln.randn([rows, 24], { seed: rows }), w, b);
    kiln.noGrad(() => w.mul_(-2));
    check(kiln.randn([3, 24], { seed: 9 }), w, b);
    kiln.noGrad(() => b.add_(5));
    check(kiln.randn([3, 24], { seed: 10 }), w, b);
    check(kiln.randn([3, 24], { seed: 10 }), w, null);
    check(kiln.randn([2, 24], { seed: 11 }), kiln.randn([70, 24], { seed: 12 }), b);
  });
});

describe('whole-sequence recurrent ops', () => {
  /** Inputs of `op` on `backend`: x, states, flat weights (seeded: the same numbers on every backend). */
  function recurrentInputs(op: 'rnn' | 'lstm' | 'gru', backend: kiln.BackendName, o: { layers?: number; bidirectional?: boolean; batchFirst?: boolean; steps?: number }) {
    const gates = op === 'lstm' ? 4 : op === 'gru' ? 3 : 1, H = 4, I = 3, B = 3, T = o.steps ?? 5;
    const L = o.layers ?? 1, D = o.bidirectional ? 2 : 1;
    let seed = 100;
    const r = (shape: number[]) => kiln.randn(shape, { seed: seed++, backend }).mul(0.6);
    const x = r(o.batchFirst ? [B, T, I] : [T, B, I]);
    const states = op === 'lstm' ? [r([L * D, B, H]), r([L * D, B, H])] : [r([L * D, B, H])];
    const w: kiln.Tensor[] = [];
    for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) w.push(r([gates * H, l === 0 ? I : D * H]), r([gates * H, H]), r([gates * H]), r([gates * H]));
    return { x, states, w };
  }
  const call = (op: 'rnn' | 'lstm' | 'gru', x: kiln.Tensor, states: kiln.Tensor[], w: kiln.Tensor[], opts: kiln.RecurrentFunctionOptions): kiln.Tensor[] =>
    op === 'lstm' ? kiln.lstm(x, [states[0]!, states[1]!], w, opts) : op === 'gru' ? kiln.gru(x, states[0]!, w, opts) : kiln.rnn(x, states[0]!, w, opts);

  it('the reference kernel, its decomposition and the wasm decomposition agree (layers, directions, batch-first, lengths with 0, NaN)', () => {
    const variants: { numLayers?: number; bidirectional?: boolean; batchFirst?: boolean; lengths?: number[] }[] = [
      {}, { numLayers: 2, bidirectional: true }, { batchFirst: true, lengths: [5, 0, 2] }, { bidirectional: true, lengths: [1, 5, 3] },
    ];
    for (const op of ['rnn', 'lstm', 'gru'] as const) {
      for (const v of variants) {
        kiln.scope(() => {
          const o = { layers: v.numLayers ?? 1, bidirectional: v.bidirectional ?? false, batchFirst: v.batchFirst ?? false };
          const ref = recurrentInputs(op, 'reference', o), wasm = recurrentInputs(op, 'wasm', o);
          // A NaN at one step of sequence 2 (time-major [1, 2, 0]; batch-first [2, 1, 0]).
          const nanAt = (x: kiln.Tensor) => {
            const m = x.onesLike().dataSync();
            m[o.batchFirst ? (2 * 5 + 1) * 3 : (1 * 3 + 2) * 3] = NaN;
            return x.mul(kiln.tensor(m, { shape: x.shape, backend: x.backend.name }));
          };
          const byKernel = call(op, nanAt(ref.x), ref.states, ref.w, v);
          const byParts = decompose(op, [nanAt(ref.x), ...ref.states, ...ref.w, ...(v.lengths ? [kiln.tensor(v.lengths, { dtype: 'int32', backend: 'reference' })] : [])],
            { hiddenSize: 4, numLayers: o.layers, bidirectional: o.bidirectional, batchFirst: o.batchFirst, hasBiases: true, ...(op === 'rnn' ? { nonlinearity: 'tanh' } : {}) });
          const onWasm = call(op, nanAt(wasm.x), wasm.states, wasm.w, v);
          byKernel.forEach((t, i) => {
            expect(maxRelDiff(byParts[i]!, t), `${op} ${JSON.stringify(v)} output ${i}: decomposition`).toBeLessThan(2e-6);
            expect(maxRelDiff(onWasm[i]!, t), `${op} ${JSON.stringify(v)} output ${i}: wasm`).toBeLessThan(2e-6);
          });
          expect(Array.from(byKernel[0]!.dataSync()).some(Number.isNaN), 'the NaN propagates').toBe(true);
        });
      }
    }
  });

  it('eager gradients: the steps go on the tape on both backends (lstm sets tapeDecomposition: both have a kernel) and give the same gradients', () => {
    const grads = BACKENDS.map((backend) => {
      const { x, states, w } = recurrentInputs('lstm', backend, {});
      for (const p of [x, ...w]) p.requiresGrad_();
      const [y] = call('lstm', x, states, w, {});
      expect(y!.gradFn!.def.name, backend).not.toBe('lstm');
      y!.square().sum().backward();
      return [x, ...w].map((p) => p.grad!.to('reference'));
    });
    grads[0]!.forEach((g, i) => expect(maxRelDiff(grads[1]![i]!, g), `input ${i}`).toBeLessThan(1e-5));
  });

  it('an LSTM over 16 steps traces to one lstm node (241 nodes before), and a symbolic length stays symbolic', () => {
    const m = new nn.LSTM(8, 16);
    const fast = kiln.compile((x: kiln.Tensor) => m.forward(x)[0], { ...O0, inputs: [kiln.spec([kiln.dim('seq'), kiln.dim('batch'), 8])] });
    for (const [t, b] of [[16, 2], [5, 3], [1, 1]] as const) {
      const x = kiln.randn([t, b, 8], { seed: t });
      const y = fast.run(x) as kiln.Tensor;
      expect(maxRelDiff(y, kiln.noGrad(() => m.forward(x)[0]))).toBeLessThan(1e-6);
    }
    expect(fast.traceCount).toBe(1);
    expect(fast.graph.nodes.filter((n) => n.op !== 'expand').map((n) => n.op)).toEqual(['lstm']);
    expect(fast.graph.toString()).toContain('float32[seq, batch, 8]');
    fast.dispose();
  });

  it('compiled training through a GRU gives eager\'s gradients', () => {
    const make = () => {
      kiln.manualSeed(3);
      return new nn.GRU(3, 4, { numLayers: 2, batchFirst: true });
    };
    const eagerModel = make(), compiledModel = make();
    const loss = (m: kiln.nn.GRU) => (x: kiln.Tensor) => m.forward(x)[0].square().mean();
    const fast = kiln.compile(loss(compiledModel), { ...O0, inputs: [kiln.spec([kiln.dim('batch'), 6, 3])], mode: 'training' });
    const x = kiln.randn([2, 6, 3], { seed: 9 });
    loss(eagerModel)(x).backward();
    (fast.run(x) as kiln.Tensor).backward();
    const pe = eagerModel.parameters(), pc = compiledModel.parameters();
    pe.forEach((p, i) => expect(maxRelDiff(pc[i]!.grad!, p.grad!), `parameter ${i}`).toBeLessThan(1e-5));
    expect(fast.graph.nodes.map((n) => n.op)).toContain('gru');
    fast.dispose();
  });
});
