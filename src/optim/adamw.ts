import { AdamBase, type AdamHyperparameters, type AdamOptions } from './adamBase.js';
import type { Params } from './optimizer.js';

/**
 * AdamW (Loshchilov & Hutter): Adam with weight decay decoupled from the gradient,
 * `p ← p·(1 − lr·weightDecay)` before the Adam step, as `torch.optim.AdamW`.
 * Defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 1e-2.
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Linear(4, 2);
 * const opt = new kiln.optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.05 });
 * model.forward(kiln.randn([8, 4], { seed: 1 })).square().mean().backward();
 * opt.step();
 * ```
 */
export class AdamW extends AdamBase {
  constructor(params: Params<AdamHyperparameters>, options: AdamOptions = {}) {
    super('AdamW', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, ...options }, true);
  }
}
