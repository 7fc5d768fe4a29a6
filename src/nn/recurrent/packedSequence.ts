// Variable-length batches, PyTorch-style (`torch.nn.utils.rnn`): a PackedSequence
// remembers each sequence's length so recurrent layers stop updating a sequence's state
// after its last element.
import { concat, full, KilnError, stack, Tensor, tensor, where } from '../../eager/index.js';
import { paddedMask, readLengths, type LengthsLike } from './sequenceLengths.js';

/**
 * A batch of sequences of different lengths (PyTorch `PackedSequence`). Recurrent
 * layers accept it in place of a padded tensor and return one.
 *
 * `data` is PyTorch's packed layout — `[Σ lengths, *]`, time step by time step, each
 * step holding the sequences still running, longest first — with `batchSizes`,
 * `sortedIndices` and `unsortedIndices` as PyTorch defines them (plain arrays here).
 * Kiln keeps the padded time-major tensor alongside (recurrent layers run on it with
 * per-step masks), so `data` is only gathered when you read it.
 *
 * @example
 * ```ts
 * const x = kiln.randn([5, 3, 4]);                       // [time, batch, features]
 * const packed = kiln.nn.packPaddedSequence(x, [2, 5, 3], { enforceSorted: false });
 * packed.batchSizes;                                     // [3, 3, 2, 1, 1]
 * const [out, hN] = new kiln.nn.GRU(4, 8).forward(packed);
 * const [padded, lengths] = kiln.nn.padPackedSequence(out); // [5, 3, 8], [2, 5, 3]
 * ```
 */
export class PackedSequence {
  /** Length of each sequence, in the batch's original order. */
  readonly lengths: readonly number[];
  /** How many sequences are still running at each time step. */
  readonly batchSizes: readonly number[];
  /** Batch order of the packed rows within a step: longest sequence first (ties keep their order). */
  readonly sortedIndices: readonly number[];
  /** Inverse permutation of `sortedIndices`. */
  readonly unsortedIndices: readonly number[];
  private packed: Tensor | null = null;

  /**
   * Prefer `packPaddedSequence` / `packSequence`. `padded` is time-major `[T, B, *]`;
   * elements past a sequence's length are ignored (and never receive gradient).
   */
  constructor(
    /** The sequences, time-major and padded: `[T, B, *]`. Past each length the values are unspecified. */
    readonly padded: Tensor,
    lengths: readonly number[],
  ) {
    if (padded.rank < 2) throw new KilnError(`the padded tensor needs at least 2 dimensions [time, batch, …], got shape [${padded.shape.join(', ')}]`, { op: 'PackedSequence' });
    this.lengths = readLengths('PackedSequence', lengths, padded.shape[1]!, padded.shape[0]!, 1);
    const order = this.lengths.map((_, i) => i);
    order.sort((a, b) => this.lengths[b]! - this.lengths[a]! || a - b);
    this.sortedIndices = order;
    const inverse = new Array<number>(order.length);
    order.forEach((b, j) => (inverse[b] = j));
    this.unsortedIndices = inverse;
    const longest = Math.max(...this.lengths);
    this.batchSizes = Array.from({ length: longest }, (_, t) => this.lengths.filter((l) => l > t).length);
  }

  /** Length of the longest sequence. */
  get maxLength(): number {
    return this.batchSizes.length;
  }

  /** The packed elements `[Σ lengths, *]` in PyTorch's order (gathered on first use, differentiable). */
  get data(): Tensor {
    if (!this.packed || this.packed.disposed) {
      const [steps, batch, ...rest] = this.padded.shape as [number, number, ...number[]];
      const rows: number[] = [];
      this.batchSizes.forEach((n, t) => {
        for (let j = 0; j < n; j++) rows.push(t * batch + this.sortedIndices[j]!);
      });
      const index = tensor(rows, { dtype: 'int32', backend: this.padded.backend.name });
      this.packed = this.padded.reshape([steps * batch, ...rest]).indexSelect(0, index);
    }
    return this.packed;
  }
}

/** Options of `packPaddedSequence`. */
export interface PackOptions {
  /** Input is `[batch, time, *]` instead of `[time, batch, *]`. Default false. */
  batchFirst?: boolean;
  /** Require lengths in decreasing order, as PyTorch does by default. Default true. */
  enforceSorted?: boolean;
}

/**
 * Packs a padded batch (PyTorch `pack_padded_sequence`): each sequence `b` is the first
 * `lengths[b]` steps of its column. Lengths must lie in `[1, T]`; with
 * `enforceSorted` (the default, as PyTorch) they must be in decreasing order.
 *
 * @example
 * ```ts
 * const packed = kiln.nn.packPaddedSequence(kiln.randn([4, 2, 3]), [4, 2]);
 * packed.data.shape; // [6, 3]
 * ```
 */
export function packPaddedSequence(input: Tensor, lengths: LengthsLike, options: PackOptions = {}): PackedSequence {
  if (!(input instanceof Tensor) || input.rank < 2) throw new KilnError('packPaddedSequence expects a tensor [time, batch, …] (or [batch, time, …] with batchFirst)', { op: 'packPaddedSequence' });
  const timeMajor = options.batchFirst ? input.transpose(0, 1) : input;
  const list = readLengths('packPaddedSequence', lengths, timeMajor.shape[1]!, timeMajor.shape[0]!, 1);
  if (options.enforceSorted ?? true) {
    for (let i = 1; i < list.length; i++) {
      if (list[i]! > list[i - 1]!) throw new KilnError(`lengths must be sorted in decreasing order (got [${list.join(', ')}]); pass { enforceSorted: false } to accept any order`, { op: 'packPaddedSequence' });
    }
  }
  return new PackedSequence(timeMajor, list);
}

/** Options of `padPackedSequence`. */
export interface UnpackOptions {
  /** Return `[batch, time, *]` instead of `[time, batch, *]`. Default false. */
  batchFirst?: boolean;
  /** Value written past each sequence's end. Default 0. */
  paddingValue?: number;
  /** Pad to this many steps instead of the longest length (must be ≥ it). */
  totalLength?: number;
}

/**
 * Unpacks to a padded tensor (PyTorch `pad_packed_sequence`): returns
 * `[padded, lengths]` with `padded` `[T, B, *]` (T = longest length or `totalLength`),
 * the batch in its original order, and `paddingValue` past each sequence's end.
 *
 * @example
 * ```ts
 * const packed = kiln.nn.packPaddedSequence(kiln.randn([4, 2, 3]), [3, 2]);
 * const [x, lengths] = kiln.nn.padPackedSequence(packed, { batchFirst: true }); // [2, 3, 3], [3, 2]
 * ```
 */
export function padPackedSequence(sequence: PackedSequence, options: UnpackOptions = {}): [Tensor, number[]] {
  const op = 'padPackedSequence';
  if (!(sequence instanceof PackedSequence)) throw new KilnError('expected a PackedSequence', { op });
  const longest = sequence.maxLength;
  const steps = options.totalLength ?? longest;
  if (!Number.isInteger(steps) || steps < longest) throw new KilnError(`totalLength ${steps} is shorter than the longest sequence (${longest})`, { op });
  const value = options.paddingValue ?? 0;
  let x = sequence.padded;
  if (x.shape[0]! > longest) x = x.slice([0], [longest], { axes: [0] });
  x = where(paddedMask(sequence.lengths, longest, x.rank, x), x, value);
  if (steps > longest) x = concat([x, full([steps - longest, ...x.shape.slice(1)], value, { dtype: x.dtype, backend: x.backend.name })], 0);
  return [options.batchFirst ? x.transpose(0, 1) : x, [...sequence.lengths]];
}

/** Options of `padSequence`. */
export interface PadSequenceOptions {
  /** Return `[batch, time, *]`. Default false (`[time, batch, *]`). */
  batchFirst?: boolean;
  /** Default 0. */
  paddingValue?: number;
}

/**
 * Stacks sequences `[L_i, *]` of different lengths into one padded tensor (PyTorch
 * `pad_sequence`).
 *
 * @example
 * ```ts
 * const x = kiln.nn.padSequence([kiln.ones([3, 2]), kiln.ones([1, 2])]); // [3, 2, 2], zeros past length 1
 * ```
 */
export function padSequence(sequences: readonly Tensor[], options: PadSequenceOptions = {}): Tensor {
  const op = 'padSequence';
  if (!sequences.length) throw new KilnError('needs at least one sequence', { op });
  const longest = Math.max(...sequences.map((s) => s.shape[0] ?? 0));
  const value = options.paddingValue ?? 0;
  const padded = sequences.map((s) => {
    if (s.rank < 1) throw new KilnError('every sequence needs a time dimension (rank ≥ 1)', { op });
    const missing = longest - s.shape[0]!;
    return missing ? concat([s, full([missing, ...s.shape.slice(1)], value, { dtype: s.dtype, backend: s.backend.name })], 0) : s;
  });
  return stack(padded, options.batchFirst ? 0 : 1);
}

/**
 * Packs sequences. Two forms:
 * - `packSequence([a, b, c])`: a list of `[L_i, *]` tensors (PyTorch `pack_sequence`);
 * - `packSequence(x, lengths)`: a padded `[T, B, *]` tensor and its lengths (like
 *   `packPaddedSequence`, with `batchFirst` available).
 * Lengths may come in any order unless `enforceSorted` is set.
 *
 * @example
 * ```ts
 * const packed = kiln.nn.packSequence([kiln.randn([2, 4]), kiln.randn([5, 4])]);
 * const [out, hN] = new kiln.nn.RNN(4, 3).forward(packed);
 * ```
 */
export function packSequence(sequences: readonly Tensor[], options?: { enforceSorted?: boolean }): PackedSequence;
export function packSequence(input: Tensor, lengths: LengthsLike, options?: PackOptions): PackedSequence;
export function packSequence(a: readonly Tensor[] | Tensor, b?: LengthsLike | { enforceSorted?: boolean }, c: PackOptions = {}): PackedSequence {
  if (a instanceof Tensor) {
    if (!Array.isArray(b) && !(b instanceof Tensor)) throw new KilnError('packSequence(x, lengths): lengths are missing', { op: 'packSequence' });
    return packPaddedSequence(a, b as LengthsLike, { enforceSorted: false, ...c });
  }
  const opts = (b ?? {}) as { enforceSorted?: boolean };
  const lengths = a.map((s) => s.shape[0] ?? 0);
  return packPaddedSequence(padSequence(a), lengths, { enforceSorted: opts.enforceSorted ?? false });
}
