/**
 * One path through the compiler: the lazy (graph-break) segments are IR graphs, lowered
 * like traced entries (verified; passes once lower() runs them), cached by structure,
 * with the source lines the graph tracer records.
 *
 * Tolerances: compiled results run the kernels eager runs, so they are compared for
 * exact equality.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { checkGraph, type Graph } from '../src/ir/index.js';
import { lower, type CompileTarget } from '../src/compiled/lower.js';
import { LazyTracer } from '../src/compiled/lazyTracer.js';
import { SegmentCache } from '../src/compiled/segmentCache.js';
import { getBackend } from '../src/eager/engine.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

const THIS_FILE = fileURLToPath(import.meta.url);

function lineOf(marker: string): number {
  return readFileSync(THIS_FILE, 'utf8').split('\n').findIndex((l) => l.includes(marker)) + 1;
}

/** A segment cache that lowers like compile() does and keeps every graph it was asked to compile. */
function recordingCache(): { cache: SegmentCache; lowered: Graph[] } {
  const lowered: Graph[] = [];
  const cache = new SegmentCache((g, backend) => {
    lowered.push(g);
    return lower(g, backend.name as CompileTarget);
  });
  return { cache, lowered };
}

function gated(x: kiln.Tensor, w: kiln.Tensor): kiln.Tensor {
  const h = x.matmul(w).add(1); // segment 1
  if (h.sum().item() > 0) return h.relu().mul(2); // segment 2a
  return h.tanh().sub(1); // segment 2b
}

describe('lazy segments are IR graphs', () => {
  it('each segment is a verified Graph with the source lines of this file, compiled once per structure', () => {
    const { cache, lowered } = recordingCache();
    const w = kiln.eye(4).mul(0.5); // keeps the sign of x's sum: both branches run
    const xs = [kiln.randn([3, 4], { seed: 2 }).add(3), kiln.randn([3, 4], { seed: 3 }).sub(3)];
    for (let i = 0; i < 6; i++) {
      const x = xs[i % 2]!;
      const got = kiln.noGrad(() => new LazyTracer(cache).call(() => gated(x, w)));
      const want = kiln.noGrad(() => gated(x, w));
      expect(got.toArray()).toEqual(want.toArray());
    }
    // Segment 1, then one per branch: compiled once each, then served from the cache.
    expect(lowered.map((g) => g.nodes.map((n) => n.op))).toEqual([['matmul', 'add', 'sum'], ['relu', 'mul'], ['tanh', 'sub']]);
    expect(cache.compiled).toBe(3);
    expect(cache.runs).toBe(12);
    expect(cache.entries().map((s) => s.hits)).toEqual([6, 3, 3]);
    for (const g of lowered) expect(checkGraph(g)).toEqual([]);
    const file = 'compile.groundwork.test.ts';
    const [first, a, b] = lowered as [Graph, Graph, Graph];
    expect(first.nodes[0]!.source).toContain(`${file}:${lineOf('// segment 1')}:`);
    expect(first.nodes[2]!.source).toContain(`${file}:${lineOf('if (h.sum().item() > 0)')}:`);
    expect(a.nodes.every((n) => n.source?.includes(`${file}:${lineOf('// segment 2a')}:`))).toBe(true);
    expect(b.nodes.every((n) => n.source?.includes(`${file}:${lineOf('// segment 2b')}:`))).toBe(true);
    // Every value a live lazy tensor stands for is an output (the read sum, h for later, and
    // x·w, whose tensor lives until the call's scope ends).
    expect(first.outputs.map((v) => v.producer?.op)).toEqual(['matmul', 'add', 'sum']);
    cache.dispose();
  });

  it('a kernel error inside a lazy segment names the line of the op that failed', () => {
    const f = (x: kiln.Tensor, idx: kiln.Tensor): kiln.Tensor => {
      const n = x.sum().item(); // a break before the gather
      return x.mul(n).gather(0, idx); // the bad gather
    };
    const fast = kiln.compile(f, { inputs: [kiln.spec([3, 2]), kiln.spec([1, 2], 'int32')] });
    const x = kiln.ones([3, 2]);
    fast.run(x, kiln.tensor([[0, 1]], { dtype: 'int32' })); // traced
    fast.run(x, kiln.tensor([[2, 1]], { dtype: 'int32' })); // lazy
    let err: unknown;
    try {
      fast.run(x, kiln.tensor([[7, 1]], { dtype: 'int32' }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(kiln.KilnError);
    expect((err as kiln.KilnError).message).toContain('out of range');
    expect((err as kiln.KilnError).callSite).toContain(`compile.groundwork.test.ts:${lineOf('// the bad gather')}:`);
  });

  it('a structure first met in the middle of a cached one still names its own lines', () => {
    const { cache, lowered } = recordingCache();
    const x = kiln.randn([2, 3], { seed: 4 });
    const run = (f: () => kiln.Tensor) => kiln.noGrad(() => new LazyTracer(cache).call(f));
    run(() => x.exp().neg()); // path A
    run(() => x.exp().abs()); // path B
    expect(lowered.length).toBe(2);
    const [, b] = lowered as [Graph, Graph];
    // exp is on A's cached path (its line is taken from there); abs left it and is found on this line.
    expect(b.nodes[1]!.source).toContain(`compile.groundwork.test.ts:${lineOf('// path B')}:`);
    cache.dispose();
  });

  it('a compiled module with a break matches eager over both branches, through lower()', () => {
    class Gated extends nn.Module {
      fc = new nn.Linear(4, 4);
      forward(x: kiln.Tensor): kiln.Tensor {
        const h = this.fc.forward(x);
        return h.mean().item() > 0 ? h.relu() : h.tanh();
      }
    }
    const model = new Gated().eval();
    const fast = kiln.compile(model, { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
    for (let i = 0; i < 6; i++) {
      const x = kiln.randn([1 + i, 4], { seed: i }).add(i % 2 ? 2 : -2);
      const want = kiln.noGrad(() => model.forward(x));
      expect((fast.run(x) as kiln.Tensor).toArray()).toEqual(want.toArray());
    }
    expect(fast.stats.segmentsCompiled).toBeGreaterThan(0);
  });
});

describe('a plan is data; executors run it through the interpreter loop', () => {
  it('kernels, eager with the tape, and the reference interpreter agree on one lowered graph', async () => {
    const { runPlanSlots } = await import('../src/compiled/kernelExecutor.js');
    const { runPlanEager, interpretEager } = await import('../src/compiled/eagerExecutor.js');
    const model = new nn.Sequential(new nn.Linear(3, 5), new nn.Tanh(), new nn.Linear(5, 2));
    const fast = kiln.compile(model, { inputs: [kiln.spec([kiln.dim('batch'), 3])], optimize: 'O0' });
    const x = kiln.randn([4, 3], { seed: 9 });
    fast.run(x);
    const plan = lower(fast.graph, 'wasm');
    const bindings = new Map([['batch', 4]]);
    kiln.scope(() => {
      const want = kiln.noGrad(() => model.forward(x)).toArray();
      const [k] = runPlanSlots(plan, [x], bindings);
      expect(new kiln.Tensor(k!.storage, k!.shape, k!.dtype, plan.backend).toArray()).toEqual(want);
      const xg = x.clone().requiresGrad_();
      const [e] = runPlanEager(plan, [xg], bindings);
      expect(e!.toArray()).toEqual(want);
      e!.sum().backward();
      expect(xg.grad).not.toBeNull(); // the eager executor recorded the tape
      const [i] = kiln.noGrad(() => interpretEager(fast.graph, [x]));
      expect(i!.toArray()).toEqual(want);
    });
    const before = kiln.memory();
    for (let r = 0; r < 20; r++) kiln.scope(() => { runPlanSlots(plan, [x], bindings).forEach((sl) => new kiln.Tensor(sl.storage, sl.shape, sl.dtype, plan.backend).dispose()); });
    expect(kiln.memory()).toEqual(before); // intermediates freed after their last use
    plan.dispose();
  });
});

describe('explain() shows the segments that actually run', () => {
  class Branchy extends nn.Module {
    fc = new nn.Linear(4, 4);
    forward(x: kiln.Tensor): kiln.Tensor {
      const h = this.fc.forward(x);
      if (h.sum().item() > 0) return h.relu(); // branch relu
      return h.tanh(); // branch tanh
    }
  }

  it('each compiled segment with its graph (source lines of this file) and how often it ran', () => {
    const model = new Branchy().eval();
    const fast = kiln.compile(model, { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
    const w = kiln.eye(4);
    kiln.noGrad(() => { model.fc.weight.copy_(w); model.fc.bias!.copy_(kiln.zeros([4])); });
    const pos = kiln.ones([3, 4]), neg = kiln.ones([3, 4]).neg();
    fast.run(pos); // traces (eager)
    expect(fast.explain()).toContain('none has run lazily yet');
    for (const x of [pos, neg, neg, pos, neg]) expect((fast.run(x) as kiln.Tensor).toArray()).toEqual(kiln.noGrad(() => model.forward(x)).toArray());
    const text = fast.explain();
    expect(text).toContain('1 graph break, 2 compiled segments with eager code between them, 5 hits');
    expect(text).toContain('segments compiled at run time: 3, segment runs: 10');
    expect(text).toMatch(/segment 1 on \w+: \d+ nodes?, 5 runs\n\s+graph\(/);
    expect(text).toMatch(new RegExp(`segment 2 on \\w+: 1 node, 2 runs\\n.*\\n\\s+%\\d+: float32\\[3, 4\\] = relu\\(%e\\)\\s+# .*compile\\.groundwork\\.test\\.ts:${lineOf('// branch relu')}:`));
    expect(text).toMatch(new RegExp(`segment 3 on \\w+: 1 node, 3 runs\\n.*\\n\\s+%\\d+: float32\\[3, 4\\] = tanh\\(%e\\)\\s+# .*compile\\.groundwork\\.test\\.ts:${lineOf('// branch tanh')}:`));
    fast.dispose();
  });
});

describe('folded constants: the constant-folding pass decides, the plan recomputes them when a parameter changes', () => {
  it('transpose(w) of a live parameter runs once per change of w at O1, every run at O0; results follow in-place updates', () => {
    const backend = getBackend();
    const real = backend.kernels.get('transpose')!;
    let calls = 0;
    backend.kernels.set('transpose', (...args: Parameters<typeof real>) => { calls++; return real(...args); });
    try {
      const w = kiln.randn([3, 4], { seed: 1 });
      const f = (x: kiln.Tensor) => x.matmul(w.transpose()).relu();
      const x = kiln.randn([2, 4], { seed: 2 });
      for (const [level, perRun] of [['O1', 0], ['O0', 1]] as const) {
        const fast = kiln.compile(f, { inputs: [kiln.spec([kiln.dim('batch'), 4])], optimize: level });
        fast.run(x); // traces (eager: one transpose)
        calls = 0;
        for (let i = 0; i < 3; i++) expect((fast.run(x) as kiln.Tensor).toArray()).toEqual(f(x).toArray());
        calls -= 3; // the eager reference computed above
        expect(calls).toBe(level === 'O1' ? 1 : 3 * perRun); // O1: computed on the first run only
        if (level === 'O1') {
          const c = [...fast.graph.constants.values()].find((k) => k.folded);
          expect(c?.folded?.op).toBe('transpose');
          kiln.noGrad(() => w.mul_(2)); // a new version: recomputed once
          calls = 0;
          for (let i = 0; i < 2; i++) expect((fast.run(x) as kiln.Tensor).toArray()).toEqual(f(x).toArray());
          expect(calls - 2).toBe(1);
        }
        fast.dispose();
      }
    } finally {
      backend.kernels.set('transpose', real);
    }
  });
});

describe('uniform constants → expand is a pass (passes/uniformConstants.ts)', () => {
  it('rewrites filled fixed constants (NaN included) before their first reader, leaves mixed (0 and -0), one-element and live ones; same results', async () => {
    const { parseGraph, verifyGraph } = await import('../src/ir/index.js');
    const { uniformConstants, NO_FUSION } = await import('../src/passes/index.js');
    const { interpretEager } = await import('../src/compiled/eagerExecutor.js');
    const text = `graph(%x: float32[2, 3]) {
      const %z: float32[2, 3] = [0, 0, 0, 0, 0, 0]
      const %n: float32[2, 3] = [nan, nan, nan, nan, nan, nan]
      const %m: float32[2, 3] = [0, -0, 0, 0, 0, 0]
      const %one: float32[1] = [5]
      const %w: float32[2, 3]
      %a: float32[2, 3] = mul(%x, %m)
      %b: float32[2, 3] = add(%a, %z)
      %c: float32[2, 3] = add(%b, %n)
      %d: float32[2, 3] = add(%c, %w)
      %e: float32[2, 3] = mul(%d, %one)
      return %e, %z
    }`;
    const w = new Float32Array([1, 1, 1, 1, 1, 1]);
    const parse = () => parseGraph(text, { constants: new Map([['w', w]]) });
    const g = parse();
    expect(uniformConstants.run(g, { mode: 'inference', live: new Set(['w']), target: NO_FUSION })).toBe(true);
    verifyGraph(g);
    expect(g.nodes.map((n) => n.op)).toEqual(['mul', 'expand', 'add', 'expand', 'add', 'add', 'mul']);
    expect(g.constants.get('z')!.value.type.shape).toEqual([]);
    expect(g.constants.get('m')!.value.type.shape).toEqual([2, 3]); // 0 and -0 differ
    expect(g.nodes[1]!.attrs).toEqual({ shape: [2, 3] });
    expect(g.outputs[1]!.producer?.op).toBe('expand'); // the returned constant too
    const x = kiln.randn([2, 3], { seed: 3 });
    const [before, after] = [parse(), g].map((h) => kiln.noGrad(() => interpretEager(h, [x])).map((t) => Array.from(t.dataSync())));
    expect(after).toEqual(before);
    expect(uniformConstants.run(g, { mode: 'inference', live: new Set(['w']), target: NO_FUSION })).toBe(false);
  });

  it('a zeros state sized by a symbolic batch stays symbolic (kiln.compile runs the pass on every trace before comparing them)', () => {
    const f = (x: kiln.Tensor) => x.add(kiln.zeros([x.shape[0]!, 4]));
    const fast = kiln.compile(f, { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
    fast.run(kiln.ones([3, 4]));
    expect(fast.graph.toString()).toMatch(/expand\(%c\w*\) \{shape=\[batch, 4\]\}/);
    expect((fast.run(kiln.ones([5, 4])) as kiln.Tensor).shape).toEqual([5, 4]);
    expect(fast.traceCount).toBe(1);
  });
});
