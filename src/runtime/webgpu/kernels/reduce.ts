/**
 * Reductions on the webgpu backend: sum, prod, max, min, argmax, argmin, logSumExp and
 * elementCount, over any axes.
 *
 * A reduction is a view of the input as (output o, reduced position k) → element offset:
 * the kept and the reduced dims, merged where they stay contiguous (reducePlan, as the
 * reference backend walks them). It runs in passes; each pass reduces chunks of k for
 * every o into partials, and the next pass reduces the partials, until one chunk is left
 * (one pass for K below 16384 rows or 256 columns, so the pipelines a model uses do not
 * change with its batch size in that range):
 * - workgroup pass: a workgroup per (o, chunk); each invocation folds a strided run of
 *   ≤ 64 elements of the chunk, then the workgroup folds the invocations' values as a
 *   tree in workgroup memory (partials laid out [O, C]);
 * - thread pass: an invocation per (o, chunk) of ≤ 256 consecutive k (short reductions,
 *   and column reductions where neighbouring invocations read neighbouring elements;
 *   partials laid out [C, O]).
 *
 * Accuracy: WGSL has no float64, so float sums accumulate in float32 in levels: an
 * invocation adds runs of 16 elements, then the runs' sums (≤ 16 + 16 sequential adds),
 * the workgroup merges invocations as a tree, passes nest; the reference accumulates in
 * float64. Results agree within 1e-5·√K·max(1, |reference|) for K reduced elements (the
 * tests' tolerance; float products too). int32 sums and products wrap like int32
 * arithmetic, as the reference's int32 store does: exact.
 * max/min propagate NaN (tested by bits: lavapipe folds `x != x` to false), and of +0 and
 * −0 max gives +0 and min −0, as Math.max/min; argmax/argmin take the first extreme, NaN
 * counting as the extreme. logSumExp is max, then the exp-sum shifted by the max (an
 * infinite max shifts by 0), then log + shift, as the reference.
 */
import { sizeOf, type Attrs, type DType, type TensorType } from '../../../ir/index.js';
import type { KernelInput } from '../../backend.js';
import { axisSplit, reducePlan } from '../../reference/kernels/reduce.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';
import { packParams, paramStruct } from './params.js';
import { cachedCode, outputOf, type Outs } from './shape.js';
import { wgslType } from './elementwise.js';

type Inputs = readonly KernelInput<GpuStorage>[];
type Scalar = 'f32' | 'i32' | 'u32';
export type Combine = 'sum' | 'prod' | 'max' | 'min' | 'argmax' | 'argmin';

/** One run of dims of the view: its size and its element stride in the buffer. */
export interface Block {
  readonly dim: number;
  readonly stride: number;
}

/** A reduction's view of a buffer: output o walks `kept`, position k walks `red` (both row-major, outer first). */
export interface ReduceView {
  readonly kept: readonly Block[];
  readonly red: readonly Block[];
}

/** The view of reducing `shape` over `axes`: merged blocks (size-1 dims dropped) with their strides. */
export function reduceView(shape: readonly number[], axes: readonly number[]): ReduceView {
  const { dims, reduced } = reducePlan(shape, axes);
  const kept: Block[] = [], red: Block[] = [];
  let stride = 1;
  const blocks: { b: Block; r: boolean }[] = [];
  for (let i = dims.length - 1; i >= 0; i--) {
    blocks.unshift({ b: { dim: dims[i]!, stride }, r: reduced[i]! });
    stride *= dims[i]!;
  }
  for (const { b, r } of blocks) (r ? red : kept).push(b);
  return { kept, red };
}

/** The view of an arg-reduction along `axis` (null: the flattened tensor); k is the position along it. */
function argView(shape: readonly number[], axis: number | null): ReduceView {
  if (axis === null) {
    const n = sizeOf(shape);
    return { kept: [], red: n > 1 ? [{ dim: n, stride: 1 }] : [] };
  }
  const [outer, n, inner] = axisSplit(shape, axis);
  const kept = [{ dim: outer, stride: n * inner }, { dim: inner, stride: 1 }].filter((b) => b.dim > 1);
  return { kept, red: n > 1 ? [{ dim: n, stride: inner }] : [] };
}

const count = (blocks: readonly Block[]): number => blocks.reduce((a, b) => a * b.dim, 1);

/** How one pass is laid out. */
interface PassShape {
  readonly mode: 'wg' | 'th';
  /** Invocations per workgroup. */
  readonly wg: number;
  /** Reduced positions per (o, chunk). */
  readonly chunk: number;
}

function choosePass(k: number, view: ReduceView): PassShape {
  if (k <= 16) return { mode: 'th', wg: 64, chunk: Math.max(k, 1) };
  const last = view.kept[view.kept.length - 1];
  // Column reductions (the innermost dim kept, e.g. a bias gradient): an invocation per
  // output keeps reads coalesced, whatever the number of outputs.
  if (last !== undefined && last.stride === 1) return { mode: 'th', wg: 64, chunk: 256 };
  const wg = k >= 4096 ? 256 : 64;
  return { mode: 'wg', wg, chunk: wg * 64 };
}

/** The generated code of one pass: everything that changes the WGSL text is here (and in the key). */
interface PassSpec {
  readonly combine: Combine;
  /** Element type of the values read (the input on the first pass, partials later). */
  readonly src: Scalar;
  /** Accumulator type (also the partials' type). */
  readonly acc: Scalar;
  readonly nk: number;
  readonly nr: number;
  readonly shape: PassShape;
  /** Arg-reductions: the index is k (first pass) or read from the partial indices. */
  readonly first: boolean;
  /** logSumExp's exp pass: elements become exp(x − shift[o]) (first pass only). */
  readonly expShift: boolean;
  /** Writes the op's output (of type `out`) instead of partials. */
  readonly final: boolean;
  readonly out: Scalar;
  /** logSumExp's last step: the output is log(acc) + shift[o]. */
  readonly logShift: boolean;
}

const isArg = (c: Combine): boolean => c === 'argmax' || c === 'argmin';

const keyOf = (s: PassSpec): string =>
  `reduce.${s.combine}.${s.src}.${s.acc}.${s.nk}.${s.nr}.${s.shape.mode}${s.shape.wg}.${s.first ? 'first' : 'next'}.${s.expShift ? 'exp' : ''}.${s.final ? `final.${s.out}` : 'partial'}.${s.logShift ? 'log' : ''}`;

/** WGSL: the identity of a combine in `t`, as a runtime value (a constant ±inf is a WGSL error). */
function identity(c: Combine, t: Scalar): string {
  if (c === 'sum') return `${t}(0)`;
  if (c === 'prod') return `${t}(1)`;
  const high = c === 'min' || c === 'argmin';
  if (t === 'f32') return `bitcast<f32>(${high ? 'INF_BITS' : 'NEG_INF_BITS'})`;
  if (t === 'i32') return high ? 'i32(2147483647)' : 'i32(-2147483647 - 1)';
  return high ? '1u' : '0u';
}

/** WGSL functions: isNan/isInf by bits, and the combine of two accumulators (or whether (vb, ib) beats (va, ia)). */
function combineCode(c: Combine, t: Scalar): string {
  const helpers = `var<private> INF_BITS: u32 = 0x7f800000u;
var<private> NEG_INF_BITS: u32 = 0xff800000u;
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn isInf(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u; }
`;
  if (c === 'sum') return `${helpers}fn comb(a: ${t}, b: ${t}) -> ${t} { return a + b; }`;
  if (c === 'prod') return `${helpers}fn comb(a: ${t}, b: ${t}) -> ${t} { return a * b; }`;
  if (c === 'max' || c === 'min') {
    if (t !== 'f32') return `${helpers}fn comb(a: ${t}, b: ${t}) -> ${t} { return ${c}(a, b); }`;
    // Of ±0, max keeps +0 (the AND of the sign bits) and min −0 (the OR), as Math.max/min.
    return `${helpers}fn comb(a: f32, b: f32) -> f32 {
  if (isNan(a)) { return a; }
  if (isNan(b)) { return b; }
  if (a == b) { return bitcast<f32>(bitcast<u32>(a) ${c === 'max' ? '&' : '|'} bitcast<u32>(b)); }
  return select(a, b, b ${c === 'max' ? '>' : '<'} a);
}`;
  }
  const better = c === 'argmax' ? '>' : '<';
  const nan = t === 'f32'
    ? `  let na = isNan(va);
  let nb = isNan(vb);
  if (na || nb) { return nb && (!na || ib < ia); }\n`
    : '';
  return `${helpers}fn takeB(va: ${t}, ia: u32, vb: ${t}, ib: u32) -> bool {
${nan}  if (vb == va) { return ib < ia; }
  return vb ${better} va;
}`;
}

/** WGSL: the offset of output o's first element (kept blocks) or of position k (reduced blocks). */
function offsetFn(name: string, prefix: string, n: number): string {
  if (n === 0) return `fn ${name}(i: i32) -> i32 { return 0; }`;
  let body = '  var rest = i;\n  var off = 0;\n';
  for (let b = n - 1; b > 0; b--) body += `  off += (rest % p.${prefix}d${b}) * p.${prefix}s${b}; rest = rest / p.${prefix}d${b};\n`;
  body += `  off += rest * p.${prefix}s0;\n  return off;`;
  return `fn ${name}(i: i32) -> i32 {\n${body}\n}`;
}

function paramNames(s: PassSpec): string[] {
  const names = ['O', 'K', 'C', 'chunk', 'units'];
  for (let b = 0; b < s.nk; b++) names.push(`kd${b}`, `ks${b}`);
  for (let b = 0; b < s.nr; b++) names.push(`rd${b}`, `rs${b}`);
  return names;
}

/** Buffer bindings of a pass, in order, and the WGSL declaring them. */
function bindings(s: PassSpec): { names: string[]; decl: string } {
  const arg = isArg(s.combine);
  const decl: string[] = [];
  const names: string[] = [];
  const add = (name: string, type: string, write: boolean) => {
    decl.push(`@group(0) @binding(${names.length}) var<storage, ${write ? 'read_write' : 'read'}> ${name}: array<${type}>;`);
    names.push(name);
  };
  add('X', s.src, false);
  if (arg && !s.first) add('XI', 'u32', false);
  if (s.expShift || s.logShift) add('SH', 'f32', false);
  if (s.final) add('Y', arg ? 'i32' : s.out, true);
  else {
    add('PV', s.acc, true);
    if (arg) add('PI', 'u32', true);
  }
  return { names, decl: decl.join('\n') };
}

function passCode(s: PassSpec): string {
  const arg = isArg(s.combine);
  const { names, decl } = bindings(s);
  const wg = s.shape.wg;
  const load = s.src === s.acc ? 'X[off]' : `${s.acc}(X[off])`;
  const shift = s.expShift || s.logShift ? '  let sh = shiftOf(o);\n' : '';
  const value = s.expShift ? `exp(${load} - sh)` : load;
  // Fold element k (at `off`) into the invocation's accumulator.
  // float sums in two levels: runs of 16 added in order, the runs' sums added into
  // `total`, so an invocation's ≤ 256 elements see at most 16 + 16 sequential adds.
  const twoLevel = s.combine === 'sum' && s.acc === 'f32';
  const fold = arg
    ? `    let v = ${value};
    let ix = ${s.first ? 'u32(k)' : 'XI[off]'};
    if (takeB(acc, ai, v, ix)) { acc = v; ai = ix; }`
    : twoLevel
      ? `    acc = acc + ${value};
    run++;
    if (run == 16) { total = total + acc; acc = 0.0; run = 0; }`
      : `    acc = comb(acc, ${value});`;
  const init = `  var acc = ${identity(s.combine, s.acc)};\n${arg ? '  var ai = 0xffffffffu;\n' : ''}${twoLevel ? '  var run = 0;\n  var total = 0.0;\n' : ''}`;
  const unwind = twoLevel ? '  acc = total + acc;\n' : '';
  const store = (at: string) => {
    if (!s.final) return `PV[${at}] = acc;${arg ? ` PI[${at}] = ai;` : ''}`;
    if (arg) return `Y[o] = i32(ai);`;
    if (s.logShift) return `Y[o] = log(acc) + sh;`;
    return `Y[o] = ${s.out === s.acc ? 'acc' : `${s.out}(acc)`};`;
  };
  const header = `${paramStruct(paramNames(s), names.length)}
${decl}
${combineCode(s.combine, s.acc)}
${offsetFn('keptOff', 'k', s.nk)}
${offsetFn('redOff', 'r', s.nr)}
fn shiftOf(o: i32) -> f32 {
  ${s.expShift || s.logShift ? 'let m = SH[o];\n  return select(m, 0.0, isInf(m));' : 'return 0.0;'}
}
`;
  const loop = `  let base = keptOff(o);
  let k0 = c * p.chunk;
  let k1 = min(p.K, k0 + p.chunk);
${shift}${init}`;
  if (s.shape.mode === 'th') {
    return `${header}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let u = i32(wid.y * nwg.x + wid.x) * ${wg} + i32(lidx);
  if (u >= p.units) { return; }
  let o = u % p.O;
  let c = u / p.O;
${loop}  for (var k = k0; k < k1; k++) {
    let off = base + redOff(k);
${fold}
  }
${unwind}  ${store('u')}
}
`;
  }
  const tree = arg
    ? `      if (takeB(sv[lidx], si[lidx], sv[lidx + s], si[lidx + s])) { sv[lidx] = sv[lidx + s]; si[lidx] = si[lidx + s]; }`
    : '      sv[lidx] = comb(sv[lidx], sv[lidx + s]);';
  return `${header}
var<workgroup> sv: array<${s.acc}, ${wg}>;
${arg ? `var<workgroup> si: array<u32, ${wg}>;` : ''}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let u = i32(wid.y * nwg.x + wid.x);
  if (u >= p.units) { return; }
  let o = u / p.C;
  let c = u % p.C;
${loop}  for (var k = k0 + i32(lidx); k < k1; k += ${wg}) {
    let off = base + redOff(k);
${fold}
  }
${unwind}  sv[lidx] = acc;
  ${arg ? 'si[lidx] = ai;' : ''}
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (lidx < s) {
${tree}
    }
    workgroupBarrier();
  }
  if (lidx == 0u) {
    acc = sv[0];
    ${arg ? 'ai = si[0];' : ''}
    ${store('u')}
  }
}
`;
}

const dtypeOf = (t: Scalar): DType => (t === 'f32' ? 'float32' : t === 'i32' ? 'int32' : 'bool');

/** What a reduction reads and writes besides its view. */
interface ReduceJob {
  readonly combine: Combine;
  readonly input: GpuStorage;
  readonly src: Scalar;
  readonly acc: Scalar;
  readonly view: ReduceView;
  readonly out: GpuStorage;
  readonly outType: Scalar;
  /** logSumExp's exp-sum: the per-output max. */
  readonly shift?: GpuStorage;
}

/**
 * Records the passes of one reduction (K ≥ 1, O ≥ 1) into `job.out`. Partials are
 * scratch storages freed once their passes are recorded (safe: the backend hands a freed
 * buffer only to work recorded after the passes that read it).
 */
function runReduction(backend: WebGpuBackend, job: ReduceJob): void {
  const arg = isArg(job.combine);
  let view = job.view;
  let values = job.input.buffer;
  let indices: GPUBuffer | null = null;
  let src = job.src;
  let first = true;
  const scratch: GpuStorage[] = [];
  for (;;) {
    const o = count(view.kept), k = count(view.red);
    const shape = choosePass(k, view);
    const c = Math.ceil(k / shape.chunk);
    const final = c === 1;
    const spec: PassSpec = {
      combine: job.combine, src, acc: job.acc, nk: view.kept.length, nr: view.red.length, shape, first,
      expShift: first && job.shift !== undefined, final, out: job.outType, logShift: final && job.shift !== undefined,
    };
    const buffers: GPUBuffer[] = [values];
    if (arg && !first) buffers.push(indices!);
    if (spec.expShift || spec.logShift) buffers.push(job.shift!.buffer);
    let pv: GpuStorage | null = null, pi: GpuStorage | null = null;
    if (final) buffers.push(job.out.buffer);
    else {
      pv = backend.alloc(dtypeOf(job.acc), o * c);
      scratch.push(pv);
      buffers.push(pv.buffer);
      if (arg) {
        pi = backend.alloc('int32', o * c);
        scratch.push(pi);
        buffers.push(pi.buffer);
      }
    }
    const units = o * c;
    const values_: Record<string, number> = { O: o, K: k, C: c, chunk: shape.chunk, units };
    view.kept.forEach((b, i) => { values_[`kd${i}`] = b.dim; values_[`ks${i}`] = b.stride; });
    view.red.forEach((b, i) => { values_[`rd${i}`] = b.dim; values_[`rs${i}`] = b.stride; });
    const key = keyOf(spec);
    const code = cachedCode(key, () => passCode(spec));
    const groups = shape.mode === 'wg' ? units : Math.ceil(units / shape.wg);
    backend.dispatch({ key, code, buffers, uniforms: packParams(paramNames(spec), values_), workgroups: backend.grid(groups, 1) });
    if (final) break;
    // Next pass: the partials, [O, C] from a workgroup pass, [C, O] from a thread pass.
    const keptB = o > 1 ? [{ dim: o, stride: shape.mode === 'wg' ? c : 1 }] : [];
    view = { kept: keptB, red: [{ dim: c, stride: shape.mode === 'wg' ? 1 : o }] };
    values = pv!.buffer;
    indices = pi?.buffer ?? null;
    src = job.acc;
    first = false;
  }
  for (const s of scratch) backend.free(s);
}

/** Output 0 (given or fresh) with every element `value` (backend.fill: a dispatch, ordered with the others). */
function filled(backend: WebGpuBackend, t: TensorType, outs: Outs, value: number): GpuStorage {
  const s = outputOf(backend, t, outs);
  backend.fill(s, value);
  return s;
}

/** sum/prod/max/min: identity-filled output for an empty reduction, else the passes. */
function valueReduction(combine: 'sum' | 'prod' | 'max' | 'min') {
  return (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
    const view = reduceView(x!.shape, attrs['axes'] as number[]);
    // Accumulates in the output's type (bool sums and products count in int32).
    const outType = wgslType(t!.dtype);
    const acc = outType;
    if (sizeOf(x!.shape) === 0) {
      // An empty reduction (max/min refuse one at inference) is the identity; an empty output has nothing to write.
      return [filled(backend, t!, outs, combine === 'prod' ? 1 : 0)];
    }
    const out = outputOf(backend, t!, outs);
    runReduction(backend, { combine, input: x!.storage, src: wgslType(x!.dtype), acc, view, out, outType });
    return [out];
  };
}

function argReduction(combine: 'argmax' | 'argmin') {
  return (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
    const out = outputOf(backend, t!, outs);
    if (sizeOf(t!.shape) === 0) return [out];
    const src = wgslType(x!.dtype);
    runReduction(backend, { combine, input: x!.storage, src, acc: src, view: argView(x!.shape, attrs['axis'] as number | null), out, outType: 'i32' });
    return [out];
  };
}

const logSumExp = (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const o = sizeOf(t!.shape);
  // Nothing to reduce: log(0) = −∞ per output.
  if (sizeOf(x!.shape) === 0) return [filled(backend, t!, outs, -Infinity)];
  const view = reduceView(x!.shape, attrs['axes'] as number[]);
  const src = wgslType(x!.dtype);
  const shift = backend.alloc('float32', o);
  runReduction(backend, { combine: 'max', input: x!.storage, src, acc: 'f32', view, out: shift, outType: 'f32' });
  const out = outputOf(backend, t!, outs);
  runReduction(backend, { combine: 'sum', input: x!.storage, src, acc: 'f32', view, out, outType: 'f32', shift });
  backend.free(shift);
  return [out];
};

const elementCount = (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  let n = 1;
  for (const a of attrs['axes'] as number[]) n *= x!.shape[a]!;
  return [filled(backend, t!, outs, n)];
};

registerWebGpuKernels({
  sum: valueReduction('sum'),
  prod: valueReduction('prod'),
  max: valueReduction('max'),
  min: valueReduction('min'),
  argmax: argReduction('argmax'),
  argmin: argReduction('argmin'),
  logSumExp,
  elementCount,
});
