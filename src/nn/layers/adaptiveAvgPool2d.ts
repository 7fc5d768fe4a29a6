import { avgPool2d, concat, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, checkRank, layerError } from './common.js';

/** Target size: one number for a square, or [h, w] where null keeps that input dimension. */
export type AdaptiveSize = number | readonly [number | null, number | null];

/**
 * Average pooling to a fixed output size whatever the input size (PyTorch
 * `nn.AdaptiveAvgPool2d`), NCHW or CHW. Output cell i along a dimension of size n
 * averages input [⌊i·n/out⌋, ⌈(i+1)·n/out⌉), exactly PyTorch's bins (which overlap
 * when out does not divide n).
 *
 * @example
 * ```ts
 * const gap = new kiln.nn.AdaptiveAvgPool2d(1);            // global average pooling
 * gap.forward(kiln.randn([8, 64, 7, 7])).shape;             // [8, 64, 1, 1]
 * new kiln.nn.AdaptiveAvgPool2d([3, null]).forward(kiln.randn([1, 2, 7, 5])).shape; // [1, 2, 3, 5]
 * ```
 */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: readonly [number | null, number | null];

  constructor(outputSize: AdaptiveSize) {
    super();
    const pair = typeof outputSize === 'number' ? [outputSize, outputSize] as const : outputSize;
    if (!Array.isArray(pair) || pair.length !== 2) throw layerError('AdaptiveAvgPool2d', `outputSize must be a number or [h, w], got ${JSON.stringify(outputSize)}`);
    for (const d of pair) if (d !== null) checkInt('AdaptiveAvgPool2d', 'outputSize', d);
    this.outputSize = [pair[0], pair[1]];
  }

  forward(x: Tensor): Tensor {
    checkRank('AdaptiveAvgPool2d', x, [3, 4], 'CHW or NCHW');
    const hAxis = x.rank - 2;
    const wAxis = x.rank - 1;
    const h = x.shape[hAxis]!;
    const w = x.shape[wAxis]!;
    if (h === 0 || w === 0) throw layerError('AdaptiveAvgPool2d', `input spatial size must be non-zero, got shape [${x.shape.join(', ')}]`);
    const outH = this.outputSize[0] ?? h;
    const outW = this.outputSize[1] ?? w;
    if (outH === 1 && outW === 1) return x.mean([hAxis, wAxis], { keepDims: true });
    if (h % outH === 0 && w % outW === 0) {
      // Uniform bins: one pooling kernel.
      const k: [number, number] = [h / outH, w / outW];
      if (k[0] === 1 && k[1] === 1) return x;
      const x4 = x.rank === 4 ? x : x.reshape([1, ...x.shape]);
      const y = avgPool2d(x4, k, { stride: k });
      return x.rank === 4 ? y : y.reshape(y.shape.slice(1));
    }
    // A rectangle's mean is the mean over rows of the means over columns, so the two
    // dimensions pool one after the other.
    return adaptiveMean(adaptiveMean(x, hAxis, outH), wAxis, outW);
  }
}

/** Adaptive average over one axis: `out` bins with PyTorch's boundaries. */
function adaptiveMean(x: Tensor, axis: number, out: number): Tensor {
  const n = x.shape[axis]!;
  if (out === n) return x;
  if (n % out === 0) {
    // Equal, disjoint bins: split the axis into [out, n/out] and average the inner one.
    const shape = [...x.shape.slice(0, axis), out, n / out, ...x.shape.slice(axis + 1)];
    return x.reshape(shape).mean(axis + 1);
  }
  const bins: Tensor[] = [];
  for (let i = 0; i < out; i++) {
    const start = Math.floor((i * n) / out);
    const end = Math.ceil(((i + 1) * n) / out);
    bins.push(x.slice([start], [end], { axes: [axis] }).mean(axis, { keepDims: true }));
  }
  return concat(bins, axis);
}
