import { cat, I, type Code } from '../wasmAssembler.js';

// ---- float32 transcendentals as f32x4 code -----------------------------------------------
//
// Range reduction plus short polynomials, Cephes-style (the constants of Cephes' expf, logf
// and tanhf, as sse_mathfun/neon_mathfun use them; erf's are fitted here), written
// without FMA (baseline wasm SIMD has none) and branch-free: every lane computes every
// branch and selects. The code runs in the generated elementwise kernels (eager ops) and in
// fused kernels, so each function is a generator over its argument's code, not a call.
//
// Accuracy against float64 `Math` (erf: the reference backend's double-precision erf), in
// float32 ulps of the exact result (2⁻¹⁴⁹ for subnormal results). Stated bound, then the
// worst case seen over every 61st float32 bit pattern (70M values per function):
//   exp ≤ 1 (0.87)   expm1 ≤ 1.5 (1.37)   log ≤ 1 (0.81)   log1p ≤ 1 (0.81)   tanh ≤ 1.5 (1.30)
//   sigmoid ≤ 2 (1.97: every float32 in [-20, 20] checked; beyond, it is exp's or 1)
//   softplus ≤ 2 (1.53, β = 1)   elu ≤ 1.5 (0.91, α = 1)   erf ≤ 1.5 (1.23)
// test/simdMath.test.ts asserts the bounds on 1M samples per function and every edge case.
// elu with α ≠ 1 and softplus with β ≠ 1 use α, β rounded to float32 (exact for powers of
// two); softplus then also rounds βx, adding up to |βx|·2⁻²⁴ relative.
// Specials follow C99/`Math`: NaN in → NaN out; exp(89) = ∞, exp(-104) = 0 (results in the
// subnormal range are rounded once more at most); log(±0) = -∞, log(x<0) = NaN, log(∞) = ∞;
// tanh(±∞) = ±1 exactly (and for |x| ≥ 9.02, where the rounded result is ±1); sigmoid(-∞) = 0,
// sigmoid(∞) = 1; erf(±∞) = ±1; signed zeros are kept where `Math` keeps them (expm1, log1p,
// tanh, erf, elu of -0 is -0).

/** A float32 unary function as an f32x4 code generator. */
export interface SimdUnaryMath {
  /** How many v128 locals `vec` uses, numbered from `tmp` on (caller declares them). */
  readonly locals: number;
  /** How many f32 scalar params it reads (elu: 1 = alpha); passed as code pushing an f32 each. */
  readonly params: number;
  /** Code pushing one f32x4 result; `x` is code that pushes the f32x4 argument and is evaluated exactly once. */
  vec(x: Code, tmp: number, p: readonly Code[]): Code;
}

const C = (v: number): Code => I.f32x4Const(v);
const get = I.get, set = I.set, tee = I.tee;
const add = I.f32x4Add, sub = I.f32x4Sub, mul = I.f32x4Mul, div = I.f32x4Div;
/** bitselect(a, b, mask): stack [a, b, mask] → a where mask bits are set, else b. */
const select = I.v128Bitselect;
/** An f32 param as four lanes. */
const splat = (p: Code): Code => cat(p, I.f32x4Splat());

/** c[0]·rⁿ + … + c[n] by Horner's rule (coefficients highest degree first). */
function horner(r: Code, c: readonly number[]): Code {
  const out: Code[] = [C(c[0]!)];
  for (let k = 1; k < c.length; k++) out.push(r, mul(), C(c[k]!), add());
  return out;
}

/**
 * The same polynomial by Estrin's scheme: low + r^m·high with m the largest power of two
 * below the term count, recursively (r^m recomputed where used, off the critical path). The
 * kernels are bound by latency, and this halves the polynomial's dependency chain; used
 * where its different rounding costs no accuracy (log, tanh, erf near 0: measured; exp's
 * and erfc's polynomials lose ~0.1–0.3 ulp with it and keep Horner).
 */
function estrin(r: Code, c: readonly number[]): Code {
  const power = (m: number): Code => (m === 1 ? r : cat(power(m / 2), power(m / 2), mul()));
  const go = (a: readonly number[]): Code => {
    if (a.length === 1) return C(a[0]!);
    let m = 1;
    while (m * 2 < a.length) m *= 2;
    return cat(go(a.slice(0, m)), power(m), go(a.slice(m)), mul(), add());
  };
  return go([...c].reverse());
}

// ---- exp family --------------------------------------------------------------------------

const LOG2E = 1.44269504088896341;
// ln 2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits, so n·LN2_HI is exact for |n| < 2¹⁵
// and x − n·LN2_HI is exact (Cody–Waite).
const LN2_HI = 0.693359375, LN2_LO = -2.12194440e-4;
// Cephes expf: eʳ − 1 = r + r²·P(r) on |r| ≤ ln2/2.
const EXPM1_P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

// Adding 1.5·2²³ rounds a float of magnitude < 2²² to an integer n (to nearest) and leaves
// n in the low bits: bits = 0x4B400000 + n. Cheaper than nearest + trunc_sat (which V8
// expands into a saturating sequence on x64).
const MAGIC = 12582912, MAGIC_BITS = 0x4b400000;

/**
 * Clamps `x` to [lo, hi] with pmin/pmax (single instructions; NaN stays NaN: `hi < NaN` and
 * `NaN < lo` are false, so NaN is kept; no `hi` for arguments known to be ≤ 0), then leaves
 * r = x − n·ln2 in local `t` (rounded; what it lost in `t + 2`) and n = nearest(x·log2 e)
 * in `t + 1` as the bits MAGIC_BITS + n; `t + 3` is scratch.
 */
const reduceLn2 = (x: Code, t: number, lo: number, hi: number | null): Code => cat(
  x, hi === null ? [] : cat(C(hi), I.f32x4Pmin()), C(lo), I.f32x4Pmax(), tee(t),
  C(LOG2E), mul(), C(MAGIC), add(), tee(t + 1), C(MAGIC), sub(), set(t + 3),
  get(t), get(t + 3), C(LN2_HI), mul(), sub(), set(t + 2),
  get(t + 2), get(t + 3), C(LN2_LO), mul(), sub(), set(t),
  // The rounding error of r = a − n·LN2_LO, exact (Fast2Sum: |a| ≥ |n·LN2_LO|), worth ¼ ulp.
  get(t + 2), get(t), sub(), get(t + 3), C(LN2_LO), mul(), sub(), set(t + 2),
);

/** eʳ − 1 for r + c, r in local `t` (|r| ≤ ln2/2), its low part c in `t + 2`: r + (r²·P(r) + c). */
const expm1Reduced = (t: number): Code => cat(horner(get(t), EXPM1_P), get(t), get(t), mul(), mul(), get(t + 2), add(), get(t), add());

/** 2^(n + k) as f32 lanes from lanes MAGIC_BITS + n on the stack (−126 ≤ n + k ≤ 127). */
const pow2 = (k: number): Code => cat(I.i32x4Const(127 + k - MAGIC_BITS), I.i32x4Add(), I.i32(23), I.i32x4Shl());
/** 2^⌊n/2⌋ (`half` 0) or 2^⌈n/2⌉ (`half` 1) from lanes MAGIC_BITS + n: ((n + 254 + half) >> 1) << 23. */
const pow2Half = (half: 0 | 1): Code => cat(I.i32x4Const(254 + half - MAGIC_BITS), I.i32x4Add(), I.i32(1), I.i32x4ShrS(), I.i32(23), I.i32x4Shl());

/**
 * eˣ (locals t … t+3). x is clamped to [-104, 89], beyond which the float32 result is 0 or ∞,
 * so n ∈ [-150, 128]; 2ⁿ is applied as 2^⌊n/2⌋·2^⌈n/2⌉, two normal factors, so the result
 * overflows to ∞ and rounds into the subnormals once more at most. The sum is s + s·(eʳ − 1),
 * s = 2^⌊n/2⌋, not (1 + (eʳ − 1))·s: one rounding fewer (≈0.6 ulp, not 1). `nonPositive`:
 * the caller knows x ≤ 0 (or NaN), and the upper clamp is skipped.
 */
function expCode(x: Code, t: number, nonPositive = false): Code {
  return cat(
    reduceLn2(x, t, -104, nonPositive ? null : 89),
    expm1Reduced(t),
    get(t + 1), pow2Half(0), tee(t), mul(), get(t), add(),
    get(t + 1), pow2Half(1), mul(),
  );
}

/**
 * eˣ − 1 (locals t … t+4): 2ⁿ·(eʳ − 1) + (2ⁿ − 1), computed as 2·(s·(eʳ−1) + (s − ½)) with
 * s = 2ⁿ⁻¹ so that n = 128 (x just under the overflow threshold) needs no special case;
 * s − ½ is exact wherever it matters (n ≤ 24). x is clamped to [-25, 89]: below, the result
 * rounds to -1; below 2⁻²⁵ in magnitude it rounds to x.
 */
function expm1Code(x: Code, t: number): Code {
  const x0 = t + 4;
  return cat(
    reduceLn2(cat(x, tee(x0)), t, -25, 89),
    get(t + 1), pow2(-1), tee(t + 1),
    expm1Reduced(t), mul(), get(t + 1), C(0.5), sub(), add(), C(2), mul(),
    // Below 2⁻²⁵ the result rounds to x (this keeps -0 and the subnormals, which s·(eʳ−1) would halve).
    get(x0), get(x0), I.f32x4Abs(), C(2 ** -25), I.f32x4Ge(), select(),
  );
}

// ---- log family --------------------------------------------------------------------------

const SQRT_HALF = 0.707106781186547524;
const MIN_NORMAL = 1.1754943508222875e-38;
// Cephes logf: log(1 + f) = f − f²/2 + f³·P(f) on √½ − 1 ≤ f < √2 − 1.
const LOG_P = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1];

/**
 * Splits x (local x0) as 2ᵉ·(1 + f), f ∈ [√½ − 1, √2 − 1), from the bits (subnormals scaled
 * by 2²³ first): f in local m, e (as f32) in local e; k is scratch.
 */
function logReduce(x0: number, m: number, e: number, k: number): Code {
  return cat(
    // Subnormal lanes are scaled into the normals; k = their mask (-1/0).
    get(x0), C(2 ** 23), mul(), get(x0), get(x0), C(MIN_NORMAL), I.f32x4Lt(), tee(k), select(), tee(m),
    // e = biased exponent − 126 − (23 if scaled): m's significand taken as 0.5 ≤ m < 1.
    I.i32(23), I.i32x4ShrU(), I.i32x4Const(126), I.i32x4Sub(), get(k), I.i32x4Const(23), I.v128And(), I.i32x4Sub(), set(e),
    get(m), I.i32x4Const(0x807fffff | 0), I.v128And(), I.i32x4Const(0x3f000000), I.v128Or(), tee(m),
    // m < √½: use 2m and e − 1, so f = m − 1 lies in [√½ − 1, √2 − 1).
    C(SQRT_HALF), I.f32x4Lt(), tee(k), get(e), I.i32x4Add(), I.f32x4ConvertI32x4S(), set(e),
    get(m), get(m), get(k), I.v128And(), add(), C(1), sub(), set(m),
  );
}

/**
 * ln(1 + f) + e·ln2 for f, e in locals m, e (k scratch): f + f³·P(f) − f²/2 + e·ln2, ln2 split
 * as in exp (Cody–Waite). `extra`, a term much smaller than the result, joins the small
 * terms before the last two additions (no rounding of its own to speak of).
 */
function logPoly(m: number, e: number, k: number, extra: Code = []): Code {
  return cat(
    get(m), get(m), mul(), set(k),
    estrin(get(m), LOG_P), get(m), mul(), get(k), mul(), get(e), C(LN2_LO), mul(), add(),
    extra.length ? cat(extra, add()) : [],
    get(k), C(-0.5), mul(), add(), get(m), add(), get(e), C(LN2_HI), mul(), add(),
  );
}

/** ln's specials for the argument in local x0, over the value on the stack: ±0 → -∞, ∞ → ∞, x < 0 and NaN → NaN. */
const logSpecials = (x0: number): Code => cat(
  C(-Infinity), get(x0), C(0), I.f32x4Ne(), select(),
  C(Infinity), get(x0), C(Infinity), I.f32x4Ne(), select(),
  C(NaN), get(x0), C(0), I.f32x4Ge(), select(),
);

/** ln x (locals t … t+3). */
function logCode(x: Code, t: number): Code {
  const x0 = t, m = t + 1, e = t + 2, k = t + 3;
  return cat(x, set(x0), logReduce(x0, m, e, k), logPoly(m, e, k), logSpecials(x0));
}

/**
 * ln(1 + x) (locals t … t+5). For x in [√½ − 1, √2 − 1) the polynomial takes f = x itself
 * (exact, no rounding of 1 + x). Elsewhere u = 1 + x rounded is reduced as by ln, and
 * (x − (u − 1))/u, the first-order correction for the rounding of u, joins the small terms.
 */
function log1pCode(x: Code, t: number): Code {
  const x0 = t, u = t + 1, m = t + 2, e = t + 3, k = t + 4, near = t + 5;
  return cat(
    x, tee(x0), C(1), add(), set(u),
    logReduce(u, m, e, k),
    get(x0), get(m), get(x0), C(SQRT_HALF - 1), I.f32x4Ge(), get(x0), C(Math.SQRT2 - 1), I.f32x4Lt(), I.v128And(), tee(near), select(), set(m),
    get(e), get(near), I.v128AndNot(), set(e),
    logPoly(m, e, k, cat(get(x0), get(u), C(1), sub(), sub(), get(u), div(), get(near), I.v128AndNot())),
    logSpecials(u),
    // ±0 keeps its sign.
    get(x0), get(x0), C(0), I.f32x4Ne(), select(),
  );
}

// ---- hyperbolic and logistic -------------------------------------------------------------

// Cephes tanhf: tanh x = x + x³·P(x²) on |x| ≤ 0.625.
const TANH_P = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
const SIGN = 0x80000000 | 0;

/**
 * tanh x (locals t … t+5): on |x|, 1 − 2/(e^(2|x|) + 1) above 0.625, the odd polynomial
 * below; then x's sign. e^(2|x|) = ∞ gives exactly 1.
 */
function tanhCode(x: Code, t: number): Code {
  const x0 = t, ax = t + 1, z = t + 2;
  return cat(
    x, tee(x0), I.f32x4Abs(), set(ax),
    C(1), C(2), expCode(cat(get(ax), C(2), mul()), t + 2), C(1), add(), div(), sub(),
    get(ax), get(ax), mul(), set(z), estrin(get(z), TANH_P), get(z), mul(), get(ax), mul(), get(ax), add(),
    get(ax), C(0.625), I.f32x4Ge(), select(),
    get(x0), I.i32x4Const(SIGN), I.v128And(), I.v128Or(),
  );
}

/**
 * 1/(1 + e⁻ˣ) (locals t … t+4) as the reference computes it: e = e^-|x|, then q = 1/(1 + e)
 * for x ≥ 0 and e/(1 + e) below, one division either way. d = 1 + e is rounded; its error
 * δ = (1 − d) + e is exact (Fast2Sum), and q·(1 − δ/d) removes it (1/d ≈ 1.5 − d/2 is
 * plenty for a term that small): this takes the worst case from 1.9 to 1.4 ulp.
 */
function sigmoidCode(x: Code, t: number): Code {
  const x0 = t, e = t + 1, d = t + 2, q = t;
  return cat(
    x, tee(x0), I.i32x4Const(SIGN), I.v128Or(), set(e),
    expCode(get(e), t + 1, true), set(e),
    C(1), get(e), get(x0), C(0), I.f32x4Ge(), select(),
    get(e), C(1), add(), tee(d), div(), tee(q),
    get(q), C(1), get(d), sub(), get(e), add(), mul(),
    C(1.5), get(d), C(0.5), mul(), sub(), mul(), sub(),
  );
}

/**
 * softplus(x; β, threshold) = ln(1 + e^(βx))/β, or x where βx > threshold (PyTorch's and the
 * reference's definition; locals t … t+7). Computed as max(βx, 0) + ln(1 + e^-|βx|), which
 * neither overflows nor cancels. βx is rounded to float32 (exact for β = 1).
 */
function softplusCode(x: Code, t: number, beta: Code, threshold: Code): Code {
  const x0 = t, bx = t + 1;
  return cat(
    x, tee(x0),
    get(x0), splat(beta), mul(), tee(bx), C(0), I.f32x4Pmax(),
    log1pCode(expCode(cat(get(bx), I.i32x4Const(SIGN), I.v128Or()), t + 2, true), t + 2), add(), splat(beta), div(),
    get(bx), splat(threshold), I.f32x4Gt(), select(),
  );
}

/** elu(x; α) = x if x > 0 else α·(eˣ − 1) (locals t … t+5; α is used as float32). */
function eluCode(x: Code, t: number, alpha: Code): Code {
  return cat(
    x, tee(t),
    splat(alpha), expm1Code(get(t), t + 1), mul(),
    get(t), C(0), I.f32x4Gt(), select(),
  );
}

// erf: minimax fits (Lawson's algorithm, float64; coefficients rounded to float32). Below
// 0.921875, erf x = x + x·P(x²) (|P error| < 5e-10); above, erf x = 1 − e^Q(x) with
// Q ≈ ln erfc on [0.921875, 4] (|error| < 1.2e-8; erfc(4) < 2⁻²⁵, so erf rounds to 1 beyond).
const ERF_SPLIT = 0.921875;
const ERF_P = [8.397808897990522e-05, -0.000814980942941218, 0.005201716416400826, -0.02685970242569931, 0.11283701622984207, -0.3761263418865291, 0.12837916669221872];
const ERFC_LOG_Q = [1.60248502778515e-06, -4.5354478395653874e-05, 0.0005907143201423215, -0.004730277439660969, 0.026335526455853162, -0.1099251592166568, -0.6319953545707012, -1.1301314807458103, 0.00029427119245094036];

/** erf x (locals t … t+5), odd: computed on |x|, then x's sign (so erf(-0) = -0). */
function erfCode(x: Code, t: number): Code {
  const x0 = t, ax = t + 1, z = t + 2;
  return cat(
    x, tee(x0), I.f32x4Abs(), tee(ax), C(4), I.f32x4Pmin(), set(z),
    C(1), expCode(horner(get(z), ERFC_LOG_Q), t + 2), sub(),
    get(ax), get(ax), mul(), set(z), get(ax), estrin(get(z), ERF_P), get(ax), mul(), add(),
    get(ax), C(ERF_SPLIT), I.f32x4Ge(), select(),
    get(x0), I.i32x4Const(SIGN), I.v128And(), I.v128Or(),
  );
}

/**
 * The transcendentals as f32x4 code generators, by name. Params (f32, in order):
 * elu: alpha; softplus: beta, threshold (the op's attributes; `SIMD_MATH_PARAMS` names them).
 * A param's code may run more than once per vector: pass a `local.get`.
 *
 * @example
 * // out[i] = tanh(in[i]) over four floats at byte address 0 → 16:
 * const f = SIMD_MATH['tanh']!;
 * const locals = new Array(f.locals).fill(T.v128);
 * m.func('tanh4', [], [], locals, [I.i32(16), f.vec([I.i32(0), I.v128Load()], 0, []), I.v128Store()]);
 */
export const SIMD_MATH: Readonly<Record<string, SimdUnaryMath>> = {
  exp: { locals: 4, params: 0, vec: (x, t) => expCode(x, t) },
  expm1: { locals: 5, params: 0, vec: (x, t) => expm1Code(x, t) },
  log: { locals: 4, params: 0, vec: (x, t) => logCode(x, t) },
  log1p: { locals: 6, params: 0, vec: (x, t) => log1pCode(x, t) },
  tanh: { locals: 6, params: 0, vec: (x, t) => tanhCode(x, t) },
  sigmoid: { locals: 5, params: 0, vec: (x, t) => sigmoidCode(x, t) },
  softplus: { locals: 8, params: 2, vec: (x, t, p) => softplusCode(x, t, p[0]!, p[1]!) },
  elu: { locals: 6, params: 1, vec: (x, t, p) => eluCode(x, t, p[0]!) },
  erf: { locals: 6, params: 0, vec: (x, t) => erfCode(x, t) },
};

/** The op attributes each function's params stand for, in order. */
export const SIMD_MATH_PARAMS: Readonly<Record<string, readonly string[]>> = { elu: ['alpha'], softplus: ['beta', 'threshold'] };
