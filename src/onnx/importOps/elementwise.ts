// Elementwise ONNX ops: arithmetic, activations, comparisons, logic, variadic Sum/Max/
// Min/Mean, Where, Identity/Dropout, MatMul.
import { KilnError, type DType } from '../../ir/index.js';
import type { OnnxValue, OpContext, OpImporter } from '../importContext.js';
import { castTo, requireFloat } from './support.js';

function unary(op: string, attrs: (c: OpContext) => Record<string, number> = () => ({})): OpImporter {
  return (c) => [c.emit1(op, [c.input(0)], attrs(c))];
}

/** ONNX integer Div truncates; Kiln's div is true division. */
function divide(c: OpContext, a: OnnxValue, b: OnnxValue): OnnxValue {
  const dtype = c.type(a).dtype;
  const q = c.emit1('div', [a, b]);
  return dtype === 'int32' ? castTo(c, q, 'int32') : q;
}

function binary(op: string): OpImporter {
  return (c) => {
    const a = c.input(0), b = c.input(1);
    if (op === 'div') return [divide(c, a, b)];
    if (op === 'pow') return [c.emit1('pow', [a, castTo(c, b, c.type(a).dtype)])];
    return [c.emit1(op, [a, b])];
  };
}

function variadic(op: 'add' | 'maximum' | 'minimum', mean = false): OpImporter {
  return (c) => {
    const n = c.inputCount;
    if (n < 1) throw new KilnError('needs at least one input');
    let acc = c.input(0);
    for (let i = 1; i < n; i++) acc = c.emit1(op, [acc, c.input(i)]);
    if (mean) acc = c.emit1('div', [acc, c.scalar(n, c.type(acc).dtype)]);
    return [acc];
  };
}

/** clamp(alpha·x + beta, 0, 1). */
function hardSigmoid(c: OpContext, x: OnnxValue, alpha: number, beta: number): OnnxValue {
  const dtype = c.type(x).dtype;
  const lin = c.emit1('add', [c.emit1('mul', [x, c.scalar(alpha, dtype)]), c.scalar(beta, dtype)]);
  return c.emit1('clip', [lin], { min: 0, max: 1 });
}

function bound(c: OpContext, i: number, what: string): number | null | OnnxValue {
  const v = c.optional(i);
  if (!v) return null;
  const vals = c.values(v);
  if (vals) {
    if (vals.length !== 1) throw new KilnError(`Clip's ${what} must be a scalar, got ${vals.length} values`);
    return vals[0]!;
  }
  return v;
}

const clip: OpImporter = (c) => {
  const x = c.input(0);
  if (c.opset < 11) {
    const min = c.attrs.float('min', -Infinity), max = c.attrs.float('max', Infinity);
    return [c.emit1('clip', [x], { min: Number.isFinite(min) ? min : null, max: Number.isFinite(max) ? max : null })];
  }
  const min = bound(c, 1, 'min'), max = bound(c, 2, 'max');
  let y = x;
  // Bounds known at import become attributes; bounds computed at run time become maximum/minimum.
  const attrMin = typeof min === 'number' || min === null ? min : null;
  const attrMax = typeof max === 'number' || max === null ? max : null;
  if (attrMin !== null || attrMax !== null) y = c.emit1('clip', [y], { min: attrMin, max: attrMax });
  if (min !== null && typeof min !== 'number') y = c.emit1('maximum', [y, min]);
  if (max !== null && typeof max !== 'number') y = c.emit1('minimum', [y, max]);
  return [y];
};

function compare(op: string): OpImporter {
  return (c) => [c.emit1(op, [c.input(0), c.input(1)])];
}

const passThrough: OpImporter = (c) => [c.input(0)];

const dropout: OpImporter = (c) => {
  // Inference: the identity. The mask output (all true) is refused rather than faked.
  if (c.outputs[1]) throw new KilnError("Dropout's mask output is not supported (inference import)");
  return [c.input(0)];
};

const prelu: OpImporter = (c) => {
  const x = c.input(0), slope = c.input(1);
  const neg = c.emit1('less', [x, c.scalar(0, c.type(x).dtype)]);
  return [c.emit1('where', [neg, c.emit1('mul', [x, slope]), x])];
};

const selu: OpImporter = (c) => {
  const x = c.input(0);
  const alpha = c.attrs.float('alpha', 1.67326319217681884765625), gamma = c.attrs.float('gamma', 1.05070102214813232421875);
  const dtype = c.type(x).dtype;
  return [c.emit1('mul', [c.emit1('elu', [x], { alpha }), c.scalar(gamma, dtype)])];
};

const xor: OpImporter = (c) => [c.emit1('notEqual', [c.emit1('cast', [c.input(0)], { dtype: 'bool' }), c.emit1('cast', [c.input(1)], { dtype: 'bool' })])];

const matmul: OpImporter = (c) => {
  requireFloat(c, c.input(0), 'MatMul input A');
  return [c.emit1('matmul', [c.input(0), c.input(1)])];
};

function floatAttr(name: string, fallback: number) {
  return (c: OpContext) => ({ [name]: c.attrs.float(name, fallback) });
}

const mish: OpImporter = (c) => {
  const x = c.input(0);
  return [c.emit1('mul', [x, c.emit1('tanh', [c.emit1('softplus', [x], { beta: 1, threshold: 20 })])])];
};

const softsign: OpImporter = (c) => {
  const x = c.input(0);
  const dtype: DType = c.type(x).dtype;
  return [c.emit1('div', [x, c.emit1('add', [c.emit1('abs', [x]), c.scalar(1, dtype)])])];
};

export const elementwiseImporters: Record<string, OpImporter> = {
  Add: binary('add'),
  Sub: binary('sub'),
  Mul: binary('mul'),
  Div: binary('div'),
  Pow: binary('pow'),
  Neg: unary('neg'),
  Abs: unary('abs'),
  Exp: unary('exp'),
  Log: unary('log'),
  Sqrt: unary('sqrt'),
  Reciprocal: unary('reciprocal'),
  Sign: unary('sign'),
  Sin: unary('sin'),
  Cos: unary('cos'),
  Erf: unary('erf'),
  Relu: unary('relu'),
  Sigmoid: unary('sigmoid'),
  Tanh: unary('tanh'),
  Softplus: (c) => [c.emit1('softplus', [c.input(0)], { beta: 1, threshold: 20 })],
  Softsign: softsign,
  Mish: mish,
  LeakyRelu: unary('leakyRelu', floatAttr('alpha', 0.01)),
  Elu: unary('elu', floatAttr('alpha', 1)),
  Selu: selu,
  PRelu: prelu,
  HardSigmoid: (c) => [hardSigmoid(c, c.input(0), c.attrs.float('alpha', 0.2), c.attrs.float('beta', 0.5))],
  HardSwish: (c) => [c.emit1('mul', [c.input(0), hardSigmoid(c, c.input(0), 1 / 6, 0.5)])],
  Clip: clip,
  Equal: compare('equal'),
  Less: compare('less'),
  LessOrEqual: compare('lessEqual'),
  Greater: compare('greater'),
  GreaterOrEqual: compare('greaterEqual'),
  And: compare('logicalAnd'),
  Or: compare('logicalOr'),
  Xor: xor,
  Not: (c) => [c.emit1('logicalNot', [c.input(0)])],
  Where: (c) => [c.emit1('where', [castTo(c, c.input(0), 'bool'), c.input(1), c.input(2)])],
  Identity: passThrough,
  Dropout: dropout,
  Sum: variadic('add'),
  Max: variadic('maximum'),
  Min: variadic('minimum'),
  Mean: variadic('add', true),
  MatMul: matmul,
};
