// `fusedElementwise` on webgpu: one generated WGSL shader per program, which reads each
// input once and writes the result once, instead of one dispatch and one pass over
// memory per op.
//
// Every step is the single-op kernel's own code (`ELEMENTWISE_SPECS`, elementwise.ts)
// wrapped in a WGSL function of its raw operands, so a fused program computes what its
// ops compute dispatched one by one. Inputs are read as the single-op kernels read them
// (same index, one element, or broadcast strides from a uniform). Pipelines are keyed
// by the program text, the input dtypes and read modes, so shapes never create one.
import { parseProgram, programDtypes, PROGRAM_OPS, KilnError, type DType, type ElementwiseProgram, type ProgramStep } from '../../../ir/index.js';
import type { Kernel } from '../../backend.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';
import {
  broadcastFields, broadcastIndices, broadcastStrides, computeType, convertValue, ELEMENTWISE_SPECS, MAX_RANK, readIndex, readMode, WGSL_HELPERS, wgslType, WORKGROUP, type ReadMode,
} from './elementwise.js';

/**
 * The ops a generated fused shader computes (the webgpu target's `elementwiseKernels`):
 * those with a single-op WGSL spec and a place in programs (`PROGRAM_OPS`).
 */
export const WEBGPU_FUSED_ELEMENTWISE_OPS: readonly string[] = Object.keys(PROGRAM_OPS).filter((op) => Object.hasOwn(ELEMENTWISE_SPECS, op));

/**
 * Step `k` of a program (or any named op application: `step<k>`) as a WGSL function of its raw operands (`r0`, `r1`, `r2`) and its
 * params `p`, which shadows the shader's uniforms inside it: the op's expression reads
 * `p.f` (its float attributes) and `p.inf_bits`/`p.nan_bits` as in its own kernel.
 */
export function stepFunction(k: number | string, s: ProgramStep, ins: readonly DType[], out: DType): string {
  const spec = ELEMENTWISE_SPECS[s.op];
  if (!spec) throw new KilnError(`no WGSL code for '${s.op}' in a fused elementwise program`, { op: 'fusedElementwise' });
  const t = computeType(spec, ins, out);
  const names = ['a', 'b', 'c'] as const;
  const raw = ins.map((_, j) => `r${j}`);
  const lines = [`fn step${k}(${ins.map((d, j) => `${raw[j]}: ${wgslType(d)}`).join(', ')}, p: StepParams) -> ${wgslType(out)} {`];
  ins.forEach((d, j) => lines.push(`  let ${names[j]} = ${t ? convertValue(raw[j]!, wgslType(d), t) : raw[j]!};`));
  const e = spec.expr({ t: t ?? wgslType(out), args: names.slice(0, ins.length), raw, ins, out, conv: (j, to) => convertValue(raw[j]!, wgslType(ins[j]!), to) });
  lines.push(`  return ${spec.bool ? `select(0u, 1u, ${e})` : e};`, '}');
  return lines.join('\n');
}

/** The params struct every step function takes (see `stepFunction`). */
export const STEP_PARAMS = 'struct StepParams { f: vec4f, inf_bits: u32, nan_bits: u32 }';

/** The WGSL of program `p` over inputs of dtypes `ins` read in `modes`. */
export function fusedElementwiseShader(p: ElementwiseProgram, ins: readonly DType[], modes: readonly ReadMode[]): string {
  const dtypes = [...ins, ...programDtypes(p, ins)];
  const out = dtypes[dtypes.length - 1]!;
  const lines: string[] = [WGSL_HELPERS, STEP_PARAMS];
  p.steps.forEach((s, k) => lines.push(stepFunction(k, s, s.args.map((a) => dtypes[a]!), dtypes[ins.length + k]!)));
  // Each step's float attributes in `sp` (uniforms, not literals: WGSL rejects a constant
  // NaN or infinity, and values need no pipeline of their own).
  lines.push(`struct Params { n: u32, rank: u32, inf_bits: u32, nan_bits: u32, sp: array<vec4f, ${p.steps.length}>,`);
  lines.push(...broadcastFields(modes), '}');
  ins.forEach((d, k) => lines.push(`@group(0) @binding(${k}) var<storage, read> in${k}: array<${wgslType(d)}>;`));
  lines.push(`@group(0) @binding(${ins.length}) var<storage, read_write> out: array<${wgslType(out)}>;`);
  lines.push(`@group(0) @binding(${ins.length + 1}) var<uniform> p: Params;`);
  lines.push(`@compute @workgroup_size(${WORKGROUP})`);
  lines.push('fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {');
  lines.push(`  let i = gid.x + gid.y * nw.x * ${WORKGROUP}u;`);
  lines.push('  if (i >= p.n) { return; }');
  lines.push(...broadcastIndices(modes));
  ins.forEach((_, k) => lines.push(`  let v${k} = in${k}[${readIndex(modes, k)}];`));
  p.steps.forEach((s, k) => {
    lines.push(`  let v${ins.length + k} = step${k}(${s.args.map((a) => `v${a}`).join(', ')}, StepParams(p.sp[${k}], p.inf_bits, p.nan_bits));`);
  });
  lines.push(`  out[i] = v${dtypes.length - 1};`, '}');
  return lines.join('\n');
}

/** Shader text by pipeline key: generated once, not per dispatch. */
const shaders = new Map<string, string>();

const fusedElementwise = (backend: WebGpuBackend): Kernel<GpuStorage> => (inputs, attrs, outTypes, outs) => {
  const p = parseProgram(attrs['program'] as string);
  const ot = outTypes[0]!;
  let n = 1;
  for (const d of ot.shape) n *= d;
  const y = outs?.[0] ?? backend.alloc(ot.dtype, n);
  if (n === 0) return [y];
  const modes = inputs.map((x) => readMode(x, n));
  const ins = inputs.map((x) => x.dtype);
  const strided = modes.includes('strided');
  const rank = ot.shape.length;
  if (strided && rank > MAX_RANK) throw new KilnError(`broadcasting over more than ${MAX_RANK} dimensions is not supported on webgpu`, { op: 'fusedElementwise' });
  const S = p.steps.length, at = 4 + 4 * S;
  const words = new Uint32Array(at + (strided ? MAX_RANK * (1 + inputs.length) : 0));
  words[0] = n;
  words[1] = rank;
  words[2] = 0x7f800000;
  words[3] = 0x7fc00000;
  const f = new Float32Array(words.buffer, 16, 4 * S);
  p.steps.forEach((s, k) => f.set((ELEMENTWISE_SPECS[s.op]!.params?.(s.attrs) ?? []).slice(0, 4), 4 * k));
  if (strided) {
    words.set(ot.shape, at);
    inputs.forEach((x, k) => {
      if (modes[k] === 'strided') words.set(broadcastStrides(x.shape, ot.shape), at + MAX_RANK * (1 + k));
    });
  }
  const key = `fused.${ins.join(',')}.${modes.join(',')}.${p.text}`;
  let code = shaders.get(key);
  if (code === undefined) shaders.set(key, (code = fusedElementwiseShader(p, ins, modes)));
  backend.dispatch({
    key,
    code,
    buffers: [...inputs.map((x) => x.storage.buffer), y.buffer],
    uniforms: words,
    workgroups: backend.grid(n, WORKGROUP),
  });
  return [y];
};

registerWebGpuKernels({ fusedElementwise });
