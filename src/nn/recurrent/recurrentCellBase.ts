// One step of a recurrence as a module (PyTorch RNNCell / LSTMCell / GRUCell): same
// math as the layers (recurrentSteps.ts), parameters without the `_l{k}` suffix.
import { KilnError, Tensor, uniform, zeros } from '../../eager/index.js';
import { Module, parameter } from '../module.js';
import type { RecurrentFactoryOptions } from './recurrentBase.js';
import { foldsHiddenBias, gateCount, recurrentStep, type RecurrentMode } from './recurrentSteps.js';

/** Options shared by the recurrent cells. */
export interface RecurrentCellOptions extends RecurrentFactoryOptions {
  /** Learn `biasIh` and `biasHh`. Default true. */
  bias?: boolean;
}

/**
 * Base of `RNNCell`, `LSTMCell` and `GRUCell`: parameters `weightIh` `[gates·hidden, in]`,
 * `weightHh` `[gates·hidden, hidden]`, `biasIh`, `biasHh` `[gates·hidden]`, initialized
 * U(−1/√hidden, 1/√hidden) as PyTorch.
 *
 * @example
 * ```ts
 * const cell: kiln.nn.RecurrentCellBase = new kiln.nn.GRUCell(3, 4);
 * cell.weightIh.shape; // [12, 3]
 * ```
 */
export abstract class RecurrentCellBase extends Module {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly bias: boolean;
  readonly weightIh: Tensor;
  readonly weightHh: Tensor;
  readonly biasIh: Tensor | null;
  readonly biasHh: Tensor | null;
  protected readonly mode: RecurrentMode;

  protected constructor(mode: RecurrentMode, name: string, inputSize: number, hiddenSize: number, options: RecurrentCellOptions) {
    super();
    for (const [what, v] of [['inputSize', inputSize], ['hiddenSize', hiddenSize]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new KilnError(`${what} must be a positive integer, got ${v}`, { op: name });
    }
    this.mode = mode;
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    this.bias = options.bias ?? true;
    const rows = gateCount(mode) * hiddenSize;
    const bound = 1 / Math.sqrt(hiddenSize);
    const init = (shape: number[]) => parameter(uniform(shape, -bound, bound, { dtype: options.dtype ?? 'float32', backend: options.backend }));
    this.weightIh = init([rows, inputSize]);
    this.weightHh = init([rows, hiddenSize]);
    this.biasIh = this.bias ? init([rows]) : null;
    this.biasHh = this.bias ? init([rows]) : null;
  }

  /**
   * One step: `x` `[batch, in]` (or `[in]` unbatched) and the state tensors (each
   * `[batch, hidden]` / `[hidden]`; zeros when null). Returns the new state tensors.
   */
  protected step(op: string, x: Tensor, state: readonly Tensor[] | null): Tensor[] {
    if (!(x instanceof Tensor) || (x.rank !== 1 && x.rank !== 2) || x.shape[x.rank - 1] !== this.inputSize) {
      throw new KilnError(`expected input [batch, ${this.inputSize}] or [${this.inputSize}], got ${x instanceof Tensor ? `[${x.shape.join(', ')}]` : String(x)}`, { op });
    }
    const unbatched = x.rank === 1;
    const xb = unbatched ? x.unsqueeze(0) : x;
    const batch = xb.shape[0]!;
    const kinds = this.mode === 'lstm' ? 2 : 1;
    const want = unbatched ? [this.hiddenSize] : [batch, this.hiddenSize];
    const s = state
      ? state.map((t) => {
          if (!(t instanceof Tensor) || t.shape.join(',') !== want.join(',')) throw new KilnError(`expected a state of shape [${want.join(', ')}], got ${t instanceof Tensor ? `[${t.shape.join(', ')}]` : String(t)}`, { op });
          return unbatched ? t.unsqueeze(0) : t;
        })
      : Array.from({ length: kinds }, () => zeros([batch, this.hiddenSize], { dtype: x.dtype, backend: x.backend.name }));
    const fold = foldsHiddenBias(this.mode);
    let xp = xb.matmul(this.weightIh.transpose());
    if (this.biasIh) xp = xp.add(fold && this.biasHh ? this.biasIh.add(this.biasHh) : this.biasIh);
    const next = recurrentStep(this.mode, xp, s, this.weightHh.transpose(), fold ? null : this.biasHh);
    return unbatched ? next.map((t) => t.squeeze(0)) : next;
  }
}
