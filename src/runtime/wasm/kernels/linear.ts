import { oneOutput, type Kernel } from '../../backend.js';
import { registerNativeKernels } from '../nativeKernels.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import { fallbackOf } from './elementwise.js';
import { applyFusedActivationOnHeap, fusesRelu } from './fusedActivation.js';
import { gemmOnHeap } from './gemm.js';

// ---- linear: y = x·Wᵀ + b on the generated GEMM ------------------------------------------
//
// W [out, in] is packed into the GEMM's panels once per weight version (gemm.ts keeps the
// packing, keyed by the storage, repacked after an optimizer step), so the Linear layer
// keeps no transposed weight and a traced graph has no transpose node for a plan to fold.
// The sum runs first and the bias is added after it, so the fused linear gives the bits of
// matmul then add; a fused ReLU runs in the GEMM's epilogue (the relu kernel's code), any
// other fused activation after it, keeping NaN (fusedActivation.ts).
// (XNNPACK's `_FusedMatMul` ran here before: the generated kernel is faster on every
// shape measured, see gemm.ts.)

const linearKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!, w = inputs[1]!, b = inputs[2] ?? null;
    if (x.dtype !== 'float32') return fallback(inputs, attrs, outTypes, outs);
    const n = w.shape[0]!, inF = w.shape[1]!;
    let rows = 1;
    for (let i = 0; i < x.shape.length - 1; i++) rows *= x.shape[i]!;
    const out = outs?.[0] ?? backend.alloc('float32', rows * n);
    if (rows * n === 0) return oneOutput(out, outs);
    const relu = fusesRelu(attrs); // in the GEMM's epilogue: no pass of its own
    gemmOnHeap(backend, x.storage.ptr, rows, inF, w.storage, 'nk', n, b ? b.storage.ptr : 0, out.ptr, -1, relu);
    return oneOutput(relu ? out : applyFusedActivationOnHeap(backend, out, attrs, outTypes[0]!, out === outs?.[0]), outs);
  };
};

registerNativeKernels({ linear: linearKernel });
