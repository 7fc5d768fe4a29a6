import { reducePlan } from '../../reference/kernels/reduce.js';
import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';

// ---- WebAssembly SIMD float32 sums over any axes that form one of two layouts ------------
//
// A reduction's shape, with size-1 dims dropped and like neighbours merged (`reducePlan`),
// is a few alternating reduced (R) / kept (K) blocks. Two kernels cover the common ones:
//  - `runs`: [R, K, R], [K, R], [R]: contiguous runs, each summed into its output. This
//    is BatchNorm's mean/variance over [0, 2, 3] of NCHW and their gradients (per
//    channel C, `batch` = N runs of H·W), and any row sum.
//  - `cols`: [K, R, K], [R, K]: rows added element-wise into a vector (column sums):
//    bias gradients, a sum over a middle axis.
// The portable kernel walks these in JS at ≈0.6–0.9 ns/element; tfjs's `_Sum` only reduces
// innermost runs, in float32. These kernels run at ≈0.15 ns/element: BatchNorm's
// [64, 32, 28, 28] sums over [0, 2, 3] took 890 → 260 µs each (7 per CNN training step).
//
// Accumulation is in float64, like the portable kernel's: each f32x4 load is widened to two
// f64x2 (exact) and added into f64x2 partial sums (eight independent chains in a run, rows
// four at a time in columns), then rounded to float32 once. A result differs from the
// portable one only by the order of float64 additions (≈K·2⁻⁵³·Σ|x|): almost always the
// same float32, far inside the 1e-5·√K·max(1, |ref|) tolerance at any K and whatever the
// cancellation. A float32 f32x4 sum (8 accumulators) measured 0.12 vs 0.155 ns/element
// from 64 KB to 64 MB: ≈0.4 ms of a ≈115 ms CNN step. Its error (7 ulps over 2²⁰ values of
// mean 0.25; 36 for a running sum) is within tolerance too, but grows with K and with
// cancellation and would make the backends disagree in the last bits; not worth 0.4%.
//
// Signatures (byte addresses, element counts, all i32); `acc` is float64 scratch of
// `runs` (runs) or `len` (cols) elements, overwritten:
//   runs(src, dst, acc, len, runs, batch): dst[k] = Σ_b Σ_j src[(b·runs + k)·len + j]
//   cols(src, dst, acc, len, rows, batch): dst[b·len + j] = Σ_r src[(b·rows + r)·len + j]

/** Unrolling of the generated kernels (exposed for benchmarking variants). */
export interface ReduceGen {
  /** v128 loads per iteration of a run's loop (2 f64x2 partial sums each): 1, 2, 4 or 8. */
  runLoads: number;
  /** Rows added per pass over the accumulator in `cols`: 1, 2, 4 or 8. */
  colRows: number;
}

/**
 * Measured (AMD EPYC, V8, node 20, ns/element): runLoads 1/2/4/8 and colRows 4/8 are within
 * noise of each other on long runs (0.14–0.17) and columns (0.14–0.15); runLoads 1 is
 * ~20% slower on [1M] and [128, 784] (one f64x2 chain pair waits on add latency).
 */
export const DEFAULT_GEN: ReduceGen = { runLoads: 4, colRows: 4 };

const ZERO = (): Code => I.v128(new Array<number>(16).fill(0));
const log2 = (n: number): number => {
  const l = Math.log2(n);
  if (!Number.isInteger(l) || l < 0 || l > 3) throw new Error(`bad reduce unrolling ${n}`);
  return l;
};

/** Pairwise sum of the values `xs` push, with `add`: ((x0+x1)+(x2+x3))+…, fixed order. */
function tree(xs: readonly Code[], add: () => Code): Code {
  if (xs.length === 1) return xs[0]!;
  const h = xs.length >> 1;
  return cat(tree(xs.slice(0, h), add), tree(xs.slice(h), add), add());
}

/** The high two f32 lanes of a v128 widened to f64x2. */
const promoteHigh = (v: Code): Code => cat(v, v, I.i32x4Shuffle(2, 3, 2, 3), I.f64x2PromoteLowF32x4());

function emitRuns(m: ModuleBuilder, g: ReduceGen): void {
  const P = { src: 0, dst: 1, acc: 2, len: 3, runs: 4, batch: 5 } as const;
  const NP = 6;
  const types: ValType[] = [];
  const local = (t: ValType): number => NP + types.push(t) - 1;
  const [p, o, k, n] = [0, 1, 2, 3].map(() => local(T.i32)) as [number, number, number, number];
  const v = local(T.v128);
  const U = g.runLoads;
  const a = Array.from({ length: 2 * U }, () => local(T.v128));
  const s = local(T.f64);
  const { get, set, tee } = I;
  const k32 = I.i32;

  /** Adds the v128 at p + 16u into partial sums a[2w], a[2w+1]. */
  const addLoad = (u: number, w: number): Code => cat(
    get(p), I.v128Load(16 * u), tee(v), I.f64x2PromoteLowF32x4(), get(a[2 * w]!), I.f64x2Add(), set(a[2 * w]!),
    promoteHigh(get(v)), get(a[2 * w + 1]!), I.f64x2Add(), set(a[2 * w + 1]!),
  );
  // One run from p (p moves past it), added to the float64 at o. Runs shorter than one
  // unrolled iteration (BatchNorm over 2×2 maps, short rows) skip the other partial sums.
  const run = cat(
    ZERO(), set(a[0]!), ZERO(), set(a[1]!),
    get(P.len), k32(2 + log2(U)), I.i32ShrU(), tee(n), I.if(cat(
      ...a.slice(2).map((l) => cat(ZERO(), set(l))),
      I.loop(cat(
        ...Array.from({ length: U }, (_x, u) => addLoad(u, u)), I.bump(p, k32(16 * U)),
        get(n), k32(1), I.i32Sub(), tee(n), I.brIf(0),
      )),
      tree(a.map((l) => get(l)), I.f64x2Add), set(a[0]!), ZERO(), set(a[1]!),
    )),
    // Whole v128s left over (fewer than U).
    get(P.len), k32(2), I.i32ShrU(), k32(U - 1), I.i32And(), set(n),
    I.repeat(n, cat(addLoad(0, 0), I.bump(p, k32(16)))),
    get(a[0]!), get(a[1]!), I.f64x2Add(), set(a[0]!),
    get(a[0]!), I.f64x2ExtractLane(0), get(a[0]!), I.f64x2ExtractLane(1), I.f64Add(), set(s),
    // Elements left over (fewer than 4).
    get(P.len), k32(3), I.i32And(), set(n),
    I.repeat(n, cat(get(s), get(p), I.f32Load(), I.f64PromoteF32(), I.f64Add(), set(s), I.bump(p, k32(4)))),
    get(o), get(o), I.f64Load(), get(s), I.f64Add(), I.f64Store(),
  );
  const body = cat(
    get(P.acc), k32(0), get(P.runs), k32(8), I.i32Mul(), I.memoryFill(),
    get(P.src), set(p),
    I.repeat(P.batch, cat(
      get(P.acc), set(o), get(P.runs), set(k),
      I.repeat(k, cat(run, I.bump(o, k32(8)))),
    )),
    get(P.acc), set(o), get(P.runs), set(k),
    I.repeat(k, cat(get(P.dst), get(o), I.f64Load(), I.f32DemoteF64(), I.f32Store(), I.bump(P.dst, k32(4)), I.bump(o, k32(8)))),
  );
  m.func('runs', new Array<ValType>(NP).fill(T.i32), [], types, body);
}

function emitCols(m: ModuleBuilder, g: ReduceGen): void {
  const P = { src: 0, dst: 1, acc: 2, len: 3, rows: 4, batch: 5 } as const;
  const NP = 6;
  const types: ValType[] = [];
  const local = (t: ValType): number => NP + types.push(t) - 1;
  const [base, p, q, n, c, rowBytes, passBytes] = Array.from({ length: 7 }, () => local(T.i32)) as [number, number, number, number, number, number, number];
  const R = g.colRows;
  log2(R);
  // Byte offsets of rows 1 … R-1 from p.
  const off = Array.from({ length: R }, (_x, i) => (i === 0 ? -1 : local(T.i32)));
  const v = Array.from({ length: R }, () => local(T.v128));
  const { get, set } = I;
  const k32 = I.i32;
  const at = (i: number): Code => (i === 0 ? get(p) : cat(get(p), get(off[i]!), I.i32Add()));

  /** Adds `r` rows from base into the accumulator, element-wise. */
  const pass = (r: number): Code => {
    const rows = Array.from({ length: r }, (_x, i) => i);
    return cat(
      get(base), set(p), get(P.acc), set(q),
      get(P.len), k32(2), I.i32ShrU(), set(c),
      I.repeat(c, cat(
        ...rows.map((i) => cat(at(i), I.v128Load(), set(v[i]!))),
        get(q), tree(rows.map((i) => cat(get(v[i]!), I.f64x2PromoteLowF32x4())), I.f64x2Add), get(q), I.v128Load(), I.f64x2Add(), I.v128Store(),
        get(q), tree(rows.map((i) => promoteHigh(get(v[i]!))), I.f64x2Add), get(q), I.v128Load(16), I.f64x2Add(), I.v128Store(16),
        I.bump(p, k32(16)), I.bump(q, k32(32)),
      )),
      get(P.len), k32(3), I.i32And(), set(c),
      I.repeat(c, cat(
        get(q), tree(rows.map((i) => cat(at(i), I.f32Load(), I.f64PromoteF32())), I.f64Add), get(q), I.f64Load(), I.f64Add(), I.f64Store(),
        I.bump(p, k32(4)), I.bump(q, k32(8)),
      )),
    );
  };
  const body = cat(
    get(P.len), k32(4), I.i32Mul(), set(rowBytes),
    get(rowBytes), k32(R), I.i32Mul(), set(passBytes),
    ...off.map((l, i) => (i === 0 ? [] : cat(get(rowBytes), k32(i), I.i32Mul(), set(l)))),
    get(P.src), set(base),
    I.repeat(P.batch, cat(
      get(P.acc), k32(0), get(P.len), k32(8), I.i32Mul(), I.memoryFill(),
      get(P.rows), k32(log2(R)), I.i32ShrU(), set(n),
      I.repeat(n, cat(pass(R), I.bump(base, passBytes))),
      get(P.rows), k32(R - 1), I.i32And(), set(n),
      I.repeat(n, cat(pass(1), I.bump(base, rowBytes))),
      get(P.acc), set(q), get(P.len), set(c),
      I.repeat(c, cat(get(P.dst), get(q), I.f64Load(), I.f32DemoteF64(), I.f32Store(), I.bump(P.dst, k32(4)), I.bump(q, k32(8)))),
    )),
  );
  m.func('cols', new Array<ValType>(NP).fill(T.i32), [], types, body);
}

/** The reduction module: `runs` and `cols`, unrolled per `g`. */
export function simdReduceModule(g: ReduceGen = DEFAULT_GEN): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  emitRuns(m, g);
  emitCols(m, g);
  return m.bytes();
}

/** The generated kernels bound to one heap; arguments are byte addresses and element counts. */
export interface ReduceKernels {
  runs(src: number, dst: number, acc: number, len: number, runs: number, batch: number): void;
  cols(src: number, dst: number, acc: number, len: number, rows: number, batch: number): void;
}

/** The kernels on `memory` (generated and compiled once; instantiated once per memory). */
export function reduceKernels(memory: WebAssembly.Memory): ReduceKernels {
  return kernelsOn<ReduceKernels>(memory, 'simdReduce', () => simdReduceModule());
}

/**
 * How a sum of `shape` over `axes` maps onto the kernels: `runs` ([batch, runs, len]
 * with runs kept) or `cols` ([batch, rows, len] with rows reduced), and the float64
 * scratch it needs (elements). Null for other layouts (e.g. [R, K, R, K]) and when
 * nothing is reduced.
 *
 * @example
 * sumLayout([64, 32, 28, 28], [0, 2, 3]); // { kind: 'runs', batch: 64, runs: 32, len: 784, acc: 32 }
 * sumLayout([64, 128], [0]);              // { kind: 'cols', batch: 1, rows: 64, len: 128, acc: 128 }
 */
export type SumLayout =
  | { kind: 'runs'; batch: number; runs: number; len: number; acc: number }
  | { kind: 'cols'; batch: number; rows: number; len: number; acc: number };

export function sumLayout(shape: readonly number[], axes: readonly number[]): SumLayout | null {
  const { dims, reduced } = reducePlan(shape, axes);
  const n = dims.length;
  if (n === 0 || n > 3 || !reduced.includes(true)) return null;
  const len = dims[n - 1]!, mid = n >= 2 ? dims[n - 2]! : 1, batch = n === 3 ? dims[0]! : 1;
  if (reduced[n - 1]) return { kind: 'runs', batch, runs: mid, len, acc: mid };
  return n === 1 ? null : { kind: 'cols', batch, rows: mid, len, acc: len };
}

/** Runs `layout` from `src` to `dst` (float32, byte addresses) with float64 scratch at `acc`. */
export function sumOnHeap(k: ReduceKernels, layout: SumLayout, src: number, dst: number, acc: number): void {
  if (layout.kind === 'runs') k.runs(src, dst, acc, layout.len, layout.runs, layout.batch);
  else k.cols(src, dst, acc, layout.len, layout.rows, layout.batch);
}
