import type { Attrs } from '../../../ir/index.js';
import { oneOutput, type Kernel } from '../../backend.js';
import { planMatmul, simplifyPermutation } from '../../reference/kernels/linalg.js';
import { registerNativeKernels } from '../nativeKernels.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import { CPP_DTYPE, fallbackOf } from './elementwise.js';
import { gemmOnHeap } from './gemm.js';
import { transposeOnHeap } from './simdTranspose.js';

// ---- matmul on the generated GEMM (gemm.ts) ----------------------------------------------
//
// One B for every batch element: A's matrices stack into the rows of one product, and a
// B seen again unchanged (a weight, a plan's constant) is packed once. A batched B (one
// matrix per batch element) runs unpacked slice by slice: no packing, no tensor ids.

/** Rows of A [..., M, K] (all but the last dim). */
function sizeOfRows(shape: readonly number[]): number {
  let r = 1;
  for (let i = 0; i < shape.length - 1; i++) r *= shape[i]!;
  return r;
}

const matmulKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  return (inputs, attrs, outTypes, outs) => {
    const a = inputs[0]!, b = inputs[1]!;
    if (a.dtype !== 'float32') return fallback(inputs, attrs, outTypes, outs);
    if (a.shape.length >= 2 && b.shape.length === 2) {
      // The common case (a layer's weight, stacked rows) without planning: nothing allocated.
      const k = b.shape[0]!, n = b.shape[1]!, rows = sizeOfRows(a.shape);
      const out = outs?.[0] ?? backend.alloc('float32', rows * n);
      gemmOnHeap(backend, a.storage.ptr, rows, k, b.storage, 'kn', n, 0, out.ptr);
      return oneOutput(out, outs);
    }
    const plan = planMatmul(a.shape, b.shape);
    const { m, k, n } = plan;
    const size = plan.batch * m * n;
    const out = outs?.[0] ?? backend.alloc('float32', size);
    if (size === 0) return oneOutput(out, outs);
    if (plan.batchB === 1) {
      gemmOnHeap(backend, a.storage.ptr, plan.batchA * m, k, b.storage, 'kn', n, 0, out.ptr);
      return oneOutput(out, outs);
    }
    for (let t = 0; t < plan.batch; t++) {
      gemmOnHeap(backend, a.storage.ptr + plan.aOff[t]! * m * k * 4, m, k, b.storage, 'kn', n, 0, out.ptr + t * m * n * 4, plan.bOff[t]! * k * n);
    }
    return oneOutput(out, outs);
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

/**
 * `simplifyPermutation`'s result per attrs object (a plan's node keeps its attrs) for the
 * last input shape seen, so a plan's transposes allocate nothing per call.
 */
const simplified = new WeakMap<Attrs, { input: number[]; shape: readonly number[]; perm: readonly number[] }>();

function simplifiedFor(attrs: Attrs, shape: readonly number[]): { shape: readonly number[]; perm: readonly number[] } {
  let c = simplified.get(attrs);
  if (c && c.input.length === shape.length) {
    let same = true;
    for (let i = 0; i < shape.length; i++) if (c.input[i] !== shape[i]) same = false;
    if (same) return c;
  }
  const perm = attrs['perm'] as number[];
  const s = isSimple(shape, perm) ? { shape, perm } : simplifyPermutation(shape, perm);
  c = { input: [...shape], shape: s.shape, perm: s.perm };
  simplified.set(attrs, c);
  return c;
}

const transposeKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  const fn = backend.module._Transpose!;
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!;
    const s = simplifiedFor(attrs, x.shape);
    // Scratch slots hold 16 int32s; float64 never lives on this backend.
    if (s.shape.length > 16 || x.dtype === 'float64') return fallback(inputs, attrs, outTypes, outs);
    const out = outs?.[0] ?? backend.alloc(x.dtype, x.storage.size);
    if (x.storage.size === 0) return oneOutput(out, outs);
    let identity = true;
    for (let i = 0; i < s.perm.length; i++) if (s.perm[i] !== i) { identity = false; break; }
    if (identity) {
      backend.copy(x.storage, out);
      return oneOutput(out, outs);
    }
    if ((x.dtype === 'float32' || x.dtype === 'int32') && transposeOnHeap(backend.memory, x.storage.ptr, s.shape, s.perm, out.ptr)) return oneOutput(out, outs);
    fn(x.storage.id, backend.shapePtr(s.shape, 0), s.shape.length, CPP_DTYPE[x.dtype], out.id, backend.shapePtr(s.perm, 1), s.perm.length);
    return oneOutput(out, outs);
  };
};

registerNativeKernels({
  matmul: matmulKernel,
  transpose: transposeKernel,
});
