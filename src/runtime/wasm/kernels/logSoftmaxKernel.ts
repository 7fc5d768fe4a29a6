import { oneOutput } from '../../backend.js';
import { sizeOf } from '../../../ir/index.js';
import { reusedScratch } from './reusedScratch.js';
import { registerNativeKernels, type NativeKernelFactory } from '../nativeKernels.js';
import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';
import { fallbackOf } from './elementwise.js';
import { SIMD_MATH } from './simdMath.js';

// ---- logSoftmax along the last axis on generated SIMD kernels ------------------------------
//
// The portable kernel (reference/kernels/reduce.ts) calls Math.exp per element (≈10 ns);
// tfjs has no LogSoftmax. Two generated functions do the same steps:
//   lseStats(src, rows, len, stats): per row, mx = max (NaN propagates, as Math.max) and
//     s = Σ exp(x − mx) (SIMD_MATH.exp, ≤ 2 ulp; summed in float64) → stats[2r], stats[2r+1];
//   lseApply(src, dst, rows, len, lse): y = x − lse[r] in float64, rounded once;
// with lse = mx + log(s) per row in JS float64 between them (wasm has no log). The only
// difference from the portable kernel is exp's ≤ 2 ulp inside the sum (and x − mx rounded to
// float32 before it): |Δlse| ≤ ~2.5e-7, so |y − reference| ≤ 1e-6·max(1, |reference|).
// Rows of NaN, +∞ or all −∞ give NaN rows, as there. Other axes go to the portable kernel.

const ZERO = (): Code => I.v128(new Array<number>(16).fill(0));
const promoteHigh = (v: Code): Code => cat(v, v, I.i32x4Shuffle(2, 3, 2, 3), I.f64x2PromoteLowF32x4());
const EXP = SIMD_MATH['exp']!;

function emitStats(m: ModuleBuilder): void {
  const P = { src: 0, rows: 1, len: 2, stats: 3 };
  const types: ValType[] = [];
  const local = (t: ValType): number => 4 + types.push(t) - 1;
  const [r, i, p] = [local(T.i32), local(T.i32), local(T.i32)];
  const [mv, a0, a1, e] = [local(T.v128), local(T.v128), local(T.v128), local(T.v128)];
  const tmp = local(T.v128);
  for (let k = 1; k < EXP.locals; k++) local(T.v128);
  const mx = local(T.f32), s = local(T.f64);
  const { get, set, tee } = I;
  const exp = (x: Code): Code => EXP.vec(x, tmp, []);
  const lane = (k: number): Code => cat(get(mv), I.f32x4ExtractLane(k));
  const body = cat(
    get(P.rows), set(r),
    I.repeat(r, cat(
      // Pass 1: the row's maximum (f32x4.max and f32.max propagate NaN).
      get(P.src), set(p), I.f32x4Const(-Infinity), set(mv),
      get(P.len), I.i32(2), I.i32ShrU(), set(i),
      I.repeat(i, cat(get(mv), get(p), I.v128Load(), I.f32x4Max(), set(mv), I.bump(p, I.i32(16)))),
      lane(0), lane(1), I.f32Max(), lane(2), lane(3), I.f32Max(), I.f32Max(), set(mx),
      get(P.len), I.i32(3), I.i32And(), set(i),
      I.repeat(i, cat(get(mx), get(p), I.f32Load(), I.f32Max(), set(mx), I.bump(p, I.i32(4)))),
      // Pass 2: Σ exp(x − mx) in float64.
      get(P.src), set(p), get(mx), I.f32x4Splat(), set(mv), ZERO(), set(a0), ZERO(), set(a1),
      get(P.len), I.i32(2), I.i32ShrU(), set(i),
      I.repeat(i, cat(
        exp(cat(get(p), I.v128Load(), get(mv), I.f32x4Sub())), tee(e), I.f64x2PromoteLowF32x4(), get(a0), I.f64x2Add(), set(a0),
        promoteHigh(get(e)), get(a1), I.f64x2Add(), set(a1), I.bump(p, I.i32(16)),
      )),
      get(a0), get(a1), I.f64x2Add(), tee(a0), I.f64x2ExtractLane(0), get(a0), I.f64x2ExtractLane(1), I.f64Add(), set(s),
      get(P.len), I.i32(3), I.i32And(), set(i),
      I.repeat(i, cat(
        exp(cat(get(p), I.f32Load(), get(mx), I.f32Sub(), I.f32x4Splat())), I.f32x4ExtractLane(0), I.f64PromoteF32(), get(s), I.f64Add(), set(s),
        I.bump(p, I.i32(4)),
      )),
      get(P.stats), get(mx), I.f64PromoteF32(), I.f64Store(),
      get(P.stats), get(s), I.f64Store(8),
      I.bump(P.stats, I.i32(16)), get(p), set(P.src),
    )),
  );
  m.func('lseStats', [T.i32, T.i32, T.i32, T.i32], [], types, body);
}

function emitApply(m: ModuleBuilder): void {
  const P = { src: 0, dst: 1, rows: 2, len: 3, lse: 4 };
  const types: ValType[] = [];
  const local = (t: ValType): number => 5 + types.push(t) - 1;
  const [r, i] = [local(T.i32), local(T.i32)];
  const [v, lv] = [local(T.v128), local(T.v128)];
  const l = local(T.f64);
  const { get, set, tee } = I;
  const body = cat(
    get(P.rows), set(r),
    I.repeat(r, cat(
      get(P.lse), I.f64Load(), tee(l), I.f64x2Splat(), set(lv),
      get(P.len), I.i32(2), I.i32ShrU(), set(i),
      I.repeat(i, cat(
        get(P.dst),
        get(P.src), I.v128Load(), tee(v), I.f64x2PromoteLowF32x4(), get(lv), I.f64x2Sub(), I.f32x4DemoteF64x2Zero(),
        promoteHigh(get(v)), get(lv), I.f64x2Sub(), I.f32x4DemoteF64x2Zero(),
        I.i8x16Shuffle([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]), I.v128Store(),
        I.bump(P.src, I.i32(16)), I.bump(P.dst, I.i32(16)),
      )),
      get(P.len), I.i32(3), I.i32And(), set(i),
      I.repeat(i, cat(
        get(P.dst), get(P.src), I.f32Load(), I.f64PromoteF32(), get(l), I.f64Sub(), I.f32DemoteF64(), I.f32Store(),
        I.bump(P.src, I.i32(4)), I.bump(P.dst, I.i32(4)),
      )),
      I.bump(P.lse, I.i32(8)),
    )),
  );
  m.func('lseApply', [T.i32, T.i32, T.i32, T.i32, T.i32], [], types, body);
}

/** The module: lseStats and lseApply (see above). */
export function logSoftmaxModule(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  emitStats(m);
  emitApply(m);
  return m.bytes();
}

interface LogSoftmaxKernels {
  lseStats(src: number, rows: number, len: number, stats: number): void;
  lseApply(src: number, dst: number, rows: number, len: number, lse: number): void;
}

const logSoftmaxKernel: NativeKernelFactory = (backend, name) => {
  const fallback = fallbackOf(backend, name);
  let k: LogSoftmaxKernels | null = null;
  const scratch = reusedScratch(backend);
  /** The float64 view of the scratch, kept while heap and block stay. */
  let st: Float64Array | null = null;
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!;
    const axis = attrs['axis'] as number, size = sizeOf(x.shape);
    if (x.dtype !== 'float32' || axis !== x.shape.length - 1 || size === 0) return fallback(inputs, attrs, outTypes, outs);
    const len = x.shape[axis]!, rows = size / len;
    k ??= kernelsOn<LogSoftmaxKernels>(backend.memory, 'logSoftmax', logSoftmaxModule);
    const out = outs?.[0] ?? backend.alloc('float32', size);
    const stats = scratch(16 * rows);
    k.lseStats(x.storage.ptr, rows, len, stats);
    // lse = mx + log(s), written over the maxima (row r at stats[r]).
    const buf = backend.memory.buffer;
    if (st?.buffer !== buf || st.byteOffset !== stats || st.length < 2 * rows) st = new Float64Array(buf, stats, 2 * rows);
    for (let r = 0; r < rows; r++) st[r] = st[2 * r]! + Math.log(st[2 * r + 1]!);
    k.lseApply(x.storage.ptr, out.ptr, rows, len, stats);
    return oneOutput(out, outs);
  };
};

registerNativeKernels({ logSoftmax: logSoftmaxKernel });
