import type { Tensor } from '../../eager/index.js';
import { RecurrentCellBase, type RecurrentCellOptions } from './recurrentCellBase.js';

/**
 * One GRU step (PyTorch `nn.GRUCell`, gates r, z, n; see `GRU` for the equations).
 * `forward(x, h?)` returns `h'` (`[batch, hidden]`, or `[hidden]` unbatched).
 *
 * @example
 * ```ts
 * const cell = new kiln.nn.GRUCell(3, 4);
 * const h1 = cell.forward(kiln.randn([2, 3]));     // h0 = zeros
 * const h2 = cell.forward(kiln.randn([2, 3]), h1);
 * ```
 */
export class GRUCell extends RecurrentCellBase {
  constructor(inputSize: number, hiddenSize: number, options: RecurrentCellOptions = {}) {
    super('gru', 'GRUCell', inputSize, hiddenSize, options);
  }

  forward(input: Tensor, h?: Tensor | null): Tensor {
    return this.step('GRUCell', input, h ? [h] : null)[0]!;
  }
}
