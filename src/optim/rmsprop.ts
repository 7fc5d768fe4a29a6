import type { Tensor } from '../eager/index.js';
import { Optimizer, type LearningRate, type ParamGroup, type Params, type StateValue } from './optimizer.js';

/** Hyperparameters of `RMSprop` (one set per param group). */
export interface RMSpropHyperparameters {
  /** Step size; a tensor makes steps differentiable (see `Optimizer`). */
  lr: LearningRate;
  /** Smoothing constant of the running average of squared gradients. */
  alpha: number;
  /** Added to the denominator for numerical stability. */
  eps: number;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
  /** Momentum factor applied to the scaled gradient. */
  momentum: number;
  /** Normalize by the estimated variance (E[g²] − E[g]²) instead of E[g²]. */
  centered: boolean;
  /** Ascend instead of descend. */
  maximize: boolean;
}

/** Options of `RMSprop`; omitted ones take PyTorch's defaults. */
export type RMSpropOptions = Partial<RMSpropHyperparameters>;

/**
 * RMSprop (Hinton), optionally centered and with momentum, as `torch.optim.RMSprop`.
 * Defaults: lr 1e-2, alpha 0.99, eps 1e-8, weightDecay 0, momentum 0, centered false.
 *
 * @example
 * ```ts
 * const w = kiln.tensor([1, -2, 3], { requiresGrad: true });
 * const opt = new kiln.optim.RMSprop([w], { lr: 1e-2, centered: true, momentum: 0.9 });
 * w.square().sum().backward();
 * opt.step();
 * ```
 */
export class RMSprop extends Optimizer<RMSpropHyperparameters> {
  constructor(params: Params<RMSpropHyperparameters>, options: RMSpropOptions = {}) {
    super('RMSprop', params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false, ...options });
  }

  protected validate(h: RMSpropHyperparameters): void {
    this.checkLr(h.lr);
    this.check('eps', h.eps, (v) => v >= 0, 'must be ≥ 0');
    this.check('momentum', h.momentum, (v) => v >= 0, 'must be ≥ 0');
    this.check('weightDecay', h.weightDecay, (v) => v >= 0, 'must be ≥ 0');
    this.check('alpha', h.alpha, (v) => v >= 0, 'must be ≥ 0');
  }

  protected initState(p: Tensor): Record<string, StateValue> {
    return { step: 0, squareAvg: p.zerosLike().keep() };
  }

  protected update(p: Tensor, grad: Tensor, s: Record<string, StateValue>, g: ParamGroup<RMSpropHyperparameters>): void {
    s.step = (s.step as number) + 1;
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(g.weightDecay));
    const squareAvg = (s.squareAvg as Tensor).mul(g.alpha).add(d.square().mul(1 - g.alpha));
    this.setState(s, 'squareAvg', squareAvg);
    let avg: Tensor;
    if (g.centered) {
      // Buffers start at zero when first needed (as PyTorch's, which it creates up front).
      const prevAvg = s.gradAvg as Tensor | undefined;
      const gradAvg = prevAvg ? prevAvg.mul(g.alpha).add(d.mul(1 - g.alpha)) : d.mul(1 - g.alpha);
      this.setState(s, 'gradAvg', gradAvg);
      avg = squareAvg.sub(gradAvg.square()).sqrt();
    } else {
      avg = squareAvg.sqrt();
    }
    avg = avg.add(g.eps);
    if (g.momentum > 0) {
      const prevBuf = s.momentumBuffer as Tensor | undefined;
      const buf = prevBuf ? prevBuf.mul(g.momentum).add(d.div(avg)) : d.div(avg);
      this.setState(s, 'momentumBuffer', buf);
      this.descend(p, buf.mul(this.lrScalar(p, g.lr)));
    } else {
      this.descend(p, d.div(avg).mul(this.lrScalar(p, g.lr)));
    }
  }
}
