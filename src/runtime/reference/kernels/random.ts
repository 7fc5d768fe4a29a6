// Portable kernels of the random ops (src/ops/random.ts): Philox4x32-10 streams
// (src/runtime/philox.ts), the same as eager `kiln.rand`/`randn`/`randint`/`bernoulli`.
import type { Attrs, TypedArray } from '../../../ir/index.js';
import type { ArrayKernel, ArrayTensor } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';
import { philoxNormal, philoxUint32, philoxUniform } from '../../philox.js';

/** The stream of the int32 [4] key tensor [seedLo, seedHi, offsetLo, offsetHi]. */
function stream(key: TypedArray): { seed: number; offset: number } {
  return { seed: (key[0]! >>> 0) + (key[1]! >>> 0) * 0x100000000, offset: (key[2]! >>> 0) + (key[3]! >>> 0) * 0x100000000 };
}

function uniforms(key: TypedArray, count: number): Float64Array {
  const { seed, offset } = stream(key);
  return philoxUniform(seed, offset, count);
}

const num = (attrs: Attrs, k: string): number => attrs[k] as number;

/** Writes float64 samples into the output, as eager creation stored them (bool: nonzero is 1). */
function store(out: ArrayTensor, values: Float64Array): void {
  const o = out.data;
  if (out.dtype === 'bool') for (let i = 0; i < o.length; i++) o[i] = values[i] ? 1 : 0;
  else o.set(values);
}

registerArrayKernels({
  randomUniform: ([key], attrs, [out]) => {
    const n = out!.data.length;
    const u = uniforms(key!.data, n);
    const low = num(attrs, 'low'), high = num(attrs, 'high');
    for (let i = 0; i < n; i++) u[i] = low + (high - low) * u[i]!;
    store(out!, u);
  },
  randomNormal: ([key], attrs, [out]) => {
    const { seed, offset } = stream(key!.data);
    const z = philoxNormal(seed, offset, out!.data.length);
    const mean = num(attrs, 'mean'), std = num(attrs, 'std');
    for (let i = 0; i < z.length; i++) z[i] = mean + std * z[i]!;
    store(out!, z);
  },
  randomInt: ([key], attrs, [out]) => {
    const n = out!.data.length;
    const { seed, offset } = stream(key!.data);
    const u = philoxUint32(seed, offset, n);
    const v = new Float64Array(n);
    const low = num(attrs, 'low'), range = num(attrs, 'high') - low;
    // Multiply-shift maps a uint32 to [0, range) with bias below 2^-32·range.
    for (let i = 0; i < n; i++) v[i] = low + Math.floor((u[i]! * range) / 4294967296);
    store(out!, v);
  },
  bernoulli: ([probs, key], _attrs, [out]) => {
    const p = probs!.data, o = out!.data, n = o.length;
    const u = uniforms(key!.data, n);
    for (let i = 0; i < n; i++) o[i] = u[i]! < p[i]! ? 1 : 0;
  },
} satisfies Record<string, ArrayKernel>);
