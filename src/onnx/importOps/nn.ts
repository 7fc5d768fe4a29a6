// Neural-network ONNX ops: Gemm, Conv/ConvTranspose (1-D and 2-D), pooling, the
// normalizations, Softmax/LogSoftmax (with the 2-D semantics before opset 13), LRN.
import { dimProduct, KilnError, type Dim } from '../../ir/index.js';
import type { OnnxValue, OpContext, OpImporter } from '../importContext.js';
import { axisOf, reshape, requireFloat } from './support.js';

const gemm: OpImporter = (c) => {
  let a = c.input(0);
  const b = c.input(1), bias = c.optional(2);
  requireFloat(c, a, 'Gemm input A');
  const alpha = c.attrs.float('alpha', 1), beta = c.attrs.float('beta', 1);
  if (c.shape(a).length !== 2 || c.shape(b).length !== 2) throw new KilnError(`Gemm needs 2-D A and B, got ranks ${c.shape(a).length} and ${c.shape(b).length}`);
  if (c.attrs.int('transA', 0)) a = c.emit1('transpose', [a], { perm: [1, 0] });
  // linear takes the weight as [out, in] (Gemm's transB = 1).
  const w = c.attrs.int('transB', 0) ? b : c.emit1('transpose', [b], { perm: [1, 0] });
  const n = c.shape(w)[0]!;
  const dtype = c.type(a).dtype;
  let biasIn: OnnxValue | null = null;
  if (bias && beta === 1) {
    const bs = c.shape(bias);
    if (bs.length === 1 && bs[0] === n) biasIn = bias;
    else if (bs.length === 2 && bs[0] === 1 && bs[1] === n) biasIn = reshape(c, bias, [n]);
  }
  let y = c.emit1('linear', biasIn ? [a, w, biasIn] : [a, w]);
  if (alpha !== 1) y = c.emit1('mul', [y, c.scalar(alpha, dtype)]);
  if (bias && !biasIn) y = c.emit1('add', [y, beta === 1 ? bias : c.emit1('mul', [bias, c.scalar(beta, dtype)])]);
  return [y];
};

interface Geometry {
  kernel: number[];
  strides: number[];
  pads: number[];
  dilations: number[];
}

/** Kernel geometry of a conv/pool node over `spatial` dims (auto_pad resolved against the input's sizes). */
function geometry(c: OpContext, x: OnnxValue, kernel: number[], transposed = false): Geometry {
  const n = kernel.length;
  const strides = c.attrs.ints('strides', new Array<number>(n).fill(1));
  const dilations = c.attrs.ints('dilations', new Array<number>(n).fill(1));
  let pads = c.attrs.ints('pads', new Array<number>(2 * n).fill(0));
  const autoPad = c.attrs.string('auto_pad', 'NOTSET');
  if (strides.length !== n || dilations.length !== n || pads.length !== 2 * n) throw new KilnError(`strides, dilations and pads must have ${n}, ${n} and ${2 * n} entries for a ${n}-D kernel`);
  if (autoPad === 'VALID') pads = new Array<number>(2 * n).fill(0);
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    if (transposed) throw new KilnError(`ConvTranspose auto_pad ${autoPad} is not supported; give pads or output_shape`);
    const spatial = c.concreteShape(x, `auto_pad ${autoPad}`).slice(2);
    pads = new Array<number>(2 * n).fill(0);
    for (let i = 0; i < n; i++) {
      const out = Math.ceil(spatial[i]! / strides[i]!);
      const total = Math.max(0, (out - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - spatial[i]!);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[n + i] = total - pads[i]!;
    }
  } else if (autoPad !== 'NOTSET') throw new KilnError(`auto_pad '${autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  return { kernel, strides, pads, dilations };
}

/** A 1-D NCL value as NC1L (2-D kernels run it); 2-D as is; other ranks refused. */
function as2d(c: OpContext, x: OnnxValue, what: string): { x2: OnnxValue; oneD: boolean } {
  const s = c.shape(x);
  if (s.length === 4) return { x2: x, oneD: false };
  if (s.length === 3) return { x2: reshape(c, x, [s[0]!, s[1]!, 1, s[2]!]), oneD: true };
  throw new KilnError(`${what} supports 1-D and 2-D inputs (rank 3 or 4), got rank ${s.length}`);
}

function geometry2d(g: Geometry, oneD: boolean): { strides: number[]; pads: number[]; dilations: number[]; kernelShape: number[] } {
  if (!oneD) return { strides: g.strides, pads: g.pads, dilations: g.dilations, kernelShape: g.kernel };
  return { strides: [1, g.strides[0]!], pads: [0, g.pads[0]!, 0, g.pads[1]!], dilations: [1, g.dilations[0]!], kernelShape: [1, g.kernel[0]!] };
}

function back1d(c: OpContext, y: OnnxValue, oneD: boolean): OnnxValue {
  if (!oneD) return y;
  const s = c.shape(y);
  return reshape(c, y, [s[0]!, s[1]!, s[3]!]);
}

const conv: OpImporter = (c) => {
  const x = c.input(0), w = c.input(1), b = c.optional(2);
  const { x2, oneD } = as2d(c, x, 'Conv');
  const ws = c.shape(w);
  const kernel = c.attrs.ints('kernel_shape', ws.slice(2) as number[]);
  const g = geometry2d(geometry(c, x, kernel), oneD);
  const w2 = oneD ? reshape(c, w, [ws[0]!, ws[1]!, 1, ws[2]!]) : w;
  const y = c.emit1('conv2d', b ? [x2, w2, b] : [x2, w2], { strides: g.strides, pads: g.pads, dilations: g.dilations, group: c.attrs.int('group', 1) });
  return [back1d(c, y, oneD)];
};

const convTranspose: OpImporter = (c) => {
  const x = c.input(0), w = c.input(1), b = c.optional(2);
  const { x2, oneD } = as2d(c, x, 'ConvTranspose');
  const ws = c.shape(w);
  const kernel = c.attrs.ints('kernel_shape', ws.slice(2) as number[]);
  const n = kernel.length;
  const geo = geometry(c, x, kernel, true);
  let outPad = c.attrs.ints('output_padding', new Array<number>(n).fill(0));
  if (c.attrs.has('output_shape')) {
    const want = c.attrs.ints('output_shape').slice(-n);
    const spatial = c.concreteShape(x, 'ConvTranspose output_shape').slice(2);
    outPad = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) {
      const total = geo.strides[i]! * (spatial[i]! - 1) + ((kernel[i]! - 1) * geo.dilations[i]! + 1) - want[i]!;
      if (total < 0) { outPad[i] = -total; geo.pads[i] = 0; geo.pads[n + i] = 0; continue; }
      const upper = c.attrs.string('auto_pad', 'NOTSET') !== 'SAME_LOWER';
      geo.pads[i] = upper ? Math.floor(total / 2) : total - Math.floor(total / 2);
      geo.pads[n + i] = total - geo.pads[i]!;
    }
  }
  const g = geometry2d(geo, oneD);
  const w2 = oneD ? reshape(c, w, [ws[0]!, ws[1]!, 1, ws[2]!]) : w;
  const y = c.emit1('convTranspose2d', b ? [x2, w2, b] : [x2, w2], {
    strides: g.strides, pads: g.pads, dilations: g.dilations, group: c.attrs.int('group', 1),
    outputPadding: oneD ? [0, outPad[0]!] : outPad,
  });
  return [back1d(c, y, oneD)];
};

function pool(op: 'maxPool2d' | 'avgPool2d'): OpImporter {
  return (c) => {
    const x = c.input(0);
    if (c.outputs[1]) throw new KilnError("MaxPool's Indices output is not supported");
    const { x2, oneD } = as2d(c, x, op === 'maxPool2d' ? 'MaxPool' : 'AveragePool');
    const kernel = c.attrs.ints('kernel_shape');
    const geo = geometry(c, x, kernel);
    if (geo.dilations.some((d) => d !== 1)) throw new KilnError('pooling with dilations is not supported');
    const n = kernel.length;
    if (c.attrs.int('ceil_mode', 0)) {
      // Ceil mode: extra end padding so the last partial window counts (the ONNX rule drops a window that starts in the end padding).
      const spatial = c.concreteShape(x, 'ceil_mode').slice(2);
      for (let i = 0; i < n; i++) {
        const span = spatial[i]! + geo.pads[i]! + geo.pads[n + i]! - kernel[i]!;
        let out = Math.ceil(span / geo.strides[i]!) + 1;
        if ((out - 1) * geo.strides[i]! >= spatial[i]! + geo.pads[i]!) out--;
        const extra = (out - 1) * geo.strides[i]! + kernel[i]! - (spatial[i]! + geo.pads[i]! + geo.pads[n + i]!);
        if (extra > 0) {
          if (op === 'avgPool2d' && c.attrs.int('count_include_pad', 0)) throw new KilnError('AveragePool with ceil_mode and count_include_pad is not supported where ceil mode adds a window');
          geo.pads[n + i] = geo.pads[n + i]! + extra;
        }
      }
    }
    const g = geometry2d(geo, oneD);
    const attrs: Record<string, number[] | boolean> = { kernelShape: g.kernelShape, strides: g.strides, pads: g.pads };
    if (op === 'avgPool2d') attrs['countIncludePad'] = c.attrs.int('count_include_pad', 0) === 1;
    return [back1d(c, c.emit1(op, [x2], attrs), oneD)];
  };
}

function spatialAxes(rank: number): number[] {
  return Array.from({ length: rank - 2 }, (_, i) => i + 2);
}

/** Mean over `axes` (kept): sum / element count (the count read from the shape, so symbolic sizes work). */
export function meanOver(c: OpContext, x: OnnxValue, axes: number[], keepDims: boolean): OnnxValue {
  const dtype = c.type(x).dtype;
  const s = c.emit1('sum', [x], { axes, keepDims });
  const count = c.emit1('elementCount', [x], { axes, dtype });
  return c.emit1('div', [s, count]);
}

const globalAveragePool: OpImporter = (c) => {
  const x = c.input(0);
  return [meanOver(c, x, spatialAxes(c.shape(x).length), true)];
};

const globalMaxPool: OpImporter = (c) => {
  const x = c.input(0);
  return [c.emit1('max', [x], { axes: spatialAxes(c.shape(x).length), keepDims: true })];
};

const batchNormalization: OpImporter = (c) => {
  if (c.outputs.slice(1).some((o) => o)) throw new KilnError('BatchNormalization in training mode (running statistics outputs) is not supported');
  if (c.attrs.int('training_mode', 0)) throw new KilnError('BatchNormalization with training_mode=1 is not supported');
  const x = c.input(0), scale = c.input(1), bias = c.input(2), mean = c.input(3), variance = c.input(4);
  return [c.emit1('batchNorm', [x, mean, variance, scale, bias], { eps: c.attrs.float('epsilon', 1e-5) })];
};

const instanceNormalization: OpImporter = (c) => {
  const x = c.input(0), scale = c.input(1), bias = c.input(2);
  const rank = c.shape(x).length;
  const axes = spatialAxes(rank);
  const dtype = c.type(x).dtype;
  const d = c.emit1('sub', [x, meanOver(c, x, axes, true)]);
  const v = meanOver(c, c.emit1('mul', [d, d]), axes, true);
  const inv = c.emit1('rsqrt', [c.emit1('add', [v, c.scalar(c.attrs.float('epsilon', 1e-5), dtype)])]);
  const perChannel: Dim[] = [c.shape(x)[1]!, ...new Array<number>(rank - 2).fill(1)];
  return [c.emit1('add', [c.emit1('mul', [c.emit1('mul', [d, inv]), reshape(c, scale, perChannel)]), reshape(c, bias, perChannel)])];
};

const layerNormalization: OpImporter = (c) => {
  if (c.outputs.slice(1).some((o) => o)) throw new KilnError("LayerNormalization's Mean and InvStdDev outputs are not supported");
  const x = c.input(0), scale = c.input(1), bias = c.optional(2);
  const rank = c.shape(x).length;
  const axis = axisOf(c.attrs.int('axis', -1), rank);
  const norm = c.shape(x).slice(axis);
  const fit = (v: OnnxValue) => (c.shape(v).length === norm.length ? v : reshape(c, v, norm));
  return [c.emit1('layerNorm', bias ? [x, fit(scale), fit(bias)] : [x, fit(scale)], { axis, eps: c.attrs.float('epsilon', 1e-5) })];
};

function softmax(op: 'softmax' | 'logSoftmax'): OpImporter {
  return (c) => {
    const x = c.input(0);
    const shape = c.shape(x);
    const rank = shape.length;
    if (c.opset >= 13) return [c.emit1(op, [x], { axis: axisOf(c.attrs.int('axis', -1), rank) })];
    // Before opset 13: the input is coerced to 2-D [prod(:axis), prod(axis:)] and normalized along the second.
    const axis = axisOf(c.attrs.int('axis', 1), Math.max(rank, 1));
    if (axis === rank - 1) return [c.emit1(op, [x], { axis })];
    const lead = dimProduct(shape.slice(0, axis));
    const rest = dimProduct(shape.slice(axis));
    const flat = reshape(c, x, [lead, rest]);
    return [reshape(c, c.emit1(op, [flat], { axis: 1 }), shape)];
  };
}

const lrn: OpImporter = (c) => {
  const x = c.input(0);
  const size = c.attrs.int('size');
  const alpha = c.attrs.float('alpha', 1e-4), beta = c.attrs.float('beta', 0.75), bias = c.attrs.float('bias', 1);
  const shape = c.concreteShape(x, 'LRN');
  if (shape.length !== 4) throw new KilnError(`LRN supports 4-D NCHW input, got rank ${shape.length}`);
  const [n, ch, h, w] = shape as [number, number, number, number];
  const dtype = c.type(x).dtype;
  // The sum of squares over a window of channels: an average pool over [C, H·W] with the window on C, times its size.
  const sq = reshape(c, c.emit1('mul', [x, x]), [n, 1, ch, h * w]);
  const lo = Math.floor((size - 1) / 2), hi = Math.ceil((size - 1) / 2);
  const avg = c.emit1('avgPool2d', [sq], { kernelShape: [size, 1], strides: [1, 1], pads: [lo, 0, hi, 0], countIncludePad: true });
  const scaled = c.emit1('add', [c.emit1('mul', [avg, c.scalar(alpha, dtype)]), c.scalar(bias, dtype)]);
  const denom = c.emit1('pow', [reshape(c, scaled, shape), c.scalar(beta, dtype)]);
  return [c.emit1('div', [x, denom])];
};

export const nnImporters: Record<string, OpImporter> = {
  Gemm: gemm,
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: pool('maxPool2d'),
  AveragePool: pool('avgPool2d'),
  GlobalAveragePool: globalAveragePool,
  GlobalMaxPool: globalMaxPool,
  BatchNormalization: batchNormalization,
  InstanceNormalization: instanceNormalization,
  LayerNormalization: layerNormalization,
  Softmax: softmax('softmax'),
  LogSoftmax: softmax('logSoftmax'),
  LRN: lrn,
};
