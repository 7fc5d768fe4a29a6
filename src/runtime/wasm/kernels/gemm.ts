import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import { wasmThreads } from '../wasmModule.js';
import { GEMM_TILES, gemmFn, gemmKernels, packedGemmBytes, type GemmKernels, type GemmTile } from './gemmKernel.js';
import { reusedScratch } from './reusedScratch.js';
import { registerView, releaseView, xnnMatmul } from './xnnMatmul.js';
import { transposeOnHeap } from './simdTranspose.js';
import { simdKernels } from './simdElementwise.js';

// ---- C = A·B (+ bias) on the generated GEMM (gemmKernel.ts), with B packed once when constant ----
//
// Which operand is constant: a storage seen again at the same `version` (a weight, or a
// plan's constant) is packed once into panels and kept here, keyed by the storage and
// checked against its version and shape on every call (an optimizer step or an in-place
// write bumps the version; an arena view's version is bumped by its plan before every
// write, so views are never taken for constants). A matmul B seen for the first time
// runs unpacked when A has few rows (a row-major [K, N] is already panels; only its last
// N mod 8 columns are packed into scratch), else is packed into scratch for the call. A
// linear weight W [N, K] is always packed (its columns are B's rows).
// Packed and unpacked runs are the same kernel on the same values: the same bits.
//
// Kernel choice, measured (AMD EPYC Zen 5, Node 20, 1 thread, best of 25 interleaved
// rounds; GFLOP/s of XNNPACK `_FusedMatMul` with its packing cached vs the generated kernel
// on packed B): 1×784·784×512 24 vs 28, 8×512·512×512 35 vs 52, 16×128·128×512 37 vs 53,
// 32×64·64×512 35 vs 51, 32×1600·1600×10 23 vs 32, 128×784·784×512 34 vs 48, 512×64·64×512
// 37 vs 50, 512³ 32 vs 46 (register-only f32x4 multiply-add peak ≈ 50–54). So it runs every
// float32 product the wasm linear and matmul kernels see on 1 thread (threads: below).
// Tiles: 2×16 (12 v128 registers live); 4×8 when N < 16 (2×16 would leave its 16-column
// groups unused: 31 vs 27 at N = 10); 1×24 for M = 1: a GEMV is bound by the latency of
// its accumulator chains (relaxed FMA, 4 cycles, is ≈20% slower there than multiply then
// add, 3), so more chains win: 1×784·784×512 in 26.5 µs vs 29.2 (1×16) and 35 (XNNPACK);
// 1×32 and 1×48 take twice as long (4–6 panel streams). 4×16, 6×8, 3×16 and 2×24 spill
// registers in V8 (≈25 GFLOP/s). Rows go in blocks (`rowBlock`) so that a block of A
// stays in L2 while B's panels stream past it. One row of A on a cached B (a linear at
// batch 1) runs `gemv` on B kept in its own layout (`gemvCache`: 3-panel groups with
// their rows adjacent, one stream; gemmKernel.ts), 12–16% faster than the 1×24 tile on
// panels; a B used at both M = 1 and M > 1 is kept in both layouts.

// GEMM_TILES' own objects (1×24, 2×16, 4×8), so a tile's index there names it.
const [TILE_GEMV, TILE_WIDE, TILE_NARROW] = GEMM_TILES as [GemmTile, GemmTile, GemmTile];
/**
 * Rows of A from which a row-major B not cached is packed for the call: packing costs
 * ≈0.2 ns per element of B, and the packed kernel is faster than reading B in place
 * (rows N·4 bytes apart) by then: 784×512 B, 16 rows 332 vs 350 µs, 32 rows 603 vs 759,
 * 128 rows 2150 vs 2880; 1 row 16 vs 26 µs unpacked, but packing alone takes 77.
 */
const PACK_MIN_ROWS = 16;
/** Rows of A per kernel call: a block of ≤ 64 Ki floats (256 KiB), 4 to 256 rows. */
export const rowBlock = (k: number): number => Math.max(4, Math.min(256, Math.floor(65536 / Math.max(k, 1)) & ~3));

/** The tile for M rows and N columns (see the top of this file: measured). */
export function tileFor(m: number, n: number): GemmTile {
  return m === 1 ? TILE_GEMV : n < 16 ? TILE_NARROW : TILE_WIDE;
}

/** The GEMM module on a backend's heap, with the tiles used looked up once. */
interface Kernels {
  readonly memory: WebAssembly.Memory;
  readonly kernels: GemmKernels;
  readonly wide: ReturnType<typeof gemmFn>;
  readonly narrow: ReturnType<typeof gemmFn>;
  /** The 1×24 tile (B in panels: unpacked, or packed for the call). */
  readonly oneRow: ReturnType<typeof gemmFn>;
  /** The GEMV of a cached B (its own layout). */
  readonly gemv: GemmKernels['gemv'];
}
let current: Kernels | null = null;

function kernelsOf(backend: WasmBackend): Kernels {
  const memory = backend.memory;
  if (current?.memory !== memory) {
    const kernels = gemmKernels(memory);
    current = { memory, kernels, wide: gemmFn(kernels, TILE_WIDE), narrow: gemmFn(kernels, TILE_NARROW), oneRow: gemmFn(kernels, TILE_GEMV), gemv: kernels.gemv };
  }
  return current;
}

/** How B is laid out on the heap: row-major [K, N] (matmul) or a linear weight [N, K] (B = Wᵀ). */
export type BLayout = 'kn' | 'nk';

interface Packed {
  ptr: number;
  bytes: number;
  version: number;
  /** `shapeKey` of what it holds. */
  key: number;
}

/** One number per layout and K×N (K, N < 2²⁶ here: a float32 B of more cannot fit the heap). */
const shapeKey = (layout: BLayout, k: number, n: number): number => (k * 0x4000000 + n) * 2 + (layout === 'nk' ? 1 : 0);

/** Packed B per storage (a cache, outside the backend's tensors, like XNNPACK's packings). */
const packedCache = new Map<WasmStorage, Packed>();
/** B in the GEMV layout (gemmKernel.ts: `regroup`) per storage, for products with one row of A. */
const gemvCache = new Map<WasmStorage, Packed>();
/** B's version and shape when last used unpacked (its next use at the same version packs it). */
const seenOnce = new WeakMap<WasmStorage, { version: number; key: number }>();

/** Drops the packings of storages freed since (called on a miss). */
function sweep(backend: WasmBackend): void {
  for (const cache of [packedCache, gemvCache]) {
    for (const [s, p] of cache) {
      if (s.refs > 0) continue;
      backend.freeBlock(p.ptr);
      cache.delete(s);
    }
  }
  for (const [s, x] of xnnCache) {
    if (s.refs > 0) continue;
    releaseView(backend.module, x.id);
    if (x.ptr) backend.freeBlock(x.ptr);
    xnnCache.delete(s);
  }
}

// ---- threaded builds: XNNPACK's matmul for large products with a constant B ------------
//
// With `threads` > 1 XNNPACK splits a product over its pool; the generated kernel runs on
// the calling thread. So there, a large product whose B is a constant (what the generated
// kernel would pack) goes to `_FusedMatMul`, which packs B once under a tensor id of its
// own: a view over B (kn) or over a kept Wᵀ (nk), re-registered (dropping XNNPACK's
// packing) when B's version changes. The bias is added after the sum (addBias), as the
// generated kernel does. Measured in one 2-thread process (best of 25 interleaved rounds,
// GFLOP/s, XNNPACK on 2 threads vs the generated kernel on 1): 8×512·512×512 67 vs 51,
// 512×64·64×512 68 vs 50, 128×784·784×512 53 vs 50, 512³ 55 vs 52; but 1×784·784×512 5 vs
// 31, 32×64·64×512 4.6 vs 49, 32×1600·1600×10 2.3 vs 31, 16×128·128×512 64 vs 52 at 2 MFLOP
// (the pool's hand-off costs tens of µs). Hence ≥ XNN_MIN_ROWS rows and ≥ XNN_MIN_FLOPS.

const XNN_MIN_ROWS = 8;
const XNN_MIN_FLOPS = 1 << 22;

interface XnnB {
  /** Wᵀ for an nk B (0 for kn: the id views B itself). */
  ptr: number;
  id: number;
  version: number;
  key: number;
}

const xnnCache = new Map<WasmStorage, XnnB>();

/** B's XNNPACK tensor id at its current version. */
function xnnB(backend: WasmBackend, b: WasmStorage, layout: BLayout, k: number, n: number, key: number): number {
  const module = backend.module;
  let x = xnnCache.get(b);
  if (x && x.version === b.version && x.key === key) return x.id;
  if (!x) {
    sweep(backend);
    const ptr = layout === 'nk' ? backend.malloc('float32', k * n) : 0;
    x = { ptr, id: registerView(module, ptr || b.ptr, k * n), version: -1, key: -1 };
    xnnCache.set(b, x);
  } else {
    // New values or shape under the same id: drop what XNNPACK packed from the old ones.
    if (x.key !== key) {
      // Another shape or layout: a Wᵀ of the new size, or none (kn views B itself).
      if (x.ptr) backend.freeBlock(x.ptr);
      x.ptr = 0;
      if (layout === 'nk') x.ptr = backend.malloc('float32', k * n);
    }
    module._dispose_data(x.id);
    module._register_tensor(x.id, k * n, x.ptr || b.ptr);
  }
  if (layout === 'nk') transposeOnHeap(backend.memory, b.ptr, [n, k], [1, 0], x.ptr);
  x.version = b.version;
  x.key = key;
  return x.id;
}

function xnnProduct(backend: WasmBackend, a: number, m: number, k: number, b: WasmStorage, layout: BLayout, n: number, bias: number, out: number, key: number, relu: boolean): void {
  const module = backend.module;
  const bId = xnnB(backend, b, layout, k, n, key);
  const aId = registerView(module, a, m * k), oId = registerView(module, out, m * n);
  xnnMatmul(backend, aId, m, k, bId, n, oId);
  releaseView(module, aId);
  releaseView(module, oId);
  if (bias) kernelsOf(backend).kernels.addBias(out, bias, m, n);
  if (relu) simdKernels(backend.memory, 'relu')['relu']!(out, out, 1, m * n, 0, 0, 0);
}

/**
 * The panels of a constant B packed at its current version (the cache `gemmOnHeap` keeps),
 * for kernels that run the GEMM tiles themselves (over threads: recurrentSequence.ts). A tile
 * call on them: (a, lda, panels, 32, K·32, panels + ⌊N/8⌋·K·32, bias, edgeBias, c, ldc, M,
 * N, K) with `tileFor(M, N)` and M ≤ `rowBlock(K)`.
 */
export function packedPanels(backend: WasmBackend, b: WasmStorage, layout: BLayout, k: number, n: number): number {
  return packed(backend, b, layout, k, n, shapeKey(layout, k, n));
}

/**
 * B packed at its current version (packed again when it changed), in panels or, with
 * `gemv`, in the GEMV layout (packed into a temporary block, then regrouped).
 */
function packed(backend: WasmBackend, b: WasmStorage, layout: BLayout, k: number, n: number, key: number, gemv = false): number {
  const cache = gemv ? gemvCache : packedCache;
  let p = cache.get(b);
  if (p && p.version === b.version && p.key === key) return p.ptr;
  const bytes = packedGemmBytes(k, n);
  if (!p || p.bytes < bytes) {
    if (p) backend.freeBlock(p.ptr);
    else sweep(backend);
    p = { ptr: backend.malloc('float32', bytes / 4), bytes, version: -1, key: -1 };
    cache.set(b, p);
  }
  if (gemv) {
    const panels = backend.malloc('float32', bytes / 4);
    try {
      packB(backend, b.ptr, layout, k, n, n, panels);
      kernelsOf(backend).kernels.regroup(panels, k, n, p.ptr);
    } finally {
      backend.freeBlock(panels);
    }
  } else packB(backend, b.ptr, layout, k, n, n, p.ptr);
  p.version = b.version;
  p.key = key;
  return p.ptr;
}

/** Packs columns [0, n) of B (whose rows have `ldN` columns) into panels at `dst`. */
function packB(backend: WasmBackend, src: number, layout: BLayout, k: number, n: number, ldN: number, dst: number): void {
  if (layout === 'kn') kernelsOf(backend).kernels.pack(src, ldN * 4, 4, k, n, dst);
  else kernelsOf(backend).kernels.packT(src, k, n, dst);
}

/** Scratch per backend (the unpacked B's edge panel, the bias's last columns), reused across calls. */
const scratchOf = new WeakMap<WasmBackend, (bytes: number) => number>();

function scratch(backend: WasmBackend, bytes: number): number {
  let s = scratchOf.get(backend);
  if (!s) scratchOf.set(backend, (s = reusedScratch(backend)));
  return s(bytes);
}


/**
 * `out[M×N] = A[M×K]·B (+ bias[N])` in float32 on the heap: A row-major at byte `a`, B in
 * storage `b` as `layout`, the result row-major at byte `out`, bias at byte `bias` (0:
 * none), then ReLU when `relu` (the relu kernel's bits). `sliceOffset` ≥ 0: B is the
 * matrix that many elements into `b` (a batch slice; never cached). K = 0 gives the bias
 * (or 0). Allocates nothing in JS after warm-up.
 *
 * @example
 * // y = x·Wᵀ + b for a linear layer (W [N, K] packed once, kept until W changes)
 * gemmOnHeap(backend, x.ptr, rows, inF, w, 'nk', outF, b.ptr, y.ptr);
 */
export function gemmOnHeap(backend: WasmBackend, a: number, m: number, k: number, b: WasmStorage, layout: BLayout, n: number, bias: number, out: number, sliceOffset = -1, relu = false): void {
  if (m === 0 || n === 0) return;
  const kernels = kernelsOf(backend);
  const full = n >>> 3, rem = n & 7;
  const key = shapeKey(layout, k, n);
  const cacheable = sliceOffset < 0;
  const bPtr = b.ptr + Math.max(sliceOffset, 0) * 4;
  const seen = cacheable && layout === 'kn' ? seenOnce.get(b) : undefined;
  const packedHere = cacheable && (layout === 'nk' || (seen?.version === b.version && seen.key === key));
  if (packedHere && k > 0 && m >= XNN_MIN_ROWS && 2 * m * k * n >= XNN_MIN_FLOPS && (wasmThreads() ?? 1) > 1) {
    xnnProduct(backend, a, m, k, b, layout, n, bias, out, key, relu);
    return;
  }
  if (!packedHere && cacheable && layout === 'kn') {
    // Updated in place: a plan's view is "seen once" at every run, allocating nothing.
    if (seen) {
      seen.version = b.version;
      seen.key = key;
    } else seenOnce.set(b, { version: b.version, key });
  }
  // B not cached: packed for this call into scratch (a W always; a row-major B from
  // PACK_MIN_ROWS rows of A, where the packed kernel's speed repays the packing), else
  // read in place with its last N mod 8 columns packed.
  const packNow = !packedHere && (layout === 'nk' || m >= PACK_MIN_ROWS);
  // Scratch, one block per call (taking it again could move it): B's panels or the edge
  // panel, then 8 floats of bias.
  const front = packedHere ? 0 : packNow ? packedGemmBytes(k, n) : rem ? k * 32 : 0;
  const tail = bias && rem ? 32 : 0;
  const work = front + tail > 0 ? scratch(backend, front + tail) : 0;
  let edgeBias = 0;
  if (tail) {
    // The bias's last columns, zero-padded to 8.
    edgeBias = work + front;
    const h = backend.heap().f32;
    const src = (bias >>> 2) + full * 8, dst = edgeBias >>> 2;
    for (let j = 0; j < 8; j++) h[dst + j] = j < rem ? h[src + j]! : 0;
  }
  let panels: number, ldb: number, panelStride: number, edge: number;
  if (packedHere && m === 1) {
    // One row of A: the GEMV on B's own layout for it (gemmKernel.ts: one stream).
    kernels.gemv(a, packed(backend, b, layout, k, n, key, true), out, k, n, bias, edgeBias, relu ? 1 : 0);
    return;
  }
  if (packedHere || packNow) {
    if (packedHere) panels = packed(backend, b, layout, k, n, key);
    else {
      packB(backend, bPtr, layout, k, n, n, work);
      panels = work;
    }
    ldb = 32;
    panelStride = k * 32;
    edge = panels + full * k * 32;
  } else {
    panels = bPtr;
    ldb = n * 4;
    panelStride = 32;
    edge = work;
    if (rem) packB(backend, bPtr + full * 32, 'kn', k, rem, n, edge);
  }
  const tile = tileFor(m, n);
  const fn = tile === TILE_GEMV ? kernels.oneRow : tile === TILE_NARROW ? kernels.narrow : kernels.wide;
  const block = rowBlock(k);
  for (let i0 = 0; i0 < m; i0 += block) {
    const rows = Math.min(block, m - i0);
    fn(a + i0 * k * 4, k * 4, panels, ldb, panelStride, edge, bias, edgeBias, out + i0 * n * 4, n * 4, rows, n, k, relu ? 1 : 0);
  }
}
