// Elementwise kernels (unary, binary, compare, logical, where, clip, cast, copy) from one
// WGSL template: each input is read at the output's index ('same'), at 0 ('scalar'), or
// through broadcast strides ('strided', shapes and strides in a uniform), and one
// expression per op computes the output. Pipelines are keyed by op, dtypes and the read
// mode of each input, so shapes never create pipelines.
import { KilnError, type Attrs, type DType } from '../../../ir/index.js';
import type { Kernel, KernelInput } from '../../backend.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels, type WebGpuKernelFactory } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';

/** Most dimensions a strided (broadcast) input may have. */
const MAX_RANK = 8;
const WORKGROUP = 256;

type ReadMode = 'same' | 'scalar' | 'strided';

/** The WGSL scalar type holding a dtype's 4-byte element (bool is u32 0/1). */
function wgslType(dtype: DType): 'f32' | 'i32' | 'u32' {
  switch (dtype) {
    case 'float32': return 'f32';
    case 'int32': return 'i32';
    case 'bool': return 'u32';
    default: throw new KilnError(`the webgpu backend has no ${dtype} elements (float32, int32 and bool only)`);
  }
}

/**
 * One elementwise op: `expr` is a WGSL expression of the input values `a`, `b`, `c`
 * (in their dtypes' WGSL types, bool as u32) and the float parameters `p.f.x..w`,
 * giving the output in the output dtype's WGSL type.
 */
export interface ElementwiseSpec {
  /** The expression, given the input and output dtypes (ops differ for int32 and float32). */
  expr(ins: readonly DType[], out: DType): string;
  /** Up to 4 float parameters from the attributes (uniforms: no pipeline per value). */
  params?(attrs: Attrs): readonly number[];
}

/** WGSL helpers every elementwise shader may call. */
const HELPERS = /* wgsl */ `
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
`;

function readMode(x: KernelInput<GpuStorage>, outSize: number): ReadMode {
  if (x.storage.size === 1) return 'scalar';
  if (x.storage.size === outSize) return 'same';
  return 'strided';
}

/** Right-aligned strides of `shape` inside `outShape`, 0 along broadcast dimensions. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
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

/** The WGSL of one op for these input dtypes and read modes. */
function shaderOf(spec: ElementwiseSpec, ins: readonly DType[], modes: readonly ReadMode[], out: DType): string {
  const strided = modes.includes('strided');
  const lines: string[] = [HELPERS];
  lines.push('struct Params { n: u32, rank: u32, _p0: u32, _p1: u32, f: vec4f,');
  if (strided) {
    lines.push(`  shape: array<vec4u, ${MAX_RANK / 4}>,`);
    for (let k = 0; k < ins.length; k++) lines.push(`  s${k}: array<vec4u, ${MAX_RANK / 4}>,`);
  }
  lines.push('}');
  ins.forEach((dt, k) => lines.push(`@group(0) @binding(${k}) var<storage, read> in${k}: array<${wgslType(dt)}>;`));
  lines.push(`@group(0) @binding(${ins.length}) var<storage, read_write> out: array<${wgslType(out)}>;`);
  lines.push(`@group(0) @binding(${ins.length + 1}) var<uniform> p: Params;`);
  lines.push(`@compute @workgroup_size(${WORKGROUP})`);
  lines.push('fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {');
  lines.push(`  let i = gid.x + gid.y * nw.x * ${WORKGROUP}u;`);
  lines.push('  if (i >= p.n) { return; }');
  if (strided) {
    ins.forEach((_, k) => modes[k] === 'strided' && lines.push(`  var j${k} = 0u;`));
    lines.push('  var rem = i;');
    lines.push('  for (var d = i32(p.rank) - 1; d >= 0; d--) {');
    lines.push('    let size = p.shape[d / 4][d % 4];');
    lines.push('    let coord = rem % size;');
    lines.push('    rem = rem / size;');
    ins.forEach((_, k) => modes[k] === 'strided' && lines.push(`    j${k} += coord * p.s${k}[d / 4][d % 4];`));
    lines.push('  }');
  }
  ins.forEach((_, k) => {
    const at = modes[k] === 'same' ? 'i' : modes[k] === 'scalar' ? '0u' : `j${k}`;
    lines.push(`  let ${NAMES[k]} = in${k}[${at}];`);
  });
  lines.push(`  out[i] = ${spec.expr(ins, out)};`);
  lines.push('}');
  return lines.join('\n');
}

/** The kernel of one elementwise op on `backend`. */
export function elementwiseKernel(name: string, spec: ElementwiseSpec): WebGpuKernelFactory {
  return (backend: WebGpuBackend): Kernel<GpuStorage> => (inputs, attrs, outTypes) => {
    const outType = outTypes[0]!;
    let n = 1;
    for (const d of outType.shape) n *= d;
    const y = backend.alloc(outType.dtype, n);
    if (n === 0) return [y];
    const modes = inputs.map((x) => readMode(x, n));
    const ins = inputs.map((x) => x.dtype);
    const strided = modes.includes('strided');
    const rank = outType.shape.length;
    if (strided && rank > MAX_RANK) throw new KilnError(`broadcasting over more than ${MAX_RANK} dimensions is not supported on webgpu`, { op: name });
    const words = new Uint32Array(8 + (strided ? MAX_RANK * (1 + inputs.length) : 0));
    words[0] = n;
    words[1] = rank;
    const f = new Float32Array(words.buffer, 16, 4);
    const params = spec.params?.(attrs) ?? [];
    for (let k = 0; k < params.length; k++) f[k] = params[k]!;
    if (strided) {
      words.set(outType.shape, 8);
      inputs.forEach((x, k) => {
        if (modes[k] === 'strided') words.set(broadcastStrides(x.shape, outType.shape), 8 + MAX_RANK * (1 + k));
      });
    }
    const key = `ew.${name}.${ins.join(',')}>${outType.dtype}.${modes.join(',')}`;
    backend.dispatch({
      key,
      code: shaderOf(spec, ins, modes, outType.dtype),
      buffers: [...inputs.map((x) => x.storage.buffer), y.buffer],
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

registerElementwise({
  add: { expr: () => 'a + b' },
});
