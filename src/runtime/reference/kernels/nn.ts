import type { Attrs, TypedArray } from '../../../ir/index.js';
import type { ArrayKernel } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';
import { applyFusedActivationInPlace } from './fusedActivation.js';

/*
 * Portable NCHW convolution and pooling kernels (float32/float64). Convolutions are
 * im2col / col2im around a 4×4 register-blocked GEMM, so index arithmetic stays out of
 * the inner loops. Outputs are written in full (the wasm heap is not zeroed). The wasm
 * backend reuses im2col / col2im around XNNPACK matmuls.
 */

type FloatArray = Float32Array | Float64Array;

/** Geometry of one convolution as the kernels see it (only top/left padding matters). */
export interface ConvGeom {
  C: number; H: number; W: number; // input channels (of one group) and spatial size
  OH: number; OW: number; // output spatial size
  kh: number; kw: number;
  sh: number; sw: number;
  pt: number; pl: number;
  dh: number; dw: number;
}

/** Range [lo, hi) of output columns whose tap at kernel column `j` lands inside the input. */
function validRange(j: number, d: number, s: number, p: number, inSize: number, outSize: number): [number, number] {
  const off = j * d - p; // input col = o·s + off
  const lo = off >= 0 ? 0 : Math.ceil(-off / s);
  const hi = Math.min(outSize, Math.floor((inSize - 1 - off) / s) + 1);
  return [Math.min(lo, outSize), Math.max(hi, 0)];
}

/**
 * im2col: rows (c, i, j) of `g.C·kh·kw`, each of `rowStride` entries; the (oh, ow) row of
 * patch taps is written at `cols[row·rowStride + colOff + oh·OW + ow]` (so several images
 * can share one matrix). Taps in the padding are 0.
 */
export function im2col(x: TypedArray, xOff: number, g: ConvGeom, cols: TypedArray, rowStride: number, colOff: number): void {
  const { C, H, W, OH, OW, kh, kw, sh, sw, pt, pl, dh, dw } = g;
  let r = 0;
  for (let c = 0; c < C; c++) {
    const plane = xOff + c * H * W;
    for (let i = 0; i < kh; i++) {
      const ioff = i * dh - pt;
      for (let j = 0; j < kw; j++, r++) {
        const joff = j * dw - pl;
        const [lo, hi] = validRange(j, dw, sw, pl, W, OW);
        let d = r * rowStride + colOff;
        for (let oh = 0; oh < OH; oh++, d += OW) {
          const ih = oh * sh + ioff;
          if (ih < 0 || ih >= H || lo >= hi) {
            cols.fill(0, d, d + OW);
            continue;
          }
          if (lo > 0) cols.fill(0, d, d + lo);
          const src = plane + ih * W + joff;
          if (sw === 1) {
            for (let ow = lo; ow < hi; ow++) cols[d + ow] = x[src + ow]!;
          } else {
            for (let ow = lo; ow < hi; ow++) cols[d + ow] = x[src + ow * sw]!;
          }
          if (hi < OW) cols.fill(0, d + hi, d + OW);
        }
      }
    }
  }
}

/**
 * col2im (adjoint of im2col): adds row (c, i, j) of `cols` (entries (oh, ow) at
 * `row·rowStride + colOff + oh·OW + ow`) into image `y` at `yOff` ([C, H, W]).
 */
export function col2im(cols: TypedArray, rowStride: number, colOff: number, g: ConvGeom, y: TypedArray, yOff: number): void {
  const { C, H, W, OH, OW, kh, kw, sh, sw, pt, pl, dh, dw } = g;
  let r = 0;
  for (let c = 0; c < C; c++) {
    const plane = yOff + c * H * W;
    for (let i = 0; i < kh; i++) {
      const ioff = i * dh - pt;
      for (let j = 0; j < kw; j++, r++) {
        const joff = j * dw - pl;
        const [lo, hi] = validRange(j, dw, sw, pl, W, OW);
        if (lo >= hi) continue;
        let s = r * rowStride + colOff;
        for (let oh = 0; oh < OH; oh++, s += OW) {
          const ih = oh * sh + ioff;
          if (ih < 0 || ih >= H) continue;
          const dst = plane + ih * W + joff;
          if (sw === 1) {
            for (let ow = lo; ow < hi; ow++) y[dst + ow] += cols[s + ow]!;
          } else {
            for (let ow = lo; ow < hi; ow++) y[dst + ow * sw] += cols[s + ow]!;
          }
        }
      }
    }
  }
}

/** Whether im2col would be the identity (1×1 kernel, stride 1, no padding). */
export function isPointwise(g: ConvGeom): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.pt === 0 && g.pl === 0 && g.OH === g.H && g.OW === g.W;
}

function newLike(a: TypedArray, n: number): FloatArray {
  return a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

function pairAttr(attrs: Attrs, name: string): [number, number] {
  const v = attrs[name] as readonly number[];
  return [v[0]!, v[1]!];
}

/** Geometry of conv2d(x → y) for one group with `cin` input channels. */
export function convGeom(attrs: Attrs, cin: number, H: number, W: number, OH: number, OW: number, kh: number, kw: number): ConvGeom {
  const [sh, sw] = pairAttr(attrs, 'strides');
  const [dh, dw] = pairAttr(attrs, 'dilations');
  const pads = attrs['pads'] as readonly number[];
  return { C: cin, H, W, OH, OW, kh, kw, sh, sw, pt: pads[0]!, pl: pads[1]!, dh, dw };
}

/**
 * C[i, j] += Σ_r A[i·ar + r·ak]·B[r·bk + j·bc] for i < M, j < N (offsets added), in 4×4
 * register blocks: 8 loads per 16 multiply-adds instead of a load and a store per one.
 */
export function gemm(M: number, N: number, K: number, A: TypedArray, aOff: number, ar: number, ak: number, B: TypedArray, bOff: number, bk: number, bc: number, C: TypedArray, cOff: number, cr: number): void {
  const M4 = M - (M % 4), N4 = N - (N % 4);
  for (let i = 0; i < M4; i += 4) {
    const a0 = aOff + i * ar, a1 = a0 + ar, a2 = a1 + ar, a3 = a2 + ar;
    for (let j = 0; j < N4; j += 4) {
      const b0 = bOff + j * bc, b1 = b0 + bc, b2 = b1 + bc, b3 = b2 + bc;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let r = 0; r < K; r++) {
        const ra = r * ak, rb = r * bk;
        const x0 = A[a0 + ra]!, x1 = A[a1 + ra]!, x2 = A[a2 + ra]!, x3 = A[a3 + ra]!;
        const y0 = B[b0 + rb]!, y1 = B[b1 + rb]!, y2 = B[b2 + rb]!, y3 = B[b3 + rb]!;
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
      }
      const o0 = cOff + i * cr + j, o1 = o0 + cr, o2 = o1 + cr, o3 = o2 + cr;
      C[o0] += c00; C[o0 + 1] += c01; C[o0 + 2] += c02; C[o0 + 3] += c03;
      C[o1] += c10; C[o1 + 1] += c11; C[o1 + 2] += c12; C[o1 + 3] += c13;
      C[o2] += c20; C[o2 + 1] += c21; C[o2 + 2] += c22; C[o2 + 3] += c23;
      C[o3] += c30; C[o3 + 1] += c31; C[o3 + 2] += c32; C[o3 + 3] += c33;
    }
  }
  // Edges: the last M % 4 rows (all columns) and the last N % 4 columns (blocked rows).
  for (let i = 0; i < M; i++) {
    for (let j = i < M4 ? N4 : 0; j < N; j++) {
      let acc = 0;
      const a = aOff + i * ar, b = bOff + j * bc;
      for (let r = 0; r < K; r++) acc += A[a + r * ak]! * B[b + r * bk]!;
      C[cOff + i * cr + j] += acc;
    }
  }
}

function addBias(y: TypedArray, bias: TypedArray, N: number, O: number, L: number): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const b = bias[o]!;
      if (b === 0) continue;
      const off = (n * O + o) * L;
      for (let l = 0; l < L; l++) y[off + l] += b;
    }
  }
}

/** conv2d: inputs x [N,C,H,W], w [O,C/g,kh,kw], bias? [O]; output [N,O,OH,OW]. */
export const conv2dKernel: ArrayKernel = ([x, w, b], attrs, [y]) => {
  const [N, C, H, W] = x!.shape as [number, number, number, number];
  const [O, Cg, kh, kw] = w!.shape as [number, number, number, number];
  const [, , OH, OW] = y!.shape as [number, number, number, number];
  const G = attrs['group'] as number;
  const Og = O / G, K = Cg * kh * kw, L = OH * OW;
  const geom = convGeom(attrs, Cg, H, W, OH, OW, kh, kw);
  const direct = isPointwise(geom);
  const cols = direct ? null : newLike(y!.data, K * L);
  const xd = x!.data, wd = w!.data, yd = y!.data;
  yd.fill(0); // outputs are not zeroed on the wasm heap
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      const xOff = (n * C + g * Cg) * H * W;
      if (cols) im2col(xd, xOff, geom, cols, L, 0);
      gemm(Og, L, K, wd, g * Og * K, K, 1, cols ?? xd, cols ? 0 : xOff, L, 1, yd, (n * O + g * Og) * L, L);
    }
  }
  if (b) addBias(yd, b.data, N, O, L);
  applyFusedActivationInPlace(y!, attrs);
};

/**
 * convTranspose2d: inputs x [N,C,H,W], w [C,O/g,kh,kw], bias? [O]; output [N,O,OH,OW].
 * cols[(o,i,j), l] = Σ_c w[c, (o,i,j)]·x[c, l], then col2im into the output.
 */
export const convTranspose2dKernel: ArrayKernel = ([x, w, b], attrs, [y]) => {
  const [N, C, H, W] = x!.shape as [number, number, number, number];
  const [, Og, kh, kw] = w!.shape as [number, number, number, number];
  const [, O, OH, OW] = y!.shape as [number, number, number, number];
  const G = attrs['group'] as number;
  const Cg = C / G, M = Og * kh * kw, L = H * W;
  // The conv whose input gradient this is maps y-space [Og, OH, OW] to x-space [H, W].
  const geom = convGeom(attrs, Og, OH, OW, H, W, kh, kw);
  const cols = newLike(y!.data, M * L);
  const xd = x!.data, wd = w!.data, yd = y!.data;
  yd.fill(0);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      // cols[m, l] = Σ_c w[g·Cg + c, m]·x[n, g·Cg + c, l]
      cols.fill(0);
      gemm(M, L, Cg, wd, g * Cg * M, 1, M, xd, (n * C + g * Cg) * L, L, 1, cols, 0, L);
      col2im(cols, L, 0, geom, yd, (n * O + g * Og) * OH * OW);
    }
  }
  if (b) addBias(yd, b.data, N, O, OH * OW);
  applyFusedActivationInPlace(y!, attrs);
};

/**
 * conv2dFilterGrad: inputs a [N,A,H,W] (conv input), b [N,B,OH,OW] (conv output
 * gradient); output [B, A/g, kh, kw] = Σ_n,l b[n, o, l]·im2col(a)[k, l].
 */
export const conv2dFilterGradKernel: ArrayKernel = ([a, b], attrs, [dw]) => {
  const [N, A, H, W] = a!.shape as [number, number, number, number];
  const [, B, OH, OW] = b!.shape as [number, number, number, number];
  const [, Ag, kh, kw] = dw!.shape as [number, number, number, number];
  const G = attrs['group'] as number;
  const Bg = B / G, K = Ag * kh * kw, L = OH * OW;
  const geom = convGeom(attrs, Ag, H, W, OH, OW, kh, kw);
  const direct = isPointwise(geom);
  const cols = direct ? null : newLike(dw!.data, K * L);
  const acc = new Float64Array(B * K);
  const ad = a!.data, bd = b!.data;
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      const aOff = (n * A + g * Ag) * H * W;
      if (cols) im2col(ad, aOff, geom, cols, L, 0);
      // dW[o, k] += Σ_l b[n, g·Bg + o, l]·cols[k, l]
      gemm(Bg, K, L, bd, (n * B + g * Bg) * L, L, 1, cols ?? ad, cols ? 0 : aOff, 1, L, acc, g * Bg * K, K);
    }
  }
  dw!.data.set(acc);
};

/** Pool geometry from attrs and the input/output shapes. */
export interface PoolGeom { H: number; W: number; OH: number; OW: number; kh: number; kw: number; sh: number; sw: number; pt: number; pl: number; pb: number; pr: number }

export function poolGeom(attrs: Attrs, H: number, W: number, OH: number, OW: number): PoolGeom {
  const [kh, kw] = pairAttr(attrs, 'kernelShape');
  const [sh, sw] = pairAttr(attrs, 'strides');
  const p = attrs['pads'] as readonly number[];
  return { H, W, OH, OW, kh, kw, sh, sw, pt: p[0]!, pl: p[1]!, pb: p[2]!, pr: p[3]! };
}

/** Calls `visit(oh, ow, h0, h1, w0, w1)` with each window clipped to the input. */
function forEachWindow(g: PoolGeom, visit: (o: number, h0: number, h1: number, w0: number, w1: number) => void): void {
  for (let oh = 0, o = 0; oh < g.OH; oh++) {
    const hs = oh * g.sh - g.pt;
    const h0 = Math.max(hs, 0), h1 = Math.min(hs + g.kh, g.H);
    for (let ow = 0; ow < g.OW; ow++, o++) {
      const ws = ow * g.sw - g.pl;
      visit(o, h0, h1, Math.max(ws, 0), Math.min(ws + g.kw, g.W));
    }
  }
}

/** Per-window flat index ranges, computed once per call and reused for every plane. */
function windows(g: PoolGeom): Int32Array {
  const win = new Int32Array(g.OH * g.OW * 4);
  forEachWindow(g, (o, h0, h1, w0, w1) => {
    win[o * 4] = h0; win[o * 4 + 1] = h1; win[o * 4 + 2] = w0; win[o * 4 + 3] = w1;
  });
  return win;
}

/** First index of the maximum of a window (the first NaN if any, as in PyTorch). */
function argmaxWindow(x: TypedArray, plane: number, W: number, h0: number, h1: number, w0: number, w1: number): number {
  // Max first (branch-free Math.max propagates NaN), then its first position.
  let m = -Infinity;
  for (let h = h0; h < h1; h++) {
    const row = plane + h * W;
    for (let w = w0; w < w1; w++) m = Math.max(m, x[row + w]!);
  }
  const nan = m !== m;
  for (let h = h0; h < h1; h++) {
    const row = plane + h * W;
    for (let w = w0; w < w1; w++) {
      const v = x[row + w]!;
      if (v === m || (nan && v !== v)) return h * W + w;
    }
  }
  return h0 * W + w0;
}

export const maxPool2dKernel: ArrayKernel = ([x], attrs, [y]) => {
  const [N, C, H, W] = x!.shape as [number, number, number, number];
  const [, , OH, OW] = y!.shape as [number, number, number, number];
  const geom = poolGeom(attrs, H, W, OH, OW);
  const xd = x!.data, yd = y!.data, L = OH * OW;
  if (isPool2x2(geom)) {
    for (let p = 0; p < N * C; p++) {
      let o = p * L;
      for (let oh = 0; oh < OH; oh++) {
        const r0 = p * H * W + 2 * oh * W, r1 = r0 + W;
        for (let ow = 0; ow < OW; ow++, o++) {
          yd[o] = Math.max(xd[r0 + 2 * ow]!, xd[r0 + 2 * ow + 1]!, xd[r1 + 2 * ow]!, xd[r1 + 2 * ow + 1]!);
        }
      }
    }
    return;
  }
  const win = windows(geom);
  for (let p = 0; p < N * C; p++) {
    const plane = p * H * W, out = p * L;
    for (let o = 0; o < L; o++) {
      const h0 = win[o * 4]!, h1 = win[o * 4 + 1]!, w0 = win[o * 4 + 2]!, w1 = win[o * 4 + 3]!;
      let m = -Infinity;
      for (let h = h0; h < h1; h++) {
        const row = plane + h * W;
        for (let w = w0; w < w1; w++) m = Math.max(m, xd[row + w]!); // NaN propagates
      }
      yd[out + o] = m;
    }
  }
};

/** 2×2 windows, stride 2, no padding (the common CNN pool): straight-line code per window. */
/** 2×2 windows, stride 2, no top/left padding, every window inside the input (bottom/right padding on an odd size would read past the plane). */
export function isPool2x2(g: PoolGeom): boolean {
  return g.kh === 2 && g.kw === 2 && g.sh === 2 && g.sw === 2 && g.pt === 0 && g.pl === 0 && 2 * g.OH <= g.H && 2 * g.OW <= g.W;
}

function maxPool2x2Grad(xd: TypedArray, gd: TypedArray, dd: TypedArray, planes: number, H: number, W: number, OH: number, OW: number): void {
  for (let p = 0; p < planes; p++) {
    const plane = p * H * W;
    let o = p * OH * OW;
    for (let oh = 0; oh < OH; oh++) {
      const r0 = plane + 2 * oh * W, r1 = r0 + W;
      for (let ow = 0; ow < OW; ow++, o++) {
        const i0 = r0 + 2 * ow, i2 = r1 + 2 * ow;
        const a = xd[i0]!, b = xd[i0 + 1]!, c = xd[i2]!, d = xd[i2 + 1]!;
        const m = Math.max(a, b, c, d);
        // First maximum in row-major order; a NaN is the maximum.
        const at = a === m || a !== a ? i0 : b === m || b !== b ? i0 + 1 : c === m || c !== c ? i2 : i2 + 1;
        dd[at] += gd[o]!;
      }
    }
  }
}

export const maxPool2dGradKernel: ArrayKernel = ([x, dy], attrs, [dx]) => {
  const [N, C, H, W] = x!.shape as [number, number, number, number];
  const [, , OH, OW] = dy!.shape as [number, number, number, number];
  const geom = poolGeom(attrs, H, W, OH, OW);
  const xd = x!.data, gd = dy!.data, dd = dx!.data, L = OH * OW;
  dd.fill(0);
  if (isPool2x2(geom)) return maxPool2x2Grad(xd, gd, dd, N * C, H, W, OH, OW);
  const win = windows(geom);
  for (let p = 0; p < N * C; p++) {
    const plane = p * H * W, out = p * L;
    for (let o = 0; o < L; o++) {
      const at = argmaxWindow(xd, plane, W, win[o * 4]!, win[o * 4 + 1]!, win[o * 4 + 2]!, win[o * 4 + 3]!);
      dd[plane + at] += gd[out + o]!;
    }
  }
};

/** 1/divisor of each window: kh·kw with countIncludePad (windows never pass the padding), else the real elements. */
function avgScales(g: PoolGeom, countIncludePad: boolean): Float64Array {
  const scale = new Float64Array(g.OH * g.OW);
  forEachWindow(g, (o, h0, h1, w0, w1) => {
    let n = (h1 - h0) * (w1 - w0);
    if (countIncludePad) {
      const oh = Math.floor(o / g.OW), ow = o % g.OW;
      const hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
      n = (Math.min(hs + g.kh, g.H + g.pb) - hs) * (Math.min(ws + g.kw, g.W + g.pr) - ws);
    }
    scale[o] = 1 / n;
  });
  return scale;
}

export const avgPool2dKernel: ArrayKernel = ([x], attrs, [y]) => {
  const [N, C, H, W] = x!.shape as [number, number, number, number];
  const [, , OH, OW] = y!.shape as [number, number, number, number];
  const g = poolGeom(attrs, H, W, OH, OW);
  const win = windows(g);
  const scale = avgScales(g, attrs['countIncludePad'] as boolean);
  const xd = x!.data, yd = y!.data, L = OH * OW;
  for (let p = 0; p < N * C; p++) {
    const plane = p * H * W, out = p * L;
    for (let o = 0; o < L; o++) {
      const h0 = win[o * 4]!, h1 = win[o * 4 + 1]!, w0 = win[o * 4 + 2]!, w1 = win[o * 4 + 3]!;
      let s = 0;
      for (let h = h0; h < h1; h++) {
        const row = plane + h * W;
        for (let w = w0; w < w1; w++) s += xd[row + w]!;
      }
      yd[out + o] = s * scale[o]!;
    }
  }
};

export const avgPool2dGradKernel: ArrayKernel = ([dy], attrs, [dx]) => {
  const [N, C, H, W] = dx!.shape as [number, number, number, number];
  const [, , OH, OW] = dy!.shape as [number, number, number, number];
  const g = poolGeom(attrs, H, W, OH, OW);
  const gd = dy!.data, dd = dx!.data, L = OH * OW;
  dd.fill(0);
  if (isPool2x2(g)) {
    for (let p = 0; p < N * C; p++) {
      let o = p * L;
      for (let oh = 0; oh < OH; oh++) {
        const r0 = p * H * W + 2 * oh * W, r1 = r0 + W;
        for (let ow = 0; ow < OW; ow++, o++) {
          const v = gd[o]! * 0.25;
          dd[r0 + 2 * ow] = v; dd[r0 + 2 * ow + 1] = v; dd[r1 + 2 * ow] = v; dd[r1 + 2 * ow + 1] = v;
        }
      }
    }
    return;
  }
  const win = windows(g);
  const scale = avgScales(g, attrs['countIncludePad'] as boolean);
  for (let p = 0; p < N * C; p++) {
    const plane = p * H * W, out = p * L;
    for (let o = 0; o < L; o++) {
      const h0 = win[o * 4]!, h1 = win[o * 4 + 1]!, w0 = win[o * 4 + 2]!, w1 = win[o * 4 + 3]!;
      const v = gd[out + o]! * scale[o]!;
      for (let h = h0; h < h1; h++) {
        const row = plane + h * W;
        for (let w = w0; w < w1; w++) dd[row + w] += v;
      }
    }
  }
};

registerArrayKernels({
  conv2d: conv2dKernel,
  convTranspose2d: convTranspose2dKernel,
  conv2dFilterGrad: conv2dFilterGradKernel,
  maxPool2d: maxPool2dKernel,
  maxPool2dGrad: maxPool2dGradKernel,
  avgPool2d: avgPool2dKernel,
  avgPool2dGrad: avgPool2dGradKernel,
});
