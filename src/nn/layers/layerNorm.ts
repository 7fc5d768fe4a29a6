import { layerNorm, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, layerError, newParameter, type FactoryOptions } from './common.js';
import * as init from '../init.js';

/** Options of `LayerNorm`. */
export interface LayerNormOptions extends FactoryOptions {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Learned elementwise scale (init 1) and shift (init 0) of `normalizedShape`. Default true. */
  elementwiseAffine?: boolean;
  /** Whether the affine part has a shift. Default true. */
  bias?: boolean;
}

/**
 * Layer normalization (PyTorch `nn.LayerNorm`): each sample is normalized over its last
 * dimensions (`normalizedShape`) by their mean and biased variance, then scaled and
 * shifted elementwise. Same computation in training and eval.
 *
 * @example
 * ```ts
 * const ln = new kiln.nn.LayerNorm(512);
 * ln.forward(kiln.randn([8, 20, 512])).shape; // [8, 20, 512]
 * ```
 */
export class LayerNorm extends Module {
  /** Scale, of shape `normalizedShape` (null without `elementwiseAffine`). */
  readonly weight: Tensor | null;
  /** Shift, of shape `normalizedShape` (null without `elementwiseAffine` or with `bias: false`). */
  readonly bias: Tensor | null;
  readonly normalizedShape: readonly number[];
  readonly eps: number;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (!Array.isArray(shape) || shape.length === 0) throw layerError('LayerNorm', `normalizedShape must be a number or a non-empty array, got ${JSON.stringify(normalizedShape)}`);
    for (const d of shape) checkInt('LayerNorm', 'normalizedShape', d);
    this.normalizedShape = shape;
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps >= 0)) throw layerError('LayerNorm', `eps must be non-negative, got ${this.eps}`);
    const affine = options.elementwiseAffine ?? true;
    this.weight = affine ? init.ones_(newParameter(shape, options)) : null;
    this.bias = affine && (options.bias ?? true) ? newParameter(shape, options) : null;
  }

  forward(x: Tensor): Tensor {
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(x.rank - k);
    if (x.rank < k || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw layerError('LayerNorm', `expected input [..., ${this.normalizedShape.join(', ')}], got shape [${x.shape.join(', ')}]`);
    }
    // One layerNorm op (closed-form backward); normalized over the last k axes.
    return layerNorm(x, this.normalizedShape, { weight: this.weight, bias: this.bias, eps: this.eps });
  }
}
