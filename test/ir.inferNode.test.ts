/**
 * Symbolic shape inference in the IR: the affine dim helpers (and where they refuse), and
 * inferNode on symbolic types, by the ops' own symbolic rules (symbolicInfer) or, for ops
 * without one, fitted from their concrete inference. Exact comparisons throughout.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import {
  dimAdd, dimDivExact, dimFloorDiv, dimMul, dimProduct, dimSub, getOp, inferByFitting, inferNode, NotAffineError, sym,
  type IrAttrs, type ValueType,
} from '../src/ir/index.js';

beforeAll(async () => {
  await kiln.init();
});

const batch = sym('batch');
const f32 = (...shape: ValueType['shape']): ValueType => ({ dtype: 'float32', shape });

describe('affine dims', () => {
  it('add, subtract, scale, multiply, divide; a zero coefficient is a number', () => {
    expect(dimAdd(batch, 3)).toEqual(sym('batch', 1, 3));
    expect(dimAdd(sym('batch', 2), sym('batch', -2, 5))).toBe(5);
    expect(dimSub(sym('batch', 3, 1), batch)).toEqual(sym('batch', 2, 1));
    expect(dimMul(4, sym('batch', 1, 1))).toEqual(sym('batch', 4, 4));
    expect(dimProduct([2, batch, 3])).toEqual(sym('batch', 6));
    expect(dimFloorDiv(sym('batch', 4, 3), 2)).toEqual(sym('batch', 2, 1));
    expect(dimFloorDiv(7, 2)).toBe(3);
    expect(dimDivExact(sym('batch', 6, 12), 3)).toEqual(sym('batch', 2, 4));
    expect(dimDivExact(sym('batch', 6, 12), sym('batch', 2, 4))).toBe(3);
  });

  it('refuses what is not affine in one symbol with a NotAffineError', () => {
    expect(() => dimAdd(batch, sym('seq'))).toThrow(NotAffineError);
    expect(() => dimMul(batch, sym('seq'))).toThrow(NotAffineError);
    expect(() => dimMul(batch, batch)).toThrow(NotAffineError);
    expect(() => dimProduct([batch, 4, sym('seq')])).toThrow(NotAffineError);
    expect(() => dimFloorDiv(batch, 2)).toThrow(/not affine/);
    expect(() => dimDivExact(sym('batch', 3), 2)).toThrow(NotAffineError);
  });
});

/** Symbolic cases of ops with symbolicInfer rules, with their expected outputs. */
const CASES: { op: string; inputs: ValueType[]; attrs?: IrAttrs; want: ValueType['shape'] }[] = [
  { op: 'relu', inputs: [f32(batch, 4)], want: [batch, 4] },
  { op: 'add', inputs: [f32(batch, 4), f32(4)], want: [batch, 4] },
  { op: 'mul', inputs: [f32(batch, 1), f32(1, 5)], want: [batch, 5] },
  { op: 'where', inputs: [{ dtype: 'bool', shape: [batch, 1] }, f32(batch, 3), f32(3)], want: [batch, 3] },
  { op: 'matmul', inputs: [f32(batch, 784), f32(784, 10)], want: [batch, 10] },
  { op: 'matmul', inputs: [f32(2, batch, 3), f32(3, 5)], want: [2, batch, 5] },
  { op: 'transpose', inputs: [f32(batch, 3)], attrs: { perm: [1, 0] }, want: [3, batch] },
  { op: 'sum', inputs: [f32(batch, 3, 4)], attrs: { axes: [1], keepDims: false }, want: [batch, 4] },
  { op: 'max', inputs: [f32(batch, 3)], attrs: { axes: [0], keepDims: true }, want: [1, 3] },
  { op: 'softmax', inputs: [f32(batch, 3)], attrs: { axis: 1 }, want: [batch, 3] },
  { op: 'reshape', inputs: [f32(batch, 2, 3)], attrs: { shape: [sym('batch', 2), 3] }, want: [sym('batch', 2), 3] },
  { op: 'expand', inputs: [f32(1, 4)], attrs: { shape: [batch, 4] }, want: [batch, 4] },
  { op: 'concat', inputs: [f32(batch, 4), f32(sym('batch', 1, 1), 4)], attrs: { axis: 0 }, want: [sym('batch', 2, 1), 4] },
  // Slices of the batch axis keep the bounds the tracer normalized against it.
  { op: 'slice', inputs: [f32(batch, 6)], attrs: { starts: [1, 0], ends: [batch, 6], steps: [1, 2] }, want: [sym('batch', 1, -1), 3] },
  { op: 'slice', inputs: [f32(sym('batch', 2), 3)], attrs: { starts: [0, 0], ends: [sym('batch', 2), 3], steps: [2, 1] }, want: [batch, 3] },
  { op: 'sliceGrad', inputs: [f32(sym('batch', 1, -1), 3)], attrs: { shape: [batch, 6], starts: [1, 0], ends: [batch, 6], steps: [1, 2] }, want: [batch, 6] },
  { op: 'split', inputs: [f32(sym('batch', 1, 2), 3)], attrs: { axis: 0, sizes: [2, batch] }, want: [2, 3] },
  { op: 'pad', inputs: [f32(batch, 3)], attrs: { pads: [1, 0, 2, 1], mode: 'constant', value: 0 }, want: [sym('batch', 1, 3), 4] },
  { op: 'padReflectGrad', inputs: [f32(sym('batch', 1, 3), 4)], attrs: { pads: [1, 0, 2, 1] }, want: [batch, 3] },
  { op: 'gather', inputs: [f32(batch, 5), { dtype: 'int32', shape: [batch, 2] }], attrs: { axis: 1 }, want: [batch, 2] },
  { op: 'indexSelect', inputs: [f32(4, 5), { dtype: 'int32', shape: [batch] }], attrs: { axis: 0 }, want: [batch, 5] },
  { op: 'oneHot', inputs: [{ dtype: 'int32', shape: [batch] }], attrs: { numClasses: 10 }, want: [batch, 10] },
  { op: 'cast', inputs: [f32(batch, 2)], attrs: { dtype: 'int32' }, want: [batch, 2] },
  { op: 'tril', inputs: [f32(batch, 3, 3)], attrs: { diagonal: 0 }, want: [batch, 3, 3] },
  { op: 'bernoulli', inputs: [f32(batch, 3), { dtype: 'int32', shape: [4] }], want: [batch, 3] },
  { op: 'linear', inputs: [f32(batch, 3, 8), f32(5, 8), f32(5)], want: [batch, 3, 5] },
  { op: 'batchNorm', inputs: [f32(batch, 4, 5, 5), f32(4), f32(4), f32(4), f32(4)], attrs: { eps: 1e-5 }, want: [batch, 4, 5, 5] },
  { op: 'batchNormTraining', inputs: [f32(batch, 4, 7)], attrs: { eps: 1e-5 }, want: [batch, 4, 7] },
  { op: 'layerNorm', inputs: [f32(batch, sym('seq'), 8), f32(8), f32(8)], attrs: { axis: 2, eps: 1e-5 }, want: [batch, sym('seq'), 8] },
  { op: 'randomNormal', inputs: [{ dtype: 'int32', shape: [4] }], attrs: { shape: [batch, 2], dtype: 'float32', mean: 0, std: 1 }, want: [batch, 2] },
];

describe('inferNode', () => {
  for (const c of CASES) {
    it(`${c.op}(${c.inputs.map((t) => `[${t.shape.map((d) => (typeof d === 'number' ? d : 'batch')).join(', ')}]`).join(', ')}): by its rule, and the rule agrees with fitting its concrete inference`, () => {
      const [out] = inferNode(c.op, c.inputs, c.attrs ?? {});
      expect(out!.shape).toEqual(c.want);
      expect(getOp(c.op)!.inferDims).toBeDefined();
      expect(inferByFitting(getOp(c.op)!, c.inputs, c.attrs ?? {})).toEqual(inferNode(c.op, c.inputs, c.attrs ?? {}));
    });
  }

  it('symbolic dims that only some sizes make compatible are refused, never guessed', () => {
    expect(() => inferNode('add', [f32(batch), f32(4)], {})).toThrow(NotAffineError);
    expect(() => inferNode('matmul', [f32(2, batch), f32(4, 3)], {})).toThrow(NotAffineError);
    expect(() => inferNode('concat', [f32(batch), f32(sym('seq'))], { axis: 0 })).toThrow(NotAffineError);
    expect(() => inferNode('reshape', [f32(batch, 4)], { shape: [sym('batch', 2), 3] })).toThrow(/cannot reshape \[batch, 4\] \(4\*batch elements\) to \[2\*batch, 3\]/);
  });

  it('ops without a symbolic rule are fitted from their concrete inference (conv2d over a symbolic batch and height)', () => {
    expect(getOp('conv2d')!.inferDims).toBeUndefined();
    const x = f32(batch, 3, sym('h'), 16), w = f32(8, 3, 3, 3);
    const attrs = { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 };
    expect(inferNode('conv2d', [x, w], attrs)[0]!.shape).toEqual([batch, 8, sym('h'), 16]);
    // Stride 2 over a symbolic height: ⌊(h − 1)/2⌋ + 1 is not affine in h.
    expect(() => inferNode('conv2d', [x, w], { ...attrs, strides: [2, 2] })).toThrow(NotAffineError);
    // Concrete inputs go straight to infer.
    expect(inferNode('conv2d', [f32(2, 3, 8, 8), w], attrs)[0]!.shape).toEqual([2, 8, 8, 8]);
  });
});

describe('plans: a new binding of the symbols infers only what symbolic inference did not prove', () => {
  it('an MLP with a symbolic batch: every step proven; results equal eager at batch sizes alternating', async () => {
    const { lower } = await import('../src/compiled/lower.js');
    const model = new kiln.nn.Sequential(new kiln.nn.Linear(6, 5), new kiln.nn.Tanh(), new kiln.nn.Linear(5, 3)).eval();
    const fast = kiln.compile((x: kiln.Tensor) => model.forward(x).softmax(1).sum(1), { inputs: [kiln.spec([kiln.dim('batch'), 6])], optimize: 'O0' });
    fast.run(kiln.randn([4, 6], { seed: 1 }));
    const plan = lower(fast.graph, 'wasm', new Map(), { optimize: 'O0' });
    expect(plan.isSymbolic).toBe(true);
    // linear, tanh, softmax and sum have symbolic rules: every step is proven.
    const ops = fast.graph.nodes.map((n) => n.op);
    expect(plan.provenSteps).toBe(ops.filter((op) => getOp(op)!.inferDims !== undefined).length);
    expect(plan.provenSteps).toBeGreaterThanOrEqual(3);
    for (const n of [1, 7, 1, 7, 2]) {
      const x = kiln.randn([n, 6], { seed: n });
      const [y] = plan.run([x], new Map([['batch', n]]));
      expect(y!.toArray()).toEqual(kiln.noGrad(() => model.forward(x).softmax(1).sum(1)).toArray());
    }
    // A binding the graph cannot hold is still refused.
    expect(plan.prepare(new Map([['batch', -1]]))).toMatch(/where the graph says/);
    plan.dispose();
  });
});
