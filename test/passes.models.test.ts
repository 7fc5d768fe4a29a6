/**
 * The pass pipeline on whole models: each model compiled at O0 (no passes) and at
 * O1/O2/O3 gives the same results, NaN inputs included, and the optimized graphs have
 * the structure the passes promise (Conv→BN→ReLU at O1 is conv2d + relu, no constant is
 * transposed at run time, explain() lists the pipeline with node counts). Folded
 * weights follow in-place parameter updates.
 *
 * Tolerances: passes that only move data or drop work (DCE, CSE, folding of transposes,
 * the algebraic rules) are exact, so MLP and LSTM compare with 0 difference; BN folding
 * reassociates the per-channel products (W·s instead of (conv − m)·s), so models with
 * batch norm compare within 1e-5 relative to the output's largest magnitude (float32
 * rounding of a handful of products). NaN must appear exactly where O0 has it.
 * The verifier runs after every pass here (vitest sets it, see lower.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { Residual } from './support/residualBlock.js';
import { relDiff } from './support/expectClose.js';
import { compile, dim, interpretEager, spec, type CompiledModel } from '../src/compiled/index.js';
import type { OptLevel } from '../src/passes/index.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

const LEVELS: readonly OptLevel[] = ['O1', 'O2', 'O3'];

/** `x` with NaN written into a few elements. */
function withNaN(x: kiln.Tensor): kiln.Tensor {
  const d = Float32Array.from(x.dataSync());
  for (let i = 0; i < d.length; i += 97) d[i] = NaN;
  return kiln.tensor(d, { shape: x.shape });
}

type Model = kiln.nn.Module;

function mlp(): Model {
  return new nn.Sequential(new nn.Linear(12, 16), new nn.ReLU(), new nn.Linear(16, 16), new nn.Tanh(), new nn.Linear(16, 3)).eval();
}

/** Non-trivial running statistics and affine parameters (a negative and a zero γ among them). */
function scrambleBatchNorm(bn: kiln.nn.BatchNorm2d, seed: number): void {
  kiln.noGrad(() => {
    const c = bn.runningMean!.shape[0]!;
    bn.runningMean!.copy_(kiln.randn([c], { seed }));
    bn.runningVar!.copy_(kiln.rand([c], { seed: seed + 1 }).add(0.25));
    const g = Float32Array.from(kiln.randn([c], { seed: seed + 2 }).dataSync());
    g[0] = -Math.abs(g[0]!) - 0.5;
    if (c > 1) g[1] = 0;
    bn.weight!.copy_(kiln.tensor(g));
    bn.bias!.copy_(kiln.randn([c], { seed: seed + 3 }));
  });
}

function cnn(): kiln.nn.Sequential {
  const m = new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(4, 6, 3, { bias: false }), new nn.BatchNorm2d(6, { eps: 1e-3 }), new nn.ReLU(),
    new nn.Flatten(), new nn.Linear(6 * 3 * 3, 5),
  );
  scrambleBatchNorm(m.at(1) as kiln.nn.BatchNorm2d, 11);
  scrambleBatchNorm(m.at(5) as kiln.nn.BatchNorm2d, 17);
  return m.eval();
}

function residual(): Model {
  const r = new Residual();
  scrambleBatchNorm(r.bn1, 23);
  scrambleBatchNorm(r.bn2, 29);
  return r.eval();
}

/** The model compiled at each level, run on `x`: results by level. */
function runAt(model: Model, specShape: Parameters<typeof spec>[0], x: kiln.Tensor, levels: readonly OptLevel[]): Map<OptLevel, { out: kiln.Tensor; fast: CompiledModel }> {
  const out = new Map<OptLevel, { out: kiln.Tensor; fast: CompiledModel }>();
  for (const level of levels) {
    const fast = compile(model, { inputs: [spec(specShape)], optimize: level });
    fast.run(x); // the first call returns eager's result: compare the plan's
    out.set(level, { out: fast.run(x) as kiln.Tensor, fast });
  }
  return out;
}

function agree(model: Model, specShape: Parameters<typeof spec>[0], x: kiln.Tensor, tol: number): Map<OptLevel, { out: kiln.Tensor; fast: CompiledModel }> {
  const runs = runAt(model, specShape, x, ['O0', ...LEVELS]);
  const ref = runs.get('O0')!.out;
  for (const level of LEVELS) {
    const d = relDiff(runs.get(level)!.out, ref);
    if (tol === 0) expect(d, level).toBe(0);
    else expect(d, level).toBeLessThan(tol);
  }
  return runs;
}

const ops = (fast: CompiledModel) => fast.graph.nodes.map((n) => n.op);

describe('O0 and optimized levels agree on models', () => {
  it('MLP (exact), NaN inputs included', () => {
    kiln.manualSeed(1);
    const model = mlp();
    for (const x of [kiln.randn([5, 12], { seed: 1 }), withNaN(kiln.randn([9, 12], { seed: 2 }))]) agree(model, [dim('batch'), 12], x, 0);
  });

  it('CNN with two batch norms (one conv without bias, eps 1e-3, negative and zero γ): BN folded, within 1e-5', () => {
    kiln.manualSeed(2);
    const model = cnn();
    for (const x of [kiln.randn([3, 1, 10, 10], { seed: 3 }), withNaN(kiln.randn([2, 1, 10, 10], { seed: 4 }))]) {
      const runs = agree(model, [dim('n'), 1, 10, 10], x, 1e-5);
      expect(ops(runs.get('O0')!.fast).filter((o) => o === 'batchNorm').length).toBe(2);
      for (const level of LEVELS) expect(ops(runs.get(level)!.fast)).not.toContain('batchNorm');
    }
  });

  it('nn.LSTM (one whole-sequence op) agrees exactly at every level, NaN inputs included', () => {
    kiln.manualSeed(3);
    const lstm = new nn.LSTM(3, 5, { numLayers: 2 }).eval();
    const x = kiln.randn([6, 2, 3], { seed: 5 });
    const flat = (r: unknown): kiln.Tensor[] => (r instanceof kiln.Tensor ? [r] : (r as unknown[]).flatMap(flat));
    const runs = new Map<OptLevel, CompiledModel>();
    for (const level of ['O0', ...LEVELS] as OptLevel[]) {
      const fast = compile(lstm, { inputs: [spec([6, dim('batch'), 3])], optimize: level });
      fast.run(x);
      runs.set(level, fast);
    }
    const ref = flat(runs.get('O0')!.run(withNaN(x)));
    for (const level of LEVELS) flat(runs.get(level)!.run(withNaN(x))).forEach((t, i) => expect(relDiff(t, ref[i]!)).toBe(0));
  });

  it('a hand-written RNN unrolled over 16 steps (O1 exact; O2/O3 within 1e-5): weight transposes folded and shared, none left at run time; at O2 the input projection is a linear', () => {
    kiln.manualSeed(8);
    class Cell extends nn.Module {
      ih = new nn.Linear(3, 6);
      hh = new nn.Linear(6, 6, { bias: false });
      forward(x: kiln.Tensor): kiln.Tensor {
        let h = kiln.zeros([x.shape[1]!, 6]);
        for (const xt of x.split(1, 0)) {
          const input = xt.reshape([x.shape[1]!, 3]).matmul(this.ih.weight.transpose()).add(this.ih.bias!);
          h = input.add(h.matmul(this.hh.weight.transpose())).tanh();
        }
        return h;
      }
    }
    const cell = new Cell().eval();
    const x = kiln.randn([16, 2, 3], { seed: 12 });
    const runs = new Map<OptLevel, CompiledModel>();
    for (const level of ['O0', ...LEVELS] as OptLevel[]) {
      const fast = compile(cell, { inputs: [spec([16, dim('batch'), 3])], optimize: level });
      fast.run(x);
      runs.set(level, fast);
    }
    const o0 = runs.get('O0')!.graph;
    const constTransposes = (g: typeof o0) => g.nodes.filter((n) => n.op === 'transpose' && g.constants.get(n.inputs[0]!.name)?.value === n.inputs[0]).length;
    expect(constTransposes(o0)).toBe(32);
    const ref = runs.get('O0')!.run(withNaN(x)) as kiln.Tensor;
    for (const level of LEVELS) {
      const fast = runs.get(level)!;
      const d = relDiff(fast.run(withNaN(x)) as kiln.Tensor, ref);
      if (level === 'O1') expect(d).toBe(0);
      else expect(d).toBeLessThan(1e-5);
      expect(constTransposes(fast.graph)).toBe(0);
      // O1: the 32 transposes go (folded, one per weight); O2: each step's matmul + bias is one linear,
      // and each step's add + tanh one fusedElementwise.
      expect(fast.graph.nodes.length).toBe(o0.nodes.length - 32 - (level === 'O1' ? 0 : 32));
      if (level !== 'O1') expect(fast.graph.nodes.filter((n) => n.op === 'linear').length).toBe(16);
      if (level !== 'O1') expect(fast.graph.nodes.filter((n) => n.op === 'fusedElementwise').length).toBe(16);
    }
  });

  it('residual block (batch norms folded into both convs, skip connection), within 1e-5, NaN inputs included', () => {
    kiln.manualSeed(4);
    const block = residual();
    for (const x of [kiln.randn([2, 4, 6, 6], { seed: 6 }), withNaN(kiln.randn([3, 4, 6, 6], { seed: 7 }))]) {
      const runs = agree(block, [dim('batch'), 4, 6, 6], x, 1e-5);
      expect(ops(runs.get('O1')!.fast)).toEqual(['conv2d', 'relu', 'conv2d', 'add', 'relu']);
    }
  });
});

describe('structure after the pipeline', () => {
  it('Conv→BN→ReLU in eval mode at O1 is conv2d + relu, and explain() lists the pipeline with counts', () => {
    kiln.manualSeed(5);
    const model = new nn.Sequential(new nn.Conv2d(3, 4, 3), new nn.BatchNorm2d(4), new nn.ReLU());
    scrambleBatchNorm(model.at(1) as kiln.nn.BatchNorm2d, 31);
    model.eval();
    const fast = compile(model, { inputs: [spec([dim('batch'), 3, 8, 8])], optimize: 'O1' });
    fast.run(kiln.randn([2, 3, 8, 8], { seed: 8 }));
    expect(ops(fast)).toEqual(['conv2d', 'relu']);
    const text = fast.explain();
    expect(text).toMatch(/pipeline O1: 3 → 2 nodes/);
    expect(text).toMatch(/ {4}bnFolding +3 → 2 nodes/);
    expect(text).toMatch(/# folded: mul\(%0\.weight, %\S+\)/);
  });

  it('O0 runs no pass: the graph is the traced one', () => {
    const model = mlp();
    const fast = compile(model, { inputs: [spec([dim('batch'), 12])], optimize: 'O0' });
    fast.run(kiln.randn([2, 12]));
    expect(fast.explain()).toContain('pipeline O0: 5 → 5 nodes, 6 → 6 constants (no passes)');
  });

  it('training mode: batch norm stays (parameters are graph inputs, nothing of theirs folds)', () => {
    const model = new nn.Sequential(new nn.Conv2d(2, 3, 3), new nn.BatchNorm2d(3), new nn.ReLU()).eval();
    const fast = compile(model, { inputs: [spec([dim('batch'), 2, 5, 5])], mode: 'training', optimize: 'O1' });
    fast.run(kiln.randn([2, 2, 5, 5]));
    expect(ops(fast)).toContain('batchNorm');
  });

  it('an unknown level is refused', () => {
    const fast = compile(mlp(), { inputs: [spec([dim('batch'), 12])], optimize: 'O9' as OptLevel });
    expect(() => fast.run(kiln.randn([2, 12]))).toThrow(/unknown optimization level 'O9'/);
  });
});

describe('folded constants follow the parameters they come from', () => {
  it('in-place updates of conv weights and BatchNorm statistics after compiling are seen', () => {
    kiln.manualSeed(6);
    const model = cnn();
    const fast = compile(model, { inputs: [spec([dim('n'), 1, 10, 10])] });
    const x = kiln.randn([2, 1, 10, 10], { seed: 9 });
    fast.run(x);
    const bn = model.at(1) as kiln.nn.BatchNorm2d;
    const conv = model.at(4) as kiln.nn.Conv2d;
    for (let step = 0; step < 3; step++) {
      kiln.noGrad(() => {
        bn.runningMean!.add_(0.5);
        bn.runningVar!.mul_(1.5);
        conv.weight.mul_(-0.75);
      });
      const want = kiln.noGrad(() => model.forward(x) as kiln.Tensor);
      expect(relDiff(fast.run(x) as kiln.Tensor, want)).toBeLessThan(1e-5);
    }
  });

  it('the interpreter on the optimized graph agrees with the plan (folded constants computed on reading)', () => {
    kiln.manualSeed(7);
    const model = cnn();
    const fast = compile(model, { inputs: [spec([dim('n'), 1, 10, 10])] });
    const x = kiln.randn([2, 1, 10, 10], { seed: 10 });
    fast.run(x);
    const y = fast.run(x) as kiln.Tensor;
    const [yi] = kiln.noGrad(() => interpretEager(fast.graph, [x]));
    expect(relDiff(yi!, y)).toBe(0);
  });
});

describe('dumpIR', () => {
  it('prints the graph before the pipeline and after each pass', () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (t: string) => lines.push(t);
    try {
      const fast = compile(mlp(), { inputs: [spec([dim('batch'), 12])], optimize: 'O1', dumpIR: true });
      fast.run(kiln.randn([2, 12]));
    } finally {
      console.log = log;
    }
    expect(lines[0]).toMatch(/^\/\/ IR before the O1 pipeline\ngraph\(%x: float32\[batch, 12\]\)/);
    expect(lines.some((l) => /^\/\/ IR after constantFolding \(5 nodes, 6 constants, unchanged\)\ngraph/.test(l))).toBe(true);
  });
});

describe('KILN_DUMP_IR', () => {
  it('=1 turns the dumps on without the option', () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (t: string) => lines.push(t);
    process.env['KILN_DUMP_IR'] = '1';
    try {
      compile(mlp(), { inputs: [spec([dim('batch'), 12])], optimize: 'O1' }).run(kiln.randn([2, 12]));
    } finally {
      delete process.env['KILN_DUMP_IR'];
      console.log = log;
    }
    expect(lines.filter((l) => l.startsWith('// IR after ')).length).toBeGreaterThan(5);
  });
});

describe('graph-break segments', () => {
  it('go through the same pipeline at the compile\'s level, with the same results as eager', () => {
    const f = (x: kiln.Tensor) => {
      const y = x.mul(1).neg().neg().exp();
      return y.sum().item() > 3 ? y.add(-0).relu() : y.tanh();
    };
    const lines: string[] = [];
    const log = console.log;
    console.log = (t: string) => lines.push(t);
    let fast: CompiledModel;
    try {
      fast = compile(f, { inputs: [spec([dim('batch'), 3])], optimize: 'O1', dumpIR: true });
      for (const seed of [1, 2, 3]) {
        const x = withNaN(kiln.randn([2, 3], { seed }));
        const got = fast.run(x) as kiln.Tensor, want = f(x);
        expect(relDiff(got, want)).toBe(0);
      }
    } finally {
      console.log = log;
    }
    // The segment before the read: exp reads x·1 directly, the double negation is gone (the
    // lazy tracer keeps the intermediates the code still holds as segment outputs, and the
    // literal 1 comes in as an input, so those stay).
    const after = lines.filter((l) => l.startsWith('// IR after deadCode') && l.includes('exp('));
    expect(after.length).toBeGreaterThan(0);
    const last = after.at(-1)!;
    const mul = /%(\w+): float32\[2, 3\] = mul\(/.exec(last)![1]!;
    expect(last).toContain(`= exp(%${mul})`);
    expect(fast!.stats.segmentsCompiled).toBeGreaterThan(0);
  });
});
