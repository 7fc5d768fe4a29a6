// Per-sequence lengths of a padded batch, and the masks that freeze each sequence's
// state after its last valid step.
import { KilnError, Tensor, tensor } from '../../eager/index.js';

/** Lengths as given by users: a JS array or a 1-D integer tensor. */
export type LengthsLike = readonly number[] | Tensor;

/** Reads `lengths` into integers and checks them against `batch` and `maxSteps`. */
export function readLengths(op: string, lengths: LengthsLike, batch: number, maxSteps: number, minLength = 0): number[] {
  const list = lengths instanceof Tensor ? Array.from(lengths.dataSync(), Number) : Array.from(lengths);
  if (lengths instanceof Tensor && lengths.rank !== 1) {
    throw new KilnError(`lengths must be 1-D, got shape [${lengths.shape.join(', ')}]`, { op });
  }
  if (list.length !== batch) throw new KilnError(`expected ${batch} lengths (one per sequence in the batch), got ${list.length}`, { op });
  for (const l of list) {
    if (!Number.isInteger(l) || l < minLength || l > maxSteps) {
      throw new KilnError(`every length must be an integer in [${minLength}, ${maxSteps}], got ${l}`, { op });
    }
  }
  return list;
}

/**
 * One bool mask `[batch, 1]` per time step (`true` where the step is inside the
 * sequence), or `null` for steps every sequence still covers: those need no masking.
 */
export function stepMasks(lengths: readonly number[], steps: number, like: Tensor): (Tensor | null)[] {
  const shortest = Math.min(...lengths);
  const masks: (Tensor | null)[] = [];
  for (let t = 0; t < steps; t++) {
    masks.push(t < shortest ? null : tensor(lengths.map((l) => (t < l ? 1 : 0)), { dtype: 'bool', shape: [lengths.length, 1], backend: like.backend.name }));
  }
  return masks;
}

/** A bool mask `[steps, batch, 1, …]` (rank `rank`), true inside each sequence: for time-major padded tensors. */
export function paddedMask(lengths: readonly number[], steps: number, rank: number, like: Tensor): Tensor {
  const flat: number[] = [];
  for (let t = 0; t < steps; t++) for (const l of lengths) flat.push(t < l ? 1 : 0);
  const shape = [steps, lengths.length, ...new Array<number>(Math.max(0, rank - 2)).fill(1)];
  return tensor(flat, { dtype: 'bool', shape, backend: like.backend.name });
}
