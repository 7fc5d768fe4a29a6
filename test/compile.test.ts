/**
 * kiln.compile: tracing real models (MLP, CNN, LSTM, residual block), symbolic and
 * static dims, guards and the recompile cap, graph breaks (lazy segments), fullGraph,
 * input errors, training mode (tape through the compiled forward, buffers written back).
 *
 * Tolerances: a compiled plan runs the very kernels eager runs, on the same inputs, so
 * compiled and eager results are compared for exact equality (0 difference) unless a
 * test says otherwise; the interpreter, also on eager ops, likewise.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import * as kiln from '../src/index.js';
import { compile, dim, interpretEager, spec } from '../src/compiled/index.js';
import { parseGraph, printGraph, verifyGraph } from '../src/ir/index.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

afterEach(() => {
  vi.restoreAllMocks();
});

const THIS_FILE = fileURLToPath(import.meta.url);

/** Line (1-based) of the first line of this file containing `marker`. */
function lineOf(marker: string): number {
  return readFileSync(THIS_FILE, 'utf8').split('\n').findIndex((l) => l.includes(marker)) + 1;
}

/** max |a − b| (shapes must agree). */
function maxDiff(a: kiln.Tensor, b: kiln.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync(), y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

function eager(model: kiln.nn.Module, ...xs: kiln.Tensor[]): unknown {
  return kiln.noGrad(() => nn.callForward(model, ...xs));
}

function mlp(): kiln.nn.Module {
  return new nn.Sequential(new nn.Linear(12, 32), new nn.ReLU(), new nn.Linear(32, 16), new nn.Tanh(), new nn.Linear(16, 3)).eval();
}

class ResidualBlock extends nn.Module {
  conv1 = new nn.Conv2d(4, 4, 3, { padding: 1 });
  bn1 = new nn.BatchNorm2d(4);
  conv2 = new nn.Conv2d(4, 4, 3, { padding: 1 });
  bn2 = new nn.BatchNorm2d(4);
  forward(x: kiln.Tensor): kiln.Tensor {
    const h = this.bn1.forward(this.conv1.forward(x)).relu();
    return this.bn2.forward(this.conv2.forward(h)).add(x).relu();
  }
}

describe('tracing models', () => {
  it('an MLP: one graph for every batch size, equal to eager', () => {
    kiln.manualSeed(1);
    const model = mlp();
    const fast = compile(model, { inputs: [spec([dim('batch'), 12])] });
    for (const b of [4, 1, 37, 4]) {
      const x = kiln.randn([b, 12], { seed: b });
      expect(maxDiff(fast.run(x) as kiln.Tensor, eager(model, x) as kiln.Tensor)).toBe(0);
    }
    expect(fast.traceCount).toBe(1);
    expect(fast.cacheSize).toBe(1);
    const text = fast.graph.toString();
    expect(text).toContain('graph(%x: float32[batch, 12])');
    expect(text).toContain('const %0.weight: float32[32, 12]');
    expect(text).toMatch(/float32\[batch, 3\] = linear\(/); // one node per Linear layer
    verifyGraph(fast.graph);
  });

  it('a CNN (conv, batch norm in eval, pool, flatten, linear) with a symbolic batch', () => {
    kiln.manualSeed(2);
    const model = new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Conv2d(4, 8, 3), new nn.ReLU(), new nn.AvgPool2d(2), new nn.Flatten(), new nn.Linear(8 * 2 * 2, 5),
    ).eval();
    const fast = compile(model, { inputs: [spec([dim('n'), 1, 12, 12])] });
    for (const n of [3, 1, 6]) {
      const x = kiln.randn([n, 1, 12, 12], { seed: 10 + n });
      // The batch norm is folded into the conv's weights (O1): equal up to rounding.
      expect(maxDiff(fast.run(x) as kiln.Tensor, eager(model, x) as kiln.Tensor)).toBeLessThan(1e-5);
    }
    expect(fast.traceCount).toBe(1);
    // Flatten's reshape target follows the batch: [n, 32].
    expect(fast.graph.toString()).toMatch(/float32\[n, 32\] = reshape\(%\w+\) \{shape=\[n, 32\]\}/);
  });

  it('an LSTM over a static sequence length is one node; nested outputs keep their structure', () => {
    kiln.manualSeed(3);
    const lstm = new nn.LSTM(3, 5, { numLayers: 2 }).eval();
    // O1: the graph as traced and cleaned up (O2 unrolls a static-length LSTM into steps).
    const fast = compile(lstm, { inputs: [spec([6, dim('batch'), 3])], optimize: 'O1' });
    for (const b of [2, 5]) {
      const x = kiln.randn([6, b, 3], { seed: 20 + b });
      const [out, [h, c]] = fast.run(x) as [kiln.Tensor, [kiln.Tensor, kiln.Tensor]];
      const [eOut, [eH, eC]] = eager(lstm, x) as [kiln.Tensor, [kiln.Tensor, kiln.Tensor]];
      expect(maxDiff(out, eOut)).toBe(0);
      expect(maxDiff(h, eH)).toBe(0);
      expect(maxDiff(c, eC)).toBe(0);
    }
    expect(fast.traceCount).toBe(1);
    // The zero initial state is a scalar broadcast to [layers, batch, hidden]: symbolic too.
    expect(fast.graph.toString()).toMatch(/float32\[2, batch, 5\] = expand\(%c\w*\) \{shape=\[2, batch, 5\]\}/);
    // The layer is one whole-sequence lstm node (its decomposition unrolls the steps).
    expect(fast.graph.nodes.filter((n) => n.op === 'lstm').length).toBe(1);
  });

  it('a residual block (conv, batch norm, skip connection)', () => {
    kiln.manualSeed(4);
    const block = new ResidualBlock().eval();
    // Non-trivial running statistics, so eval-mode batch norm does something.
    kiln.noGrad(() => {
      block.bn1.runningMean!.copy_(kiln.randn([4], { seed: 5 }));
      block.bn2.runningVar!.copy_(kiln.rand([4], { seed: 6 }).add(0.5));
    });
    const fast = compile(block, { inputs: [spec([dim('batch'), 4, 8, 8])] });
    for (const b of [2, 3]) {
      const x = kiln.randn([b, 4, 8, 8], { seed: 30 + b });
      // The batch norms are folded into the convs' weights (O1): equal up to rounding.
      expect(maxDiff(fast.run(x) as kiln.Tensor, eager(block, x) as kiln.Tensor)).toBeLessThan(1e-5);
    }
    const text = fast.graph.toString();
    expect(text).toContain('const %bn1.runningMean: float32[4]');
    // Source locations point into this file's forward().
    expect(text).toContain(`compile.test.ts:${lineOf('return this.bn2.forward(this.conv2.forward(h)).add(x).relu();')}:`);
  });

  it('the interpreter agrees with the plan; the graph prints, parses back and verifies', () => {
    kiln.manualSeed(5);
    const model = mlp();
    const fast = compile(model, { inputs: [spec([dim('batch'), 12])] });
    const x = kiln.randn([7, 12], { seed: 7 });
    fast.run(kiln.randn([2, 12]));
    const y = fast.run(x) as kiln.Tensor;
    const [yi] = kiln.noGrad(() => interpretEager(fast.graph, [x]));
    expect(maxDiff(y, yi!)).toBe(0);
    const text = printGraph(fast.graph, { constants: 'inline' });
    expect(printGraph(verifyGraph(parseGraph(text)), { constants: 'inline' })).toBe(text);
  });

  it("target 'reference' runs the plan on the reference backend for a model living on wasm", () => {
    kiln.manualSeed(15);
    const model = mlp();
    const fast = compile(model, { inputs: [spec([dim('batch'), 12])], target: 'reference' });
    fast.run(kiln.randn([2, 12], { seed: 1 }));
    const x = kiln.randn([5, 12], { seed: 2 });
    const y = fast.run(x) as kiln.Tensor;
    const want = eager(model, x) as kiln.Tensor;
    expect(y.backend.name).toBe('reference');
    // Different kernels (float64 accumulation vs XNNPACK float32): 1e-5·max(1, |ref|).
    const a = y.dataSync(), b = want.dataSync();
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b[i]!)));
  });

  it('a plain function with several inputs and a returned object', () => {
    const w = kiln.randn([4, 4], { seed: 8 });
    const f = (a: kiln.Tensor, b: kiln.Tensor) => ({ sum: a.matmul(w).add(b), same: a, n: 3 });
    const fast = compile(f, { inputs: [spec([dim('b'), 4]), spec([dim('b'), 4])] });
    for (const n of [2, 9]) {
      const a = kiln.randn([n, 4], { seed: n }), b = kiln.randn([n, 4], { seed: n + 1 });
      const r = fast.run(a, b) as { sum: kiln.Tensor; same: kiln.Tensor; n: number };
      expect(maxDiff(r.sum, f(a, b).sum)).toBe(0);
      expect(r.same).toBe(a); // an input returned as is stays the same object
      expect(r.n).toBe(3);
    }
    expect(fast.traceCount).toBe(1);
    expect(fast.graph.inputs.map((v) => v.name)).toEqual(['a', 'b']);
  });
});

describe('symbolic and static dims, guards', () => {
  it('traced at batch 4, run at 1 and 37: symbolic batch → no retrace', () => {
    kiln.manualSeed(6);
    const model = mlp();
    const fast = compile(model, { inputs: [spec([dim('batch'), 12])] });
    fast.run(kiln.randn([4, 12], { seed: 1 }));
    for (const b of [1, 37]) {
      const x = kiln.randn([b, 12], { seed: b });
      expect(maxDiff(fast.run(x) as kiln.Tensor, eager(model, x) as kiln.Tensor)).toBe(0);
    }
    expect(fast.traceCount).toBe(1);
    expect(fast.cacheSize).toBe(1);
    expect(fast.stats.hits).toBe(2);
  });

  it('attention traced at batch 1 keeps a symbolic batch (a transpose of a size-1 axis is recorded, not turned into a reshape)', () => {
    kiln.manualSeed(7);
    const layer = new kiln.nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dropout: 0 }).eval();
    const fast = compile(layer, { inputs: [spec([5, dim('batch'), 8])] });
    fast.run(kiln.randn([5, 1, 8], { seed: 1 }));
    // Tolerance: the same kernels in the same order (exact), 1e-6 relative for the compiled softmax/layerNorm.
    for (const b of [1, 3]) {
      const x = kiln.randn([5, b, 8], { seed: 10 + b });
      expect(maxDiff(fast.run(x) as kiln.Tensor, eager(layer, x) as kiln.Tensor)).toBeLessThan(1e-5);
    }
    expect(fast.traceCount).toBe(1);
    expect(fast.graph.toString()).toContain('batch');
  });

  it('with a static batch: each new size retraces, a repeated one is a cache hit', () => {
    kiln.manualSeed(6);
    const model = mlp();
    const fast = compile(model, { inputs: [spec([4, 12])] });
    fast.run(kiln.randn([4, 12], { seed: 1 }));
    const x1 = kiln.randn([1, 12], { seed: 2 });
    expect(maxDiff(fast.run(x1) as kiln.Tensor, eager(model, x1) as kiln.Tensor)).toBe(0);
    expect(fast.traceCount).toBe(2);
    const x37 = kiln.randn([37, 12], { seed: 3 });
    expect(maxDiff(fast.run(x37) as kiln.Tensor, eager(model, x37) as kiln.Tensor)).toBe(0);
    expect(fast.traceCount).toBe(3);
    expect(maxDiff(fast.run(x1) as kiln.Tensor, eager(model, x1) as kiln.Tensor)).toBe(0);
    expect(fast.traceCount).toBe(3);
    expect(fast.cacheSize).toBe(3);
    expect(fast.graph.toString()).toContain('graph(%x: float32[4, 12])');
  });

  it('code that computes with the size pins the dim (guarded, reported), never a silent constant', () => {
    // x.shape[0] in arithmetic: the divisor is a constant that changes with the batch.
    const f = (x: kiln.Tensor) => x.sum(0).div(x.shape[0]);
    const fast = compile(f, { inputs: [spec([dim('batch'), 3])] });
    const x4 = kiln.randn([4, 3], { seed: 1 }), x5 = kiln.randn([5, 3], { seed: 2 });
    expect(maxDiff(fast.run(x4) as kiln.Tensor, f(x4))).toBe(0);
    expect(maxDiff(fast.run(x5) as kiln.Tensor, f(x5))).toBe(0);
    expect(fast.traceCount).toBe(2); // batch 5 is a new signature
    const text = fast.explain();
    expect(text).toMatch(/dim 'batch' specialized to 4 \(guarded, not symbolic\): .*constant/);
  });

  it('a size-dependent reshape becomes an affine symbolic attribute', () => {
    const f = (x: kiln.Tensor) => x.reshape([-1]).add(1).reshape([x.shape[0], 2, 3]);
    const fast = compile(f, { inputs: [spec([dim('b'), 6])] });
    for (const b of [3, 8]) {
      const x = kiln.randn([b, 6], { seed: b });
      expect(maxDiff(fast.run(x) as kiln.Tensor, f(x))).toBe(0);
    }
    expect(fast.traceCount).toBe(1);
    expect(fast.graph.toString()).toContain('reshape(%x) {shape=[6*b]}');
  });

  it('the recompile cap warns once, then runs eagerly (still correct)', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const f = (x: kiln.Tensor) => x.mul(2).add(1);
    const fast = compile(f, { inputs: [spec([3])], maxRecompiles: 2 });
    const sizes = [3, 4, 5, 6, 7, 3, 4];
    for (const n of sizes) {
      const x = kiln.randn([n], { seed: n });
      expect(maxDiff(fast.run(x) as kiln.Tensor, f(x))).toBe(0);
    }
    expect(fast.cacheSize).toBe(2);
    expect(fast.traceCount).toBe(2);
    expect(fast.stats.eagerFallbacks).toBe(3);
    expect(fast.stats.hits).toBe(2);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/maxRecompiles/);
  });

  it('a wrong dtype, rank or number of inputs throws a clear KilnError', () => {
    const fast = compile((x: kiln.Tensor) => x.relu(), { inputs: [spec([dim('batch'), 4])] });
    const bad = kiln.tensor([[1, 2, 3, 4]], { dtype: 'int32' });
    expect(() => fast.run(bad)).toThrow(kiln.KilnError);
    expect(() => fast.run(bad)).toThrow(/input 0 has dtype int32 but the spec says float32: expected float32\[batch, 4\], got int32\[1, 4\]/);
    expect(() => fast.run(kiln.zeros([4]))).toThrow(/input 0 has rank 1 but the spec says 2/);
    expect(() => fast.run()).toThrow(/expected 1 input \(float32\[batch, 4\]\), got 0/);
    try {
      fast.run(bad);
    } catch (e) {
      expect((e as kiln.KilnError).callSite).toMatch(/compile\.test\.ts:\d+:\d+/);
    }
    expect(fast.traceCount).toBe(0);
  });

  it('the module\'s training flag is part of the guard', () => {
    kiln.manualSeed(9);
    const model = new nn.Sequential(new nn.Linear(4, 4), new nn.Dropout(0.5));
    const fast = compile(model, { inputs: [spec([dim('b'), 4])] });
    model.eval();
    const x = kiln.randn([3, 4], { seed: 1 });
    expect(maxDiff(fast.run(x) as kiln.Tensor, eager(model, x) as kiln.Tensor)).toBe(0);
    model.train();
    fast.run(x);
    expect(fast.cacheSize).toBe(2);
    model.eval();
    expect(maxDiff(fast.run(x) as kiln.Tensor, eager(model, x) as kiln.Tensor)).toBe(0);
    expect(fast.traceCount).toBe(2);
  });
});

class DataDependent extends nn.Module {
  fc = new nn.Linear(4, 4);
  forward(x: kiln.Tensor): kiln.Tensor {
    const h = this.fc.forward(x);
    if (h.sum().item() > 0) { // the graph break
      return h.relu().mul(2);
    }
    return h.neg().exp();
  }
}

describe('graph breaks', () => {
  it('a data-dependent if: compiled segments with eager glue, same results as eager both ways', () => {
    kiln.manualSeed(10);
    const model = new DataDependent().eval();
    const fast = compile(model, { inputs: [spec([dim('batch'), 4])] });
    const branches = new Set<boolean>();
    for (let s = 0; s < 12; s++) {
      const x = kiln.randn([3, 4], { seed: 100 + s }).add(s % 2 ? 1 : -1);
      const y = fast.run(x) as kiln.Tensor;
      branches.add(kiln.noGrad(() => model.fc.forward(x).sum().item()) > 0);
      expect(maxDiff(y, eager(model, x) as kiln.Tensor)).toBe(0);
    }
    expect(branches).toEqual(new Set([true, false]));
    expect(fast.traceCount).toBe(1);
    // Segment 1 (up to the read), then one segment per branch: compiled once each, then cached.
    expect(fast.stats.segmentsCompiled).toBe(3);
    expect(fast.stats.segmentRuns).toBe(22);
  });

  it('explain() lists the break with its source line in this file and the expression', () => {
    const model = new DataDependent().eval();
    const fast = compile(model, { inputs: [spec([dim('batch'), 4])] });
    fast.run(kiln.randn([2, 4], { seed: 1 }));
    const text = fast.explain();
    const line = lineOf('// the graph break');
    expect(text).toContain('1 graph break, 2 compiled segments');
    expect(text).toMatch(new RegExp(`break 1: item\\(\\) reads a tensor's value .*\\n\\s+at .*compile\\.test\\.ts:${line}:\\d+`));
    expect(text).toContain(`${line} | if (h.sum().item() > 0) { // the graph break`);
    expect(text).toContain('expression: h.sum().item()   (in: h.sum().item() > 0)');
  }, 60_000);

  it('fullGraph: true turns the break into an error naming the line', () => {
    const fast = compile(new DataDependent().eval(), { inputs: [spec([dim('batch'), 4])], fullGraph: true });
    let err: unknown;
    try {
      fast.run(kiln.randn([2, 4], { seed: 1 }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(kiln.KilnError);
    expect((err as kiln.KilnError).message).toMatch(/item\(\) reads a tensor's value while tracing with fullGraph: true/);
    expect((err as kiln.KilnError).callSite).toMatch(new RegExp(`compile\\.test\\.ts:${lineOf('// the graph break')}:\\d+`));
  });

  it('using a tensor as a number while tracing throws, naming the line', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const f = (x: kiln.Tensor) => ((x.sum() as any) > 0 ? x.relu() : x.neg()); // coerced
    const fast = compile(f, { inputs: [spec([3])] });
    expect(() => fast.run(kiln.ones([3]))).toThrow(/used as a number/);
    try {
      fast.run(kiln.ones([3]));
    } catch (e) {
      expect((e as kiln.KilnError).callSite).toMatch(new RegExp(`compile\\.test\\.ts:${lineOf('// coerced')}:`));
    }
    // Outside a trace nothing changes: a tensor converts to its printed form.
    expect(`${kiln.tensor([1])}`).toBe(kiln.tensor([1]).toString());
  });

  it('a loop over a data-dependent count breaks at every read and still matches eager', () => {
    const f = (x: kiln.Tensor) => {
      let y = x;
      let steps = 0;
      while (y.abs().max().item() > 1 && steps < 20) { // reads every iteration
        y = y.mul(0.5);
        steps++;
      }
      return y.add(steps);
    };
    const fast = compile(f, { inputs: [spec([dim('n')])] });
    for (const scale of [1, 8, 100, 3]) {
      const x = kiln.randn([5], { seed: scale }).mul(scale);
      expect(maxDiff(fast.run(x) as kiln.Tensor, f(x))).toBe(0);
    }
    expect(fast.traceCount).toBe(1);
  });

  it('lazy runs free what they create (no leak over many calls)', () => {
    const model = new DataDependent().eval();
    const fast = compile(model, { inputs: [spec([dim('batch'), 4])] });
    const x = kiln.randn([3, 4], { seed: 2 });
    kiln.scope(() => { fast.run(x); }); // first call traces
    kiln.scope(() => { fast.run(x); });
    const before = kiln.memory();
    for (let i = 0; i < 5; i++) kiln.scope(() => { fast.run(x); });
    const after = kiln.memory();
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.liveBytes).toEqual(before.liveBytes);
  });
});

describe('memory, state and nesting', () => {
  it('compiled runs free every intermediate (live tensors and bytes constant over runs)', () => {
    kiln.manualSeed(13);
    const model = mlp();
    const fast = compile(model, { inputs: [spec([dim('batch'), 12])] });
    const x = kiln.randn([8, 12], { seed: 1 });
    kiln.scope(() => { fast.run(x); });
    kiln.scope(() => { fast.run(x); });
    const before = kiln.memory();
    for (let i = 0; i < 10; i++) kiln.scope(() => { fast.run(x); });
    const after = kiln.memory();
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.liveBytes).toEqual(before.liveBytes);
  });

  it('in-place updates of an input and of captured state are written back, as eager does', () => {
    const counter = kiln.zeros([]);
    const f = (x: kiln.Tensor) => {
      kiln.noGrad(() => counter.add_(1));
      x.mul_(2);
      return x.add(counter);
    };
    const fast = compile(f, { inputs: [spec([dim('n')])] });
    const results: number[][] = [];
    for (const n of [2, 3, 2]) {
      const x = kiln.ones([n]);
      const y = fast.run(x) as kiln.Tensor;
      expect(Array.from(x.dataSync())).toEqual(new Array(n).fill(2));
      results.push(Array.from(y.dataSync()));
    }
    expect(results).toEqual([[3, 3], [4, 4, 4], [5, 5]]);
    expect(counter.item()).toBe(3);
    expect(fast.traceCount).toBe(1);
  });

  it('a compiled function called while another one traces is traced through', () => {
    const inner = compile((x: kiln.Tensor) => x.exp(), { inputs: [spec([dim('n')])] });
    // O1, so the graph shows what was traced (O2 fuses the three ops into one kernel).
    const outer = compile((x: kiln.Tensor) => (inner.run(x.mul(2)) as kiln.Tensor).add(1), { inputs: [spec([dim('n')])], optimize: 'O1' });
    for (const n of [3, 5]) {
      const x = kiln.randn([n], { seed: n });
      expect(maxDiff(outer.run(x) as kiln.Tensor, x.mul(2).exp().add(1))).toBe(0);
    }
    expect(outer.graph.nodes.map((nd) => nd.op)).toEqual(['mul', 'exp', 'add']);
  });
});

describe('training mode', () => {
  it('parameters are graph inputs; gradients through the compiled forward equal eager', () => {
    const make = () => {
      kiln.manualSeed(11);
      return new nn.Sequential(new nn.Linear(6, 8), new nn.ReLU(), new nn.Linear(8, 2));
    };
    const a = make(), b = make();
    const fast = compile(a, { inputs: [spec([dim('batch'), 6])], mode: 'training' });
    for (const n of [4, 7, 4]) {
      const x = kiln.randn([n, 6], { seed: n });
      a.zeroGrad();
      b.zeroGrad();
      (fast.run(x) as kiln.Tensor).square().mean().backward();
      (b.forward(x) as kiln.Tensor).square().mean().backward();
      a.parameters().forEach((p, i) => expect(maxDiff(p.grad!, b.parameters()[i]!.grad!)).toBe(0));
    }
    expect(fast.traceCount).toBe(1);
    expect(fast.graph.inputs.map((v) => v.name)).toEqual(['x', '0.weight', '0.bias', '2.weight', '2.bias']);
    expect(fast.graph.constants.size).toBe(0);
  });

  it('with a graph break: the lazy segments are on the tape, gradients equal eager', () => {
    const make = () => {
      kiln.manualSeed(14);
      return new DataDependent();
    };
    const a = make(), b = make();
    const fast = compile(a, { inputs: [spec([dim('batch'), 4])], mode: 'training' });
    for (let s = 0; s < 4; s++) {
      const x = kiln.randn([3, 4], { seed: 60 + s }).add(s % 2 ? 1 : -1);
      a.zeroGrad();
      b.zeroGrad();
      (fast.run(x) as kiln.Tensor).sum().backward();
      b.forward(x).sum().backward();
      a.parameters().forEach((p, i) => expect(maxDiff(p.grad!, b.parameters()[i]!.grad!)).toBe(0));
    }
    expect(fast.traceCount).toBe(1);
  });

  it('a whole training step (forward, loss, backward, Adam) breaks at backward() and matches eager step for step', () => {
    const make = () => {
      kiln.manualSeed(16);
      const m = new nn.Sequential(new nn.Linear(4, 8), new nn.Tanh(), new nn.Linear(8, 1));
      return { m, opt: new kiln.optim.Adam(m.parameters(), { lr: 0.05 }) };
    };
    const a = make(), b = make();
    const step = (s: ReturnType<typeof make>) => (x: kiln.Tensor, y: kiln.Tensor) => {
      s.opt.zeroGrad();
      const loss = (s.m.forward(x) as kiln.Tensor).sub(y).square().mean();
      loss.backward();
      s.opt.step();
      return loss;
    };
    const fast = compile(step(a), { inputs: [spec([dim('batch'), 4]), spec([dim('batch'), 1])], mode: 'training' });
    const eagerStep = step(b);
    for (let i = 0; i < 5; i++) {
      const x = kiln.randn([6, 4], { seed: 70 + i }), y = kiln.randn([6, 1], { seed: 80 + i });
      expect((fast.run(x, y) as kiln.Tensor).item()).toBe(eagerStep(x, y).item());
      a.m.parameters().forEach((p, k) => expect(maxDiff(p, b.m.parameters()[k]!)).toBe(0));
    }
    expect(fast.traceCount).toBe(1);
    expect(fast.explain()).toContain('break 1: backward() runs autograd eagerly');
  });

  it('batch norm in training mode: running statistics are written back; symbolic batch for sizes ≥ 2, size 1 raises the layer\'s error', () => {
    const make = () => {
      kiln.manualSeed(12);
      return new nn.Sequential(new nn.Linear(5, 3), new nn.BatchNorm1d(3));
    };
    const a = make(), b = make();
    const fast = compile(a, { inputs: [spec([dim('batch'), 5])], mode: 'training' });
    for (let step = 0; step < 3; step++) {
      const x = kiln.randn([6, 5], { seed: 40 + step });
      const ya = fast.run(x) as kiln.Tensor;
      const yb = b.forward(x) as kiln.Tensor;
      expect(maxDiff(ya, yb)).toBe(0);
    }
    const bnA = a.at(1) as kiln.nn.BatchNorm1d, bnB = b.at(1) as kiln.nn.BatchNorm1d;
    expect(maxDiff(bnA.runningMean!, bnB.runningMean!)).toBe(0);
    expect(maxDiff(bnA.runningVar!, bnB.runningVar!)).toBe(0);
    expect(bnA.numBatchesTracked!.item()).toBe(3);
    // Another batch size reuses the graph: the count in the mean, the variance and the
    // unbiased running variance is an elementCount node, not a number.
    const x9 = kiln.randn([9, 5], { seed: 50 });
    expect(maxDiff(fast.run(x9) as kiln.Tensor, b.forward(x9) as kiln.Tensor)).toBe(0);
    expect(maxDiff(bnA.runningVar!, bnB.runningVar!)).toBe(0);
    expect(fast.traceCount).toBe(1);
    const text = fast.explain();
    expect(text).toMatch(/in-place updates written back after each run: .*1\.runningMean/);
    expect(text).toContain("symbolic dims: batch");
    expect(text).toMatch(/dim 'batch' symbolic for sizes ≥ 2 only \(size 1 retraces\): tracing at batch = 7 or 1 failed: BatchNorm1d: expected more than 1 value per channel/);
    // Size 1 is not served by the symbolic graph (it would divide by n − 1 = 0): it
    // retraces, and the layer's own check throws as in eager.
    expect(() => fast.run(kiln.randn([1, 5], { seed: 51 }))).toThrow(/BatchNorm1d: expected more than 1 value per channel when training/);
    expect(() => b.forward(kiln.randn([1, 5], { seed: 51 }))).toThrow(/BatchNorm1d: expected more than 1 value per channel when training/);
  });

  it('means, variances and mean-reduced losses over a symbolic batch stay symbolic (elementCount, not a number)', () => {
    const lin = new nn.Linear(4, 3);
    const f = (x: kiln.Tensor, t: kiln.Tensor) => {
      const h = lin.forward(x);
      return [h.mean(0), h.variance(0), nn.crossEntropy(h, t), nn.crossEntropy(h, h.softmax(1).detach()), nn.klDiv(h.logSoftmax(1), h.softmax(1).detach(), { reduction: 'batchmean' })];
    };
    const fast = compile(f, { inputs: [spec([dim('batch'), 4]), spec([dim('batch')], 'int32')] });
    for (const n of [5, 1, 12]) {
      const x = kiln.randn([n, 4], { seed: n }), t = kiln.randint(0, 3, [n], { seed: n });
      const got = fast.run(x, t) as kiln.Tensor[], want = f(x, t);
      // Same ops in the same order on the same backend: equal up to float32 rounding
      // (batch 1: the unbiased variance is 0/0 = NaN in both).
      got.forEach((g, i) => {
        const a = g.dataSync(), b = want[i]!.dataSync();
        expect(a.length).toBe(b.length);
        a.forEach((v, k) => (Number.isNaN(b[k]!) ? expect(v).toBeNaN() : expect(Math.abs(v - b[k]!)).toBeLessThan(1e-6)));
      });
    }
    expect(fast.traceCount).toBe(1);
    expect(fast.graph.toString()).toContain('elementCount(');
  });
});
