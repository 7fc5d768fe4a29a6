/**
 * The SIMD transcendentals (src/runtime/wasm/kernels/simdMath.ts):
 *  - each function, run as its generated elementwise kernel on a heap, stays within its
 *    stated ulp bound of float64 `Math` (erf: the reference backend's double-precision erf)
 *    over 1M seeded float32 per function — log-uniform magnitudes over the whole float
 *    range with both signs, plus uniform samples where the function bends — and over every
 *    edge case (±0, ±∞, NaN, subnormals, smallest/largest normals, overflow and underflow
 *    thresholds and their float32 neighbours). NaN in gives NaN out; infinities and signed
 *    zeros are exact; the special values the issue names are asserted one by one;
 *  - through Kiln, exp, log, tanh, sigmoid, erf, softplus and elu on the wasm backend run
 *    these kernels (bit for bit the direct kernel's output) at sizes 1, 3, 5, 17 and 1023,
 *    within the same bounds of the exact values the reference backend rounds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { erfScalar } from '../src/runtime/reference/kernels/elementwise.js';
import { simdKernels } from '../src/runtime/wasm/kernels/simdElementwise.js';
import { SIMD_MATH } from '../src/runtime/wasm/kernels/simdMath.js';
import { rng, sameBits } from './support/kernelChecks.js';

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

const fr = Math.fround;
const MAX = 3.4028234663852886e38, MIN_NORMAL = 2 ** -126, MIN_SUB = 2 ** -149;

interface Case {
  /** float64 reference, as the reference backend computes it. */
  ref: (x: number) => number;
  /** Stated accuracy: max error in float32 ulps of the exact result. */
  ulps: number;
  /** f32 params (elu: alpha; softplus: beta, threshold). */
  params?: number[];
  /** Where the function bends: extra uniform samples in [-r, r]. */
  range: number;
  /** Thresholds whose float32 neighbours are tested too. */
  edges: number[];
}

const sigmoidRef = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const softplusRef = (beta: number, threshold: number) => (x: number): number => (x * beta > threshold ? x : Math.log1p(Math.exp(beta * x)) / beta);
const eluRef = (alpha: number) => (x: number): number => (x > 0 ? x : alpha * Math.expm1(x));

// The accuracy README states; measured maxima (this file's samples and a sweep of every
// 61st float32 bit pattern) are in simdMath.ts's header.
const CASES: Record<string, Case> = {
  exp: { ref: Math.exp, ulps: 1, range: 110, edges: [88.72283, 88.7228394, 89, -87.33654, -103.27893, -103.972, -104, 0.34657359, 1e-7] },
  expm1: { ref: Math.expm1, ulps: 1.5, range: 30, edges: [88.72283, 88.7228394, 0.34657359, -0.34657359, -17.33, -25, 2 ** -25, -(2 ** -25), 2 ** -24] },
  log: { ref: Math.log, ulps: 1, range: 4, edges: [1, Math.SQRT1_2, Math.SQRT2, 2, 0.5] },
  log1p: { ref: Math.log1p, ulps: 1, range: 2, edges: [-1, -0.5, Math.SQRT1_2 - 1, Math.SQRT2 - 1, 2 ** -24, -(2 ** -24), 1] },
  tanh: { ref: Math.tanh, ulps: 1.5, range: 12, edges: [0.625, 9.01, 9.02, 44, 45, 1e-4] },
  sigmoid: { ref: sigmoidRef, ulps: 2, range: 110, edges: [16.6, 17.33, 88.72, 103.97, 104, 1e-7] },
  softplus: { ref: softplusRef(1, 20), ulps: 2, params: [1, 20], range: 110, edges: [20, 19.99, 88.72, 103.97, 15, 1e-7] },
  elu: { ref: eluRef(1), ulps: 1.5, params: [1], range: 30, edges: [1e-7, 0.34657359, 17.33, 25] },
  erf: { ref: erfScalar, ulps: 1.5, range: 5, edges: [0.921875, 3.8325, 4, 1e-7, 0.5] },
};

/** Float32 neighbours of v: v itself and ±1, ±2 steps of its bit pattern (same sign). */
function neighbours(v: number): number[] {
  const b = new Float32Array([v]), u = new Uint32Array(b.buffer);
  const out: number[] = [];
  for (const d of [-2, -1, 0, 1, 2]) {
    const w = new Uint32Array([u[0]! + d]);
    out.push(new Float32Array(w.buffer)[0]!);
  }
  return out;
}

const GENERAL_EDGES = [0, -0, Infinity, -Infinity, NaN, MIN_SUB, MIN_SUB * 3, MIN_NORMAL - MIN_SUB, MIN_NORMAL, MIN_NORMAL * 1.5, MAX, 1, 0.5, 2, 2 ** -24];

/** Every edge value, both signs, with neighbours. */
function edgeValues(c: Case): number[] {
  const out: number[] = [];
  for (const v of [...GENERAL_EDGES, ...c.edges]) {
    for (const s of [v, -v]) out.push(...(Number.isFinite(s) && s !== 0 ? neighbours(s) : [s]));
  }
  return out.map(fr);
}

/** n seeded samples: ⅓ log-uniform over all finite float32 magnitudes, ⅓ uniform in [-r, r], ⅓ in [-r/16, r/16]; both signs. */
function samples(n: number, r: number, seed: number): Float32Array {
  const rnd = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 3, s = rnd() < 0.5 ? -1 : 1;
    out[i] = s * (k === 0 ? 2 ** (rnd() * 277 - 149) : rnd() * (k === 1 ? r : r / 16));
  }
  return out;
}

const f64 = new Float64Array(1), hiWord = new Uint32Array(f64.buffer);
const POW2 = Array.from({ length: 2100 }, (_, i) => 2 ** (i - 1100));
/** The float32 ulp at the magnitude of exact value v (2⁻¹⁴⁹ below the normals): from v's float64 exponent. */
function ulpOf(v: number): number {
  f64[0] = v;
  const e = ((hiWord[1]! >>> 20) & 0x7ff) - 1023;
  return e < -126 ? MIN_SUB : POW2[e - 23 + 1100]!;
}

/**
 * Checks got[i] against the exact ref(x[i]): NaN iff NaN; infinities and exact zeros (with
 * their sign) equal the rounded reference; otherwise within `ulps` of the exact value.
 * Returns the largest error seen; fails naming the first offending element.
 */
function checkUlps(what: string, x: Float32Array, got: Float32Array, ref: (v: number) => number, ulps: number): number {
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const r = ref(x[i]!), want = fr(r), g = got[i]!;
    const show = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));
    const fail = (why: string): never => expect.fail(`${what}(${show(x[i]!)}) = ${show(g)}, want ${show(want)} (exact ${r}): ${why}`);
    if (Number.isNaN(r) || Number.isNaN(g)) {
      if (Number.isNaN(r) !== Number.isNaN(g)) fail('NaN mismatch');
      continue;
    }
    if (!Number.isFinite(want) || !Number.isFinite(g) || r === 0) {
      if (!Object.is(g, want)) fail('infinities and exact zeros must match exactly');
      continue;
    }
    const e = Math.abs(g - r) / ulpOf(r);
    if (e > worst) worst = e;
    if (e > ulps) fail(`${e.toFixed(3)} ulp > ${ulps}`);
  }
  return worst;
}

/** A plain heap for direct kernel calls (1M inputs + outputs). */
const N = 1 << 20;
const memory = new WebAssembly.Memory({ initial: 130 });
const IN = 64, OUT = IN + 4 * N;

/** Runs op's generated kernel on xs (any length ≤ N) and returns a copy of its output. */
function runKernel(op: string, xs: Float32Array, params: readonly number[] = []): Float32Array {
  new Float32Array(memory.buffer, IN, xs.length).set(xs);
  simdKernels(memory, op)[op]!(IN, OUT, 1, xs.length, 0, ...params);
  return new Float32Array(memory.buffer, OUT, xs.length).slice();
}

describe('SIMD transcendentals against float64 Math', () => {
  for (const [op, c] of Object.entries(CASES)) {
    it(`${op}: ≤ ${c.ulps} ulp over 1M samples and every edge case`, () => {
      const edges = Float32Array.from(edgeValues(c));
      checkUlps(`${op} edge`, edges, runKernel(op, edges, c.params), c.ref, c.ulps);
      const xs = samples(N, c.range, op.length * 7919 + op.charCodeAt(0));
      checkUlps(op, xs, runKernel(op, xs, c.params), c.ref, c.ulps);
    });
  }

  it('covers every function SIMD_MATH exports, with consistent local and param counts', () => {
    expect(Object.keys(SIMD_MATH).sort()).toEqual(Object.keys(CASES).sort());
    for (const [op, f] of Object.entries(SIMD_MATH)) expect(f.params, op).toBe(CASES[op]!.params?.length ?? 0);
  });

  it('gives the special values exactly', () => {
    const one = (op: string, v: number): number => runKernel(op, new Float32Array([v]), CASES[op]!.params)[0]!;
    for (const op of Object.keys(CASES)) expect(one(op, NaN), `${op}(NaN)`).toBeNaN();
    expect(one('exp', 89)).toBe(Infinity);
    expect(one('exp', 88.72283)).toBe(fr(Math.exp(fr(88.72283))));
    expect(one('exp', -104)).toBe(0);
    expect(one('exp', -Infinity)).toBe(0);
    expect(one('exp', -103.5)).toBe(fr(Math.exp(-103.5))); // a subnormal result, rounded once
    expect(one('log', 0)).toBe(-Infinity);
    expect(one('log', -0)).toBe(-Infinity);
    expect(one('log', -1)).toBeNaN();
    expect(one('log', -MIN_SUB)).toBeNaN();
    expect(one('log', Infinity)).toBe(Infinity);
    expect(one('log', MIN_SUB)).toBe(fr(Math.log(MIN_SUB)));
    expect(one('log1p', -1)).toBe(-Infinity);
    expect(one('log1p', -1.5)).toBeNaN();
    expect(Object.is(one('log1p', -0), -0)).toBe(true);
    for (const v of [9.02, 20, 1e30, Infinity]) {
      expect(one('tanh', v), `tanh(${v})`).toBe(1);
      expect(one('tanh', -v), `tanh(${-v})`).toBe(-1);
    }
    expect(Object.is(one('tanh', -0), -0)).toBe(true);
    expect(one('sigmoid', -Infinity)).toBe(0);
    expect(one('sigmoid', Infinity)).toBe(1);
    expect(one('sigmoid', -0)).toBe(0.5);
    expect(one('erf', Infinity)).toBe(1);
    expect(one('erf', -Infinity)).toBe(-1);
    expect(Object.is(one('erf', -0), -0)).toBe(true);
    expect(one('softplus', Infinity)).toBe(Infinity);
    expect(one('softplus', -Infinity)).toBe(0);
    expect(one('elu', -Infinity)).toBe(-1);
    expect(Object.is(one('elu', -0), -0)).toBe(true);
    expect(Object.is(one('expm1', -0), -0)).toBe(true);
    expect(one('expm1', -MIN_SUB)).toBe(-MIN_SUB);
  });
});

describe('eager wasm ops use the SIMD transcendentals', () => {
  const SIZES = [1, 3, 5, 17, 1023];
  interface EagerCase {
    name: string;
    run: (x: kiln.Tensor) => kiln.Tensor;
    ref: (v: number) => number;
    ulps: number;
    /** The generated kernel (and its params) the op runs: its output is matched bit for bit. */
    kernel: { op: string; params: number[] };
  }
  const OPS: EagerCase[] = [
    { name: 'exp', run: (x) => x.exp(), ref: Math.exp, ulps: CASES['exp']!.ulps, kernel: { op: 'exp', params: [] } },
    { name: 'log', run: (x) => x.log(), ref: Math.log, ulps: CASES['log']!.ulps, kernel: { op: 'log', params: [] } },
    { name: 'tanh', run: (x) => x.tanh(), ref: Math.tanh, ulps: CASES['tanh']!.ulps, kernel: { op: 'tanh', params: [] } },
    { name: 'erf', run: (x) => x.erf(), ref: erfScalar, ulps: CASES['erf']!.ulps, kernel: { op: 'erf', params: [] } },
    { name: 'softplus()', run: (x) => x.softplus(), ref: softplusRef(1, 20), ulps: CASES['softplus']!.ulps, kernel: { op: 'softplus', params: [1, 20] } },
    // β a power of two: βx and the division by β are exact, so the bound is unchanged.
    { name: 'softplus(β=2, threshold=10)', run: (x) => x.softplus({ beta: 2, threshold: 10 }), ref: softplusRef(2, 10), ulps: CASES['softplus']!.ulps, kernel: { op: 'softplus', params: [2, 10] } },
    // α = 0.5 scales exactly; other α add the rounding of α to float32 (≤ ½ ulp).
    { name: 'elu(0.5)', run: (x) => x.elu(0.5), ref: eluRef(0.5), ulps: CASES['elu']!.ulps, kernel: { op: 'elu', params: [0.5] } },
    { name: 'sigmoid', run: (x) => x.sigmoid(), ref: sigmoidRef, ulps: CASES['sigmoid']!.ulps, kernel: { op: 'sigmoid', params: [] } },
    { name: 'elu()', run: (x) => x.elu(), ref: eluRef(1), ulps: CASES['elu']!.ulps, kernel: { op: 'elu', params: [1] } },
  ];
  for (const c of OPS) {
    it(`${c.name}: sizes ${SIZES.join(', ')}`, () => {
      for (const n of SIZES) {
        const xs = samples(n, 12, n + c.name.length);
        const specials = [NaN, Infinity, -Infinity, 0, -0, 89, -104, MIN_SUB];
        for (let i = 0; i < n; i += 7) xs[i] = specials[(i / 7) % specials.length]!;
        kiln.scope(() => {
          const got = c.run(kiln.tensor(xs, { shape: [n], backend: 'wasm' })).dataSync() as Float32Array;
          const want = c.run(kiln.tensor(xs, { shape: [n], backend: 'reference' })).dataSync() as Float32Array;
          // The generated kernel's output, bit for bit (the op is routed to it)...
          sameBits(got, runKernel(c.kernel.op, xs, c.kernel.params), `${c.name} [${n}] vs its kernel`);
          // ...and within the stated bound of the exact value, which the reference rounds once.
          checkUlps(`${c.name} [${n}]`, xs, got, c.ref, c.ulps);
          checkUlps(`reference ${c.name} [${n}]`, xs, want, c.ref, 0.5);
        });
      }
    });
  }

  it('softplus with β = 0.7: βx rounded to float32 adds at most |βx|·2⁻²⁴ relative', () => {
    const xs = samples(1023, 30, 5);
    kiln.scope(() => {
      const got = kiln.tensor(xs, { backend: 'wasm' }).softplus({ beta: 0.7 }).dataSync();
      const ref = softplusRef(0.7, 20);
      for (let i = 0; i < xs.length; i++) {
        const r = ref(xs[i]!), tol = 2 * ulpOf(r) + Math.abs(0.7 * xs[i]!) * 2 ** -24 * Math.abs(r);
        expect(Math.abs(got[i]! - r), `softplus(${xs[i]}, β=0.7)`).toBeLessThanOrEqual(tol);
      }
    });
  });

  it('int32 inputs keep the portable kernels (float32 results)', () => {
    const r = kiln.tensor([0, 1, -2], { dtype: 'int32', backend: 'wasm' }).exp();
    expect(r.dtype).toBe('float32');
    expect(Array.from(r.dataSync())).toEqual([1, fr(Math.E), fr(Math.exp(-2))]);
  });
});
