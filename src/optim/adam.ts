import { AdamBase, type AdamHyperparameters, type AdamOptions } from './adamBase.js';
import type { Params } from './optimizer.js';

/**
 * Adam (Kingma & Ba) with bias correction, optional L2 weight decay (added to the
 * gradient) and AMSGrad, as `torch.optim.Adam`. Defaults: lr 1e-3, betas
 * [0.9, 0.999], eps 1e-8, weightDecay 0.
 *
 * @example
 * ```ts
 * const w = kiln.randn([3, 4], { seed: 0, requiresGrad: true });
 * const opt = new kiln.optim.Adam([w], { lr: 1e-2, amsgrad: true });
 * for (let i = 0; i < 100; i++) {
 *   kiln.scope(() => {
 *     w.square().sum().backward();
 *     opt.step();
 *     opt.zeroGrad();
 *   });
 * }
 * ```
 */
export class Adam extends AdamBase {
  constructor(params: Params<AdamHyperparameters>, options: AdamOptions = {}) {
    super('Adam', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...options }, false);
  }
}
