import { KilnError, type Tensor } from '../../eager/index.js';
import { RecurrentCellBase, type RecurrentCellOptions } from './recurrentCellBase.js';

/** Options of `RNNCell`. */
export interface RNNCellOptions extends RecurrentCellOptions {
  /** Default `'tanh'`. */
  nonlinearity?: 'tanh' | 'relu';
}

/**
 * One Elman RNN step (PyTorch `nn.RNNCell`): `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`
 * (or ReLU). `forward(x, h?)`: `x` `[batch, in]` or `[in]`, `h` `[batch, hidden]`
 * (zeros when omitted); returns `h'`. Loop over time yourself — e.g. for sequences whose
 * length is only known while running.
 *
 * @example
 * ```ts
 * const cell = new kiln.nn.RNNCell(3, 4);
 * let h = kiln.zeros([2, 4]);
 * for (const x of kiln.randn([5, 2, 3]).split(1, 0)) h = cell.forward(x.squeeze(0), h);
 * ```
 */
export class RNNCell extends RecurrentCellBase {
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(inputSize: number, hiddenSize: number, options: RNNCellOptions = {}) {
    const nonlinearity = options.nonlinearity ?? 'tanh';
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') throw new KilnError(`nonlinearity must be 'tanh' or 'relu', got '${String(nonlinearity)}'`, { op: 'RNNCell' });
    super(nonlinearity === 'tanh' ? 'rnnTanh' : 'rnnRelu', 'RNNCell', inputSize, hiddenSize, options);
    this.nonlinearity = nonlinearity;
  }

  forward(input: Tensor, h?: Tensor | null): Tensor {
    return this.step('RNNCell', input, h ? [h] : null)[0]!;
  }
}
