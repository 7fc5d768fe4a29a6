// Per-op conformance of the ONNX importer: each case is a one-node model built here, run
// in Kiln (wasm) and in onnxruntime-node (the oracle) on seeded random inputs, at each
// listed opset. The table also generates docs/onnx-ops.md (the README's "supported ops
// per opset"): `KILN_UPDATE_DOCS=1 npx vitest run test/onnx.import.ops.test.ts` rewrites
// it; otherwise the test fails when the file is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { supportedOnnxOps } from '../src/onnx/importOps/index.js';
import { attrProto as attrProtoOf, inputsFor, modelBytes, runKiln, runOrt, worstError, type Attr, type ELEM, type TensorSpec } from './onnx.import.support.js';

interface Spec {
  readonly tensors: readonly TensorSpec[];
  /** Node inputs (default: every tensor's name, in order); '' skips an optional input. */
  readonly inputs?: readonly string[];
  readonly attrs?: readonly Attr[];
  readonly outputs?: readonly { name: string; dtype: keyof typeof ELEM }[];
  /** Input range (default [-2, 2]). */
  readonly range?: readonly [number, number];
}

interface Case {
  readonly op: string;
  readonly variant: string;
  readonly opsets: readonly number[];
  readonly spec: (opset: number) => Spec;
  /** atol, rtol (default 1e-5, 1e-4: float32 kernels that order sums differently). */
  readonly tol?: readonly [number, number];
}

const f = (name: string, shape: readonly (number | string)[]): TensorSpec => ({ name, dtype: 'float32', shape });
const fc = (name: string, shape: readonly number[], values: readonly number[]): TensorSpec => ({ name, dtype: 'float32', shape, values });
const i64 = (name: string, values: readonly number[], shape: readonly number[] = [values.length]): TensorSpec => ({ name, dtype: 'int64', shape, values });
const seq = (n: number, scale = 0.1, offset = 0) => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + offset) * scale * 3);
const ai = (name: string, i: number): Attr => ({ name, i });
const af = (name: string, v: number): Attr => ({ name, f: v });
const ais = (name: string, ints: readonly number[]): Attr => ({ name, ints });
const as = (name: string, s: string): Attr => ({ name, s });
const y = (dtype: keyof typeof ELEM = 'float32') => [{ name: 'y', dtype }];

const X = f('x', [2, 3, 5]);
const unaryCase = (op: string, opsets: readonly number[], attrs: Attr[] = [], range?: [number, number], variant = 'x: [2, 3, 5]'): Case => ({
  op, variant, opsets, spec: () => ({ tensors: [X], attrs, ...(range ? { range } : {}) }),
});
const binaryCase = (op: string, out: keyof typeof ELEM = 'float32', range?: [number, number]): Case => ({
  op, variant: 'broadcast [2, 3, 4] with [3, 1]', opsets: [9, 13], spec: () => ({ tensors: [f('a', [2, 3, 4]), f('b', [3, 1])], outputs: y(out), ...(range ? { range } : {}) }),
});
const boolBinary = (op: string): Case => ({
  op, variant: 'bool [2, 3] with [3]', opsets: [9, 13], spec: () => ({ tensors: [{ name: 'a', dtype: 'bool', shape: [2, 3] }, { name: 'b', dtype: 'bool', shape: [3] }], outputs: y('bool') }),
});
/** Axes as an attribute before `since`, as an input from it on. */
const axesSpec = (opset: number, since: number, axes: readonly number[], extra: Attr[] = []): Pick<Spec, 'attrs' | 'inputs'> & { axesTensor: TensorSpec[] } =>
  opset < since ? { attrs: [ais('axes', axes), ...extra], axesTensor: [] } : { attrs: extra, axesTensor: [i64('axes', axes)] };
const reduceCase = (op: string, since: number, keep: number, range?: [number, number]): Case => ({
  op, variant: `axes [1, -1], keepdims ${keep}`, opsets: since === 13 ? [11, 13] : [13, 18],
  spec: (o) => {
    const a = axesSpec(o, since, [1, -1], [ai('keepdims', keep)]);
    return { tensors: [f('x', [2, 3, 4]), ...a.axesTensor], attrs: a.attrs, ...(range ? { range } : {}) };
  },
});

const LSTM_H = 3;
const rnnWeights = (gates: number, dirs: number, inSize: number, h: number, bias: boolean): TensorSpec[] => [
  fc('W', [dirs, gates * h, inSize], seq(dirs * gates * h * inSize, 0.2, 1)),
  fc('R', [dirs, gates * h, h], seq(dirs * gates * h * h, 0.2, 2)),
  ...(bias ? [fc('B', [dirs, 2 * gates * h], seq(dirs * 2 * gates * h, 0.1, 3))] : []),
];

const CASES: Case[] = [
  // elementwise
  binaryCase('Add'), binaryCase('Sub'), binaryCase('Mul'), binaryCase('Div'),
  { op: 'Pow', variant: 'positive base, broadcast exponent', opsets: [9, 15], spec: () => ({ tensors: [f('a', [2, 3, 4]), f('b', [3, 1])], range: [0.5, 2] }) },
  ...['Neg', 'Abs', 'Exp', 'Sin', 'Cos', 'Erf', 'Relu', 'Sigmoid', 'Tanh', 'Sign', 'Softsign'].map((op) => unaryCase(op, [9, 13])),
  unaryCase('Log', [9, 13], [], [0.1, 3]), unaryCase('Sqrt', [9, 13], [], [0, 3]), unaryCase('Reciprocal', [9, 13], [], [0.5, 3]),
  unaryCase('Softplus', [9]), unaryCase('Mish', [18]),
  unaryCase('LeakyRelu', [9, 16], [af('alpha', 0.2)], undefined, 'alpha 0.2'),
  unaryCase('Elu', [9], [af('alpha', 0.7)], undefined, 'alpha 0.7'),
  unaryCase('Selu', [9]),
  unaryCase('HardSigmoid', [9], [af('alpha', 0.25), af('beta', 0.4)], undefined, 'alpha 0.25, beta 0.4'),
  unaryCase('HardSwish', [14]),
  unaryCase('Identity', [9, 16]), unaryCase('Dropout', [9, 13]),
  { op: 'PRelu', variant: 'slope per channel [3, 1]', opsets: [9, 16], spec: () => ({ tensors: [X, fc('s', [3, 1], [0.1, -0.2, 0.3])] }) },
  { op: 'Clip', variant: 'min/max attributes', opsets: [9], spec: () => ({ tensors: [X], attrs: [af('min', -0.5), af('max', 0.8)] }) },
  { op: 'Clip', variant: 'min/max inputs', opsets: [11, 13], spec: () => ({ tensors: [X, fc('lo', [], [-0.5]), fc('hi', [], [0.8])] }) },
  { op: 'Clip', variant: 'max input only', opsets: [13], spec: () => ({ tensors: [X, fc('hi', [], [0.8])], inputs: ['x', '', 'hi'] }) },
  ...['Equal', 'Less', 'Greater'].map((op) => ({ ...binaryCase(op, 'bool'), opsets: [11, 13] })),
  ...['LessOrEqual', 'GreaterOrEqual'].map((op) => ({ ...binaryCase(op, 'bool'), opsets: [12, 16] })),
  boolBinary('And'), boolBinary('Or'), boolBinary('Xor'),
  { op: 'Not', variant: 'bool [2, 3]', opsets: [9], spec: () => ({ tensors: [{ name: 'x', dtype: 'bool', shape: [2, 3] }], outputs: y('bool') }) },
  { op: 'Where', variant: 'broadcast condition', opsets: [9, 16], spec: () => ({ tensors: [{ name: 'c', dtype: 'bool', shape: [3, 1] }, f('a', [2, 3, 4]), f('b', [4])] }) },
  ...['Sum', 'Max', 'Min', 'Mean'].map((op): Case => ({ op, variant: '3 inputs, broadcast', opsets: [9, 13], spec: () => ({ tensors: [f('a', [2, 3]), f('b', [3]), f('c', [2, 1])] }) })),
  { op: 'MatMul', variant: 'batched [2, 3, 4]·[4, 5]', opsets: [9, 13], spec: () => ({ tensors: [f('a', [2, 3, 4]), f('b', [4, 5])] }) },
  { op: 'MatMul', variant: 'vector·matrix', opsets: [13], spec: () => ({ tensors: [f('a', [4]), f('b', [4, 5])] }) },
  // nn
  { op: 'Gemm', variant: 'transB, bias [N]', opsets: [9, 13], spec: () => ({ tensors: [f('a', [3, 4]), fc('w', [5, 4], seq(20)), fc('c', [5], seq(5))], attrs: [ai('transB', 1)] }) },
  { op: 'Gemm', variant: 'transA, alpha 0.5, beta 2, bias [M, N]', opsets: [11], spec: () => ({ tensors: [f('a', [4, 3]), f('b', [4, 5]), f('c', [3, 5])], attrs: [ai('transA', 1), af('alpha', 0.5), af('beta', 2)] }) },
  { op: 'Gemm', variant: 'no bias', opsets: [13], spec: () => ({ tensors: [f('a', [3, 4]), f('b', [4, 5])] }) },
  { op: 'Conv', variant: '2-D, pads, strides 2, bias', opsets: [9, 11], spec: () => ({ tensors: [f('x', [1, 2, 7, 6]), fc('w', [4, 2, 3, 3], seq(72)), fc('b', [4], seq(4))], attrs: [ais('pads', [1, 1, 1, 1]), ais('strides', [2, 2])] }) },
  { op: 'Conv', variant: '2-D, dilations 2, group 2', opsets: [11], spec: () => ({ tensors: [f('x', [1, 4, 7, 7]), fc('w', [4, 2, 3, 3], seq(72))], attrs: [ais('dilations', [2, 2]), ai('group', 2)] }) },
  { op: 'Conv', variant: '2-D, auto_pad SAME_UPPER, strides 2', opsets: [11], spec: () => ({ tensors: [f('x', [1, 2, 6, 5]), fc('w', [3, 2, 3, 3], seq(54))], attrs: [as('auto_pad', 'SAME_UPPER'), ais('strides', [2, 2])] }) },
  { op: 'Conv', variant: '1-D, pads, stride 2', opsets: [11, 18], spec: () => ({ tensors: [f('x', [2, 3, 9]), fc('w', [4, 3, 3], seq(36)), fc('b', [4], seq(4))], attrs: [ais('pads', [1, 1]), ais('strides', [2])] }) },
  { op: 'ConvTranspose', variant: '2-D, strides 2, pads, output_padding', opsets: [9, 11], spec: () => ({ tensors: [f('x', [1, 2, 4, 3]), fc('w', [2, 3, 3, 3], seq(54)), fc('b', [3], seq(3))], attrs: [ais('strides', [2, 2]), ais('pads', [1, 1, 1, 1]), ais('output_padding', [1, 0])] }) },
  { op: 'ConvTranspose', variant: '2-D, kernel 2 stride 2, group 2', opsets: [11], spec: () => ({ tensors: [f('x', [1, 4, 3, 3]), fc('w', [4, 1, 2, 2], seq(16))], attrs: [ais('strides', [2, 2]), ai('group', 2)] }) },
  { op: 'ConvTranspose', variant: '1-D, stride 2', opsets: [13], spec: () => ({ tensors: [f('x', [1, 2, 5]), fc('w', [2, 3, 4], seq(24))], attrs: [ais('strides', [2])] }) },
  { op: 'MaxPool', variant: '2-D, kernel 3, stride 2, pads', opsets: [9, 12], spec: () => ({ tensors: [f('x', [1, 2, 7, 6])], attrs: [ais('kernel_shape', [3, 3]), ais('strides', [2, 2]), ais('pads', [1, 1, 1, 1])] }) },
  { op: 'MaxPool', variant: '2-D, ceil_mode', opsets: [11], spec: () => ({ tensors: [f('x', [1, 2, 6, 7])], attrs: [ais('kernel_shape', [2, 2]), ais('strides', [2, 2]), ai('ceil_mode', 1)] }) },
  { op: 'MaxPool', variant: '1-D', opsets: [12], spec: () => ({ tensors: [f('x', [2, 3, 9])], attrs: [ais('kernel_shape', [3]), ais('strides', [2])] }) },
  { op: 'AveragePool', variant: 'pads, count_include_pad 0', opsets: [9, 11], spec: () => ({ tensors: [f('x', [1, 2, 7, 6])], attrs: [ais('kernel_shape', [3, 3]), ais('strides', [2, 2]), ais('pads', [1, 1, 1, 1])] }) },
  { op: 'AveragePool', variant: 'pads, count_include_pad 1', opsets: [11], spec: () => ({ tensors: [f('x', [1, 2, 7, 6])], attrs: [ais('kernel_shape', [3, 3]), ais('pads', [1, 1, 1, 1]), ai('count_include_pad', 1)] }) },
  { op: 'GlobalAveragePool', variant: '[2, 3, 5, 4]', opsets: [9], spec: () => ({ tensors: [f('x', [2, 3, 5, 4])] }) },
  { op: 'GlobalMaxPool', variant: '[2, 3, 5, 4]', opsets: [9], spec: () => ({ tensors: [f('x', [2, 3, 5, 4])] }) },
  { op: 'BatchNormalization', variant: 'inference, epsilon 1e-3', opsets: [9, 15], spec: () => ({ tensors: [f('x', [2, 3, 4, 2]), fc('s', [3], [1, 0.5, -1]), fc('b', [3], [0.1, 0.2, 0.3]), fc('m', [3], [0.1, -0.2, 0]), fc('v', [3], [1, 0.5, 2])], attrs: [af('epsilon', 1e-3)] }) },
  { op: 'InstanceNormalization', variant: '[2, 3, 4, 5]', opsets: [9], spec: () => ({ tensors: [f('x', [2, 3, 4, 5]), fc('s', [3], [1, 0.5, -1]), fc('b', [3], [0.1, 0.2, 0.3])] }) },
  { op: 'LayerNormalization', variant: 'axis -1, scale and bias', opsets: [17], spec: () => ({ tensors: [f('x', [2, 3, 5]), fc('s', [5], seq(5, 0.3, 1)), fc('b', [5], seq(5))] }) },
  { op: 'LayerNormalization', variant: 'axis 1, no bias', opsets: [17], spec: () => ({ tensors: [f('x', [2, 3, 5]), fc('s', [3, 5], seq(15, 0.3, 1))], attrs: [ai('axis', 1)] }) },
  { op: 'Softmax', variant: 'axis 1 of [2, 3, 4] (2-D coercion before 13)', opsets: [9, 11, 13], spec: () => ({ tensors: [f('x', [2, 3, 4])], attrs: [ai('axis', 1)] }) },
  { op: 'Softmax', variant: 'default axis', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 3, 4])] }) },
  { op: 'LogSoftmax', variant: 'axis 1 of [2, 3, 4]', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 3, 4])], attrs: [ai('axis', 1)] }) },
  { op: 'LRN', variant: 'size 3', opsets: [9, 13], spec: () => ({ tensors: [f('x', [1, 5, 3, 2])], attrs: [ai('size', 3), af('alpha', 0.01), af('beta', 0.75), af('bias', 1.5)] }) },
  // reductions
  reduceCase('ReduceSum', 13, 1), reduceCase('ReduceSum', 13, 0),
  reduceCase('ReduceMean', 18, 1), reduceCase('ReduceMean', 18, 0), reduceCase('ReduceMax', 18, 1), reduceCase('ReduceMin', 18, 0),
  reduceCase('ReduceProd', 18, 1), reduceCase('ReduceL1', 18, 1), reduceCase('ReduceL2', 18, 0), reduceCase('ReduceSumSquare', 18, 1),
  reduceCase('ReduceLogSumExp', 18, 1),
  { op: 'ReduceMean', variant: 'all axes (no axes given)', opsets: [13], spec: () => ({ tensors: [f('x', [2, 3, 4])] }) },
  { op: 'ArgMax', variant: 'axis 1, keepdims 0', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 3, 4])], attrs: [ai('axis', 1), ai('keepdims', 0)], outputs: y('int64') }) },
  { op: 'ArgMin', variant: 'axis -1', opsets: [13], spec: () => ({ tensors: [f('x', [2, 3, 4])], attrs: [ai('axis', -1)], outputs: y('int64') }) },
  // shape
  { op: 'Flatten', variant: 'axis 2', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 3, 4, 2])], attrs: [ai('axis', 2)] }) },
  { op: 'Reshape', variant: 'shape [0, -1] (copy and infer)', opsets: [9, 14], spec: () => ({ tensors: [f('x', [2, 3, 4]), i64('s', [0, -1])] }) },
  { op: 'Transpose', variant: 'perm [2, 0, 1]', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 3, 4])], attrs: [ais('perm', [2, 0, 1])] }) },
  { op: 'Transpose', variant: 'default (reversed)', opsets: [13], spec: () => ({ tensors: [f('x', [2, 3, 4])] }) },
  { op: 'Concat', variant: 'axis -1, three inputs', opsets: [9, 13], spec: () => ({ tensors: [f('a', [2, 3]), f('b', [2, 1]), f('c', [2, 2])], attrs: [ai('axis', -1)] }) },
  { op: 'Split', variant: 'sizes [1, 3]', opsets: [9, 13], spec: (o) => ({ tensors: [f('x', [2, 4, 3]), ...(o >= 13 ? [i64('split', [1, 3])] : [])], attrs: [ai('axis', 1), ...(o < 13 ? [ais('split', [1, 3])] : [])], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'z', dtype: 'float32' }] }) },
  { op: 'Split', variant: 'equal parts', opsets: [13, 18], spec: (o) => ({ tensors: [f('x', [2, 6])], attrs: [ai('axis', 1), ...(o >= 18 ? [ai('num_outputs', 3)] : [])], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'z', dtype: 'float32' }, { name: 'w', dtype: 'float32' }] }) },
  { op: 'Slice', variant: 'starts/ends/axes attributes', opsets: [9], spec: () => ({ tensors: [f('x', [4, 5, 3])], attrs: [ais('starts', [1, -3]), ais('ends', [3, 1000]), ais('axes', [0, 1])] }) },
  { op: 'Slice', variant: 'inputs, negative step, INT64_MAX end', opsets: [10, 13], spec: () => ({ tensors: [f('x', [4, 5, 3]), i64('st', [-1, 0]), i64('en', [-9223372036854775807, 9223372036854775807]), i64('ax', [1, 2]), i64('sp', [-2, 1])] }) },
  { op: 'Pad', variant: 'constant value, pads attribute', opsets: [9], spec: () => ({ tensors: [f('x', [2, 3, 4])], attrs: [ais('pads', [0, 1, 2, 0, 2, 1]), af('value', 0.5)] }) },
  { op: 'Pad', variant: 'constant, pads input, negative pad', opsets: [11, 13], spec: () => ({ tensors: [f('x', [2, 3, 4]), i64('p', [0, 1, -1, 0, 2, 1]), fc('v', [], [1.5])] }) },
  { op: 'Pad', variant: 'reflect', opsets: [11], spec: () => ({ tensors: [f('x', [2, 3, 4]), i64('p', [0, 0, 2, 0, 1, 3])], attrs: [as('mode', 'reflect')] }) },
  { op: 'Pad', variant: 'edge', opsets: [13], spec: () => ({ tensors: [f('x', [2, 3, 4]), i64('p', [0, 1, 2, 0, 2, 1])], attrs: [as('mode', 'edge')] }) },
  { op: 'Pad', variant: 'axes input', opsets: [18], spec: () => ({ tensors: [f('x', [2, 3, 4]), i64('p', [1, 2, 3, 0]), { name: '', dtype: 'float32', shape: [] } as never, i64('a', [1, -1])].filter((t) => t.name !== ''), inputs: ['x', 'p', '', 'a'] }) },
  { op: 'Gather', variant: 'axis 1, [2, 2] indices with a negative one', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 4, 3]), i64('i', [0, -1, 2, 1], [2, 2])], attrs: [ai('axis', 1)] }) },
  { op: 'Gather', variant: 'scalar index', opsets: [13], spec: () => ({ tensors: [f('x', [3, 4]), i64('i', [2], [])] }) },
  { op: 'Gather', variant: 'indices computed at run time', opsets: [13], spec: () => ({ tensors: [f('x', [5, 3]), { name: 'i', dtype: 'int64', shape: [4] }] }) },
  { op: 'GatherElements', variant: 'axis 1', opsets: [11, 13], spec: () => ({ tensors: [f('x', [2, 4]), i64('i', [0, 3, 3, 1, 2, 2], [2, 3])], attrs: [ai('axis', 1)] }) },
  { op: 'Squeeze', variant: 'axes [0, -1]', opsets: [9, 13], spec: (o) => ({ tensors: [f('x', [1, 3, 1]), ...(o >= 13 ? [i64('a', [0, -1])] : [])], attrs: o < 13 ? [ais('axes', [0, -1])] : [] }) },
  { op: 'Squeeze', variant: 'all size-1 axes', opsets: [13], spec: () => ({ tensors: [f('x', [1, 3, 1, 2])] }) },
  { op: 'Unsqueeze', variant: 'axes [0, 3]', opsets: [9, 13], spec: (o) => ({ tensors: [f('x', [2, 3]), ...(o >= 13 ? [i64('a', [0, 3])] : [])], attrs: o < 13 ? [ais('axes', [0, 3])] : [] }) },
  { op: 'Expand', variant: 'bidirectional broadcast', opsets: [9, 13], spec: () => ({ tensors: [f('x', [3, 1]), i64('s', [2, 1, 4])] }) },
  { op: 'Tile', variant: 'repeats [2, 1, 3]', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 3, 2]), i64('r', [2, 1, 3])] }) },
  { op: 'Shape', variant: 'of an input', opsets: [9], spec: () => ({ tensors: [f('x', [2, 3, 4])], outputs: y('int64') }) },
  { op: 'Shape', variant: 'start 1, end -1', opsets: [15], spec: () => ({ tensors: [f('x', [2, 3, 4, 5])], attrs: [ai('start', 1), ai('end', -1)], outputs: y('int64') }) },
  { op: 'Size', variant: 'of an input', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 3, 4])], outputs: y('int64') }) },
  { op: 'Cast', variant: 'float → int32 (truncates)', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 5])], attrs: [ai('to', 6)], outputs: y('int32'), range: [-20, 20] }) },
  { op: 'Cast', variant: 'float → bool', opsets: [13], spec: () => ({ tensors: [f('x', [2, 5])], attrs: [ai('to', 9)], outputs: y('bool'), range: [-1, 1] }) },
  { op: 'CastLike', variant: 'like an int32 tensor', opsets: [15], spec: () => ({ tensors: [f('x', [2, 5]), { name: 'l', dtype: 'int32', shape: [1], values: [0] }], outputs: y('int32'), range: [-20, 20] }) },
  // nodes whose outputs are known at import (folded): checked through a consumer
  { op: 'ConstantOfShape', variant: 'value 2.5, added to x', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 3])], inputs: ['x'] }) },
  { op: 'Range', variant: 'int64 start/limit/delta', opsets: [11], spec: () => ({ tensors: [i64('a', [2], []), i64('b', [11], []), i64('d', [3], [])], outputs: y('int64') }) },
  { op: 'Constant', variant: 'value tensor, added to x', opsets: [9, 13], spec: () => ({ tensors: [f('x', [2, 3])], inputs: ['x'] }) },
  // resize
  { op: 'Resize', variant: 'nearest ×2, asymmetric/floor (PaddleOCR)', opsets: [11, 13], spec: () => ({ tensors: [f('x', [1, 2, 3, 4]), fc('roi', [0], []), fc('sc', [4], [1, 1, 2, 2])], attrs: [as('mode', 'nearest'), as('coordinate_transformation_mode', 'asymmetric'), as('nearest_mode', 'floor')] }) },
  { op: 'Resize', variant: 'nearest, half_pixel, round_prefer_floor, sizes', opsets: [11, 18], spec: () => ({ tensors: [f('x', [1, 2, 3, 4]), fc('roi', [0], []), fc('sc', [0], []), i64('sz', [1, 2, 5, 7])] }) },
  { op: 'Resize', variant: 'linear, half_pixel, scales 1.5', opsets: [11, 13], spec: () => ({ tensors: [f('x', [1, 2, 4, 4]), fc('roi', [0], []), fc('sc', [4], [1, 1, 1.5, 0.75])], attrs: [as('mode', 'linear')] }) },
  { op: 'Resize', variant: 'linear, align_corners, sizes', opsets: [13], spec: () => ({ tensors: [f('x', [1, 2, 3, 4]), fc('roi', [0], []), fc('sc', [0], []), i64('sz', [1, 2, 5, 6])], attrs: [as('mode', 'linear'), as('coordinate_transformation_mode', 'align_corners')] }) },
  { op: 'Resize', variant: 'linear, pytorch_half_pixel ×2', opsets: [13], spec: () => ({ tensors: [f('x', [1, 1, 3, 5]), fc('roi', [0], []), fc('sc', [4], [1, 1, 2, 2])], attrs: [as('mode', 'linear'), as('coordinate_transformation_mode', 'pytorch_half_pixel')] }) },
  { op: 'Resize', variant: 'nearest, scales input (opset 10)', opsets: [10], spec: () => ({ tensors: [f('x', [1, 2, 3, 4]), fc('sc', [4], [1, 1, 2, 3])] }) },
  { op: 'Upsample', variant: 'nearest ×2', opsets: [9], spec: () => ({ tensors: [f('x', [1, 2, 3, 4]), fc('sc', [4], [1, 1, 2, 2])] }) },
  { op: 'Upsample', variant: 'linear ×2', opsets: [9], spec: () => ({ tensors: [f('x', [1, 2, 3, 4]), fc('sc', [4], [1, 1, 2, 2])], attrs: [as('mode', 'linear')] }) },
  // recurrent
  { op: 'LSTM', variant: 'forward, bias, initial states', opsets: [9, 14], spec: () => ({ tensors: [f('x', [5, 2, 4]), ...rnnWeights(4, 1, 4, LSTM_H, true), f('h0', [1, 2, LSTM_H]), f('c0', [1, 2, LSTM_H])], inputs: ['x', 'W', 'R', 'B', '', 'h0', 'c0'], attrs: [ai('hidden_size', LSTM_H)], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }, { name: 'yc', dtype: 'float32' }] }) },
  { op: 'LSTM', variant: 'bidirectional, no bias, zero states', opsets: [13], spec: () => ({ tensors: [f('x', [4, 3, 2]), ...rnnWeights(4, 2, 2, LSTM_H, false)], attrs: [ai('hidden_size', LSTM_H), as('direction', 'bidirectional')], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }] }) },
  { op: 'LSTM', variant: 'reverse', opsets: [13], spec: () => ({ tensors: [f('x', [4, 2, 3]), ...rnnWeights(4, 1, 3, LSTM_H, true)], attrs: [ai('hidden_size', LSTM_H), as('direction', 'reverse')], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }] }) },
  { op: 'LSTM', variant: 'sequence_lens', opsets: [13], spec: () => ({ tensors: [f('x', [4, 3, 2]), ...rnnWeights(4, 1, 2, LSTM_H, true), { name: 'len', dtype: 'int32', shape: [3], values: [4, 2, 1] }], attrs: [ai('hidden_size', LSTM_H)], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }] }) },
  { op: 'GRU', variant: 'linear_before_reset 1, bidirectional', opsets: [9, 14], spec: () => ({ tensors: [f('x', [5, 2, 4]), ...rnnWeights(3, 2, 4, LSTM_H, true)], attrs: [ai('hidden_size', LSTM_H), ai('linear_before_reset', 1), as('direction', 'bidirectional')], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }] }) },
  { op: 'GRU', variant: 'linear_before_reset 0 (unrolled), initial state', opsets: [9, 14], spec: () => ({ tensors: [f('x', [4, 2, 3]), ...rnnWeights(3, 1, 3, LSTM_H, true), f('h0', [1, 2, LSTM_H])], inputs: ['x', 'W', 'R', 'B', '', 'h0'], attrs: [ai('hidden_size', LSTM_H)], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }] }) },
  { op: 'GRU', variant: 'linear_before_reset 0, bidirectional, no bias', opsets: [13], spec: () => ({ tensors: [f('x', [3, 2, 2]), ...rnnWeights(3, 2, 2, LSTM_H, false)], attrs: [ai('hidden_size', LSTM_H), as('direction', 'bidirectional')], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }] }) },
  { op: 'GRU', variant: 'linear_before_reset 0, reverse', opsets: [13], spec: () => ({ tensors: [f('x', [3, 2, 2]), ...rnnWeights(3, 1, 2, LSTM_H, true)], attrs: [ai('hidden_size', LSTM_H), as('direction', 'reverse')], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }] }) },
  { op: 'RNN', variant: 'tanh, initial state', opsets: [9, 14], spec: () => ({ tensors: [f('x', [5, 2, 4]), ...rnnWeights(1, 1, 4, LSTM_H, true), f('h0', [1, 2, LSTM_H])], inputs: ['x', 'W', 'R', 'B', '', 'h0'], attrs: [ai('hidden_size', LSTM_H)], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }] }) },
  { op: 'RNN', variant: 'Relu activation', opsets: [13], spec: () => ({ tensors: [f('x', [5, 2, 4]), ...rnnWeights(1, 1, 4, LSTM_H, true)], attrs: [ai('hidden_size', LSTM_H), { name: 'activations', strings: ['Relu'] }], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }] }) },
  // control flow
  { op: 'If', variant: 'condition known only at run time (both branches, then select)', opsets: [11, 16], spec: () => ({ tensors: [{ name: 'c', dtype: 'bool', shape: [] }, f('x', [2, 3])] }) },
  { op: 'If', variant: 'condition from a shape (folded at import)', opsets: [13], spec: () => ({ tensors: [f('x', [2, 3])] }) },
  { op: 'Loop', variant: 'trip count 3, carried sum and a scan output (unrolled)', opsets: [11, 16], spec: () => ({ tensors: [f('x', [2, 3])], outputs: [{ name: 'y', dtype: 'float32' }, { name: 'scan', dtype: 'float32' }] }) },
];

/** Cases whose node needs more than the table's generic single node (Constant/ConstantOfShape feed an Add). */
function nodesOf(c: Case, s: Spec): import('../src/onnx/proto.js').onnxTypes.INodeProto[] {
  const T = 4; // AttributeType.TENSOR
  if (c.op === 'Constant') {
    return [
      { opType: 'Constant', output: ['k'], attribute: [{ name: 'value', type: T, t: { dataType: 1, dims: [3], floatData: [1, -2, 0.5] } }] },
      { opType: 'Add', input: ['x', 'k'], output: ['y'] },
    ];
  }
  if (c.op === 'ConstantOfShape') {
    return [
      { opType: 'Shape', input: ['x'], output: ['s'] },
      { opType: 'ConstantOfShape', input: ['s'], output: ['k'], attribute: [{ name: 'value', type: T, t: { dataType: 1, dims: [1], floatData: [2.5] } }] },
      { opType: 'Add', input: ['x', 'k'], output: ['y'] },
    ];
  }
  const G = 5; // AttributeType.GRAPH
  const branch = (name: string, op: string, input: string): import('../src/onnx/proto.js').onnxTypes.IGraphProto => ({
    name, node: [{ opType: op, input: [input], output: [`${name}_y`] }], output: [{ name: `${name}_y`, type: { tensorType: { elemType: 1 } } }],
  });
  if (c.op === 'If' && s.tensors.length === 2) {
    return [{ opType: 'If', input: ['c'], output: ['y'], attribute: [{ name: 'then_branch', type: G, g: branch('t', 'Relu', 'x') }, { name: 'else_branch', type: G, g: branch('e', 'Neg', 'x') }] }];
  }
  if (c.op === 'If') {
    return [
      { opType: 'Shape', input: ['x'], output: ['s'] },
      { opType: 'ReduceProd', input: ['s'], output: ['n'], attribute: [{ name: 'keepdims', type: 2, i: 0 }] },
      { opType: 'Constant', output: ['six'], attribute: [{ name: 'value', type: T, t: { dataType: 7, dims: [], int64Data: [6] } }] },
      { opType: 'Equal', input: ['n', 'six'], output: ['c'] },
      { opType: 'If', input: ['c'], output: ['y'], attribute: [{ name: 'then_branch', type: G, g: branch('t', 'Relu', 'x') }, { name: 'else_branch', type: G, g: branch('e', 'Neg', 'x') }] },
    ];
  }
  if (c.op === 'Loop') {
    const body: import('../src/onnx/proto.js').onnxTypes.IGraphProto = {
      name: 'body',
      input: [{ name: 'i', type: { tensorType: { elemType: 7, shape: { dim: [] } } } }, { name: 'cin', type: { tensorType: { elemType: 9, shape: { dim: [] } } } }, { name: 'acc', type: { tensorType: { elemType: 1 } } }],
      node: [
        { opType: 'Cast', input: ['i'], output: ['fi'], attribute: [{ name: 'to', type: 2, i: 1 }] },
        { opType: 'Mul', input: ['x', 'fi'], output: ['xi'] },
        { opType: 'Add', input: ['acc', 'xi'], output: ['acc2'] },
        { opType: 'Identity', input: ['cin'], output: ['cout'] },
        { opType: 'Sigmoid', input: ['acc2'], output: ['sc'] },
      ],
      output: [{ name: 'cout', type: { tensorType: { elemType: 9 } } }, { name: 'acc2', type: { tensorType: { elemType: 1 } } }, { name: 'sc', type: { tensorType: { elemType: 1 } } }],
    };
    return [
      { opType: 'Constant', output: ['m'], attribute: [{ name: 'value', type: T, t: { dataType: 7, dims: [], int64Data: [3] } }] },
      { opType: 'Constant', output: ['c0'], attribute: [{ name: 'value', type: T, t: { dataType: 9, dims: [], int32Data: [1] } }] },
      { opType: 'Loop', input: ['m', 'c0', 'x'], output: ['y', 'scan'], attribute: [{ name: 'body', type: G, g: body }] },
    ];
  }
  const outs = (s.outputs ?? y()).map((o) => o.name);
  return [{ opType: c.op, input: [...(s.inputs ?? s.tensors.map((t) => t.name))], output: outs, attribute: (s.attrs ?? []).map(attrProtoOf) }];
}


interface Row { op: string; variant: string; opset: number; ok: boolean; worst: number }
const rows: Row[] = [];

beforeAll(async () => {
  await kiln.init();
});

describe('ONNX import conformance: one-node models vs onnxruntime-node', () => {
  CASES.forEach((c, k) => {
    for (const opset of c.opsets) {
      it(`${c.op} (${c.variant}) at opset ${opset}`, async () => {
        const s = c.spec(opset);
        const bytes = modelBytes({ opset, nodes: nodesOf(c, s), tensors: s.tensors, outputs: s.outputs ?? y() });
        const range = s.range ?? [-2, 2];
        const inputs = inputsFor(s.tensors, 1000 + k, range[0], range[1]);
        const [atol, rtol] = c.tol ?? [1e-5, 1e-4];
        const expected = await runOrt(bytes, inputs);
        const model = await kiln.onnx.importModel(bytes, { target: 'wasm' });
        const got = runKiln(model, inputs);
        model.dispose();
        expect(got.shapes).toEqual(expected.shapes);
        const { ratio } = worstError(got, expected, atol, rtol);
        rows.push({ op: c.op, variant: c.variant, opset, ok: ratio <= 1, worst: ratio });
        // |kiln − ort| ≤ atol + rtol·|ort| for every element of every output.
        expect(ratio).toBeLessThanOrEqual(1);
      });
    }
  });

  it('NaN and ±Inf pass through elementwise ops as in ONNX Runtime', async () => {
    const special = [NaN, Infinity, -Infinity, 0, -0, 1.5, -2.5];
    for (const op of ['Relu', 'Sigmoid', 'Tanh', 'Abs', 'Neg', 'Exp', 'HardSwish', 'LeakyRelu']) {
      const bytes = modelBytes({ opset: 14, nodes: [{ opType: op, input: ['x'], output: ['y'] }], tensors: [f('x', [7])], outputs: y() });
      const inputs = [{ dtype: 'float32' as const, shape: [7], data: Float32Array.from(special) }];
      const model = await kiln.onnx.importModel(bytes, { target: 'wasm' });
      const got = runKiln(model, inputs);
      const expected = await runOrt(bytes, inputs);
      model.dispose();
      // NaN where ORT has NaN, equal infinities, 1e-6 elsewhere.
      expect(worstError(got, expected, 1e-6, 1e-6).ratio, op).toBeLessThanOrEqual(1);
    }
  });
});

/** docs/onnx-ops.md from the table (and the importer's op list). */
function opsDoc(): string {
  const byOp = new Map<string, { opsets: Set<number>; variants: string[] }>();
  for (const c of CASES) {
    const e = byOp.get(c.op) ?? { opsets: new Set<number>(), variants: [] };
    c.opsets.forEach((o) => e.opsets.add(o));
    e.variants.push(c.variant);
    byOp.set(c.op, e);
  }
  const lines = [
    '# ONNX ops Kiln imports',
    '',
    'Generated from the conformance table in `test/onnx.import.ops.test.ts` (each row is',
    'a one-node model run in Kiln and in onnxruntime-node on seeded random inputs; the',
    'test fails when this file is stale: `KILN_UPDATE_DOCS=1 npx vitest run',
    'test/onnx.import.ops.test.ts` rewrites it).',
    '',
    '`kiln.onnx.importModel` reads opsets 9–18 of the default domain. "Verified at" lists',
    'the opsets each op was checked at; an op\'s importer handles every version in 9–18',
    '(attributes that became inputs — axes, split, pads, Clip\'s bounds, Slice\'s bounds —',
    'and Softmax\'s 2-D semantics before 13 are read per opset). int64 tensors become int32;',
    'a value outside int32 is an import error.',
    '',
    '| ONNX op | verified at opsets | cases |',
    '|---|---|---|',
  ];
  for (const op of [...byOp.keys()].sort()) {
    const e = byOp.get(op)!;
    lines.push(`| ${op} | ${[...e.opsets].sort((a, b) => a - b).join(', ')} | ${e.variants.join('; ')} |`);
  }
  const untested = supportedOnnxOps().filter((op) => !byOp.has(op));
  if (untested.length) lines.push('', `Also imported, checked only through the real models (\`test/onnx.import.models.test.ts\`): ${untested.join(', ')}.`);
  lines.push('', 'Not supported (a KilnError naming the op and node): other ops; GRU with',
    'linear_before_reset=0 together with sequence_lens (without them it is unrolled over the',
    'sequence length); LSTM/GRU/RNN layout=1 with ONNX Runtime as the oracle (imported, not',
    'verified: ONNX Runtime refuses it); LSTM peepholes, clip, input_forget; Resize cubic and',
    'tf_crop_and_resize; pooling with dilations; MaxPool\'s Indices output; training-mode',
    'BatchNormalization; a Loop whose trip count or condition is known only at run time',
    '(Loops are unrolled at import). An If whose condition is known only at run time',
    'computes both branches and selects, so both must be valid at the given shapes; a',
    'model with If is imported per value of its one-element int inputs (Silero\'s `sr`),',
    'so such conditions fold and only the taken branch is imported.', '');
  return lines.join('\n');
}

describe('docs/onnx-ops.md', () => {
  it('lists the table', () => {
    const path = new URL('../docs/onnx-ops.md', import.meta.url);
    const text = opsDoc();
    if (process.env['KILN_UPDATE_DOCS'] === '1') writeFileSync(path, text);
    let current = '';
    try { current = readFileSync(path, 'utf8'); } catch { /* missing: stale */ }
    expect(current, 'docs/onnx-ops.md is stale: KILN_UPDATE_DOCS=1 npx vitest run test/onnx.import.ops.test.ts').toBe(text);
    // Every importer op the table claims is one the importer has.
    for (const c of CASES) expect(supportedOnnxOps(), c.op).toContain(c.op);
  });
});
