import { concat, noGrad, ones, rand, scope, Tensor, tensor, zeros } from '../../eager/index.js';
import { buffer, Module } from '../module.js';
import { checkInt, layerError, type FactoryOptions } from '../layers/common.js';
import { describe, nonNegative, ridgeOf } from './checks.js';
import { ridgeReadout } from './ridgeReadout.js';

const NAME = 'ExtremeLearningMachine';

/** Hidden-layer nonlinearities of `ExtremeLearningMachine`. */
export type ElmActivation = 'tanh' | 'sigmoid' | 'relu';

/** Options of `ExtremeLearningMachine`. */
export interface ExtremeLearningMachineOptions extends FactoryOptions {
  /** Hidden nonlinearity. Default 'tanh'. */
  activation?: ElmActivation;
  /**
   * Hidden weights are drawn from U(−a, a) with a = inputScaling·√(3 / inputSize), so a
   * hidden unit's pre-activation has variance inputScaling² for standardized inputs
   * (zero mean, unit variance, independent). Default 1.
   */
  inputScaling?: number;
  /** Hidden biases are drawn from U(−biasScaling, biasScaling). Default 1. */
  biasScaling?: number;
  /** Seed of the hidden layer; default: the global generator (`kiln.manualSeed`). */
  seed?: number;
}

/** Options of `ExtremeLearningMachine.fit`. */
export interface ExtremeLearningFitOptions {
  /** Ridge penalty λ ≥ 0 on the readout (not on its intercept). Default 1e-6; 0 is plain least squares. */
  ridge?: number;
}

/**
 * An extreme learning machine (Huang et al. 2006): one hidden layer with fixed random
 * weights and a linear readout fitted in closed form by ridge regression. All weights
 * are buffers (saved by `stateDict`, `kiln.save`); `numParameters()` is 0.
 *
 *     h = act(x·W_inᵀ + b)        y = [1, h]·W_out
 *
 * `fit(x, targets)` takes regression targets `[N, outputSize]`, or int32 class indices
 * `[N]` for classification (one-hot encoded; `predict(x).argmax(1)` is then the class).
 * Inputs are `[N, inputSize]` (standardize them first: see `inputScaling`).
 *
 * @example
 * ```ts
 * // Regress y = sin(3x) on [-1, 1].
 * const x = kiln.linspace(-1, 1, 200).reshape([200, 1]);
 * const elm = new kiln.nn.ExtremeLearningMachine(1, 50, 1, { seed: 0, inputScaling: 3 });
 * elm.fit(x, x.mul(3).sin(), { ridge: 1e-8 });
 * elm.predict(kiln.tensor([[0.5]])).item(); // ≈ sin(1.5) ≈ 0.997
 * ```
 */
export class ExtremeLearningMachine extends Module {
  /** W_in, `[hiddenSize, inputSize]`. */
  readonly inputWeight: Tensor;
  /** b, `[hiddenSize]`. */
  readonly bias: Tensor;
  /** W_out, `[1 + hiddenSize, outputSize]` (row 0 the intercept); zeros until `fit`. */
  readonly readoutWeight: Tensor;
  /** 1 once the readout is fitted (or loaded), else 0: an int32 scalar, saved with the weights. */
  readonly fitted: Tensor;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly outputSize: number;
  readonly activation: ElmActivation;

  constructor(inputSize: number, hiddenSize: number, outputSize: number, options: ExtremeLearningMachineOptions = {}) {
    super();
    this.inputSize = checkInt(NAME, 'inputSize', inputSize);
    this.hiddenSize = checkInt(NAME, 'hiddenSize', hiddenSize);
    this.outputSize = checkInt(NAME, 'outputSize', outputSize);
    const act = options.activation ?? 'tanh';
    if (act !== 'tanh' && act !== 'sigmoid' && act !== 'relu') throw layerError(NAME, `activation must be 'tanh', 'sigmoid' or 'relu', got ${String(act)}`);
    this.activation = act;
    const a = nonNegative(NAME, 'inputScaling', options.inputScaling ?? 1) * Math.sqrt(3 / inputSize);
    const bs = nonNegative(NAME, 'biasScaling', options.biasScaling ?? 1);
    const dtype = options.dtype ?? 'float32';
    const backend = options.backend;
    const h = hiddenSize, i = inputSize;
    const u = noGrad(() => scope(() => rand([h * i + h], { seed: options.seed, backend: 'reference' }).dataSync()));
    const w = new Float64Array(h * i);
    for (let k = 0; k < h * i; k++) w[k] = a * (2 * u[k]! - 1);
    const b = new Float64Array(h);
    for (let k = 0; k < h; k++) b[k] = bs * (2 * u[h * i + k]! - 1);
    this.inputWeight = buffer(tensor(w, { shape: [h, i], dtype, backend }));
    this.bias = buffer(tensor(b, { shape: [h], dtype, backend }));
    this.readoutWeight = buffer(zeros([1 + h, outputSize], { dtype, backend }));
    this.fitted = buffer(zeros([], { dtype: 'int32', backend }));
  }

  /**
   * The hidden layer's output act(x·W_inᵀ + b), `[N, hiddenSize]`.
   *
   * @example
   * ```ts
   * const elm = new kiln.nn.ExtremeLearningMachine(4, 32, 2, { seed: 0 });
   * elm.hidden(kiln.randn([10, 4])).shape; // [10, 32]
   * ```
   */
  hidden(x: Tensor): Tensor {
    this.checkInputs('hidden', x);
    return scope(() => {
      const pre = x.matmul(this.inputWeight.transpose()).add(this.bias);
      return this.activation === 'tanh' ? pre.tanh() : this.activation === 'sigmoid' ? pre.sigmoid() : pre.relu();
    });
  }

  /**
   * Fits the readout by ridge regression of the targets on `[1, h]` and returns `this`:
   * the normal equations (HᵀH + λ·D)·W = HᵀY by Cholesky for λ > 0 (D = diag(0, 1, …, 1):
   * the intercept is not penalized), least squares by Householder QR for λ = 0; in
   * float64 on the reference backend whatever the model's backend. Targets are
   * `[N, outputSize]`, or int32 class indices `[N]` in [0, outputSize) (one-hot encoded).
   *
   * @example
   * ```ts
   * const x = kiln.randn([100, 2], { seed: 0 });
   * const labels = x.sum(1).greater(0).cast('int32');  // class 1 above the diagonal
   * const elm = new kiln.nn.ExtremeLearningMachine(2, 40, 2, { seed: 0 }).fit(x, labels);
   * elm.predict(x).argmax(1);                          // ≈ labels
   * ```
   */
  fit(x: Tensor, targets: Tensor, options: ExtremeLearningFitOptions = {}): this {
    this.checkInputs('fit', x);
    const n = x.shape[0]!;
    const ridge = ridgeOf(NAME, options.ridge);
    if (!(targets instanceof Tensor)) throw layerError(NAME, `fit: targets must be a Tensor, got ${describe(targets)}`);
    const classes = targets.dtype === 'int32' && targets.rank === 1 && targets.shape[0] === n;
    if (!classes && targets.shape.join(',') !== `${n},${this.outputSize}`) {
      throw layerError(NAME, `fit: targets must be [${n}, ${this.outputSize}] values or int32 class indices [${n}], got ${targets.dtype} ${describe(targets)}`);
    }
    if (classes && this.outputSize < 2) throw layerError(NAME, `fit: class-index targets need outputSize ≥ 2 (one output per class), got ${this.outputSize}`);
    noGrad(() => scope(() => {
      let y = targets;
      if (classes) {
        const data = targets.dataSync();
        for (let k = 0; k < n; k++) {
          const c = data[k]!;
          if (c < 0 || c >= this.outputSize) throw layerError(NAME, `fit: class index ${c} (sample ${k}) is outside [0, ${this.outputSize})`);
        }
        y = targets.oneHot(this.outputSize).cast(x.dtype);
      }
      const w = ridgeReadout(NAME, this.features(x), y, ridge);
      this.readoutWeight.copy_(w.cast(this.readoutWeight.dtype).to(this.readoutWeight.backend.name));
      this.fitted.copy_(1);
    }));
    return this;
  }

  /**
   * Readout outputs `[N, outputSize]` ([1, h]·W_out). Throws until `fit` has run (or
   * fitted weights were loaded).
   *
   * @example
   * ```ts
   * const x = kiln.linspace(0, 1, 50).reshape([50, 1]);
   * const elm = new kiln.nn.ExtremeLearningMachine(1, 20, 1, { seed: 0 }).fit(x, x.square());
   * elm.predict(kiln.tensor([[0.5]])).item(); // ≈ 0.25
   * ```
   */
  predict(x: Tensor): Tensor {
    this.checkInputs('predict', x);
    if (this.fitted.item() === 0) throw layerError(NAME, 'predict: the readout is not fitted yet; call fit(x, targets) first');
    return scope(() => this.features(x).matmul(this.readoutWeight));
  }

  /** `predict(x)`. */
  forward(x: Tensor): Tensor {
    return this.predict(x);
  }

  private features(x: Tensor): Tensor {
    return concat([ones([x.shape[0]!, 1], { dtype: x.dtype, backend: x.backend.name }), this.hidden(x)], 1);
  }

  private checkInputs(method: string, x: unknown): asserts x is Tensor {
    if (!(x instanceof Tensor) || x.rank !== 2 || x.shape[1] !== this.inputSize) {
      throw layerError(NAME, `${method}: inputs must be [N, ${this.inputSize}], got ${describe(x)}`);
    }
    if (x.dtype !== this.inputWeight.dtype) throw layerError(NAME, `${method}: inputs are ${x.dtype} but the weights are ${this.inputWeight.dtype}`);
  }
}
