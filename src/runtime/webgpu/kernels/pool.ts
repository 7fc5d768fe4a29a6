/**
 * NCHW pooling on the webgpu backend, with the reference kernels' semantics:
 * - maxPool2d: windows clipped to the input (padding is -inf); NaN if the window holds
 *   one; +0 above -0 (Math.max); -inf for a window of padding only.
 * - maxPool2dGrad: dy goes to the first maximum of each window in row-major order (the
 *   first NaN if any). Gathered per input element (no float atomics in WGSL): each adds
 *   the dy of the windows whose argmax it is, in increasing output order, in f32, which
 *   is the reference's order and rounding.
 * - avgPool2d(+Grad): zero padding; divisor kH·kW clipped to the padded input
 *   (countIncludePad) or the window's real elements. The gradient gathers the same way.
 * NaN tests compare bits (`isNan`), so a compiler that assumes no NaN cannot drop them.
 */
import { sizeOf, type Attrs, type TensorType } from '../../../ir/index.js';
import type { KernelInput } from '../../backend.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';
import { packParams, paramStruct } from './params.js';

type Pool = (backend: WebGpuBackend) => (inputs: readonly KernelInput<GpuStorage>[], attrs: Attrs, outTypes: readonly TensorType[], outs?: readonly (GpuStorage | undefined)[]) => GpuStorage[];

const WG = 64;
const PARAMS = ['total', 'H', 'W', 'OH', 'OW', 'kh', 'kw', 'sh', 'sw', 'pt', 'pl', 'pb', 'pr', 'countIncludePad'] as const;

/** WGSL shared by the pool shaders: bindings, NaN test by bits, window bounds, divisors. */
function poolShader(inputs: readonly string[], body: string): string {
  const decls = inputs.map((name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`);
  return `${decls.join('\n')}
@group(0) @binding(${inputs.length}) var<storage, read_write> Out: array<f32>;
${paramStruct(PARAMS, inputs.length + 1)}

// Runtime bit patterns: WGSL rejects a constant-expression infinity or NaN.
fn fromBits(b: u32) -> f32 { return bitcast<f32>(b); }
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn floorDiv(a: i32, b: i32) -> i32 { return select(a / b, -((-a + b - 1) / b), a < 0); }

/** Window of output (oh, ow) clipped to the input: (h0, h1, w0, w1). */
fn window(oh: i32, ow: i32) -> vec4<i32> {
  let hs = oh * p.sh - p.pt;
  let ws = ow * p.sw - p.pl;
  return vec4<i32>(max(hs, 0), min(hs + p.kh, p.H), max(ws, 0), min(ws + p.kw, p.W));
}

/** The reference's divisor of avgPool2d for output (oh, ow). */
fn divisor(oh: i32, ow: i32) -> f32 {
  let b = window(oh, ow);
  if (p.countIncludePad != 0) {
    let hs = oh * p.sh - p.pt;
    let ws = ow * p.sw - p.pl;
    return f32((min(hs + p.kh, p.H + p.pb) - hs) * (min(ws + p.kw, p.W + p.pr) - ws));
  }
  return f32((b.y - b.x) * (b.w - b.z));
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let e = i32(wid.y * nwg.x + wid.x) * ${WG} + i32(lidx);
  if (e >= p.total) { return; }
${body}
}
`;
}

/** One invocation per output element: plane, oh, ow. */
const PER_OUTPUT = `
  let ow = e % p.OW;
  let oh = (e / p.OW) % p.OH;
  let plane = e / (p.OW * p.OH);
  let b = window(oh, ow);
  let base = plane * p.H * p.W;`;

/** One invocation per input element, with the range of outputs whose window holds it. */
const PER_INPUT = `
  let w = e % p.W;
  let h = (e / p.W) % p.H;
  let plane = e / (p.W * p.H);
  let base = plane * p.H * p.W;
  let obase = plane * p.OH * p.OW;
  // Output oh holds row h when oh·sh − pt ≤ h < oh·sh − pt + kh.
  let oh0 = max(floorDiv(h + p.pt - p.kh, p.sh) + 1, 0);
  let oh1 = min(floorDiv(h + p.pt, p.sh), p.OH - 1);
  let ow0 = max(floorDiv(w + p.pl - p.kw, p.sw) + 1, 0);
  let ow1 = min(floorDiv(w + p.pl, p.sw), p.OW - 1);
  var acc = 0.0;`;

const MAX_POOL = poolShader(['X'], `${PER_OUTPUT}
  var m = fromBits(0xff800000u);
  var nan = false;
  for (var hh = b.x; hh < b.y; hh++) {
    for (var ww = b.z; ww < b.w; ww++) {
      let v = X[base + hh * p.W + ww];
      if (isNan(v)) { nan = true; }
      else if (v > m || (v == m && bitcast<u32>(m) == 0x80000000u)) { m = v; }
    }
  }
  Out[e] = select(m, fromBits(0x7fc00000u), nan);`);

const MAX_POOL_GRAD = poolShader(['X', 'Dy'], `${PER_INPUT}
  for (var oh = oh0; oh <= oh1; oh++) {
    for (var ow = ow0; ow <= ow1; ow++) {
      // The window's maximum (NaN wins), then its first position equal to it.
      let b = window(oh, ow);
      var m = fromBits(0xff800000u);
      var nan = false;
      for (var hh = b.x; hh < b.y; hh++) {
        for (var ww = b.z; ww < b.w; ww++) {
          let v = X[base + hh * p.W + ww];
          if (isNan(v)) { nan = true; } else if (v > m) { m = v; }
        }
      }
      var at = -1;
      for (var hh = b.x; hh < b.y && at < 0; hh++) {
        for (var ww = b.z; ww < b.w; ww++) {
          let v = X[base + hh * p.W + ww];
          if ((nan && isNan(v)) || (!nan && v == m)) { at = hh * p.W + ww; break; }
        }
      }
      if (at == h * p.W + w) { acc += Dy[obase + oh * p.OW + ow]; }
    }
  }
  Out[e] = acc;`);

const AVG_POOL = poolShader(['X'], `${PER_OUTPUT}
  var s = 0.0;
  for (var hh = b.x; hh < b.y; hh++) {
    for (var ww = b.z; ww < b.w; ww++) { s += X[base + hh * p.W + ww]; }
  }
  Out[e] = s / divisor(oh, ow);`);

const AVG_POOL_GRAD = poolShader(['Dy'], `${PER_INPUT}
  for (var oh = oh0; oh <= oh1; oh++) {
    for (var ow = ow0; ow <= ow1; ow++) { acc += Dy[obase + oh * p.OW + ow] / divisor(oh, ow); }
  }
  Out[e] = acc;`);

function poolParams(attrs: Attrs, total: number, H: number, W: number, OH: number, OW: number): Int32Array {
  const k = attrs['kernelShape'] as readonly number[], s = attrs['strides'] as readonly number[], p = attrs['pads'] as readonly number[];
  return packParams(PARAMS, {
    total, H, W, OH, OW, kh: k[0]!, kw: k[1]!, sh: s[0]!, sw: s[1]!, pt: p[0]!, pl: p[1]!, pb: p[2]!, pr: p[3]!,
    countIncludePad: attrs['countIncludePad'] === true ? 1 : 0,
  });
}

function run(backend: WebGpuBackend, key: string, code: string, inputs: readonly GpuStorage[], outType: TensorType, uniforms: Int32Array, total: number, given?: GpuStorage): GpuStorage {
  const out = given ?? backend.alloc(outType.dtype, sizeOf(outType.shape));
  if (total > 0) {
    backend.dispatch({ key, code, buffers: [...inputs.map((s) => s.buffer), out.buffer], uniforms, workgroups: backend.grid(total, WG) });
  }
  return out;
}

/** Forward pools: one invocation per output element. */
function forwardPool(op: string, code: string): Pool {
  return (backend) => ([x], attrs, [outType], outs) => {
    const [, , H, W] = x!.shape as [number, number, number, number];
    const [, , OH, OW] = outType!.shape as [number, number, number, number];
    const total = sizeOf(outType!.shape);
    return [run(backend, op, code, [x!.storage], outType!, poolParams(attrs, total, H, W, OH, OW), total, outs?.[0])];
  };
}

/** Pool gradients: one invocation per input element; `dy` is the last input. */
function gradientPool(op: string, code: string): Pool {
  return (backend) => (inputs, attrs, [outType], outs) => {
    const dy = inputs[inputs.length - 1]!;
    const [, , H, W] = outType!.shape as [number, number, number, number];
    const [, , OH, OW] = dy.shape as [number, number, number, number];
    const total = sizeOf(outType!.shape);
    return [run(backend, op, code, inputs.map((i) => i.storage), outType!, poolParams(attrs, total, H, W, OH, OW), total, outs?.[0])];
  };
}

registerWebGpuKernels({
  maxPool2d: forwardPool('maxPool2d', MAX_POOL),
  avgPool2d: forwardPool('avgPool2d', AVG_POOL),
  maxPool2dGrad: gradientPool('maxPool2dGrad', MAX_POOL_GRAD),
  avgPool2dGrad: gradientPool('avgPool2dGrad', AVG_POOL_GRAD),
});
