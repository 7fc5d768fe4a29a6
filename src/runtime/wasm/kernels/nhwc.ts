import { sizeOf, type Attrs } from '../../../ir/index.js';
import { oneOutput, type Kernel } from '../../backend.js';
import { poolGeom, type PoolGeom } from '../../reference/kernels/nn.js';
import { registerNativeKernels } from '../nativeKernels.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import { fallbackOf } from './elementwise.js';
import { applyFusedActivationOnHeap } from './fusedActivation.js';
import { poolSupports } from './poolKernel.js';
import { poolNhwcOnHeap, poolNhwcScratchBytes } from './poolNhwcKernel.js';
import { reusedScratch } from './reusedScratch.js';

/*
 * Channels-last kernels (ops/layout.ts), for graphs the O3 layout pass kept in NHWC.
 *
 * - conv2dNhwc: one `_FusedConv2D` / `_FusedDepthwiseConv2D` call on the tensors as they
 *   are — NHWC input, HWIO filter (depthwise: [kH, kW, 1, O], XNNPACK's [kH, kW, C, mult])
 *   — no transposes and no filter re-layout. The filter and bias go in by their own tensor
 *   ids, so XNNPACK packs them once and keeps the operator (cached by id and geometry)
 *   for every later call: the filter is a constant of the plan (a folded HWIO re-layout
 *   of the parameter, a new storage whenever the parameter changes), and an in-place
 *   write to any storage re-registers its id, which drops the packing (WasmBackend).
 *   XNNPACK runs without its clamp; a fused activation (attr `activation`) runs on the
 *   result as conv2d's does (fusedActivation.ts). General groups (1 < group < C) have no
 *   single XNNPACK call on NHWC: the portable kernel runs them (the pass leaves them NCHW).
 * - maxPool2dNhwc / avgPool2dNhwc: generated wasm (poolNhwcKernel.ts), bit-identical to
 *   the reference.
 * float64, negative padding and empty tensors take the portable kernels.
 */

function empty(inputs: readonly { storage: WasmStorage }[], outShape: readonly number[]): boolean {
  for (let i = 0; i < inputs.length; i++) if (inputs[i]!.storage.size === 0) return true;
  return sizeOf(outShape) === 0;
}

/** A pool's geometry, by attrs object (a plan's step keeps its attrs): made again only when the sizes differ, so a plan's call allocates none. */
const geometries = new WeakMap<Attrs, PoolGeom>();

function poolGeometry(attrs: Attrs, H: number, W: number, OH: number, OW: number): PoolGeom {
  const g = geometries.get(attrs);
  if (g && g.H === H && g.W === W && g.OH === OH && g.OW === OW) return g;
  const made = poolGeom(attrs, H, W, OH, OW);
  geometries.set(attrs, made);
  return made;
}

const conv2dNhwcKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  const m = backend.module;
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!, w = inputs[1]!, b = inputs[2];
    const [pt, pl, pb, pr] = attrs['pads'] as readonly number[] as [number, number, number, number];
    const G = attrs['group'] as number;
    const [N, H, W, C] = x.shape as [number, number, number, number];
    const [kh, kw, cin, O] = w.shape as [number, number, number, number];
    const depthwise = G > 1 && G === C && cin === 1;
    if (x.dtype !== 'float32' || (G !== 1 && !depthwise) || pb < 0 || pr < 0 || empty(inputs, outTypes[0]!.shape)) return fallback(inputs, attrs, outTypes, outs);
    const [sh, sw] = attrs['strides'] as readonly number[] as [number, number];
    const [dh, dw] = attrs['dilations'] as readonly number[] as [number, number];
    const out = outs?.[0] ?? backend.alloc('float32', sizeOf(outTypes[0]!.shape));
    const fn = depthwise ? m._FusedDepthwiseConv2D! : m._FusedConv2D!;
    fn(x.storage.id, N, H, W, w.storage.id, kh, kw, b ? b.storage.id : 0, pt, pr, pb, pl, 0, dh, dw, sh, sw, C, O, 0, 0, 0, out.id);
    return oneOutput(applyFusedActivationOnHeap(backend, out, attrs, outTypes[0]!, out === outs?.[0]), outs);
  };
};

const poolNhwcKernel = (kind: 'max' | 'avg') => (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  const scratch = reusedScratch(backend);
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!;
    if (x.dtype !== 'float32' || empty(inputs, outTypes[0]!.shape)) return fallback(inputs, attrs, outTypes, outs);
    const [N, H, W, C] = x.shape as [number, number, number, number];
    const [, OH, OW] = outTypes[0]!.shape as [number, number, number, number];
    const geom = poolGeometry(attrs, H, W, OH, OW);
    if (!poolSupports(geom)) return fallback(inputs, attrs, outTypes, outs);
    const out = outs?.[0] ?? backend.alloc('float32', N * OH * OW * C);
    poolNhwcOnHeap(backend, kind, x.storage.ptr, out.ptr, N, C, geom, Boolean(attrs['countIncludePad']), scratch(poolNhwcScratchBytes(geom, C, kind)));
    return oneOutput(out, outs);
  };
};

registerNativeKernels({
  conv2dNhwc: conv2dNhwcKernel,
  maxPool2dNhwc: poolNhwcKernel('max'),
  avgPool2dNhwc: poolNhwcKernel('avg'),
});
