/**
 * Symbolic shape inference in the IR: the affine dim helpers (and where they refuse), and
 * inferNode on symbolic types by every op's own exact rule (inferDims, usually from
 * symbolicInfer), each checked against the op's concrete inference at several sizes of
 * its symbols. Exact comparisons throughout (shapes are integers).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import {
  concreteAttrs, concreteType, dimAdd, dimDivExact, dimFloorDiv, dimMul, dimProduct, dimSub, evalShape, formatDim, getOp, inferNode, KilnError,
  listOps, NotAffineError, sym, type IrAttrs, type ValueType,
} from '../src/ir/index.js';

beforeAll(async () => {
  await kiln.init();
});

const batch = sym('batch');
const seq = sym('seq');
const h = sym('h');
const f32 = (...shape: ValueType['shape']): ValueType => ({ dtype: 'float32', shape });
const i32 = (...shape: ValueType['shape']): ValueType => ({ dtype: 'int32', shape });

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

const conv = (o: Partial<Record<'strides' | 'pads' | 'dilations', number[]>> & { group?: number } = {}): IrAttrs => ({
  strides: o.strides ?? [1, 1], pads: o.pads ?? [0, 0, 0, 0], dilations: o.dilations ?? [1, 1], group: o.group ?? 1,
});
const pool = (k: number[], s: number[], p: number[], extra: IrAttrs = {}): IrAttrs => ({ kernelShape: k, strides: s, pads: p, ...extra });
/** Attrs of a recurrent op (nonlinearity read by rnn only). */
const rec = (hiddenSize: number, o: { numLayers?: number; bidirectional?: boolean; batchFirst?: boolean; hasBiases?: boolean } = {}): IrAttrs => ({
  hiddenSize, numLayers: o.numLayers ?? 1, bidirectional: o.bidirectional ?? false, batchFirst: o.batchFirst ?? false, hasBiases: o.hasBiases ?? true, nonlinearity: 'tanh',
});

/**
 * Symbolic cases with their expected outputs (`want` is output 0, `more` the others). The
 * symbols are `batch`, `seq` and `h` (a spatial size, or a matrix size `n` / `m`).
 */
const CASES: { op: string; inputs: ValueType[]; attrs?: IrAttrs; want: ValueType['shape']; more?: ValueType['shape'][] }[] = [
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
  { op: 'split', inputs: [f32(sym('batch', 1, 2), 3)], attrs: { axis: 0, sizes: [2, batch] }, want: [2, 3], more: [[batch, 3]] },
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
  { op: 'batchNormTraining', inputs: [f32(batch, 4, 7)], attrs: { eps: 1e-5 }, want: [batch, 4, 7], more: [[4], [4]] },
  { op: 'layerNorm', inputs: [f32(batch, sym('seq'), 8), f32(8), f32(8)], attrs: { axis: 2, eps: 1e-5 }, want: [batch, sym('seq'), 8] },
  { op: 'randomNormal', inputs: [{ dtype: 'int32', shape: [4] }], attrs: { shape: [batch, 2], dtype: 'float32', mean: 0, std: 1 }, want: [batch, 2] },
  // Convolutions: batch passes through, a spatial size at stride 1 is h + 2p − d(k − 1).
  { op: 'conv2d', inputs: [f32(batch, 3, h, 16), f32(8, 3, 3, 3)], attrs: conv({ pads: [1, 1, 1, 1] }), want: [batch, 8, h, 16] },
  { op: 'conv2d', inputs: [f32(batch, 3, h, 16), f32(8, 3, 3, 3), f32(8)], attrs: conv({ dilations: [2, 1], pads: [0, 1, 0, 0] }), want: [batch, 8, sym('h', 1, -4), 15] },
  { op: 'conv2d', inputs: [f32(batch, 4, h, h), f32(4, 1, 3, 2)], attrs: conv({ group: 4 }), want: [batch, 4, sym('h', 1, -2), sym('h', 1, -1)] },
  // Stride 2 over an even H = 2h: ⌊(2h + 2 − 2 − 1)/2⌋ + 1 = h exactly; the width is a number.
  { op: 'conv2d', inputs: [f32(batch, 3, sym('h', 2), 9), f32(8, 3, 3, 3)], attrs: conv({ strides: [2, 2], pads: [1, 1, 1, 1] }), want: [batch, 8, h, 5] },
  { op: 'conv2d', inputs: [f32(seq, 2, h, 7), f32(6, 2, 1, 1)], attrs: { ...conv(), activation: 'relu' }, want: [seq, 6, h, 7] },
  // (h − 1)·2 − 2 + 2 + 1 + 1 = 2h; (5 − 1)·2 − 2 + 2 + 1 + 1 = 10.
  { op: 'convTranspose2d', inputs: [f32(batch, 8, h, 5), f32(8, 3, 3, 3), f32(3)], attrs: { ...conv({ strides: [2, 2], pads: [1, 1, 1, 1] }), outputPadding: [1, 1] }, want: [batch, 3, sym('h', 2), 10] },
  { op: 'convTranspose2d', inputs: [f32(batch, 4, h, 5), f32(4, 1, 3, 3)], attrs: { ...conv({ group: 2, dilations: [2, 2] }), outputPadding: [0, 0] }, want: [batch, 2, sym('h', 1, 4), 9] },
  { op: 'conv2dFilterGrad', inputs: [f32(batch, 3, h, 8), f32(batch, 8, h, 8)], attrs: { ...conv({ pads: [1, 1, 1, 1] }), kernelShape: [3, 3] }, want: [8, 3, 3, 3] },
  { op: 'conv2dFilterGrad', inputs: [f32(batch, 4, h, 8), f32(batch, 6, sym('h', 1, -2), 6)], attrs: { ...conv({ group: 2 }), kernelShape: [3, 3] }, want: [6, 2, 3, 3] },
  // Pools (dilation 1).
  { op: 'maxPool2d', inputs: [f32(batch, 3, h, 9)], attrs: pool([3, 3], [1, 1], [1, 1, 1, 1]), want: [batch, 3, h, 9] },
  { op: 'maxPool2d', inputs: [f32(batch, 3, sym('h', 2), 9)], attrs: pool([2, 2], [2, 2], [0, 0, 0, 0]), want: [batch, 3, h, 4] },
  { op: 'maxPool2dGrad', inputs: [f32(batch, 3, h, 9), f32(batch, 3, sym('h', 1, -1), 8)], attrs: pool([2, 2], [1, 1], [0, 0, 0, 0]), want: [batch, 3, h, 9] },
  { op: 'avgPool2d', inputs: [f32(batch, 3, h, 9)], attrs: pool([2, 3], [1, 1], [0, 1, 0, 1], { countIncludePad: false }), want: [batch, 3, sym('h', 1, -1), 9] },
  { op: 'avgPool2dGrad', inputs: [f32(batch, 3, sym('h', 1, -1), 8)], attrs: pool([2, 2], [1, 1], [0, 0, 0, 0], { countIncludePad: true, inputShape: [h, 9] }), want: [batch, 3, h, 9] },
  // Channels-last forms: the NCHW rule, permuted.
  { op: 'conv2dNhwc', inputs: [f32(batch, h, 16, 3), f32(3, 3, 3, 8), f32(8)], attrs: conv({ pads: [1, 1, 1, 1] }), want: [batch, h, 16, 8] },
  { op: 'maxPool2dNhwc', inputs: [f32(batch, h, 9, 3)], attrs: pool([3, 3], [1, 1], [0, 0, 0, 0]), want: [batch, sym('h', 1, -2), 7, 3] },
  { op: 'avgPool2dNhwc', inputs: [f32(batch, sym('h', 2), 8, 3)], attrs: pool([2, 2], [2, 2], [0, 0, 0, 0], { countIncludePad: true }), want: [batch, h, 4, 3] },
  // Recurrent layers: time and batch pass through to y and the final states.
  { op: 'rnn', inputs: [f32(seq, batch, 5), f32(1, batch, 4), f32(4, 5), f32(4, 4), f32(4), f32(4)], attrs: rec(4), want: [seq, batch, 4], more: [[1, batch, 4]] },
  {
    op: 'lstm',
    inputs: [f32(batch, seq, 5), f32(2, batch, 3), f32(2, batch, 3), f32(12, 5), f32(12, 3), f32(12, 5), f32(12, 3), i32(batch)],
    attrs: rec(3, { bidirectional: true, batchFirst: true, hasBiases: false }),
    want: [batch, seq, 6],
    more: [[2, batch, 3], [2, batch, 3]],
  },
  {
    op: 'gru',
    inputs: [f32(seq, batch, 5), f32(2, batch, 4), f32(12, 5), f32(12, 4), f32(12), f32(12), f32(12, 4), f32(12, 4), f32(12), f32(12)],
    attrs: rec(4, { numLayers: 2 }),
    want: [seq, batch, 4],
    more: [[2, batch, 4]],
  },
  { op: 'lstmGates', inputs: [f32(batch, 12), f32(batch, 12), f32(batch, 3)], want: [batch, 3], more: [[batch, 3]] },
  { op: 'gruGates', inputs: [f32(batch, 12), f32(batch, 12), f32(batch, 4)], want: [batch, 4] },
  // Linear-algebra solves: batch, row and column counts pass through; batches broadcast.
  { op: 'cholesky', inputs: [f32(batch, 3, 3)], want: [batch, 3, 3] },
  { op: 'cholesky', inputs: [f32(h, h)], want: [h, h] },
  { op: 'solveTriangular', inputs: [f32(batch, 3, 3), f32(1, 3, seq)], attrs: { upper: true }, want: [batch, 3, seq] },
  { op: 'solve', inputs: [f32(h, h), f32(batch, h, 2)], want: [batch, h, 2] },
  { op: 'lstsq', inputs: [f32(batch, h, 3), f32(h, 2)], want: [batch, 3, 2] },
];

/** Values of the symbols of `CASES` at probe `i`: every symbol moves, by different steps. */
function bindingsAt(i: number): Map<string, number> {
  return new Map([['batch', 1 + 3 * i], ['seq', 1 + 2 * i], ['h', 6 + 5 * i]]);
}

const shapeText = (shape: ValueType['shape']): string => `[${shape.map(formatDim).join(', ')}]`;

describe('inferNode', () => {
  for (const c of CASES) {
    it(`${c.op}(${c.inputs.map((t) => shapeText(t.shape)).join(', ')}): exact by its rule, and equal to its concrete inference at 6 sizes of each symbol`, () => {
      const attrs = c.attrs ?? {};
      const outs = inferNode(c.op, c.inputs, attrs);
      expect(outs.map((t) => t.shape)).toEqual([c.want, ...(c.more ?? [])]);
      // Property: substituting sizes into the symbolic result gives what the op's concrete
      // inference (eager dispatch's) gives on the substituted inputs.
      const def = getOp(c.op)!;
      for (let i = 0; i < 6; i++) {
        const b = bindingsAt(i);
        const concrete = def.infer(c.inputs.map((t) => concreteType(t, b)), concreteAttrs(attrs, b));
        expect(concrete.map((t) => t.dtype)).toEqual(outs.map((t) => t.dtype));
        expect(concrete.map((t) => t.shape)).toEqual(outs.map((t) => evalShape(t.shape, b)));
      }
    });
  }

  it('every registered op has an exact rule over dims: nothing is sampled', () => {
    const without = listOps().filter((d) => typeof d.inferDims !== 'function').map((d) => d.name);
    expect(without).toEqual([]);
    expect(listOps().length).toBeGreaterThan(90);
  });

  it('symbolic dims that only some sizes make compatible are refused, never guessed', () => {
    expect(() => inferNode('add', [f32(batch), f32(4)], {})).toThrow(NotAffineError);
    expect(() => inferNode('matmul', [f32(2, batch), f32(4, 3)], {})).toThrow(NotAffineError);
    expect(() => inferNode('concat', [f32(batch), f32(sym('seq'))], { axis: 0 })).toThrow(NotAffineError);
    expect(() => inferNode('reshape', [f32(batch, 4)], { shape: [sym('batch', 2), 3] })).toThrow(/cannot reshape \[batch, 4\] \(4\*batch elements\) to \[2\*batch, 3\]/);
  });

  it('a stride > 1 over a symbolic spatial size is not affine: a NotAffineError naming the op and the axis', () => {
    const x = f32(batch, 3, h, 16), w = f32(8, 3, 3, 3);
    const attrs = conv({ strides: [2, 1], pads: [1, 1, 1, 1] });
    // ⌊(h − 1)/2⌋ + 1 is not affine in h.
    expect(() => inferNode('conv2d', [x, w], attrs)).toThrow(NotAffineError);
    expect(() => inferNode('conv2d', [x, w], attrs)).toThrow('conv2d: output height ⌊(h-1) / 2⌋ + 1 is not affine in the input height h at stride 2');
    // The same stride over a number is fine, and over 3h is not (2 does not divide 3).
    expect(inferNode('conv2d', [f32(batch, 3, 16, h), w], attrs)[0]!.shape).toEqual([batch, 8, 8, h]);
    expect(() => inferNode('conv2d', [f32(batch, 3, sym('h', 3), 16), w], attrs)).toThrow(NotAffineError);
    expect(() => inferNode('maxPool2d', [f32(batch, 3, 8, h)], pool([2, 2], [2, 2], [0, 0, 0, 0]))).toThrow(/^maxPool2d: output width .* not affine in the input width h at stride 2$/);
    expect(() => inferNode('avgPool2dGrad', [f32(batch, 3, h, 4)], pool([2, 2], [2, 2], [0, 0, 0, 0], { countIncludePad: true, inputShape: [h, 8] }))).toThrow(NotAffineError);
    expect(() => inferNode('conv2dNhwc', [f32(batch, h, 16, 3), f32(3, 3, 3, 8)], attrs)).toThrow(NotAffineError);
    // Concrete inputs go straight to infer.
    expect(inferNode('conv2d', [f32(2, 3, 8, 8), w], attrs)[0]!.shape).toEqual([2, 8, 4, 8]);
  });

  it('inputs that fit only for some sizes are a NotAffineError; inputs that never fit a KilnError naming the shapes', () => {
    const w = f32(8, 3, 3, 3);
    // Channels: a symbolic count equals the weight's 3 only when it is 3.
    expect(() => inferNode('conv2d', [f32(batch, seq, 8, 8), w], conv())).toThrow(NotAffineError);
    expect(() => inferNode('conv2d', [f32(batch, 4, 8, 8), w], conv())).toThrow(/expects 3 input channels, got 4/);
    expect(() => inferNode('conv2d', [f32(batch, 4, 8, 8), w], conv())).not.toThrow(NotAffineError);
    expect(() => inferNode('conv2d', [f32(batch, 4, 8, 8), f32(6, 2, 3, 3)], conv({ group: 2 }))).not.toThrow();
    expect(() => inferNode('conv2d', [f32(batch, sym('c', 2), 8, 8), f32(6, 1, 3, 3)], conv({ group: 2 }))).toThrow(NotAffineError);
    // An output that comes out empty at every size is refused as eagerly.
    expect(() => inferNode('conv2d', [f32(batch, 3, 2, h), w], conv())).toThrow(/calculated output size 0xh-2 is too small/);
    expect(() => inferNode('conv2dFilterGrad', [f32(batch, 3, h, 8), f32(seq, 8, h, 8)], { ...conv(), kernelShape: [3, 3] })).toThrow(NotAffineError);
    expect(() => inferNode('maxPool2dGrad', [f32(batch, 3, h, 9), f32(batch, 3, h, 8)], pool([2, 2], [1, 1], [0, 0, 0, 0]))).toThrow(NotAffineError);
    expect(() => inferNode('maxPool2dGrad', [f32(batch, 3, h, 9), f32(batch, 3, sym('h', 1, -1), 7)], pool([2, 2], [1, 1], [0, 0, 0, 0]))).toThrow(/does not match the pooled shape \[batch, 3, h-1, 8\]/);
    // Recurrent: symbolic features against a weight's number; a batch that differs from h0's.
    const r = (x: ValueType, h0: ValueType) => inferNode('rnn', [x, h0, f32(4, 5), f32(4, 4)], rec(4, { hasBiases: false }));
    expect(() => r(f32(seq, batch, h), f32(1, batch, 4))).toThrow(NotAffineError);
    expect(() => r(f32(seq, batch, 5), f32(1, sym('b2'), 4))).toThrow(NotAffineError);
    expect(() => r(f32(seq, batch, 5), f32(2, batch, 4))).toThrow(/h0 must have shape \[1, batch, 4\], got \[2, batch, 4\]/);
    // Solves: a matrix square only for some sizes; rows that match only for some sizes.
    expect(() => inferNode('cholesky', [f32(batch, h, seq)], {})).toThrow(NotAffineError);
    expect(() => inferNode('cholesky', [f32(batch, 3, 4)], {})).toThrow(/must be a square matrix or a batch of them \[\.\.\., n, n\], got shape \[batch, 3, 4\]/);
    expect(() => inferNode('solve', [f32(h, h), f32(seq, 2)], {})).toThrow(NotAffineError);
    expect(() => inferNode('lstsq', [f32(batch, 4, 3), f32(seq, 5, 2)], {})).toThrow(/has 4 rows but B \[seq, 5, 2\] has 5/);
    for (const f of [() => inferNode('conv2d', [f32(batch, 3, 8), w], conv()), () => inferNode('cholesky', [f32(batch, 3, 4)], {})]) {
      expect(f).toThrow(KilnError);
      expect(f).not.toThrow(NotAffineError);
    }
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

  it('a CNN over a symbolic batch and height, and an LSTM over a symbolic length and batch: every step proven; results equal eager', async () => {
    const { lower } = await import('../src/compiled/lower.js');
    kiln.manualSeed(5);
    const cnn = new kiln.nn.Sequential(new kiln.nn.Conv2d(3, 4, 3, { padding: 1 }), new kiln.nn.ReLU(), new kiln.nn.MaxPool2d(3, { stride: 1, padding: 1 })).eval();
    const lstm = new kiln.nn.LSTM(5, 4, { bidirectional: true }).eval();
    const models = [
      { f: (x: kiln.Tensor) => cnn.forward(x).sum(1), spec: [kiln.dim('batch'), 3, kiln.dim('h'), 6], input: 'float32[batch, 3, h, 6]', at: (n: number) => [n, 3, n + 2, 6], binding: (n: number) => [['batch', n], ['h', n + 2]] as const },
      { f: (x: kiln.Tensor) => lstm.forward(x)[0], spec: [kiln.dim('seq'), kiln.dim('batch'), 5], input: 'float32[seq, batch, 5]', at: (n: number) => [n + 1, n, 5], binding: (n: number) => [['seq', n + 1], ['batch', n]] as const },
    ];
    for (const m of models) {
      const fast = kiln.compile(m.f, { inputs: [kiln.spec(m.spec)], optimize: 'O0' });
      fast.run(kiln.randn(m.at(3), { seed: 1 }));
      const plan = lower(fast.graph, 'wasm', new Map(), { optimize: 'O0' });
      expect(plan.isSymbolic).toBe(true);
      expect(fast.graph.toString()).toContain(m.input);
      // conv2d, maxPool2d and lstm prove their types for every binding, as the rest do.
      expect(fast.graph.nodes.map((n) => n.op)).toEqual(expect.arrayContaining([m === models[0] ? 'conv2d' : 'lstm']));
      expect(plan.provenSteps).toBe(plan.schedule.main.steps.length);
      for (const n of [1, 4, 2]) {
        const x = kiln.randn(m.at(n), { seed: n });
        const [y] = plan.run([x], new Map(m.binding(n)));
        // Same kernels on the same backend: equal up to float32 reassociation (stated: 1e-6 relative to the largest value).
        const want = kiln.noGrad(() => m.f(x));
        expect(y!.shape).toEqual(want.shape);
        const got = y!.toArray() as number[], ref = want.toArray() as number[];
        const scale = Math.max(...ref.flat(3).map(Math.abs), 1e-30);
        ref.flat(3).forEach((r, i) => expect(Math.abs((got.flat(3)[i] as number) - r) / scale).toBeLessThanOrEqual(1e-6));
      }
      plan.dispose();
      fast.dispose();
    }
  });
});
