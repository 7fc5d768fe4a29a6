import { dropout, ones, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkRank, layerError } from './common.js';

/**
 * Channel-wise inverted dropout (PyTorch `nn.Dropout2d`): in training each whole channel
 * of an NCHW (or unbatched CHW) input is zeroed with probability `p` and the kept
 * channels are scaled by 1/(1−p); in eval mode it is the identity. One mask value per
 * (sample, channel), drawn like `Dropout`'s from the global random stream
 * (`kiln.manualSeed` makes it reproducible).
 *
 * @example
 * ```ts
 * const drop = new kiln.nn.Dropout2d(0.5);
 * drop.forward(kiln.ones([2, 8, 4, 4]));        // each [4, 4] plane all 0 or all 2
 * drop.eval().forward(kiln.ones([2, 8, 4, 4])); // ones
 * ```
 */
export class Dropout2d extends Module {
  readonly p: number;

  constructor(p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw layerError('Dropout2d', `p must be a probability in [0, 1], got ${String(p)}`);
    this.p = p;
  }

  forward(x: Tensor): Tensor {
    checkRank('Dropout2d', x, [3, 4], 'NCHW or CHW');
    if (!this.training || this.p === 0) return x;
    // The mask has x's leading (sample, channel) dims and size 1 elsewhere, so it
    // broadcasts over each plane: dropout of ones gives 0 or 1/(1−p) per channel.
    const lead = x.rank === 4 ? [x.shape[0]!, x.shape[1]!] : [x.shape[0]!];
    const unit = ones([...lead, 1, 1], { dtype: x.dtype, backend: x.backend.name });
    const mask = dropout(unit, this.p, { training: true });
    unit.dispose();
    return x.mul(mask);
  }
}
