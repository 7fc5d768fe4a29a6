/**
 * The pass framework and each pass on small graphs: the pattern matcher, the
 * PassManager (levels, custom passes, the verifier between passes, reports), dead code,
 * CSE, constant folding, the algebraic rules, dropout removal and BN folding. Every
 * rewrite is checked both ways: the structure it promises, and the graph run by the
 * interpreter before and after on inputs with NaN, ±0 and ±Infinity.
 *
 * Tolerances: every pass here but BN folding keeps results identical (Object.is per
 * element); BN folding is checked within 1e-5 of the largest output magnitude.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { identical } from './support/identical.js';
import { compile, dim, interpretEager, spec } from '../src/compiled/index.js';
import { kernelEvaluator } from '../src/compiled/lower.js';
import { getBackend } from '../src/eager/engine.js';
import { checkGraph, Graph, parseGraph, verifyGraph, type TypedArray } from '../src/ir/index.js';
import {
  algebraicSimplification, biasFusion, bnFolding, commonSubexpressionElimination, constantFolding, deadCodeElimination, dropoutRemoval,
  formatReport, matchAt, NO_FUSION, P, PassManager, rewrite, rule, type Pass, type PassContext,
} from '../src/passes/index.js';

beforeAll(async () => {
  await kiln.init();
});

function ctxWith(live: readonly string[] = [], extra: Partial<PassContext> = {}): PassContext {
  return { mode: 'inference', live: new Set(live), evaluate: kernelEvaluator(getBackend('reference')), target: NO_FUSION, ...extra };
}

const ops = (g: Graph) => g.nodes.map((n) => n.op);

/** Float32 data with the edge values every exactness check includes. */
const EDGES = [NaN, 0, -0, Infinity, -Infinity, 1.5, -2.25, 3e-39, -7];

function edgeInput(shape: number[]): kiln.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return kiln.tensor(Float32Array.from({ length: n }, (_, i) => EDGES[i % EDGES.length]!), { shape });
}

/** Runs `pass` on a copy of `g` and checks it left the results identical on `inputs`. */
function runExact(g: Graph, pass: Pass, ctx: PassContext, inputs: readonly kiln.Tensor[]): Graph {
  const before = kiln.scope(() => interpretEager(g, inputs).map((t) => t.keep()));
  const h = g.clone();
  pass.run(h, ctx);
  verifyGraph(h);
  const after = kiln.scope(() => interpretEager(h, inputs).map((t) => t.keep()));
  after.forEach((t, i) => expect(identical(t, before[i]!), `output ${i} after ${pass.name}:\n${h.toString()}`).toBe(true));
  return h;
}

function parse(text: string, constants: Record<string, TypedArray> = {}): Graph {
  return verifyGraph(parseGraph(text, { constants: new Map(Object.entries(constants)) }));
}

describe('pattern matcher', () => {
  const make = () => parse(`graph(%x: float32[4]) {
    const %one: float32[] = [1]
    const %w: float32[4]
    %a: float32[4] = mul(%one, %x)
    %b: float32[4] = sub(%a, %a)
    %c: float32[4] = mul(%x, %w)
    return %b, %c
  }`, { w: new Float32Array(4).fill(1) });
  let g: Graph, ctx: PassContext;
  beforeAll(() => {
    g = make();
    ctx = ctxWith(['w']);
  });

  it('matches commutative operands in either order and binds names', () => {
    const m = matchAt(g, ctx, P.commutative('mul', [P.any('x'), P.scalar(1, 'k')]), g.nodes[0]!);
    expect(m?.value('x').name).toBe('x');
    expect(m?.value('k').name).toBe('one');
    expect(matchAt(g, ctx, P.op('mul', [P.any('x'), P.scalar(1)]), g.nodes[0]!)).toBeNull();
  });

  it('a name used twice must bind the same value', () => {
    expect(matchAt(g, ctx, P.op('sub', [P.any('y'), P.any('y')]), g.nodes[1]!)).not.toBeNull();
    expect(matchAt(g, ctx, P.op('mul', [P.any('y'), P.any('y')]), g.nodes[2]!)).toBeNull();
  });

  it('reads data only of fixed constants: a live parameter of ones is not "1"', () => {
    expect(matchAt(g, ctx, P.commutative('mul', [P.any(), P.scalar(1)]), g.nodes[2]!)).toBeNull();
    expect(matchAt(g, ctx, P.commutative('mul', [P.any(), P.constant('w')]), g.nodes[2]!)).not.toBeNull();
    expect(matchAt(g, ctx, P.commutative('mul', [P.any(), P.fixed()]), g.nodes[2]!)).toBeNull();
  });

  it('rewrite applies rules to a fixed point and refuses a replacement of another type', () => {
    const h = g.clone();
    expect(rewrite(h, [rule('x·1', P.commutative('mul', [P.any('x'), P.scalar(1)]), (m) => m.value('x'))], ctx)).toBe(true);
    expect(ops(h)).toEqual(['sub', 'mul']);
    expect(rewrite(h, [rule('x·1', P.commutative('mul', [P.any('x'), P.scalar(1)]), (m) => m.value('x'))], ctx)).toBe(false);
    const bad = rule('bad', P.op('mul'), (m) => m.graph.inputs[0]!.type.shape.length ? m.graph.constants.get('one')!.value : null);
    expect(() => rewrite(g.clone(), [bad], ctx)).toThrow(/rewrite rule 'bad' replaced .* by a value of another type/);
  });
});

describe('PassManager', () => {
  const text = `graph(%x: float32[3]) {
    %a: float32[3] = neg(%x)
    %b: float32[3] = neg(%a)
    %dead: float32[3] = exp(%x)
    return %b
  }`;

  it('O0 runs nothing; O1 runs the pipeline and records counts per pass', () => {
    const g = parse(text);
    expect(new PassManager({ level: 'O0' }).run(g, ctxWith()).records).toEqual([]);
    const report = new PassManager({ level: 'O1', verify: true }).run(g, ctxWith());
    // neg(neg(x)) → x; x is an input, so the graph returns a copy of it (a fresh tensor, as eager does).
    expect(ops(g)).toEqual(['copy']);
    expect(report.before).toEqual({ nodes: 3, constants: 0 });
    expect(report.records[0]).toEqual({ pass: 'deadCode', before: { nodes: 3, constants: 0 }, after: { nodes: 2, constants: 0 }, changed: true });
    expect(formatReport(report)).toMatch(/^pipeline O1: 3 → 1 nodes, 0 → 0 constants\n {2}deadCode +3 → 2 nodes/);
  });

  it('custom passes are appended and run by level; the verifier names a pass that breaks the graph', () => {
    const seen: string[] = [];
    const spy = (level: 'O1' | 'O3'): Pass => ({ name: `spy${level}`, level, description: 'records', run: () => (seen.push(level), false) });
    new PassManager({ level: 'O2', passes: [spy('O1'), spy('O3')] }).run(parse(text), ctxWith());
    expect(seen).toEqual(['O1']);
    const breaker: Pass = { name: 'breaker', level: 'O1', description: 'drops a node', run: (g) => (g.nodes.splice(0, 1), true) };
    expect(() => new PassManager({ level: 'O1', passes: [breaker], verify: true }).run(parse(text), ctxWith())).toThrow(/pass 'breaker' left an invalid graph/);
  });
});

describe('dead code', () => {
  it('removes unread nodes and constants, keeps what folded constants read', () => {
    const g = parse(`graph(%x: float32[2]) {
      const %w: float32[2] = [1, 2]
      const %u: float32[2] = [3, 4]
      %a: float32[2] = add(%x, %w)
      %b: float32[2] = mul(%a, %u)
      return %a
    }`);
    g.addFoldedConstant('f', g.constants.get('w')!.value.type, { op: 'neg', inputs: [g.constants.get('u')!.value], attrs: {}, index: 0 }, () => Float32Array.of(-3, -4));
    g.nodes[0]!.inputs[1] = g.constants.get('f')!.value;
    const h = runExact(g, deadCodeElimination, ctxWith(), [edgeInput([2])]);
    expect(ops(h)).toEqual(['add']);
    expect([...h.constants.keys()]).toEqual(['u', 'f']);
  });
});

describe('common subexpressions', () => {
  it('merges equal nodes and equal fixed constants; each returned value keeps its own storage', () => {
    const g = parse(`graph(%x: float32[3]) {
      const %c1: float32[] = [2]
      const %c2: float32[] = [2]
      %a: float32[3] = mul(%x, %c1)
      %b: float32[3] = mul(%x, %c2)
      %e1: float32[3] = exp(%a)
      %e2: float32[3] = exp(%b)
      return %e1, %e2
    }`);
    const h = runExact(g, commonSubexpressionElimination, ctxWith(), [edgeInput([3])]);
    expect(ops(h)).toEqual(['mul', 'exp', 'copy']);
    expect(h.outputs[0]).not.toBe(h.outputs[1]);
    expect(h.constants.size).toBe(1);
  });

  it('never merges random draws, even from the same key', () => {
    const g = parse(`graph(%key: int32[4]) {
      %a: float32[2] = randomUniform(%key) {shape=[2], dtype="float32", low=0, high=1}
      %b: float32[2] = randomUniform(%key) {shape=[2], dtype="float32", low=0, high=1}
      %s: float32[2] = add(%a, %b)
      return %s
    }`);
    expect(commonSubexpressionElimination.run(g, ctxWith())).toBe(false);
    expect(ops(g)).toEqual(['randomUniform', 'randomUniform', 'add']);
  });
});

describe('constant folding', () => {
  it('fixed data is computed now; a live parameter gives a folded constant read afresh', () => {
    const w = Float32Array.of(1, 2, 3, 4, 5, 6);
    const g = parse(`graph(%x: float32[batch, 3]) {
      const %w: float32[2, 3]
      const %c: float32[2, 3] = [1, 1, 1, 2, 2, 2]
      %wt: float32[3, 2] = transpose(%w) {perm=[1, 0]}
      %ct: float32[3, 2] = transpose(%c) {perm=[1, 0]}
      %y: float32[batch, 2] = matmul(%x, %wt)
      %z: float32[batch, 2] = matmul(%x, %ct)
      %n: float32[] = elementCount(%x) {axes=[1], dtype="float32"}
      %m: float32[] = elementCount(%x) {axes=[0], dtype="float32"}
      %s: float32[batch, 2] = add(%y, %z)
      %t: float32[batch, 2] = mul(%s, %n)
      %u: float32[batch, 2] = div(%t, %m)
      return %u
    }`, { w });
    const h = runExact(g, constantFolding, ctxWith(['w']), [edgeInput([3, 3])]);
    expect(ops(h)).toEqual(['matmul', 'matmul', 'elementCount', 'add', 'mul', 'div']); // elementCount over batch stays
    const wt = h.constants.get('w.T')!;
    expect(wt.folded).toMatchObject({ op: 'transpose', attrs: { perm: [1, 0] } });
    expect(h.constants.get('c.T')!.folded).toBeUndefined();
    expect([...h.constants.get('c.T')!.data]).toEqual([1, 2, 1, 2, 1, 2]);
    expect(h.toString()).toContain('const %w.T: float32[3, 2]  # folded: transpose(%w) {perm=[1, 0]}');
    w[1] = 20; // the parameter changes in place: the folded constant follows
    expect([...wt.data]).toEqual([1, 4, 20, 5, 3, 6]);
  });

  it('leaves random draws, results much larger than their inputs, and symbolic shapes alone', () => {
    const g = parse(`graph(%key: int32[4], %x: float32[batch]) {
      const %c: float32[] = [0.5]
      %big: float32[100, 100] = expand(%c) {shape=[100, 100]}
      %sym: float32[batch] = expand(%c) {shape=[batch]}
      %r: float32[100, 100] = bernoulli(%big, %key)
      %s: float32[batch] = add(%x, %sym)
      return %r, %s
    }`);
    expect(constantFolding.run(g, ctxWith())).toBe(false);
  });
});

describe('algebraic simplification', () => {
  it('removes x·1, x/1, x^1, x+(−0), x−0, −(−x), transpose and reshape chains, no-op casts: identical results', () => {
    const g = parse(`graph(%x: float32[2, 9]) {
      const %one: float32[] = [1]
      const %nz: float32[] = [-0]
      const %z: float32[] = [0]
      %a: float32[2, 9] = mul(%one, %x)
      %b: float32[2, 9] = div(%a, %one)
      %c: float32[2, 9] = pow(%b, %one)
      %d: float32[2, 9] = add(%c, %nz)
      %e: float32[2, 9] = sub(%d, %z)
      %f: float32[2, 9] = neg(%e)
      %g: float32[2, 9] = neg(%f)
      %h: float32[9, 2] = transpose(%g) {perm=[1, 0]}
      %i: float32[2, 9] = transpose(%h) {perm=[1, 0]}
      %j: float32[18] = reshape(%i) {shape=[18]}
      %k: float32[3, 6] = reshape(%j) {shape=[3, 6]}
      %l: float32[3, 6] = cast(%k) {dtype="float32"}
      %m: float32[3, 6] = exp(%l)
      return %m
    }`);
    const h = runExact(g, algebraicSimplification, ctxWith(), [edgeInput([2, 9])]);
    expect(ops(h)).toEqual(['reshape', 'exp']);
  });

  it('turns a transpose that moves only size-1 axes into a reshape; one over a symbol or reordering real axes stays', () => {
    const g = parse(`graph(%x: float32[1, 3, 1, 4], %y: float32[batch, 3]) {
      %a: float32[3, 1, 1, 4] = transpose(%x) {perm=[1, 0, 2, 3]}
      %b: float32[1, 4, 3, 1] = transpose(%x) {perm=[0, 3, 1, 2]}
      %c: float32[3, batch] = transpose(%y) {perm=[1, 0]}
      return %a, %b, %c
    }`);
    const h = runExact(g, algebraicSimplification, ctxWith(), [edgeInput([1, 3, 1, 4]), edgeInput([1, 3])]);
    // (A graph output that aliases an input gets a copy, as always.)
    expect(ops(h).filter((op) => op !== 'copy')).toEqual(['reshape', 'transpose', 'transpose']);
  });

  it('keeps what is not an identity bit for bit: x+(+0) on floats (−0 + 0 = +0), x·1 promoting int32, a live 1', () => {
    const g = parse(`graph(%x: float32[9], %i: int32[9]) {
      const %z: float32[] = [0]
      const %one: float32[] = [1]
      const %p: float32[] = [1]
      %a: float32[9] = add(%x, %z)
      %b: float32[9] = mul(%i, %one)
      %c: float32[9] = mul(%a, %p)
      %d: float32[9] = add(%b, %c)
      return %d
    }`);
    const ints = kiln.tensor(Int32Array.from({ length: 9 }, (_, k) => k - 4), { shape: [9], dtype: 'int32' });
    const h = runExact(g, algebraicSimplification, ctxWith(['p']), [edgeInput([9]), ints]);
    expect(ops(h)).toEqual(['add', 'mul', 'mul', 'add']);
  });
});

describe('dropout removal', () => {
  const f = (x: kiln.Tensor) => x.dropout(0.5).relu();

  it('keeps dropout by default (eager applies it); removes it where the graph is marked for inference', () => {
    const fast = compile(f, { inputs: [spec([dim('batch'), 4])], optimize: 'O1' });
    fast.run(kiln.randn([2, 4]));
    expect(ops(fast.graph)).toContain('bernoulli');
    const g = fast.graph.clone();
    expect(dropoutRemoval.run(g, ctxWith())).toBe(false);
    expect(dropoutRemoval.run(g, ctxWith([], { dropoutIsIdentity: true }))).toBe(true);
    deadCodeElimination.run(g, ctxWith());
    expect(ops(g)).toEqual(['relu']);
    verifyGraph(g);
  });
});

describe('BatchNorm folding', () => {
  /** The model compiled at O0 and at O1; both run on `x`; returns the O1 graph. */
  function folds(model: kiln.nn.Module, shape: Parameters<typeof spec>[0], x: kiln.Tensor): Graph {
    const o0 = compile(model, { inputs: [spec(shape)], optimize: 'O0' });
    const o1 = compile(model, { inputs: [spec(shape)], optimize: 'O1' });
    o0.run(x);
    o1.run(x);
    const a = (o0.run(x) as kiln.Tensor).dataSync(), b = (o1.run(x) as kiln.Tensor).dataSync();
    let scale = 0, diff = 0;
    for (let i = 0; i < a.length; i++) {
      expect(Number.isNaN(b[i]!)).toBe(Number.isNaN(a[i]!));
      if (Number.isNaN(a[i]!)) continue;
      scale = Math.max(scale, Math.abs(a[i]!));
      diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    }
    expect(diff / scale).toBeLessThan(1e-5);
    expect(checkGraph(o1.graph)).toEqual([]);
    return o1.graph;
  }

  function scramble(bn: kiln.nn.BatchNorm1d | kiln.nn.BatchNorm2d, seed: number, gamma?: number[]): void {
    kiln.noGrad(() => {
      const c = bn.runningMean!.shape[0]!;
      bn.runningMean!.copy_(kiln.randn([c], { seed }));
      bn.runningVar!.copy_(kiln.rand([c], { seed: seed + 1 }).add(0.1));
      if (bn.weight) bn.weight.copy_(gamma ? kiln.tensor(gamma) : kiln.randn([c], { seed: seed + 2 }));
      if (bn.bias) bn.bias.copy_(kiln.randn([c], { seed: seed + 3 }));
    });
  }

  it('Linear → BatchNorm1d (negative and zero γ, eps 0.1): one linear', () => {
    const bn = new kiln.nn.BatchNorm1d(3, { eps: 0.1 });
    scramble(bn, 1, [-1.5, 0, 2]);
    const m = new kiln.nn.Sequential(new kiln.nn.Linear(5, 3), bn).eval();
    expect(ops(folds(m, [dim('batch'), 5], kiln.randn([4, 5], { seed: 2 })))).toEqual(['linear']);
  });

  it('Linear without bias → BatchNorm1d without affine: one linear', () => {
    const bn = new kiln.nn.BatchNorm1d(3, { affine: false });
    scramble(bn, 3);
    const m = new kiln.nn.Sequential(new kiln.nn.Linear(5, 3, { bias: false }), bn).eval();
    expect(ops(folds(m, [dim('batch'), 5], kiln.randn([4, 5], { seed: 4 })))).toEqual(['linear']);
  });

  it('ConvTranspose2d → BatchNorm2d: one convTranspose2d', () => {
    const bn = new kiln.nn.BatchNorm2d(3);
    scramble(bn, 5);
    const m = new kiln.nn.Sequential(new kiln.nn.ConvTranspose2d(2, 3, 3, { stride: 2 }), bn).eval();
    expect(ops(folds(m, [dim('batch'), 2, 4, 4], kiln.randn([2, 2, 4, 4], { seed: 6 })))).toEqual(['convTranspose2d']);
  });

  it('per-channel arithmetic the code writes itself after a matmul is left as written (exact)', () => {
    const w = kiln.randn([5, 3], { seed: 7 });
    const mean = kiln.randn([3], { seed: 8 }), scale = kiln.randn([3], { seed: 9 }), shift = kiln.randn([3], { seed: 10 });
    const f = (x: kiln.Tensor) => x.matmul(w).sub(mean).mul(scale).add(shift).mul(2);
    const o1 = compile(f, { inputs: [spec([dim('batch'), 5])], optimize: 'O1' });
    const x = withNaNs(kiln.randn([4, 5], { seed: 11 }));
    o1.run(x);
    expect(ops(o1.graph)).toEqual(['matmul', 'sub', 'mul', 'add', 'mul']);
    expect(identical(o1.run(x) as kiln.Tensor, f(x))).toBe(true);
  });

  it('is left alone in training mode, where the conv output has other readers, and without an evaluator', () => {
    const text = (extra: string) => `graph(%x: float32[1, 2, 3, 3]) {
      const %w: float32[2, 2, 1, 1] = [1, 2, 3, 4]
      const %m: float32[2] = [0.5, -1]
      const %v: float32[2] = [2, 3]
      %y: float32[1, 2, 3, 3] = conv2d(%x, %w) {strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1], group=1}
      %z: float32[1, 2, 3, 3] = batchNorm(%y, %m, %v) {eps=0.00001}
      ${extra}
    }`;
    const alone = parse(text('return %z'));
    expect(bnFolding.run(alone.clone(), ctxWith([], { mode: 'training' }))).toBe(false);
    const { evaluate: _, ...noEvaluator } = ctxWith();
    expect(bnFolding.run(alone.clone(), noEvaluator)).toBe(false);
    expect(bnFolding.run(parse(text('%u: float32[1, 2, 3, 3] = add(%z, %y)\n      return %u')), ctxWith())).toBe(false);
    const h = runBn(alone);
    expect(ops(h)).toEqual(['conv2d']);
  });
});

describe('bias fusion (O2)', () => {
  it('matmul(x, W) + b becomes linear at O2 (not at O1), and follows W and b when they change', () => {
    const w = kiln.randn([5, 3], { seed: 13 }), b = kiln.randn([3], { seed: 14 });
    const f = (x: kiln.Tensor) => x.matmul(w).add(b).relu();
    const o1 = compile(f, { inputs: [spec([dim('batch'), 5])], optimize: 'O1' });
    const o2 = compile(f, { inputs: [spec([dim('batch'), 5])], optimize: 'O2' });
    const x = withNaNs(kiln.randn([4, 5], { seed: 15 }));
    o1.run(x);
    o2.run(x);
    expect(ops(o1.graph)).toEqual(['matmul', 'add', 'relu']);
    // The relu then fuses into the linear (activationFusion, O2; NaN kept).
    expect(ops(o2.graph)).toEqual(['linear']);
    expect(o2.graph.nodes[0]!.attrs['activation']).toBe('relu');
    for (const step of [0, 1]) {
      if (step) kiln.noGrad(() => { w.mul_(-2); b.add_(1); });
      const want = f(x).dataSync(), got = (o2.run(x) as kiln.Tensor).dataSync();
      for (let i = 0; i < want.length; i++) {
        if (!Number.isFinite(want[i]!)) expect(got[i]).toBe(want[i]);
        else expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(want[i]!)));
      }
    }
  });

  it('conv2d without bias + a per-channel constant becomes conv2d with that bias; a target without fused kernels keeps the add', () => {
    const g = parse(`graph(%x: float32[1, 2, 3, 3]) {
      const %w: float32[2, 2, 1, 1] = [1, 2, 3, 4]
      const %c: float32[1, 2, 1, 1] = [0.5, -1]
      %y: float32[1, 2, 3, 3] = conv2d(%x, %w) {strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1], group=1}
      %z: float32[1, 2, 3, 3] = add(%c, %y)
      %r: float32[1, 2, 3, 3] = relu(%z)
      return %r
    }`);
    expect(biasFusion.run(g.clone(), ctxWith())).toBe(false); // NO_FUSION
    const capable = ctxWith([], { target: { name: 'test', fusedOps: ['conv2d'], fusedActivations: {} } });
    const h = runExact(g, { ...biasFusion, run: (gr) => biasFusion.run(gr, capable) }, capable, [edgeInput([1, 2, 3, 3])]);
    expect(ops(h)).toEqual(['conv2d', 'relu']);
    expect(h.nodes[0]!.inputs.length).toBe(3);
  });
});

/** BN folding on `g` (a copy), checked against the unfolded graph within 1e-5 on inputs with NaN. */
function runBn(g: Graph): Graph {
  const x = withNaNs(kiln.randn(g.inputs[0]!.type.shape as number[], { seed: 12 }));
  const [before] = kiln.scope(() => interpretEager(g, [x]).map((t) => t.keep()));
  const h = g.clone();
  expect(bnFolding.run(h, ctxWith())).toBe(true);
  verifyGraph(h);
  const [after] = kiln.scope(() => interpretEager(h, [x]).map((t) => t.keep()));
  const a = before!.dataSync(), b = after!.dataSync();
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) expect(b[i]).toBe(a[i]);
    else expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(a[i]!)));
  }
  return h;
}

function withNaNs(x: kiln.Tensor): kiln.Tensor {
  const d = Float32Array.from(x.dataSync());
  d[0] = NaN;
  d[d.length - 1] = Infinity;
  return kiln.tensor(d, { shape: x.shape });
}
