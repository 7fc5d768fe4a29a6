import type { Tensor } from '../eager/index.js';
import { Optimizer, type LearningRate, type ParamGroup, type Params, type StateValue } from './optimizer.js';

/** Hyperparameters of `Adadelta` (one set per param group). */
export interface AdadeltaHyperparameters {
  /** Scales the computed delta (1 in the paper); a tensor makes steps differentiable (see `Optimizer`). */
  lr: LearningRate;
  /** Decay rate of the running averages of squared gradients and squared updates. */
  rho: number;
  /** Added inside the square roots for numerical stability. */
  eps: number;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
  /** Ascend instead of descend. */
  maximize: boolean;
}

/** Options of `Adadelta`; omitted ones take PyTorch's defaults. */
export type AdadeltaOptions = Partial<AdadeltaHyperparameters>;

/**
 * Adadelta (Zeiler): steps of size `√(E[Δ²] + eps) / √(E[g²] + eps) · g`, as
 * `torch.optim.Adadelta`. Defaults: lr 1, rho 0.9, eps 1e-6, weightDecay 0.
 *
 * @example
 * ```ts
 * const w = kiln.tensor([1, -2, 3], { requiresGrad: true });
 * const opt = new kiln.optim.Adadelta([w]);
 * w.square().sum().backward();
 * opt.step();
 * ```
 */
export class Adadelta extends Optimizer<AdadeltaHyperparameters> {
  constructor(params: Params<AdadeltaHyperparameters>, options: AdadeltaOptions = {}) {
    super('Adadelta', params, { lr: 1, rho: 0.9, eps: 1e-6, weightDecay: 0, maximize: false, ...options });
  }

  protected validate(h: AdadeltaHyperparameters): void {
    this.checkLr(h.lr);
    this.check('rho', h.rho, (v) => v >= 0 && v <= 1, 'must be in [0, 1]');
    this.check('eps', h.eps, (v) => v >= 0, 'must be ≥ 0');
    this.check('weightDecay', h.weightDecay, (v) => v >= 0, 'must be ≥ 0');
  }

  protected initState(p: Tensor): Record<string, StateValue> {
    return { step: 0, squareAvg: p.zerosLike().keep(), accDelta: p.zerosLike().keep() };
  }

  protected update(p: Tensor, grad: Tensor, s: Record<string, StateValue>, g: ParamGroup<AdadeltaHyperparameters>): void {
    s.step = (s.step as number) + 1;
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(g.weightDecay));
    const squareAvg = (s.squareAvg as Tensor).mul(g.rho).add(d.square().mul(1 - g.rho));
    this.setState(s, 'squareAvg', squareAvg);
    const std = squareAvg.add(g.eps).sqrt();
    const delta = (s.accDelta as Tensor).add(g.eps).sqrt().div(std).mul(d);
    this.setState(s, 'accDelta', (s.accDelta as Tensor).mul(g.rho).add(delta.square().mul(1 - g.rho)));
    this.descend(p, g.lr === 1 ? delta : delta.mul(this.lrScalar(p, g.lr)));
  }
}
