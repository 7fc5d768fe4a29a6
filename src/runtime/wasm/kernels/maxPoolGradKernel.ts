import { isPool2x2, type PoolGeom } from '../../reference/kernels/nn.js';
import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';

// ---- generated WebAssembly max-pool gradient kernels -----------------------------------
//
// maxPool2dGrad routes each window's output gradient to the window's first maximum
// (row-major; a NaN counts as the maximum, so the first NaN wins), exactly as the
// reference kernel in src/runtime/reference/kernels/nn.ts. tfjs's `_MaxPoolGrad` picks the
// last maximum and mishandles NaN, so Kiln emits its own. Both kernels write dx in full.
//
// - `pool2x2`: 2×2 windows, stride 2, no padding (the usual CNN pool). Windows do not
//   overlap, so each input element is stored once (its gradient or +0); only an odd last
//   row / column needs zeroing. Four windows per step: two rows of 8 floats, de-interleaved
//   into the windows' a, b / c, d lanes; m = f32x4.max (NaN-propagating) and the gradient
//   goes to the first of a, b, c, d that is NaN or equals m (the reference's max-then-search,
//   lane-wise); interleaved back, 4 stores. A row's last OW mod 4 windows are one more,
//   overlapping step (it stores the same values again); rows under 4 windows run the same
//   logic on scalars.
// - `general_s1/s2/sn` (window column stride 1, 2, other): any window. Per plane the input
//   is copied into a plane bordered with -inf, so every window is a full kh × kw there; four
//   adjacent windows of an output row are the lanes of one step. Per tap, in row-major
//   order: `best` moves on a strictly greater value (pmax(best, v) is exactly
//   `best < v ? v : best`, so NaN never enters it) and `pos` follows; the first NaN's
//   position is kept apart and wins at the end; `pos` starts at the window's first real
//   element, so a -inf border tap (never strictly greater) is never chosen, and an all
//   -inf window picks its first element as the reference does. Then dx[pos] += dy[o],
//   lane by lane: overlapping windows accumulate in the reference's order, in float32
//   (= the reference's rounding of a double sum of two floats), so bits match.
//
// Exactness: the reference computes `dx[at] = 0 + dy[o]` (a -0 gradient becomes +0): the
// kernels add to +0 too. f32.max and Math.max differ only on max(±0, ∓0), which `==` does
// not see; the strict `>` keeps the first of ±0 as the search does.
//
// Measured (AMD EPYC, V8, 64 images): pools of [32, 28, 28] and [64, 14, 14] (the demo
// CNN's): 2×2 7.4 / 3.8 ms portable on heap views → 0.65 / 0.33 ms (maxPool2dGrad per
// training step ≈13.5 → ≈1.3 ms); 3×3 stride 2 pad 1: 17.4 / 8.5 ms → 2.1 / 1.1 ms. A scalar
// wasm port of the portable loops was only 1.3× faster: its compare-and-select chain per
// element is latency-bound.

function emitPool2x2(m: ModuleBuilder): void {
  const P = { x: 0, dy: 1, dx: 2, planes: 3, H: 4, W: 5, OH: 6, OW: 7 } as const;
  const NP = 8;
  const types: ValType[] = [];
  const local = (t: ValType): number => NP + types.push(t) - 1;
  const [wb, xr, dr, g, xp, dp, gp, n, rows, tailOff] = Array.from({ length: 10 }, () => local(T.i32));
  const [va, vb, vc, vd, vm, ea, eb, ec, vg] = Array.from({ length: 9 }, () => local(T.v128));
  const [sa, sb, sc, sd, sm, sg] = Array.from({ length: 6 }, () => local(T.f32));
  const [fa, fb, fc] = Array.from({ length: 3 }, () => local(T.i32));
  const { get, set, tee } = I;
  const k = I.i32;
  const add = (a: Code, b: Code): Code => cat(a, b, I.i32Add());
  const mul = (a: Code, b: Code): Code => cat(a, b, I.i32Mul());
  /** Whether lane(s) of `v` are NaN or equal the max `vm` / `sm` (a NaN max matches only NaNs). */
  const isMaxV = (v: number): Code => cat(get(v), get(vm), I.f32x4Eq(), get(v), get(v), I.f32x4Ne(), I.v128Or());
  const isMaxS = (v: number): Code => cat(get(v), get(sm), I.f32Eq(), get(v), get(v), I.f32Ne(), I.i32Or());

  // Four windows at xp (row 0) / xp + wb (row 1), gradients at gp, into dp / dp + wb.
  const quad = cat(
    get(xp), I.v128Load(), tee(va), get(xp), I.v128Load(16), tee(vb), I.i32x4Shuffle(0, 2, 4, 6), set(vc), // a lanes
    get(va), get(vb), I.i32x4Shuffle(1, 3, 5, 7), set(vb), get(vc), set(va), // b lanes
    add(get(xp), get(wb)), I.v128Load(), tee(vc), add(get(xp), get(wb)), I.v128Load(16), tee(vd), I.i32x4Shuffle(0, 2, 4, 6), set(vm),
    get(vc), get(vd), I.i32x4Shuffle(1, 3, 5, 7), set(vd), get(vm), set(vc),
    get(va), get(vb), I.f32x4Max(), get(vc), get(vd), I.f32x4Max(), I.f32x4Max(), set(vm),
    isMaxV(va), set(ea), isMaxV(vb), set(eb), isMaxV(vc), set(ec),
    // The gradient (+0 added, as the reference's 0 + g), peeled off lane by lane.
    get(gp), I.v128Load(), I.f32x4Const(0), I.f32x4Add(), set(vg),
    get(vg), get(ea), I.v128And(), set(va),
    get(vg), get(ea), I.v128AndNot(), tee(vg), get(eb), I.v128And(), set(vb),
    get(vg), get(eb), I.v128AndNot(), tee(vg), get(ec), I.v128And(), set(vc),
    get(vg), get(ec), I.v128AndNot(), set(vd),
    get(dp), get(va), get(vb), I.i32x4Shuffle(0, 4, 1, 5), I.v128Store(),
    get(dp), get(va), get(vb), I.i32x4Shuffle(2, 6, 3, 7), I.v128Store(16),
    add(get(dp), get(wb)), get(vc), get(vd), I.i32x4Shuffle(0, 4, 1, 5), I.v128Store(),
    add(get(dp), get(wb)), get(vc), get(vd), I.i32x4Shuffle(2, 6, 3, 7), I.v128Store(16),
  );
  // One window, same logic on scalars.
  const single = cat(
    get(xp), I.f32Load(), set(sa), get(xp), I.f32Load(4), set(sb),
    add(get(xp), get(wb)), I.f32Load(), set(sc), add(get(xp), get(wb)), I.f32Load(4), set(sd),
    get(sa), get(sb), I.f32Max(), get(sc), get(sd), I.f32Max(), I.f32Max(), set(sm),
    isMaxS(sa), set(fa), isMaxS(sb), set(fb), isMaxS(sc), set(fc),
    get(gp), I.f32Load(), I.f32(0), I.f32Add(), set(sg),
    get(dp), get(sg), I.f32(0), get(fa), I.select(), I.f32Store(),
    I.f32(0), get(sg), get(fa), I.select(), set(sg),
    get(dp), get(sg), I.f32(0), get(fb), I.select(), I.f32Store(4),
    I.f32(0), get(sg), get(fb), I.select(), set(sg),
    add(get(dp), get(wb)), get(sg), I.f32(0), get(fc), I.select(), I.f32Store(),
    add(get(dp), get(wb)), I.f32(0), get(sg), get(fc), I.select(), I.f32Store(4),
  );
  const body = cat(
    mul(get(P.W), k(4)), set(wb),
    // Odd H or W: the last row / column is in no window and gets +0.
    get(P.H), get(P.W), I.i32Or(), k(1), I.i32And(), I.if(cat(
      get(P.dx), k(0), mul(mul(get(P.planes), get(P.H)), get(wb)), I.memoryFill(),
    )),
    mul(add(get(P.OW), k(-4)), k(8)), set(tailOff),
    get(P.x), set(xr), get(P.dx), set(dr), get(P.dy), set(g),
    I.repeat(P.planes, cat(
      get(P.OH), set(rows),
      I.repeat(rows, cat(
        get(xr), set(xp), get(dr), set(dp), get(g), set(gp),
        get(P.OW), k(4), I.i32GeU(), I.ifElse(cat(
          get(P.OW), k(2), I.i32ShrU(), set(n),
          I.repeat(n, cat(quad, I.bump(xp, k(32)), I.bump(dp, k(32)), I.bump(gp, k(16)))),
          get(P.OW), k(3), I.i32And(), I.if(cat(
            add(get(xr), get(tailOff)), set(xp), add(get(dr), get(tailOff)), set(dp),
            add(get(g), mul(add(get(P.OW), k(-4)), k(4))), set(gp),
            quad,
          )),
        ), cat(
          get(P.OW), set(n),
          I.repeat(n, cat(single, I.bump(xp, k(8)), I.bump(dp, k(8)), I.bump(gp, k(4)))),
        )),
        I.bump(xr, add(get(wb), get(wb))), I.bump(dr, add(get(wb), get(wb))), I.bump(g, mul(get(P.OW), k(4))),
      )),
      // Next plane: rows 2·OH … H-1 were skipped.
      I.bump(xr, mul(add(get(P.H), mul(get(P.OH), k(-2))), get(wb))),
      I.bump(dr, mul(add(get(P.H), mul(get(P.OH), k(-2))), get(wb))),
    )),
  );
  m.func('pool2x2', new Array<ValType>(NP).fill(T.i32), [], types, body);
}

type StrideKind = 's1' | 's2' | 'sn';

/** General windows, four adjacent windows of an output row per step (see the header). */
function emitGeneral(m: ModuleBuilder, kind: StrideKind): void {
  const P = {
    x: 0, dy: 1, dx: 2, planes: 3, H: 4, W: 5, OH: 6, OW: 7, kh: 8, kw: 9, sh: 10, sw: 11, pt: 12, pl: 13,
    pad: 14, Wp: 15, padBytes: 16, copyRows: 17, copyCols: 18,
  } as const;
  const NP = 19;
  const types: ValType[] = [];
  const local = (t: ValType): number => NP + types.push(t) - 1;
  const [xPlane, dPlane, g, oh, ow, hs, rowPad, rowReal, p, q, i, j, tp, n, sp, sq, rem, a, padRow, padInterior] =
    Array.from({ length: 20 }, () => local(T.i32));
  const [laneStep, posGroup, pos, best, nanPos, seen, v, tap, gt] = Array.from({ length: 9 }, () => local(T.v128));
  const { get, set, tee } = I;
  const k = I.i32;
  const add = (x: Code, y: Code): Code => cat(x, y, I.i32Add());
  const mul = (x: Code, y: Code): Code => cat(x, y, I.i32Mul());

  /** The four windows' taps at q (padded plane; lanes sw apart). */
  const gather = kind === 's1' ? cat(get(q), I.v128Load())
    : kind === 's2' ? cat(get(q), I.v128Load(), get(q), I.v128Load(16), I.i32x4Shuffle(0, 2, 4, 6))
      : cat(
        get(q), I.f32Load(), I.f32x4Splat(),
        ...[1, 2, 3].map((l) => cat(add(get(q), mul(get(P.sw), k(4 * l))), I.f32Load(), I.f32x4ReplaceLane(l))),
      );
  // One tap for the four windows (see the header); `nanPos` / `seen`: the first NaN.
  const tapStep = cat(
    gather, set(v),
    get(posGroup), get(tp), I.i32x4Splat(), I.i32x4Add(), set(tap),
    get(v), get(best), I.f32x4Gt(), set(gt),
    get(tap), get(pos), get(gt), I.v128Bitselect(), set(pos),
    get(best), get(v), I.f32x4Pmax(), set(best),
    get(tap), get(nanPos), get(v), get(v), I.f32x4Ne(), get(seen), I.v128AndNot(), I.v128Bitselect(), set(nanPos),
    get(seen), get(v), get(v), I.f32x4Ne(), I.v128Or(), set(seen),
  );
  /** dx[pos lane l] += dy[o + l], lane by lane (the reference's order for overlapping windows). */
  const scatterLane = (l: number): Code => cat(
    get(dPlane), get(pos), I.i32x4ExtractLane(l), k(4), I.i32Mul(), I.i32Add(), tee(a),
    get(a), I.f32Load(), get(g), I.f32Load(4 * l), I.f32Add(), I.f32Store(),
  );
  const group = cat(
    // Real position of tap (0, 0) of each window, and of each window's first real element.
    mul(get(ow), get(P.sw)), I.i32x4Splat(), get(laneStep), I.i32x4Add(), tee(v),
    get(rowReal), I.i32x4Splat(), I.i32x4Add(), set(posGroup),
    get(v), get(P.pl), I.i32x4Splat(), I.i32x4Sub(), I.v128([...new Array<number>(16).fill(0)]), I.i32x4MaxS(),
    get(hs), k(0), get(hs), k(0), I.i32GtS(), I.select(), get(P.W), I.i32Mul(), I.i32x4Splat(), I.i32x4Add(), set(pos),
    I.f32x4Const(-Infinity), set(best), I.v128([...new Array<number>(16).fill(0)]), tee(nanPos), set(seen),
    add(get(rowPad), mul(mul(get(ow), get(P.sw)), k(4))), set(p), k(0), set(tp),
    I.forUp(i, k(0), get(P.kh), k(1), cat(
      get(p), set(q),
      I.forUp(j, k(0), get(P.kw), k(1), cat(tapStep, I.bump(q, k(4)), I.bump(tp, k(1)))),
      I.bump(p, mul(get(P.Wp), k(4))),
      get(tp), get(P.kw), I.i32Sub(), get(P.W), I.i32Add(), set(tp),
    )),
    get(nanPos), get(pos), get(seen), I.v128Bitselect(), set(pos),
    // The last group of a row may hold fewer than four windows.
    get(P.OW), get(ow), I.i32Sub(), set(rem),
    scatterLane(0),
    get(rem), k(1), I.i32GtS(), I.if(scatterLane(1)),
    get(rem), k(2), I.i32GtS(), I.if(scatterLane(2)),
    get(rem), k(3), I.i32GtS(), I.if(scatterLane(3)),
    I.bump(g, k(16)),
  );
  const body = cat(
    // dx = 0; the padded plane = -inf (its interior is rewritten per plane, the border stays).
    get(P.dx), k(0), mul(mul(mul(get(P.planes), get(P.H)), get(P.W)), k(4)), I.memoryFill(),
    get(P.pad), set(q), get(P.padBytes), k(4), I.i32ShrU(), set(n),
    I.repeat(n, cat(get(q), I.f32x4Const(-Infinity), I.v128Store(), I.bump(q, k(16)))),
    I.v128([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]), get(P.sw), I.i32x4Splat(), I.i32x4Mul(), set(laneStep),
    add(get(P.pad), mul(add(mul(get(P.pt), get(P.Wp)), get(P.pl)), k(4))), set(padInterior),
    get(P.x), set(xPlane), get(P.dx), set(dPlane), get(P.dy), set(g),
    I.repeat(P.planes, cat(
      // Interior of the padded plane.
      get(xPlane), set(sp), get(padInterior), set(sq), get(P.copyRows), set(padRow),
      I.repeat(padRow, cat(
        get(sp), set(p), get(sq), set(q), get(P.copyCols), k(2), I.i32ShrU(), set(n),
        I.repeat(n, cat(get(q), get(p), I.v128Load(), I.v128Store(), I.bump(p, k(16)), I.bump(q, k(16)))),
        get(P.copyCols), k(3), I.i32And(), set(n),
        I.repeat(n, cat(get(q), get(p), I.f32Load(), I.f32Store(), I.bump(p, k(4)), I.bump(q, k(4)))),
        I.bump(sp, mul(get(P.W), k(4))), I.bump(sq, mul(get(P.Wp), k(4))),
      )),
      I.forUp(oh, k(0), get(P.OH), k(1), cat(
        mul(get(oh), get(P.sh)), tee(rowPad), get(P.pt), I.i32Sub(), tee(hs), get(P.W), I.i32Mul(), get(P.pl), I.i32Sub(), set(rowReal),
        get(P.pad), mul(mul(get(rowPad), get(P.Wp)), k(4)), I.i32Add(), set(rowPad),
        get(g), set(sp),
        I.forUp(ow, k(0), get(P.OW), k(4), group),
        add(get(sp), mul(get(P.OW), k(4))), set(g),
      )),
      I.bump(xPlane, mul(mul(get(P.H), get(P.W)), k(4))),
      I.bump(dPlane, mul(mul(get(P.H), get(P.W)), k(4))),
    )),
  );
  m.func(`general_${kind}`, new Array<ValType>(NP).fill(T.i32), [], types, body);
}

/** The max-pool gradient module: `pool2x2` and `general_s1`, `general_s2`, `general_sn`. */
export function maxPoolGradModule(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  emitPool2x2(m);
  for (const kind of ['s1', 's2', 'sn'] as const) emitGeneral(m, kind);
  return m.bytes();
}

type Kernel = (...args: number[]) => void;
type MaxPoolGradKernels = Readonly<Record<'pool2x2' | `general_${StrideKind}`, Kernel>>;

function kernels(memory: WebAssembly.Memory): MaxPoolGradKernels {
  return kernelsOn<MaxPoolGradKernels>(memory, 'maxPoolGrad', maxPoolGradModule);
}

/** The -inf-bordered plane of the general kernel: [Hp, Wp] and its scratch floats (+ over-read slack, whole v128s). */
function paddedPlane(g: PoolGeom): { Hp: number; Wp: number; floats: number } {
  const Hp = (g.OH - 1) * g.sh + g.kh, Wp = (g.OW - 1) * g.sw + g.kw;
  // A row's last group reads up to 3 windows (3·sw floats) past it, +1 for stride 2.
  return { Hp, Wp, floats: Math.ceil((Hp * Wp + 3 * g.sw + 4) / 4) * 4 };
}

/**
 * Whether the kernels take `g`: non-negative padding and every window holding an input
 * element (the public op guarantees both; the reference kernel is the judge otherwise).
 */
export function maxPoolGradSupports(g: PoolGeom): boolean {
  return g.pt >= 0 && g.pl >= 0 && g.kh > g.pt && g.kw > g.pl && (g.OH - 1) * g.sh - g.pt < g.H && (g.OW - 1) * g.sw - g.pl < g.W;
}

/** Bytes of heap scratch `maxPoolGradOnHeap` needs for `g` (0 for 2×2 / stride 2). */
export function maxPoolGradScratchBytes(g: PoolGeom): number {
  return isPool2x2(g) ? 0 : paddedPlane(g).floats * 4;
}

/**
 * maxPool2dGrad on float32 planes on the heap (byte addresses): x and dx are `planes`
 * planes of g.H × g.W, dy of g.OH × g.OW; dx is written in full. `scratch` holds
 * `maxPoolGradScratchBytes(g)` bytes (any address when that is 0). `g` must satisfy
 * `maxPoolGradSupports`.
 *
 * @example
 * // x [N, C, 28, 28], dy [N, C, 14, 14]: the gradient of a 2×2 pool
 * maxPoolGradOnHeap(memory, x.ptr, dy.ptr, dx.ptr, N * C, poolGeom(attrs, 28, 28, 14, 14), 0);
 */
export function maxPoolGradOnHeap(memory: WebAssembly.Memory, x: number, dy: number, dx: number, planes: number, g: PoolGeom, scratch: number): void {
  const k = kernels(memory);
  if (isPool2x2(g)) {
    k.pool2x2(x, dy, dx, planes, g.H, g.W, g.OH, g.OW);
    return;
  }
  const { Hp, Wp, floats } = paddedPlane(g);
  const kind: StrideKind = g.sw === 1 ? 's1' : g.sw === 2 ? 's2' : 'sn';
  const rows = Math.max(0, Math.min(Hp - g.pt, g.H)), cols = Math.max(0, Math.min(Wp - g.pl, g.W));
  k[`general_${kind}`](x, dy, dx, planes, g.H, g.W, g.OH, g.OW, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, scratch, Wp, floats * 4, rows, cols);
}
