// Activation functions as modules, for use in Sequential.
import { elu, leakyRelu, logSoftmax, relu, sigmoid, softmax, tanh, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, layerError, newParameter, type FactoryOptions } from './common.js';
import * as init from '../init.js';

/**
 * max(x, 0) (PyTorch `nn.ReLU`).
 *
 * @example
 * ```ts
 * new kiln.nn.ReLU().forward(kiln.tensor([-1, 2])).toArray(); // [0, 2]
 * ```
 */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/**
 * x for x > 0, negativeSlope·x otherwise (PyTorch `nn.LeakyReLU`, default slope 0.01).
 *
 * @example
 * ```ts
 * new kiln.nn.LeakyReLU(0.1).forward(kiln.tensor([-1, 2])).toArray(); // [-0.1, 2]
 * ```
 */
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }

  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
}

/** Options of `PReLU`. */
export interface PReLUOptions extends FactoryOptions {
  /** Initial slope. Default 0.25. */
  init?: number;
}

/**
 * Leaky ReLU with a learned negative slope a (PyTorch `nn.PReLU`): relu(x) + a·min(0, x).
 * One slope shared by all elements (`numParameters` 1, default) or one per channel
 * (dimension 1 of the input).
 *
 * @example
 * ```ts
 * const act = new kiln.nn.PReLU(16);                 // one slope per channel, 0.25 each
 * act.forward(kiln.randn([8, 16, 5, 5])).shape;      // [8, 16, 5, 5]
 * ```
 */
export class PReLU extends Module {
  /** The slopes, [numParameters] (PyTorch's `num_parameters`; `Module.numParameters()` is the trainable-element count). */
  readonly weight: Tensor;

  constructor(numParameters = 1, options: PReLUOptions = {}) {
    super();
    checkInt('PReLU', 'numParameters', numParameters);
    this.weight = init.constant_(newParameter([numParameters], options), options.init ?? 0.25);
  }

  forward(x: Tensor): Tensor {
    let a = this.weight;
    const slopes = a.size;
    if (slopes > 1) {
      if (x.rank < 2 || x.shape[1] !== slopes) {
        throw layerError('PReLU', `expected ${slopes} channels in dimension 1, got shape [${x.shape.join(', ')}]`);
      }
      const shape = new Array<number>(x.rank - 1).fill(1);
      shape[0] = slopes;
      a = a.reshape(shape); // [C, 1, …] broadcasts over dimension 1
    }
    return relu(x).add(a.mul(x.minimum(0)));
  }
}

/**
 * x for x > 0, alpha·(eˣ − 1) otherwise (PyTorch `nn.ELU`, default alpha 1).
 *
 * @example
 * ```ts
 * new kiln.nn.ELU().forward(kiln.tensor([-1, 2])); // [-0.632, 2]
 * ```
 */
export class ELU extends Module {
  constructor(readonly alpha = 1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return elu(x, this.alpha);
  }
}

/**
 * 1/(1 + e⁻ˣ) (PyTorch `nn.Sigmoid`).
 *
 * @example
 * ```ts
 * new kiln.nn.Sigmoid().forward(kiln.tensor([0])).toArray(); // [0.5]
 * ```
 */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/**
 * Hyperbolic tangent (PyTorch `nn.Tanh`).
 *
 * @example
 * ```ts
 * new kiln.nn.Tanh().forward(kiln.tensor([0])).toArray(); // [0]
 * ```
 */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/**
 * Softmax along `dim` (PyTorch `nn.Softmax`). The default is the last dimension
 * (PyTorch's implicit choice of dimension is deprecated there, so Kiln does not copy it).
 *
 * @example
 * ```ts
 * new kiln.nn.Softmax(1).forward(kiln.randn([4, 10])).sum(1); // ones
 * ```
 */
export class Softmax extends Module {
  constructor(readonly dim = -1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return softmax(x, this.dim);
  }
}

/**
 * log(softmax(x)) along `dim`, computed stably (PyTorch `nn.LogSoftmax`); default: the
 * last dimension.
 *
 * @example
 * ```ts
 * new kiln.nn.LogSoftmax(1).forward(kiln.randn([4, 10])); // log-probabilities
 * ```
 */
export class LogSoftmax extends Module {
  constructor(readonly dim = -1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return logSoftmax(x, this.dim);
  }
}

/**
 * Returns its input unchanged (PyTorch `nn.Identity`): a linear output layer, or a
 * placeholder where a layer is switched off.
 *
 * @example
 * ```ts
 * const x = kiln.randn([2, 3]);
 * new kiln.nn.Identity().forward(x) === x; // true
 * ```
 */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
