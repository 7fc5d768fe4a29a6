import type { Kernel } from '../../backend.js';
import { registerNativeKernels } from '../nativeKernels.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import type { WasmModule } from '../wasmModule.js';
import { fallbackOf } from './elementwise.js';
import { applyFusedActivationOnHeap } from './fusedActivation.js';
import { registerView, releaseView } from './linalg.js';
import { transposeOnHeap } from './simdTranspose.js';

// ---- linear: y = x·Wᵀ + b on XNNPACK's fully-connected operator ----------------------
//
// `_FusedMatMul` reaches XNNPACK only without transposes (transB takes a naive loop), and
// XNNPACK then packs B = Wᵀ [in, out] (with the bias) into its own layout, cached by B's
// tensor id. So each weight keeps one Wᵀ here, rebuilt when the weight's version changes
// (an optimizer step), and XNNPACK's packing of it lives as long as it does. This is the
// one cache of a weight's layout: the Linear layer keeps no transposed weight and a
// traced graph has no transpose node for a plan to fold.
//
// A weight that changes at every step (training) is packed for one use each time. The
// matmul kernel's trick of packing the input instead when that is smaller ((W·xᵀ)ᵀ) is
// not used: its sums round differently, and the same weights must give the same bits
// whichever call comes first (eager and compiled runs are compared exactly).

/** Wᵀ of one weight storage, on the heap outside the backend's tensors (a cache, like XNNPACK's packings). */
interface Transposed {
  readonly ptr: number;
  readonly id: number;
  /** The weight version it holds. */
  version: number;
}

const cache = new Map<WasmStorage, Transposed>();

function dropTransposed(module: WasmModule, wt: Transposed): void {
  releaseView(module, wt.id);
  module._free(wt.ptr);
}

/** Forgets the entries of weights that were freed since (called on a miss, so the cache holds live weights plus the few freed since the last new one). */
function sweep(module: WasmModule): void {
  for (const [w, wt] of cache) {
    if (w.refs > 0) continue;
    dropTransposed(module, wt);
    cache.delete(w);
  }
}

/** Wᵀ of `w` [out, in] at its current version, transposed again (and its XNNPACK packing dropped) when it changed. */
function transposed(backend: WasmBackend, w: WasmStorage, out: number, inF: number): Transposed {
  const module = backend.module;
  let wt = cache.get(w);
  if (!wt) {
    sweep(module);
    const ptr = backend.malloc('float32', w.size);
    wt = { ptr, id: registerView(module, ptr, w.size), version: -1 };
    cache.set(w, wt);
  } else if (wt.version === w.version) {
    return wt;
  } else {
    // New values under the same id: drop the operator XNNPACK packed from the old ones.
    module._dispose_data(wt.id);
    module._register_tensor(wt.id, w.size, wt.ptr);
  }
  transposeOnHeap(backend.memory, w.ptr, [out, inF], [1, 0], wt.ptr);
  wt.version = w.version;
  return wt;
}

function addBias(backend: WasmBackend, out: WasmStorage, b: WasmStorage, rows: number, n: number): void {
  const o = backend.view(out) as Float32Array, bv = backend.view(b) as Float32Array;
  for (let r = 0, i = 0; r < rows; r++) for (let j = 0; j < n; j++, i++) o[i] = o[i]! + bv[j]!;
}

const linearKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  const module = backend.module;
  return (inputs, attrs, outTypes) => {
    const x = inputs[0]!, w = inputs[1]!, b = inputs[2] ?? null;
    if (x.dtype !== 'float32') return fallback(inputs, attrs, outTypes);
    const [n, inF] = w.shape as [number, number];
    let rows = 1;
    for (let i = 0; i < x.shape.length - 1; i++) rows *= x.shape[i]!;
    const out = backend.alloc('float32', rows * n);
    if (rows * n === 0) return [out];
    if (inF === 0) {
      const o = backend.view(out);
      o.fill(0);
      if (b) addBias(backend, out, b.storage, rows, n);
      return [applyFusedActivationOnHeap(backend, out, attrs, outTypes[0]!)];
    }
    const wt = transposed(backend, w.storage, n, inF);
    const ap = backend.shapePtr([1, rows, inF], 0);
    const bp = backend.shapePtr([1, inF, n], 1);
    // Activation 0 (linear): XNNPACK's clamps would turn NaN into a bound. A fused
    // activation runs after, keeping NaN (fusedActivation.ts).
    module.__FusedMatMul!(x.storage.id, ap, 3, wt.id, bp, 3, 0, 0, 0, b ? b.storage.id : 0, 0, 0, out.id);
    return [applyFusedActivationOnHeap(backend, out, attrs, outTypes[0]!)];
  };
};

registerNativeKernels({ linear: linearKernel });
