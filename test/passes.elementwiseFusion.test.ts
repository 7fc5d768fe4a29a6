/**
 * Elementwise fusion (O2): groups of elementwise ops become one `fusedElementwise` node,
 * run on wasm as one generated SIMD kernel and on the reference backend as its
 * decomposition.
 *
 * Tolerances: programs of arithmetic, comparison, where and logical ops give the same
 * bits as the unfused graph (Object.is per element; NaN payloads aside), since the fused
 * kernel uses the single-op kernels' own SIMD code. Programs with transcendentals (tanh,
 * sigmoid, exp, ...) use the SIMD approximations of simdMath.ts where the unfused wasm ops
 * use tfjs's libm: they agree within 1e-5·max(1, |y|) here, NaN exactly where O0 has it.
 * The reference backend's fused kernel is its decomposition on the portable kernels:
 * identical to the unfused graph there.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { compile, dim, interpretEager, spec, type CompiledModel } from '../src/compiled/index.js';
import { checkGraph, getOp, KilnError, parseGraph, parseProgram, printGraph, programDtypes, type Graph } from '../src/ir/index.js';
import type { OptLevel } from '../src/passes/index.js';
import { identical } from './support/identical.js';

beforeAll(async () => {
  await kiln.init();
});

/** Values kernels get wrong most easily, then a ramp: `n` float32s. */
function awkward(n: number, seed: number): Float32Array {
  const special = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 3.4e38, -3.4e38, 1, -1, 0.5];
  const r = kiln.randn([n], { seed }).dataSync();
  return Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? special[(i / 5) % special.length]! : r[i]! * 3));
}

const t = (shape: number[], seed: number): kiln.Tensor => kiln.tensor(awkward(shape.reduce((a, b) => a * b, 1), seed), { shape });

const ops = (fast: CompiledModel): string[] => fast.graph.nodes.map((n) => n.op);
const programs = (g: Graph): string[] => g.nodes.filter((n) => n.op === 'fusedElementwise').map((n) => n.attrs['program'] as string);

type Fn = (...xs: kiln.Tensor[]) => kiln.Tensor | kiln.Tensor[];

/** `f` compiled at `level` and run twice on `xs` (the first call is eager's result): the plan's outputs. */
function runAt(f: Fn, xs: kiln.Tensor[], level: OptLevel, mode: 'inference' | 'training' = 'inference', specs = xs.map((x) => spec(x.shape, x.dtype))): { out: kiln.Tensor[]; fast: CompiledModel } {
  const fast = compile(f, { inputs: specs, optimize: level, mode });
  fast.run(...xs);
  const r = fast.run(...xs);
  return { out: Array.isArray(r) ? (r as kiln.Tensor[]) : [r as kiln.Tensor], fast };
}

/** O0 and O2 outputs are identical (bits); returns the O2 compile. */
function sameBits(f: Fn, xs: kiln.Tensor[], specs?: ReturnType<typeof spec>[]): CompiledModel {
  const a = runAt(f, xs, 'O0', 'inference', specs), b = runAt(f, xs, 'O2', 'inference', specs);
  a.out.forEach((y, i) => expect(identical(b.out[i]!, y), `output ${i}`).toBe(true));
  return b.fast;
}

/** |O2 − O0| ≤ tol·max(1, |O0|), NaN exactly where O0 has it. */
function expectClose(got: kiln.Tensor, want: kiln.Tensor, tol: number): void {
  expect(got.shape).toEqual(want.shape);
  const x = got.dataSync(), y = want.dataSync();
  for (let i = 0; i < y.length; i++) {
    expect(Number.isNaN(x[i]!), `NaN at ${i}: ${x[i]} vs ${y[i]}`).toBe(Number.isNaN(y[i]!));
    if (Number.isNaN(y[i]!)) continue;
    if (x[i] === y[i]) continue; // ±Infinity
    expect(Math.abs(x[i]! - y[i]!), `element ${i}: ${x[i]} vs ${y[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(y[i]!)));
  }
}

describe('structure', () => {
  it('an 8-op chain with row-broadcast operands is one fusedElementwise node at O2 (and 8 nodes at O0)', () => {
    const [a, b, c] = [[13], [13], [1]].map((s, i) => t(s, 40 + i)) as [kiln.Tensor, kiln.Tensor, kiln.Tensor];
    const f = (x: kiln.Tensor) => x.mul(a).add(b).tanh().mul(c).sub(x).relu().sigmoid().mul(x);
    const x = t([7, 13], 1);
    const o0 = runAt(f, [x], 'O0'), o2 = runAt(f, [x], 'O2');
    expect(o0.fast.graph.nodes.length).toBe(8);
    expect(ops(o2.fast)).toEqual(['fusedElementwise']);
    expect(programs(o2.fast.graph)).toEqual(['mul(x0, x1); add(t0, x2); tanh(t1); mul(t2, x3); sub(t3, x0); relu(t4); sigmoid(t5); mul(t6, x0)']);
    expect(o2.fast.explain()).toMatch(/elementwiseFusion +8 → 1 nodes/);
    expectClose(o2.out[0]!, o0.out[0]!, 1e-5);
  });

  it('O1 fuses nothing; training mode fuses nothing (the op has no gradient)', () => {
    const f = (x: kiln.Tensor) => x.mul(2).add(1).relu();
    const x = t([3, 5], 2);
    expect(ops(runAt(f, [x], 'O1').fast)).toEqual(['mul', 'add', 'relu']);
    expect(ops(runAt(f, [x], 'O2', 'training').fast)).toEqual(['mul', 'add', 'relu']);
    expect(getOp('fusedElementwise')!.grad).toBeUndefined();
  });

  it('a value read outside the group (a graph output, a reduction) stays a group boundary', () => {
    const f = (x: kiln.Tensor) => {
      const h = x.mul(3).sub(1); // read by the second chain and returned
      const k = x.abs().add(2); // read by the chain and by a sum
      return [h, h.relu().neg().add(k), k.sum()];
    };
    const fast = sameBits(f, [t([6, 9], 3)]);
    const g = fast.graph;
    const names = (op: string) => g.nodes.filter((n) => n.op === op);
    expect(names('sum')).toHaveLength(1);
    // h's group and k's group stand alone; the chain reading both is the third.
    expect(programs(g).sort()).toEqual(['abs(x0); add(t0, x1)', 'mul(x0, x1); sub(t0, x2)', 'relu(x0); neg(t0); add(t1, x1)'].sort());
    const [hNode] = names('fusedElementwise').filter((n) => n.attrs['program'] === 'mul(x0, x1); sub(t0, x2)');
    expect(g.outputs[0]).toBe(hNode!.outputs[0]);
  });

  it('random ops are never fused (their draws stay their own nodes)', () => {
    const f = (x: kiln.Tensor) => x.mul(2).add(kiln.rand(x.shape)).relu();
    const fast = runAt(f, [t([4, 5], 4)], 'O2').fast;
    const o = ops(fast);
    expect(o.some((op) => op.startsWith('random'))).toBe(true);
    expect(o).toContain('fusedElementwise');
    for (const p of programs(fast.graph)) expect(p).not.toMatch(/random/);
  });

  it('an operand of a smaller shape (a per-column vector computed at run time) stays an input, not recomputed per element', () => {
    const f = (x: kiln.Tensor, v: kiln.Tensor) => x.mul(v.exp().add(1)).add(2);
    const fast = runAt(f, [t([5, 6], 5), t([6], 6)], 'O2').fast;
    expect(programs(fast.graph)).toEqual(['exp(x0); add(t0, x1)', 'mul(x0, x1); add(t0, x2)']);
  });

  it('a symbolic batch dim: one graph, right at every size', () => {
    const f = (x: kiln.Tensor, r: kiln.Tensor) => x.sub(r).square().minimum(x).maximum(r.neg()).div(3);
    const r = t([11], 7);
    const o0 = compile(f, { inputs: [spec([dim('batch'), 11]), spec([11])], optimize: 'O0' });
    const o2 = compile(f, { inputs: [spec([dim('batch'), 11]), spec([11])], optimize: 'O2' });
    for (const n of [1, 3, 8, 3]) {
      const x = t([n, 11], 10 + n);
      o0.run(x, r);
      o2.run(x, r);
      expect(identical(o2.run(x, r) as kiln.Tensor, o0.run(x, r) as kiln.Tensor), `batch ${n}`).toBe(true);
    }
    // r.neg() is [11]: it runs once, as its own node, instead of once per output element.
    expect(ops(o2)).toEqual(['neg', 'fusedElementwise']);
    expect(printGraph(o2.graph)).toMatch(/float32\[batch, 11\] = fusedElementwise\(%x, %r, %\S+, %\S+\)/);
  });
});

describe('numbers (O0 vs O2, second run)', () => {
  it('arithmetic with NaN/±Inf/±0/subnormals, odd sizes, scalar / row / column / size-1 operands: identical bits', () => {
    const f = (x: kiln.Tensor, row: kiln.Tensor, col: kiln.Tensor, one: kiln.Tensor) =>
      x.mul(row).add(col).maximum(one).sub(x.div(row)).minimum(col).relu().abs().neg().reciprocal().sqrt().square()
        .leakyRelu(0.1).clip(-2, null).mul(0.5);
    for (const [rows, cols] of [[7, 13], [1, 1], [3, 1], [1, 37], [17, 5], [2, 64]] as const) {
      const xs = [t([rows, cols], 1), t([cols], 2), t([rows, 1], 3), t([1, 1], 4)];
      const fast = sameBits(f, xs);
      expect(ops(fast)).toEqual(['fusedElementwise']);
    }
  });

  it('comparisons, where and logical ops (bool inputs and a bool output): identical', () => {
    const f = (x: kiln.Tensor, y: kiln.Tensor, m: kiln.Tensor) => {
      const inRange = x.greater(-1).logicalAnd(x.lessEqual(y)).logicalOr(m.logicalNot());
      return [x.where(inRange, y.mul(2)), inRange.logicalAnd(x.notEqual(y)).logicalOr(x.equal(0))];
    };
    const mask = kiln.tensor(Uint8Array.from({ length: 9 * 19 }, (_, i) => (i % 3 === 0 ? 1 : 0)), { shape: [9, 19], dtype: 'bool' });
    const fast = sameBits(f, [t([9, 19], 8), t([19], 9), mask]);
    // inRange is read by where and by the second chain: a boundary; where reads y·2 ([19], smaller): alone.
    expect(ops(fast)).toEqual(['fusedElementwise', 'mul', 'where', 'fusedElementwise']);
    expect(fast.graph.outputs[1]!.type.dtype).toBe('bool');
    expect(fast.graph.outputs[1]!.producer!.op).toBe('fusedElementwise');
  });

  it('a bool-only program (byte lanes, 64 per iteration) and a 3-d broadcast [3,1,5]∘[4,1]∘[1]: identical', () => {
    const f = (a: kiln.Tensor, b: kiln.Tensor, c: kiln.Tensor) => a.logicalAnd(b).logicalNot().logicalOr(c);
    const bools = (shape: number[], k: number) => kiln.tensor(Uint8Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => ((i * 7 + k) % 3 === 0 ? 1 : 0)), { shape, dtype: 'bool' });
    expect(ops(sameBits(f, [bools([3, 1, 131], 1), bools([4, 1], 2), bools([1], 3)]))).toEqual(['fusedElementwise']);
    const g = (x: kiln.Tensor, y: kiln.Tensor, s: kiln.Tensor) => x.mul(y).add(s).maximum(y).sub(x);
    expect(ops(sameBits(g, [t([3, 1, 5], 11), t([4, 1], 12), t([1], 13)]))).toEqual(['fusedElementwise']);
  });

  it('transcendentals (tanh, sigmoid, exp, log, erf, softplus, elu) agree within 1e-5·max(1, |y|), NaN where O0 has it', () => {
    const f = (x: kiln.Tensor, r: kiln.Tensor) => {
      const y = x.mul(r).tanh().add(x.sigmoid()).add(x.abs().add(1).log()).add(x.clip(-20, 20).exp().mul(1e-6));
      return y.add(x.softplus()).add(x.elu(0.7)).sub(x.mul(0.1).erf());
    };
    const xs = [t([5, 101], 14), t([101], 15)];
    const o0 = runAt(f, xs, 'O0'), o2 = runAt(f, xs, 'O2');
    expectClose(o2.out[0]!, o0.out[0]!, 1e-5);
  });
});

describe('IR text and the reference backend', () => {
  it('the fused node prints and parses back (program attribute included), and the parsed graph runs the same', () => {
    const f = (x: kiln.Tensor) => x.mul(2).leakyRelu(0.25).clip(null, 3).neg();
    const x = t([4, 7], 16);
    const { fast, out } = runAt(f, [x], 'O2');
    const text = printGraph(fast.graph, { constants: 'inline' });
    expect(text).toContain('program="mul(x0, x1); leakyRelu{alpha=0.25}(t0); clip{min=null, max=3}(t1); neg(t2)"');
    const back = parseGraph(text);
    expect(checkGraph(back).map((i) => i.message)).toEqual([]);
    expect(printGraph(back, { constants: 'inline' })).toBe(text);
    const [y] = kiln.noGrad(() => interpretEager(back, [x]));
    expect(identical(y!, out[0]!)).toBe(true);
  });

  it('the reference backend runs the fused node as its decomposition: identical to the unfused graph there', () => {
    const f = (x: kiln.Tensor, r: kiln.Tensor) => x.mul(r).tanh().add(r.where(x.greater(0).logicalNot(), x)).exp().maximum(x);
    const xs = [t([6, 9], 17), t([9], 18)];
    const fused = runAt(f, xs, 'O2').fast.graph, plain = runAt(f, xs, 'O0').fast.graph;
    expect(fused.nodes.map((n) => n.op)).toEqual(['fusedElementwise']);
    const onRef = xs.map((x) => kiln.tensor(x.dataSync(), { shape: x.shape, backend: 'reference' }));
    const [a] = kiln.noGrad(() => interpretEager(fused, onRef, { backend: 'reference' }));
    const [b] = kiln.noGrad(() => interpretEager(plain, onRef, { backend: 'reference' }));
    expect(a!.backend.name).toBe('reference');
    expect(identical(a!, b!)).toBe(true);
    // The decomposition itself, run eagerly, is the same.
    const node = fused.nodes[0]!;
    const [c] = kiln.noGrad(() => getOp('fusedElementwise')!.decompose!(node.inputs.map((v, i) => (i < 2 ? onRef[i]! : kiln.tensor(fused.constants.get(v.name)!.data, { shape: v.type.shape as number[], backend: 'reference' }))), node.attrs as never) as kiln.Tensor[]);
    expect(identical(c!, b!)).toBe(true);
  });

  it('the generated wasm kernel equals the reference kernel bit for bit on arithmetic programs (awkward values and shapes)', () => {
    const f = (x: kiln.Tensor, row: kiln.Tensor, col: kiln.Tensor) =>
      x.mul(row).sub(col).maximum(x).div(row).minimum(col).abs().sqrt().reciprocal().neg().relu().add(x.where(x.greater(col), row));
    for (const [r, c] of [[1, 1], [5, 3], [3, 17], [2, 67]] as const) {
      const xs = [t([r, c], 21), t([c], 22), t([r, 1], 23)];
      const g = runAt(f, xs, 'O2').fast.graph;
      expect(g.nodes.map((n) => n.op)).toEqual(['fusedElementwise']);
      const [onWasm] = kiln.noGrad(() => interpretEager(g, xs));
      const [onRef] = kiln.noGrad(() => interpretEager(g, xs.map((x) => kiln.tensor(x.dataSync(), { shape: x.shape, backend: 'reference' })), { backend: 'reference' }));
      expect(onWasm!.backend.name).toBe('wasm');
      expect(identical(onWasm!, onRef!), `[${r}, ${c}]`).toBe(true);
    }
  });

  it('malformed programs are KilnErrors naming the problem; the verifier reports them', () => {
    const cases: [string, RegExp][] = [
      ['frob(x0)', /'frob' is not an elementwise op/],
      ['neg(t0)', /reads t0, which is not an earlier step/],
      ['add(x0)', /add takes 2 argument\(s\), got 1/],
      ['neg(x1)', /input x0 is never read/],
      ['neg(x0); abs(x0)', /the result of step 0 is never read/],
      ['leakyRelu(x0)', /needs attribute alpha/],
      ['clip{min=a, max=1}(x0)', /neither a number nor null/],
      ['', /empty/],
    ];
    for (const [text, why] of cases) {
      expect(() => parseProgram(text), text).toThrow(KilnError);
      expect(() => parseProgram(text), text).toThrow(why);
    }
    expect(() => programDtypes(parseProgram('logicalNot(x0)'), ['float32'])).toThrow(/cannot take float32/);
    const g = parseGraph('graph(%x: float32[2, 3]) {\n  %y: float32[2, 3] = fusedElementwise(%x) {program="tanh(t0)"}\n  return %y\n}');
    expect(checkGraph(g).map((i) => i.message).join('\n')).toMatch(/not an earlier step/);
    const h = parseGraph('graph(%x: float32[2, 3], %m: bool[3]) {\n  %y: float32[2, 3] = fusedElementwise(%x, %m) {program="where(x1, x0, x0)"}\n  return %y\n}');
    expect(checkGraph(h).map((i) => i.message)).toEqual([]);
  });
});
