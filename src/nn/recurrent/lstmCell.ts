import { KilnError, type Tensor } from '../../eager/index.js';
import { RecurrentCellBase, type RecurrentCellOptions } from './recurrentCellBase.js';
import type { LSTMState } from './lstm.js';

/**
 * One LSTM step (PyTorch `nn.LSTMCell`, gates i, f, g, o; see `LSTM` for the equations).
 * `forward(x, [h, c]?)` returns `[h', c']` (each `[batch, hidden]`, or `[hidden]`
 * unbatched; zeros when the state is omitted).
 *
 * @example
 * ```ts
 * const cell = new kiln.nn.LSTMCell(3, 4);
 * let state: [kiln.Tensor, kiln.Tensor] = [kiln.zeros([2, 4]), kiln.zeros([2, 4])];
 * for (let t = 0; t < 5; t++) state = cell.forward(kiln.randn([2, 3]), state);
 * ```
 */
export class LSTMCell extends RecurrentCellBase {
  constructor(inputSize: number, hiddenSize: number, options: RecurrentCellOptions = {}) {
    super('lstm', 'LSTMCell', inputSize, hiddenSize, options);
  }

  forward(input: Tensor): [Tensor, Tensor];
  forward(input: Tensor, hx: LSTMState | null | undefined): [Tensor, Tensor];
  forward(input: Tensor, hx?: LSTMState | null): [Tensor, Tensor] {
    if (hx && (!Array.isArray(hx) || hx.length !== 2)) throw new KilnError('the state of an LSTMCell is a pair [h, c]', { op: 'LSTMCell' });
    const [h, c] = this.step('LSTMCell', input, hx ? [hx[0], hx[1]] : null) as [Tensor, Tensor];
    return [h, c];
  }
}
