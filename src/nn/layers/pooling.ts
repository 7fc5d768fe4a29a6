import { avgPool2d, maxPool2d, stack, type Pair, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkRank, layerError, toPair } from './common.js';

/** Options of `MaxPool2d`. */
export interface MaxPool2dLayerOptions {
  /** Default: the kernel size (non-overlapping windows). */
  stride?: Pair;
  /** Implicit −∞ padding per side, at most half the (dilated) kernel. Default 0. */
  padding?: Pair;
  /** Spacing between the window's elements. Default 1. */
  dilation?: Pair;
  /**
   * Round the output size up instead of down: a last, partial window is added where it
   * starts inside the input or the left/top padding (PyTorch's rule). Default false.
   */
  ceilMode?: boolean;
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

/** PyTorch's pooled size along one axis (`pooling_output_shape`), and the extra end padding ceil mode needs. */
function pooledSize(layer: string, size: number, k: number, s: number, p: number, d: number, ceil: boolean): { out: number; extra: number } {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = Math.floor((span + (ceil ? s - 1 : 0)) / s) + 1;
  // The last window must start inside the input or the left padding.
  if (ceil && (out - 1) * s >= size + p) out--;
  if (out < 1) throw layerError(layer, `the (dilated) kernel ${d * (k - 1) + 1} does not fit an input of size ${size} with padding ${p}`);
  return { out, extra: Math.max(0, (out - 1) * s + d * (k - 1) + 1 - (size + 2 * p)) };
}

/**
 * 2-D max pooling over NCHW (or CHW) input (PyTorch `nn.MaxPool2d`), with `dilation`
 * and `ceilMode`. Ceil mode runs the maxPool2d op with extra −∞ padding at the
 * bottom/right; dilation > 1 is decomposed (−∞ pad, one strided slice per kernel
 * element, the first maximum via argmax + gather, so the gradient goes where
 * PyTorch's does) as the pooling kernels have no dilation.
 *
 * @example
 * ```ts
 * const pool = new kiln.nn.MaxPool2d(2);
 * pool.forward(kiln.randn([8, 32, 28, 28])).shape; // [8, 32, 14, 14]
 * new kiln.nn.MaxPool2d(3, { stride: 2, ceilMode: true }).forward(kiln.randn([1, 1, 8, 8])).shape; // [1, 1, 4, 4]
 * ```
 */
export class MaxPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly ceilMode: boolean;

  constructor(kernelSize: Pair, options: MaxPool2dLayerOptions = {}) {
    super();
    const { k, s, p } = poolArgs('MaxPool2d', kernelSize, options.stride, options.padding);
    this.kernelSize = k;
    this.stride = s;
    this.padding = p;
    this.dilation = toPair('MaxPool2d', 'dilation', options.dilation ?? 1);
    this.ceilMode = options.ceilMode ?? false;
  }

  forward(x: Tensor): Tensor {
    return pool4d('MaxPool2d', x, (x4) => {
      const [k, s, p, d] = [this.kernelSize, this.stride, this.padding, this.dilation];
      const h = pooledSize('MaxPool2d', x4.shape[2]!, k[0], s[0], p[0], d[0], this.ceilMode);
      const w = pooledSize('MaxPool2d', x4.shape[3]!, k[1], s[1], p[1], d[1], this.ceilMode);
      if (d[0] === 1 && d[1] === 1) {
        if (h.extra === 0 && w.extra === 0) return maxPool2d(x4, k, { stride: s, padding: p });
        // Ceil mode: the op takes pads [top, left, bottom, right]; windows clip to the input.
        return x4.applyOp('maxPool2d', [], { kernelShape: [...k], strides: [...s], pads: [p[0], p[1], p[0] + h.extra, p[1] + w.extra] })[0]!;
      }
      const padded = x4.pad([p[1], p[1] + w.extra, p[0], p[0] + h.extra], { value: -Infinity });
      const pieces: Tensor[] = [];
      for (let i = 0; i < k[0]; i++) {
        for (let j = 0; j < k[1]; j++) {
          const starts = [i * d[0], j * d[1]];
          const ends = [starts[0]! + (h.out - 1) * s[0] + 1, starts[1]! + (w.out - 1) * s[1] + 1];
          pieces.push(padded.slice(starts, ends, { axes: [2, 3], steps: [...s] }));
        }
      }
      // Row-major window order, so argmax's first maximum is PyTorch's.
      const windows = stack(pieces, 4);
      return windows.gather(4, windows.argmax(4, { keepDims: true })).squeeze(4);
    });
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
