import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';

// ---- a cache-blocked WebAssembly SIMD transpose for 4-byte elements ----------------------
//
// tfjs-backend-wasm's `_Transpose` is a per-element loop: ≈0.6 ns/element, and ≈2.5–7
// ns on power-of-two shapes, where its column walk maps every access to the same few
// cache sets. Transposes are hot here because XNNPACK's fast GEMM takes untransposed
// operands only, so matmul gradients and Linear materialise them. This kernel moves 4×4
// tiles through registers (four v128 loads; eight 32-bit lane shuffles of the unpack
// low/high patterns, which V8 can emit as single SSE unpacks; four v128 stores) inside
// 16×64 blocks, so a block's lines are still in L1 when its next tiles need them. Rows or
// columns left over from multiples of 4 are covered by one more, overlapping strip of
// tiles (matrices under 4 wide interleave or de-interleave rows with shuffles, else loop
// over scalars). Elements move as raw bits (NaN payloads kept), so one kernel serves
// float32 and int32. Per element: ≈0.15–0.4 ns on data in cache, ≈0.5–0.8 ns from DRAM
// (a plain copy: 0.11 / 0.35).
//
// Signature (byte addresses and byte strides, all i32):
//   t32(src, dst, rows, cols, srcRowStride, dstRowStride, batch, srcBatchStride, dstBatchStride)
// For each of `batch` matrices: dst[j·dstRowStride + 4i] = src[i·srcRowStride + 4j] for
// i < rows, j < cols; then src and dst advance by their batch strides.

/** Blocking of the generated kernel (exposed for benchmarking variants). */
export interface TransposeGen {
  /** Block height (input rows) and width (input columns), multiples of 4. */
  bi: number;
  bj: number;
}

/**
 * Measured (AMD EPYC Zen 4, V8), in a hot loop, on cold data (> L3) and inside an MLP
 * training step: 16×64 blocks walked down the input rows won or tied everywhere. Also
 * tried: the walk along input rows, 8…64-row blocks, block columns outermost, and staging
 * full 16×16 blocks through a scratch buffer (faster only for power-of-two shapes on hot
 * data, 20–50% slower on cold data and in training).
 */
export const DEFAULT_GEN: TransposeGen = { bi: 16, bj: 64 };

const P = { src: 0, dst: 1, rows: 2, cols: 3, ss: 4, ds: 5, batch: 6, sbs: 7, dbs: 8 } as const;
const NPARAMS = 9;

/** Emits `t32` with the given blocking. */
function emitT32(m: ModuleBuilder, name: string, g: TransposeGen): void {
  if (g.bi % 4 || g.bj % 4 || g.bi <= 0 || g.bj <= 0) throw new Error(`bad transpose blocking ${JSON.stringify(g)}`);
  const types: ValType[] = [];
  const local = (t: ValType): number => NPARAMS + types.push(t) - 1;
  const [i0, j0, iEnd, jEnd, i, j, p, q, n, ss2, ss3, ds2, ds3, ss4, ds4, rows4, cols4, base, iS, jS] =
    Array.from({ length: 20 }, () => local(T.i32));
  const r = [0, 1, 2, 3].map(() => local(T.v128));
  const t = [0, 1, 2, 3].map(() => local(T.v128));
  const { get, set, tee } = I;
  const k = I.i32;
  const add = (a: Code, b: Code): Code => cat(a, b, I.i32Add());
  const mul = (a: Code, b: Code): Code => cat(a, b, I.i32Mul());
  const min = (a: Code, b: Code): Code => cat(a, b, a, b, I.i32LtU(), I.select());
  /** `x = start; while (x < end) { body; x += step }` (unsigned compare, tested first then at the bottom). */
  const forUp = (x: number, start: Code, end: Code, step: Code, body: Code): Code => I.block(cat(
    start, tee(x), end, I.i32GeU(), I.brIf(0),
    I.loop(cat(body, I.bump(x, step), get(x), end, I.i32LtU(), I.brIf(0))),
  ));

  // 4×4 tile: rows a, b, c, d at p, p+ss, p+2ss, p+3ss → columns at q, q+ds, q+2ds, q+3ds.
  const tile = cat(
    get(p), I.v128Load(), set(r[0]!),
    add(get(p), get(P.ss)), I.v128Load(), set(r[1]!),
    add(get(p), get(ss2)), I.v128Load(), set(r[2]!),
    add(get(p), get(ss3)), I.v128Load(), set(r[3]!),
    get(r[0]!), get(r[1]!), I.i32x4Shuffle(0, 4, 1, 5), set(t[0]!), // a0 b0 a1 b1
    get(r[0]!), get(r[1]!), I.i32x4Shuffle(2, 6, 3, 7), set(t[1]!), // a2 b2 a3 b3
    get(r[2]!), get(r[3]!), I.i32x4Shuffle(0, 4, 1, 5), set(t[2]!), // c0 d0 c1 d1
    get(r[2]!), get(r[3]!), I.i32x4Shuffle(2, 6, 3, 7), set(t[3]!), // c2 d2 c3 d3
    get(q), get(t[0]!), get(t[2]!), I.i32x4Shuffle(0, 1, 4, 5), I.v128Store(),
    add(get(q), get(P.ds)), get(t[0]!), get(t[2]!), I.i32x4Shuffle(2, 3, 6, 7), I.v128Store(),
    add(get(q), get(ds2)), get(t[1]!), get(t[3]!), I.i32x4Shuffle(0, 1, 4, 5), I.v128Store(),
    add(get(q), get(ds3)), get(t[1]!), get(t[3]!), I.i32x4Shuffle(2, 3, 6, 7), I.v128Store(),
  );

  // One block: input rows [i0, iEnd) × columns [j0, jEnd), all multiples of 4. Each
  // column of tiles walks down the block's rows, so its four output rows are written in
  // order; the block's input lines (16 rows × 4) stay in L1 across its tile columns.
  const block = forUp(j, get(j0), get(jEnd), k(4), cat(
    add(get(base), mul(get(j), k(4))), set(p),
    add(add(get(P.dst), mul(get(j), get(P.ds))), mul(get(i0), k(4))), set(q),
    get(iEnd), get(i0), I.i32Sub(), k(2), I.i32ShrU(), set(n),
    I.repeat(n, cat(tile, I.bump(p, ss4), I.bump(q, k(16)))),
  ));

  const copyOne = cat(get(q), get(p), I.i32Load(), I.i32Store());
  const sh = I.i32x4Shuffle;
  /** Four columns of 2 or 3 input rows (a, b, c at p, p+ss, p+2ss) → 4·R contiguous output elements at q. */
  const interleave = (R: 2 | 3): Code => {
    const ld = cat(get(p), I.v128Load(), set(r[0]!), add(get(p), get(P.ss)), I.v128Load(), set(r[1]!),
      R === 3 ? cat(add(get(p), get(ss2)), I.v128Load(), set(r[2]!)) : []);
    const [a, b, c] = [get(r[0]!), get(r[1]!), get(r[2]!)];
    if (R === 2) return cat(ld, get(q), a, b, sh(0, 4, 1, 5), I.v128Store(), get(q), a, b, sh(2, 6, 3, 7), I.v128Store(16));
    return cat(ld,
      get(q), a, b, sh(0, 4, 1, 5), c, sh(0, 1, 4, 2), I.v128Store(), // a0 b0 c0 a1
      get(q), b, c, sh(1, 5, 2, 6), a, sh(0, 1, 6, 2), I.v128Store(16), // b1 c1 a2 b2
      get(q), a, b, sh(3, 7, 3, 7), c, sh(6, 0, 1, 7), I.v128Store(32), // c2 a3 b3 c3
    );
  };
  /** Four rows of 2 or 3 contiguous columns at p → the columns' four elements at q, q+ds, q+2ds. */
  const deinterleave = (C: 2 | 3): Code => {
    const ld = cat(get(p), I.v128Load(), set(r[0]!), get(p), I.v128Load(16), set(r[1]!),
      C === 3 ? cat(get(p), I.v128Load(32), set(r[2]!)) : []);
    const [v0, v1, v2] = [get(r[0]!), get(r[1]!), get(r[2]!)];
    if (C === 2) return cat(ld, get(q), v0, v1, sh(0, 2, 4, 6), I.v128Store(), add(get(q), get(P.ds)), v0, v1, sh(1, 3, 5, 7), I.v128Store());
    // v0 = a0 b0 c0 a1, v1 = b1 c1 a2 b2, v2 = c2 a3 b3 c3.
    return cat(ld,
      get(q), v0, v1, sh(0, 3, 6, 6), v2, sh(0, 1, 2, 5), I.v128Store(),
      add(get(q), get(P.ds)), v0, v1, sh(1, 4, 7, 7), v2, sh(0, 1, 2, 6), I.v128Store(),
      add(get(q), get(ds2)), v0, v1, sh(2, 5, 5, 5), v2, sh(0, 1, 4, 7), I.v128Store(),
    );
  };
  const body = cat(
    mul(get(P.ss), k(2)), set(ss2), add(get(ss2), get(P.ss)), set(ss3), add(get(ss2), get(ss2)), set(ss4),
    mul(get(P.ds), k(2)), set(ds2), add(get(ds2), get(P.ds)), set(ds3), add(get(ds2), get(ds2)), set(ds4),
    get(P.rows), k(-4), I.i32And(), set(rows4),
    get(P.cols), k(-4), I.i32And(), set(cols4),
    I.repeat(P.batch, cat(
      // Tiles, block by block.
      forUp(i0, k(0), get(rows4), k(g.bi), cat(
        min(add(get(i0), k(g.bi)), get(rows4)), set(iEnd),
        add(get(P.src), mul(get(i0), get(P.ss))), set(base),
        forUp(j0, k(0), get(cols4), k(g.bj), cat(
          min(add(get(j0), k(g.bj)), get(cols4)), set(jEnd),
          block,
        )),
      )),
      // Rows or columns left over from multiples of 4: when the matrix is at least 4×4,
      // one more strip of tiles ending at the last row (column) covers them; it overlaps
      // tiles already done and rewrites the same values there.
      get(P.rows), k(4), I.i32GeU(), get(P.cols), k(4), I.i32GeU(), I.i32And(), I.ifElse(cat(
        get(P.rows), k(3), I.i32And(), I.if(cat(
          add(get(P.src), mul(add(get(P.rows), k(-4)), get(P.ss))), set(p),
          add(get(P.dst), mul(add(get(P.rows), k(-4)), k(4))), set(q),
          get(cols4), k(2), I.i32ShrU(), set(n),
          I.repeat(n, cat(tile, I.bump(p, k(16)), I.bump(q, ds4))),
        )),
        get(P.cols), k(3), I.i32And(), I.if(cat(
          add(get(P.src), mul(add(get(P.cols), k(-4)), k(4))), set(p),
          add(get(P.dst), mul(add(get(P.cols), k(-4)), get(P.ds))), set(q),
          // Down to row rows4, then the corner tile at the last four rows.
          get(rows4), k(2), I.i32ShrU(), set(n),
          I.repeat(n, cat(tile, I.bump(p, ss4), I.bump(q, k(16)))),
          get(P.rows), k(3), I.i32And(), I.if(cat(
            add(add(get(P.src), mul(add(get(P.rows), k(-4)), get(P.ss))), mul(add(get(P.cols), k(-4)), k(4))), set(p),
            add(add(get(P.dst), mul(add(get(P.cols), k(-4)), get(P.ds))), mul(add(get(P.rows), k(-4)), k(4))), set(q),
            tile,
          )),
        )),
      ), cat(
        // Fewer than 4 rows or columns. With 2 or 3 rows and contiguous output rows, the
        // output interleaves the input rows; with 2 or 3 columns and contiguous input
        // rows, it de-interleaves them: SIMD shuffles over 4 columns (rows) at a time.
        // Scalar loops do the rest: rows [iS, rows) × every column, row-major, then
        // columns [jS, cols) × rows [0, iS), column-major.
        get(rows4), set(iS), get(cols4), set(jS),
        get(P.cols), k(4), I.i32GeU(), get(P.ds), get(P.rows), k(4), I.i32Mul(), I.i32Eq(), I.i32And(), I.if(cat(
          get(P.src), set(p), get(P.dst), set(q), get(cols4), k(2), I.i32ShrU(), set(n),
          get(P.rows), k(2), I.i32Eq(), I.if(cat(
            I.repeat(n, cat(interleave(2), I.bump(p, k(16)), I.bump(q, k(32)))),
            get(P.rows), set(iS),
          )),
          get(P.rows), k(3), I.i32Eq(), I.if(cat(
            I.repeat(n, cat(interleave(3), I.bump(p, k(16)), I.bump(q, k(48)))),
            get(P.rows), set(iS),
          )),
        )),
        get(P.rows), k(4), I.i32GeU(), get(P.ss), get(P.cols), k(4), I.i32Mul(), I.i32Eq(), I.i32And(), I.if(cat(
          get(P.src), set(p), get(P.dst), set(q), get(rows4), k(2), I.i32ShrU(), set(n),
          get(P.cols), k(2), I.i32Eq(), I.if(cat(
            I.repeat(n, cat(deinterleave(2), I.bump(p, k(32)), I.bump(q, k(16)))),
            get(P.cols), set(jS),
          )),
          get(P.cols), k(3), I.i32Eq(), I.if(cat(
            I.repeat(n, cat(deinterleave(3), I.bump(p, k(48)), I.bump(q, k(16)))),
            get(P.cols), set(jS),
          )),
        )),
        forUp(i, get(iS), get(P.rows), k(1), cat(
          add(get(P.src), mul(get(i), get(P.ss))), set(p),
          add(get(P.dst), mul(get(i), k(4))), set(q),
          get(P.cols), set(n),
          I.repeat(n, cat(copyOne, I.bump(p, k(4)), I.bump(q, P.ds))),
        )),
        forUp(j, get(jS), get(P.cols), k(1), cat(
          add(get(P.src), mul(get(j), k(4))), set(p),
          add(get(P.dst), mul(get(j), get(P.ds))), set(q),
          get(iS), set(n),
          I.repeat(n, cat(copyOne, I.bump(p, P.ss), I.bump(q, k(4)))),
        )),
      )),
      I.bump(P.src, P.sbs), I.bump(P.dst, P.dbs),
    )),
  );
  m.func(name, new Array<ValType>(NPARAMS).fill(T.i32), [], types, body);
}

/**
 * Emits the chunk transpose `c32(src, dst, rows, cols, chunk, ss, ds, batch, sbs, dbs)`:
 * `[rows, cols]` of `chunk`-byte runs (a multiple of 4) to `[cols, rows]`, i.e. perm
 * [0, 2, 1, 3] of `[batch, rows, cols, chunk/4]`. Each output row is written in order;
 * input rows are taken 32 at a time so the lines they share stay in L1 between chunks.
 */
function emitC32(m: ModuleBuilder, name: string): void {
  const C = { src: 0, dst: 1, rows: 2, cols: 3, chunk: 4, ss: 5, ds: 6, batch: 7, sbs: 8, dbs: 9 } as const;
  const NP = 10;
  const types: ValType[] = [];
  const local = (t: ValType): number => NP + types.push(t) - 1;
  const [i0, iEnd, i, j, p, q, n, n16, n4, rem] = Array.from({ length: 10 }, () => local(T.i32));
  const { get, set, tee } = I;
  const k = I.i32;
  const add = (a: Code, b: Code): Code => cat(a, b, I.i32Add());
  const mul = (a: Code, b: Code): Code => cat(a, b, I.i32Mul());
  const forUp = (x: number, start: Code, end: Code, step: Code, body: Code): Code => I.block(cat(
    start, tee(x), end, I.i32GeU(), I.brIf(0),
    I.loop(cat(body, I.bump(x, step), get(x), end, I.i32LtU(), I.brIf(0))),
  ));
  const BI = 32;
  // One chunk from p to q (both advance past it): v128s, then 4-byte words.
  const chunk = cat(
    get(n16), set(n),
    I.repeat(n, cat(get(q), get(p), I.v128Load(), I.v128Store(), I.bump(p, k(16)), I.bump(q, k(16)))),
    get(n4), set(n),
    I.repeat(n, cat(get(q), get(p), I.i32Load(), I.i32Store(), I.bump(p, k(4)), I.bump(q, k(4)))),
  );
  const body = cat(
    get(C.chunk), k(4), I.i32ShrU(), set(n16),
    get(C.chunk), k(15), I.i32And(), k(2), I.i32ShrU(), set(n4),
    I.repeat(C.batch, cat(
      forUp(i0, k(0), get(C.rows), k(BI), cat(
        get(C.rows), get(i0), I.i32Sub(), tee(rem), k(BI), get(rem), k(BI), I.i32LtU(), I.select(), get(i0), I.i32Add(), set(iEnd),
        forUp(j, k(0), get(C.cols), k(1), cat(
          add(add(get(C.src), mul(get(i0), get(C.ss))), mul(get(j), get(C.chunk))), set(p),
          add(add(get(C.dst), mul(get(j), get(C.ds))), mul(get(i0), get(C.chunk))), set(q),
          forUp(i, get(i0), get(iEnd), k(1), cat(
            chunk,
            // p moved one chunk on; the next row's chunk is ss further from where it began.
            get(p), get(C.ss), get(C.chunk), I.i32Sub(), I.i32Add(), set(p),
          )),
        )),
      )),
      I.bump(C.src, C.sbs), I.bump(C.dst, C.dbs),
    )),
  );
  m.func(name, new Array<ValType>(NP).fill(T.i32), [], types, body);
}

/** The transpose module: `t32` (blocked per `g`) and `c32`. */
export function simdTransposeModule(g: TransposeGen = DEFAULT_GEN): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  emitT32(m, 't32', g);
  emitC32(m, 'c32');
  return m.bytes();
}

/** The generated kernels bound to one heap; arguments are byte addresses and byte strides. */
export interface TransposeKernels {
  t32(src: number, dst: number, rows: number, cols: number, srcRowStride: number, dstRowStride: number, batch: number, srcBatchStride: number, dstBatchStride: number): void;
  c32(src: number, dst: number, rows: number, cols: number, chunk: number, srcRowStride: number, dstRowStride: number, batch: number, srcBatchStride: number, dstBatchStride: number): void;
}

/** The kernels on `memory` (generated and compiled once, ~3 KB; instantiated once per memory). */
export function transposeKernels(memory: WebAssembly.Memory): TransposeKernels {
  return kernelsOn<TransposeKernels>(memory, 'simdTranspose', () => simdTransposeModule());
}

/**
 * Transposes 4-byte elements (float32 or int32 bits) on the heap, from byte address `src`
 * to `dst`, for a permutation already simplified by `simplifyPermutation` (no size-1 axes,
 * no mergeable neighbours). Handles `[M, N]` by [1, 0], `[B, M, N]` by [0, 2, 1] and by
 * [2, 1, 0], `[M, N, C]` by [1, 0, 2] and `[B, M, N, C]` by [0, 2, 1, 3]; returns false
 * (nothing written) for any other permutation.
 *
 * @example
 * // x: [512, 784] float32 at x.ptr, out: 784·512 float32s at out.ptr
 * transposeOnHeap(backend.memory, x.ptr, [512, 784], [1, 0], out.ptr); // true
 */
export function transposeOnHeap(memory: WebAssembly.Memory, src: number, shape: readonly number[], perm: readonly number[], dst: number): boolean {
  const r = shape.length;
  if (r === 2) {
    if (perm[0] !== 1) return false;
    const m = shape[0]!, n = shape[1]!;
    transposeKernels(memory).t32(src, dst, m, n, n * 4, m * 4, 1, 0, 0);
    return true;
  }
  if (r === 3) {
    const [a, b, c] = shape as [number, number, number];
    const t = transposeKernels(memory);
    switch (perm[0]! * 100 + perm[1]! * 10 + perm[2]!) {
      case 21: t.t32(src, dst, b, c, c * 4, b * 4, a, b * c * 4, b * c * 4); return true;
      // out[k, j, i] = in[i, j, k]: per j, an [a, c] matrix with rows b·c and b·a apart.
      case 210: t.t32(src, dst, a, c, b * c * 4, b * a * 4, b, c * 4, a * 4); return true;
      case 102: t.c32(src, dst, a, b, c * 4, b * c * 4, a * c * 4, 1, 0, 0); return true;
      default: return false;
    }
  }
  if (r === 4 && perm[0] === 0 && perm[1] === 2 && perm[2] === 1 && perm[3] === 3) {
    const [b, m, n, c] = shape as [number, number, number, number];
    transposeKernels(memory).c32(src, dst, m, n, c * 4, n * c * 4, m * c * 4, b, m * n * c * 4, m * n * c * 4);
    return true;
  }
  return false;
}
