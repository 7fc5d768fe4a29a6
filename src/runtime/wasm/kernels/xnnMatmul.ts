import type { WasmBackend } from '../wasmBackend.js';
import type { WasmModule } from '../wasmModule.js';

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

// ---- XNNPACK matmul (the conv kernels' products in nn.ts; large products on threads in gemm.ts) ----
//
// `_FusedMatMul` runs XNNPACK's fully-connected operator only without transposes and
// with batch 1; anything else falls to a naive loop (≈12× slower). It caches the
// operator, i.e. B packed, by B's tensor id, ignoring B's shape and contents: callers
// pass a fresh id as B, or one they re-register whenever B's values or shape change.

/** `out[M×N] = A[M×K]·B[K×N]` on XNNPACK's fast path (float32, row-major, by tensor id). */
export function xnnMatmul(backend: WasmBackend, aId: number, m: number, k: number, bId: number, n: number, outId: number): void {
  const ap = backend.shapePtr([1, m, k], 0);
  const bp = backend.shapePtr([1, k, n], 1);
  backend.module.__FusedMatMul!(aId, ap, 3, bId, bp, 3, 0, 0, 0, 0, 0, 0, outId);
}
