import { dropout, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { layerError } from './common.js';

/**
 * Inverted dropout (PyTorch `nn.Dropout`): in training each element is zeroed with
 * probability `p` and the survivors are scaled by 1/(1−p), so the expectation is
 * unchanged; in eval mode it is the identity. Masks come from the global random
 * stream (`kiln.manualSeed` makes them reproducible).
 *
 * @example
 * ```ts
 * const drop = new kiln.nn.Dropout(0.5);
 * drop.forward(kiln.ones([4, 4]));        // zeros and 2s
 * drop.eval().forward(kiln.ones([4, 4])); // ones
 * ```
 */
export class Dropout extends Module {
  readonly p: number;

  constructor(p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw layerError('Dropout', `p must be a probability in [0, 1], got ${String(p)}`);
    this.p = p;
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return dropout(x, this.p, { training: true });
  }
}
