import type { Attrs } from '../../../ir/index.js';
import type { ArrayKernel } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';
import { broadcastBinary, broadcastIndex } from './broadcast.js';

function unary(f: (x: number, attrs: Attrs) => number): ArrayKernel {
  return ([x], attrs, [out]) => {
    const a = x!.data, o = out!.data;
    for (let i = 0; i < o.length; i++) o[i] = f(a[i]!, attrs);
  };
}

function binary(f: (x: number, y: number) => number): ArrayKernel {
  return ([a, b], _attrs, [out]) => broadcastBinary(a!.data, a!.shape, b!.data, b!.shape, out!.data, out!.shape, f);
}

/** erf to double precision: Maclaurin series below 0.5, a continued fraction for erfc above. */
export function erfScalar(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const ax = Math.abs(x);
  // ±0 and ±∞ exactly (the series would turn -0 into +0, the continued fraction ∞ into NaN).
  if (ax === 0 || ax === Infinity) return ax === 0 ? x : sign;
  if (ax < 0.5) {
    // Maclaurin series converges fast here.
    const x2 = ax * ax;
    let term = ax, sum = ax;
    for (let n = 1; n < 30; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return sign * sum * (2 / Math.sqrt(Math.PI));
  }
  // Continued fraction for erfc (Lentz), accurate to double for |x| >= 0.5.
  const t = ax;
  let f = t, c = t, d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = t + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = t + an / c;
    if (c === 0) c = 1e-300;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-t * t) / (f * Math.sqrt(Math.PI));
  return sign * (1 - erfc);
}

const truthy = (v: number): boolean => v !== 0;

registerArrayKernels({
  neg: unary((x) => -x),
  abs: unary(Math.abs),
  exp: unary(Math.exp),
  log: unary(Math.log),
  log1p: unary(Math.log1p),
  sqrt: unary(Math.sqrt),
  rsqrt: unary((x) => 1 / Math.sqrt(x)),
  square: unary((x) => x * x),
  reciprocal: unary((x) => 1 / x),
  sign: unary((x) => (x > 0 ? 1 : x < 0 ? -1 : x)),
  sin: unary(Math.sin),
  cos: unary(Math.cos),
  sigmoid: unary((x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)))),
  tanh: unary(Math.tanh),
  // NaN stays NaN (as PyTorch: hiding it would defeat anomaly detection); -0 gives +0.
  relu: unary((x) => (x <= 0 ? 0 : x)),
  leakyRelu: unary((x, a) => (x > 0 ? x : (a['alpha'] as number) * x)),
  elu: unary((x, a) => (x > 0 ? x : (a['alpha'] as number) * Math.expm1(x))),
  softplus: unary((x, a) => {
    const beta = a['beta'] as number;
    return x * beta > (a['threshold'] as number) ? x : Math.log1p(Math.exp(beta * x)) / beta;
  }),
  erf: unary(erfScalar),
  clip: unary((x, a) => {
    const lo = a['min'] as number | null, hi = a['max'] as number | null;
    if (lo !== null && x < lo) x = lo;
    if (hi !== null && x > hi) x = hi;
    return x;
  }),
  copy: ([x], _a, [out]) => out!.data.set(x!.data),
  logicalNot: unary((x) => (x === 0 ? 1 : 0)),

  add: binary((x, y) => x + y),
  sub: binary((x, y) => x - y),
  mul: binary((x, y) => x * y),
  div: binary((x, y) => x / y),
  pow: ([a, b], _attrs, [out]) => {
    // A scalar exponent (x.pow(2), and the gradient's pow(x, p - 1)): one monomorphic loop,
    // with the exact shortcuts Math.pow itself takes (x·x, 1/x, sqrt with pow's -0/-∞ rules).
    if (b!.data.length === 1 && a!.data.length === out!.data.length) {
      const x = a!.data, o = out!.data, p = b!.data[0]!, n = o.length;
      if (p === 2) for (let i = 0; i < n; i++) o[i] = x[i]! * x[i]!;
      else if (p === -1) for (let i = 0; i < n; i++) o[i] = 1 / x[i]!;
      else if (p === 0.5) for (let i = 0; i < n; i++) o[i] = x[i] === -Infinity ? Infinity : Math.sqrt(x[i]!) + 0;
      else for (let i = 0; i < n; i++) o[i] = Math.pow(x[i]!, p);
      return;
    }
    broadcastBinary(a!.data, a!.shape, b!.data, b!.shape, out!.data, out!.shape, Math.pow);
  },
  maximum: binary((x, y) => (x !== x || y !== y ? NaN : x > y ? x : y)),
  minimum: binary((x, y) => (x !== x || y !== y ? NaN : x < y ? x : y)),
  equal: binary((x, y) => (x === y ? 1 : 0)),
  notEqual: binary((x, y) => (x !== y ? 1 : 0)),
  less: binary((x, y) => (x < y ? 1 : 0)),
  lessEqual: binary((x, y) => (x <= y ? 1 : 0)),
  greater: binary((x, y) => (x > y ? 1 : 0)),
  greaterEqual: binary((x, y) => (x >= y ? 1 : 0)),
  logicalAnd: binary((x, y) => (truthy(x) && truthy(y) ? 1 : 0)),
  logicalOr: binary((x, y) => (truthy(x) || truthy(y) ? 1 : 0)),

  where: ([c, x, y], _a, [out]) => {
    const o = out!.data, n = o.length;
    const ic = broadcastIndex(c!.shape, out!.shape, n);
    const ix = broadcastIndex(x!.shape, out!.shape, n);
    const iy = broadcastIndex(y!.shape, out!.shape, n);
    const cd = c!.data, xd = x!.data, yd = y!.data;
    // Fast paths for gradient rules (`dy.where(mask, 0)`): same-shape cond and x, scalar or same-shape y.
    if (ic === 'same' && ix === 'same' && iy === 'scalar') {
      const v = yd[0]!;
      for (let i = 0; i < n; i++) o[i] = cd[i] ? xd[i]! : v;
    } else if (ic === 'same' && ix === 'same' && iy === 'same') {
      for (let i = 0; i < n; i++) o[i] = cd[i] ? xd[i]! : yd[i]!;
    } else {
      const at = (arr: ArrayLike<number>, idx: Int32Array | 'same' | 'scalar', i: number): number => (idx === 'scalar' ? arr[0]! : idx === 'same' ? arr[i]! : arr[idx[i]!]!);
      for (let i = 0; i < n; i++) o[i] = at(cd, ic, i) ? at(xd, ix, i) : at(yd, iy, i);
    }
  },
});
