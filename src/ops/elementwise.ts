import { isFloat, KilnError, promoteTypes, registerOp, symbolicInfer, type Attrs, type DType, type GradContext, type OpDef } from '../ir/index.js';
import { broadcastShapes, sumTo } from './shapeHelpers.js';
import type { AnyTensor } from './tensorLike.js';

type Rule = (ctx: GradContext<AnyTensor>) => (AnyTensor | null)[];

/** Float ops on int/bool inputs compute in float32, as PyTorch does. */
function floatOf(dtype: DType): DType {
  return isFloat(dtype) ? dtype : 'float32';
}

function unary(name: string, doc: string, grad: ((x: AnyTensor, y: AnyTensor, dy: AnyTensor, attrs: Attrs) => AnyTensor) | null, out: 'float' | 'same' = 'float'): OpDef<AnyTensor> {
  return registerOp<AnyTensor>({
    name,
    arity: 1,
    doc,
    ...symbolicInfer(([x]) => [{ shape: x!.shape, dtype: out === 'float' ? floatOf(x!.dtype) : x!.dtype }]),
    ...(grad ? { grad: ({ inputs, outputs, dys, attrs }) => [grad(inputs[0]!, outputs[0]!, dys[0]!, attrs)] } : {}),
  });
}

const SQRT_PI_2 = 2 / Math.sqrt(Math.PI);

export const neg = unary('neg', 'Elementwise -x.', (_x, _y, dy) => dy.neg(), 'same');
export const abs = unary('abs', 'Elementwise |x|.', (x, _y, dy) => dy.mul(x.sign()), 'same');
export const exp = unary('exp', 'Elementwise e^x.', (_x, y, dy) => dy.mul(y));
export const log = unary('log', 'Natural logarithm.', (x, _y, dy) => dy.div(x));
export const log1p = unary('log1p', 'log(1 + x), accurate near 0.', (x, _y, dy) => dy.div(x.add(1)));
export const sqrt = unary('sqrt', 'Square root.', (_x, y, dy) => dy.div(y.mul(2)));
export const rsqrt = unary('rsqrt', '1 / sqrt(x).', (_x, y, dy) => dy.mul(y.mul(y).mul(y)).mul(-0.5));
export const square = unary('square', 'x².', (x, _y, dy) => dy.mul(x).mul(2), 'same');
export const reciprocal = unary('reciprocal', '1 / x.', (_x, y, dy) => dy.mul(y.square()).neg());
export const sign = unary('sign', 'Sign: -1, 0 or 1 (gradient 0).', (x) => x.zerosLike(), 'same');
export const sin = unary('sin', 'Sine.', (x, _y, dy) => dy.mul(x.cos()));
export const cos = unary('cos', 'Cosine.', (x, _y, dy) => dy.mul(x.sin()).neg());
export const sigmoid = unary('sigmoid', 'Logistic 1 / (1 + e^-x).', (_x, y, dy) => dy.mul(y).mul(y.neg().add(1)));
export const tanh = unary('tanh', 'Hyperbolic tangent.', (_x, y, dy) => dy.mul(y.square().neg().add(1)));
// The gradient is 0 where x <= 0 and dy elsewhere, NaN included (PyTorch's threshold_backward).
export const relu = unary('relu', 'max(x, 0); NaN stays NaN.', (x, _y, dy) => dy.where(x.lessEqual(0).logicalNot(), 0), 'same');
export const leakyRelu = unary('leakyRelu', 'x if x > 0 else alpha·x (attr alpha, default 0.01).', (x, _y, dy, a) => dy.where(x.greater(0), dy.mul(a['alpha'] as number)));
export const elu = unary('elu', 'x if x > 0 else alpha·(e^x − 1) (attr alpha, default 1).', (x, y, dy, a) => dy.where(x.greater(0), dy.mul(y.add(a['alpha'] as number))));
export const softplus = unary('softplus', 'log(1 + e^(beta·x)) / beta; linear where beta·x > threshold.', (x, _y, dy, a) => {
  const beta = a['beta'] as number;
  const bx = x.mul(beta);
  return dy.where(bx.greater(a['threshold'] as number), dy.mul(bx.sigmoid()));
});
export const erf = unary('erf', 'Gauss error function.', (x, _y, dy) => dy.mul(x.square().neg().exp()).mul(SQRT_PI_2));
export const clip = unary('clip', 'Clamps to [min, max] (attrs may be null for no bound); gradient passes inside the range.', (x, _y, dy, a) => {
  let mask: AnyTensor | null = null;
  if (a['min'] !== null) mask = x.greaterEqual(a['min'] as number);
  if (a['max'] !== null) {
    const m = x.lessEqual(a['max'] as number);
    mask = mask ? mask.logicalAnd(m) : m;
  }
  return mask ? dy.where(mask, 0) : dy;
}, 'same');
export const copy = unary('copy', 'Identity copy (ONNX Identity).', (_x, _y, dy) => dy, 'same');

function binary(name: string, doc: string, kind: 'arith' | 'divide' | 'compare' | 'logical', grad?: Rule): OpDef<AnyTensor> {
  return registerOp<AnyTensor>({
    name,
    arity: 2,
    doc,
    ...symbolicInfer(([a, b]) => {
      const shape = broadcastShapes(a!.shape, b!.shape);
      let dtype: DType;
      if (kind === 'compare' || kind === 'logical') dtype = 'bool';
      else if (kind === 'divide') dtype = floatOf(promoteTypes(a!.dtype, b!.dtype));
      else dtype = promoteTypes(a!.dtype, b!.dtype);
      return [{ shape, dtype }];
    }),
    ...(grad ? { grad } : {}),
  });
}

/** Gradient of a binary op from its two local derivatives, summed back over broadcast dims. */
function binaryRule(da: ((c: GradContext<AnyTensor>) => AnyTensor) | null, db: ((c: GradContext<AnyTensor>) => AnyTensor) | null): Rule {
  return (c) => [
    da && c.needs[0] ? sumTo(da(c), c.inputs[0]!.shape) : null,
    db && c.needs[1] ? sumTo(db(c), c.inputs[1]!.shape) : null,
  ];
}

export const add = binary('add', 'a + b with broadcasting.', 'arith', binaryRule((c) => c.dys[0]!, (c) => c.dys[0]!));
export const sub = binary('sub', 'a − b with broadcasting.', 'arith', binaryRule((c) => c.dys[0]!, (c) => c.dys[0]!.neg()));
export const mul = binary('mul', 'a · b with broadcasting.', 'arith', binaryRule((c) => c.dys[0]!.mul(c.inputs[1]!), (c) => c.dys[0]!.mul(c.inputs[0]!)));
export const div = binary('div', 'a / b with broadcasting (true division: ints give float32).', 'divide', binaryRule(
  (c) => c.dys[0]!.div(c.inputs[1]!),
  (c) => c.dys[0]!.mul(c.outputs[0]!).div(c.inputs[1]!).neg(),
));
export const pow = binary('pow', 'a ^ b with broadcasting.', 'arith', binaryRule(
  (c) => c.dys[0]!.mul(c.inputs[1]!).mul(c.inputs[0]!.pow(c.inputs[1]!.sub(1))),
  (c) => {
    const a = c.inputs[0]!;
    const pos = a.greater(0);
    // log(a) only where a > 0; elsewhere the derivative is taken as 0 (as PyTorch does for a == 0).
    return c.dys[0]!.mul(c.outputs[0]!).mul(a.where(pos, 1).log()).where(pos, 0);
  },
));
/** Ties split the gradient in half, as PyTorch does. */
function pick(c: GradContext<AnyTensor>, first: boolean, larger: boolean): AnyTensor {
  const [a, b] = first ? [c.inputs[0]!, c.inputs[1]!] : [c.inputs[1]!, c.inputs[0]!];
  const dy = c.dys[0]!;
  const wins = larger ? a.greater(b) : a.less(b);
  return dy.where(wins, dy.mul(0.5).where(a.equal(b), 0));
}
export const maximum = binary('maximum', 'Elementwise max with broadcasting.', 'arith', binaryRule((c) => pick(c, true, true), (c) => pick(c, false, true)));
export const minimum = binary('minimum', 'Elementwise min with broadcasting.', 'arith', binaryRule((c) => pick(c, true, false), (c) => pick(c, false, false)));
export const equal = binary('equal', 'a == b (bool).', 'compare');
export const notEqual = binary('notEqual', 'a != b (bool).', 'compare');
export const less = binary('less', 'a < b (bool).', 'compare');
export const lessEqual = binary('lessEqual', 'a <= b (bool).', 'compare');
export const greater = binary('greater', 'a > b (bool).', 'compare');
export const greaterEqual = binary('greaterEqual', 'a >= b (bool).', 'compare');
export const logicalAnd = binary('logicalAnd', 'a && b (bool; nonzero is true).', 'logical');
export const logicalOr = binary('logicalOr', 'a || b (bool; nonzero is true).', 'logical');
export const logicalNot = registerOp<AnyTensor>({
  name: 'logicalNot',
  arity: 1,
  doc: '!x (bool; nonzero is true).',
  ...symbolicInfer(([x]) => [{ shape: x!.shape, dtype: 'bool' }]),
});

export const where = registerOp<AnyTensor>({
  name: 'where',
  arity: 3,
  doc: 'cond ? x : y elementwise, all three broadcast together (cond is bool).',
  ...symbolicInfer(([cond, x, y]) => {
    if (cond!.dtype !== 'bool') throw new KilnError(`condition must be bool, got ${cond!.dtype}`);
    return [{ shape: broadcastShapes(cond!.shape, broadcastShapes(x!.shape, y!.shape)), dtype: promoteTypes(x!.dtype, y!.dtype) }];
  }),
  grad: ({ inputs: [cond, x, y], dys: [dy], needs }) => [
    null,
    needs[1] ? sumTo(dy!.where(cond!, 0), x!.shape) : null,
    needs[2] ? sumTo(dy!.zerosLike().where(cond!, dy!), y!.shape) : null,
  ],
});
