import { isPool2x2, type PoolGeom } from '../../reference/kernels/nn.js';
import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';

// ---- generated WebAssembly pool (forward) kernels on NCHW planes --------------------------
//
// tfjs's `_MaxPool` drops NaN, `_AvgPool` never counts padding, and both want NHWC (a
// transpose each way), so Kiln emits its own, bit-identical to the reference kernels.
//
// maxPool2d takes each window's maximum as the reference does with Math.max: NaN if any
// element is NaN, +0 over -0, -inf for a window of -inf only or of padding only. f32.max /
// f32x4.max are exactly that (IEEE maximum: NaN-propagating, +0 > -0), and max is
// associative and commutative, so any order and grouping of the taps gives the same bits
// (NaN payloads aside, which no comparison sees).
//
// - `max2x2`: 2×2 windows, stride 2, windows inside the input. Four windows per step: the
//   two rows' 8 floats are max'ed vertically, then even / odd lanes de-interleaved and
//   max'ed. A row's last OW mod 4 windows are one more, overlapping step (same values
//   stored again); rows under 4 windows run the same on scalars.
// - `general_s1/s2/sn` (column stride 1, 2, other): separable. Per output row, the max over
//   the window's input rows (clipped to the input) goes into a row buffer bordered with
//   -inf (left / right padding); then each window is the max of kw adjacent buffer
//   entries, four windows per step (lanes sw apart). A direct kh·kw chain per window (as
//   avg below) measured 2× slower: V8's f32x4.max is a long NaN / ±0-fixing sequence, and
//   one accumulator chains them.
//
// avgPool2d (`avg_s1/s2/sn`): the reference sums each clipped window in a double, row-major,
// then multiplies by 1/divisor (a double) and rounds to float32; a float32 sum would differ.
// So four windows per step, each tap promoted to two f64x2 accumulators in the same order,
// × the window's scale from a per-call table, demoted. Padding taps read zeros from a
// zero-bordered plane copy: s + 0 = s exactly (s starts at +0, so it is never -0); without
// padding and with rows of ≥ 4 windows the plane is read in place.
//
// Measured (AMD EPYC, V8, batch 64, whole op incl. allocation; before → after):
// maxPool2d 2×2 of [32, 28, 28] 2.8 → 0.4 ms, of [64, 14, 14] 0.87 → 0.18 ms (the demo
// CNN's); 3×3 stride 2 pad 1 of [32, 28, 28] 2.2 → 0.85 ms; 3×3 stride 1 pad 1 of
// [64, 14, 14] 2.3 → 1.7 ms. avgPool2d 2×2 1.0 → 0.55 / 0.39 → 0.25 ms; 3×3 pad 1 with
// countIncludePad (was portable) 5.9 → 1.1 ms (stride 2) and 11.4 → 1.6 ms (stride 1).

function emitMax2x2(m: ModuleBuilder): void {
  const P = { x: 0, y: 1, planes: 2, H: 3, W: 4, OH: 5, OW: 6 } as const;
  const NP = 7;
  const types: ValType[] = [];
  const local = (t: ValType): number => NP + types.push(t) - 1;
  const [wb, xr, yr, xp, yp, n, rows, tailX, tailY] = Array.from({ length: 9 }, () => local(T.i32));
  const [va, vb] = Array.from({ length: 2 }, () => local(T.v128));
  const { get, set } = I;
  const k = I.i32;
  const add = (a: Code, b: Code): Code => cat(a, b, I.i32Add());
  const mul = (a: Code, b: Code): Code => cat(a, b, I.i32Mul());

  // Four windows: rows at xp / xp + wb, 8 floats each → 4 maxima at yp.
  const quad = cat(
    get(xp), I.v128Load(), add(get(xp), get(wb)), I.v128Load(), I.f32x4Max(), set(va),
    get(xp), I.v128Load(16), add(get(xp), get(wb)), I.v128Load(16), I.f32x4Max(), set(vb),
    get(yp),
    get(va), get(vb), I.i32x4Shuffle(0, 2, 4, 6), get(va), get(vb), I.i32x4Shuffle(1, 3, 5, 7), I.f32x4Max(),
    I.v128Store(),
  );
  const single = cat(
    get(yp),
    get(xp), I.f32Load(), get(xp), I.f32Load(4), I.f32Max(),
    add(get(xp), get(wb)), I.f32Load(), add(get(xp), get(wb)), I.f32Load(4), I.f32Max(), I.f32Max(),
    I.f32Store(),
  );
  const body = cat(
    mul(get(P.W), k(4)), set(wb),
    mul(add(get(P.OW), k(-4)), k(8)), set(tailX), mul(add(get(P.OW), k(-4)), k(4)), set(tailY),
    get(P.x), set(xr), get(P.y), set(yr),
    I.repeat(P.planes, cat(
      get(P.OH), set(rows),
      I.repeat(rows, cat(
        get(xr), set(xp), get(yr), set(yp),
        get(P.OW), k(4), I.i32GeU(), I.ifElse(cat(
          get(P.OW), k(2), I.i32ShrU(), set(n),
          I.repeat(n, cat(quad, I.bump(xp, k(32)), I.bump(yp, k(16)))),
          get(P.OW), k(3), I.i32And(), I.if(cat(
            add(get(xr), get(tailX)), set(xp), add(get(yr), get(tailY)), set(yp),
            quad,
          )),
        ), cat(
          get(P.OW), set(n),
          I.repeat(n, cat(single, I.bump(xp, k(8)), I.bump(yp, k(4)))),
        )),
        I.bump(xr, add(get(wb), get(wb))), I.bump(yr, mul(get(P.OW), k(4))),
      )),
      // Next plane: rows 2·OH … H-1 are in no window.
      I.bump(xr, mul(add(get(P.H), mul(get(P.OH), k(-2))), get(wb))),
    )),
  );
  m.func('max2x2', new Array<ValType>(NP).fill(T.i32), [], types, body);
}

type StrideKind = 's1' | 's2' | 'sn';

/** General windows, separable (see the header). */
/**
 * Stores one output row of `OW` windows at local `yRow`: `group` leaves the four windows
 * from local `ow` on in v128 local `vec`. Four per step; a short last group is one more,
 * overlapping step (rows of ≥ 4 windows) or stores lanes one by one (shorter rows).
 */
function storeRowOfWindows(OW: number, yRow: number, ow: number, rem: number, vec: number, group: Code): Code {
  const { get, set } = I;
  const k = I.i32;
  const at = cat(get(yRow), get(ow), k(4), I.i32Mul(), I.i32Add());
  const storeLane = (l: number): Code => cat(at, get(vec), I.i32x4ExtractLane(l), I.i32Store(4 * l));
  return cat(
    get(OW), k(4), I.i32GeU(), I.ifElse(cat(
      I.forUp(ow, k(0), cat(get(OW), k(-3), I.i32Add()), k(4), cat(group, at, get(vec), I.v128Store())),
      get(OW), k(3), I.i32And(), I.if(cat(
        get(OW), k(-4), I.i32Add(), set(ow), group, at, get(vec), I.v128Store(),
      )),
    ), cat(
      k(0), set(ow), group, get(OW), set(rem),
      storeLane(0),
      get(rem), k(1), I.i32GtS(), I.if(storeLane(1)),
      get(rem), k(2), I.i32GtS(), I.if(storeLane(2)),
    )),
  );
}

function emitMaxGeneral(m: ModuleBuilder, kind: StrideKind): void {
  const P = {
    x: 0, y: 1, planes: 2, H: 3, W: 4, OH: 5, OW: 6, kh: 7, kw: 8, sh: 9, sw: 10, pt: 11,
    buf: 12, bufFloats: 13, interior: 14, cols: 15,
  } as const;
  const NP = 16;
  const types: ValType[] = [];
  const local = (t: ValType): number => NP + types.push(t) - 1;
  const [xPlane, yRow, oh, hs, h0, h1, h, src, dst, n, ow, q, j, rem, wb, planesLeft] =
    Array.from({ length: 16 }, () => local(T.i32));
  const acc = local(T.v128), accS = local(T.f32);
  const { get, set, tee } = I;
  const k = I.i32;
  const add = (x: Code, y: Code): Code => cat(x, y, I.i32Add());
  const mul = (x: Code, y: Code): Code => cat(x, y, I.i32Mul());

  /**
   * Columns [0, cols) of the max over rows h0 … h1-1 into the buffer's interior: each
   * chunk max'ed across the rows in a register, stored once (the horizontal pass reloads
   * it at other offsets right away).
   */
  const verticalPass = (v128: boolean): Code => {
    const [load, max, store, width] = v128 ? [I.v128Load, I.f32x4Max, I.v128Store, 16] : [I.f32Load, I.f32Max, I.f32Store, 4];
    const acc0 = v128 ? acc : accS;
    return cat(
      get(dst),
      get(src), load(), set(acc0),
      get(src), set(q),
      I.forUp(h, add(get(h0), k(1)), get(h1), k(1), cat(I.bump(q, get(wb)), get(acc0), get(q), load(), max(), set(acc0))),
      get(acc0), store(),
      I.bump(src, k(width)), I.bump(dst, k(width)),
    );
  };
  const rows = cat(
    add(get(xPlane), mul(get(h0), get(wb))), set(src), get(P.interior), set(dst),
    get(P.cols), k(2), I.i32ShrU(), set(n),
    I.repeat(n, verticalPass(true)),
    get(P.cols), k(3), I.i32And(), set(n),
    I.repeat(n, verticalPass(false)),
  );
  /** The four windows' taps at q (buffer; lanes sw apart). */
  const gather = kind === 's1' ? cat(get(q), I.v128Load())
    : kind === 's2' ? cat(get(q), I.v128Load(), get(q), I.v128Load(16), I.i32x4Shuffle(0, 2, 4, 6))
      : cat(
        get(q), I.f32Load(), I.f32x4Splat(),
        ...[1, 2, 3].map((l) => cat(add(get(q), mul(get(P.sw), k(4 * l))), I.f32Load(), I.f32x4ReplaceLane(l))),
      );
  /** Windows ow … ow+3 of the row: acc = max over kw taps. */
  const group = cat(
    add(get(P.buf), mul(mul(get(ow), get(P.sw)), k(4))), set(q),
    gather, set(acc),
    I.forUp(j, k(1), get(P.kw), k(1), cat(I.bump(q, k(4)), gather, get(acc), I.f32x4Max(), set(acc))),
  );
  const body = cat(
    mul(get(P.W), k(4)), set(wb),
    // The whole buffer = -inf; per row only its interior is rewritten, the border stays.
    get(P.buf), set(q), get(P.bufFloats), k(2), I.i32ShrU(), set(n),
    I.repeat(n, cat(get(q), I.f32x4Const(-Infinity), I.v128Store(), I.bump(q, k(16)))),
    get(P.x), set(xPlane), get(P.y), set(yRow), get(P.planes), set(planesLeft),
    I.repeat(planesLeft, cat(
      I.forUp(oh, k(0), get(P.OH), k(1), cat(
        mul(get(oh), get(P.sh)), get(P.pt), I.i32Sub(), tee(hs),
        k(0), get(hs), k(0), I.i32GtS(), I.select(), set(h0),
        add(get(hs), get(P.kh)), tee(h1), get(P.H), get(h1), get(P.H), I.i32LtS(), I.select(), set(h1),
        get(h0), get(h1), I.i32LtS(), I.ifElse(cat(
          rows,
        ), cat(
          // No input row in these windows: all -inf.
          get(P.interior), set(dst), get(P.cols), set(n),
          I.repeat(n, cat(get(dst), I.f32(-Infinity), I.f32Store(), I.bump(dst, k(4)))),
        )),
        // Horizontal: four windows per step.
        storeRowOfWindows(P.OW, yRow, ow, rem, acc, group),
        I.bump(yRow, mul(get(P.OW), k(4))),
      )),
      I.bump(xPlane, mul(get(P.H), get(wb))),
    )),
  );
  m.func(`general_${kind}`, new Array<ValType>(NP).fill(T.i32), [], types, body);
}

/**
 * avgPool2d, general windows, four adjacent windows of an output row per step (see the
 * header): a double sum per window over its taps in row-major order (two f64x2 lanes pairs),
 * times the window's 1/divisor from a table, rounded to float32. Reads either the input
 * plane itself (`pad` = 0: no top / left padding and every window inside) or, per plane, a
 * zero-bordered copy of it at `pad`.
 */
function emitAvgGeneral(m: ModuleBuilder, kind: StrideKind): void {
  const P = {
    x: 0, y: 1, planes: 2, H: 3, W: 4, OH: 5, OW: 6, kh: 7, kw: 8, sh: 9, sw: 10,
    scales: 11, pad: 12, stride: 13, padBytes: 14, interior: 15, copyRows: 16, copyCols: 17,
  } as const;
  const NP = 18;
  const types: ValType[] = [];
  const local = (t: ValType): number => NP + types.push(t) - 1;
  const [xPlane, yRow, src, oh, ow, rowBase, p, q, i, j, n, sp, sq, r, rem, sc, planesLeft] =
    Array.from({ length: 17 }, () => local(T.i32));
  const [v, lo, hi] = Array.from({ length: 3 }, () => local(T.v128));
  const { get, set } = I;
  const k = I.i32;
  const add = (x: Code, y: Code): Code => cat(x, y, I.i32Add());
  const mul = (x: Code, y: Code): Code => cat(x, y, I.i32Mul());

  /** The four windows' taps at q (lanes sw apart; stride 2 reads nothing past the last lane). */
  const gather = kind === 's1' ? cat(get(q), I.v128Load())
    : kind === 's2' ? cat(get(q), I.v128Load(), get(q), I.v128Load(12), I.i32x4Shuffle(0, 2, 5, 7))
      : cat(
        get(q), I.f32Load(), I.f32x4Splat(),
        ...[1, 2, 3].map((l) => cat(add(get(q), mul(get(P.sw), k(4 * l))), I.f32Load(), I.f32x4ReplaceLane(l))),
      );
  const zero = I.v128(new Array<number>(16).fill(0));
  /** Windows ow … ow+3: the four sums × scales, as float32 in v. */
  const group = cat(
    add(get(rowBase), mul(mul(get(ow), get(P.sw)), k(4))), set(p),
    zero, set(lo), zero, set(hi),
    I.forUp(i, k(0), get(P.kh), k(1), cat(
      get(p), set(q),
      I.forUp(j, k(0), get(P.kw), k(1), cat(
        gather, set(v),
        get(lo), get(v), I.f64x2PromoteLowF32x4(), I.f64x2Add(), set(lo),
        get(hi), get(v), get(v), I.i32x4Shuffle(2, 3, 2, 3), I.f64x2PromoteLowF32x4(), I.f64x2Add(), set(hi),
        I.bump(q, k(4)),
      )),
      I.bump(p, mul(get(P.stride), k(4))),
    )),
    add(get(sc), mul(get(ow), k(8))), set(q),
    get(lo), get(q), I.v128Load(), I.f64x2Mul(), I.f32x4DemoteF64x2Zero(),
    get(hi), get(q), I.v128Load(16), I.f64x2Mul(), I.f32x4DemoteF64x2Zero(),
    I.i32x4Shuffle(0, 1, 4, 5), set(v),
  );
  const body = cat(
    get(P.pad), I.if(cat(get(P.pad), k(0), get(P.padBytes), I.memoryFill())),
    get(P.x), set(xPlane), get(P.y), set(yRow), get(P.planes), set(planesLeft),
    I.repeat(planesLeft, cat(
      get(P.pad), I.ifElse(cat(
        // Interior of the zero-bordered plane.
        get(xPlane), set(sp), get(P.interior), set(sq), get(P.copyRows), set(r),
        I.repeat(r, cat(
          get(sp), set(p), get(sq), set(q), get(P.copyCols), k(2), I.i32ShrU(), set(n),
          I.repeat(n, cat(get(q), get(p), I.v128Load(), I.v128Store(), I.bump(p, k(16)), I.bump(q, k(16)))),
          get(P.copyCols), k(3), I.i32And(), set(n),
          I.repeat(n, cat(get(q), get(p), I.f32Load(), I.f32Store(), I.bump(p, k(4)), I.bump(q, k(4)))),
          I.bump(sp, mul(get(P.W), k(4))), I.bump(sq, mul(get(P.stride), k(4))),
        )),
        get(P.pad), set(src),
      ), cat(get(xPlane), set(src))),
      get(P.scales), set(sc),
      I.forUp(oh, k(0), get(P.OH), k(1), cat(
        add(get(src), mul(mul(mul(get(oh), get(P.sh)), get(P.stride)), k(4))), set(rowBase),
        storeRowOfWindows(P.OW, yRow, ow, rem, v, group),
        I.bump(yRow, mul(get(P.OW), k(4))),
        I.bump(sc, mul(get(P.OW), k(8))),
      )),
      I.bump(xPlane, mul(mul(get(P.H), get(P.W)), k(4))),
    )),
  );
  m.func(`avg_${kind}`, new Array<ValType>(NP).fill(T.i32), [], types, body);
}

/** The pool module: `max2x2`, `general_s1/s2/sn` (max) and `avg_s1/s2/sn`. */
export function poolModule(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  emitMax2x2(m);
  for (const kind of ['s1', 's2', 'sn'] as const) emitMaxGeneral(m, kind);
  for (const kind of ['s1', 's2', 'sn'] as const) emitAvgGeneral(m, kind);
  return m.bytes();
}

type Kernel = (...args: number[]) => void;
type PoolKernels = Readonly<Record<'max2x2' | `general_${StrideKind}` | `avg_${StrideKind}`, Kernel>>;

function kernels(memory: WebAssembly.Memory): PoolKernels {
  return kernelsOn<PoolKernels>(memory, 'pool', poolModule);
}

const strideKind = (g: PoolGeom): StrideKind => (g.sw === 1 ? 's1' : g.sw === 2 ? 's2' : 'sn');

/** The general kernels' row buffer: Wp floats, + slack for a group's over-read (whole v128s). */
function rowBuffer(g: PoolGeom): { Wp: number; floats: number } {
  const Wp = (g.OW - 1) * g.sw + g.kw;
  // A short group reads up to 3 windows (3·sw floats) past the row, + 4 for stride 2's 8-float load.
  return { Wp, floats: Math.ceil((Wp + 3 * g.sw + 4) / 4) * 4 };
}

/** Whether the kernels take `g`: non-negative padding (the public op's pads are), a non-empty output. */
export function poolSupports(g: PoolGeom): boolean {
  return g.pt >= 0 && g.pl >= 0 && g.pb >= 0 && g.pr >= 0 && g.OH > 0 && g.OW > 0 && g.kh > 0 && g.kw > 0 && g.sh > 0 && g.sw > 0;
}

/** Bytes of heap scratch `maxPoolOnHeap` needs for `g` (0 for 2×2 / stride 2). */
export function maxPoolScratchBytes(g: PoolGeom): number {
  return isPool2x2(g) ? 0 : rowBuffer(g).floats * 4;
}

/**
 * maxPool2d on float32 planes on the heap (byte addresses): x is `planes` planes of
 * g.H × g.W, y of g.OH × g.OW, written in full. `scratch` holds `maxPoolScratchBytes(g)`
 * bytes (any address when that is 0). `g` must satisfy `poolSupports`.
 *
 * @example
 * // x [N, C, 28, 28] → y [N, C, 14, 14]
 * maxPoolOnHeap(memory, x.ptr, y.ptr, N * C, poolGeom(attrs, 28, 28, 14, 14), 0);
 */
export function maxPoolOnHeap(memory: WebAssembly.Memory, x: number, y: number, planes: number, g: PoolGeom, scratch: number): void {
  const k = kernels(memory);
  if (isPool2x2(g)) {
    k.max2x2(x, y, planes, g.H, g.W, g.OH, g.OW);
    return;
  }
  const { Wp, floats } = rowBuffer(g);
  const kind = strideKind(g);
  const cols = Math.max(0, Math.min(Wp - g.pl, g.W));
  k[`general_${kind}`](x, y, planes, g.H, g.W, g.OH, g.OW, g.kh, g.kw, g.sh, g.sw, g.pt, scratch, floats, scratch + 4 * g.pl, cols);
}

// ---- avgPool2d ----------------------------------------------------------------------------

/** How the avg kernel reads `g`'s planes: in place, or through a zero-bordered copy (Hp × Wp floats + slack). */
function avgLayout(g: PoolGeom): { direct: boolean; Hp: number; Wp: number; padFloats: number; scales: number } {
  const Hp = (g.OH - 1) * g.sh + g.kh, Wp = (g.OW - 1) * g.sw + g.kw;
  // In place when every window is inside the plane and rows hold ≥ 4 windows (a short
  // group reads up to 3 windows past its row).
  const direct = g.pt === 0 && g.pl === 0 && Hp <= g.H && Wp <= g.W && g.OW >= 4;
  // A short group reads up to 3·sw floats past the plane's last row; the scale table 3 past its end.
  return { direct, Hp, Wp, padFloats: direct ? 0 : Math.ceil((Hp * Wp + 3 * g.sw + 4) / 4) * 4, scales: g.OH * g.OW + 4 };
}

/**
 * 1/divisor of each window, as the reference's avgPool2d: kh·kw clipped to the padded
 * input with countIncludePad, else the window's input elements.
 */
export function avgScales(g: PoolGeom, countIncludePad: boolean, length: number): Float64Array {
  const scale = new Float64Array(length);
  for (let oh = 0, o = 0; oh < g.OH; oh++) {
    const hs = oh * g.sh - g.pt;
    for (let ow = 0; ow < g.OW; ow++, o++) {
      const ws = ow * g.sw - g.pl;
      const n = countIncludePad
        ? (Math.min(hs + g.kh, g.H + g.pb) - hs) * (Math.min(ws + g.kw, g.W + g.pr) - ws)
        : (Math.min(hs + g.kh, g.H) - Math.max(hs, 0)) * (Math.min(ws + g.kw, g.W) - Math.max(ws, 0));
      scale[o] = 1 / n;
    }
  }
  return scale;
}

/** Bytes of heap scratch `avgPoolOnHeap` needs for `g` (any alignment). */
export function avgPoolScratchBytes(g: PoolGeom): number {
  const l = avgLayout(g);
  return l.scales * 8 + l.padFloats * 4;
}

/**
 * avgPool2d on float32 planes on the heap (byte addresses), bit-identical to the
 * reference: x is `planes` planes of g.H × g.W, y of g.OH × g.OW, written in full.
 * `scratch` holds `avgPoolScratchBytes(g)` bytes. `g` must satisfy `poolSupports`.
 */
export function avgPoolOnHeap(memory: WebAssembly.Memory, x: number, y: number, planes: number, g: PoolGeom, countIncludePad: boolean, scratch: number): void {
  const l = avgLayout(g);
  const scales = avgScales(g, countIncludePad, l.scales);
  new Uint8Array(memory.buffer, scratch, scales.byteLength).set(new Uint8Array(scales.buffer));
  const pad = l.direct ? 0 : scratch + scales.byteLength;
  const stride = l.direct ? g.W : l.Wp;
  const rows = Math.max(0, Math.min(l.Hp - g.pt, g.H)), cols = Math.max(0, Math.min(l.Wp - g.pl, g.W));
  kernels(memory)[`avg_${strideKind(g)}`](
    x, y, planes, g.H, g.W, g.OH, g.OW, g.kh, g.kw, g.sh, g.sw,
    scratch, pad, stride, l.padFloats * 4, pad + 4 * (g.pt * l.Wp + g.pl), rows, cols,
  );
}
