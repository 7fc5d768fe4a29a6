import * as ops from '../../ops/normalization.js';
import { noGrad } from '../autograd.js';
import { opError, run, run1 } from '../dispatch.js';
import { ones } from '../creation.js';
import { Tensor } from '../tensor.js';
import { elementCount } from './reduce.js';

/** Options of `batchNorm`. */
export interface BatchNormOptions {
  /** Per-channel scale γ `[C]`. */
  weight?: Tensor | null;
  /** Per-channel shift β `[C]`. */
  bias?: Tensor | null;
  /**
   * Normalize by the batch's statistics (and update the running ones in place, when
   * given) instead of the running ones. Default false.
   */
  training?: boolean;
  /** Weight of the batch in the running averages. Default 0.1. */
  momentum?: number;
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
}

function checkTensor(op: string, name: string, t: unknown): void {
  if (!(t instanceof Tensor)) throw opError(op, `${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
}

function affine(op: string, weight: Tensor | null | undefined, bias: Tensor | null | undefined, like: Tensor, shape: readonly number[]): Tensor[] {
  const w = weight ?? null, b = bias ?? null;
  if (w) checkTensor(op, 'weight', w);
  if (b) checkTensor(op, 'bias', b);
  // The ops take a bias only after a weight: a bias alone gets a weight of ones.
  if (b && !w) return [ones(shape, { dtype: like.dtype, backend: like.backend.name }), b];
  return b ? [w!, b] : w ? [w] : [];
}

/**
 * `[y, mean, variance]` of batch normalization by the batch's statistics (the op
 * `batchNormTraining`): mean and biased variance per channel `[C]`. For the layers.
 * @internal
 */
export function batchNormTraining(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): [Tensor, Tensor, Tensor] {
  const inputs = [x, ...affine('batchNorm', weight, bias, x, [x.shape[1] ?? 0])];
  return run(ops.batchNormTraining, inputs, { eps }) as [Tensor, Tensor, Tensor];
}

/**
 * Batch normalization per channel (dimension 1) of `x` `[N, C, ...]` (PyTorch
 * `F.batch_norm`): `(x − mean)/√(var + eps)·weight + bias`. With `training` the batch's
 * mean and biased variance are used, and `runningMean`/`runningVar` (if given) move
 * toward them by `momentum` in place (the variance unbiased, n/(n−1)); otherwise the
 * running statistics normalize. One op either way (`batchNormTraining` / `batchNorm`),
 * with a closed-form gradient.
 *
 * @example
 * ```ts
 * const x = kiln.randn([8, 3, 4, 4]);
 * const mean = kiln.zeros([3]), variance = kiln.ones([3]);
 * const y = kiln.batchNorm(x, mean, variance, { training: true }); // per-channel mean 0, variance ≈ 1
 * mean.toArray(); // moved 10% toward the batch means
 * kiln.batchNorm(x, mean, variance).shape; // [8, 3, 4, 4], by the running statistics
 * ```
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, options: BatchNormOptions = {}): Tensor {
  checkTensor('batchNorm', 'input', x);
  const eps = options.eps ?? 1e-5;
  const c = x.shape[1] ?? 0;
  if (x.rank < 2) throw opError('batchNorm', `input must have a channel dimension ([N, C, ...]), got shape [${x.shape.join(', ')}]`, [x]);
  if ((runningMean === null) !== (runningVar === null)) throw opError('batchNorm', 'pass both running statistics or neither', [x]);
  const params = affine('batchNorm', options.weight, options.bias, x, [c]);
  if (!options.training) {
    if (!runningMean || !runningVar) throw opError('batchNorm', 'running statistics are needed unless training (pass { training: true } to use the batch\'s)', [x]);
    checkTensor('batchNorm', 'runningMean', runningMean);
    checkTensor('batchNorm', 'runningVar', runningVar);
    return run1(ops.batchNorm, [x, runningMean, runningVar, ...params], { eps });
  }
  if (x.size / Math.max(c, 1) <= 1) throw opError('batchNorm', `expected more than 1 value per channel when training, got input shape [${x.shape.join(', ')}]`, [x]);
  const [y, mean, variance] = run(ops.batchNormTraining, [x, ...params], { eps }) as [Tensor, Tensor, Tensor];
  if (runningMean && runningVar) {
    const m = options.momentum ?? 0.1;
    const axes = [0];
    for (let d = 2; d < x.rank; d++) axes.push(d);
    const n = elementCount(x, axes);
    noGrad(() => {
      runningMean.mul_(1 - m).add_(mean.mul(m));
      runningVar.mul_(1 - m).add_(variance.mul(n.div(n.sub(1)).mul(m)));
    });
  }
  return y;
}

/** Options of `layerNorm`. */
export interface LayerNormOptions {
  /** Elementwise scale, of the normalized shape. */
  weight?: Tensor | null;
  /** Elementwise shift, of the normalized shape. */
  bias?: Tensor | null;
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
}

/**
 * Layer normalization (PyTorch `F.layer_norm`): each slice over the last dimensions
 * (`normalizedShape`, which they must equal) is normalized by its mean and biased
 * variance, then scaled by `weight` and shifted by `bias` elementwise. One `layerNorm`
 * op with a closed-form gradient.
 *
 * @example
 * ```ts
 * const x = kiln.randn([4, 10, 32]);
 * kiln.layerNorm(x, [32]).mean(-1).abs().max().item(); // ≈ 0
 * kiln.layerNorm(x, 32, { weight: kiln.ones([32]), bias: kiln.zeros([32]) }).shape; // [4, 10, 32]
 * ```
 */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], options: LayerNormOptions = {}): Tensor {
  checkTensor('layerNorm', 'input', x);
  const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  const k = shape.length;
  const tail = x.shape.slice(x.rank - k);
  if (k === 0 || x.rank < k || tail.some((d, i) => d !== shape[i])) {
    throw opError('layerNorm', `expected input [..., ${shape.join(', ')}] (normalizedShape), got shape [${x.shape.join(', ')}]`, [x]);
  }
  const params = affine('layerNorm', options.weight, options.bias, x, shape);
  return run1(ops.layerNorm, [x, ...params], { axis: x.rank - k, eps: options.eps ?? 1e-5 });
}
