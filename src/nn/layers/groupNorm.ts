import type { Tensor } from '../../eager/index.js';
import { centered as centerMean } from '../../eager/functional/centered.js';
import { Module } from '../module.js';
import { channelShape, checkInt, layerError, newParameter, type FactoryOptions } from './common.js';
import * as init from '../init.js';

/** Options of `GroupNorm`. */
export interface GroupNormOptions extends FactoryOptions {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Learned per-channel scale (init 1) and shift (init 0). Default true. */
  affine?: boolean;
}

/**
 * Group normalization of x [N, C, *] (PyTorch `F.group_norm`): the C channels are split
 * into `numGroups` groups of consecutive channels, each sample's group is normalized by
 * its own mean and biased variance, then `weight`/`bias` ([C], optional) scale and shift
 * each channel.
 */
export function groupNorm(x: Tensor, numGroups: number, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const [n, c] = x.shape as [number, number];
  const grouped = x.reshape([n, numGroups, -1]);
  const [, centered] = centerMean(grouped, [2]); // exact for large offsets, as BatchNorm
  const variance = centered.square().mean(2, { keepDims: true });
  let y = centered.mul(variance.add(eps).rsqrt()).reshape(x.shape);
  const shape = channelShape(c, x.rank);
  if (weight) y = y.mul(weight.reshape(shape));
  if (bias) y = y.add(bias.reshape(shape));
  return y;
}

/**
 * Group normalization (PyTorch `nn.GroupNorm`): input [N, C, *] with C = `numChannels`;
 * each sample's `numGroups` groups of C/numGroups consecutive channels are normalized
 * over their channels and all spatial positions (mean, biased variance), then scaled and
 * shifted per channel. Independent of the batch, so training and eval compute the same.
 * `numGroups` = C is InstanceNorm with affine parameters; `numGroups` = 1 normalizes
 * each sample as a whole, like LayerNorm over [C, *] but with per-channel affine.
 *
 * @example
 * ```ts
 * const gn = new kiln.nn.GroupNorm(4, 32);
 * gn.forward(kiln.randn([2, 32, 8, 8])).shape; // [2, 32, 8, 8]
 * ```
 */
export class GroupNorm extends Module {
  /** Scale γ, [numChannels] (null unless `affine`). */
  readonly weight: Tensor | null;
  /** Shift β, [numChannels] (null unless `affine`). */
  readonly bias: Tensor | null;
  readonly numGroups: number;
  readonly numChannels: number;
  readonly eps: number;
  readonly affine: boolean;

  constructor(numGroups: number, numChannels: number, options: GroupNormOptions = {}) {
    super();
    this.numGroups = checkInt('GroupNorm', 'numGroups', numGroups);
    this.numChannels = checkInt('GroupNorm', 'numChannels', numChannels);
    if (numChannels % numGroups !== 0) {
      throw layerError('GroupNorm', `numChannels (${numChannels}) must be divisible by numGroups (${numGroups})`);
    }
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps >= 0)) throw layerError('GroupNorm', `eps must be non-negative, got ${this.eps}`);
    this.affine = options.affine ?? true;
    this.weight = this.affine ? init.ones_(newParameter([numChannels], options)) : null;
    this.bias = this.affine ? newParameter([numChannels], options) : null;
  }

  forward(x: Tensor): Tensor {
    if (x.rank < 2 || x.shape[1] !== this.numChannels) {
      throw layerError('GroupNorm', `expected input [N, ${this.numChannels}, *], got shape [${x.shape.join(', ')}]`);
    }
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}
