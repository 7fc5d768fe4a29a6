// `fusedElementwise` on wasm: one generated SIMD kernel per program, which reads each
// input once and writes the result once, instead of one pass over memory per op.
//
// The kernel is `simdElementwise.ts`'s loop (`emitSimdKernel`: 16 elements per iteration,
// then one v128, then a scalar tail; inputs contiguous 'v' or broadcast 's' within a row,
// per-row steps) with the program as its body: every step keeps its value in a local
// (v128 in the vector body, f32/i32 in the scalar tail) and is computed by the same
// per-op code the single-op kernels use (`BINARY_OPS`, `UNARY_OPS`, `SIMD_MATH`...), so a
// fused program gives, bit for bit, what its ops give run one by one as generated
// kernels. Transcendentals are `SIMD_MATH`'s approximations (their accuracy is stated
// there); the scalar tail runs their vector code on a splat, so every lane of a tensor
// is computed alike.
//
// Broadcasts: inputs of the output's size or of one element are one flat call; other
// broadcasts are laid out by `planBroadcast` as rows × cols calls (a row-broadcast
// vector `[…, C] ∘ [C]` is one call), outer dims looped in JS.
import { oneOutput } from '../../backend.js';
import { parseProgram, programDtypes, PROGRAM_OPS, type DType, type ElementwiseProgram, type ProgramStep } from '../../../ir/index.js';
import { registerNativeKernels, type NativeKernelFactory } from '../nativeKernels.js';
import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';
import { forEachOuter, planBroadcast, type BroadcastPlan } from './elementwise.js';
import { BINARY_OPS, COMPARE_OPS, emitSimdKernel, LOGICAL_OPS, UNARY_OPS, type Kind, type Mode } from './simdElementwise.js';
import { SIMD_MATH, SIMD_MATH_PARAMS } from './simdMath.js';

/**
 * The ops a generated fused kernel computes (the wasm target's `elementwiseKernels`):
 * those with a SIMD body here and a place in programs (`PROGRAM_OPS`).
 */
export const FUSED_ELEMENTWISE_OPS: readonly string[] = [
  ...Object.keys(BINARY_OPS), ...Object.keys(COMPARE_OPS), ...Object.keys(LOGICAL_OPS), 'logicalNot', 'where',
  ...Object.keys(UNARY_OPS), ...Object.keys(SIMD_MATH),
].filter((op, i, all) => Object.hasOwn(PROGRAM_OPS, op) && all.indexOf(op) === i);

/** f32 params of a unary step: its attributes in the order the op's code takes them (a missing clip bound is ∓∞). */
function paramsOf(s: ProgramStep): number[] {
  if (s.op === 'clip') return [(s.attrs['min'] as number | null) ?? -Infinity, (s.attrs['max'] as number | null) ?? Infinity];
  return (SIMD_MATH_PARAMS[s.op] ?? PROGRAM_OPS[s.op]!.attrs).map((a) => s.attrs[a] as number);
}

type More = { vtmp: number; extra: number };

/**
 * The kernel body of `p` (input dtypes `ins`): vector and scalar expressions for
 * `emitSimdKernel`, with the locals they use. The main loop's four groups run step by
 * step (`vecGroups`: step k of every group, then step k+1), so a long program keeps four
 * independent chains side by side, as the single-op kernels' loops do.
 */
function programBodies(p: ElementwiseProgram, ins: readonly DType[]): {
  locals: ValType[]; vlocals: number;
  vec: (x: readonly Code[], more: More) => Code;
  vecGroups: (x: readonly (readonly Code[])[], more: More) => { code: Code; results: Code[] };
  sc: (x: readonly Code[], tmp: number, more: More) => Code;
} {
  const dtypes = programDtypes(p, ins);
  const S = p.steps.length, K = p.inputs, G = 4;
  // Locals from `extra`: one v128 per step and group (group-major), then one scalar per step (f32, or i32 0/1 for bool).
  const locals: ValType[] = [...new Array<ValType>(G * S).fill(T.v128), ...dtypes.map((d) => (d === 'bool' ? T.i32 : T.f32))];
  const vlocals = Math.max(0, ...p.steps.map((s) => SIMD_MATH[s.op]?.locals ?? 0));
  for (const s of p.steps) {
    if (!BINARY_OPS[s.op] && !COMPARE_OPS[s.op] && !LOGICAL_OPS[s.op] && !UNARY_OPS[s.op] && !SIMD_MATH[s.op] && s.op !== 'where' && s.op !== 'logicalNot') {
      throw new Error(`no fused SIMD code for ${s.op}`);
    }
  }
  const vloc = (more: More, u: number, k: number): number => more.extra + u * S + k;
  const sloc = (more: More, k: number): number => more.extra + G * S + k;
  /** One step on v128 lanes. */
  const vecStep = (s: ProgramStep, [a, b, c]: Code[], more: More): Code => {
    const bin = BINARY_OPS[s.op] ?? COMPARE_OPS[s.op] ?? LOGICAL_OPS[s.op];
    if (bin) return bin.v(a!, b!);
    if (s.op === 'where') return cat(b!, c!, a!, I.v128Bitselect());
    if (s.op === 'logicalNot') return cat(a!, I.v128Not());
    const math = SIMD_MATH[s.op];
    if (math) return math.vec(a!, more.vtmp, paramsOf(s).map((v) => I.f32(v)));
    return UNARY_OPS[s.op]!.v(a!, paramsOf(s).map((v) => I.f32x4Const(v)));
  };
  /** One step on scalars. */
  const scStep = (s: ProgramStep, [a, b, c]: Code[], tmp: number, more: More): Code => {
    const bin = BINARY_OPS[s.op] ?? COMPARE_OPS[s.op] ?? LOGICAL_OPS[s.op];
    if (bin) return bin.s(a!, b!);
    if (s.op === 'where') return cat(b!, c!, a!, I.select());
    if (s.op === 'logicalNot') return cat(a!, I.i32Eqz());
    const math = SIMD_MATH[s.op];
    // The vector code on a splat: the tail computes exactly what the lanes do.
    if (math) return cat(math.vec(cat(a!, I.f32x4Splat()), more.vtmp, paramsOf(s).map((v) => I.f32(v))), I.f32x4ExtractLane(0));
    return UNARY_OPS[s.op]!.s(a!, paramsOf(s).map((v) => I.f32(v)), tmp);
  };
  const args = (s: ProgramStep, x: readonly Code[], local: (k: number) => number): Code[] => s.args.map((slot) => (slot < K ? x[slot]! : I.get(local(slot - K))));
  // One group: every step into its local but the last, whose value is left on the stack.
  const vec = (x: readonly Code[], more: More): Code => cat(...p.steps.map((s, k) =>
    cat(vecStep(s, args(s, x, (j) => vloc(more, 0, j)), more), k === S - 1 ? [] : I.set(vloc(more, 0, k)))));
  const vecGroups = (x: readonly (readonly Code[])[], more: More): { code: Code; results: Code[] } => ({
    code: cat(...p.steps.flatMap((s, k) => x.map((xu, u) => cat(vecStep(s, args(s, xu, (j) => vloc(more, u, j)), more), I.set(vloc(more, u, k)))))),
    results: x.map((_xu, u) => I.get(vloc(more, u, S - 1))),
  });
  const sc = (x: readonly Code[], tmp: number, more: More): Code => cat(...p.steps.map((s, k) =>
    cat(scStep(s, args(s, x, (j) => sloc(more, j)), tmp, more), k === S - 1 ? [] : I.set(sloc(more, k)))));
  return { locals, vlocals, vec, vecGroups, sc };
}

const kindOf = (d: DType): Kind => (d === 'bool' ? 'u8' : 'f32');

/** A module exporting `k`: program `p` over inputs of dtypes `ins` read in `modes`, per the `emitSimdKernel` calling convention. */
export function fusedElementwiseModule(p: ElementwiseProgram, ins: readonly DType[], modes: readonly Mode[]): Uint8Array<ArrayBuffer> {
  const b = programBodies(p, ins);
  const out = programDtypes(p, ins).at(-1)!;
  const m = new ModuleBuilder().importMemory();
  emitSimdKernel(m, {
    name: 'k', ins: ins.map((d, k) => ({ kind: kindOf(d), mode: modes[k]! })), out: kindOf(out), params: 0,
    vlocals: b.vlocals, locals: b.locals,
    vec: (x, _p, _t, more) => b.vec(x, more),
    vecGroups: (x, _p, _t, more) => b.vecGroups(x, more),
    sc: (x, _p, tmp, more) => b.sc(x, tmp, more),
  });
  return m.bytes();
}

type FusedKernel = (...args: number[]) => void;

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** What a call needs beyond pointers, kept per attrs object (a plan passes the same one every run). */
interface Prepared {
  readonly program: string;
  readonly shapes: (readonly number[])[];
  readonly dtypes: DType[];
  readonly plan: BroadcastPlan;
  readonly k: FusedKernel;
}

function sameShapes(inputs: readonly { shape: readonly number[]; dtype: DType }[], p: Prepared): boolean {
  if (inputs.length !== p.shapes.length) return false;
  for (let i = 0; i < inputs.length; i++) {
    const a = inputs[i]!.shape, b = p.shapes[i]!;
    if (a.length !== b.length || inputs[i]!.dtype !== p.dtypes[i]) return false;
    for (let d = 0; d < a.length; d++) if (a[d] !== b[d]) return false;
  }
  return true;
}

const fusedElementwise: NativeKernelFactory = (backend) => {
  const prepared = new WeakMap<object, Prepared>();
  const prepare = (inputs: readonly { shape: readonly number[]; dtype: DType; storage: { size: number } }[], attrs: Record<string, unknown>, ot: { shape: readonly number[]; dtype: DType }, n: number): Prepared => {
    const p = parseProgram(attrs['program'] as string);
    const dtypes = inputs.map((x) => x.dtype);
    let plan: BroadcastPlan;
    if (inputs.every((x) => x.storage.size === n || x.storage.size === 1)) {
      plan = { rows: 1, cols: n, modes: inputs.map((x) => (x.storage.size === n ? 'v' : 's')), steps: inputs.map(() => 0), outer: [] };
    } else {
      // Any broadcast has a plan at minCallWork 0 (outer dims looped in JS).
      plan = planBroadcast(inputs.map((x) => x.shape), ot.shape, dtypes.map((d) => (d === 'bool' ? 1 : 4)), ot.dtype === 'bool' ? 1 : 4, 0)!;
    }
    const key = `fusedElementwise ${plan.modes.join('')} ${dtypes.map(kindOf).join(',')} ${p.text}`;
    const k = kernelsOn<Readonly<Record<string, FusedKernel>>>(backend.memory, key, () => fusedElementwiseModule(p, dtypes, plan.modes))['k']!;
    return { program: attrs['program'] as string, shapes: inputs.map((x) => x.shape.slice()), dtypes, plan, k };
  };
  return (inputs, attrs, outTypes, outs) => {
    const ot = outTypes[0]!;
    const n = sizeOf(ot.shape);
    const out = outs?.[0] ?? backend.alloc(ot.dtype, n);
    if (n === 0) return oneOutput(out, outs);
    let pr = prepared.get(attrs);
    if (!pr || pr.program !== attrs['program'] || !sameShapes(inputs, pr)) {
      pr = prepare(inputs, attrs, ot, n);
      prepared.set(attrs, pr);
    }
    const { plan, k } = pr;
    const { rows, cols, steps } = plan;
    // The flat case without arrays (the kernel reads each input before writing: `out` may be one of them).
    if (plan.outer.length === 0) {
      const o = out.ptr;
      switch (inputs.length) {
        case 1: k(inputs[0]!.storage.ptr, o, rows, cols, steps[0]!); return oneOutput(out, outs);
        case 2: k(inputs[0]!.storage.ptr, inputs[1]!.storage.ptr, o, rows, cols, steps[0]!, steps[1]!); return oneOutput(out, outs);
        case 3: k(inputs[0]!.storage.ptr, inputs[1]!.storage.ptr, inputs[2]!.storage.ptr, o, rows, cols, steps[0]!, steps[1]!, steps[2]!); return oneOutput(out, outs);
        case 4: k(inputs[0]!.storage.ptr, inputs[1]!.storage.ptr, inputs[2]!.storage.ptr, inputs[3]!.storage.ptr, o, rows, cols, steps[0]!, steps[1]!, steps[2]!, steps[3]!); return oneOutput(out, outs);
      }
    }
    forEachOuter(plan, inputs.map((x) => x.storage.ptr), out.ptr, (ptrs, o) => k(...ptrs, o, rows, cols, ...steps));
    return oneOutput(out, outs);
  };
};

registerNativeKernels({ fusedElementwise });
