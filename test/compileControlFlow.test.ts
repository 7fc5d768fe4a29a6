/**
 * Compiled plans run control flow: `kiln.cond` traces into one `If` node, and the plan's
 * interpreter loop runs it (the condition read on the host, the taken branch's steps
 * from the plan's own step table; branch values in fresh storages, freed after their
 * last use).
 *
 *  - Functions with `kiln.cond` compiled at O0..O3 on wasm, with a symbolic batch dim:
 *    one trace serves both outcomes and every batch size (traceCount 1), and every plan
 *    run (from the second call on) gives eager's bits (tolerance 0: the same kernels run;
 *    the passes do not rewrite inside branches, and the main graph's rewrites here keep
 *    the bits, as planArena.test.ts shows for these ops). Inputs hold NaN, ±Inf, ±0, odd
 *    widths and batch 1. Cases: a single output; main-graph values (an elementwise chain
 *    the passes fuse, a repeated op) read only inside branches; a branch returning a main-graph value
 *    as is and a reshape of one, with values made after it (an arena would reuse its
 *    block: the memory plan keeps such values out of the arena); a branch returning an
 *    input (the caller's tensor survives disposing the result); several outputs with a
 *    nested cond; a module whose parameters are read inside a branch (a live update is
 *    seen).
 *  - No storage outlives a run: the wasm backend's live bytes are unchanged over runs
 *    alternating between the branches, outputs disposed.
 *  - Compiled training (the plan run through eager dispatch) through a cond gives eager's
 *    gradients (tolerance 0).
 *  - Refusals: a backend that reads only asynchronously (webgpu) refuses a plan with an
 *    If, naming the node; a `Loop` (hand-built IR) is refused by name. The schedule of
 *    an If: a branch's own result is handed over (`moves`), an input it returns shared.
 *  - Export: a `kiln.cond` model exported to ONNX is covered by onnx.export.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import { compile, dim, spec } from '../src/compiled/index.js';
import { traceOptimized } from '../src/compiled/compile.js';
import { lowerGraph } from '../src/compiled/lower.js';
import { ExecutionPlan } from '../src/compiled/executionPlan.js';
import { addLoop, Graph, IF_OP, schedule, type Value } from '../src/ir/index.js';
import type { OptLevel } from '../src/passes/index.js';
import type { Backend } from '../src/runtime/backend.js';
import { identical } from './support/identical.js';
import { kilnError } from './support/kilnError.js';

const { nn } = kiln;
let wasm: Backend;

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
  wasm = engine.backends.get('wasm')!;
});

const LEVELS: readonly OptLevel[] = ['O0', 'O1', 'O2', 'O3'];
const leaves = (r: unknown): kiln.Tensor[] => (r instanceof kiln.Tensor ? [r] : (r as unknown[]).flatMap(leaves));

/** A [rows, cols] tensor from a seed, with NaN/±Inf/±0 written in where `special` says. */
function data(rows: number, cols: number, seed: number, offset: number, special = false): kiln.Tensor {
  const d = Float32Array.from(kiln.randn([rows, cols], { seed }).dataSync(), (v) => v + offset);
  if (special) {
    d[0] = -0;
    if (d.length > 3) d[3] = 0;
    if (d.length > 6) d[6] = Infinity;
  }
  return kiln.tensor(d, { shape: [rows, cols] });
}

interface Case {
  name: string;
  f: (...xs: kiln.Tensor[]) => kiln.Tensor | kiln.Tensor[];
  specs: kiln.InputSpec[];
  /** Input sets: the first is traced; together they take both branches (of every cond) at two batch sizes. */
  inputs: () => kiln.Tensor[][];
}

const CASES: Case[] = [
  {
    name: 'one output',
    f: (x) => kiln.cond(x.sum().greater(0), () => x.relu().mul(2).add(x.exp()), () => x.neg().tanh()),
    specs: [spec([dim('batch'), 5])],
    inputs: () => [
      [data(3, 5, 1, 1, true)], // sum > 0 (an Inf in it): then
      [data(3, 5, 2, -1, true)], // an +Inf in it: sum +Inf, then again
      [data(3, 5, 3, -1)], // else
      [data(1, 5, 4, -1)], // else, batch 1
      [data(1, 5, 5, 1)], // then, batch 1
      [kiln.tensor([[NaN, 1, 2, 3, 4]])], // NaN sum: greater is false: else
    ],
  },
  {
    name: 'main-graph values returned by a branch, values made after them',
    f: (x, y) => {
      const a = x.mul(3); // returned as is by the then-branch
      const b = y.sub(1);
      const [p, q] = kiln.cond(a.mean().less(b.mean()), () => [a, b.reshape([-1])], () => [x.exp().add(b), a.neg().reshape([-1])]);
      const z = x.add(1).mul(y.sub(2)).tanh(); // made after a's last use in the main graph
      const w = z.mul(z).add(x); // more intermediates of a's size
      return [p!.add(w), q!, b.mul(z)];
    },
    specs: [spec([dim('batch'), 7]), spec([dim('batch'), 7])],
    inputs: () => [
      [data(2, 7, 10, -1, true), data(2, 7, 11, 1)], // then
      [data(2, 7, 12, 1), data(2, 7, 13, -1)], // else
      [data(1, 7, 14, -1), data(1, 7, 15, 1)], // then
      [data(1, 7, 16, 1, true), data(1, 7, 17, -1)], // else
    ],
  },
  {
    name: 'a branch returning an input',
    f: (x) => kiln.cond(x.max().greater(1), () => x, () => x.abs().add(0.5)),
    specs: [spec([dim('batch'), 3])],
    inputs: () => [[data(4, 3, 20, 2)], [data(4, 3, 21, -5)], [data(1, 3, 22, -5)], [data(1, 3, 23, 3)]],
  },
  {
    name: 'main-graph values used only inside branches (an elementwise chain, a repeat of a branch op)',
    f: (x) => {
      const h = x.mul(2).add(1).tanh(); // read only by the then-branch
      const m = x.mul(2); // the same op again: read only by the else-branch
      return kiln.cond(x.min().greaterEqual(-0.5), () => h.mul(x.mul(2)), () => m.sub(x.mul(2)).add(x.abs()));
    },
    specs: [spec([dim('batch'), 9])],
    inputs: () => [[data(2, 9, 35, 2, true)], [data(2, 9, 36, -1, true)], [data(1, 9, 37, 3)], [data(1, 9, 38, -3)]],
  },
  {
    name: 'several outputs, a nested cond',
    f: (x) => {
      const [a, b] = kiln.cond(x.mean().greater(0),
        () => [x.exp(), kiln.cond(x.max().greater(1), () => x.sum(1), () => x.min(1))],
        () => [x, x.sum(1).neg()]);
      return [a!.add(1), b!];
    },
    specs: [spec([dim('batch'), 3])],
    inputs: () => [
      [data(4, 3, 30, 3)], // then, inner then
      [kiln.tensor([[0.5, 0.25, 0.75], [0.1, -0, 0.2]])], // then, inner else (max ≤ 1)
      [data(2, 3, 31, -3, true)], // else
      [data(1, 3, 32, -3)], // else, batch 1
      [data(1, 3, 33, 3)], // then, inner then, batch 1
    ],
  },
];

describe('kiln.cond compiled on wasm agrees with eager for both outcomes, with one trace', () => {
  for (const c of CASES) {
    for (const level of LEVELS) {
      it(`${c.name} at ${level}`, () => {
        const fast = compile(c.f, { inputs: c.specs, optimize: level, target: 'wasm' });
        const sets = c.inputs();
        fast.run(...sets[0]!); // traces (eager's result)
        for (const round of [0, 1]) {
          for (const [i, xs] of sets.entries()) {
            const got = leaves(fast.run(...xs));
            const want = leaves(c.f(...xs));
            expect(got.length).toBe(want.length);
            got.forEach((g, k) => expect(identical(g, want[k]!), `${c.name} ${level}: set ${i} output ${k} (round ${round}): ${g.toArray()} vs ${want[k]!.toArray()}`).toBe(true));
          }
        }
        expect(fast.traceCount).toBe(1);
        expect(fast.graph.nodes.some((n) => n.op === IF_OP)).toBe(true);
      });
    }
  }

  it('a result that is the input itself: disposing it leaves the caller\'s tensor alive', () => {
    const c = CASES.find((k) => k.name === 'a branch returning an input')!;
    const fast = compile(c.f, { inputs: c.specs, optimize: 'O3' });
    const x = data(4, 3, 40, 2); // max > 1: the then-branch returns x
    fast.run(x);
    const y = fast.run(x) as kiln.Tensor;
    expect(identical(y, x)).toBe(true);
    y.dispose();
    expect(x.disposed).toBe(false);
    expect(x.toArray()).toEqual(data(4, 3, 40, 2).toArray());
  });

  it('a value a branch returns stays out of the arena; the If result too', () => {
    const c = CASES.find((k) => k.name.startsWith('main-graph values returned'))!;
    const xs = c.inputs()[0]!;
    const traced = traceOptimized(c.f, { inputs: c.specs, optimize: 'O3' }, xs);
    const { plan } = lowerGraph(traced.graph, 'wasm', new Map(), { optimize: 'O3' });
    plan.run(xs, new Map([['batch', 2]]));
    const { memory } = plan.memoryPlans()[0]!;
    const ifNode = plan.graph.nodes.find((n) => n.op === IF_OP)!;
    const s = plan.schedule;
    const slot = (v: Value) => s.slots.get(v)!;
    const returned = ifNode.subgraphs[0]!.outputs[0]!; // a = x * 3, returned as is
    expect(returned.producer?.op).toBe('mul');
    expect(memory.offsets[slot(returned)]).toBe(-1);
    for (const o of ifNode.outputs) expect(memory.offsets[slot(o)]).toBe(-1);
    // The main graph's other intermediates are still planned.
    expect(memory.offsets.filter((o) => o >= 0).length).toBeGreaterThan(0);
  });

  it('a module whose parameters a branch reads: one trace, and a live update is seen', () => {
    class Gate extends nn.Module {
      readonly lin = new nn.Linear(5, 5);
      forward(x: kiln.Tensor): kiln.Tensor {
        return kiln.cond(x.sum().greater(0), () => this.lin.forward(x).tanh(), () => x.mul(2).sub(1));
      }
    }
    kiln.manualSeed(7);
    const m = new Gate().eval();
    const fast = compile(m, { inputs: [spec([dim('batch'), 5])], optimize: 'O3' });
    const pos = data(3, 5, 50, 2), neg = data(2, 5, 51, -2);
    fast.run(pos);
    for (const x of [pos, neg, pos]) expect(identical(fast.run(x) as kiln.Tensor, m.forward(x))).toBe(true);
    kiln.noGrad(() => m.lin.weight.copy_(kiln.randn([5, 5], { seed: 52 })));
    for (const x of [neg, pos]) expect(identical(fast.run(x) as kiln.Tensor, m.forward(x))).toBe(true);
    expect(fast.traceCount).toBe(1);
  });
});

describe('memory', () => {
  it('no storage outlives a run: live bytes unchanged over runs alternating the branches', () => {
    for (const c of CASES) {
      const fast = compile(c.f, { inputs: c.specs, optimize: 'O3' });
      const sets = c.inputs();
      const runAll = () => { for (const xs of sets) for (const t of leaves(fast.run(...xs))) t.dispose(); };
      runAll(); // trace
      runAll(); // step tables, arena
      const before = wasm.liveBytes();
      for (let i = 0; i < 5; i++) runAll();
      expect(wasm.liveBytes(), c.name).toBe(before);
    }
  });
});

describe('compiled training through a cond', () => {
  it('gradients equal eager for both branches', () => {
    class Gate extends nn.Module {
      readonly a = new nn.Linear(4, 3);
      readonly b = new nn.Linear(4, 3);
      forward(x: kiln.Tensor): kiln.Tensor {
        const h = x.tanh();
        return kiln.cond(x.mean().greater(0), () => this.a.forward(h).relu(), () => this.b.forward(x).mul(h.sum(1, { keepDims: true })));
      }
    }
    const make = () => { kiln.manualSeed(21); return new Gate(); };
    const m1 = make(), m2 = make();
    const fast = compile(m1, { inputs: [spec([dim('batch'), 4])], mode: 'training' });
    for (const [n, off] of [[3, 1], [3, -1], [2, 1], [1, -1]] as const) {
      const x = data(n, 4, 60 + n, off);
      m1.zeroGrad();
      m2.zeroGrad();
      (fast.run(x) as kiln.Tensor).square().sum().backward();
      m2.forward(x).square().sum().backward();
      m1.parameters().forEach((p, i) => {
        const q = m2.parameters()[i]!;
        expect(p.grad === null).toBe(q.grad === null);
        if (p.grad && q.grad) expect(identical(p.grad, q.grad)).toBe(true);
      });
    }
    expect(fast.traceCount).toBe(1);
  });
});

describe('what plans refuse', () => {
  const ifGraph = (): Graph => {
    const g = new Graph();
    const x = g.addInput('x', { dtype: 'float32', shape: [3] });
    const s = g.addNode('sum', [x], { axes: [0], keepDims: false }, [{ dtype: 'float32', shape: [] }]).outputs[0]!;
    const zero = g.addConstant('zero', new Float32Array([0]), { dtype: 'float32', shape: [] });
    const c = g.addNode('greater', [s, zero], {}, [{ dtype: 'bool', shape: [] }]).outputs[0]!;
    const t = new Graph(g);
    t.outputs = t.addNode('relu', [x], {}, [x.type]).outputs;
    const e = new Graph(g);
    e.outputs = [x];
    g.outputs = g.addNode(IF_OP, [c], {}, [x.type], undefined, [t, e]).outputs;
    return g;
  };

  it('a backend that reads only asynchronously (webgpu) refuses an If, naming it', () => {
    const asyncOnly = Object.create(wasm, { readsAsyncOnly: { value: true } }) as Backend;
    const e = kilnError(() => new ExecutionPlan(ifGraph(), asyncOnly, new Map()));
    expect(e.message).toMatch(/cannot run %\w+ = If\(%\w+\) \(kiln\.cond\).*reads only asynchronously.*kiln\.where/s);
    // The same graph runs on wasm (the plan built directly: else returns the input).
    const plan = new ExecutionPlan(ifGraph(), wasm, new Map());
    const x = kiln.tensor([-1, 0.5, -2]);
    const [y] = plan.run([x], new Map());
    expect(y!.toArray()).toEqual([-1, 0.5, -2]);
    y!.dispose();
    expect(x.disposed).toBe(false);
    const [z] = plan.run([kiln.tensor([1, -0.5, 2])], new Map());
    expect(z!.toArray()).toEqual([1, 0, 2]);
  });

  it('the schedule frees branch values in the branch and hands a branch\'s own result to the If', () => {
    const s = schedule(ifGraph());
    const ifStep = s.main.steps[2]!;
    const [thenB, elseB] = ifStep.blocks;
    expect(ifStep.node.op).toBe(IF_OP);
    // then: relu(x) is made there and returned once (moved); else: returns the input x (shared).
    expect(thenB!.moves).toEqual([true]);
    expect(elseB!.moves).toEqual([false]);
    expect(s.freeable[ifStep.outputs[0]!]).toBe(true);
    expect(s.freeable[thenB!.outputs[0]!]).toBe(true);
    // The If result is the graph's output (kept); sum is freed at greater, greater's result at the If.
    expect(s.main.steps.map((st) => st.release.length)).toEqual([0, 1, 1]);
  });

  it('a Loop is refused by name', () => {
    const g = new Graph();
    const n = g.addInput('n', { dtype: 'int32', shape: [] });
    const one = g.addConstant('one', new Float32Array([1]), { dtype: 'float32', shape: [] });
    const body = new Graph(g);
    body.addInput('i', { dtype: 'int32', shape: [] });
    const c = body.addInput('c', { dtype: 'bool', shape: [] });
    const acc = body.addInput('acc', { dtype: 'float32', shape: [] });
    body.outputs = [c, body.addNode('add', [acc, acc], {}, [acc.type]).outputs[0]!];
    g.outputs = addLoop(g, { maxTripCount: n, carried: [one], body }).outputs;
    expect(kilnError(() => new ExecutionPlan(g, wasm, new Map())).message).toMatch(/cannot run Loop nodes yet/);
  });
});
