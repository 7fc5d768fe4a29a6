/**
 * The random ops (randomUniform, randomNormal, randomInt, bernoulli) on the webgpu
 * backend: the same Philox4x32-10 streams as the reference and wasm backends
 * (src/runtime/philox.ts): word i of the stream keyed by the int32 [4] key input is lane
 * (offset + i) % 4 of the block at counter ⌊(offset + i)/4⌋, with 64-bit offset arithmetic
 * and the 32×32→64-bit products of the rounds built from 16-bit halves (WGSL has no
 * 64-bit integers). The key is read on the GPU, so a compiled graph's key input needs no
 * read back. uniform, randint and bernoulli run an invocation per block (its 4 words);
 * normal an invocation per Box–Muller pair (whose words may straddle two blocks).
 *
 * What matches the reference (float64 math, rounded once) and what is within float32:
 * - the words: bit for bit; bernoulli (u < p with u = (w >>> 8)·2⁻²⁴, exact in f32): exact;
 * - randomInt: low + ⌊w·range·2⁻³²⌋ with the float64 rounding of w·range emulated on the
 *   exact 64-bit product (round to 53 bits, ties to even): exact for int32 outputs, and
 *   for float32 ones up to 2²⁴ in magnitude;
 * - randomUniform: low + range·u in f32: exact when low and range are float32 values and
 *   range·u is exact (rand(): [0, 1)); else off by at most ulp(v) + ulp(low) + ulp(range)
 *   (low, range and range·u each rounded to f32 before the sum);
 * - randomNormal: Box–Muller with its own log (exponent + atanh series) and sin/cos
 *   (quadrant of u₂ + Taylor polynomials on [−π/4, π/4]) in f32, since WGSL's builtins
 *   promise only absolute errors (2⁻²¹ for log near 1, 2⁻¹¹ for sin/cos): within
 *   5e-7·(|mean| + std·(1 + |z|)) of the reference (1.2e-7 measured on lavapipe).
 */
import { sizeOf, type Attrs, type TensorType } from '../../../ir/index.js';
import type { KernelInput } from '../../backend.js';
import { PHILOX_CONSTANTS } from '../../philox.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';
import { paramStruct } from './params.js';
import { cachedCode, dispatchElements, elementBits, elementMain, outputOf, type Outs } from './shape.js';
import { wgslType } from './elementwise.js';

type Inputs = readonly KernelInput<GpuStorage>[];

const hex = (v: number): string => `0x${(v >>> 0).toString(16)}u`;

/** WGSL: the Philox4x32-10 block and word i of the stream of key K (bound as `KEY`, int32 [4]). */
export const PHILOX_WGSL = `
// The 64-bit product a·b as (hi, lo).
fn mulWide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u;
  let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>(p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), a * b);
}
fn philox(c: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var x = c;
  var k = key;
  for (var r = 0; r < 10; r++) {
    let p0 = mulWide(${hex(PHILOX_CONSTANTS.M0)}, x.x);
    let p1 = mulWide(${hex(PHILOX_CONSTANTS.M1)}, x.z);
    x = vec4<u32>(p1.x ^ x.y ^ k.x, p1.y, p0.x ^ x.w ^ k.y, p0.y);
    k = k + vec2<u32>(${hex(PHILOX_CONSTANTS.W0)}, ${hex(PHILOX_CONSTANTS.W1)});
  }
  return x;
}
// Word i of the stream (seed, offset) of the key input.
fn word(i: u32) -> u32 {
  let offLo = bitcast<u32>(KEY[2]);
  let lo = offLo + i;
  let hi = bitcast<u32>(KEY[3]) + select(0u, 1u, lo < offLo);
  let b = philox(vec4<u32>((lo >> 2u) | (hi << 30u), hi >> 2u, 0u, 0u), vec2<u32>(bitcast<u32>(KEY[0]), bitcast<u32>(KEY[1])));
  return b[lo & 3u];
}
// Block t of the op's stream: counter ⌊offset/4⌋ + t (64-bit), i.e. stream positions
// 4·(⌊offset/4⌋ + t) + lane, which are elements 4t + lane − offset % 4.
fn block(t: u32) -> vec4<u32> {
  let offLo = bitcast<u32>(KEY[2]);
  let offHi = bitcast<u32>(KEY[3]);
  let c0 = (offLo >> 2u) | (offHi << 30u);
  let lo = c0 + t;
  let hi = (offHi >> 2u) + select(0u, 1u, lo < c0);
  return philox(vec4<u32>(lo, hi, 0u, 0u), vec2<u32>(bitcast<u32>(KEY[0]), bitcast<u32>(KEY[1])));
}
// The uniform in [0, 1) of a word: its top 24 bits (exact in f32).
fn uniformOf(w: u32) -> f32 { return f32(w >> 8u) * (1.0 / 16777216.0); }
`;

/** WGSL: ln x for x in [2⁻²⁴, 1] within a few ulp (relative), and sin/cos of 2π·u for u in [0, 1). */
const MATH_WGSL = `
fn lnUnit(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  var e = i32(bits >> 23u) - 127;
  var f = bitcast<f32>((bits & 0x7fffffu) | 0x3f800000u);
  if (f > 1.41421356) { f = f * 0.5; e = e + 1; }
  // ln f = 2·atanh(s), s = (f − 1)/(f + 1), |s| ≤ 0.1716: the series to s¹¹.
  let s = (f - 1.0) / (f + 1.0);
  let z = s * s;
  let series = 1.0 + z * (1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z * (1.0 / 9.0 + z * (1.0 / 11.0)))));
  let fe = f32(e);
  return fe * 0.693145751953125 + (fe * 1.4286068203094172e-6 + 2.0 * s * series);
}
// (cos, sin) of 2π·u: the quadrant q = round(4u), then r = (4u − q)·π/2 in [−π/4, π/4].
fn cosSinTurn(u: f32) -> vec2<f32> {
  let t = 4.0 * u;
  let q = floor(t + 0.5);
  let r = (t - q) * 1.5707963267948966;
  let z = r * r;
  let sn = r * (1.0 + z * (-1.0 / 6.0 + z * (1.0 / 120.0 + z * (-1.0 / 5040.0 + z * (1.0 / 362880.0)))));
  let cs = 1.0 + z * (-0.5 + z * (1.0 / 24.0 + z * (-1.0 / 720.0 + z * (1.0 / 40320.0 + z * (-1.0 / 3628800.0)))));
  switch (u32(q) & 3u) {
    case 0u: { return vec2<f32>(cs, sn); }
    case 1u: { return vec2<f32>(-sn, cs); }
    case 2u: { return vec2<f32>(-cs, -sn); }
    default: { return vec2<f32>(sn, -cs); }
  }
}
`;

/** WGSL: ⌊w·range·2⁻³²⌋ where w·range is first rounded to a float64 (53 bits, ties to even), as the reference computes it. */
const INT_WGSL = `
fn scaledWord(w: u32, range: u32) -> u32 {
  let prod = mulWide(w, range);
  var hi = prod.x;
  var lo = prod.y;
  if (hi >= 0x200000u) {
    // 54 to 64 significant bits: drop the lowest sh = bits − 53 (1..11, all in lo), rounding half to even.
    let sh = 11u - countLeadingZeros(hi);
    let unit = 1u << sh;
    let rest = lo & (unit - 1u);
    let half = unit >> 1u;
    lo = lo & ~(unit - 1u);
    if (rest > half || (rest == half && (lo & unit) != 0u)) {
      lo = lo + unit;
      if (lo == 0u) { hi = hi + 1u; }
    }
  }
  return hi;
}
`;

/** Element stores: the output's WGSL type from an f32 (or i32) value; bool keeps "nonzero". */
function storeOf(type: 'f32' | 'i32' | 'u32', v: string, from: 'f32' | 'i32'): string {
  if (type === 'u32') return `select(0u, 1u, ${v} != ${from}(0))`;
  return type === from ? v : `${type}(${v})`;
}

/** Records one sampler: `count` invocations `e` write the output `Y` from the key `KEY` (and `P`, bernoulli's probabilities). */
function sample(backend: WebGpuBackend, op: string, t: TensorType, outs: Outs, inputs: readonly GpuStorage[], names: readonly string[], values: Record<string, number>, body: (ty: 'f32' | 'i32' | 'u32') => string, count = sizeOf(t.shape), extra = ''): GpuStorage {
  const out = outputOf(backend, t, outs);
  const ty = wgslType(t.dtype);
  const key = `${op}.${ty}`;
  const all = ['n', ...names];
  const code = cachedCode(key, () => {
    const decl = inputs.map((_, i) => (i === 0
      ? `@group(0) @binding(0) var<storage, read> KEY: array<i32>;`
      : `@group(0) @binding(${i}) var<storage, read> P: array<f32>;`));
    return `${paramStruct(all, inputs.length + 1)}
${decl.join('\n')}
@group(0) @binding(${inputs.length}) var<storage, read_write> Y: array<${ty}>;
${PHILOX_WGSL}${extra}
${elementMain(body(ty))}`;
  });
  dispatchElements(backend, key, code, [...inputs.map((s) => s.buffer), out.buffer], all, { n: count, ...values }, count);
  return out;
}

/**
 * A sampler body run once per Philox block (4 words: a quarter of the rounds of one
 * block per element): `store` writes element `i` from word `w`. Dispatch `blockCount`.
 */
function perBlock(store: string): string {
  return `  let words = block(u32(e));
  let first = e * 4 - i32(bitcast<u32>(KEY[2]) & 3u);
  for (var lane = 0; lane < 4; lane++) {
    let i = first + lane;
    if (i >= 0 && i < p.size) {
      let w = words[lane];
${store}
    }
  }`;
}

/** Blocks covering `size` elements from any offset (the offset is on the GPU: one spare block for its misalignment). */
const blockCount = (size: number): number => (size === 0 ? 0 : Math.ceil(size / 4) + 1);

const randomUniform = (backend: WebGpuBackend) => ([key]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const low = attrs['low'] as number, range = (attrs['high'] as number) - low;
  const size = sizeOf(t!.shape);
  const values = { size, low: elementBits(low, 'float32'), range: elementBits(range, 'float32') };
  return [sample(backend, 'randomUniform', t!, outs, [key!.storage], ['size', 'low', 'range'], values, (ty) => perBlock(`      let v = bitcast<f32>(p.low) + bitcast<f32>(p.range) * uniformOf(w);
      Y[i] = ${storeOf(ty, 'v', 'f32')};`), blockCount(size))];
};

/** Box–Muller: invocation e makes pair e (elements 2e: r·cos θ, 2e+1: r·sin θ) from words 2e, 2e+1. */
const randomNormal = (backend: WebGpuBackend) => ([key]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const size = sizeOf(t!.shape);
  const values = { size, mean: elementBits(attrs['mean'] as number, 'float32'), sd: elementBits(attrs['std'] as number, 'float32') };
  return [sample(backend, 'randomNormal', t!, outs, [key!.storage], ['size', 'mean', 'sd'], values, (ty) => `  let i = u32(e) * 2u;
  let u1 = 1.0 - uniformOf(word(i));
  let r = sqrt(-2.0 * lnUnit(u1));
  let cs = cosSinTurn(uniformOf(word(i + 1u)));
  let mean = bitcast<f32>(p.mean);
  let sd = bitcast<f32>(p.sd); // (std is a WGSL reserved word)
  let a = mean + sd * (r * cs.x);
  Y[2 * e] = ${storeOf(ty, 'a', 'f32')};
  if (2 * e + 1 < p.size) {
    let b = mean + sd * (r * cs.y);
    Y[2 * e + 1] = ${storeOf(ty, 'b', 'f32')};
  }`, Math.ceil(size / 2), MATH_WGSL)];
};

const randomInt = (backend: WebGpuBackend) => ([key]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const low = attrs['low'] as number, range = (attrs['high'] as number) - low;
  // range is below 2³² (int32 bounds); low + ⌊…⌋ wraps like the reference's Int32Array store.
  const size = sizeOf(t!.shape);
  return [sample(backend, 'randomInt', t!, outs, [key!.storage], ['size', 'low', 'range'], { size, low: low | 0, range: range | 0 }, (ty) => perBlock(`      let v = p.low + bitcast<i32>(scaledWord(w, bitcast<u32>(p.range)));
      Y[i] = ${storeOf(ty, 'v', 'i32')};`), blockCount(size), INT_WGSL)];
};

const bernoulli = (backend: WebGpuBackend) => ([probs, key]: Inputs, _attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const size = sizeOf(t!.shape);
  return [sample(backend, 'bernoulli', t!, outs, [key!.storage, probs!.storage], ['size'], { size }, (ty) => perBlock(`      Y[i] = select(${ty}(0), ${ty}(1), uniformOf(w) < P[i]);`), blockCount(size))];
};

registerWebGpuKernels({ randomUniform, randomNormal, randomInt, bernoulli });
