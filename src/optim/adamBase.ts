import type { Tensor } from '../eager/index.js';
import { Optimizer, type LearningRate, type ParamGroup, type Params, type StateValue } from './optimizer.js';

/** Hyperparameters of `Adam` and `AdamW` (one set per param group). */
export interface AdamHyperparameters {
  /** Step size; a tensor makes steps differentiable (see `Optimizer`). */
  lr: LearningRate;
  /** Decay rates of the first and second moment estimates. */
  betas: readonly [number, number];
  /** Added to the denominator for numerical stability. */
  eps: number;
  /** Adam: L2 penalty added to the gradient; AdamW: decoupled decay `p ← p·(1 − lr·wd)`. */
  weightDecay: number;
  /** Use the maximum of past second moments (AMSGrad). */
  amsgrad: boolean;
  /** Ascend instead of descend. */
  maximize: boolean;
}

/** Options of `Adam` / `AdamW`; omitted ones take PyTorch's defaults. */
export type AdamOptions = Partial<AdamHyperparameters>;

/**
 * The shared update of Adam and AdamW (they differ only in how weight decay enters).
 * Not exported from `kiln.optim`: use `Adam` or `AdamW`.
 */
export abstract class AdamBase extends Optimizer<AdamHyperparameters> {
  protected constructor(
    name: string,
    params: Params<AdamHyperparameters>,
    defaults: AdamHyperparameters,
    /** Whether weight decay is decoupled from the gradient (AdamW). */
    private readonly decoupled: boolean,
  ) {
    super(name, params, defaults);
  }

  protected validate(h: AdamHyperparameters): void {
    this.checkLr(h.lr);
    this.check('eps', h.eps, (v) => v >= 0, 'must be ≥ 0');
    if (!Array.isArray(h.betas) || h.betas.length !== 2) throw this.error(`betas must be a pair [beta1, beta2], got ${String(h.betas)}`);
    this.check('beta parameter at index 0', h.betas[0], (v) => v >= 0 && v < 1, 'must be in [0, 1)');
    this.check('beta parameter at index 1', h.betas[1], (v) => v >= 0 && v < 1, 'must be in [0, 1)');
    this.check('weightDecay', h.weightDecay, (v) => v >= 0, 'must be ≥ 0');
  }

  protected initState(p: Tensor, g: ParamGroup<AdamHyperparameters>): Record<string, StateValue> {
    const s: Record<string, StateValue> = { step: 0, expAvg: p.zerosLike().keep(), expAvgSq: p.zerosLike().keep() };
    if (g.amsgrad) s.maxExpAvgSq = p.zerosLike().keep();
    return s;
  }

  protected update(p: Tensor, grad: Tensor, s: Record<string, StateValue>, g: ParamGroup<AdamHyperparameters>): void {
    const [beta1, beta2] = g.betas;
    const step = (s.step as number) + 1;
    s.step = step;
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0 && !this.decoupled) d = d.add(p.mul(g.weightDecay));

    const m = (s.expAvg as Tensor).mul(beta1).add(d.mul(1 - beta1));
    const v = (s.expAvgSq as Tensor).mul(beta2).add(d.square().mul(1 - beta2));
    this.setState(s, 'expAvg', m);
    this.setState(s, 'expAvgSq', v);
    let vHat = v;
    if (g.amsgrad) {
      // A group switched to amsgrad after its first step starts its maximum at v.
      const prevMax = s.maxExpAvgSq as Tensor | undefined;
      vHat = prevMax ? prevMax.maximum(v) : v.clone();
      this.setState(s, 'maxExpAvgSq', vHat);
    }

    const bc1 = 1 - beta1 ** step;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
    // lr/bc1 · m / (√v/√bc2 + eps) == (lr·√bc2/bc1) · m / (√v + eps·√bc2): one op fewer.
    const update = m.div(vHat.sqrt().add(this.scalar(p, g.eps * bc2Sqrt))).mul(this.lrScalar(p, g.lr, bc2Sqrt, bc1));
    const base = this.decoupled && g.weightDecay !== 0 ? p.mul(this.oneMinusLr(p, g.lr, g.weightDecay)) : p;
    if (base === p) this.descend(p, update);
    else this.assign(p, base.sub(update));
  }
}
