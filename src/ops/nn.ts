import { dimAdd, dimDivExact, dimFloorDiv, dimMul, dimSub, formatDim, isFloat, KilnError, NotAffineError, registerOp, symbolicInfer, type Attrs, type Dim, type IrAttrs, type ValueType } from '../ir/index.js';
import { checkFusedActivation, fusedActivationGrad } from './fusedActivation.js';
import { dimsText, requireSameDim, requireSameShape } from './shapeHelpers.js';
import type { AnyTensor } from './tensorLike.js';

/*
 * NN primitives in NCHW. Attribute conventions (ONNX-like, so export maps 1:1):
 *   strides [sH, sW], dilations [dH, dW], group,
 *   pads [top, left, bottom, right]: bottom/right may be negative on ops built by
 *   gradient rules (it only trims the output; kernels read top/left),
 *   kernelShape [kH, kW] where it cannot be read off an input.
 * conv2d's input gradient is convTranspose2d and vice versa; both filter gradients are
 * the internal op conv2dFilterGrad.
 *
 * Shape rules are written over dims (symbolicInfer), so one rule serves eager dispatch and
 * symbolic inference: batch and channel dims pass through, a spatial output
 * ⌊(H + pads − d·(k − 1) − 1)/s⌋ + 1 is affine in a symbolic H at stride 1 (or where s
 * divides H's coefficient), and otherwise throws a NotAffineError naming the op and the
 * axis, so the caller specializes per size.
 */

type Pair = readonly [number, number];

/** Geometry attrs shared by the convolution ops. */
export interface ConvGeometry {
  strides: Pair;
  pads: readonly [number, number, number, number];
  dilations: Pair;
  group: number;
}

/** Output extent of a convolution along one axis (floor mode). */
export function convOutSize(size: number, k: number, stride: number, dilation: number, padBegin: number, padEnd: number): number {
  return Math.floor((size + padBegin + padEnd - dilation * (k - 1) - 1) / stride) + 1;
}

/** Output extent of a transposed convolution along one axis. */
export function convTransposeOutSize(size: number, k: number, stride: number, dilation: number, padBegin: number, padEnd: number, outputPadding: number): number {
  return (size - 1) * stride - padBegin - padEnd + dilation * (k - 1) + 1 + outputPadding;
}

/**
 * `convOutSize` over dims: exact for a symbolic `size` (or kernel) where the result is
 * affine; else a NotAffineError naming `op` and the `axis` (⌊(h − 1)/2⌋ + 1 at stride 2).
 */
export function convOutDim(op: string, axis: string, size: Dim, k: Dim, stride: number, dilation: number, padBegin: number, padEnd: number): Dim {
  // Static sizes: plain arithmetic, as the concrete rule does (a malformed attribute gives
  // NaN there, which the verifier reports as such, naming the attributes).
  if (typeof size === 'number' && typeof k === 'number') return Math.floor((size + padBegin + padEnd - dilation * (k - 1) - 1) / stride) + 1;
  // size + padBegin + padEnd − dilation·(k − 1) − 1: the span the window's start can take.
  const span = dimSub(dimAdd(size, padBegin + padEnd - 1), dimMul(dimSub(k, 1), dilation));
  try {
    return dimAdd(dimFloorDiv(span, stride), 1);
  } catch (e) {
    if (!(e instanceof NotAffineError)) throw e;
    throw new NotAffineError(`${op}: output ${axis} ⌊(${formatDim(span)}) / ${stride}⌋ + 1 is not affine in the input ${axis} ${formatDim(size)} at stride ${stride}`);
  }
}

/** `convTransposeOutSize` over dims: always affine ((size − 1)·s − pads + d·(k − 1) + 1 + outputPadding). */
export function convTransposeOutDim(size: Dim, k: Dim, stride: number, dilation: number, padBegin: number, padEnd: number, outputPadding: number): Dim {
  return dimAdd(dimAdd(dimMul(dimSub(size, 1), stride), 1 + outputPadding - padBegin - padEnd), dimMul(dimSub(k, 1), dilation));
}

function geometryOf(attrs: IrAttrs): ConvGeometry {
  return {
    strides: attrs['strides'] as unknown as Pair,
    pads: attrs['pads'] as unknown as readonly [number, number, number, number],
    dilations: attrs['dilations'] as unknown as Pair,
    group: attrs['group'] as number,
  };
}

function geometryAttrs(g: ConvGeometry): { strides: number[]; pads: number[]; dilations: number[]; group: number } {
  return { strides: [...g.strides], pads: [...g.pads], dilations: [...g.dilations], group: g.group };
}

function checkFloat4(op: string, ts: readonly ValueType[], names: readonly string[]): void {
  ts.forEach((t, i) => {
    if (t.shape.length !== 4) throw new KilnError(`${names[i]} must be 4-D (NCHW), got shape ${dimsText(t.shape)}`);
  });
  const dtype = ts[0]!.dtype;
  if (!isFloat(dtype)) throw new KilnError(`${op} needs floating-point inputs, got ${dtype}`);
  for (const t of ts) if (t.dtype !== dtype) throw new KilnError(`${op} inputs must share one dtype, got ${ts.map((x) => x.dtype).join(' and ')}`);
}

function checkBias(bias: ValueType | undefined, channels: Dim, dtype: string): void {
  if (!bias) return;
  requireSameShape(bias.shape, [channels], () => `bias must have shape [${formatDim(channels)}], got ${dimsText(bias.shape)}`);
  if (bias.dtype !== dtype) throw new KilnError(`bias dtype ${bias.dtype} differs from the input's ${dtype}`);
}

/** Rejects an output extent below 1 (a symbolic one is ≥ 1 only for some sizes: the plan checks those per binding). */
function checkOut(oh: Dim, ow: Dim, x: ValueType): void {
  if ((typeof oh === 'number' && oh < 1) || (typeof ow === 'number' && ow < 1)) throw new KilnError(`calculated output size ${formatDim(oh)}x${formatDim(ow)} is too small for input ${dimsText(x.shape)}`);
}

/** `d` / `group`, which must come out whole (a symbolic `d` for every size). */
function perGroup(d: Dim, group: number, what: string): Dim {
  if (typeof d === 'number' && d % group !== 0) throw new KilnError(`${what} ${d} must be divisible by groups=${group}`);
  try {
    return dimDivExact(d, group);
  } catch (e) {
    if (!(e instanceof NotAffineError)) throw e;
    throw new NotAffineError(`${what} ${formatDim(d)} is divisible by groups=${group} only for some sizes`);
  }
}

/**
 * convTranspose2d(x, w) with output spatial size `target`: the input gradient of a
 * conv2d whose output is x. Output padding makes up rows the floor division lost; a
 * negative one (never from consistent shapes) is turned into extra end padding.
 */
function convTransposeTo(x: AnyTensor, w: AnyTensor, g: ConvGeometry, target: readonly number[]): AnyTensor {
  const [kh, kw] = [w.shape[2]!, w.shape[3]!];
  const pads = [...g.pads];
  const op = [0, 0];
  for (let a = 0; a < 2; a++) {
    const k = a === 0 ? kh : kw;
    const base = convTransposeOutSize(x.shape[2 + a]!, k, g.strides[a]!, g.dilations[a]!, pads[a]!, pads[2 + a]!, 0);
    const extra = target[a]! - base;
    if (extra >= 0) op[a] = extra;
    else pads[2 + a] = pads[2 + a]! - extra;
  }
  return x.applyOp('convTranspose2d', [w], { ...geometryAttrs({ ...g, pads: pads as unknown as ConvGeometry['pads'] }), outputPadding: op })[0]!;
}

/** conv2d(x, w) with output spatial size `target` (end padding adjusted to trim/extend rows). */
function conv2dTo(x: AnyTensor, w: AnyTensor, g: ConvGeometry, target: readonly number[]): AnyTensor {
  const pads = [...g.pads];
  for (let a = 0; a < 2; a++) {
    const k = w.shape[2 + a]!;
    const out = convOutSize(x.shape[2 + a]!, k, g.strides[a]!, g.dilations[a]!, pads[a]!, pads[2 + a]!);
    pads[2 + a] = pads[2 + a]! - (out - target[a]!) * g.strides[a]!;
  }
  return x.applyOp('conv2d', [w], geometryAttrs({ ...g, pads: pads as unknown as ConvGeometry['pads'] }))[0]!;
}

function filterGrad(a: AnyTensor, b: AnyTensor, g: ConvGeometry, kernel: readonly number[]): AnyTensor {
  return a.applyOp('conv2dFilterGrad', [b], { ...geometryAttrs(g), kernelShape: [kernel[0]!, kernel[1]!] })[0]!;
}

const spatial = (t: AnyTensor): number[] => [t.shape[2]!, t.shape[3]!];

/** conv2d(x[N,C,H,W], w[O,C/group,kH,kW], bias?[O]) → [N,O,OH,OW]. */
export const conv2d = registerOp<AnyTensor>({
  name: 'conv2d',
  arity: [2, 3],
  doc: '2-D convolution, NCHW input, OIHW weight, optional bias (attrs strides, pads [t,l,b,r], dilations, group; activation and its params when one is fused in at O2).',
  ...symbolicInfer(([x, w, b], attrs) => {
    checkFloat4('conv2d', [x!, w!], ['input', 'weight']);
    checkFusedActivation(attrs);
    const g = geometryOf(attrs);
    const [n, c, h, wd] = x!.shape as [Dim, Dim, Dim, Dim];
    const [o, cg, kh, kw] = w!.shape as [Dim, Dim, Dim, Dim];
    const expects = dimMul(cg, g.group);
    requireSameDim(expects, c, () => `weight ${dimsText(w!.shape)} with groups=${g.group} expects ${formatDim(expects)} input channels, got ${formatDim(c)} (input ${dimsText(x!.shape)})`);
    perGroup(o, g.group, 'out channels');
    checkBias(b, o, x!.dtype);
    const oh = convOutDim('conv2d', 'height', h, kh, g.strides[0], g.dilations[0], g.pads[0], g.pads[2]);
    const ow = convOutDim('conv2d', 'width', wd, kw, g.strides[1], g.dilations[1], g.pads[1], g.pads[3]);
    checkOut(oh, ow, x!);
    return [{ shape: [n, o, oh, ow], dtype: x!.dtype }];
  }),
  // A fused activation's gradient comes first, from the output (see ops/fusedActivation.ts).
  grad: ({ inputs: [x, w, b], outputs: [y], dys: [dyOut], attrs, needs }) => {
    const g = geometryOf(attrs);
    const dy = fusedActivationGrad(y!, dyOut!, attrs);
    return [
      needs[0] ? convTransposeTo(dy!, w!, g, spatial(x!)) : null,
      needs[1] ? filterGrad(x!, dy!, g, spatial(w!)) : null,
      b && needs[2] ? dy!.sum([0, 2, 3]) : null,
    ];
  },
});

/** convTranspose2d(x[N,C,H,W], w[C,O/group,kH,kW], bias?[O]) → [N,O,OH,OW]. */
export const convTranspose2d = registerOp<AnyTensor>({
  name: 'convTranspose2d',
  arity: [2, 3],
  doc: 'Transposed 2-D convolution (gradient of conv2d w.r.t. its input), weight [C, O/group, kH, kW], optional bias (attrs strides, pads, dilations, group, outputPadding; activation and its params when one is fused in at O2).',
  ...symbolicInfer(([x, w, b], attrs) => {
    checkFloat4('convTranspose2d', [x!, w!], ['input', 'weight']);
    checkFusedActivation(attrs);
    const g = geometryOf(attrs);
    const op = attrs['outputPadding'] as unknown as Pair;
    const [n, c, h, wd] = x!.shape as [Dim, Dim, Dim, Dim];
    const [ci, og, kh, kw] = w!.shape as [Dim, Dim, Dim, Dim];
    requireSameDim(ci, c, () => `weight ${dimsText(w!.shape)} expects ${formatDim(ci)} input channels, got ${formatDim(c)} (input ${dimsText(x!.shape)})`);
    perGroup(c, g.group, 'input channels');
    const o = dimMul(og, g.group);
    checkBias(b, o, x!.dtype);
    const oh = convTransposeOutDim(h, kh, g.strides[0], g.dilations[0], g.pads[0], g.pads[2], op[0]);
    const ow = convTransposeOutDim(wd, kw, g.strides[1], g.dilations[1], g.pads[1], g.pads[3], op[1]);
    checkOut(oh, ow, x!);
    return [{ shape: [n, o, oh, ow], dtype: x!.dtype }];
  }),
  grad: ({ inputs: [x, w, b], outputs: [y], dys: [dyOut], attrs, needs }) => {
    const g = geometryOf(attrs);
    const dy = fusedActivationGrad(y!, dyOut!, attrs);
    return [
      needs[0] ? conv2dTo(dy!, w!, g, spatial(x!)) : null,
      needs[1] ? filterGrad(dy!, x!, g, spatial(w!)) : null,
      b && needs[2] ? dy!.sum([0, 2, 3]) : null,
    ];
  },
});

/**
 * Filter gradient of conv2d(a, W) → b: dW[bc, ac, i, j] = Σ a[n, ·, oh·s − p + i·d, …]·b[n, bc, oh, ow]
 * (attr kernelShape). conv2d's is conv2dFilterGrad(x, dy); convTranspose2d's is (dy, x).
 */
export const conv2dFilterGrad = registerOp<AnyTensor>({
  name: 'conv2dFilterGrad',
  arity: 2,
  internalFor: 'conv2d',
  doc: 'Weight gradient of conv2d(a, W) = b given b\'s gradient (also convTranspose2d\'s, with a and b swapped); attrs as conv2d plus kernelShape.',
  ...symbolicInfer(([a, b], attrs) => {
    checkFloat4('conv2dFilterGrad', [a!, b!], ['input', 'output gradient']);
    const k = attrs['kernelShape'] as unknown as readonly [Dim, Dim];
    const group = attrs['group'] as number;
    requireSameDim(a!.shape[0]!, b!.shape[0]!, () => `batch sizes differ: ${dimsText(a!.shape)} vs ${dimsText(b!.shape)}`);
    const ac = perGroup(a!.shape[1]!, group, 'channels');
    perGroup(b!.shape[1]!, group, 'channels');
    return [{ shape: [b!.shape[1]!, ac, k[0], k[1]], dtype: a!.dtype }];
  }),
  // Bilinear: <ddW, F(a, b)> = <b, conv2d(a, ddW)>.
  grad: ({ inputs: [a, b], dys: [ddw], attrs, needs }) => {
    const g = geometryOf(attrs);
    return [
      needs[0] ? convTransposeTo(b!, ddw!, g, spatial(a!)) : null,
      needs[1] ? conv2dTo(a!, ddw!, g, spatial(b!)) : null,
    ];
  },
});

/** The pooled type of `x` (over dims: see convOutDim). */
function poolInfer(op: string, x: ValueType, attrs: IrAttrs): ValueType[] {
  if (x.shape.length !== 4) throw new KilnError(`input must be 4-D (NCHW), got shape ${dimsText(x.shape)}`);
  if (!isFloat(x.dtype)) throw new KilnError(`${op} needs a floating-point input, got ${x.dtype}`);
  const k = attrs['kernelShape'] as unknown as Pair;
  const s = attrs['strides'] as unknown as Pair;
  const p = attrs['pads'] as unknown as readonly number[];
  const [n, c, h, w] = x.shape as [Dim, Dim, Dim, Dim];
  const oh = convOutDim(op, 'height', h, k[0], s[0], 1, p[0]!, p[2]!);
  const ow = convOutDim(op, 'width', w, k[1], s[1], 1, p[1]!, p[3]!);
  checkOut(oh, ow, x);
  return [{ shape: [n, c, oh, ow], dtype: x.dtype }];
}

function poolAttrs(attrs: Attrs): { kernelShape: number[]; strides: number[]; pads: number[] } {
  return {
    kernelShape: [...(attrs['kernelShape'] as readonly number[])],
    strides: [...(attrs['strides'] as readonly number[])],
    pads: [...(attrs['pads'] as readonly number[])],
  };
}

/** maxPool2d: -inf padding; the gradient goes to the first maximum of each window. */
export const maxPool2d = registerOp<AnyTensor>({
  name: 'maxPool2d',
  arity: 1,
  doc: '2-D max pooling, NCHW (attrs kernelShape, strides, pads [t,l,b,r]; padding is -inf).',
  ...symbolicInfer(([x], attrs) => poolInfer('maxPool2d', x!, attrs)),
  grad: ({ inputs: [x], dys: [dy], attrs }) => [x!.applyOp('maxPool2dGrad', [dy!], poolAttrs(attrs))[0]!],
});

export const maxPool2dGrad = registerOp<AnyTensor>({
  name: 'maxPool2dGrad',
  arity: 2,
  internalFor: 'maxPool2d',
  doc: 'Gradient of maxPool2d: routes dy to the first maximum of each window of x.',
  ...symbolicInfer(([x, dy], attrs) => {
    const [y] = poolInfer('maxPool2dGrad', x!, attrs);
    requireSameShape(dy!.shape, y!.shape, () => `output gradient ${dimsText(dy!.shape)} does not match the pooled shape ${dimsText(y!.shape)}`);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  }),
});

/** avgPool2d: zero padding, divisor kH·kW (countIncludePad) or the number of real elements. */
export const avgPool2d = registerOp<AnyTensor>({
  name: 'avgPool2d',
  arity: 1,
  doc: '2-D average pooling, NCHW (attrs kernelShape, strides, pads [t,l,b,r], countIncludePad).',
  ...symbolicInfer(([x], attrs) => poolInfer('avgPool2d', x!, attrs)),
  grad: ({ inputs: [x], dys: [dy], attrs }) => [
    dy!.applyOp('avgPool2dGrad', [], { ...poolAttrs(attrs), countIncludePad: attrs['countIncludePad'] as boolean, inputShape: [x!.shape[2]!, x!.shape[3]!] })[0]!,
  ],
});

export const avgPool2dGrad = registerOp<AnyTensor>({
  name: 'avgPool2dGrad',
  arity: 1,
  internalFor: 'avgPool2d',
  doc: 'Gradient of avgPool2d: spreads dy evenly over each window (attr inputShape [H, W]).',
  ...symbolicInfer(([dy], attrs) => {
    // inputShape follows a symbolic input's H and W (the tracer writes them as dims).
    const hw = attrs['inputShape'] as unknown as readonly [Dim, Dim];
    const x: ValueType = { shape: [dy!.shape[0]!, dy!.shape[1]!, hw[0], hw[1]], dtype: dy!.dtype };
    const [y] = poolInfer('avgPool2dGrad', x, attrs);
    requireSameShape(dy!.shape, y!.shape, () => `output gradient ${dimsText(dy!.shape)} does not match the pooled shape ${dimsText(y!.shape)}`);
    return [x];
  }),
  // Linear in dy; its adjoint is the forward pool.
  grad: ({ dys: [ddx], attrs }) => [ddx!.applyOp('avgPool2d', [], { ...poolAttrs(attrs), countIncludePad: attrs['countIncludePad'] as boolean })[0]!],
});
