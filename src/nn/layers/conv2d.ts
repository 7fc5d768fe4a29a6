import { conv2d, type Pair, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, checkRank, layerError, newParameter, toPair, type FactoryOptions } from './common.js';
import { initBias, initWeight, resolveBias, torchDefaultWeight, type WeightBiasOptions } from './initScheme.js';

/** Options of `Conv2d`. */
export interface Conv2dLayerOptions extends WeightBiasOptions, FactoryOptions {
  /** Default 1. */
  stride?: Pair;
  /** Zero padding per side, or `'same'` (output size = input size; stride 1 only) / `'valid'` (0). Default 0. */
  padding?: Pair | 'same' | 'valid';
  /** Default 1. */
  dilation?: Pair;
  /** Channel groups: inChannels and outChannels must both be divisible by it. Default 1. */
  groups?: number;
}

/**
 * 2-D convolution over NCHW input (PyTorch `nn.Conv2d`): weight
 * [outChannels, inChannels/groups, kH, kW], bias [outChannels].
 *
 * Default init is PyTorch's: W and b ~ U(±1/√fanIn), fanIn = inChannels/groups·kH·kW.
 *
 * @example
 * ```ts
 * const conv = new kiln.nn.Conv2d(1, 32, 3, { padding: 1 });
 * const y = conv.forward(kiln.randn([8, 1, 28, 28])); // [8, 32, 28, 28]
 * ```
 */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | 'same' | 'valid';
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, options: Conv2dLayerOptions = {}) {
    super();
    this.inChannels = checkInt('Conv2d', 'inChannels', inChannels);
    this.outChannels = checkInt('Conv2d', 'outChannels', outChannels);
    this.kernelSize = toPair('Conv2d', 'kernelSize', kernelSize);
    this.stride = toPair('Conv2d', 'stride', options.stride ?? 1);
    const padding = options.padding ?? 0;
    this.padding = padding === 'same' || padding === 'valid' ? padding : toPair('Conv2d', 'padding', padding, 0);
    this.dilation = toPair('Conv2d', 'dilation', options.dilation ?? 1);
    this.groups = checkInt('Conv2d', 'groups', options.groups ?? 1);
    if (inChannels % this.groups || outChannels % this.groups) {
      throw layerError('Conv2d', `inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${this.groups})`);
    }
    if (this.padding === 'same' && (this.stride[0] !== 1 || this.stride[1] !== 1)) {
      throw layerError('Conv2d', `padding 'same' needs stride 1, got stride [${this.stride.join(', ')}]`);
    }
    const { hasBias, scheme } = resolveBias('Conv2d', options);
    const [kh, kw] = this.kernelSize;
    this.weight = newParameter([outChannels, inChannels / this.groups, kh, kw], options);
    initWeight('Conv2d', this.weight, options.init, torchDefaultWeight);
    this.bias = hasBias ? newParameter([outChannels], options) : null;
    if (this.bias) initBias('Conv2d', this.bias, scheme, (inChannels / this.groups) * kh * kw);
  }

  forward(x: Tensor): Tensor {
    checkRank('Conv2d', x, [4], 'NCHW');
    if (x.shape[1] !== this.inChannels) {
      throw layerError('Conv2d', `expected ${this.inChannels} input channels, got shape [${x.shape.join(', ')}]`);
    }
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }
}
