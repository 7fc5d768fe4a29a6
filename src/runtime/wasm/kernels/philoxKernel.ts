import { PHILOX_CONSTANTS } from '../../philox.js';
import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';

// ---- Philox4x32-10 samplers in generated WebAssembly SIMD -------------------------------
//
// The streams of src/runtime/philox.ts, bit for bit, written straight into an output on
// tfjs's heap. JS has no 32×32→64-bit multiply, so its Philox costs ≈13 ns per element
// (node 20); here i64x2.extmul_{low,high}_i32x4_u gives the full products of four
// counters at once. A set of 4 blocks (16 elements) goes through the 10 rounds in four
// v128s, one per Philox word (lane b = block b); the main loop interleaves two sets per
// step, then the words are transposed to element order (8 shuffles, as in
// simdTranspose.ts), each v128 of 4 words is mapped to 4 outputs and stored. Elements
// before the first whole block (offset % 4 ≠ 0) and after the last set run one at a
// time: a scalar block on i64.mul, its lane picked by `select`.
//
// The word → sample maps repeat the JS samplers' double arithmetic op for op (no fused
// multiply-add in wasm; f32.demote rounds to nearest even like a Float32Array store):
//   uniform:   low + range·u, u = (w >>> 8)·2^-24 (float64), rounded to float32
//   bernoulli: u < p ? 1 : 0 (u is exact in float32, so the f32 compare is the same)
//   randInt:   low + floor((w·range)·2^-32) (w unsigned), to int32 or float32
//   words:     w itself (randomNormal does Box–Muller on them in JS: wasm has no log/cos)
//
// Every kernel has one signature (i32 unless noted; addresses in bytes):
//   kernel(src, dst, n, k0, k1, ctrLo, ctrHi, lane, a: f64, b: f64)
// writes n elements at dst: those of the stream keyed (k0, k1) from counter
// (ctrLo, ctrHi), lane `lane` (i.e. offset = 4·ctr + lane). `src` is bernoulli's float32
// probabilities (one per element); a, b are (low, range) for uniform and randInt.


const { M0, M1, W0, W1 } = PHILOX_CONSTANTS;

/** The samplers, by export name. */
export const PHILOX_KERNELS = ['uniformF32', 'bernoulliF32', 'randIntI32', 'randIntF32', 'words'] as const;
export type PhiloxKernelName = (typeof PHILOX_KERNELS)[number];

/**
 * Sets of 4 blocks interleaved per step of the main loop (then single sets, then
 * scalars). Measured on bernoulli, 200,704 elements (AMD EPYC Zen 5, node 20): 2.0 ns
 * per element with 1 set, 1.9 with 2, 1.6 with 3, 1.5 with 4, against ≈13 ns for the
 * JS generator alone; 2 keeps a sampler's module at ~8 KB (generated in ~2 ms). Also
 * tried, no difference: the multipliers in locals instead of v128.const, and the low
 * words by i32x4.mul instead of shuffles of the 64-bit products.
 */
const GROUPS = 2;

const P = { src: 0, dst: 1, n: 2, k0: 3, k1: 4, ctrLo: 5, ctrHi: 6, lane: 7, a: 8, b: 9 } as const;
const PARAMS: ValType[] = [T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.f64, T.f64];

/** How one sampler maps words to outputs: 4 at a time (v128) and one at a time. */
interface Sampler {
  /** Stores 4 outputs at dst + off from the v128 of 4 words `w` (src + off: their probabilities). */
  vec: (w: Code, dst: Code, src: Code, off: number, av: Code, bv: Code) => Code;
  /** Stores the output at dst from the word `w` (i32). */
  sc: (w: Code, dst: Code, src: Code) => Code;
}

const { get, set } = I;
const lanes01 = (lo: Code, hi: Code): Code => cat(lo, hi, I.i32x4Shuffle(0, 1, 4, 5));
const upperHalf = (v: Code): Code => cat(v, v, I.i32x4Shuffle(2, 3, 2, 3));
/** (w >>> 8)·2^-24: 24-bit uniforms, exact in float32 and float64. */
const top24 = (w: Code): Code => cat(w, I.i32(8), I.i32x4ShrU());

/** low + floor((w·range)·2^-32) for the two low u32 lanes of `w`, as f64x2. */
const randIntF64x2 = (w: Code, av: Code, bv: Code): Code =>
  cat(av, w, I.f64x2ConvertLowI32x4U(), bv, I.f64x2Mul(), I.v128(f64x2Bytes(2 ** -32)), I.f64x2Mul(), I.f64x2Floor(), I.f64x2Add());
/** low + range·u for the two low lanes of `h` = w >>> 8, as f64x2. */
const uniformF64x2 = (h: Code, av: Code, bv: Code): Code =>
  cat(av, bv, h, I.f64x2ConvertLowI32x4S(), I.v128(f64x2Bytes(2 ** -24)), I.f64x2Mul(), I.f64x2Mul(), I.f64x2Add());

function f64x2Bytes(v: number): number[] {
  const b = [...new Uint8Array(new Float64Array([v]).buffer)];
  return [...b, ...b];
}

const SAMPLERS: Record<PhiloxKernelName, (t: number) => Sampler> = {
  words: () => ({
    vec: (w, dst, _src, off) => cat(dst, w, I.v128Store(off)),
    sc: (w, dst) => cat(dst, w, I.i32Store()),
  }),
  bernoulliF32: () => ({
    vec: (w, dst, src, off) => cat(dst,
      top24(w), I.f32x4ConvertI32x4S(), I.f32x4Const(2 ** -24), I.f32x4Mul(),
      src, I.v128Load(off), I.f32x4Lt(), I.f32x4Const(1), I.v128And(), I.v128Store(off)),
    sc: (w, dst, src) => cat(dst,
      w, I.i32(8), I.i32ShrU(), I.f32ConvertI32S(), I.f32(2 ** -24), I.f32Mul(),
      src, I.f32Load(), I.f32Lt(), I.f32ConvertI32U(), I.f32Store()),
  }),
  // t: a v128 temporary local.
  uniformF32: (t) => ({
    vec: (w, dst, _src, off, av, bv) => cat(top24(w), set(t), dst,
      lanes01(cat(uniformF64x2(get(t), av, bv), I.f32x4DemoteF64x2Zero()), cat(uniformF64x2(upperHalf(get(t)), av, bv), I.f32x4DemoteF64x2Zero())),
      I.v128Store(off)),
    sc: (w, dst) => cat(dst, get(P.a), get(P.b),
      w, I.i32(8), I.i32ShrU(), I.f64ConvertI32U(), I.f64Const(2 ** -24), I.f64Mul(), I.f64Mul(), I.f64Add(),
      I.f32DemoteF64(), I.f32Store()),
  }),
  randIntI32: (t) => ({
    vec: (w, dst, _src, off, av, bv) => cat(w, set(t), dst,
      lanes01(cat(randIntF64x2(get(t), av, bv), I.i32x4TruncSatF64x2SZero()), cat(randIntF64x2(upperHalf(get(t)), av, bv), I.i32x4TruncSatF64x2SZero())),
      I.v128Store(off)),
    sc: (w, dst) => cat(dst, randIntScalar(w), I.i32TruncSatF64S(), I.i32Store()),
  }),
  randIntF32: (t) => ({
    vec: (w, dst, _src, off, av, bv) => cat(w, set(t), dst,
      lanes01(cat(randIntF64x2(get(t), av, bv), I.f32x4DemoteF64x2Zero()), cat(randIntF64x2(upperHalf(get(t)), av, bv), I.f32x4DemoteF64x2Zero())),
      I.v128Store(off)),
    sc: (w, dst) => cat(dst, randIntScalar(w), I.f32DemoteF64(), I.f32Store()),
  }),
};

function randIntScalar(w: Code): Code {
  return cat(get(P.a), w, I.f64ConvertI32U(), get(P.b), I.f64Mul(), I.f64Const(2 ** -32), I.f64Mul(), I.f64Floor(), I.f64Add());
}

/** Emits one sampler: the loop over sets of 4 blocks, with scalar elements at either end. */
function emitSampler(m: ModuleBuilder, name: PhiloxKernelName, groups: number): void {
  const types: ValType[] = [];
  const local = (t: ValType): number => PARAMS.length + types.push(t) - 1;
  const ctr = local(T.i64), t0 = local(T.i64), t1 = local(T.i64);
  const [c0, c1, c2, c3, w, rem, lane] = Array.from({ length: 7 }, () => local(T.i32));
  const [R0, R1, R2, R3, AV, BV, TMP] = Array.from({ length: 7 }, () => local(T.v128));
  const K0 = Array.from({ length: 10 }, () => local(T.v128));
  const K1 = Array.from({ length: 10 }, () => local(T.v128));
  const s = SAMPLERS[name](TMP);
  const k = I.i32;
  const u32 = (v: number): Code => k(v | 0);
  const rk0 = (r: number): Code => cat(get(P.k0), u32(Math.imul(r, W0)), I.i32Add());
  const rk1 = (r: number): Code => cat(get(P.k1), u32(Math.imul(r, W1)), I.i32Add());

  // ---- one block, scalar: c0…c3 from (ctr lo, ctr hi, 0, 0)
  const scalarRound = (r: number): Code => cat(
    get(c0), I.i64ExtendI32U(), u32(M0), I.i64ExtendI32U(), I.i64Mul(), set(t0),
    get(c2), I.i64ExtendI32U(), u32(M1), I.i64ExtendI32U(), I.i64Mul(), set(t1),
    get(t1), I.i64Const(32), I.i64ShrU(), I.i32WrapI64(), get(c1), I.i32Xor(), rk0(r), I.i32Xor(), set(c0),
    get(t1), I.i32WrapI64(), set(c1),
    get(t0), I.i64Const(32), I.i64ShrU(), I.i32WrapI64(), get(c3), I.i32Xor(), rk1(r), I.i32Xor(), set(c2),
    get(t0), I.i32WrapI64(), set(c3),
  );
  const scalarBlock = cat(
    get(ctr), I.i32WrapI64(), set(c0),
    get(ctr), I.i64Const(32), I.i64ShrU(), I.i32WrapI64(), set(c1),
    k(0), set(c2), k(0), set(c3),
    ...Array.from({ length: 10 }, (_, r) => scalarRound(r)),
  );
  // The word of lane `lane`: select(c0, select(c1, select(c2, c3, lane==2), lane==1), lane==0).
  const pickLane = cat(
    get(c0), get(c1), get(c2), get(c3),
    get(lane), k(2), I.i32Eq(), I.select(),
    get(lane), k(1), I.i32Eq(), I.select(),
    get(lane), I.i32Eqz(), I.select(), set(w),
  );
  const scalarElement = cat(
    scalarBlock, pickLane,
    s.sc(get(w), get(P.dst), get(P.src)),
    I.bump(P.dst, k(4)), I.bump(P.src, k(4)), get(rem), k(1), I.i32Sub(), set(rem),
    get(lane), k(1), I.i32Add(), k(3), I.i32And(), set(lane),
    get(lane), I.i32Eqz(), I.if(cat(get(ctr), I.i64Const(1), I.i64Add(), set(ctr))),
  );

  // ---- SIMD: G sets of four blocks (blocks ctr+4g … ctr+4g+3); a set's C[j] holds word j
  // of its blocks (lane b = block b). Sets are interleaved round by round, so one set's
  // multiplies overlap another's shuffles and xors.
  const m0 = I.v128(i32x4Bytes(M0)), m1 = I.v128(i32x4Bytes(M1));
  const hiWords = I.i32x4Shuffle(1, 3, 5, 7), loWords = I.i32x4Shuffle(0, 2, 4, 6);
  const sets = Array.from({ length: groups }, () => ({
    C: Array.from({ length: 4 }, () => local(T.v128)),
    p: Array.from({ length: 4 }, () => local(T.v128)), // products: M0·C0 low, high; M1·C2 low, high
  }));
  type Set = (typeof sets)[number];
  const products = ({ C, p }: Set, r: number): Code => cat(
    get(C[0]!), m0, I.i64x2ExtmulLowI32x4U(), set(p[0]!), get(C[0]!), m0, I.i64x2ExtmulHighI32x4U(), set(p[1]!),
    // Round 0 has c2 = c3 = 0: M1·c2 vanishes.
    r === 0 ? [] : cat(get(C[2]!), m1, I.i64x2ExtmulLowI32x4U(), set(p[2]!), get(C[2]!), m1, I.i64x2ExtmulHighI32x4U(), set(p[3]!)),
  );
  const mix = ({ C, p }: Set, r: number): Code => r === 0
    ? cat(
      get(C[1]!), get(K0[0]!), I.v128Xor(), set(C[0]!),
      I.v128(new Array<number>(16).fill(0)), set(C[1]!),
      get(p[0]!), get(p[1]!), hiWords, get(K1[0]!), I.v128Xor(), set(C[2]!),
      get(p[0]!), get(p[1]!), loWords, set(C[3]!),
    )
    : cat(
      get(p[2]!), get(p[3]!), hiWords, get(C[1]!), I.v128Xor(), get(K0[r]!), I.v128Xor(), set(C[0]!),
      get(p[2]!), get(p[3]!), loWords, set(C[1]!),
      get(p[0]!), get(p[1]!), hiWords, get(C[3]!), I.v128Xor(), get(K1[r]!), I.v128Xor(), set(C[2]!),
      get(p[0]!), get(p[1]!), loWords, set(C[3]!),
    );
  const counters = ({ C }: Set, g: number): Code => cat(
    // Counters ctr+4g+b: low words, with a carry into the high words where they wrapped.
    get(TMP), I.v128(i32x4Lanes([4 * g, 4 * g + 1, 4 * g + 2, 4 * g + 3])), I.i32x4Add(), set(C[0]!),
    get(ctr), I.i64Const(32), I.i64ShrU(), I.i32WrapI64(), I.i32x4Splat(), get(C[0]!), get(TMP), I.i32x4LtU(), I.i32x4Sub(), set(C[1]!),
  );
  // Word-major to element order (R_b = block b's four words), then the samples.
  const emitSamples = ({ C, p }: Set, g: number): Code => cat(
    get(C[0]!), get(C[1]!), I.i32x4Shuffle(0, 4, 1, 5), set(p[0]!), // b0w0 b0w1 b1w0 b1w1
    get(C[0]!), get(C[1]!), I.i32x4Shuffle(2, 6, 3, 7), set(p[1]!), // b2w0 b2w1 b3w0 b3w1
    get(C[2]!), get(C[3]!), I.i32x4Shuffle(0, 4, 1, 5), set(p[2]!), // b0w2 b0w3 b1w2 b1w3
    get(C[2]!), get(C[3]!), I.i32x4Shuffle(2, 6, 3, 7), set(p[3]!), // b2w2 b2w3 b3w2 b3w3
    get(p[0]!), get(p[2]!), I.i32x4Shuffle(0, 1, 4, 5), set(R0),
    get(p[0]!), get(p[2]!), I.i32x4Shuffle(2, 3, 6, 7), set(R1),
    get(p[1]!), get(p[3]!), I.i32x4Shuffle(0, 1, 4, 5), set(R2),
    get(p[1]!), get(p[3]!), I.i32x4Shuffle(2, 3, 6, 7), set(R3),
    ...[R0, R1, R2, R3].map((R, b) => s.vec(get(R), get(P.dst), get(P.src), 64 * g + 16 * b, get(AV), get(BV))),
  );
  const simdStep = (G: number): Code => {
    const used = sets.slice(0, G);
    return cat(
      get(ctr), I.i32WrapI64(), I.i32x4Splat(), set(TMP),
      ...used.map(counters),
      ...Array.from({ length: 10 }, (_, r) => cat(...used.map((st) => products(st, r)), ...used.map((st) => mix(st, r)))),
      ...used.map(emitSamples),
      I.bump(P.dst, k(64 * G)), I.bump(P.src, k(64 * G)), get(rem), k(16 * G), I.i32Sub(), set(rem),
      get(ctr), I.i64Const(4 * G), I.i64Add(), set(ctr),
    );
  };

  const body = cat(
    get(P.ctrLo), I.i64ExtendI32U(), get(P.ctrHi), I.i64ExtendI32U(), I.i64Const(32), I.i64Shl(), I.i64Or(), set(ctr),
    get(P.lane), set(lane), get(P.n), set(rem),
    get(P.a), I.f64x2Splat(), set(AV), get(P.b), I.f64x2Splat(), set(BV),
    ...Array.from({ length: 10 }, (_, r) => cat(rk0(r), I.i32x4Splat(), set(K0[r]!), rk1(r), I.i32x4Splat(), set(K1[r]!))),
    // Whole groups of 4 blocks once the stream is at a block start; single elements
    // before (lane ≠ 0) and after (fewer than 16 left).
    I.block(I.loop(cat(
      get(lane), I.i32Eqz(), I.if(cat(
        get(rem), k(16 * groups), I.i32GeU(), I.if(cat(simdStep(groups), I.br(2))),
        groups > 1 ? cat(get(rem), k(16), I.i32GeU(), I.if(cat(simdStep(1), I.br(2)))) : [],
      )),
      get(rem), I.i32Eqz(), I.brIf(1),
      scalarElement,
      I.br(0),
    ))),
  );
  m.func(name, PARAMS, [], types, body);
}

function i32x4Bytes(v: number): number[] {
  return i32x4Lanes([v, v, v, v]);
}

function i32x4Lanes(l: readonly number[]): number[] {
  return [...new Uint8Array(Uint32Array.from(l, (v) => v >>> 0).buffer)];
}

/** The module of sampler `name` (~8 KB; generated in ~2 ms once warm). */
export function philoxModule(name: PhiloxKernelName, groups = GROUPS): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`bad Philox group count ${groups}`);
  const m = new ModuleBuilder().importMemory();
  emitSampler(m, name, groups);
  return m.bytes();
}

/** A sampler: (src, dst, n, k0, k1, ctrLo, ctrHi, lane, a, b), see the file comment. */
export type PhiloxKernel = (src: number, dst: number, n: number, k0: number, k1: number, ctrLo: number, ctrHi: number, lane: number, a: number, b: number) => void;

/**
 * Sampler `name` on `memory`: generated and compiled on first use (training needs only
 * bernoulli; initialisation uniform and words), instantiated once per memory.
 */
export function philoxKernel(memory: WebAssembly.Memory, name: PhiloxKernelName): PhiloxKernel {
  return kernelsOn<Record<PhiloxKernelName, PhiloxKernel>>(memory, `philox ${name}`, () => philoxModule(name))[name];
}

/**
 * Runs sampler `name` for `n` elements of the stream (seed, offset) into `dst` (a byte
 * address on `memory`); `src` is bernoulli's probabilities, (a, b) the f64 params.
 *
 * @example
 * // 1000 float32 uniforms in [-1, 1) of seed 42 at out.ptr
 * runPhilox(backend.memory, 'uniformF32', 42, 0, 1000, out.ptr, 0, -1, 2);
 */
export function runPhilox(memory: WebAssembly.Memory, name: PhiloxKernelName, seed: number, offset: number, n: number, dst: number, src = 0, a = 0, b = 0): void {
  if (n <= 0) return;
  const ctr = Math.floor(offset / 4);
  const ctrHi = Math.floor(ctr / 4294967296);
  philoxKernel(memory, name)(src, dst, n, seed | 0, Math.floor(seed / 4294967296) | 0, (ctr - ctrHi * 4294967296) | 0, ctrHi | 0, offset - ctr * 4, a, b);
}
