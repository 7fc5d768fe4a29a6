import type { Tensor } from '../eager/index.js';
import { Optimizer, type LearningRate, type ParamGroup, type Params, type StateValue } from './optimizer.js';

/** Hyperparameters of `Adagrad` (one set per param group). */
export interface AdagradHyperparameters {
  /** Step size; a tensor makes steps differentiable (see `Optimizer`). */
  lr: LearningRate;
  /** The step size decays as `lr / (1 + (t − 1)·lrDecay)`. */
  lrDecay: number;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
  /** Starting value of the sum of squared gradients. */
  initialAccumulatorValue: number;
  /** Added to the denominator for numerical stability. */
  eps: number;
  /** Ascend instead of descend. */
  maximize: boolean;
}

/** Options of `Adagrad`; omitted ones take PyTorch's defaults. */
export type AdagradOptions = Partial<AdagradHyperparameters>;

/**
 * Adagrad (Duchi et al.): each element's step is scaled by the inverse square root of
 * its accumulated squared gradients, as `torch.optim.Adagrad`. Defaults: lr 1e-2,
 * lrDecay 0, weightDecay 0, initialAccumulatorValue 0, eps 1e-10.
 *
 * @example
 * ```ts
 * const w = kiln.tensor([1, -2, 3], { requiresGrad: true });
 * const opt = new kiln.optim.Adagrad([w], { lr: 0.5, lrDecay: 0.01 });
 * w.square().sum().backward();
 * opt.step();
 * ```
 */
export class Adagrad extends Optimizer<AdagradHyperparameters> {
  constructor(params: Params<AdagradHyperparameters>, options: AdagradOptions = {}) {
    super('Adagrad', params, { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false, ...options });
  }

  protected validate(h: AdagradHyperparameters): void {
    this.checkLr(h.lr);
    this.check('lrDecay', h.lrDecay, (v) => v >= 0, 'must be ≥ 0');
    this.check('weightDecay', h.weightDecay, (v) => v >= 0, 'must be ≥ 0');
    this.check('initialAccumulatorValue', h.initialAccumulatorValue, (v) => v >= 0, 'must be ≥ 0');
    this.check('eps', h.eps, (v) => v >= 0, 'must be ≥ 0');
  }

  protected initState(p: Tensor, g: ParamGroup<AdagradHyperparameters>): Record<string, StateValue> {
    return { step: 0, sum: p.fullLike(g.initialAccumulatorValue).keep() };
  }

  protected update(p: Tensor, grad: Tensor, s: Record<string, StateValue>, g: ParamGroup<AdagradHyperparameters>): void {
    const step = (s.step as number) + 1;
    s.step = step;
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(g.weightDecay));
    const sum = (s.sum as Tensor).add(d.square());
    this.setState(s, 'sum', sum);
    // clr = lr / (1 + (t − 1)·lrDecay)
    this.descend(p, d.div(sum.sqrt().add(g.eps)).mul(this.lrScalar(p, g.lr, 1, 1 + (step - 1) * g.lrDecay)));
  }
}
