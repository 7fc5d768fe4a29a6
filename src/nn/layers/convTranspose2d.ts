import { convTranspose2d, type Pair, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, checkRank, layerError, newParameter, toPair, type FactoryOptions } from './common.js';
import { initBias, initWeight, resolveBias, torchDefaultWeight, type WeightBiasOptions } from './initScheme.js';

/** Options of `ConvTranspose2d`. */
export interface ConvTranspose2dLayerOptions extends WeightBiasOptions, FactoryOptions {
  /** Default 1. */
  stride?: Pair;
  /** Rows/cols cropped from each side of the full output (PyTorch's `padding`). Default 0. */
  padding?: Pair;
  /** Extra rows/cols added on one side of the output (smaller than stride or dilation). Default 0. */
  outputPadding?: Pair;
  /** Default 1. */
  dilation?: Pair;
  /** Default 1. */
  groups?: number;
}

/**
 * Transposed 2-D convolution ("deconvolution", the gradient of Conv2d w.r.t. its input;
 * PyTorch `nn.ConvTranspose2d`), NCHW. Weight [inChannels, outChannels/groups, kH, kW].
 * Output size: (in − 1)·stride − 2·padding + dilation·(k − 1) + outputPadding + 1.
 *
 * Default init is PyTorch's: U(±1/√fanIn) with fanIn = outChannels/groups·kH·kW (PyTorch
 * computes the fan from the weight's dimension 1).
 *
 * @example
 * ```ts
 * const up = new kiln.nn.ConvTranspose2d(16, 8, 2, { stride: 2 });
 * up.forward(kiln.randn([1, 16, 7, 7])).shape; // [1, 8, 14, 14]
 * ```
 */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly outputPadding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, options: ConvTranspose2dLayerOptions = {}) {
    super();
    const L = 'ConvTranspose2d';
    this.inChannels = checkInt(L, 'inChannels', inChannels);
    this.outChannels = checkInt(L, 'outChannels', outChannels);
    this.kernelSize = toPair(L, 'kernelSize', kernelSize);
    this.stride = toPair(L, 'stride', options.stride ?? 1);
    this.padding = toPair(L, 'padding', options.padding ?? 0, 0);
    this.outputPadding = toPair(L, 'outputPadding', options.outputPadding ?? 0, 0);
    this.dilation = toPair(L, 'dilation', options.dilation ?? 1);
    this.groups = checkInt(L, 'groups', options.groups ?? 1);
    if (inChannels % this.groups || outChannels % this.groups) {
      throw layerError(L, `inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${this.groups})`);
    }
    for (let i = 0; i < 2; i++) {
      if (this.outputPadding[i]! >= Math.max(this.stride[i]!, this.dilation[i]!)) {
        throw layerError(L, `outputPadding must be smaller than stride or dilation, got outputPadding [${this.outputPadding.join(', ')}], stride [${this.stride.join(', ')}], dilation [${this.dilation.join(', ')}]`);
      }
    }
    const { hasBias, scheme } = resolveBias(L, options);
    const [kh, kw] = this.kernelSize;
    this.weight = newParameter([inChannels, outChannels / this.groups, kh, kw], options);
    initWeight(L, this.weight, options.init, torchDefaultWeight);
    this.bias = hasBias ? newParameter([outChannels], options) : null;
    if (this.bias) initBias(L, this.bias, scheme, (outChannels / this.groups) * kh * kw);
  }

  forward(x: Tensor): Tensor {
    checkRank('ConvTranspose2d', x, [4], 'NCHW');
    if (x.shape[1] !== this.inChannels) {
      throw layerError('ConvTranspose2d', `expected ${this.inChannels} input channels, got shape [${x.shape.join(', ')}]`);
    }
    return convTranspose2d(x, this.weight, this.bias, {
      stride: this.stride, padding: this.padding, outputPadding: this.outputPadding, dilation: this.dilation, groups: this.groups,
    });
  }
}
