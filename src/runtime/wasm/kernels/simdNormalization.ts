import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';

// ---- WebAssembly SIMD batch / layer normalization kernels, generated on first use --------
//
// The ops' decompositions run ≈10–15 full-size elementwise passes on wasm (mean, a second
// mean to correct it, sub, square, mean, rsqrt, mul, mul, add…). These kernels do what the
// portable reference kernels (reference/kernels/normalization.ts) do, in the same float64
// arithmetic, in one pass over the data for the statistics and one for the result:
//
//   bnStats(src, outer, C, inner, k, s1, s2)
//     per channel c of x [outer, C, inner]: s1[c] += Σ (x − k[c]), s2[c] += Σ (x − k[c])²
//     (float64, shifted by k[c] = the channel's first element: no catastrophic
//     cancellation for data far from 0; 1e7 + [1..4] gives variance 1.25 exactly).
//   bnApply(src, dst, outer, C, inner, m, sc, sh)
//     y = (x − m[c])·sc[c] + sh[c], in float64, rounded to float32 once.
//   bnGradSums(x, dy, outer, C, inner, m, s1, s2)
//     s1[c] += Σ dy, s2[c] += Σ dy·(x − m[c]).
//   bnGradApply(x, dy, dx, outer, C, inner, m, a, k1, k0)
//     dx = a[c]·dy + k1[c]·(x − m[c]) + k0[c].
//   layerNorm_{w}{b}(src, dst, w, b, rows, len, eps: f64)
//     per row of `len` contiguous elements: mean = Σx/len, σ⁻¹ = 1/√(Σ(x − mean)²/len + eps),
//     y = (x − mean)·σ⁻¹ (·w[j]) (+ b[j]); variants without weight, with weight, with both.
//   layerNormGrad_{w}(x, dy, dx, w, sw, sb, rows, len, eps: f64)
//     the closed-form backward per row (see emitLayerNormGrad); sw, sb: float64 column sums.
//
// Byte addresses and counts are i32; per-channel vectors (k, s1, s2, m, sc, sh, a, k1, k0)
// are float64 arrays. Each float32 v128 is widened into two f64x2 (exact). The results
// differ from the portable kernels' only by the order of the float64 additions in the
// sums (two interleaved chains here, one there): at most a few units of 2⁻⁵³ relative in
// a statistic, which almost always rounds to the same float32; the elementwise formulas
// are the same operations in the same order, so equal statistics give equal bits.

const ZERO = (): Code => I.v128(new Array<number>(16).fill(0));
/** The high two f32 lanes of a v128 widened to f64x2. */
const promoteHigh = (v: Code): Code => cat(v, v, I.i32x4Shuffle(2, 3, 2, 3), I.f64x2PromoteLowF32x4());
/** Two f64x2 (pushed as `lo`, `hi`) rounded to float32 and packed into one v128 [lo0, lo1, hi0, hi1]. */
const pack = (lo: Code, hi: Code): Code => cat(
  lo, I.f32x4DemoteF64x2Zero(), hi, I.f32x4DemoteF64x2Zero(),
  I.i8x16Shuffle([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]),
);
/** The two lanes of an f64x2 added (lane 0 + lane 1). */
const lanesSum = (v: Code): Code => cat(v, I.f64x2ExtractLane(0), v, I.f64x2ExtractLane(1), I.f64Add());

/** Local allocation after `np` params. */
function locals(np: number): { types: ValType[]; local: (t: ValType) => number } {
  const types: ValType[] = [];
  return { types, local: (t) => np + types.push(t) - 1 };
}

/**
 * Loops over x [outer, C, inner] as runs: `perChannel` once per (n, c) (channel byte
 * offset in `co`, 8 per channel), then `perVector` for each whole v128 and `perScalar`
 * for each of the up to 3 elements left, then `afterRun`.
 */
function channelRuns(
  P: { outer: number; C: number; inner: number },
  L: { n: number; c: number; i: number; co: number },
  parts: { perChannel: Code; perVector: Code; perScalar: Code; afterRun: Code },
): Code {
  const { get, set } = I;
  return cat(
    get(P.outer), set(L.n),
    I.repeat(L.n, cat(
      I.i32(0), set(L.co), get(P.C), set(L.c),
      I.repeat(L.c, cat(
        parts.perChannel,
        get(P.inner), I.i32(2), I.i32ShrU(), set(L.i),
        I.repeat(L.i, parts.perVector),
        get(P.inner), I.i32(3), I.i32And(), set(L.i),
        I.repeat(L.i, parts.perScalar),
        parts.afterRun,
        I.bump(L.co, I.i32(8)),
      )),
    )),
  );
}

function emitStats(m: ModuleBuilder): void {
  const P = { src: 0, outer: 1, C: 2, inner: 3, k: 4, s1: 5, s2: 6 };
  const { types, local } = locals(7);
  const L = { n: local(T.i32), c: local(T.i32), i: local(T.i32), co: local(T.i32) };
  const [v, kv, a0, a1, b0, b1, d] = Array.from({ length: 7 }, () => local(T.v128));
  const [k, sa, sb, e] = Array.from({ length: 4 }, () => local(T.f64));
  const { get, set, tee } = I;
  const acc = (x: Code, a: number, b: number): Code => cat(x, get(kv), I.f64x2Sub(), tee(d), get(a), I.f64x2Add(), set(a), get(d), get(d), I.f64x2Mul(), get(b), I.f64x2Add(), set(b));
  m.func('bnStats', new Array<ValType>(7).fill(T.i32), [], types, channelRuns(P, L, {
    perChannel: cat(get(P.k), get(L.co), I.i32Add(), I.f64Load(), tee(k), I.f64x2Splat(), set(kv), ZERO(), set(a0), ZERO(), set(a1), ZERO(), set(b0), ZERO(), set(b1)),
    perVector: cat(
      get(P.src), I.v128Load(), set(v),
      acc(cat(get(v), I.f64x2PromoteLowF32x4()), a0, b0), acc(promoteHigh(get(v)), a1, b1),
      I.bump(P.src, I.i32(16)),
    ),
    perScalar: cat(),
    afterRun: cat(
      lanesSum(cat(get(a0), get(a1), I.f64x2Add())), set(sa), lanesSum(cat(get(b0), get(b1), I.f64x2Add())), set(sb),
      get(P.inner), I.i32(3), I.i32And(), set(L.i),
      I.repeat(L.i, cat(
        get(P.src), I.f32Load(), I.f64PromoteF32(), get(k), I.f64Sub(), tee(e), get(sa), I.f64Add(), set(sa),
        get(e), get(e), I.f64Mul(), get(sb), I.f64Add(), set(sb), I.bump(P.src, I.i32(4)),
      )),
      get(P.s1), get(L.co), I.i32Add(), get(P.s1), get(L.co), I.i32Add(), I.f64Load(), get(sa), I.f64Add(), I.f64Store(),
      get(P.s2), get(L.co), I.i32Add(), get(P.s2), get(L.co), I.i32Add(), I.f64Load(), get(sb), I.f64Add(), I.f64Store(),
    ),
  }));
}

function emitApply(m: ModuleBuilder): void {
  const P = { src: 0, dst: 1, outer: 2, C: 3, inner: 4, m: 5, sc: 6, sh: 7 };
  const { types, local } = locals(8);
  const L = { n: local(T.i32), c: local(T.i32), i: local(T.i32), co: local(T.i32) };
  const [v, mv, sv, hv] = Array.from({ length: 4 }, () => local(T.v128));
  const [ms, ss, hs] = Array.from({ length: 3 }, () => local(T.f64));
  const { get, set, tee } = I;
  const f = (x: Code): Code => cat(x, get(mv), I.f64x2Sub(), get(sv), I.f64x2Mul(), get(hv), I.f64x2Add());
  const chan = (ptr: number, scalar: number, vec: number): Code => cat(get(ptr), get(L.co), I.i32Add(), I.f64Load(), tee(scalar), I.f64x2Splat(), set(vec));
  m.func('bnApply', new Array<ValType>(8).fill(T.i32), [], types, channelRuns(P, L, {
    perChannel: cat(chan(P.m, ms, mv), chan(P.sc, ss, sv), chan(P.sh, hs, hv)),
    perVector: cat(
      get(P.dst), get(P.src), I.v128Load(), set(v), pack(f(cat(get(v), I.f64x2PromoteLowF32x4())), f(promoteHigh(get(v)))), I.v128Store(),
      I.bump(P.src, I.i32(16)), I.bump(P.dst, I.i32(16)),
    ),
    perScalar: cat(
      get(P.dst), get(P.src), I.f32Load(), I.f64PromoteF32(), get(ms), I.f64Sub(), get(ss), I.f64Mul(), get(hs), I.f64Add(), I.f32DemoteF64(), I.f32Store(),
      I.bump(P.src, I.i32(4)), I.bump(P.dst, I.i32(4)),
    ),
    afterRun: cat(),
  }));
}

function emitGradSums(m: ModuleBuilder): void {
  const P = { x: 0, dy: 1, outer: 2, C: 3, inner: 4, m: 5, s1: 6, s2: 7 };
  const { types, local } = locals(8);
  const L = { n: local(T.i32), c: local(T.i32), i: local(T.i32), co: local(T.i32) };
  const [xv, gv, mv, a0, a1, b0, b1, g] = Array.from({ length: 8 }, () => local(T.v128));
  const [ms, sa, sb, gs] = Array.from({ length: 4 }, () => local(T.f64));
  const { get, set, tee } = I;
  const acc = (gx: Code, xx: Code, a: number, b: number): Code => cat(
    gx, tee(g), get(a), I.f64x2Add(), set(a),
    get(g), xx, get(mv), I.f64x2Sub(), I.f64x2Mul(), get(b), I.f64x2Add(), set(b),
  );
  m.func('bnGradSums', new Array<ValType>(8).fill(T.i32), [], types, channelRuns(P, L, {
    perChannel: cat(get(P.m), get(L.co), I.i32Add(), I.f64Load(), tee(ms), I.f64x2Splat(), set(mv), ZERO(), set(a0), ZERO(), set(a1), ZERO(), set(b0), ZERO(), set(b1)),
    perVector: cat(
      get(P.x), I.v128Load(), set(xv), get(P.dy), I.v128Load(), set(gv),
      acc(cat(get(gv), I.f64x2PromoteLowF32x4()), cat(get(xv), I.f64x2PromoteLowF32x4()), a0, b0),
      acc(promoteHigh(get(gv)), promoteHigh(get(xv)), a1, b1),
      I.bump(P.x, I.i32(16)), I.bump(P.dy, I.i32(16)),
    ),
    perScalar: cat(),
    afterRun: cat(
      lanesSum(cat(get(a0), get(a1), I.f64x2Add())), set(sa), lanesSum(cat(get(b0), get(b1), I.f64x2Add())), set(sb),
      get(P.inner), I.i32(3), I.i32And(), set(L.i),
      I.repeat(L.i, cat(
        get(P.dy), I.f32Load(), I.f64PromoteF32(), tee(gs), get(sa), I.f64Add(), set(sa),
        get(gs), get(P.x), I.f32Load(), I.f64PromoteF32(), get(ms), I.f64Sub(), I.f64Mul(), get(sb), I.f64Add(), set(sb),
        I.bump(P.x, I.i32(4)), I.bump(P.dy, I.i32(4)),
      )),
      get(P.s1), get(L.co), I.i32Add(), get(P.s1), get(L.co), I.i32Add(), I.f64Load(), get(sa), I.f64Add(), I.f64Store(),
      get(P.s2), get(L.co), I.i32Add(), get(P.s2), get(L.co), I.i32Add(), I.f64Load(), get(sb), I.f64Add(), I.f64Store(),
    ),
  }));
}

function emitGradApply(m: ModuleBuilder): void {
  const P = { x: 0, dy: 1, dx: 2, outer: 3, C: 4, inner: 5, m: 6, a: 7, k1: 8, k0: 9 };
  const { types, local } = locals(10);
  const L = { n: local(T.i32), c: local(T.i32), i: local(T.i32), co: local(T.i32) };
  const [xv, gv, mv, av, k1v, k0v] = Array.from({ length: 6 }, () => local(T.v128));
  const [ms, as, k1s, k0s] = Array.from({ length: 4 }, () => local(T.f64));
  const { get, set, tee } = I;
  // a·dy + k1·(x − m) + k0, in that order (the portable kernel's).
  const f = (g: Code, x: Code): Code => cat(get(av), g, I.f64x2Mul(), get(k1v), x, get(mv), I.f64x2Sub(), I.f64x2Mul(), I.f64x2Add(), get(k0v), I.f64x2Add());
  const chan = (ptr: number, scalar: number, vec: number): Code => cat(get(ptr), get(L.co), I.i32Add(), I.f64Load(), tee(scalar), I.f64x2Splat(), set(vec));
  m.func('bnGradApply', new Array<ValType>(10).fill(T.i32), [], types, channelRuns(P, L, {
    perChannel: cat(chan(P.m, ms, mv), chan(P.a, as, av), chan(P.k1, k1s, k1v), chan(P.k0, k0s, k0v)),
    perVector: cat(
      get(P.x), I.v128Load(), set(xv), get(P.dy), I.v128Load(), set(gv),
      get(P.dx), pack(
        f(cat(get(gv), I.f64x2PromoteLowF32x4()), cat(get(xv), I.f64x2PromoteLowF32x4())),
        f(promoteHigh(get(gv)), promoteHigh(get(xv))),
      ), I.v128Store(),
      I.bump(P.x, I.i32(16)), I.bump(P.dy, I.i32(16)), I.bump(P.dx, I.i32(16)),
    ),
    perScalar: cat(
      get(P.dx),
      get(as), get(P.dy), I.f32Load(), I.f64PromoteF32(), I.f64Mul(),
      get(k1s), get(P.x), I.f32Load(), I.f64PromoteF32(), get(ms), I.f64Sub(), I.f64Mul(), I.f64Add(),
      get(k0s), I.f64Add(), I.f32DemoteF64(), I.f32Store(),
      I.bump(P.x, I.i32(4)), I.bump(P.dy, I.i32(4)), I.bump(P.dx, I.i32(4)),
    ),
    afterRun: cat(),
  }));
}

/** Export name of the layer norm kernel with / without weight and bias. */
export const layerNormName = (w: boolean, b: boolean): `layerNorm_${string}` => `layerNorm_${w ? 'w' : ''}${b ? 'b' : ''}`;

/** Locals a layer-norm row walk uses: i32 i, p; v128 v, a0, a1, d, mv (mean), sv (σ⁻¹); f64 s, mean, invstd, e, n (= len). */
interface RowLocals {
  i: number; p: number;
  v: number; a0: number; a1: number; d: number; mv: number; sv: number;
  s: number; mean: number; invstd: number; e: number; n: number;
}

function rowLocals(local: (t: ValType) => number): RowLocals {
  const [i, p] = [local(T.i32), local(T.i32)];
  const [v, a0, a1, d, mv, sv] = Array.from({ length: 6 }, () => local(T.v128));
  const [s, mean, invstd, e, n] = Array.from({ length: 5 }, () => local(T.f64));
  return { i, p, v, a0, a1, d, mv, sv, s, mean, invstd, e, n };
}

/**
 * A row's statistics as the portable kernel's sliceStats: pass 1 Σx → mean (in `mean`,
 * `mv`), pass 2 Σ(x − mean)² → σ⁻¹ = 1/√(Σ/len + eps) (in `invstd`, `sv`). The row starts
 * at local `src`; `len` and `eps` are locals too.
 */
function rowStats(L: RowLocals, src: number, len: number, eps: number): { vectors: (body: Code) => Code; scalars: (body: Code) => Code; stats: Code } {
  const { get, set, tee } = I;
  const { i, p, v, a0, a1, d, mv, sv, s, mean, invstd, e, n } = L;
  const vectors = (body: Code): Code => cat(get(len), I.i32(2), I.i32ShrU(), set(i), I.repeat(i, body));
  const scalars = (body: Code): Code => cat(get(len), I.i32(3), I.i32And(), set(i), I.repeat(i, body));
  const rowStart = cat(get(src), set(p), ZERO(), set(a0), ZERO(), set(a1));
  const xScalar = cat(get(p), I.f32Load(), I.f64PromoteF32());
  const sumPass = cat(
    rowStart,
    vectors(cat(get(p), I.v128Load(), tee(v), I.f64x2PromoteLowF32x4(), get(a0), I.f64x2Add(), set(a0), promoteHigh(get(v)), get(a1), I.f64x2Add(), set(a1), I.bump(p, I.i32(16)))),
    lanesSum(cat(get(a0), get(a1), I.f64x2Add())), set(s),
    scalars(cat(get(s), xScalar, I.f64Add(), set(s), I.bump(p, I.i32(4)))),
    get(s), get(n), I.f64Div(), tee(mean), I.f64x2Splat(), set(mv),
  );
  const sq = (x: Code, a: number): Code => cat(x, get(mv), I.f64x2Sub(), tee(d), get(d), I.f64x2Mul(), get(a), I.f64x2Add(), set(a));
  const varPass = cat(
    rowStart,
    vectors(cat(get(p), I.v128Load(), set(v), sq(cat(get(v), I.f64x2PromoteLowF32x4()), a0), sq(promoteHigh(get(v)), a1), I.bump(p, I.i32(16)))),
    lanesSum(cat(get(a0), get(a1), I.f64x2Add())), set(s),
    scalars(cat(xScalar, get(mean), I.f64Sub(), tee(e), get(e), I.f64Mul(), get(s), I.f64Add(), set(s), I.bump(p, I.i32(4)))),
    I.f64Const(1), get(s), get(n), I.f64Div(), get(eps), I.f64Add(), I.f64Sqrt(), I.f64Div(), tee(invstd), I.f64x2Splat(), set(sv),
  );
  return { vectors, scalars, stats: cat(get(len), I.f64ConvertI32U(), set(n), sumPass, varPass) };
}

function emitLayerNorm(m: ModuleBuilder, hasW: boolean, hasB: boolean): void {
  const P = { src: 0, dst: 1, w: 2, b: 3, rows: 4, len: 5, eps: 6 };
  const NP = 7;
  const { types, local } = locals(NP);
  const [r, q, wp, bp] = Array.from({ length: 4 }, () => local(T.i32));
  const L = rowLocals(local);
  const { p, v, mv, sv, mean, invstd } = L;
  const { get, set } = I;
  // Passes 1–2: the statistics. Pass 3: the result (the portable kernel's order:
  // (x − mean)·σ⁻¹, then ·w, then + b, all float64).
  const { vectors, scalars, stats } = rowStats(L, P.src, P.len, P.eps);
  const xScalar = cat(get(p), I.f32Load(), I.f64PromoteF32());
  const loadPair = (ptr: number, half: 'lo' | 'hi'): Code => (half === 'lo' ? cat(get(ptr), I.v128Load(), I.f64x2PromoteLowF32x4()) : promoteHigh(cat(get(ptr), I.v128Load())));
  const vecOut = (half: 'lo' | 'hi'): Code => cat(
    half === 'lo' ? cat(get(v), I.f64x2PromoteLowF32x4()) : promoteHigh(get(v)), get(mv), I.f64x2Sub(), get(sv), I.f64x2Mul(),
    hasW ? cat(loadPair(wp, half), I.f64x2Mul()) : [],
    hasB ? cat(loadPair(bp, half), I.f64x2Add()) : [],
  );
  const scalarOut = cat(
    xScalar, get(mean), I.f64Sub(), get(invstd), I.f64Mul(),
    hasW ? cat(get(wp), I.f32Load(), I.f64PromoteF32(), I.f64Mul()) : [],
    hasB ? cat(get(bp), I.f32Load(), I.f64PromoteF32(), I.f64Add()) : [],
    I.f32DemoteF64(),
  );
  const bumpWB = (by: number): Code => cat(hasW ? I.bump(wp, I.i32(by)) : [], hasB ? I.bump(bp, I.i32(by)) : []);
  const outPass = cat(
    get(P.src), set(p), get(P.w), set(wp), get(P.b), set(bp),
    vectors(cat(get(p), I.v128Load(), set(v), get(q), pack(vecOut('lo'), vecOut('hi')), I.v128Store(), I.bump(p, I.i32(16)), I.bump(q, I.i32(16)), bumpWB(16))),
    scalars(cat(get(q), scalarOut, I.f32Store(), I.bump(p, I.i32(4)), I.bump(q, I.i32(4)), bumpWB(4))),
  );
  const body = cat(
    get(P.dst), set(q), get(P.rows), set(r),
    I.repeat(r, cat(stats, outPass, get(p), set(P.src))),
  );
  const params: ValType[] = [T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.f64];
  m.func(layerNormName(hasW, hasB), params, [], types, body);
}

/** Export name of the layer norm backward kernel with / without weight. */
export const layerNormGradName = (w: boolean): `layerNormGrad_${string}` => `layerNormGrad_${w ? 'w' : ''}`;

/**
 * layerNormGrad_{w}(x, dy, dx, w, sw, sb, rows, len, eps: f64): per row, the statistics as
 * layerNorm's, then with x̂ = (x − mean)·σ⁻¹ and g = dy(·w): Σg, Σg·x̂ (and sw[j] += dy·x̂,
 * sb[j] += dy into the float64 column sums), then dx = σ⁻¹·((g − mean g) − x̂·mean(g·x̂)):
 * the portable kernel's formulas in its order (reference/kernels/normalization.ts).
 */
function emitLayerNormGrad(m: ModuleBuilder, hasW: boolean): void {
  const P = { x: 0, dy: 1, dx: 2, w: 3, sw: 4, sb: 5, rows: 6, len: 7, eps: 8 };
  const { types, local } = locals(9);
  const [r, q, o, wp, swp, sbp] = Array.from({ length: 6 }, () => local(T.i32));
  const L = rowLocals(local);
  const [xv, dv, xh, dd, gv, sg0, sg1, sgx0, sgx1, mgv, mgxv] = Array.from({ length: 11 }, () => local(T.v128));
  const [sg, sgx, mg, mgx, xs, ds, gs] = Array.from({ length: 7 }, () => local(T.f64));
  const { p, mv, sv, mean, invstd } = L;
  const { get, set, tee } = I;
  const { vectors, scalars, stats } = rowStats(L, P.x, P.len, P.eps);
  const half = (v: number, h: number): Code => (h === 0 ? cat(get(v), I.f64x2PromoteLowF32x4()) : promoteHigh(get(v)));
  const wHalf = (h: number): Code => (h === 0 ? cat(get(wp), I.v128Load(), I.f64x2PromoteLowF32x4()) : promoteHigh(cat(get(wp), I.v128Load())));
  /** Leaves x̂ in `xh`, dy in `dd` and g in `gv` for half h of the loaded vectors. */
  const terms = (h: number): Code => cat(
    half(xv, h), get(mv), I.f64x2Sub(), get(sv), I.f64x2Mul(), set(xh),
    half(dv, h), tee(dd), hasW ? cat(wHalf(h), I.f64x2Mul()) : [], set(gv),
  );
  const addTo = (ptr: number, off: number, x: Code): Code => cat(get(ptr), get(ptr), I.v128Load(off), x, I.f64x2Add(), I.v128Store(off));
  const loads = cat(get(p), I.v128Load(), set(xv), get(q), I.v128Load(), set(dv));
  const sumsVec = cat(
    loads,
    ...[0, 1].map((h) => cat(
      terms(h),
      get(gv), get(h ? sg1 : sg0), I.f64x2Add(), set(h ? sg1 : sg0),
      get(gv), get(xh), I.f64x2Mul(), get(h ? sgx1 : sgx0), I.f64x2Add(), set(h ? sgx1 : sgx0),
      addTo(swp, 16 * h, cat(get(dd), get(xh), I.f64x2Mul())), addTo(sbp, 16 * h, get(dd)),
    )),
    I.bump(p, I.i32(16)), I.bump(q, I.i32(16)), hasW ? I.bump(wp, I.i32(16)) : [], I.bump(swp, I.i32(32)), I.bump(sbp, I.i32(32)),
  );
  const scalarTerms = cat(
    get(p), I.f32Load(), I.f64PromoteF32(), get(mean), I.f64Sub(), get(invstd), I.f64Mul(), set(xs),
    get(q), I.f32Load(), I.f64PromoteF32(), tee(ds), hasW ? cat(get(wp), I.f32Load(), I.f64PromoteF32(), I.f64Mul()) : [], set(gs),
  );
  const addScalar = (ptr: number, x: Code): Code => cat(get(ptr), get(ptr), I.f64Load(), x, I.f64Add(), I.f64Store());
  const sumsScalar = cat(
    scalarTerms,
    get(sg), get(gs), I.f64Add(), set(sg), get(sgx), get(gs), get(xs), I.f64Mul(), I.f64Add(), set(sgx),
    addScalar(swp, cat(get(ds), get(xs), I.f64Mul())), addScalar(sbp, get(ds)),
    I.bump(p, I.i32(4)), I.bump(q, I.i32(4)), hasW ? I.bump(wp, I.i32(4)) : [], I.bump(swp, I.i32(8)), I.bump(sbp, I.i32(8)),
  );
  const dxHalf = (h: number): Code => cat(terms(h), get(sv), get(gv), get(mgv), I.f64x2Sub(), get(xh), get(mgxv), I.f64x2Mul(), I.f64x2Sub(), I.f64x2Mul());
  const dxVec = cat(
    loads, get(o), dxHalf(0), I.f32x4DemoteF64x2Zero(), dxHalf(1), I.f32x4DemoteF64x2Zero(),
    I.i8x16Shuffle([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]), I.v128Store(),
    I.bump(p, I.i32(16)), I.bump(q, I.i32(16)), I.bump(o, I.i32(16)), hasW ? I.bump(wp, I.i32(16)) : [],
  );
  const dxScalar = cat(
    scalarTerms,
    get(o), get(invstd), get(gs), get(mg), I.f64Sub(), get(xs), get(mgx), I.f64Mul(), I.f64Sub(), I.f64Mul(), I.f32DemoteF64(), I.f32Store(),
    I.bump(p, I.i32(4)), I.bump(q, I.i32(4)), I.bump(o, I.i32(4)), hasW ? I.bump(wp, I.i32(4)) : [],
  );
  const start = cat(get(P.x), set(p), get(P.dy), set(q), get(P.w), set(wp));
  const body = cat(
    get(P.dx), set(o), get(P.rows), set(r),
    I.repeat(r, cat(
      stats,
      start, get(P.sw), set(swp), get(P.sb), set(sbp),
      ...[sg0, sg1, sgx0, sgx1].map((a) => cat(ZERO(), set(a))),
      vectors(sumsVec),
      lanesSum(cat(get(sg0), get(sg1), I.f64x2Add())), set(sg), lanesSum(cat(get(sgx0), get(sgx1), I.f64x2Add())), set(sgx),
      scalars(sumsScalar),
      get(sg), get(L.n), I.f64Div(), tee(mg), I.f64x2Splat(), set(mgv),
      get(sgx), get(L.n), I.f64Div(), tee(mgx), I.f64x2Splat(), set(mgxv),
      start, vectors(dxVec), scalars(dxScalar),
      get(p), set(P.x), get(q), set(P.dy),
    )),
  );
  const params: ValType[] = [T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.f64];
  m.func(layerNormGradName(hasW), params, [], types, body);
}

/** The normalization module: bnStats, bnApply, bnGradSums, bnGradApply, the layerNorm and layerNormGrad variants. */
export function simdNormalizationModule(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  emitStats(m);
  emitApply(m);
  emitGradSums(m);
  emitGradApply(m);
  // The op's inputs are (x, weight?, bias?): a bias comes with a weight.
  for (const [w, b] of [[false, false], [true, false], [true, true]] as const) emitLayerNorm(m, w, b);
  for (const w of [false, true]) emitLayerNormGrad(m, w);
  return m.bytes();
}

/** The generated kernels bound to one heap (byte addresses, counts; see the header). */
export interface NormalizationKernels {
  bnStats(src: number, outer: number, C: number, inner: number, k: number, s1: number, s2: number): void;
  bnApply(src: number, dst: number, outer: number, C: number, inner: number, m: number, sc: number, sh: number): void;
  bnGradSums(x: number, dy: number, outer: number, C: number, inner: number, m: number, s1: number, s2: number): void;
  bnGradApply(x: number, dy: number, dx: number, outer: number, C: number, inner: number, m: number, a: number, k1: number, k0: number): void;
  [layerNorm: `layerNorm_${string}`]: (src: number, dst: number, w: number, b: number, rows: number, len: number, eps: number) => void;
  [layerNormGrad: `layerNormGrad_${string}`]: (x: number, dy: number, dx: number, w: number, sw: number, sb: number, rows: number, len: number, eps: number) => void;
}

/** The kernels on `memory` (generated and compiled once; instantiated once per memory). */
export function normalizationKernels(memory: WebAssembly.Memory): NormalizationKernels {
  return kernelsOn<NormalizationKernels>(memory, 'simdNormalization', () => simdNormalizationModule());
}
