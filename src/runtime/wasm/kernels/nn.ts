import { sizeOf, type TensorType } from '../../../ir/index.js';
import { oneOutput, type Kernel } from '../../backend.js';
import { simplifyPermutation } from '../../reference/kernels/linalg.js';
import { col2im, convGeom, isPointwise, poolGeom } from '../../reference/kernels/nn.js';
import { registerNativeKernels } from '../nativeKernels.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import { fallbackOf } from './elementwise.js';
import { applyFusedActivationOnHeap } from './fusedActivation.js';
import { im2colOnHeap, im2colScratchBytes } from './im2colKernel.js';
import { maxPoolGradOnHeap, maxPoolGradScratchBytes, maxPoolGradSupports } from './maxPoolGradKernel.js';
import { avgPoolOnHeap, avgPoolScratchBytes, maxPoolOnHeap, maxPoolScratchBytes, poolSupports } from './poolKernel.js';
import { registerView, releaseView, xnnMatmul } from './xnnMatmul.js';
import { reusedScratch } from './reusedScratch.js';
import { transposeOnHeap } from './simdTranspose.js';

/*
 * Native NCHW convolutions and pools on tfjs-backend-wasm's XNNPACK kernels.
 *
 * - conv2d: `_FusedConv2D` / `_FusedDepthwiseConv2D` (NHWC input, HWIO filter), always
 *   without XNNPACK's activation clamp (it turns NaN into 0); a fused activation (attr
 *   `activation`, O2) runs on the result (fusedActivation.ts). The
 *   layout change happens per op with a transpose (`transpose` below: the generated SIMD
 *   kernels): NCHW → NHWC in, NHWC → NCHW out. General groups run one XNNPACK conv per group.
 * - convTranspose2d (= conv2d's input gradient; tfjs's Conv2DBackpropInput is a naive
 *   loop without dilation or groups, ≈8× slower here): with stride 1 an XNNPACK conv
 *   with the kernel flipped; otherwise colsᵀ = Xᵀ·W_g as an XNNPACK matmul, then col2im.
 * - conv2dFilterGrad (tfjs has none): im2col (generated wasm, im2colKernel.ts), then an
 *   XNNPACK matmul with dY.
 * - maxPool2d / avgPool2d: generated wasm on NCHW planes (poolKernel.ts; `_MaxPool` drops
 *   NaN, `_AvgPool` never counts padding, both need NHWC).
 *   maxPool2dGrad is generated wasm (maxPoolGradKernel.ts): `_MaxPoolGrad` sends the
 *   gradient to the last maximum (PyTorch: the first) and mishandles all-negative windows.
 *   avgPool2dGrad stays portable.
 *
 * XNNPACK caches operators (packed weights) by the *tensor id* of the filter / matmul B
 * operand (and bias) and drops them when that id is disposed. Parameters are updated in
 * place (same id, new values), so a user tensor never goes in those slots: they always
 * get a fresh temporary or a fresh view id, disposed right after the call.
 * `_FusedMatMul` takes its fast path only with no transposes and batch 1, so operands
 * are materialised in the layout it wants.
 */

/** Elements per temporary matrix before a batch is split into chunks (16 MiB). */
let chunkElements = 1 << 22;

/** Test hook: sets the chunk size (elements) and returns the previous one. */
export function setConvChunkElements(n: number): number {
  const prev = chunkElements;
  chunkElements = n;
  return prev;
}

/** Zero-size tensors go to the portable kernels (XNNPACK and malloc dislike them). */
function empty(inputs: readonly { storage: WasmStorage }[], outTypes: readonly TensorType[]): boolean {
  for (const x of inputs) if (x.storage.size === 0) return true;
  return sizeOf(outTypes[0]!.shape) === 0;
}


/**
 * float32 transpose on the heap: size-1 and still-adjacent axes merged first, then the
 * generated SIMD kernels (simdTranspose.ts), `_Transpose` for what they do not cover.
 * The NCHW ↔ NHWC moves around every XNNPACK conv are batched 2-D transposes, which
 * `_Transpose` walks at 2.5–7 ns per element on power-of-two sizes (≈0.2–0.8 ns here).
 */
function transpose(backend: WasmBackend, srcId: number, shape: readonly number[], perm: readonly number[], dstId: number, size: number, srcPtr: number, dstPtr: number): void {
  const s = simplifyPermutation(shape, perm);
  if (s.perm.every((a, i) => a === i)) {
    backend.heap().f32.copyWithin(dstPtr >>> 2, srcPtr >>> 2, (srcPtr >>> 2) + size);
    return;
  }
  if (transposeOnHeap(backend.memory, srcPtr, s.shape, s.perm, dstPtr)) return;
  backend.module._Transpose!(srcId, backend.shapePtr(s.shape, 2), s.shape.length, 0, dstId, backend.shapePtr(s.perm, 3), s.perm.length);
}

/** A fresh copy of `n` floats at element offset `src` (for id-cached operand slots). */
function freshCopy(backend: WasmBackend, src: number, n: number): WasmStorage {
  const t = backend.alloc('float32', n);
  backend.heap().f32.copyWithin(t.ptr >>> 2, src, src + n);
  return t;
}

/** One NCHW convolution on XNNPACK: geometry, groups and how to fill each group's HWIO filter. */
interface ConvCall {
  N: number; C: number; H: number; W: number; // input
  O: number; OH: number; OW: number; // output
  kh: number; kw: number;
  pads: readonly [number, number, number, number]; // top, left, bottom, right (all ≥ 0)
  strides: readonly [number, number];
  dilations: readonly [number, number];
  groups: number;
  /** Writes group g's filter at element offset `dst`: [kh·kw, cin, cout] (depthwise: [kh·kw, O]). */
  fillFilter(h: Float32Array, dst: number, g: number, cin: number, cout: number, depthwise: boolean): void;
  /** Element offset of a bias [O] on the heap, or -1. */
  bias: number;
}

/** Runs `c` from NCHW `x` into NCHW `out` (fresh, or the caller's: XNNPACK keys its operator cache by the filter, never by the output). */
function runConv(backend: WasmBackend, x: WasmStorage, c: ConvCall, out: WasmStorage): void {
  const m = backend.module;
  const { N, C, H, W, O, OH, OW, kh, kw, groups: G } = c;
  const [pt, pl, pb, pr] = c.pads;
  const L = OH * OW, HW = H * W, T = kh * kw;
  const depthwise = G > 1 && G === C;
  const passes = depthwise ? 1 : G; // XNNPACK convs: one, or one per group
  const cin = depthwise ? C : C / G, cout = depthwise ? O : O / G;
  // Channels-last [passes, N, HW, cin]; NCHW already is that with one channel.
  const xt = C === 1 ? null : backend.alloc('float32', N * HW * C);
  const yt = O === 1 ? null : backend.alloc('float32', N * L * O);
  if (xt) transpose(backend, x.id, [N, passes, cin, HW], [1, 0, 3, 2], xt.id, N * HW * C, x.ptr, xt.ptr);
  const xsrc = xt ?? x, ydst = yt ?? out;
  for (let g = 0; g < passes; g++) {
    const filt = backend.alloc('float32', T * cin * cout);
    const bias = c.bias >= 0 ? freshCopy(backend, c.bias + g * cout, cout) : null;
    c.fillFilter(backend.heap().f32, filt.ptr >>> 2, g, cin, cout, depthwise);
    const xId = passes === 1 ? xsrc.id : registerView(m, xsrc.ptr + g * N * HW * cin * 4, N * HW * cin);
    const yId = passes === 1 ? ydst.id : registerView(m, ydst.ptr + g * N * L * cout * 4, N * L * cout);
    const fn = depthwise ? m._FusedDepthwiseConv2D! : m._FusedConv2D!;
    fn(xId, N, H, W, filt.id, kh, kw, bias ? bias.id : 0, pt, pr, pb, pl, 0, c.dilations[0], c.dilations[1], c.strides[0], c.strides[1], cin, cout, 0, 0, 0, yId);
    if (passes > 1) {
      releaseView(m, xId);
      releaseView(m, yId);
    }
    // Freeing the filter/bias ids also drops the XNNPACK operator cached for them.
    backend.free(filt);
    if (bias) backend.free(bias);
  }
  // [passes, N, L, cout] → [N, passes, cout, L] = NCHW.
  if (yt) transpose(backend, yt.id, [passes, N, L, cout], [1, 0, 3, 2], out.id, N * L * O, yt.ptr, out.ptr);
  if (xt) backend.free(xt);
  if (yt) backend.free(yt);
}

const conv2dKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!, w = inputs[1]!, b = inputs[2];
    const pads = attrs['pads'] as readonly number[] as [number, number, number, number];
    // XNNPACK takes no negative padding (gradient rules may trim the output with one).
    if (x.dtype !== 'float32' || pads[2] < 0 || pads[3] < 0 || empty(inputs, outTypes)) return fallback(inputs, attrs, outTypes, outs);
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [O, , kh, kw] = w.shape as [number, number, number, number];
    const [, , OH, OW] = outTypes[0]!.shape as [number, number, number, number];
    const T = kh * kw, wb = w.storage.ptr >>> 2;
    const out = outs?.[0] ?? backend.alloc('float32', N * O * OH * OW);
    runConv(backend, x.storage, {
      N, C, H, W, O, OH, OW, kh, kw, pads,
      strides: attrs['strides'] as readonly number[] as [number, number],
      dilations: attrs['dilations'] as readonly number[] as [number, number],
      groups: attrs['group'] as number,
      bias: b ? b.storage.ptr >>> 2 : -1,
      fillFilter(h, fb, g, cin, cout, depthwise) {
        // Depthwise: [kh, kw, O], out channel c·mult + m as in PyTorch.
        if (depthwise) for (let o = 0; o < O; o++) for (let t = 0; t < T; t++) h[fb + t * O + o] = h[wb + o * T + t]!;
        else {
          // HWIO of group g: f[t, c, o] = w[g·cout + o, c, t].
          for (let o = 0; o < cout; o++) {
            for (let c = 0; c < cin; c++) {
              const s = wb + ((g * cout + o) * cin + c) * T;
              for (let t = 0; t < T; t++) h[fb + (t * cin + c) * cout + o] = h[s + t]!;
            }
          }
        }
      },
    }, out);
    return oneOutput(applyFusedActivationOnHeap(backend, out, attrs, outTypes[0]!, out === outs?.[0]), outs);
  };
};

/** How many images fit one temporary of `perImage` elements. */
function chunkOf(perImage: number, N: number): number {
  return Math.max(1, Math.min(N, Math.floor(chunkElements / Math.max(perImage, 1))));
}

/**
 * convTranspose2d: x [N,C,H,W], w [C,O/g,kh,kw], bias? → [N,O,OH,OW].
 * Stride 1: a plain XNNPACK conv with the kernel flipped and in/out channels swapped.
 * Otherwise: colsᵀ[images·H·W, (o,i,j)] = Xᵀ·W_g (XNNPACK matmul), transposed, col2im.
 */
const convTranspose2dKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  const m = backend.module;
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!, w = inputs[1]!, b = inputs[2];
    if (x.dtype !== 'float32' || empty(inputs, outTypes)) return fallback(inputs, attrs, outTypes, outs);
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [, Og, kh, kw] = w.shape as [number, number, number, number];
    const [, O, OH, OW] = outTypes[0]!.shape as [number, number, number, number];
    const G = attrs['group'] as number;
    const [sh, sw] = attrs['strides'] as readonly number[] as [number, number];
    const [dh, dw] = attrs['dilations'] as readonly number[] as [number, number];
    const p = attrs['pads'] as readonly number[];
    const op = attrs['outputPadding'] as readonly number[];
    const Cg = C / G, T = kh * kw, M = Og * T, L = H * W, OL = OH * OW;
    const wb = w.storage.ptr >>> 2;
    const out = outs?.[0] ?? backend.alloc('float32', N * O * OL);
    const flipPads = [dh * (kh - 1) - p[0]!, dw * (kw - 1) - p[1]!, dh * (kh - 1) - p[2]! + op[0]!, dw * (kw - 1) - p[3]! + op[1]!] as const;
    if (sh === 1 && sw === 1 && flipPads.every((v) => v >= 0)) {
      runConv(backend, x.storage, {
        N, C, H, W, O, OH, OW, kh, kw, pads: flipPads, strides: [1, 1], dilations: [dh, dw], groups: G,
        bias: b ? b.storage.ptr >>> 2 : -1,
        fillFilter(h, fb, g, cin, cout, depthwise) {
          // f[t, c, o] = w[g·Cg + c, o, T−1−t] (depthwise: f[t, o] = w[o, T−1−t] over all O).
          if (depthwise) for (let o = 0; o < O; o++) for (let t = 0; t < T; t++) h[fb + t * O + o] = h[wb + o * T + T - 1 - t]!;
          else {
            for (let c = 0; c < cin; c++) {
              for (let o = 0; o < cout; o++) {
                const s = wb + ((g * cin + c) * cout + o) * T + T - 1;
                for (let t = 0; t < T; t++) h[fb + (t * cin + c) * cout + o] = h[s - t]!;
              }
            }
          }
        },
      }, out);
      return oneOutput(applyFusedActivationOnHeap(backend, out, attrs, outTypes[0]!, out === outs?.[0]), outs);
    }
    // The conv this is the input gradient of maps [Og, OH, OW] to [H, W].
    const geom = convGeom(attrs, Og, OH, OW, H, W, kh, kw);
    const nb = chunkOf(Math.max(M, C) * L, N);
    const xt = backend.alloc('float32', nb * C * L);
    const colsT = backend.alloc('float32', nb * L * M);
    const cols = backend.alloc('float32', M * nb * L);
    let h = backend.heap().f32;
    h.fill(0, out.ptr >>> 2, (out.ptr >>> 2) + N * O * OL);
    for (let n0 = 0; n0 < N; n0 += nb) {
      const cnt = Math.min(nb, N - n0), NL = cnt * L;
      // A_g = group g's input channels-last: x chunk [cnt, G, Cg, L] → [G, cnt·L, Cg].
      const xc = registerView(m, x.storage.ptr + n0 * C * L * 4, cnt * C * L);
      transpose(backend, xc, [cnt, G, Cg, L], [1, 0, 3, 2], xt.id, cnt * C * L, x.storage.ptr + n0 * C * L * 4, xt.ptr);
      releaseView(m, xc);
      for (let g = 0; g < G; g++) {
        const aId = G === 1 ? xt.id : registerView(m, xt.ptr + g * NL * Cg * 4, NL * Cg);
        const wg = freshCopy(backend, wb + g * Cg * M, Cg * M); // B = W_g [Cg, M]
        xnnMatmul(backend, aId, NL, Cg, wg.id, M, colsT.id);
        backend.free(wg);
        if (G !== 1) releaseView(m, aId);
        transpose(backend, colsT.id, [NL, M], [1, 0], cols.id, NL * M, colsT.ptr, cols.ptr);
        h = backend.heap().f32;
        const cb = cols.ptr >>> 2, ob = out.ptr >>> 2;
        for (let j = 0; j < cnt; j++) col2im(h, NL, cb + j * L, geom, h, ob + ((n0 + j) * O + g * Og) * OL);
      }
    }
    backend.free(xt);
    backend.free(colsT);
    backend.free(cols);
    if (b) {
      h = backend.heap().f32;
      const ob = out.ptr >>> 2, bb = b.storage.ptr >>> 2;
      for (let n = 0; n < N; n++) {
        for (let o = 0; o < O; o++) {
          const v = h[bb + o]!, d = ob + (n * O + o) * OL;
          for (let l = 0; l < OL; l++) h[d + l] += v;
        }
      }
    }
    return oneOutput(applyFusedActivationOnHeap(backend, out, attrs, outTypes[0]!, out === outs?.[0]), outs);
  };
};

/**
 * conv2dFilterGrad: a [N,A,H,W] (conv input), b [N,B,OH,OW] (its output's gradient) →
 * [B, A/g, kh, kw]. Per group, with cols = im2col(a) [K = (c,i,j), images·OH·OW]:
 * dWᵀ = cols·bᵀ, or dW = b·colsᵀ, whichever packs the smaller B operand (XNNPACK packs B
 * on every call: Bg·images·L vs K·images·L elements).
 */
const conv2dFilterGradKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  const m = backend.module;
  return (inputs, attrs, outTypes, outs) => {
    const a = inputs[0]!, b = inputs[1]!;
    if (a.dtype !== 'float32' || empty(inputs, outTypes)) return fallback(inputs, attrs, outTypes, outs);
    const [N, A, H, W] = a.shape as [number, number, number, number];
    const [, B, OH, OW] = b.shape as [number, number, number, number];
    const [, Ag, kh, kw] = outTypes[0]!.shape as [number, number, number, number];
    const G = attrs['group'] as number;
    const Bg = B / G, K = Ag * kh * kw, L = OH * OW, HW = H * W;
    const geom = convGeom(attrs, Ag, H, W, OH, OW, kh, kw);
    const pointwise = isPointwise(geom);
    const colsAsB = K < Bg;
    const out = outs?.[0] ?? backend.alloc('float32', B * K);
    const nb = chunkOf(Math.max(K, B) * L, N);
    const cols = backend.alloc('float32', K * nb * L);
    const scratchBytes = pointwise ? 0 : im2colScratchBytes(geom);
    const scratch = scratchBytes > 0 ? backend.alloc('float32', scratchBytes / 4) : null;
    const colsT = colsAsB ? backend.alloc('float32', nb * L * K) : null;
    const bt = backend.alloc('float32', nb * L * B);
    const res = backend.alloc('float32', K * Bg);
    const acc = G === 1 && nb === N ? null : new Float64Array(B * K);
    for (let n0 = 0; n0 < N; n0 += nb) {
      const cnt = Math.min(nb, N - n0), NL = cnt * L;
      // b chunk [cnt, G, Bg, L] → [G, cnt·L, Bg] (as B) or [G, Bg, cnt·L] (as A).
      const bc = registerView(m, b.storage.ptr + n0 * B * L * 4, cnt * B * L);
      transpose(backend, bc, [cnt, G, Bg, L], colsAsB ? [1, 2, 0, 3] : [1, 0, 3, 2], bt.id, cnt * B * L, b.storage.ptr + n0 * B * L * 4, bt.ptr);
      releaseView(m, bc);
      for (let g = 0; g < G; g++) {
        const aImg = a.storage.ptr + (n0 * A + g * Ag) * HW * 4; // image n0, group g
        if (pointwise) {
          const h = backend.heap().f32, cb = cols.ptr >>> 2;
          for (let j = 0; j < cnt; j++) {
            const aOff = (aImg >>> 2) + j * A * HW;
            for (let c = 0; c < Ag; c++) h.copyWithin(cb + c * NL + j * L, aOff + c * HW, aOff + (c + 1) * HW);
          }
        } else {
          im2colOnHeap(backend.memory, aImg, A * HW * 4, cnt, geom, cols.ptr, NL * 4, L * 4, scratch ? scratch.ptr : 0);
        }
        const bg = registerView(m, bt.ptr + g * NL * Bg * 4, NL * Bg);
        if (colsT) {
          // res [Bg, K] = b_g [Bg, NL] · colsᵀ [NL, K]; colsT is fresh for this call.
          transpose(backend, cols.id, [K, NL], [1, 0], colsT.id, K * NL, cols.ptr, colsT.ptr);
          const cId = registerView(m, colsT.ptr, NL * K);
          xnnMatmul(backend, bg, Bg, NL, cId, K, res.id);
          releaseView(m, cId);
        } else {
          // res [K, Bg] = cols [K, NL] · b_gᵀ [NL, Bg].
          xnnMatmul(backend, cols.id, K, NL, bg, Bg, res.id);
        }
        releaseView(m, bg);
        const h2 = backend.heap().f32;
        const rb = res.ptr >>> 2, ob = out.ptr >>> 2;
        if (colsT) {
          if (acc) for (let i = 0; i < Bg * K; i++) acc[g * Bg * K + i] += h2[rb + i]!;
          else h2.copyWithin(ob, rb, rb + Bg * K);
        } else if (acc) {
          for (let k = 0; k < K; k++) for (let o = 0; o < Bg; o++) acc[(g * Bg + o) * K + k] += h2[rb + k * Bg + o]!;
        } else {
          for (let k = 0; k < K; k++) for (let o = 0; o < Bg; o++) h2[ob + o * K + k] = h2[rb + k * Bg + o]!;
        }
      }
    }
    backend.free(cols);
    if (scratch) backend.free(scratch);
    if (colsT) backend.free(colsT);
    backend.free(bt);
    backend.free(res);
    if (acc) backend.heap().f32.set(acc, out.ptr >>> 2);
    return oneOutput(out, outs);
  };
};

/**
 * maxPool2d / avgPool2d: generated wasm on the NCHW planes (poolKernel.ts), bit-identical
 * to the portable kernels. tfjs's `_MaxPool` drops NaN, `_AvgPool` never counts padding,
 * and both want NHWC (a transpose each way). maxPool2dGrad: see maxPool2dGradKernel below.
 */
const poolKernel = (kind: 'max' | 'avg') => (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  const scratch = reusedScratch(backend);
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!;
    if (x.dtype !== 'float32' || empty(inputs, outTypes)) return fallback(inputs, attrs, outTypes, outs);
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [, , OH, OW] = outTypes[0]!.shape as [number, number, number, number];
    const geom = poolGeom(attrs, H, W, OH, OW);
    if (!poolSupports(geom)) return fallback(inputs, attrs, outTypes, outs);
    const out = outs?.[0] ?? backend.alloc('float32', N * C * OH * OW);
    const sp = scratch(kind === 'max' ? maxPoolScratchBytes(geom) : avgPoolScratchBytes(geom));
    if (kind === 'max') maxPoolOnHeap(backend.memory, x.storage.ptr, out.ptr, N * C, geom, sp);
    else avgPoolOnHeap(backend.memory, x.storage.ptr, out.ptr, N * C, geom, Boolean(attrs['countIncludePad']), sp);
    return oneOutput(out, outs);
  };
};

/**
 * maxPool2dGrad: x [N,C,H,W], dy [N,C,OH,OW] → dx [N,C,H,W], the gradient of each window
 * at its first maximum, on the generated kernels (bit-identical to the portable one).
 */
const maxPool2dGradKernel = (backend: WasmBackend, name: string): Kernel<WasmStorage> => {
  const fallback = fallbackOf(backend, name);
  const scratch = reusedScratch(backend);
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!, dy = inputs[1]!;
    if (x.dtype !== 'float32' || empty(inputs, outTypes)) return fallback(inputs, attrs, outTypes, outs);
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [, , OH, OW] = dy.shape as [number, number, number, number];
    const geom = poolGeom(attrs, H, W, OH, OW);
    if (!maxPoolGradSupports(geom)) return fallback(inputs, attrs, outTypes, outs);
    const out = outs?.[0] ?? backend.alloc('float32', N * C * H * W);
    maxPoolGradOnHeap(backend.memory, x.storage.ptr, dy.storage.ptr, out.ptr, N * C, geom, scratch(maxPoolGradScratchBytes(geom)));
    return oneOutput(out, outs);
  };
};

registerNativeKernels({
  conv2d: conv2dKernel,
  convTranspose2d: convTranspose2dKernel,
  conv2dFilterGrad: conv2dFilterGradKernel,
  maxPool2d: poolKernel('max'),
  avgPool2d: poolKernel('avg'),
  maxPool2dGrad: maxPool2dGradKernel,
});
