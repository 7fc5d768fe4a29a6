import type { Tensor } from '../../eager/index.js';
import { Module } from '../module.js';

/**
 * Flattens dimensions `startDim..endDim` into one (PyTorch `nn.Flatten`; default keeps
 * the batch dimension: [N, C, H, W] → [N, C·H·W]).
 *
 * @example
 * ```ts
 * new kiln.nn.Flatten().forward(kiln.zeros([8, 32, 7, 7])).shape; // [8, 1568]
 * ```
 */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}
