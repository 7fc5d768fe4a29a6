import type { DType } from '../../../ir/index.js';
import { oneOutput, type Kernel } from '../../backend.js';
import { registerNativeKernels, type NativeKernelFactory } from '../nativeKernels.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import { binaryName, simdKernels, whereName, type Mode, type SimdKernel, type SimdKernels } from './simdElementwise.js';

/** tfjs-backend-wasm's CppDType enum. */
export const CPP_DTYPE: Record<DType, number> = { float32: 0, int32: 1, bool: 2, float64: -1 };

/** The portable kernel this native one replaces, for the dtypes the native one lacks. */
export function fallbackOf(backend: WasmBackend, name: string): Kernel<WasmStorage> {
  const k = backend.kernels.get(name);
  if (!k) throw new Error(`no portable kernel for ${name}`);
  return k;
}

/** Unary tfjs kernel `fn(xId, dtype, outId)`, float32 only. */
function unary(fnName: string): NativeKernelFactory {
  return (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const fn = backend.module[`_${fnName}`];
    return (inputs, attrs, outTypes, outs) => {
      const x = inputs[0]!;
      if (x.dtype !== 'float32') return fallback(inputs, attrs, outTypes, outs);
      const out = outs?.[0] ?? backend.alloc('float32', x.storage.size);
      fn(x.storage.id, 0, out.id);
      return oneOutput(out, outs);
    };
  };
}

/** Binary tfjs kernel with NumPy broadcasting, for inputs of one dtype in `dtypes`. */
function binary(fnName: string, dtypes: readonly DType[] = ['float32', 'int32']): NativeKernelFactory {
  return (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const fn = backend.module[`_${fnName}`];
    return (inputs, attrs, outTypes, outs) => {
      const a = inputs[0]!, b = inputs[1]!;
      const ot = outTypes[0]!;
      if (a.dtype !== b.dtype || !dtypes.includes(a.dtype) || (ot.dtype !== a.dtype && ot.dtype !== 'bool')) return fallback(inputs, attrs, outTypes, outs);
      let size = 1;
      for (const d of ot.shape) size *= d;
      const out = outs?.[0] ?? backend.alloc(ot.dtype, size);
      const ap = backend.shapePtr(a.shape, 0);
      const bp = backend.shapePtr(b.shape, 1);
      fn(a.storage.id, ap, a.shape.length, b.storage.id, bp, b.shape.length, CPP_DTYPE[a.dtype], out.id);
      return oneOutput(out, outs);
    };
  };
}

// ---- generated SIMD kernels (simdElementwise.ts) ---------------------------------------

/**
 * A broadcast laid out as the generated kernels' loops: JS iterates `outer` (rarely more
 * than one step), each step is one kernel call over `rows` × `cols` output elements.
 */
export interface BroadcastPlan {
  rows: number;
  cols: number;
  /** Per input: 'v' varies along cols, 's' is constant along a row. */
  modes: Mode[];
  /** Per input: bytes its base advances after each row (0 = the same row again). */
  steps: number[];
  /** Outer dims (outermost first) with per-input and output byte strides. */
  outer: { size: number; strides: number[]; outStride: number }[];
}

/**
 * Lays inputs of `shapes` (elements of `bytes[k]` bytes) broadcast onto `outShape` as
 * rows × cols kernel calls: dims are grouped into blocks along which each input either
 * varies or is broadcast; the innermost block is cols, the next is rows, the rest are
 * looped in JS. Null when that JS loop would be long for little work per call (fewer
 * than `minCallWork` elements per call; 0 always gives a plan).
 */
export function planBroadcast(shapes: readonly (readonly number[])[], outShape: readonly number[], bytes: readonly number[], outBytes: number, minCallWork = 32): BroadcastPlan | null {
  const r = outShape.length, K = shapes.length;
  const sizes: number[] = [], flags: number[] = [];
  for (let d = 0; d < r; d++) {
    const n = outShape[d]!;
    if (n === 1) continue;
    let f = 0;
    for (let k = 0; k < K; k++) {
      const s = shapes[k]!, j = d - (r - s.length);
      if (j >= 0 && s[j] !== 1) f |= 1 << k;
    }
    if (flags.length && flags[flags.length - 1] === f) sizes[sizes.length - 1]! *= n;
    else { sizes.push(n); flags.push(f); }
  }
  if (sizes.length === 0) { sizes.push(1); flags.push((1 << K) - 1); }
  // Element strides of each input along each block (0 where it is broadcast).
  const B = sizes.length;
  const strides = shapes.map((_s, k) => {
    const st = new Array<number>(B);
    let acc = 1;
    for (let b = B - 1; b >= 0; b--) {
      st[b] = flags[b]! & (1 << k) ? acc : 0;
      if (st[b]) acc *= sizes[b]!;
    }
    return st;
  });
  const cols = sizes[B - 1]!;
  const modes = shapes.map((_s, k): Mode => (flags[B - 1]! & (1 << k) ? 'v' : 's'));
  const rows = B > 1 ? sizes[B - 2]! : 1;
  const steps = shapes.map((_s, k) => (B > 1 ? strides[k]![B - 2]! * bytes[k]! : 0));
  const outer: BroadcastPlan['outer'] = [];
  let outStride = rows * cols * outBytes, count = 1;
  for (let b = B - 3; b >= 0; b--) {
    outer.unshift({ size: sizes[b]!, strides: shapes.map((_s, k) => strides[k]![b]! * bytes[k]!), outStride });
    outStride *= sizes[b]!;
    count *= sizes[b]!;
  }
  // Each JS step costs a call (~50 ns): keep it for calls that do real work.
  if (count > 1 && rows * cols < minCallWork) return null;
  return { rows, cols, modes, steps, outer };
}

/** Runs `call(ptrs, out)` once per outer step of a plan, advancing the pointers. */
export function forEachOuter(plan: BroadcastPlan, ptrs: number[], out: number, call: (ptrs: number[], out: number) => void): void {
  const o = plan.outer, R = o.length;
  if (R === 0) { call(ptrs, out); return; }
  const ctr = new Array<number>(R).fill(0);
  const p = ptrs.slice();
  for (;;) {
    call(p, out);
    let d = R - 1;
    for (; d >= 0; d--) {
      const od = o[d]!;
      for (let k = 0; k < p.length; k++) p[k]! += od.strides[k]!;
      out += od.outStride;
      if (++ctr[d]! < od.size) break;
      for (let k = 0; k < p.length; k++) p[k]! -= od.strides[k]! * od.size;
      out -= od.outStride * od.size;
      ctr[d] = 0;
    }
    if (d < 0) return;
  }
}

/**
 * What a broadcasting kernel worked out for its last call, kept while the attrs object,
 * the input shapes and the output shape repeat: a plan calls each step's kernel with the
 * same ones every run, so its broadcast is laid out once, not per call.
 */
class LastBroadcast<T> {
  private attrs: object | null = null;
  private shapes: (readonly number[])[] = [];
  private out: readonly number[] = [];
  value: T | null = null;

  hit(attrs: object, inputs: readonly { readonly shape: readonly number[] }[], out: readonly number[]): boolean {
    if (attrs !== this.attrs || inputs.length !== this.shapes.length || !sameDims(out, this.out)) return false;
    for (let i = 0; i < inputs.length; i++) if (!sameDims(inputs[i]!.shape, this.shapes[i]!)) return false;
    return true;
  }

  set(attrs: object, inputs: readonly { readonly shape: readonly number[] }[], out: readonly number[], value: T | null): T | null {
    this.attrs = attrs;
    this.shapes = inputs.map((x) => x.shape.slice());
    this.out = out.slice();
    this.value = value;
    return value;
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A broadcast laid out, with the generated kernel for its modes. */
interface Laid {
  readonly plan: BroadcastPlan;
  readonly fn: SimdKernel;
}

/**
 * Binary op on the generated kernels for inputs of dtype `dtype` (float32; bool for the
 * logical ops), same size as the output or broadcast as whole blocks; other dtypes and
 * scattered broadcasts go to `next` (the tfjs kernel, else the portable one).
 */
function simdBinary(op: string, next?: NativeKernelFactory, dtype: DType = 'float32'): NativeKernelFactory {
  const bytes = dtype === 'bool' ? [1, 1] : [4, 4];
  return (backend, name) => {
    const other = next ? next(backend, name) : fallbackOf(backend, name);
    let k: SimdKernels | null = null;
    /** The flat kernels by mode: vv, vs, sv, ss. */
    let flat: SimdKernel[] | null = null;
    const last = new LastBroadcast<Laid>();
    return (inputs, attrs, outTypes, outs) => {
      const a = inputs[0]!, b = inputs[1]!;
      if (a.dtype !== dtype || b.dtype !== dtype) return other(inputs, attrs, outTypes, outs);
      const ot = outTypes[0]!;
      const n = sizeOf(ot.shape), na = a.storage.size, nb = b.storage.size;
      const ob = ot.dtype === 'bool' ? 1 : 4;
      k ??= simdKernels(backend.memory, op);
      // Same size or a scalar operand: one flat call.
      if ((na === n || na === 1) && (nb === n || nb === 1)) {
        flat ??= [binaryName(op, 'v', 'v'), binaryName(op, 'v', 's'), binaryName(op, 's', 'v'), binaryName(op, 's', 's')].map((f) => k![f]!);
        const out = outs?.[0] ?? backend.alloc(ot.dtype, n);
        if (n > 0) flat[(na === n ? 0 : 2) + (nb === n ? 0 : 1)]!(a.storage.ptr, b.storage.ptr, out.ptr, 1, n, 0, 0);
        return oneOutput(out, outs);
      }
      let laid = last.value;
      if (!last.hit(attrs, inputs, ot.shape)) {
        const plan = planBroadcast([a.shape, b.shape], ot.shape, bytes, ob);
        laid = last.set(attrs, inputs, ot.shape, plan && { plan, fn: k[binaryName(op, plan.modes[0]!, plan.modes[1]!)]! });
      }
      if (!laid) return other(inputs, attrs, outTypes, outs);
      const out = outs?.[0] ?? backend.alloc(ot.dtype, n);
      const { plan, fn } = laid;
      const { rows, cols, steps } = plan;
      const sa = steps[0]!, sb = steps[1]!;
      if (plan.outer.length === 0) fn(a.storage.ptr, b.storage.ptr, out.ptr, rows, cols, sa, sb);
      else forEachOuter(plan, [a.storage.ptr, b.storage.ptr], out.ptr, (p, o) => fn(p[0]!, p[1]!, o, rows, cols, sa, sb));
      return oneOutput(out, outs);
    };
  };
}

const BYTES_WHERE = [1, 4, 4];

/** where(cond, x, y) for 4-byte x and y of one dtype (float32, int32), any block broadcast. */
const simdWhere: NativeKernelFactory = (backend, name) => {
  const other = fallbackOf(backend, name);
  let k: SimdKernels | null = null;
  /** The flat kernels by mode, index 4c + 2x + y with 0 for 'v' and 1 for 's'. */
  let flat: SimdKernel[] | null = null;
  const last = new LastBroadcast<Laid>();
  return (inputs, attrs, outTypes, outs) => {
    const c = inputs[0]!, x = inputs[1]!, y = inputs[2]!;
    if (x.dtype !== y.dtype || x.dtype === 'bool' || c.dtype !== 'bool') return other(inputs, attrs, outTypes, outs);
    const ot = outTypes[0]!;
    const n = sizeOf(ot.shape), nc = c.storage.size, nx = x.storage.size, ny = y.storage.size;
    k ??= simdKernels(backend.memory, 'where');
    if ((nc === n || nc === 1) && (nx === n || nx === 1) && (ny === n || ny === 1)) {
      const modes: Mode[] = ['v', 's'];
      flat ??= Array.from({ length: 8 }, (_v, i) => k![whereName(modes[(i >> 2) & 1]!, modes[(i >> 1) & 1]!, modes[i & 1]!)]!);
      const out = outs?.[0] ?? backend.alloc(ot.dtype, n);
      if (n > 0) flat[(nc === n ? 0 : 4) + (nx === n ? 0 : 2) + (ny === n ? 0 : 1)]!(c.storage.ptr, x.storage.ptr, y.storage.ptr, out.ptr, 1, n, 0, 0, 0);
      return oneOutput(out, outs);
    }
    let laid = last.value;
    if (!last.hit(attrs, inputs, ot.shape)) {
      const plan = planBroadcast([c.shape, x.shape, y.shape], ot.shape, BYTES_WHERE, 4);
      laid = last.set(attrs, inputs, ot.shape, plan && { plan, fn: k[whereName(plan.modes[0]!, plan.modes[1]!, plan.modes[2]!)]! });
    }
    if (!laid) return other(inputs, attrs, outTypes, outs);
    const out = outs?.[0] ?? backend.alloc(ot.dtype, n);
    const { plan, fn } = laid;
    const { rows, cols, steps } = plan;
    const sc = steps[0]!, sx = steps[1]!, sy = steps[2]!;
    if (plan.outer.length === 0) fn(c.storage.ptr, x.storage.ptr, y.storage.ptr, out.ptr, rows, cols, sc, sx, sy);
    else forEachOuter(plan, [c.storage.ptr, x.storage.ptr, y.storage.ptr], out.ptr, (p, o) => fn(p[0]!, p[1]!, p[2]!, o, rows, cols, sc, sx, sy));
    return oneOutput(out, outs);
  };
};

/** Unary op on a generated kernel for `dtype` inputs; `params` maps attrs to its f32 arguments. */
function simdUnary(op: string, params: (attrs: Record<string, unknown>) => number[] = () => [], dtype: DType = 'float32'): NativeKernelFactory {
  return (backend, name) => {
    const other = fallbackOf(backend, name);
    let k: SimdKernels | null = null;
    // A plan calls with the same attrs object every run: its parameters are read once.
    let lastAttrs: Record<string, unknown> | null = null, p0 = 0, p1 = 0;
    return (inputs, attrs, outTypes, outs) => {
      const x = inputs[0]!;
      if (x.dtype !== dtype) return other(inputs, attrs, outTypes, outs);
      k ??= simdKernels(backend.memory, op);
      const n = x.storage.size;
      const out = outs?.[0] ?? backend.alloc(dtype, n);
      if (n > 0) {
        if (attrs !== lastAttrs) {
          const p = params(attrs);
          p0 = p[0] ?? 0;
          p1 = p[1] ?? 0;
          lastAttrs = attrs;
        }
        k[op]!(x.storage.ptr, out.ptr, 1, n, 0, p0, p1);
      }
      return oneOutput(out, outs);
    };
  };
}

/**
 * pow with a scalar float32 exponent that has an exact cheaper form (Math.pow, which the
 * portable kernel calls, returns exactly these; checked on random bit patterns):
 * x² = x·x, x^-1 = 1/x, x^0.5 = sqrt (with pow's ±0/-∞ rules), x^1 = x. Other exponents
 * and broadcasts run the portable kernel.
 */
const simdPow: NativeKernelFactory = (backend, name) => {
  const other = fallbackOf(backend, name);
  const byExponent = new Map<number, string>([[2, 'square'], [-1, 'reciprocal'], [0.5, 'powHalf']]);
  let dv: DataView | null = null;
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!, e = inputs[1]!;
    const n = x.storage.size;
    if (x.dtype !== 'float32' || e.dtype !== 'float32' || e.storage.size !== 1 || n !== sizeOf(outTypes[0]!.shape)) return other(inputs, attrs, outTypes, outs);
    const buf = backend.memory.buffer;
    if (dv?.buffer !== buf) dv = new DataView(buf);
    const p = dv.getFloat32(e.storage.ptr, true);
    const op = byExponent.get(p);
    if (p === 1) {
      const out = outs?.[0] ?? backend.alloc('float32', n);
      backend.copy(x.storage, out);
      return oneOutput(out, outs);
    }
    if (!op) return other(inputs, attrs, outTypes, outs);
    const out = outs?.[0] ?? backend.alloc('float32', n);
    if (n > 0) simdKernels(backend.memory, op)[op]!(x.storage.ptr, out.ptr, 1, n, 0, 0, 0);
    return oneOutput(out, outs);
  };
};

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// Routing, by measurement (per-kernel on preallocated buffers, and eager; float32, 16 to
// 670,000 elements; this machine):
//  - tfjs's comparisons, LeakyRelu, Sqrt and LogicalAnd are scalar loops: the generated
//    kernels are 4–70× faster (greater(x, 0) at 65,536: 310 → 5 µs);
//  - maximum, minimum, reciprocal, where, logicalNot and pow had only portable JS kernels:
//    12–200× faster;
//  - add/sub/mul/div/neg/abs/square/relu/clip are SIMD in XNNPACK too: a tie at 65k–670k
//    within noise, and the generated call is cheaper for small tensors (≈0.03 vs 0.1 µs at
//    16 elements), so these also go to the generated kernels;
//  - row/column/channel broadcasts: 4–5× faster than tfjs's broadcasting loops.
// The tfjs kernels stay behind them for int32 and scattered broadcasts, then the portable ones.
//  - exp, log, tanh, sigmoid, erf, softplus, elu: polynomial f32x4 code (simdMath.ts, ≤ 1–2
//    ulp from the float64 reference, the same code fused kernels use) instead of tfjs's
//    scalar libm loops (256k elements: tanh 3.8 → 0.55 ms, exp 1.8 → 0.30, log 0.93 → 0.46)
//    or the portable JS kernels (erf 127 → 0.93 ms, softplus 12 → 1.7, elu with α ≠ 1).
//    tfjs's Sigmoid and Elu are XNNPACK SIMD kernels, 2× faster (0.25 vs 0.48 ms; 0.20 vs
//    0.40), but further from the reference: sigmoid > 2 ulp and flushed to 0 below 2⁻¹²⁶,
//    elu(-0) = +0 (the reference's is -0); semantics won. `npm run bench -- kernels`.
// log1p has no native kernel on purpose: tfjs's Log1p is log(1 + x) in float32, which
// loses everything below 2⁻²⁴ (log1p(1e-10) = 0); the portable kernel is Math.log1p in
// float64, rounded once (the reference backend's result, bit for bit).
registerNativeKernels({
  neg: simdUnary('neg'),
  abs: simdUnary('abs'),
  exp: simdUnary('exp'),
  log: simdUnary('log'),
  sqrt: simdUnary('sqrt'),
  rsqrt: unary('Rsqrt'),
  square: simdUnary('square'),
  reciprocal: simdUnary('reciprocal'),
  sin: unary('Sin'),
  cos: unary('Cos'),
  sigmoid: simdUnary('sigmoid'),
  tanh: simdUnary('tanh'),
  erf: simdUnary('erf'),
  softplus: simdUnary('softplus', (a) => [a['beta'] as number, a['threshold'] as number]),
  relu: simdUnary('relu'),
  elu: simdUnary('elu', (a) => [a['alpha'] as number]),
  leakyRelu: simdUnary('leakyRelu', (a) => [a['alpha'] as number]),
  clip: simdUnary('clip', (a) => [(a['min'] as number | null) ?? -Infinity, (a['max'] as number | null) ?? Infinity]),
  add: simdBinary('add', binary('Add')),
  sub: simdBinary('sub', binary('Sub')),
  mul: simdBinary('mul', binary('Multiply')),
  div: simdBinary('div', binary('RealDiv', ['float32'])),
  maximum: simdBinary('maximum'),
  minimum: simdBinary('minimum'),
  equal: simdBinary('equal', binary('Equal')),
  notEqual: simdBinary('notEqual', binary('NotEqual')),
  less: simdBinary('less', binary('Less')),
  lessEqual: simdBinary('lessEqual', binary('LessEqual')),
  greater: simdBinary('greater', binary('Greater')),
  greaterEqual: simdBinary('greaterEqual', binary('GreaterEqual')),
  where: simdWhere,
  pow: simdPow,
  logicalAnd: simdBinary('logicalAnd', binary('LogicalAnd', ['bool']), 'bool'),
  logicalOr: simdBinary('logicalOr', binary('LogicalOr', ['bool']), 'bool'),
  logicalNot: simdUnary('logicalNot', undefined, 'bool'),
});
