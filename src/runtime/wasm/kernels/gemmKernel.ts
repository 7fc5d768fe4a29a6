import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';
import { UNARY_OPS } from './simdElementwise.js';

// ---- generated WebAssembly GEMM: C = A·B (+ bias) on register-blocked SIMD tiles ----------
//
// B is read in panels of 8 columns (two v128s per k): panel p's row k at
// b + p·panelStride + k·ldb. A packed B (export `pack`: panelStride = K·32, ldb = 32) walks
// each panel contiguously; a row-major B [K, N] is its own panels (panelStride = 32,
// ldb = N·4) and needs no packing, except its last N mod 8 columns (reading them whole
// would run past the row): those come from a packed, zero-padded `edgeB` (rows 32 bytes
// apart) and `edgeBias` (8 floats, when there is a bias).
//
// A tile is MR rows × NP panels: MR·NP·2 v128 accumulators, one splat of A per row and one
// B vector live (MR·NP·2 + MR + 1 ≤ 16, V8's xmm registers on x64). Every output is
// accumulated the same way whatever the tile: acc = 0, then acc + a[i,k]·b[k,j] for
// k = 0, 1, … in order, then + bias[j]. So the choice of tile (by shape) never changes a
// bit, and matmul then add gives the same bits as the fused linear. With relaxed SIMD the
// multi-row tiles' multiply-add is `f32x4.relaxed_madd` (one rounding on x64 with FMA), in
// its own module, compiled only where the engine validates it (`relaxedSimdAvailable`);
// there a row computed alone (the multiply-then-add GEMV tile) may differ from the same
// row in a batch in the last bits.
//
// Signature (i32; addresses and strides in bytes): gemm_<MR>x<NP·8>(a, lda, b, ldb,
// panelStride, edgeB, bias, edgeBias, c, ldc, M, N, K, relu); bias = 0 for none; relu ≠ 0
// applies ReLU after the bias with the relu kernel's own code (simdElementwise.ts), so a
// linear with its ReLU fused gives the bits of the two ops without the activation's pass
// over C. K = 0 leaves C = bias (or 0), ReLU'd when asked.

const P = { a: 0, lda: 1, b: 2, ldb: 3, panelStride: 4, edgeB: 5, bias: 6, edgeBias: 7, c: 8, ldc: 9, M: 10, N: 11, K: 12, relu: 13 } as const;
const NPARAMS = 14;

/** A tile shape: MR rows × NP panels of 8 columns. */
export interface GemmTile { readonly mr: number; readonly np: number }

/**
 * The tiles each module exports, as `gemm_<mr>x<np·8>` (gemm.ts says which runs when, and
 * why: measured).
 */
export const GEMM_TILES: readonly GemmTile[] = [
  { mr: 1, np: 3 }, // GEMV (M = 1): 6 independent accumulator chains
  { mr: 2, np: 2 },
  { mr: 4, np: 1 },
];

export const gemmName = (t: GemmTile): string => `gemm_${t.mr}x${t.np * 8}`;

function emitGemm(m: ModuleBuilder, tile: GemmTile, fma: boolean): void {
  const { mr: MR, np: NP } = tile;
  const types: ValType[] = [];
  const local = (t: ValType): number => NPARAMS + types.push(t) - 1;
  const [fullPanels, ncols, jp, bp, cj, biasp, i, ap, cr, kk, t, mrLda, mrLdc] = Array.from({ length: 13 }, () => local(T.i32));
  const aR = Array.from({ length: MR }, () => local(T.i32));
  const bQ = Array.from({ length: NP }, () => local(T.i32));
  const acc = Array.from({ length: MR * NP * 2 }, () => local(T.v128));
  const s = Array.from({ length: MR }, () => local(T.v128));
  const bv = local(T.v128);
  const { get, set } = I;
  const k = I.i32;
  const A = (r: number, q: number, h: number): number => acc[(r * NP + q) * 2 + h]!;

  /** One tile of `mr` rows × `np` panels at ap (A), cr (C); panels from bp (or edgeB), bias from biasp (or edgeBias). */
  const tileCode = (mr: number, np: number, partial: boolean): Code => {
    const code: Code[] = [];
    code.push(get(ap), set(aR[0]!));
    for (let r = 1; r < mr; r++) code.push(get(aR[r - 1]!), get(P.lda), I.i32Add(), set(aR[r]!));
    code.push(get(partial ? P.edgeB : bp), set(bQ[0]!));
    for (let q = 1; q < np; q++) code.push(get(bQ[q - 1]!), get(P.panelStride), I.i32Add(), set(bQ[q]!));
    for (let r = 0; r < mr; r++) for (let q = 0; q < np; q++) for (let h = 0; h < 2; h++) code.push(I.f32x4Const(0), set(A(r, q, h)));
    const step: Code[] = [];
    for (let r = 0; r < mr; r++) step.push(get(aR[r]!), I.v128Load32Splat(), set(s[r]!));
    for (let q = 0; q < np; q++) {
      for (let h = 0; h < 2; h++) {
        step.push(get(bQ[q]!), I.v128Load(16 * h), set(bv));
        for (let r = 0; r < mr; r++) {
          step.push(fma
            ? cat(get(s[r]!), get(bv), get(A(r, q, h)), I.f32x4RelaxedMadd())
            : cat(get(A(r, q, h)), get(s[r]!), get(bv), I.f32x4Mul(), I.f32x4Add()));
          step.push(set(A(r, q, h)));
        }
      }
    }
    for (let r = 0; r < mr; r++) step.push(I.bump(aR[r]!, k(4)));
    for (let q = 0; q < np; q++) step.push(I.bump(bQ[q]!, partial ? k(32) : P.ldb));
    code.push(get(P.K), set(kk), I.repeat(kk, step));
    // Bias after the sum (so the fused linear equals matmul then add).
    const addBias: Code[] = [];
    for (let r = 0; r < mr; r++) {
      for (let q = 0; q < np; q++) {
        for (let h = 0; h < 2; h++) addBias.push(get(A(r, q, h)), get(partial ? P.edgeBias : biasp), I.v128Load(q * 32 + 16 * h), I.f32x4Add(), set(A(r, q, h)));
      }
    }
    code.push(get(P.bias), I.if(addBias));
    const relu: Code[] = [];
    for (let r = 0; r < mr; r++) {
      for (let q = 0; q < np; q++) {
        for (let h = 0; h < 2; h++) relu.push(UNARY_OPS['relu']!.v(get(A(r, q, h)), []), set(A(r, q, h)));
      }
    }
    code.push(get(P.relu), I.if(relu));
    code.push(get(cr), set(t));
    for (let r = 0; r < mr; r++) {
      if (partial) {
        // The last N mod 8 columns, lane by lane.
        for (let l = 0; l < 8; l++) {
          const store = cat(get(t), get(A(r, 0, l >> 2)), I.f32x4ExtractLane(l & 3), I.f32Store(4 * l));
          code.push(l === 0 ? store : cat(get(ncols), k(l), I.i32GtS(), I.if(store)));
        }
      } else {
        for (let q = 0; q < np; q++) for (let h = 0; h < 2; h++) code.push(get(t), get(A(r, q, h)), I.v128Store(q * 32 + 16 * h));
      }
      if (r + 1 < mr) code.push(I.bump(t, P.ldc));
    }
    return code;
  };

  /** Every row of the current column group: MR-row tiles, then the M mod MR rows left. */
  const rows = (np: number, partial: boolean): Code => {
    const code: Code[] = [get(P.M), set(i), get(P.a), set(ap), get(cj), set(cr)];
    code.push(I.block(I.loop(cat(
      get(i), k(MR), I.i32LtS(), I.brIf(1),
      tileCode(MR, np, partial),
      I.bump(ap, mrLda), I.bump(cr, mrLdc), get(i), k(MR), I.i32Sub(), set(i),
      I.br(0),
    ))));
    for (let r = 1; r < MR; r++) code.push(get(i), k(r), I.i32Eq(), I.if(tileCode(r, np, partial)));
    return code;
  };

  /** Column groups of `np` full panels while they fit. */
  const groups = (np: number): Code => I.block(I.loop(cat(
    get(jp), k(np), I.i32Add(), get(fullPanels), I.i32GtS(), I.brIf(1),
    rows(np, false),
    I.bump(jp, k(np)), get(bp), get(P.panelStride), k(np), I.i32Mul(), I.i32Add(), set(bp),
    I.bump(cj, k(32 * np)), I.bump(biasp, k(32 * np)),
    I.br(0),
  )));

  const body = cat(
    get(P.N), k(3), I.i32ShrU(), set(fullPanels), get(P.N), k(7), I.i32And(), set(ncols),
    get(P.lda), k(MR), I.i32Mul(), set(mrLda), get(P.ldc), k(MR), I.i32Mul(), set(mrLdc),
    k(0), set(jp), get(P.b), set(bp), get(P.c), set(cj), get(P.bias), set(biasp),
    NP > 1 ? groups(NP) : [],
    groups(1),
    get(ncols), I.if(rows(1, true)),
  );
  m.func(gemmName(tile), new Array<ValType>(NPARAMS).fill(T.i32), [], types, body);
}

// ---- the GEMV of a cached B: one stream of 3-panel rows ---------------------------------
//
// At M = 1 the product streams all of B once from L3 per call, so how it is walked
// matters: the 1×24 tile reads three panels (three streams K·32 bytes apart, three
// pointers bumped per k). On B regrouped (`regroup`) so that each group of 3 panels has
// its rows adjacent (96 bytes per k), one pointer walks one stream and every load is an
// immediate offset from it: measured 12–16% faster on 784×512 and 512×512 (same process,
// interleaved; 4- and 5-panel groups spill registers in V8 and run 1.5× slower). The
// panels past the last full group (0–2 full ones, then the edge) keep the panel layout,
// which the same pointer walks next. Each output is accumulated as in the tiles (0, then
// + a[k]·b[k, j] in k order, then + bias, then ReLU when asked): the same bits.
//
// regroup(src, K, N, dst): panels as `pack` wrote them at src (⌈N/8⌉ panels of K·32 bytes)
// → the GEMV layout at dst (the same bytes: group g's row k at g·K·96 + k·96, its panel q
// at +q·32; the panels after the groups as they were).
// gemv(a, b, c, K, N, bias, edgeBias, relu): c[0, N) = a[0, K)·B (+ bias) (ReLU), B in the
// GEMV layout at b; bias, edgeBias and relu as in the tiles.

/** Columns per GEMV group (3 panels of 8). */
export const GEMV_GROUP = 24;

function emitRegroup(m: ModuleBuilder): void {
  const [src, K, N, dst] = [0, 1, 2, 3];
  const [g, kk, s0, d, rest, panelBytes] = [4, 5, 6, 7, 8, 9];
  const { get, set } = I;
  const k = I.i32;
  const body = cat(
    get(K), k(32), I.i32Mul(), set(panelBytes),
    get(N), k(GEMV_GROUP), I.i32DivU(), set(g),
    get(src), set(s0), get(dst), set(d),
    I.repeat(g, cat(
      get(K), set(kk),
      I.repeat(kk, cat(
        [0, 1, 2].map((q) => cat(
          get(d), get(s0), q ? cat(get(panelBytes), k(q), I.i32Mul(), I.i32Add()) : [], I.v128Load(), I.v128Store(q * 32),
          get(d), get(s0), q ? cat(get(panelBytes), k(q), I.i32Mul(), I.i32Add()) : [], I.v128Load(16), I.v128Store(q * 32 + 16),
        )),
        I.bump(s0, k(32)), I.bump(d, k(96)),
      )),
      // s0 walked panel 0 of the group: on to the next group's first panel.
      get(s0), get(panelBytes), k(2), I.i32Mul(), I.i32Add(), set(s0),
    )),
    // The rest (full panels and the edge) at the same offset, unchanged.
    get(N), k(7), I.i32Add(), k(3), I.i32ShrU(), get(N), k(GEMV_GROUP), I.i32DivU(), k(3), I.i32Mul(), I.i32Sub(), get(panelBytes), I.i32Mul(), set(rest),
    get(d), get(s0), get(rest), I.memoryCopy(),
  );
  m.func('regroup', [T.i32, T.i32, T.i32, T.i32], [], [T.i32, T.i32, T.i32, T.i32, T.i32, T.i32], body);
}

function emitGemv(m: ModuleBuilder): void {
  const Q = { a: 0, b: 1, c: 2, K: 3, N: 4, bias: 5, edgeBias: 6, relu: 7 } as const;
  const types: ValType[] = [];
  const local = (t: ValType): number => 8 + types.push(t) - 1;
  const [count, ap, bp, cp, biasp, kk, ncols] = Array.from({ length: 7 }, () => local(T.i32));
  const acc = Array.from({ length: 6 }, () => local(T.v128));
  const s = local(T.v128);
  const { get, set } = I;
  const k = I.i32;
  /** One block of `v` v128 columns (2 per panel) at bp, rows `rowBytes` apart; `partial`: the edge panel. */
  const block = (v: number, partial: boolean): Code => {
    const rowBytes = v * 16;
    const step: Code[] = [get(ap), I.v128Load32Splat(), set(s)];
    for (let i = 0; i < v; i++) step.push(get(acc[i]!), get(s), get(bp), I.v128Load(16 * i), I.f32x4Mul(), I.f32x4Add(), set(acc[i]!));
    step.push(I.bump(ap, k(4)), I.bump(bp, k(rowBytes)));
    const code: Code[] = [get(Q.a), set(ap)];
    for (let i = 0; i < v; i++) code.push(I.f32x4Const(0), set(acc[i]!));
    code.push(get(Q.K), set(kk), I.repeat(kk, step));
    const bias: Code[] = [];
    for (let i = 0; i < v; i++) bias.push(get(acc[i]!), get(partial ? Q.edgeBias : biasp), I.v128Load(16 * i), I.f32x4Add(), set(acc[i]!));
    code.push(get(Q.bias), I.if(bias));
    const relu: Code[] = [];
    for (let i = 0; i < v; i++) relu.push(UNARY_OPS['relu']!.v(get(acc[i]!), []), set(acc[i]!));
    code.push(get(Q.relu), I.if(relu));
    if (partial) {
      for (let l = 0; l < 8; l++) {
        const store = cat(get(cp), get(acc[l >> 2]!), I.f32x4ExtractLane(l & 3), I.f32Store(4 * l));
        code.push(l === 0 ? store : cat(get(ncols), k(l), I.i32GtS(), I.if(store)));
      }
    } else {
      for (let i = 0; i < v; i++) code.push(get(cp), get(acc[i]!), I.v128Store(16 * i));
      code.push(I.bump(cp, k(rowBytes)), I.bump(biasp, k(rowBytes)));
    }
    return code;
  };
  const body = cat(
    get(Q.b), set(bp), get(Q.c), set(cp), get(Q.bias), set(biasp),
    get(Q.N), k(GEMV_GROUP), I.i32DivU(), set(count),
    I.repeat(count, block(6, false)),
    get(Q.N), k(3), I.i32ShrU(), get(Q.N), k(GEMV_GROUP), I.i32DivU(), k(3), I.i32Mul(), I.i32Sub(), set(count),
    I.repeat(count, block(2, false)),
    get(Q.N), k(7), I.i32And(), set(ncols),
    get(ncols), I.if(block(2, true)),
  );
  m.func('gemv', new Array<ValType>(8).fill(T.i32), [], types, body);
}

/** `if (result f32) … else … end` (the pack's load-or-zero, never reading past column N). */
const ifElseF32 = (then: Code, otherwise: Code): Code => [0x04, T.f32, then, 0x05, otherwise, 0x0b];

// pack(src, sk, sn, K, N, dst): panels of 8 columns of B (B[k, n] at src + k·sk + n·sn,
// bytes), dst[p][k][j] = B[k, 8p + j], 0 past column N. Raw bits move (NaN kept). A full
// panel of a row-major B (sn = 4) moves as two v128s per row; the rest float by float.
function emitPack(m: ModuleBuilder): void {
  const [src, sk, sn, K, N, dst] = [0, 1, 2, 3, 4, 5];
  const [p, kk, j, col, rowp, q, panels, vec] = [6, 7, 8, 9, 10, 11, 12, 13];
  const { get, set } = I;
  const k = I.i32;
  const scalarRow = I.block(I.loop(cat(
    get(j), k(8), I.i32GeU(), I.brIf(1),
    get(p), k(8), I.i32Mul(), get(j), I.i32Add(), set(col),
    get(q),
    get(col), get(N), I.i32LtU(),
    ifElseF32(cat(get(rowp), get(col), get(sn), I.i32Mul(), I.i32Add(), I.f32Load()), I.f32(0)),
    I.f32Store(),
    I.bump(q, k(4)), I.bump(j, k(1)),
    I.br(0),
  )));
  const vectorRow = cat(
    get(q), get(rowp), get(p), k(32), I.i32Mul(), I.i32Add(), set(col), get(col), I.v128Load(), I.v128Store(),
    get(q), get(col), I.v128Load(16), I.v128Store(16),
    I.bump(q, k(32)),
  );
  const body = cat(
    get(N), k(7), I.i32Add(), k(3), I.i32ShrU(), set(panels),
    get(dst), set(q), k(0), set(p),
    I.block(I.loop(cat(
      get(p), get(panels), I.i32GeU(), I.brIf(1),
      // A full panel of contiguous columns: (p + 1)·8 ≤ N and sn = 4.
      get(N), get(p), k(1), I.i32Add(), k(8), I.i32Mul(), I.i32LtU(), I.i32Eqz(),
      get(sn), k(4), I.i32Eq(), I.i32And(), set(vec),
      get(src), set(rowp), k(0), set(kk),
      I.block(I.loop(cat(
        get(kk), get(K), I.i32GeU(), I.brIf(1),
        k(0), set(j),
        get(vec), I.ifElse(vectorRow, scalarRow),
        I.bump(rowp, sk), I.bump(kk, k(1)),
        I.br(0),
      ))),
      I.bump(p, k(1)),
      I.br(0),
    ))),
  );
  m.func('pack', [T.i32, T.i32, T.i32, T.i32, T.i32, T.i32], [], [T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.i32], body);
}

// packT(src, K, N, dst): the panels of B = Wᵀ for a row-major W [N, K] at src, as `pack`
// writes them (pack(src, 4, K·4, K, N, dst)), faster: a full panel (8 rows of W) moves 4
// columns of W at a time, eight v128 loads transposed by shuffles into four panel rows;
// the last K mod 4 columns and a partial last panel go float by float.
function emitPackT(m: ModuleBuilder): void {
  const [src, K, N, dst] = [0, 1, 2, 3];
  let next = 4;
  const local = (): number => next++;
  const [p, panels, q, rs, kk, j, col, rowp] = Array.from({ length: 8 }, local);
  const r = Array.from({ length: 8 }, local);
  const nI32 = next - 4;
  const v = Array.from({ length: 8 }, local), t = Array.from({ length: 4 }, local);
  const { get, set } = I;
  const k = I.i32;
  /** The 4×4 transpose of v[o..o+3] stored at q + row·32 + off. */
  const transpose4 = (o: number, off: number): Code => cat(
    get(v[o]!), get(v[o + 1]!), I.i32x4Shuffle(0, 4, 1, 5), set(t[0]!),
    get(v[o + 2]!), get(v[o + 3]!), I.i32x4Shuffle(0, 4, 1, 5), set(t[1]!),
    get(v[o]!), get(v[o + 1]!), I.i32x4Shuffle(2, 6, 3, 7), set(t[2]!),
    get(v[o + 2]!), get(v[o + 3]!), I.i32x4Shuffle(2, 6, 3, 7), set(t[3]!),
    get(q), get(t[0]!), get(t[1]!), I.i32x4Shuffle(0, 1, 4, 5), I.v128Store(off),
    get(q), get(t[0]!), get(t[1]!), I.i32x4Shuffle(2, 3, 6, 7), I.v128Store(32 + off),
    get(q), get(t[2]!), get(t[3]!), I.i32x4Shuffle(0, 1, 4, 5), I.v128Store(64 + off),
    get(q), get(t[2]!), get(t[3]!), I.i32x4Shuffle(2, 3, 6, 7), I.v128Store(96 + off),
  );
  const fullPanel = cat(
    get(src), get(p), k(8), I.i32Mul(), get(rs), I.i32Mul(), I.i32Add(), set(r[0]!),
    r.slice(1).map((x, i) => cat(get(r[i]!), get(rs), I.i32Add(), set(x))),
    get(K), k(2), I.i32ShrU(), set(kk),
    I.repeat(kk, cat(
      r.map((x, i) => cat(get(x), I.v128Load(), set(v[i]!))),
      transpose4(0, 0), transpose4(4, 16),
      r.map((x) => I.bump(x, k(16))),
      I.bump(q, k(128)),
    )),
    get(K), k(3), I.i32And(), set(kk),
    I.repeat(kk, cat(
      r.map((x, i) => cat(get(q), get(x), I.f32Load(), I.f32Store(4 * i), I.bump(x, k(4)))),
      I.bump(q, k(32)),
    )),
  );
  const partialPanel = cat(
    get(src), set(rowp), get(K), set(kk),
    I.repeat(kk, cat(
      k(0), set(j),
      I.block(I.loop(cat(
        get(j), k(8), I.i32GeU(), I.brIf(1),
        get(p), k(8), I.i32Mul(), get(j), I.i32Add(), set(col),
        get(q),
        get(col), get(N), I.i32LtU(),
        ifElseF32(cat(get(rowp), get(col), get(rs), I.i32Mul(), I.i32Add(), I.f32Load()), I.f32(0)),
        I.f32Store(),
        I.bump(q, k(4)), I.bump(j, k(1)),
        I.br(0),
      ))),
      I.bump(rowp, k(4)),
    )),
  );
  const body = cat(
    get(N), k(7), I.i32Add(), k(3), I.i32ShrU(), set(panels),
    get(K), k(4), I.i32Mul(), set(rs),
    get(dst), set(q), k(0), set(p),
    I.block(I.loop(cat(
      get(p), get(panels), I.i32GeU(), I.brIf(1),
      get(N), get(p), k(1), I.i32Add(), k(8), I.i32Mul(), I.i32LtU(), I.ifElse(partialPanel, fullPanel),
      I.bump(p, k(1)),
      I.br(0),
    ))),
  );
  m.func('packT', [T.i32, T.i32, T.i32, T.i32], [], [...new Array<ValType>(nI32).fill(T.i32), ...new Array<ValType>(12).fill(T.v128)], body);
}

// addBias(c, bias, M, N): c[i, j] += bias[j] for a row-major [M, N] at c (after a product
// that ran without its bias: XNNPACK's would be added before the sum).
function emitAddBias(m: ModuleBuilder): void {
  const [c, bias, M, N] = [0, 1, 2, 3];
  const [i, p, q, n] = [4, 5, 6, 7];
  const { get, set } = I;
  const k = I.i32;
  const body = cat(
    get(c), set(p), get(M), set(i),
    I.repeat(i, cat(
      get(bias), set(q),
      get(N), k(2), I.i32ShrU(), set(n),
      I.repeat(n, cat(get(p), get(p), I.v128Load(), get(q), I.v128Load(), I.f32x4Add(), I.v128Store(), I.bump(p, k(16)), I.bump(q, k(16)))),
      get(N), k(3), I.i32And(), set(n),
      I.repeat(n, cat(get(p), get(p), I.f32Load(), get(q), I.f32Load(), I.f32Add(), I.f32Store(), I.bump(p, k(4)), I.bump(q, k(4)))),
    )),
  );
  m.func('addBias', [T.i32, T.i32, T.i32, T.i32], [], [T.i32, T.i32, T.i32, T.i32], body);
}

/** The GEMM module: every tile of `GEMM_TILES`, `pack`, `packT`, `addBias`, `regroup` and `gemv`; `fma`: the multi-row tiles use relaxed_madd. */
export function gemmModule(fma: boolean, tiles: readonly GemmTile[] = GEMM_TILES): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  // The one-row tile multiplies then adds even here: a GEMV is bound by its accumulator
  // chains' latency, which relaxed_madd lengthens (4 cycles vs the add's 3 on x64: ≈20%
  // slower measured); the multi-row tiles are throughput-bound (equal here, ahead where
  // multiply and add share the FMA ports).
  for (const tile of tiles) emitGemm(m, tile, fma && tile.mr > 1);
  emitPack(m);
  emitPackT(m);
  emitAddBias(m);
  emitRegroup(m);
  emitGemv(m);
  return m.bytes();
}

let relaxed: boolean | null = null;

/**
 * Whether this engine runs relaxed SIMD (`f32x4.relaxed_madd` validates). Checked once:
 * Node 20 needs `v8.setFlagsFromString('--experimental-wasm-relaxed-simd')` before the
 * first GEMM is generated; browsers have it.
 */
export function relaxedSimdAvailable(): boolean {
  if (relaxed === null) {
    const m = new ModuleBuilder();
    m.func('madd', [T.v128, T.v128, T.v128], [T.v128], [], cat(I.get(0), I.get(1), I.get(2), I.f32x4RelaxedMadd()));
    relaxed = WebAssembly.validate(m.bytes());
  }
  return relaxed;
}

type GemmFn = (a: number, lda: number, b: number, ldb: number, panelStride: number, edgeB: number, bias: number, edgeBias: number, c: number, ldc: number, M: number, N: number, K: number, relu: number) => void;
export interface GemmKernels {
  readonly [name: string]: GemmFn | ((...args: number[]) => void);
  pack(src: number, sk: number, sn: number, K: number, N: number, dst: number): void;
  regroup(src: number, K: number, N: number, dst: number): void;
  gemv(a: number, b: number, c: number, K: number, N: number, bias: number, edgeBias: number, relu: number): void;
  packT(src: number, K: number, N: number, dst: number): void;
  addBias(c: number, bias: number, M: number, N: number): void;
}

/**
 * Whether GEMMs use relaxed-SIMD FMA by default: only where the engine has it AND it was
 * asked for with `KILN_RELAXED_SIMD=1` (Node). Fused multiply-add rounds once, so its
 * results differ in the last bits from the plain kernels', and browsers (which all have
 * relaxed SIMD) would then compute other numbers than Node; it measured no faster here.
 */
export function relaxedSimdByDefault(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.['KILN_RELAXED_SIMD'] === '1' && relaxedSimdAvailable();
}

/**
 * The GEMM kernels on `memory`: with relaxed-SIMD FMA in the multi-row tiles when `fma`
 * (default `relaxedSimdByDefault()`) and the engine has it, else SIMD128 multiply then add.
 */
export function gemmKernels(memory: WebAssembly.Memory, fma = relaxedSimdByDefault()): GemmKernels {
  const m = gemmModuleSpec(fma);
  return kernelsOn<GemmKernels>(memory, m.key, m.generate);
}

/** The GEMM module `gemmKernels` instantiates: its cache key and generator (for other threads: kernelPool.ts). */
export function gemmModuleSpec(fma = relaxedSimdByDefault()): { key: string; generate: () => Uint8Array<ArrayBuffer> } {
  return fma && relaxedSimdAvailable() ? FMA_SPEC : PLAIN_SPEC;
}

// Named generators: a call allocates no closure (the kernels run on every product).
const generatePlain = (): Uint8Array<ArrayBuffer> => gemmModule(false);
const generateFma = (): Uint8Array<ArrayBuffer> => gemmModule(true);
const PLAIN_SPEC = { key: 'gemm', generate: generatePlain };
const FMA_SPEC = { key: 'gemm-fma', generate: generateFma };

/** One tile's function. */
export function gemmFn(kernels: GemmKernels, tile: GemmTile): GemmFn {
  return kernels[gemmName(tile)] as GemmFn;
}

/** Bytes of B packed for `gemm` (K rows of ⌈N/8⌉ panels of 8 floats). */
export function packedGemmBytes(k: number, n: number): number {
  return Math.ceil(n / 8) * k * 32;
}
