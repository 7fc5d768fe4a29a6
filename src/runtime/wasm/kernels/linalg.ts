import type { Kernel } from '../../backend.js';
import { matmul2d, planMatmul, simplifyPermutation } from '../../reference/kernels/linalg.js';
import { registerNativeKernels } from '../nativeKernels.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import type { WasmModule } from '../wasmModule.js';
import { CPP_DTYPE, fallbackOf } from './elementwise.js';
import { transposeOnHeap } from './simdTranspose.js';

// ---- tensor ids over sub-ranges of the heap ----------------------------------------
//
// tfjs-backend-wasm kernels take tensor ids, not pointers. A batch slice of a tensor
// gets a temporary id registered over its bytes (no copy). These ids live far above
// WasmBackend's (which count up from 1) and are recycled: `_dispose_data` only forgets
// the id (and drops any XNNPACK operator cached for it); it never frees memory.

const VIEW_ID_BASE = 0x40000000;
const freeViewIds: number[] = [];
let nextViewId = VIEW_ID_BASE;

/** Registers a temporary tensor id over `size` elements at `ptr`. Release it with `releaseView`. */
export function registerView(module: WasmModule, ptr: number, size: number): number {
  const id = freeViewIds.pop() ?? nextViewId++;
  module._register_tensor(id, size, ptr);
  return id;
}

export function releaseView(module: WasmModule, id: number): void {
  module._dispose_data(id);
  freeViewIds.push(id);
}

// ---- XNNPACK matmul ----------------------------------------------------------------
//
// `_FusedMatMul` runs XNNPACK's fully-connected operator only without transposes and
// with batch 1; anything else falls to a naive loop (≈12× slower). It caches the
// operator, i.e. B packed, by B's tensor id, ignoring B's shape and contents: a reshaped
// alias of B (same id, other K×N) would silently reuse the old packing. So we remember
// the K×N each storage was packed as and re-register its id (dropping the cache) when
// it changes. An in-place write to B must drop it too; only the backend sees those
// writes (WasmBackend.copy must re-register the destination's id). Other callers of
// `_FusedMatMul` should get B's id through `packedId` so the shape check stays whole.

const packedAs = new WeakMap<WasmStorage, number>();

/** B's tensor id for a K×N product, with any cached packing of another shape dropped. */
export function packedId(module: WasmModule, b: WasmStorage, k: number, n: number): number {
  const key = k * 0x100000000 + n;
  const prev = packedAs.get(b);
  if (prev !== key) {
    if (prev !== undefined) {
      module._dispose_data(b.id);
      module._register_tensor(b.id, b.size, b.ptr);
    }
    packedAs.set(b, key);
  }
  return b.id;
}

/**
 * `out[M×N] = A[M×K]·B[K×N]` on XNNPACK's fast path (float32, row-major, by tensor id).
 * `bId` must come from `packedId` (or be a fresh view id).
 */
export function xnnMatmul(backend: WasmBackend, aId: number, m: number, k: number, bId: number, n: number, outId: number): void {
  const ap = backend.shapePtr([1, m, k], 0);
  const bp = backend.shapePtr([1, k, n], 1);
  backend.module.__FusedMatMul!(aId, ap, 3, bId, bp, 3, 0, 0, 0, 0, 0, 0, outId);
}

// ---- B operands that change on every call --------------------------------------------
//
// XNNPACK packs B (K×N) into its own layout when it first sees B's id, at ≈5–11 ns per
// element through tfjs's transposed-weights flag: 2–4 ms for a 512×784 weight, more than
// the product itself at batch 128. A B used again unchanged (inference weights) is packed
// once, but in training every B is new (materialised transposes, gradients) or was
// written in place, and is packed on every call. For such a B, C = A·B runs as
// Cᵀ = Bᵀ·Aᵀ when A has fewer rows than B has columns: XNNPACK then packs Aᵀ (M×K)
// instead, and the three transposes cost ≈0.2–0.8 ns per element (simdTranspose.ts).
// A B seen again unchanged takes the direct product, packed once and then cached.

/** B's version and K×N when last used as a matmul's B. */
const lastSeenAsB = new WeakMap<WasmStorage, { key: number; version: number }>();

/** Whether this is B's first use as a K×N B since it was created or written (XNNPACK would pack it). Records the use. */
function firstUseOfB(b: WasmStorage, k: number, n: number): boolean {
  const key = k * 0x100000000 + n;
  const seen = lastSeenAsB.get(b);
  lastSeenAsB.set(b, { key, version: b.version });
  return seen === undefined || seen.key !== key || seen.version !== b.version;
}

/** out[rows×n] = A·B as (Bᵀ·Aᵀ)ᵀ: XNNPACK packs Aᵀ (rows·k elements) instead of B (k·n). */
function matmulTransposed(backend: WasmBackend, a: WasmStorage, rows: number, k: number, b: WasmStorage, n: number, out: WasmStorage): void {
  const mem = backend.memory;
  const bt = backend.alloc('float32', k * n), at = backend.alloc('float32', rows * k), ct = backend.alloc('float32', n * rows);
  transposeOnHeap(mem, b.ptr, [k, n], [1, 0], bt.ptr);
  transposeOnHeap(mem, a.ptr, [rows, k], [1, 0], at.ptr);
  xnnMatmul(backend, bt.id, n, k, at.id, rows, ct.id); // `at` is fresh: its id has no packing
  transposeOnHeap(mem, ct.ptr, [n, rows], [1, 0], out.ptr);
  backend.free(bt);
  backend.free(at);
  backend.free(ct);
}

/**
 * Whether a batched matmul's slices are cheaper in JS: each XNNPACK slice packs its B
 * afresh (≈5 µs per operator + ≈3.5 ns per element of B), JS costs ≈1.5–3 ns per
 * multiply-add, XNNPACK ≈0.04. So JS wins for tiny slices and for M ≤ 2 rows.
 */
function batchedInJs(m: number, k: number, n: number): boolean {
  return m <= 2 || m * k * n < 2048;
}

const matmulKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  const module = backend.module;
  return (inputs, attrs, outTypes) => {
    const a = inputs[0]!, b = inputs[1]!;
    if (a.dtype !== 'float32') return fallback(inputs, attrs, outTypes);
    const plan = planMatmul(a.shape, b.shape);
    const { m, k, n } = plan;
    const size = plan.batch * m * n;
    const out = backend.alloc('float32', size);
    if (size === 0) return [out];
    if (k === 0) {
      backend.view(out).fill(0);
      return [out];
    }
    if (plan.batchB === 1) {
      // One B for every batch element: A's matrices stack into rows of one 2-D product.
      const rows = plan.batchA * m;
      if (firstUseOfB(b.storage, k, n) && n > 2 * rows) matmulTransposed(backend, a.storage, rows, k, b.storage, n, out);
      else xnnMatmul(backend, a.storage.id, rows, k, packedId(module, b.storage, k, n), n, out.id);
      return [out];
    }
    if (batchedInJs(m, k, n)) {
      const av = backend.view(a.storage), bv = backend.view(b.storage), ov = backend.view(out);
      const acc = new Float64Array(n);
      for (let t = 0; t < plan.batch; t++) matmul2d(av, plan.aOff[t]! * m * k, bv, plan.bOff[t]! * k * n, ov, t * m * n, m, k, n, acc);
      return [out];
    }
    // One 2-D product per batch element, on views of the slices. B slices that repeat
    // (B broadcast along a batch dim) keep their view, so each is packed once.
    const bViews = new Map<number, number>();
    const aWhole = plan.batchA === 1;
    try {
      for (let t = 0; t < plan.batch; t++) {
        const bo = plan.bOff[t]!;
        let bId = bViews.get(bo);
        if (bId === undefined) {
          bId = registerView(module, b.storage.ptr + bo * k * n * 4, k * n);
          bViews.set(bo, bId);
        }
        const aId = aWhole ? a.storage.id : registerView(module, a.storage.ptr + plan.aOff[t]! * m * k * 4, m * k);
        const oId = registerView(module, out.ptr + t * m * n * 4, m * n);
        xnnMatmul(backend, aId, m, k, bId, n, oId);
        releaseView(module, oId);
        if (!aWhole) releaseView(module, aId);
      }
    } finally {
      for (const id of bViews.values()) releaseView(module, id);
    }
    return [out];
  };
};

// ---- transpose ---------------------------------------------------------------------

// 4-byte elements take the generated SIMD kernels (simdTranspose.ts) for every
// permutation they cover: 2-D, batched 2-D and their chunked forms. Per element, for
// 512×512, 784×512, 128×784, 1000×1000 in cache: `_Transpose` 2.6, 0.45, 1.0, 0.7 ns,
// SIMD 0.38, 0.18, 0.13, 0.22 ns; from DRAM: 2.9, 0.83, 1.6, 1.25 vs 0.58, 0.8, 0.75,
// 0.7. Faster at every shape measured, tiny ones included. The rest, and bools, stay on
// `_Transpose`.

/**
 * Whether `simplifyPermutation` would return shape and perm unchanged (no size-1 axes, no
 * input axes that stay adjacent and in order): then the call (≈0.5 µs) is skipped.
 */
function isSimple(shape: readonly number[], perm: readonly number[]): boolean {
  for (let i = 0; i < shape.length; i++) if (shape[i] === 1) return false;
  for (let i = 1; i < perm.length; i++) if (perm[i] === perm[i - 1]! + 1) return false;
  return true;
}

const transposeKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  const fn = backend.module._Transpose!;
  return (inputs, attrs, outTypes) => {
    const x = inputs[0]!;
    const perm = attrs['perm'] as number[];
    const s = isSimple(x.shape, perm) ? { shape: x.shape, perm } : simplifyPermutation(x.shape, perm);
    // Scratch slots hold 16 int32s; float64 never lives on this backend.
    if (s.shape.length > 16 || x.dtype === 'float64') return fallback(inputs, attrs, outTypes);
    const out = backend.alloc(x.dtype, x.storage.size);
    if (x.storage.size === 0) return [out];
    let identity = true;
    for (let i = 0; i < s.perm.length; i++) if (s.perm[i] !== i) { identity = false; break; }
    if (identity) {
      backend.copy(x.storage, out);
      return [out];
    }
    if ((x.dtype === 'float32' || x.dtype === 'int32') && transposeOnHeap(backend.memory, x.storage.ptr, s.shape, s.perm, out.ptr)) return [out];
    fn(x.storage.id, backend.shapePtr(s.shape, 0), s.shape.length, CPP_DTYPE[x.dtype], out.id, backend.shapePtr(s.perm, 1), s.perm.length);
    return [out];
  };
};

registerNativeKernels({
  matmul: matmulKernel,
  transpose: transposeKernel,
});
