/**
 * The O3 layout pass (passes/layout.ts) and the channels-last ops it rewrites to
 * (ops/layout.ts: conv2dNhwc, maxPool2dNhwc, avgPool2dNhwc) with their kernels.
 *
 * Tolerances:
 * - The NHWC kernels are exact: conv2dNhwc on wasm is the same XNNPACK call the NCHW
 *   kernel makes after its transposes, the NHWC pools are bit-identical to the reference
 *   pools, and batchNorm in an NHWC region is its own decomposition's arithmetic. So O3
 *   equals O2 bit for bit (NaN where O2 has NaN) on every model here, and the wasm kernels
 *   equal the decompositions bit for bit.
 * - O3 against O0 differs by what O2 already does (bias fusion starts the conv's sums
 *   from the bias; BN folding): within 1e-5 relative to the output's largest magnitude.
 * - The reference backend running the O3 graph (its NHWC kernels are the decomposition on
 *   arrays) matches it running the O2 graph within 1e-6 relative (its batchNorm kernel
 *   and the decomposition's arithmetic may round differently).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { relDiff } from './support/expectClose.js';
import { compile, dim, interpretEager, spec, type CompiledModel } from '../src/compiled/index.js';
import { constantOf } from '../src/passes/index.js';
import { parseGraph, printGraph, type Graph } from '../src/ir/index.js';
import type { OptLevel } from '../src/passes/index.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

/** Bit-for-bit equality (NaN = NaN, +0 ≠ −0). */
function expectIdentical(a: kiln.Tensor, b: kiln.Tensor, what: string): void {
  expect(a.shape, what).toEqual(b.shape);
  const x = a.dataSync(), y = b.dataSync();
  let bad = -1;
  for (let i = 0; i < x.length && bad < 0; i++) if (!Object.is(x[i], y[i])) bad = i;
  expect(bad < 0 ? 'identical' : `${what}: element ${bad}: ${x[bad]} vs ${y[bad]}`).toBe('identical');
}

/** `x` with NaN, ±Infinity and ±0 written into a few elements. */
function withSpecials(x: kiln.Tensor): kiln.Tensor {
  const d = Float32Array.from(x.dataSync());
  const specials = [NaN, Infinity, -Infinity, 0, -0];
  for (let i = 0, k = 0; i < d.length; i += 37, k++) d[i] = specials[k % specials.length]!;
  return kiln.tensor(d, { shape: x.shape });
}

function scrambleBatchNorm(bn: kiln.nn.BatchNorm2d, seed: number): void {
  kiln.noGrad(() => {
    const c = bn.runningMean!.shape[0]!;
    bn.runningMean!.copy_(kiln.randn([c], { seed }));
    bn.runningVar!.copy_(kiln.rand([c], { seed: seed + 1 }).add(0.25));
    const g = Float32Array.from(kiln.randn([c], { seed: seed + 2 }).dataSync());
    g[0] = -Math.abs(g[0]!) - 0.5;
    bn.weight!.copy_(kiln.tensor(g));
    bn.bias!.copy_(kiln.randn([c], { seed: seed + 3 }));
  });
}

/** Conv→ReLU→Conv→MaxPool→BN→Flatten→Linear, eval, 3 input channels, odd 9×7 images. */
function cnn(): kiln.nn.Sequential {
  const m = new nn.Sequential(
    new nn.Conv2d(3, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.Conv2d(8, 6, 3), new nn.MaxPool2d(2),
    new nn.BatchNorm2d(6, { eps: 1e-3 }), new nn.Flatten(), new nn.Linear(6 * 3 * 2, 5),
  );
  scrambleBatchNorm(m.at(4) as kiln.nn.BatchNorm2d, 21);
  return m.eval();
}

/** Each level compiled and run once (the trace), keyed by level. */
function compiledAt(model: kiln.nn.Module, shape: Parameters<typeof spec>[0], x: kiln.Tensor, levels: readonly OptLevel[] = ['O0', 'O2', 'O3']): Map<OptLevel, CompiledModel> {
  const runs = new Map<OptLevel, CompiledModel>();
  for (const level of levels) {
    const fast = compile(model, { inputs: [spec(shape)], optimize: level });
    fast.run(x);
    runs.set(level, fast);
  }
  return runs;
}

/** A value that is a constant of `g` (a parameter, a literal or a folded one). */
const isConst = (g: Graph, v: { name: string } & object): boolean => constantOf(g, v as never) !== undefined;

const samePerm = (p: unknown, want: number[]): boolean => JSON.stringify(p) === JSON.stringify(want);

/** Transposes of activations (not of constants) in `g`. */
function activationTransposes(g: Graph) {
  return g.nodes.filter((n) => n.op === 'transpose' && !isConst(g, n.inputs[0]!));
}

describe('layout pass: structure', () => {
  it('a Conv→ReLU→Conv→MaxPool→BN→Flatten→Linear model runs NHWC between one transpose at entry and one before the flatten', () => {
    kiln.manualSeed(1);
    const model = cnn();
    const x = kiln.randn([2, 3, 9, 7], { seed: 2 });
    const runs = compiledAt(model, [dim('batch'), 3, 9, 7], x);
    const g = runs.get('O3')!.graph;
    const ops = g.nodes.map((n) => n.op);
    expect(ops.filter((o) => o === 'conv2dNhwc').length).toBe(2);
    expect(ops).toContain('maxPool2dNhwc');
    expect(ops).not.toContain('conv2d');
    expect(ops).not.toContain('maxPool2d');
    expect(ops).not.toContain('batchNorm');
    const ts = activationTransposes(g);
    expect(ts.length).toBe(2);
    // Entry: the graph input, to NHWC; exit: read by the flatten (a reshape), to NCHW.
    expect(ts[0]!.inputs[0]).toBe(g.inputs[0]);
    expect(ts[0]!.attrs['perm']).toEqual([0, 2, 3, 1]);
    expect(ts[1]!.attrs['perm']).toEqual([0, 3, 1, 2]);
    expect(g.uses(ts[1]!.outputs[0]!).map((u) => u.node.op)).toEqual(['reshape']);
    // No weight is transposed at run time: every transpose reads an activation.
    expect(g.nodes.filter((n) => n.op === 'transpose').length).toBe(2);
    // The filters are HWIO constants (folded from the OIHW parameters).
    for (const n of g.nodes.filter((k) => k.op === 'conv2dNhwc')) {
      expect(isConst(g, n.inputs[1]!)).toBe(true);
      expect(constantOf(g, n.inputs[1]!)?.folded?.op).toBe('transpose');
    }
    expect(runs.get('O3')!.explain()).toMatch(/layout/);
    // O2 keeps NCHW: the pass is O3.
    expect(runs.get('O2')!.graph.nodes.map((n) => n.op)).toContain('conv2d');
  });

  it('the optimized graph prints and parses back (NHWC ops and their attributes)', () => {
    kiln.manualSeed(1);
    const model = cnn();
    const x = kiln.randn([2, 3, 9, 7], { seed: 2 });
    const g = compiledAt(model, [dim('batch'), 3, 9, 7], x, ['O3']).get('O3')!.graph;
    const text = printGraph(g);
    expect(text).toMatch(/conv2dNhwc/);
    // The text form keeps a folded constant's recipe as a comment only.
    expect(printGraph(parseGraph(text))).toBe(text.replace(/ +# folded: [^\n]*/g, ''));
  });

  it('a single-channel input enters NHWC through a reshape (a transpose of size-1 axes moves nothing)', () => {
    kiln.manualSeed(3);
    const model = new nn.Sequential(new nn.Conv2d(1, 4, 3), new nn.ReLU(), new nn.Conv2d(4, 1, 3), new nn.Flatten()).eval();
    const x = kiln.randn([2, 1, 8, 8], { seed: 4 });
    const runs = compiledAt(model, [2, 1, 8, 8], x);
    const g = runs.get('O3')!.graph;
    expect(g.nodes.filter((n) => n.op === 'transpose').length).toBe(0);
    expect(g.nodes.filter((n) => n.op === 'conv2dNhwc').length).toBe(2);
    const ref = runs.get('O2')!.run(withSpecials(x)) as kiln.Tensor;
    expectIdentical(runs.get('O3')!.run(withSpecials(x)) as kiln.Tensor, ref, 'O3 vs O2');
  });

  it('general groups (1 < group < channels) stay NCHW; depthwise goes NHWC', () => {
    kiln.manualSeed(5);
    const model = new nn.Sequential(
      new nn.Conv2d(4, 6, 3, { groups: 2, padding: 1 }), new nn.ReLU(),
      new nn.Conv2d(6, 12, 3, { groups: 6 }), new nn.Tanh(), new nn.Flatten(),
    ).eval();
    const x = kiln.randn([2, 4, 7, 5], { seed: 6 });
    const runs = compiledAt(model, [2, 4, 7, 5], x);
    const ops = runs.get('O3')!.graph.nodes.map((n) => n.op);
    expect(ops.filter((o) => o === 'conv2d').length).toBe(1);
    expect(ops.filter((o) => o === 'conv2dNhwc').length).toBe(1);
    const xs = withSpecials(x);
    expectIdentical(runs.get('O3')!.run(xs) as kiln.Tensor, runs.get('O2')!.run(xs) as kiln.Tensor, 'O3 vs O2');
    expect(relDiff(runs.get('O3')!.run(xs) as kiln.Tensor, runs.get('O0')!.run(xs) as kiln.Tensor)).toBeLessThan(1e-5);
  });

  it('training mode: the pass does not run (parameters are inputs; the NHWC ops have no gradient)', () => {
    kiln.manualSeed(7);
    const model = new nn.Sequential(new nn.Conv2d(3, 4, 3), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(4 * 3 * 3, 2)).train();
    const fast = compile(model, { inputs: [spec([2, 3, 8, 8])], optimize: 'O3', mode: 'training' });
    const x = kiln.randn([2, 3, 8, 8], { seed: 8 });
    fast.run(x);
    const loss = (fast.run(x) as kiln.Tensor).square().sum();
    loss.backward();
    const ops = fast.graph.nodes.map((n) => n.op);
    expect(ops).toContain('conv2d');
    expect(ops.some((o) => o.endsWith('Nhwc'))).toBe(false);
    const g = (model.at(0) as kiln.nn.Conv2d).weight.grad;
    expect(g).toBeTruthy();
    // Same gradient as eager.
    for (const p of model.parameters()) p.grad = null;
    const eager = model.forward(x).square().sum();
    const want = Float32Array.from((() => { eager.backward(); return (model.at(0) as kiln.nn.Conv2d).weight.grad!.dataSync(); })());
    const got = g!.dataSync();
    let d = 0;
    for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(want[i]! - got[i]!));
    expect(d).toBeLessThan(1e-4);
  });
});

describe('layout pass: numbers', () => {
  it('the CNN at O3 equals O2 bit for bit and O0 within 1e-5, NaN/±Inf/±0 inputs, batch symbolic (2 and 3)', () => {
    kiln.manualSeed(1);
    const model = cnn();
    const runs = compiledAt(model, [dim('batch'), 3, 9, 7], kiln.randn([2, 3, 9, 7], { seed: 2 }));
    for (const [batch, seed] of [[2, 12], [3, 13]] as const) {
      const x = withSpecials(kiln.randn([batch, 3, 9, 7], { seed }));
      const o0 = runs.get('O0')!.run(x) as kiln.Tensor;
      const o2 = runs.get('O2')!.run(x) as kiln.Tensor;
      const o3 = runs.get('O3')!.run(x) as kiln.Tensor;
      expectIdentical(o3, o2, `batch ${batch}: O3 vs O2`);
      expect(relDiff(o3, o0)).toBeLessThan(1e-5);
    }
  });

  it('conv geometry: stride, padding, dilation, odd sizes, no bias, avg pools (both padding counts) — O3 = O2 exactly', () => {
    const cases: { name: string; model: () => kiln.nn.Module; shape: number[] }[] = [
      { name: 'stride 2, pad 2, 5×5', model: () => new nn.Sequential(new nn.Conv2d(3, 5, 5, { stride: 2, padding: 2 }), new nn.ELU(), new nn.Conv2d(5, 4, 1), new nn.Flatten()), shape: [2, 3, 11, 9] },
      { name: 'dilation 2, no bias', model: () => new nn.Sequential(new nn.Conv2d(2, 3, 3, { dilation: 2, bias: false }), new nn.Sigmoid(), new nn.Conv2d(3, 3, [1, 3], { padding: [0, 1] }), new nn.Flatten()), shape: [1, 2, 9, 8] },
      { name: 'avg pool 3×3 pad 1 (count_include_pad)', model: () => new nn.Sequential(new nn.Conv2d(3, 5, 3), new nn.ReLU(), new nn.AvgPool2d(3, { stride: 2, padding: 1 }), new nn.Flatten()), shape: [2, 3, 10, 7] },
      { name: 'avg pool without padding count, max pool 3 stride 1 pad 1', model: () => new nn.Sequential(new nn.Conv2d(3, 7, 3, { padding: 1 }), new nn.AvgPool2d(3, { stride: 1, padding: 1, countIncludePad: false }), new nn.MaxPool2d(3, { stride: 1, padding: 1 }), new nn.Flatten()), shape: [2, 3, 5, 6] },
      { name: 'size-1 spatial dims', model: () => new nn.Sequential(new nn.Conv2d(5, 6, [1, 3], { padding: [0, 1] }), new nn.ReLU(), new nn.Conv2d(6, 3, 1), new nn.Flatten()), shape: [3, 5, 1, 7] },
    ];
    for (const c of cases) {
      kiln.manualSeed(11);
      const model = c.model().eval();
      const x = kiln.randn(c.shape, { seed: 31 });
      const runs = compiledAt(model, c.shape, x);
      expect(runs.get('O3')!.graph.nodes.some((n) => n.op === 'conv2dNhwc'), c.name).toBe(true);
      const xs = withSpecials(x);
      const o3 = runs.get('O3')!.run(xs) as kiln.Tensor;
      expectIdentical(o3, runs.get('O2')!.run(xs) as kiln.Tensor, `${c.name}: O3 vs O2`);
      expect(relDiff(o3, runs.get('O0')!.run(xs) as kiln.Tensor), c.name).toBeLessThan(1e-5);
    }
  });

  it('a residual block (add of two NHWC values, a per-channel constant, a filled constant; symbolic batch) stays NHWC to the end', () => {
    class Block extends nn.Module {
      conv1 = new nn.Conv2d(4, 4, 3, { padding: 1 });
      conv2 = new nn.Conv2d(4, 4, 3, { padding: 1 });
      shift = kiln.randn([4, 1, 1], { seed: 41 });
      forward(x: kiln.Tensor): kiln.Tensor {
        const h = this.conv1.forward(x).relu();
        // shift: a constant [4, 1, 1]; full(): a filled constant, traced as expand(scalar).
        return this.conv2.forward(h).add(h).mul(this.shift).sub(kiln.full([1, 4, 1, 1], 0.5)).relu().flatten(1);
      }
    }
    kiln.manualSeed(13);
    const model = new Block().eval();
    const x = kiln.randn([2, 4, 6, 5], { seed: 42 });
    const runs = compiledAt(model, [dim('batch'), 4, 6, 5], x);
    const g = runs.get('O3')!.graph;
    expect(activationTransposes(g).length).toBe(2);
    expect(g.nodes.filter((n) => n.op === 'conv2dNhwc').length).toBe(2);
    // The exit transpose sank past the add, the mul, the sub and the relu: the flatten reads it.
    const exit = activationTransposes(g).find((n) => samePerm(n.attrs['perm'], [0, 3, 1, 2]))!;
    expect(g.uses(exit.outputs[0]!).map((u) => u.node.op)).toEqual(['reshape']);
    const xs = withSpecials(x);
    expectIdentical(runs.get('O3')!.run(xs) as kiln.Tensor, runs.get('O2')!.run(xs) as kiln.Tensor, 'O3 vs O2');
  });

  it('a parameter updated in place reaches the NHWC filter (folded constant recomputed, XNNPACK packing dropped)', () => {
    kiln.manualSeed(1);
    const model = cnn();
    const x = kiln.randn([2, 3, 9, 7], { seed: 2 });
    const runs = compiledAt(model, [2, 3, 9, 7], x, ['O0', 'O3']);
    runs.get('O3')!.run(x);
    const conv = model.at(0) as kiln.nn.Conv2d;
    kiln.noGrad(() => {
      conv.weight.copy_(conv.weight.mul(-1.5));
      conv.bias!.copy_(conv.bias!.add(0.25));
    });
    const want = runs.get('O0')!.run(x) as kiln.Tensor;
    const eager = kiln.noGrad(() => model.forward(x));
    expect(relDiff(eager, want)).toBeLessThan(1e-5);
    expect(relDiff(runs.get('O3')!.run(x) as kiln.Tensor, want)).toBeLessThan(1e-5);
  });

  it('the reference backend runs the O3 graph (NHWC kernels = the decomposition on arrays) as it runs the O2 graph', () => {
    kiln.manualSeed(1);
    const model = cnn();
    const x = kiln.randn([2, 3, 9, 7], { seed: 2 });
    const runs = compiledAt(model, [2, 3, 9, 7], x, ['O2', 'O3']);
    const xr = withSpecials(x).to('reference');
    const [y3] = kiln.noGrad(() => interpretEager(runs.get('O3')!.graph, [xr], { backend: 'reference' }));
    const [y2] = kiln.noGrad(() => interpretEager(runs.get('O2')!.graph, [xr], { backend: 'reference' }));
    expect(y3!.backend.name).toBe('reference');
    expect(relDiff(y3!, y2!)).toBeLessThan(1e-6);
    expect(relDiff(y3!.to('wasm'), runs.get('O3')!.run(withSpecials(x)) as kiln.Tensor)).toBeLessThan(1e-5);
  });
});

describe('NHWC kernels', () => {
  const nhwc = (t: kiln.Tensor) => t.permute(0, 2, 3, 1);

  it('conv2dNhwc on wasm = its decomposition (NCHW conv2d between transposes) bit for bit: groups, depthwise, bias, activation, odd sizes', () => {
    const cases: { c: number; o: number; k: [number, number]; group: number; attrs: Record<string, number[]>; bias: boolean; hw: [number, number]; activation?: string }[] = [
      { c: 3, o: 5, k: [3, 3], group: 1, attrs: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1] }, bias: true, hw: [7, 5] },
      { c: 5, o: 10, k: [3, 2], group: 5, attrs: { strides: [2, 1], pads: [0, 1, 1, 0], dilations: [1, 2] }, bias: true, hw: [9, 6] },
      { c: 4, o: 6, k: [3, 3], group: 2, attrs: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1] }, bias: false, hw: [5, 5] },
      { c: 1, o: 3, k: [2, 2], group: 1, attrs: { strides: [2, 2], pads: [0, 0, 1, 1], dilations: [1, 1] }, bias: true, hw: [1, 7], activation: 'relu' },
    ];
    for (const cs of cases) {
      const x = withSpecials(kiln.randn([2, cs.c, ...cs.hw], { seed: 51 }));
      const w = kiln.randn([cs.o, cs.c / cs.group, ...cs.k], { seed: 52 });
      const b = kiln.randn([cs.o], { seed: 53 });
      const attrs = { ...cs.attrs, group: cs.group, ...(cs.activation ? { activation: cs.activation } : {}) };
      const ins = cs.bias ? [w.permute(2, 3, 1, 0), b] : [w.permute(2, 3, 1, 0)];
      const got = nhwc(x).applyOp('conv2dNhwc', ins, attrs)[0]!;
      const want = nhwc(x.applyOp('conv2d', cs.bias ? [w, b] : [w], attrs)[0]!);
      // General groups take the portable kernel on wasm (the pass leaves them NCHW): equal up to rounding.
      if (cs.group === 1 || cs.group === cs.c) expectIdentical(got, want, `conv2dNhwc ${JSON.stringify(cs)}`);
      else expect(relDiff(got, want)).toBeLessThan(1e-5);
      // The reference backend's NHWC kernel is the decomposition too.
      const ref = nhwc(x.to('reference')).applyOp('conv2dNhwc', ins.map((t) => t.to('reference')), attrs)[0]!;
      expect(relDiff(ref.to('wasm'), want)).toBeLessThan(1e-5);
    }
  });

  it('maxPool2dNhwc / avgPool2dNhwc on wasm = the reference pools bit for bit (NaN, ±Inf, ±0; channels 1, 3, 5, 8; padding, strides, countIncludePad)', () => {
    const geoms = [
      { kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] },
      { kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      { kernelShape: [3, 2], strides: [1, 3], pads: [1, 0, 1, 1] },
      { kernelShape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0] },
    ];
    for (const c of [1, 3, 5, 8]) {
      for (const [h, w] of [[7, 5], [1, 6], [4, 4]] as const) {
        const x = withSpecials(kiln.randn([2, h, w, c], { seed: 60 + c + h }));
        for (const g of geoms) {
          if (g.kernelShape[0]! > h + g.pads[0]! + g.pads[2]! || g.kernelShape[1]! > w + g.pads[1]! + g.pads[3]!) continue;
          for (const [op, extra] of [['maxPool2dNhwc', {}], ['avgPool2dNhwc', { countIncludePad: true }], ['avgPool2dNhwc', { countIncludePad: false }]] as const) {
            const attrs = { ...g, ...extra };
            const got = x.applyOp(op, [], attrs)[0]!;
            const ref = x.to('reference').permute(0, 3, 1, 2).applyOp(op.replace('Nhwc', ''), [], attrs)[0]!.permute(0, 2, 3, 1);
            expectIdentical(got, ref.to('wasm'), `${op} C=${c} ${h}×${w} ${JSON.stringify(attrs)}`);
          }
        }
      }
    }
  });
});
