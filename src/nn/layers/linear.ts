import { isTracing, matmul, type Tensor } from '../../eager/index.js';
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
 * bias: 'zeros' }` gives the lecture notes' scheme.
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
    const y = matmul(x, this.transposedWeight());
    return this.bias ? y.add(this.bias) : y;
  }

  // Wᵀ is kept while W is unchanged (same version): a fresh transpose per call would cost
  // a copy, and on wasm XNNPACK re-packs a B operand it has not seen (≈3.5 ns/element),
  // which dominates small-batch inference. Recomputed after every in-place update, and
  // when the weight is another tensor (an optimizer with a tensor lr rebinds it).
  #weightT: Tensor | null = null;
  #weightTVersion = -1;
  #weightTOf: Tensor | null = null;

  private transposedWeight(): Tensor {
    if (isTracing()) return this.weight.transpose(); // the graph must record the op
    const cached = this.#weightT;
    if (cached && !cached.disposed && this.#weightTOf === this.weight && this.#weightTVersion === this.weight.version && cached.requiresGrad === this.weight.requiresGrad) return cached;
    if (cached) {
      cached.keepAlive = false;
      // After a rebind the old transpose may still be saved on an unrolled tape (the
      // hypergradient backpropagates through it): leave it to the garbage collector.
      if (this.#weightTOf === this.weight) cached.dispose();
    }
    const t = this.weight.transpose().keep();
    this.#weightT = t;
    this.#weightTOf = this.weight;
    this.#weightTVersion = this.weight.version;
    return t;
  }
}
