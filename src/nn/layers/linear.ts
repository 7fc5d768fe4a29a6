import { linear, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, layerError, newParameter, type FactoryOptions } from './common.js';
import { initBias, initWeight, resolveBias, torchDefaultWeight, type WeightBiasOptions } from './initScheme.js';

/** Options of `Linear`. */
export interface LinearOptions extends WeightBiasOptions, FactoryOptions {}

/**
 * Fully connected layer y = x·Wᵀ + b (PyTorch `nn.Linear`), weight [out, in], bias
 * [out]. Input [..., inFeatures] → [..., outFeatures].
 *
 * Default init is PyTorch's: W and b ~ U(±1/√inFeatures). `{ init: 'glorotUniform',
 * bias: 'zeros' }` gives Glorot/Xavier-uniform weights and zero biases.
 *
 * @example
 * ```ts
 * const fc = new kiln.nn.Linear(784, 128);
 * const y = fc.forward(kiln.randn([32, 784])); // [32, 128]
 * const glorot = new kiln.nn.Linear(128, 10, { init: 'glorotUniform', bias: 'zeros' });
 * ```
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    this.inFeatures = checkInt('Linear', 'inFeatures', inFeatures, 0);
    this.outFeatures = checkInt('Linear', 'outFeatures', outFeatures, 0);
    const { hasBias, scheme } = resolveBias('Linear', options);
    this.weight = newParameter([outFeatures, inFeatures], options);
    initWeight('Linear', this.weight, options.init, torchDefaultWeight);
    this.bias = hasBias ? newParameter([outFeatures], options) : null;
    if (this.bias) initBias('Linear', this.bias, scheme, inFeatures);
  }

  forward(x: Tensor): Tensor {
    if (x.rank === 0 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw layerError('Linear', `expected input [..., ${this.inFeatures}], got shape [${x.shape.join(', ')}]`);
    }
    // One `linear` op (one node when traced); the wasm kernel keeps Wᵀ packed while W is unchanged.
    return linear(x, this.weight, this.bias);
  }
}
