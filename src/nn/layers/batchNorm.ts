import { batchNorm, elementCount, noGrad, ones, scope, zeros, type Tensor } from '../../eager/index.js';
import { batchNormTraining } from '../../eager/functional/normalization.js';
import { buffer, Module } from '../module.js';
import { checkInt, layerError, newParameter, type FactoryOptions } from './common.js';
import * as init from '../init.js';

/** Options of `BatchNorm1d` / `BatchNorm2d`. */
export interface BatchNormOptions extends FactoryOptions {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /**
   * Weight of the new batch in the running averages: running = (1−m)·running + m·batch.
   * `null` gives a cumulative average over all batches seen. Default 0.1.
   */
  momentum?: number | null;
  /** Learned per-channel scale γ (init 1) and shift β (init 0). Default true. */
  affine?: boolean;
  /** Keep running mean/variance for eval mode; without them eval uses batch statistics too. Default true. */
  trackRunningStats?: boolean;
}

/**
 * Shared implementation of batch normalization over dimension 1 (channels). Training:
 * normalizes by the batch mean and biased variance (one `batchNormTraining` op) and
 * updates the running mean and the *unbiased* running variance. Eval: normalizes by the
 * running statistics (one `batchNorm` op).
 */
abstract class BatchNormBase extends Module {
  /** γ, [numFeatures] (null unless `affine`). */
  readonly weight: Tensor | null;
  /** β, [numFeatures] (null unless `affine`). */
  readonly bias: Tensor | null;
  /** Running mean, [numFeatures] (null unless `trackRunningStats`). */
  readonly runningMean: Tensor | null;
  /** Running unbiased variance, [numFeatures] (null unless `trackRunningStats`). */
  readonly runningVar: Tensor | null;
  /** Training batches seen, an int32 scalar (null unless `trackRunningStats`). */
  readonly numBatchesTracked: Tensor | null;
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;

  protected abstract readonly layerName: string;
  protected abstract checkInput(x: Tensor): void;

  constructor(layer: string, numFeatures: number, options: BatchNormOptions) {
    super();
    this.numFeatures = checkInt(layer, 'numFeatures', numFeatures);
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps >= 0)) throw layerError(layer, `eps must be non-negative, got ${this.eps}`);
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) {
      throw layerError(layer, `momentum must be in [0, 1] or null, got ${this.momentum}`);
    }
    this.affine = options.affine ?? true;
    this.trackRunningStats = options.trackRunningStats ?? true;
    this.weight = this.affine ? init.ones_(newParameter([numFeatures], options)) : null;
    this.bias = this.affine ? newParameter([numFeatures], options) : null;
    const dtype = options.dtype ?? 'float32';
    const backend = options.backend;
    this.runningMean = this.trackRunningStats ? buffer(zeros([numFeatures], { dtype, backend })) : null;
    this.runningVar = this.trackRunningStats ? buffer(ones([numFeatures], { dtype, backend })) : null;
    this.numBatchesTracked = this.trackRunningStats ? buffer(zeros([], { dtype: 'int32', backend })) : null;
  }

  /** Resets running statistics to mean 0, variance 1 and the batch count to 0. */
  resetRunningStats(): void {
    if (!this.runningMean) return;
    noGrad(() => {
      this.runningMean!.copy_(0);
      this.runningVar!.copy_(1);
      this.numBatchesTracked!.copy_(0);
    });
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    if (this.training || !this.runningMean) {
      const count = x.size / this.numFeatures;
      if (count <= 1) {
        throw layerError(this.layerName, `expected more than 1 value per channel when training, got input shape [${x.shape.join(', ')}]`);
      }
      // One batchNormTraining op: the statistics in one kernel pass, a closed-form backward.
      const [y, mean, variance] = batchNormTraining(x, this.weight, this.bias, this.eps);
      if (this.training && this.runningMean) {
        const axes = [0];
        for (let d = 2; d < x.rank; d++) axes.push(d);
        this.updateRunningStats(mean, variance, elementCount(x, axes));
      }
      return y;
    }
    // Inference: one batchNorm op by the running statistics (what BN folding looks for).
    return batchNorm(x, this.runningMean, this.runningVar!, { weight: this.weight, bias: this.bias, eps: this.eps });
  }

  /** `mean`, `variance`: [C]; `count`: values per channel, a tensor so a compiled training step follows a symbolic batch. */
  private updateRunningStats(mean: Tensor, variance: Tensor, count: Tensor): void {
    noGrad(() => scope(() => {
      this.numBatchesTracked!.add_(1);
      // momentum null: cumulative average, factor 1/batches (reads one number back).
      const f = this.momentum ?? 1 / this.numBatchesTracked!.item();
      this.runningMean!.mul_(1 - f).add_(mean.mul(f));
      // The running variance is unbiased: n/(n−1) times the batch's biased variance.
      this.runningVar!.mul_(1 - f).add_(variance.mul(count.div(count.sub(1)).mul(f)));
    }));
  }
}

function checkChannels(layer: string, x: Tensor, c: number, ranks: readonly number[], what: string): void {
  if (!ranks.includes(x.rank)) {
    throw layerError(layer, `expected ${what} input (rank ${ranks.join(' or ')}), got shape [${x.shape.join(', ')}]`);
  }
  if (x.shape[1] !== c) throw layerError(layer, `expected ${c} channels in dimension 1, got shape [${x.shape.join(', ')}]`);
}

/**
 * Batch normalization of [N, C] or [N, C, L] input over all but the channel dimension
 * (PyTorch `nn.BatchNorm1d`). See `BatchNormOptions`; `train()`/`eval()` switch between
 * batch and running statistics.
 *
 * @example
 * ```ts
 * const bn = new kiln.nn.BatchNorm1d(64);
 * const y = bn.forward(kiln.randn([32, 64])); // per-feature mean 0, variance ≈ 1
 * bn.runningMean; // moved 10% toward the batch mean
 * bn.eval().forward(kiln.randn([1, 64]));      // uses the running statistics
 * ```
 */
export class BatchNorm1d extends BatchNormBase {
  protected readonly layerName = 'BatchNorm1d';

  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm1d', numFeatures, options);
  }

  protected checkInput(x: Tensor): void {
    checkChannels('BatchNorm1d', x, this.numFeatures, [2, 3], '[N, C] or [N, C, L]');
  }
}

/**
 * Batch normalization of NCHW input per channel, over N, H and W (PyTorch
 * `nn.BatchNorm2d`). See `BatchNormOptions`.
 *
 * @example
 * ```ts
 * const bn = new kiln.nn.BatchNorm2d(32);
 * bn.forward(kiln.randn([8, 32, 14, 14])).shape; // [8, 32, 14, 14]
 * ```
 */
export class BatchNorm2d extends BatchNormBase {
  protected readonly layerName = 'BatchNorm2d';

  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm2d', numFeatures, options);
  }

  protected checkInput(x: Tensor): void {
    checkChannels('BatchNorm2d', x, this.numFeatures, [4], 'NCHW');
  }
}
