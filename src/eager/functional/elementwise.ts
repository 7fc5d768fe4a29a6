import { isFloat, sizeOf, type DType, type OpDef } from '../../ir/index.js';
import * as ops from '../../ops/elementwise.js';
import type { Backend } from '../../runtime/backend.js';
import { opError, run1 } from '../dispatch.js';
import { Tensor } from '../tensor.js';

// ---- scalars as tensors -----------------------------------------------------------

/** Scalar operands are cached per backend: gradient code uses the same few constants. */
const scalarCache = new WeakMap<Backend, Map<string, Tensor>>();
const SCALAR_CACHE_CAP = 256;

/** A 0-d tensor holding `value`, of the dtype PyTorch would give `like op value`. */
export function scalarFor(like: Tensor, value: number): Tensor {
  let dtype: DType = like.dtype;
  if (!isFloat(dtype)) dtype = Number.isInteger(value) ? 'int32' : 'float32';
  let cache = scalarCache.get(like.backend);
  if (!cache) scalarCache.set(like.backend, (cache = new Map()));
  const key = dtype + ':' + value;
  let t = cache.get(key);
  if (t && !t.disposed) return t;
  t = fullOn(like.backend, [], dtype, value);
  // Past the cap (values that change every step, e.g. a scheduled lr) scalars are
  // ordinary temporaries that the enclosing scope frees.
  if (cache.size < SCALAR_CACHE_CAP) {
    t.keepAlive = true;
    cache.set(key, t);
  }
  return t;
}

/** A tensor filled with `value` on a given backend. */
export function fullOn(backend: Backend, shape: readonly number[], dtype: DType, value: number): Tensor {
  const size = sizeOf(shape);
  const storage = backend.alloc(dtype, size);
  // Filled in place: a JS array copied in cost ≈2.5 ms per 200k elements (dropout's keep
  // probabilities), the heap fill ≈0.1 ms.
  backend.fill(storage, value);
  return new Tensor(storage, shape, dtype, backend);
}

function operand(op: string, like: Tensor, other: Tensor | number): Tensor {
  if (other instanceof Tensor) return other;
  if (typeof other !== 'number') throw opError(op, `expected a Tensor or a number, got ${other === null ? 'null' : typeof other}`, [like]);
  return scalarFor(like, other);
}

function checkTensor(op: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw opError(op, `expected a Tensor, got ${x === null ? 'null' : typeof x}`);
}

function u(def: OpDef) {
  return (x: Tensor): Tensor => {
    checkTensor(def.name, x);
    return run1(def, [x], {});
  };
}

function b(def: OpDef) {
  return (a: Tensor | number, other: Tensor | number): Tensor => {
    if (typeof a === 'number') {
      if (!(other instanceof Tensor)) throw opError(def.name, 'at least one operand must be a Tensor');
      return run1(def, [operand(def.name, other, a), other], {});
    }
    checkTensor(def.name, a);
    return run1(def, [a, operand(def.name, a, other)], {});
  };
}

/** -x */
export const neg = u(ops.neg);
/** |x| */
export const abs = u(ops.abs);
/** e^x */
export const exp = u(ops.exp);
/** Natural logarithm. */
export const log = u(ops.log);
/** log(1 + x). */
export const log1p = u(ops.log1p);
/** Square root. */
export const sqrt = u(ops.sqrt);
/** 1 / sqrt(x). */
export const rsqrt = u(ops.rsqrt);
/** x². */
export const square = u(ops.square);
/** 1 / x. */
export const reciprocal = u(ops.reciprocal);
/** -1, 0 or 1. */
export const sign = u(ops.sign);
/** Sine. */
export const sin = u(ops.sin);
/** Cosine. */
export const cos = u(ops.cos);
/** 1 / (1 + e^-x). */
export const sigmoid = u(ops.sigmoid);
/** Hyperbolic tangent. */
export const tanh = u(ops.tanh);
/** max(x, 0). */
export const relu = u(ops.relu);
/** Gauss error function. */
export const erf = u(ops.erf);
/** Elementwise logical not (bool result). */
export const logicalNot = u(ops.logicalNot);

/** x if x > 0 else alpha·x. `kiln.leakyRelu(x, 0.1)` */
export function leakyRelu(x: Tensor, alpha = 0.01): Tensor {
  checkTensor('leakyRelu', x);
  return run1(ops.leakyRelu, [x], { alpha });
}

/** x if x > 0 else alpha·(e^x − 1). */
export function elu(x: Tensor, alpha = 1): Tensor {
  checkTensor('elu', x);
  return run1(ops.elu, [x], { alpha });
}

/** log(1 + e^(beta·x)) / beta, linear above `threshold` (PyTorch defaults beta 1, threshold 20). */
export function softplus(x: Tensor, options: { beta?: number; threshold?: number } = {}): Tensor {
  checkTensor('softplus', x);
  return run1(ops.softplus, [x], { beta: options.beta ?? 1, threshold: options.threshold ?? 20 });
}

/** Clamps into [min, max]; either bound may be null. `x.clip(0, 6)` */
export function clip(x: Tensor, min: number | null, max: number | null): Tensor {
  checkTensor('clip', x);
  if (min === null && max === null) throw opError('clip', 'at least one of min and max must be a number', [x]);
  if (min !== null && max !== null && min > max) throw opError('clip', `min ${min} is greater than max ${max}`, [x]);
  return run1(ops.clip, [x], { min, max });
}

/** a + b with broadcasting. */
export const add = b(ops.add);
/** a − b with broadcasting. */
export const sub = b(ops.sub);
/** a · b with broadcasting. */
export const mul = b(ops.mul);
/** a / b (true division). */
export const div = b(ops.div);
/** a ^ b. */
export const pow = b(ops.pow);
/** Elementwise maximum. */
export const maximum = b(ops.maximum);
/** Elementwise minimum. */
export const minimum = b(ops.minimum);
/** a == b (bool). */
export const equal = b(ops.equal);
/** a != b (bool). */
export const notEqual = b(ops.notEqual);
/** a < b (bool). */
export const less = b(ops.less);
/** a <= b (bool). */
export const lessEqual = b(ops.lessEqual);
/** a > b (bool). */
export const greater = b(ops.greater);
/** a >= b (bool). */
export const greaterEqual = b(ops.greaterEqual);
/** a && b (bool). */
export const logicalAnd = b(ops.logicalAnd);
/** a || b (bool). */
export const logicalOr = b(ops.logicalOr);

/**
 * `cond ? x : y` elementwise with broadcasting (`torch.where`).
 *
 * @example
 * ```ts
 * const x = kiln.tensor([-1, 2, -3]);
 * kiln.where(x.greater(0), x, 0).toArray(); // [0, 2, 0]
 * ```
 */
export function where(cond: Tensor, x: Tensor | number, y: Tensor | number): Tensor {
  checkTensor('where', cond);
  const like = x instanceof Tensor ? x : y instanceof Tensor ? y : null;
  const xt = like ? operand('where', like, x) : fullOn(cond.backend, [], Number.isInteger(x) && Number.isInteger(y) ? 'int32' : 'float32', x as number);
  const yt = operand('where', xt, y);
  return run1(ops.where, [cond, xt, yt], {});
}
