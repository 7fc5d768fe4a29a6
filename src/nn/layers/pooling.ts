import { avgPool2d, maxPool2d, type Pair, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkRank, layerError, toPair } from './common.js';

/** Options of `MaxPool2d`. */
export interface MaxPool2dLayerOptions {
  /** Default: the kernel size (non-overlapping windows). */
  stride?: Pair;
  /** Implicit −∞ padding per side, at most half the kernel. Default 0. */
  padding?: Pair;
}

/** Options of `AvgPool2d`. */
export interface AvgPool2dLayerOptions {
  /** Default: the kernel size. */
  stride?: Pair;
  /** Implicit zero padding per side, at most half the kernel. Default 0. */
  padding?: Pair;
  /** Whether padded zeros count in the divisor. Default true (PyTorch). */
  countIncludePad?: boolean;
}

function poolArgs(layer: string, kernelSize: Pair, stride: Pair | undefined, padding: Pair | undefined) {
  const k = toPair(layer, 'kernelSize', kernelSize);
  const s = toPair(layer, 'stride', stride ?? k);
  const p = toPair(layer, 'padding', padding ?? 0, 0);
  if (p[0] > k[0] / 2 || p[1] > k[1] / 2) {
    throw layerError(layer, `padding [${p.join(', ')}] must be at most half the kernel size [${k.join(', ')}]`);
  }
  return { k, s, p };
}

/** Runs a 4-D pooling function on NCHW or CHW input (CHW gets a batch of 1 for the call). */
function pool4d(layer: string, x: Tensor, f: (x4: Tensor) => Tensor): Tensor {
  checkRank(layer, x, [3, 4], 'CHW or NCHW');
  if (x.rank === 4) return f(x);
  const y = f(x.reshape([1, ...x.shape]));
  return y.reshape(y.shape.slice(1));
}

/**
 * 2-D max pooling over NCHW (or CHW) input (PyTorch `nn.MaxPool2d`).
 *
 * @example
 * ```ts
 * const pool = new kiln.nn.MaxPool2d(2);
 * pool.forward(kiln.randn([8, 32, 28, 28])).shape; // [8, 32, 14, 14]
 * ```
 */
export class MaxPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];

  constructor(kernelSize: Pair, options: MaxPool2dLayerOptions = {}) {
    super();
    const { k, s, p } = poolArgs('MaxPool2d', kernelSize, options.stride, options.padding);
    this.kernelSize = k;
    this.stride = s;
    this.padding = p;
  }

  forward(x: Tensor): Tensor {
    return pool4d('MaxPool2d', x, (x4) => maxPool2d(x4, this.kernelSize, { stride: this.stride, padding: this.padding }));
  }
}

/**
 * 2-D average pooling over NCHW (or CHW) input (PyTorch `nn.AvgPool2d`).
 *
 * @example
 * ```ts
 * const pool = new kiln.nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false });
 * pool.forward(kiln.randn([1, 4, 9, 9])).shape; // [1, 4, 5, 5]
 * ```
 */
export class AvgPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly countIncludePad: boolean;

  constructor(kernelSize: Pair, options: AvgPool2dLayerOptions = {}) {
    super();
    const { k, s, p } = poolArgs('AvgPool2d', kernelSize, options.stride, options.padding);
    this.kernelSize = k;
    this.stride = s;
    this.padding = p;
    this.countIncludePad = options.countIncludePad ?? true;
  }

  forward(x: Tensor): Tensor {
    return pool4d('AvgPool2d', x, (x4) =>
      avgPool2d(x4, this.kernelSize, { stride: this.stride, padding: this.padding, countIncludePad: this.countIncludePad }));
  }
}
