// Elementwise kernels (unary, binary, compare, logical, where, clip, cast, copy) from one
// WGSL template: each input is read at the output's index ('same'), at 0 ('scalar'), or
// through broadcast strides ('strided', shapes and strides in a uniform), and one
// expression per op computes the output. Pipelines are keyed by op, dtypes and the read
// mode of each input, so shapes never create pipelines.
import { KilnError, promoteTypes, type Attrs, type DType } from '../../../ir/index.js';
import type { Kernel, KernelInput } from '../../backend.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels, type WebGpuKernelFactory } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';

/** Most dimensions a strided (broadcast) input may have. */
export const MAX_RANK = 8;
export const WORKGROUP = 256;

export type ReadMode = 'same' | 'scalar' | 'strided';

/** The WGSL scalar type holding a dtype's 4-byte element (bool is u32 0/1). */
export function wgslType(dtype: DType): 'f32' | 'i32' | 'u32' {
  switch (dtype) {
    case 'float32': return 'f32';
    case 'int32': return 'i32';
    case 'bool': return 'u32';
    default: throw new KilnError(`the webgpu backend has no ${dtype} elements (float32, int32 and bool only)`);
  }
}

type Wgsl = 'f32' | 'i32' | 'u32';

/** What an op's expression sees: its operands (already converted to `t`) and the dtypes. */
export interface ElementwiseContext {
  /** The WGSL type the operands were converted to (see `ElementwiseSpec.compute`). */
  readonly t: Wgsl;
  /** The operands, converted to `t` (with compute 'raw': as stored). */
  readonly args: readonly string[];
  readonly ins: readonly DType[];
  readonly out: DType;
  /** The operands as stored (their dtypes' WGSL types). */
  readonly raw: readonly string[];
  /** Operand `k` (as stored) converted to `to`. */
  conv(k: number, to: Wgsl): string;
}

/**
 * One elementwise op: `expr` is a WGSL expression of the operands giving the output in
 * the output dtype's WGSL type (bool outputs: a WGSL `bool`, stored as u32 0/1, when
 * `bool` is set). Float parameters from the attributes arrive as `p.f.x..w` (uniforms:
 * no pipeline per value).
 */
export interface ElementwiseSpec {
  /**
   * What the operands are converted to before `expr`: 'out' (the output's type, default),
   * 'f32', 'promoted' (the promoted input dtype's type: comparisons), or 'raw' (as stored).
   */
  readonly compute?: 'out' | 'f32' | 'promoted' | 'raw';
  /** `expr` gives a WGSL bool (stored as 0/1). */
  readonly bool?: boolean;
  expr(c: ElementwiseContext): string;
  /** Up to 4 float parameters from the attributes. */
  params?(attrs: Attrs): readonly number[];
}

// Not constants: WGSL refuses a constant NaN/Inf, so their bits come in the uniforms
// (\`Params.inf_bits\`/\`nan_bits\`, written by every elementwise kernel).
const NAN = 'bitcast<f32>(p.nan_bits)';
const INF = 'bitcast<f32>(p.inf_bits)';

/**
 * WGSL helpers every elementwise shader may call. NaN and infinity tests look at bits:
 * WGSL lets compilers assume finite math, so `x != x` may fold to false. They read the
 * uniform `p.inf_bits` (0x7f800000) and `p.nan_bits` (0x7fc00000): a shader including
 * them declares `p` with those fields.
 */
export const WGSL_HELPERS = /* wgsl */ `
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn is_inf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn truthy_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) != 0u; }
fn nan_if(v: f32, x: f32) -> f32 { return select(v, x, is_nan(x)); }
// v · 1, with a 1 the compiler cannot see (it comes from the uniforms): GPU compilers
// apply inexact algebra (Mesa's NIR folds (1 + x) − 1 to x) that would cancel the
// error-compensation steps below; an opaque value is rounded where the code says.
fn opaque(v: f32) -> f32 { return v * bitcast<f32>(p.inf_bits - 0x40000000u); }
// exp and log of their own: lavapipe's builtins (allowed by WGSL) are off by 100+ ulp
// near log(1) and for exp of large |x|, and flush subnormal results. These are musl's
// expf/logf reductions with polynomials: ≤ 2 ulp measured on lavapipe.
fn scale2(v: f32, k: i32) -> f32 {
  // v · 2^k for k in [-150, 128], through two exact power-of-two factors (subnormals kept).
  let k1 = k / 2;
  let k2 = k - k1;
  return v * bitcast<f32>(u32(k1 + 127) << 23u) * bitcast<f32>(u32(k2 + 127) << 23u);
}
fn exp_(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  if (x > 88.72284) { return ${INF}; }
  if (x < -103.97208) { return 0.0; }
  let k = round(x * 1.4426950408889634);
  // x − k·ln2 with ln2 split in two (k·ln2_hi is exact).
  let r = (x - k * 0.693145751953125) - k * 1.4286068203094172e-06;
  let p = 1.0 + r * (1.0 + r * (0.5 + r * (0.16666666666666666 + r * (0.041666666666666664 + r * (0.008333333333333333 + r * (0.001388888888888889 + r * 0.0001984126984126984))))));
  return scale2(p, i32(k));
}
// ln x = hi + lo: hi = k·ln2_hi exactly, lo the rest (absolute error ≈ 1 ulp of ≤ 0.35).
fn log_parts(x0: f32) -> vec2f {
  var x = x0;
  var k = 0;
  if (x < 1.17549435e-38) { x = x * 16777216.0; k = -24; }
  var ix = bitcast<u32>(x) + (0x3f800000u - 0x3f3504f3u);
  k = k + i32(ix >> 23u) - 127;
  ix = (ix & 0x007fffffu) + 0x3f3504f3u;
  let f = bitcast<f32>(ix) - 1.0;
  let s = f / (2.0 + f);
  let z = s * s;
  let w = z * z;
  let t1 = w * (0.40000972152 + w * 0.24279078841);
  let t2 = z * (0.66666662693 + w * 0.28498786688);
  let hfsq = 0.5 * f * f;
  let kf = f32(k);
  return vec2f(kf * 0.69313812256, (s * (hfsq + t2 + t1) + kf * 9.0580006145e-06) - hfsq + f);
}
fn log_(x: f32) -> f32 {
  if (is_nan(x) || x < 0.0) { return ${NAN}; }
  if (x == 0.0) { return -${INF}; }
  if (is_inf(x)) { return x; }
  let l = log_parts(x);
  return l.x + l.y;
}
// log(1 + x): the rounding error of 1 + x corrected (Goldberg).
fn log1p_(x: f32) -> f32 {
  if (is_nan(x) || x < -1.0) { return ${NAN}; }
  let u = opaque(1.0 + x);
  if (u == 1.0) { return x; }
  if (is_inf(u)) { return u; }
  return log_(u) * (x / (u - 1.0));
}
// e^x − 1 (Kahan).
fn expm1_(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  if (abs(x) < 1e-4) { return x + 0.5 * x * x + x * x * x * 0.16666667; }
  let u = opaque(exp_(x));
  if (is_inf(u)) { return u; }
  let um1 = u - 1.0;
  if (um1 == -1.0) { return -1.0; }
  return um1 * (x / log_(u));
}
// erf: a Maclaurin series below 0.5, 1 − erfc (Numerical Recipes' erfcc, rel. error < 1.2e-7) above.
fn erf_(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let z = abs(x);
  if (z < 0.5) {
    let x2 = x * x;
    let s = 1.0 + x2 * (-1.0 / 3.0 + x2 * (1.0 / 10.0 + x2 * (-1.0 / 42.0 + x2 * (1.0 / 216.0 + x2 * (-1.0 / 1320.0 + x2 * (1.0 / 9360.0))))));
    return x * s * 1.1283791670955126;
  }
  if (z >= 10.0) { return sign(x); }
  let t = 1.0 / (1.0 + 0.5 * z);
  let erfc = t * exp_(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return select(erfc - 1.0, 1.0 - erfc, x > 0.0);
}
// tanh = expm1(2|x|) / (expm1(2|x|) + 2), with the sign; ±1 beyond 9.
fn tanh_(x: f32) -> f32 {
  if (is_nan(x) || x == 0.0) { return x; }
  if (abs(x) > 9.0) { return sign(x); }
  let e = expm1_(2.0 * abs(x));
  let t = e / (e + 2.0);
  return select(t, -t, x < 0.0);
}
fn sigmoid_(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp_(-x)); }
  let e = exp_(x);
  return e / (1.0 + e);
}
// Dekker's exact product: a·b = hi + lo (no fma needed).
fn two_prod(a: f32, b: f32) -> vec2f {
  let ab = opaque(a * b);
  let ca = opaque(4097.0 * a);
  let ah = opaque(ca - (ca - a));
  let al = a - ah;
  let cb = opaque(4097.0 * b);
  let bh = opaque(cb - (cb - b));
  let bl = b - bh;
  return vec2f(ab, ((ah * bh - ab) + ah * bl + al * bh) + al * bl);
}
fn odd_integer(y: f32) -> bool { return abs(y) < 16777216.0 && y == trunc(y) && (i32(abs(y)) & 1) == 1; }
// Math.pow's special cases (pow(x, ±0) = 1, pow(±1, ±Inf) = NaN, signed zeros and
// infinities); integer exponents up to 4 by squaring, others by exp(y·ln|x|) in two parts.
fn pow_f32(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (is_nan(x) || is_nan(y)) { return ${NAN}; }
  let ax = abs(x);
  if (is_inf(y)) {
    if (ax == 1.0) { return ${NAN}; }
    return select(0.0, ${INF}, (ax > 1.0) == (y > 0.0));
  }
  let odd = odd_integer(y);
  if (x == 0.0) {
    if (y > 0.0) { return select(0.0, x, odd); }
    return select(${INF}, 1.0 / x, odd);
  }
  if (is_inf(x)) {
    let m = select(0.0, ${INF}, y > 0.0);
    return select(m, -m, x < 0.0 && odd);
  }
  let integer = y == trunc(y);
  if (x < 0.0 && !integer) { return ${NAN}; }
  if (y == 0.5) { return sqrt(x); }
  var r: f32;
  if (integer && abs(y) <= 4.0) {
    var e = u32(abs(y));
    var b = ax;
    r = 1.0;
    loop {
      if ((e & 1u) == 1u) { r = r * b; }
      e = e >> 1u;
      if (e == 0u) { break; }
      b = b * b;
    }
    if (y < 0.0) { r = 1.0 / r; }
  } else {
    // e^(y·ln|x|) with ln|x| and the product carried in two parts (error ≈ |y|/2 ulp + exp's).
    let l = log_parts(ax);
    if (abs(y) > 1e30) {
      r = exp_(y * (l.x + l.y)); // overflows or underflows whatever the rounding
    } else {
      let hp = two_prod(y, l.x);
      let lo = hp.y + y * l.y;
      let t = opaque(hp.x + lo);
      r = select(exp_(t) * (1.0 + ((hp.x - t) + lo)), exp_(t), abs(t) > 110.0);
    }
  }
  return select(r, -r, x < 0.0 && odd);
}
// Integer power with int32 wrap-around; negative exponents truncate to 0 (±1 excepted).
fn pow_i32(x: i32, y: i32) -> i32 {
  if (y < 0) {
    if (x == 1) { return 1; }
    if (x == -1) { return select(1, -1, (y & 1) == 1); }
    return 0;
  }
  var r = 1;
  var b = x;
  var e = y;
  loop {
    if (e == 0) { break; }
    if ((e & 1) == 1) { r = r * b; }
    e = e >> 1u;
    b = b * b;
  }
  return r;
}
// float → int32: truncate toward zero, saturate, NaN → 0 (wasm's i32.trunc_sat_f32_s).
fn f32_to_i32(x: f32) -> i32 {
  if (is_nan(x)) { return 0; }
  if (x >= 2147483648.0) { return 2147483647; }
  if (x <= -2147483648.0) { return i32(-2147483648); }
  return i32(x);
}
`;

export function readMode(x: KernelInput<GpuStorage>, outSize: number): ReadMode {
  if (x.storage.size === 1) return 'scalar';
  if (x.storage.size === outSize) return 'same';
  return 'strided';
}

/** Right-aligned strides of `shape` inside `outShape`, 0 along broadcast dimensions. */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const lead = outShape.length - shape.length;
  const st = new Array<number>(outShape.length).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[lead + i] = shape[i] === 1 ? 0 : acc;
    acc *= shape[i]!;
  }
  return st;
}

const NAMES = ['a', 'b', 'c'] as const;

/** `v`, a value of WGSL type `from`, as `to` (float → int saturates; anything → bool is ≠ 0). */
export function convertValue(v: string, from: Wgsl, to: Wgsl): string {
  if (from === to) return v;
  if (to === 'f32') return `f32(${v})`;
  if (to === 'i32') return from === 'f32' ? `f32_to_i32(${v})` : `i32(${v})`;
  return from === 'f32' ? `select(0u, 1u, truthy_f32(${v}))` : `select(0u, 1u, ${v} != 0)`;
}

export function computeType(spec: ElementwiseSpec, ins: readonly DType[], out: DType): Wgsl | null {
  switch (spec.compute ?? 'out') {
    case 'out': return wgslType(out);
    case 'f32': return 'f32';
    case 'promoted': return wgslType(ins.reduce(promoteTypes));
    case 'raw': return null;
  }
}

/** `Params` fields the strided reads need (output shape, each input's strides), none without one. */
export function broadcastFields(modes: readonly ReadMode[]): string[] {
  if (!modes.includes('strided')) return [];
  return [`  shape: array<vec4u, ${MAX_RANK / 4}>,`, ...modes.map((_, k) => `  s${k}: array<vec4u, ${MAX_RANK / 4}>,`)];
}

/** WGSL statements giving `j<k>`, input k's index for output element `i`, for each strided input. */
export function broadcastIndices(modes: readonly ReadMode[]): string[] {
  if (!modes.includes('strided')) return [];
  const strided = modes.flatMap((m, k) => (m === 'strided' ? [k] : []));
  return [
    ...strided.map((k) => `  var j${k} = 0u;`),
    '  var rem = i;',
    '  for (var d = i32(p.rank) - 1; d >= 0; d--) {',
    '    let size = p.shape[d / 4][d % 4];',
    '    let coord = rem % size;',
    '    rem = rem / size;',
    ...strided.map((k) => `    j${k} += coord * p.s${k}[d / 4][d % 4];`),
    '  }',
  ];
}

/** Where input k is read for output element `i`: `i`, `0u` (one element) or `j<k>` (see `broadcastIndices`). */
export function readIndex(modes: readonly ReadMode[], k: number): string {
  return modes[k] === 'same' ? 'i' : modes[k] === 'scalar' ? '0u' : `j${k}`;
}

/**
 * The WGSL of one op for these input dtypes and read modes. Inputs marked `inPlace` (read
 * 'same', of the output's WGSL type) are the output buffer itself: read from `out` and
 * not bound (WebGPU refuses one buffer bound read-only and writable in one dispatch);
 * the others take bindings 0, 1, … in order, then the output and the uniforms.
 */
export function elementwiseShader(spec: ElementwiseSpec, ins: readonly DType[], modes: readonly ReadMode[], out: DType, inPlace: readonly boolean[] = []): string {
  const lines: string[] = [WGSL_HELPERS];
  lines.push('struct Params { n: u32, rank: u32, inf_bits: u32, nan_bits: u32, f: vec4f,');
  lines.push(...broadcastFields(modes), '}');
  let binding = 0;
  ins.forEach((dt, k) => {
    if (!inPlace[k]) lines.push(`@group(0) @binding(${binding++}) var<storage, read> in${k}: array<${wgslType(dt)}>;`);
  });
  lines.push(`@group(0) @binding(${binding}) var<storage, read_write> out: array<${wgslType(out)}>;`);
  lines.push(`@group(0) @binding(${binding + 1}) var<uniform> p: Params;`);
  lines.push(`@compute @workgroup_size(${WORKGROUP})`);
  lines.push('fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {');
  lines.push(`  let i = gid.x + gid.y * nw.x * ${WORKGROUP}u;`);
  lines.push('  if (i >= p.n) { return; }');
  lines.push(...broadcastIndices(modes));
  const t = computeType(spec, ins, out);
  const raw = ins.map((_, k) => `r${k}`);
  ins.forEach((_, k) => {
    const at = readIndex(modes, k);
    lines.push(`  let ${raw[k]} = ${inPlace[k] ? 'out' : `in${k}`}[${at}];`);
  });
  const args = ins.map((dt, k) => (t ? convertValue(raw[k]!, wgslType(dt), t) : raw[k]!));
  args.forEach((a, k) => lines.push(`  let ${NAMES[k]} = ${a};`));
  const conv = (k: number, to: Wgsl): string => convertValue(raw[k]!, wgslType(ins[k]!), to);
  const e = spec.expr({ t: t ?? wgslType(out), args: NAMES.slice(0, ins.length), raw, ins, out, conv });
  lines.push(`  out[i] = ${spec.bool ? `select(0u, 1u, ${e})` : e};`);
  lines.push('}');
  return lines.join('\n');
}

/** The kernel of one elementwise op on `backend`. */
export function elementwiseKernel(name: string, spec: ElementwiseSpec): WebGpuKernelFactory {
  return (backend: WebGpuBackend): Kernel<GpuStorage> => (inputs, attrs, outTypes, outs) => {
    const outType = outTypes[0]!;
    let n = 1;
    for (const d of outType.shape) n *= d;
    const modes = inputs.map((x) => readMode(x, n));
    const ins = inputs.map((x) => x.dtype);
    // A caller-given output (an execution plan's buffer) is honoured, also when it is an
    // input's own buffer (in place: element i only reads element i of that input).
    const given = outs?.[0];
    const inPlace = inputs.map((x, k) => given !== undefined && x.storage.buffer === given.buffer);
    const canUse = given !== undefined && inputs.every((x, k) => !inPlace[k] || ((modes[k] === 'same' || n === 1) && wgslType(x.dtype) === wgslType(outType.dtype)));
    const y = canUse ? given : backend.alloc(outType.dtype, n);
    if (!canUse) inPlace.fill(false);
    if (n === 0) return [y];
    const strided = modes.includes('strided');
    const rank = outType.shape.length;
    if (strided && rank > MAX_RANK) throw new KilnError(`broadcasting over more than ${MAX_RANK} dimensions is not supported on webgpu`, { op: name });
    const words = new Uint32Array(8 + (strided ? MAX_RANK * (1 + inputs.length) : 0));
    words[0] = n;
    words[1] = rank;
    words[2] = 0x7f800000;
    words[3] = 0x7fc00000;
    const f = new Float32Array(words.buffer, 16, 4);
    const params = spec.params?.(attrs) ?? [];
    for (let k = 0; k < params.length; k++) f[k] = params[k]!;
    if (strided) {
      words.set(outType.shape, 8);
      inputs.forEach((x, k) => {
        if (modes[k] === 'strided') words.set(broadcastStrides(x.shape, outType.shape), 8 + MAX_RANK * (1 + k));
      });
    }
    const key = `ew.${name}.${ins.join(',')}>${outType.dtype}.${modes.map((m, k) => (inPlace[k] ? 'out' : m)).join(',')}`;
    backend.dispatch({
      key,
      code: elementwiseShader(spec, ins, modes, outType.dtype, inPlace),
      buffers: [...inputs.filter((_, k) => !inPlace[k]).map((x) => x.storage.buffer), y.buffer],
      uniforms: words,
      workgroups: backend.grid(n, WORKGROUP),
    });
    return [y];
  };
}

/** Registers `specs` as elementwise kernels by op name. */
function registerElementwise(specs: Record<string, ElementwiseSpec>): void {
  const factories: Record<string, WebGpuKernelFactory> = {};
  for (const [name, spec] of Object.entries(specs)) factories[name] = elementwiseKernel(name, spec);
  registerWebGpuKernels(factories);
}

/** `x` for floats; for ints `ints` (bool as u32 too). */
function byType(c: ElementwiseContext, float: string, int: string, bool = int): string {
  return c.t === 'f32' ? float : c.t === 'i32' ? int : bool;
}

/** Comparisons are false with a NaN operand (`!=` true), tested on bits. */
function compare(op: string, nanResult: boolean): ElementwiseSpec {
  return {
    compute: 'promoted',
    bool: true,
    expr: (c) => (c.t === 'f32' ? (nanResult ? `(a ${op} b || is_nan(a) || is_nan(b))` : `(a ${op} b && !(is_nan(a) || is_nan(b)))`) : `a ${op} b`),
  };
}

const truthy = (c: ElementwiseContext, k: number): string => {
  const t = wgslType(c.ins[k]!);
  const v = c.raw[k]!;
  return t === 'f32' ? `truthy_f32(${v})` : `${v} != ${t === 'i32' ? '0' : '0u'}`;
};

/** A float op: operands converted to f32 (int inputs give float32 outputs). */
function float(expr: (x: string) => string, params?: (attrs: Attrs) => readonly number[]): ElementwiseSpec {
  return { compute: 'f32', expr: () => expr('a'), params };
}

/** Every elementwise op's WGSL, by op name (also for fused elementwise groups). */
export const ELEMENTWISE_SPECS: Record<string, ElementwiseSpec> = {
  // Unary ops keeping the dtype.
  neg: { expr: (c) => byType(c, '-a', '-a', '0u - a') },
  abs: { expr: (c) => byType(c, 'bitcast<f32>(bitcast<u32>(a) & 0x7fffffffu)', 'abs(a)', 'a') },
  square: { expr: () => 'a * a' },
  sign: { expr: (c) => byType(c, 'select(select(a, -1.0, a < 0.0), 1.0, a > 0.0)', 'sign(a)', 'min(a, 1u)') },
  // NaN stays NaN; -0 gives +0 (x <= 0 → 0).
  relu: { expr: (c) => byType(c, 'select(a, 0.0, a <= 0.0 && !is_nan(a))', 'max(a, 0)', 'a') },
  // Bounds compare as float (an int32 tensor clipped at 1.5 gives 1, as the Int32Array store does).
  clip: {
    expr: (c) => {
      const lo = c.t === 'f32' ? 'p.f.x' : c.t === 'i32' ? 'f32_to_i32(p.f.x)' : 'u32(f32_to_i32(p.f.x))';
      const hi = c.t === 'f32' ? 'p.f.y' : c.t === 'i32' ? 'f32_to_i32(p.f.y)' : 'u32(f32_to_i32(p.f.y))';
      const x = c.t === 'f32' ? 'a' : 'f32(a)';
      const low = `select(a, ${lo}, p.f.z != 0.0 && ${x} < p.f.x)`;
      return `select(${low}, ${hi}, p.f.w != 0.0 && ${x} > p.f.y)`;
    },
    params: (a) => {
      const lo = a['min'] as number | null, hi = a['max'] as number | null;
      return [lo ?? 0, hi ?? 0, lo === null ? 0 : 1, hi === null ? 0 : 1];
    },
  },
  logicalNot: { compute: 'raw', bool: true, expr: (c) => `!(${truthy(c, 0)})` },

  // Unary float ops (int inputs are converted; outputs float32).
  exp: float((x) => `exp_(${x})`),
  log: float((x) => `log_(${x})`),
  log1p: float((x) => `log1p_(${x})`),
  sqrt: float((x) => `select(sqrt(${x}), ${NAN}, ${x} < 0.0)`),
  rsqrt: float((x) => `select(1.0 / sqrt(${x}), ${NAN}, ${x} < 0.0)`),
  reciprocal: float((x) => `1.0 / ${x}`),
  sin: float((x) => `select(sin(${x}), ${NAN}, is_inf(${x}))`),
  cos: float((x) => `select(cos(${x}), ${NAN}, is_inf(${x}))`),
  sigmoid: float((x) => `nan_if(sigmoid_(${x}), ${x})`),
  tanh: float((x) => `tanh_(${x})`),
  leakyRelu: float((x) => `select(p.f.x * ${x}, ${x}, ${x} > 0.0)`, (a) => [a['alpha'] as number]),
  elu: float((x) => `select(p.f.x * expm1_(${x}), ${x}, ${x} > 0.0)`, (a) => [a['alpha'] as number]),
  softplus: float((x) => `select(log1p_(exp_(p.f.x * ${x})) / p.f.x, ${x}, ${x} * p.f.x > p.f.y)`, (a) => [a['beta'] as number, a['threshold'] as number]),
  erf: float((x) => `erf_(${x})`),

  // Binary arithmetic in the promoted (output) type; int32 wraps around.
  add: { expr: () => 'a + b' },
  sub: { expr: () => 'a - b' },
  mul: { expr: () => 'a * b' },
  div: { compute: 'f32', expr: () => 'a / b' },
  pow: { expr: (c) => byType(c, 'pow_f32(a, b)', 'pow_i32(a, b)', 'select(a, 1u, b == 0u)') },
  // NaN if either is NaN; else the first when strictly larger/smaller, the second otherwise (ties, ±0 included).
  maximum: { expr: (c) => byType(c, `select(select(b, a, a > b), ${NAN}, is_nan(a) || is_nan(b))`, 'select(b, a, a > b)') },
  minimum: { expr: (c) => byType(c, `select(select(b, a, a < b), ${NAN}, is_nan(a) || is_nan(b))`, 'select(b, a, a < b)') },

  equal: compare('==', false),
  notEqual: compare('!=', true),
  less: compare('<', false),
  lessEqual: compare('<=', false),
  greater: compare('>', false),
  greaterEqual: compare('>=', false),
  logicalAnd: { compute: 'raw', bool: true, expr: (c) => `(${truthy(c, 0)}) && (${truthy(c, 1)})` },
  logicalOr: { compute: 'raw', bool: true, expr: (c) => `(${truthy(c, 0)}) || (${truthy(c, 1)})` },

  where: { compute: 'raw', expr: (c) => `select(${c.conv(2, wgslType(c.out))}, ${c.conv(1, wgslType(c.out))}, ${truthy(c, 0)})` },
  // float → int32 truncates and saturates (NaN → 0); anything → bool is ≠ 0 (NaN is true).
  cast: { compute: 'raw', expr: (c) => c.conv(0, wgslType(c.out)) },
};

registerElementwise(ELEMENTWISE_SPECS);

/**
 * `copy`, and `cast` to the same dtype: a buffer copy, no shader. Other casts: float →
 * int32 truncates and saturates (NaN → 0); anything → bool is ≠ 0 (NaN is true).
 */
function bufferCopy(fallback?: WebGpuKernelFactory): WebGpuKernelFactory {
  return (backend) => {
    const shader = fallback?.(backend);
    return (inputs, attrs, outTypes, outs) => {
      const x = inputs[0]!;
      if (shader && x.dtype !== outTypes[0]!.dtype) return shader(inputs, attrs, outTypes, outs);
      const given = outs?.[0];
      if (given && given.buffer === x.storage.buffer) return [given]; // in place: nothing to copy
      const y = given ?? backend.alloc(outTypes[0]!.dtype, x.storage.size);
      backend.copy(x.storage, y);
      return [y];
    };
  };
}

registerWebGpuKernels({
  copy: bufferCopy(),
  cast: bufferCopy(elementwiseKernel('cast', ELEMENTWISE_SPECS['cast']!)),
});
