// The random ops (src/ops/random.ts) on the wasm backend: Philox4x32-10 on the generated
// SIMD samplers of philoxKernel.ts, written straight into the output on the heap, bit for
// bit the streams of the portable kernels (src/runtime/reference/kernels/random.ts).
// Measured at 200,704 elements (the demo CNN's dropout mask; node 20, eager calls incl.
// the key and output; before: the portable kernels on heap views): bernoulli 0.44 ms
// (10–12), uniform 0.5–0.7 ms (4–7.5), randint 0.6–0.7 ms (5–9.5), randn 4.8 ms (8):
// Philox here, Box–Muller in JS (wasm has no log/cos/sin). Outputs the samplers lack
// (not float32; randint to int32 with bounds outside int32; non-finite uniform bounds)
// run the portable kernels.
import { oneOutput } from '../../backend.js';
import { sizeOf } from '../../../ir/index.js';
import { normalsFromWords, philoxFill, streamOfKey } from '../../philox.js';
import { registerNativeKernels, type NativeKernelFactory } from '../nativeKernels.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import { fallbackOf } from './elementwise.js';
import { runPhilox } from './philoxKernel.js';

/** The stream (seed, offset) of an int32 [4] key tensor on the heap. */
function streamOf(backend: WasmBackend, key: WasmStorage): { seed: number; offset: number } {
  return streamOfKey(new Int32Array(backend.memory.buffer, key.ptr, 4));
}

const num = (attrs: Record<string, unknown>, k: string): number => attrs[k] as number;

const randomUniform: NativeKernelFactory = (backend, name) => {
  const other = fallbackOf(backend, name);
  return (inputs, attrs, outTypes, outs) => {
    const ot = outTypes[0]!;
    const low = num(attrs, 'low'), range = num(attrs, 'high') - low;
    // Non-finite bounds give NaNs, whose bits a Float32Array store and f32.demote may not share.
    if (ot.dtype !== 'float32' || !Number.isFinite(low) || !Number.isFinite(range)) return other(inputs, attrs, outTypes, outs);
    const n = sizeOf(ot.shape);
    const out = outs?.[0] ?? backend.alloc('float32', n);
    const { seed, offset } = streamOf(backend, inputs[0]!.storage);
    runPhilox(backend.memory, 'uniformF32', seed, offset, n, out.ptr, 0, low, range);
    return oneOutput(out, outs);
  };
};

const randomInt: NativeKernelFactory = (backend, name) => {
  const other = fallbackOf(backend, name);
  return (inputs, attrs, outTypes, outs) => {
    const ot = outTypes[0]!;
    const low = num(attrs, 'low'), high = num(attrs, 'high');
    // int32: every value (at most high, when w·range rounds up) must fit, where the
    // sampler's saturating conversion and an Int32Array store (modulo 2^32) agree.
    const fits = ot.dtype === 'float32' ? Number.isFinite(low) && Number.isFinite(high) : ot.dtype === 'int32' && low >= -0x80000000 && high <= 0x7fffffff;
    if (!fits) return other(inputs, attrs, outTypes, outs);
    const n = sizeOf(ot.shape);
    const out = outs?.[0] ?? backend.alloc(ot.dtype, n);
    const { seed, offset } = streamOf(backend, inputs[0]!.storage);
    runPhilox(backend.memory, ot.dtype === 'int32' ? 'randIntI32' : 'randIntF32', seed, offset, n, out.ptr, 0, low, high - low);
    return oneOutput(out, outs);
  };
};

const bernoulli: NativeKernelFactory = (backend, name) => {
  const other = fallbackOf(backend, name);
  return (inputs, attrs, outTypes, outs) => {
    const probs = inputs[0]!, ot = outTypes[0]!;
    const n = sizeOf(ot.shape);
    if (probs.dtype !== 'float32' || ot.dtype !== 'float32' || probs.storage.size !== n) return other(inputs, attrs, outTypes, outs);
    const out = outs?.[0] ?? backend.alloc('float32', n);
    const { seed, offset } = streamOf(backend, inputs[1]!.storage);
    runPhilox(backend.memory, 'bernoulliF32', seed, offset, n, out.ptr, probs.storage.ptr);
    return oneOutput(out, outs);
  };
};

/** The words of an odd-sized output's last pair (its second element is not stored). */
const lastPair = new Uint32Array(2);

const randomNormal: NativeKernelFactory = (backend, name) => {
  const other = fallbackOf(backend, name);
  return (inputs, attrs, outTypes, outs) => {
    const ot = outTypes[0]!;
    if (ot.dtype !== 'float32') return other(inputs, attrs, outTypes, outs);
    const n = sizeOf(ot.shape), even = n - (n & 1);
    const mean = num(attrs, 'mean'), std = num(attrs, 'std');
    const out = outs?.[0] ?? backend.alloc('float32', n);
    const { seed, offset } = streamOf(backend, inputs[0]!.storage);
    // The stream's words for whole pairs straight into the output, then Box–Muller in place.
    runPhilox(backend.memory, 'words', seed, offset, even, out.ptr);
    const buf = backend.memory.buffer;
    const z = new Float32Array(buf, out.ptr, n);
    normalsFromWords(new Uint32Array(buf, out.ptr, even), z, 0, even, mean, std);
    if (n & 1) {
      philoxFill(seed, offset + even, lastPair);
      normalsFromWords(lastPair, z, even, 1, mean, std);
    }
    return oneOutput(out, outs);
  };
};

registerNativeKernels({ randomUniform, randomInt, bernoulli, randomNormal });
