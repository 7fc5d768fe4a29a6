/**
 * The reference interpreter run through Kiln's eager ops: an MLP-like graph with a
 * symbolic batch at batch 1 and 7, If both ways, Loops (cumulative product, a while
 * loop, zero iterations), input checking. Results are compared with the same ops run
 * eagerly (same backend and kernels: equal up to 1e-6) or with hand-computed values.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { applyOp } from '../src/eager/dispatch.js';
import {
  Graph, sym, addIf, addLoop, interpret, printGraph, parseGraph, constantData, verifyGraph, KilnError,
  type Executor, type ValueType,
} from '../src/ir/index.js';

const eager: Executor<kiln.Tensor> = {
  exec: (op, inputs, attrs) => applyOp(op, inputs, attrs),
  constant: (_name, data, type) => kiln.tensor(data, { shape: type.shape, dtype: type.dtype }),
  readScalar: (t) => t.item(),
};

const batch = sym('batch');
const f32 = (...shape: ValueType['shape']): ValueType => ({ dtype: 'float32', shape });
const bool = (...shape: ValueType['shape']): ValueType => ({ dtype: 'bool', shape });
const i32 = (...shape: ValueType['shape']): ValueType => ({ dtype: 'int32', shape });

function expectClose(actual: kiln.Tensor, expected: kiln.Tensor | number[], tol = 1e-6): void {
  const e = Array.isArray(expected) ? expected : Array.from(expected.dataSync());
  if (!Array.isArray(expected)) expect(actual.shape).toEqual(expected.shape);
  const a = Array.from(actual.dataSync());
  expect(a.length).toBe(e.length);
  a.forEach((v, i) => expect(Math.abs(v - e[i]!)).toBeLessThanOrEqual(tol));
}

beforeAll(async () => {
  await kiln.init();
});

describe('interpret: an MLP with a symbolic batch', () => {
  let w1: kiln.Tensor, b1: kiln.Tensor, w2: kiln.Tensor, b2: kiln.Tensor;
  beforeAll(() => {
    [w1, b1, w2, b2] = [kiln.randn([4, 8], { seed: 1 }), kiln.randn([8], { seed: 2 }), kiln.randn([8, 3], { seed: 3 }), kiln.randn([3], { seed: 4 })];
  });

  function mlp(): Graph {
    const g = new Graph();
    const x = g.addInput('x', f32(batch, 4));
    const c = (name: string, t: kiln.Tensor) => g.addConstant(name, t.dataSync(), f32(...t.shape));
    const [cw1, cb1, cw2, cb2] = [c('fc1.weight', w1), c('fc1.bias', b1), c('fc2.weight', w2), c('fc2.bias', b2)];
    const node = (op: string, ins: typeof x[], type: ValueType, attrs = {}) => g.addNode(op, ins, attrs, [type], `mlp.ts:${g.nodes.length + 1}:1`).outputs[0]!;
    const h = node('relu', [node('add', [node('matmul', [x, cw1!], f32(batch, 8)), cb1!], f32(batch, 8))], f32(batch, 8));
    const logits = node('add', [node('matmul', [h, cw2!], f32(batch, 3)), cb2!], f32(batch, 3));
    const probs = node('softmax', [logits], f32(batch, 3), { axis: 1 });
    const flat = node('reshape', [probs], f32(sym('batch', 3)), { shape: [sym('batch', 3)] }); // a symbolic attr
    const total = node('sum', [probs], f32(), { axes: [0, 1], keepDims: false });
    g.outputs = [probs, flat, total];
    return verifyGraph(g);
  }

  for (const n of [1, 7]) {
    it(`matches eager at batch ${n}`, () => {
      kiln.scope(() => {
        const x = kiln.randn([n, 4], { seed: 10 + n });
        const bindings = new Map<string, number>();
        const [probs, flat, total] = interpret(mlp(), [x], eager, { bindings });
        expect(bindings.get('batch')).toBe(n);
        const ref = x.matmul(w1).add(b1).relu().matmul(w2).add(b2).softmax(1);
        expectClose(probs!, ref);
        expect(flat!.shape).toEqual([3 * n]);
        expectClose(flat!, ref.reshape([3 * n]));
        expectClose(total!, [n], 1e-5); // rows of a softmax sum to 1
      });
    });
  }

  it('runs the printed-and-parsed graph the same', () => {
    kiln.scope(() => {
      const g = mlp();
      const back = parseGraph(printGraph(g), { constants: constantData(g) });
      const x = kiln.randn([5, 4], { seed: 3 });
      expectClose(interpret(back, [x], eager)[0]!, interpret(g, [x], eager)[0]!, 0);
    });
  });

  it('checks the inputs: count, dtype, rank, sizes, consistent symbols', () => {
    kiln.scope(() => {
      const g = mlp();
      expect(() => interpret(g, [], eager)).toThrow(/interpret: the graph takes 1 input \(%x: float32\[batch, 4\]\), got 0/);
      expect(() => interpret(g, [kiln.zeros([2, 4], { dtype: 'int32' })], eager)).toThrow(/input 0 %x must be float32\[batch, 4\], got int32\[2, 4\]: dtype int32 instead of float32/);
      expect(() => interpret(g, [kiln.zeros([2, 5])], eager)).toThrow(/input 0 %x must be float32\[batch, 4\], got float32\[2, 5\]: dimension 1: expected 4 but got 5/);
      expect(() => interpret(g, [kiln.zeros([8])], eager)).toThrow(/got float32\[8\]: rank 1 instead of 2/);
      const two = new Graph();
      const a = two.addInput('a', f32(batch));
      const b = two.addInput('b', f32(sym('batch', 2, 1)));
      two.outputs = [a, b];
      expect(interpret(two, [kiln.zeros([3]), kiln.zeros([7])], eager).map((t) => t.shape)).toEqual([[3], [7]]);
      expect(() => interpret(two, [kiln.zeros([3]), kiln.zeros([6])], eager)).toThrow(/input 1 %b must be float32\[2\*batch\+1\], got float32\[6\]: dimension 0: expected 2\*batch\+1 = 7 \(batch = 3\) but got 6/);
    });
  });

  it("names the node and its source when an op fails, and checks declared output types", () => {
    kiln.scope(() => {
      const g = new Graph();
      const x = g.addInput('x', f32(batch, 4));
      g.outputs = g.addNode('reshape', [x], { shape: [6] }, [f32(6)], 'model.ts:3:7').outputs; // right at batch 1.5 only
      let err: unknown;
      try {
        interpret(g, [kiln.zeros([2, 4])], eager);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KilnError);
      expect((err as KilnError).message).toMatch(/^reshape: %0 = reshape\(%x\): cannot reshape \[2, 4\] \(8 elements\) to \[6\]/);
      expect((err as KilnError).callSite).toBe('model.ts:3:7');
      const h = new Graph();
      const y = h.addInput('y', f32(2));
      h.outputs = h.addNode('greater', [y, y], {}, [f32(2)], 'model.ts:9:1').outputs; // really bool
      expect(() => interpret(h, [kiln.zeros([2])], eager)).toThrow(/greater: %0 = greater\(%y, %y\): output 0 %0 is declared float32\[2\] but came out bool\[2\]/);
      expect(interpret(h, [kiln.zeros([2])], eager, { checkOutputs: false })[0]!.dtype).toBe('bool');
    });
  });
});

describe('interpret: If', () => {
  // y = sum(x) > 0 ? relu(x) * 2 : -x
  function ifGraph(): Graph {
    const g = new Graph();
    const x = g.addInput('x', f32(batch, 3));
    const zero = g.addConstant('zero', Float32Array.of(0), f32());
    const s = g.addNode('sum', [x], { axes: [0, 1], keepDims: false }, [f32()]).outputs[0]!;
    const c = g.addNode('greater', [s, zero], {}, [bool()]).outputs[0]!;
    const t = new Graph(g);
    const two = t.addConstant('two', Float32Array.of(2), f32());
    t.outputs = t.addNode('mul', [t.addNode('relu', [x], {}, [x.type]).outputs[0]!, two], {}, [x.type]).outputs;
    const e = new Graph(g);
    e.outputs = e.addNode('neg', [x], {}, [x.type]).outputs;
    g.outputs = addIf(g, c, t, e, 'model.ts:5:3').outputs;
    return verifyGraph(g);
  }

  it('takes the then-branch', () => {
    kiln.scope(() => {
      const [y] = interpret(ifGraph(), [kiln.tensor([[1, -2, 3], [4, 5, -6]])], eager);
      expectClose(y!, [2, 0, 6, 8, 10, 0], 0);
    });
  });

  it('takes the else-branch', () => {
    kiln.scope(() => {
      const [y] = interpret(ifGraph(), [kiln.tensor([[-1, 2, -3]])], eager);
      expectClose(y!, [1, -2, 3], 0);
    });
  });

  it('rejects a condition with more than one element', () => {
    const g = new Graph();
    const c = g.addInput('c', bool(2));
    const t = new Graph(g);
    t.outputs = [c];
    const e = new Graph(g);
    e.outputs = [c];
    g.outputs = addIf(g, c, t, e).outputs;
    kiln.scope(() => {
      expect(() => interpret(g, [kiln.tensor([true, false])], eager)).toThrow(/If: %0 = If\(%c\): the condition %c must have one element, got shape \[2\]/);
    });
  });
});

describe('interpret: Loop', () => {
  /** (product, cumulative products) of x[0..m), with the scan length `scanLength`. */
  function cumprod(scanLength = sym('n')): Graph {
    const g = new Graph();
    const x = g.addInput('x', f32(sym('n')));
    const m = g.addInput('m', i32());
    const yes = g.addConstant('yes', Uint8Array.of(1), bool());
    const one = g.addConstant('one', Float32Array.of(1), f32());
    const body = new Graph(g);
    const i = body.addInput('i', i32());
    const c = body.addInput('c', bool());
    const acc = body.addInput('acc', f32());
    const xi1 = body.addNode('indexSelect', [x, i], { axis: 0 }, [f32(1)]).outputs[0]!;
    const xi = body.addNode('reshape', [xi1], { shape: [] }, [f32()]).outputs[0]!;
    const next = body.addNode('mul', [acc, xi], {}, [f32()]).outputs[0]!;
    body.outputs = [c, next, next];
    g.outputs = addLoop(g, { maxTripCount: m, cond: yes, carried: [one], body, scanLength }).outputs;
    return verifyGraph(g);
  }

  it('computes a cumulative product', () => {
    kiln.scope(() => {
      const bindings = new Map<string, number>();
      const [prod, cum] = interpret(cumprod(), [kiln.tensor([1, 2, 3, 4]), kiln.tensor(4, { dtype: 'int32' })], eager, { bindings });
      expect(prod!.shape).toEqual([]);
      expectClose(prod!, [24], 0);
      expectClose(cum!, [1, 2, 6, 24], 0);
      expect(bindings.get('n')).toBe(4);
      // The same, after a trip through the text form.
      const g = cumprod();
      const [p2, c2] = interpret(parseGraph(printGraph(g), { constants: constantData(g) }), [kiln.tensor([0.5, -2, 3]), kiln.tensor(3, { dtype: 'int32' })], eager);
      expectClose(p2!, [-3], 0);
      expectClose(c2!, [0.5, -1, -3], 0);
    });
  });

  it('stops at maxTripCount; runs zero times; checks the scan length', () => {
    kiln.scope(() => {
      const bindings = new Map<string, number>();
      const [p, cum] = interpret(cumprod(sym('steps')), [kiln.tensor([2, 3, 4, 5]), kiln.tensor(2, { dtype: 'int32' })], eager, { bindings });
      expectClose(p!, [6], 0);
      expectClose(cum!, [2, 6], 0);
      expect(bindings.get('steps')).toBe(2); // bound from the output
      const [p0, cum0] = interpret(cumprod(sym('steps')), [kiln.tensor([2, 3]), kiln.tensor(0, { dtype: 'int32' })], eager);
      expectClose(p0!, [1], 0);
      expect(cum0!.shape).toEqual([0]);
      expect(() => interpret(cumprod(), [kiln.tensor([2, 3, 4]), kiln.tensor(2, { dtype: 'int32' })], eager))
        .toThrow(/Loop: %3, %4 = Loop\(%m, %yes, %one\): output 1 %4 is declared float32\[n\] but came out float32\[2\]: dimension 0: expected n = 3 but got 2/);
    });
  });

  it('runs a while loop (no trip count) until the body says stop', () => {
    // acc = 1; do acc *= 2 while acc < limit; scan out each acc.
    const g = new Graph();
    const limit = g.addInput('limit', f32());
    const one = g.addConstant('one', Float32Array.of(1), f32());
    const body = new Graph(g);
    body.addInput('i', i32());
    body.addInput('c', bool());
    const acc = body.addInput('acc', f32());
    const next = body.addNode('add', [acc, acc], {}, [f32()]).outputs[0]!;
    const more = body.addNode('less', [next, limit], {}, [bool()]).outputs[0]!;
    body.outputs = [more, next, next];
    g.outputs = addLoop(g, { carried: [one], body, scanLength: sym('steps') }).outputs;
    verifyGraph(g);
    expect(printGraph(g)).toContain('= Loop(%one) {hasMaxTripCount=false, hasCond=false} {');
    kiln.scope(() => {
      const bindings = new Map<string, number>();
      const [last, all] = interpret(g, [kiln.tensor(100)], eager, { bindings });
      expectClose(last!, [128], 0);
      expectClose(all!, [2, 4, 8, 16, 32, 64, 128], 0);
      expect(bindings.get('steps')).toBe(7);
    });
  });

  it('uses the iteration number and a Loop nested in an If', () => {
    // sum of i for i < m, when m > 0; else -1.
    const g = new Graph();
    const m = g.addInput('m', i32());
    const zero = g.addConstant('zero', Int32Array.of(0), i32());
    const yes = g.addConstant('yes', Uint8Array.of(1), bool());
    const pos = g.addNode('greater', [m, zero], {}, [bool()]).outputs[0]!;
    const t = new Graph(g);
    const body = new Graph(t);
    const i = body.addInput('i', i32());
    const c = body.addInput('c', bool());
    const s = body.addInput('s', i32());
    body.outputs = [c, body.addNode('add', [s, i], {}, [i32()]).outputs[0]!];
    t.outputs = addLoop(t, { maxTripCount: m, cond: yes, carried: [zero], body }).outputs;
    const e = new Graph(g);
    e.outputs = [e.addConstant('minus1', Int32Array.of(-1), i32())];
    g.outputs = addIf(g, pos, t, e).outputs;
    verifyGraph(g);
    kiln.scope(() => {
      expect(interpret(g, [kiln.tensor(5, { dtype: 'int32' })], eager)[0]!.item()).toBe(10);
      expect(interpret(g, [kiln.tensor(-3, { dtype: 'int32' })], eager)[0]!.item()).toBe(-1);
    });
  });
});
