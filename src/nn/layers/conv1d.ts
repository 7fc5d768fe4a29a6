import { conv2d, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, checkRank, layerError, newParameter, type FactoryOptions } from './common.js';
import { initBias, initWeight, resolveBias, torchDefaultWeight, type WeightBiasOptions } from './initScheme.js';

/** Options of `Conv1d`. */
export interface Conv1dLayerOptions extends WeightBiasOptions, FactoryOptions {
  /** Default 1. */
  stride?: number;
  /** Zero padding per side, or `'same'` (output length = input length; stride 1 only, the odd extra goes right) / `'valid'` (0). Default 0. */
  padding?: number | 'same' | 'valid';
  /** Default 1. */
  dilation?: number;
  /** Channel groups: inChannels and outChannels must both be divisible by it. Default 1. */
  groups?: number;
}

/**
 * 1-D convolution over [N, C, L] (or unbatched [C, L]) input (PyTorch `nn.Conv1d`):
 * weight [outChannels, inChannels/groups, kernelSize], bias [outChannels]. Runs as a
 * `conv2d` over a height-1 image, so it shares conv2d's kernels and gradients.
 *
 * Default init is PyTorch's: W and b ~ U(±1/√fanIn), fanIn = inChannels/groups·kernelSize.
 *
 * @example
 * ```ts
 * const conv = new kiln.nn.Conv1d(16, 32, 5, { padding: 'same' });
 * conv.forward(kiln.randn([8, 16, 100])).shape; // [8, 32, 100]
 * ```
 */
export class Conv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number | 'same' | 'valid';
  readonly dilation: number;
  readonly groups: number;

  constructor(inChannels: number, outChannels: number, kernelSize: number, options: Conv1dLayerOptions = {}) {
    super();
    this.inChannels = checkInt('Conv1d', 'inChannels', inChannels);
    this.outChannels = checkInt('Conv1d', 'outChannels', outChannels);
    this.kernelSize = checkInt('Conv1d', 'kernelSize', kernelSize);
    this.stride = checkInt('Conv1d', 'stride', options.stride ?? 1);
    const padding = options.padding ?? 0;
    this.padding = padding === 'same' || padding === 'valid' ? padding : checkInt('Conv1d', 'padding', padding, 0);
    this.dilation = checkInt('Conv1d', 'dilation', options.dilation ?? 1);
    this.groups = checkInt('Conv1d', 'groups', options.groups ?? 1);
    if (inChannels % this.groups || outChannels % this.groups) {
      throw layerError('Conv1d', `inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${this.groups})`);
    }
    if (this.padding === 'same' && this.stride !== 1) {
      throw layerError('Conv1d', `padding 'same' needs stride 1, got stride ${this.stride}`);
    }
    const { hasBias, scheme } = resolveBias('Conv1d', options);
    this.weight = newParameter([outChannels, inChannels / this.groups, kernelSize], options);
    initWeight('Conv1d', this.weight, options.init, torchDefaultWeight);
    this.bias = hasBias ? newParameter([outChannels], options) : null;
    if (this.bias) initBias('Conv1d', this.bias, scheme, (inChannels / this.groups) * kernelSize);
  }

  forward(x: Tensor): Tensor {
    checkRank('Conv1d', x, [2, 3], '[N, C, L] or [C, L]');
    const channelDim = x.rank - 2;
    if (x.shape[channelDim] !== this.inChannels) {
      throw layerError('Conv1d', `expected ${this.inChannels} input channels, got shape [${x.shape.join(', ')}]`);
    }
    // [N, C, L] → [N, C, 1, L]; the kernel [O, C/g, k] → [O, C/g, 1, k].
    const x4 = x.rank === 3 ? x.unsqueeze(2) : x.unsqueeze(0).unsqueeze(2);
    const p = this.padding;
    const y = conv2d(x4, this.weight.unsqueeze(2), this.bias, {
      stride: [1, this.stride],
      padding: p === 'same' || p === 'valid' ? p : [0, p],
      dilation: [1, this.dilation],
      groups: this.groups,
    });
    return x.rank === 3 ? y.squeeze(2) : y.squeeze([0, 2]);
  }
}
