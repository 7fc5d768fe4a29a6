import type { Tensor } from '../eager/index.js';
import { Optimizer, type LearningRate, type ParamGroup, type Params, type StateValue } from './optimizer.js';

/** Hyperparameters of `SGD` (one set per param group). */
export interface SGDHyperparameters {
  /** Step size; a tensor makes steps differentiable (see `Optimizer`). */
  lr: LearningRate;
  /** Momentum factor (0: plain gradient descent). */
  momentum: number;
  /** Dampening of the gradient added to the momentum buffer. */
  dampening: number;
  /** L2 penalty added to the gradient: g + weightDecay·p. */
  weightDecay: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). */
  nesterov: boolean;
  /** Ascend instead of descend. */
  maximize: boolean;
}

/** Options of `SGD`: `lr` is required, the rest default to 0 / false. */
export type SGDOptions = Partial<SGDHyperparameters> & { lr: LearningRate };

/**
 * Stochastic gradient descent with optional momentum, dampening, Nesterov momentum
 * and weight decay, exactly as `torch.optim.SGD`: the momentum buffer starts as the
 * first gradient, then `buf ← momentum·buf + (1 − dampening)·g`; the step is
 * `p ← p − lr·buf` (or `p ← p − lr·(g + momentum·buf)` with Nesterov).
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Linear(4, 2);
 * const opt = new kiln.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true });
 * model.forward(kiln.randn([8, 4], { seed: 1 })).square().mean().backward();
 * opt.step();
 * opt.zeroGrad();
 * ```
 */
export class SGD extends Optimizer<SGDHyperparameters> {
  constructor(params: Params<SGDHyperparameters>, options: SGDOptions) {
    super('SGD', params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...options });
  }

  protected validate(h: SGDHyperparameters): void {
    this.checkLr(h.lr);
    this.check('momentum', h.momentum, (v) => v >= 0, 'must be ≥ 0');
    this.check('dampening', h.dampening, () => true, 'must be a number');
    this.check('weightDecay', h.weightDecay, (v) => v >= 0, 'must be ≥ 0');
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) throw this.error('Nesterov momentum requires a momentum > 0 and zero dampening');
  }

  protected initState(): Record<string, StateValue> {
    return {};
  }

  protected update(p: Tensor, grad: Tensor, state: Record<string, StateValue>, g: ParamGroup<SGDHyperparameters>): void {
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(g.weightDecay));
    if (g.momentum !== 0) {
      const prev = state.momentumBuffer;
      // First step: the buffer is the gradient itself (no dampening), as in PyTorch.
      const buf = prev === undefined ? (d === grad ? d.clone() : d) : (prev as Tensor).mul(g.momentum).add(g.dampening === 0 ? d : d.mul(1 - g.dampening));
      this.setState(state, 'momentumBuffer', buf);
      d = g.nesterov ? d.add(buf.mul(g.momentum)) : buf;
    }
    this.descend(p, d.mul(this.lrScalar(p, g.lr)));
  }
}
