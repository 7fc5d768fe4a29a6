// Helpers shared by the layer files: parameter creation on a chosen dtype/backend,
// argument checks, and layer-named errors.
import { KilnError, zeros, type BackendName, type Pair, type Tensor } from '../../eager/index.js';
import { parameter } from '../module.js';

/** Where a layer's parameters live (PyTorch's `dtype`/`device` factory arguments). */
export interface FactoryOptions {
  /** Parameter dtype; default float32 (float64 only on the reference backend). */
  dtype?: 'float32' | 'float64';
  /** Backend of the parameters; default: the one `kiln.init` chose. */
  backend?: BackendName;
}

/** A KilnError naming the layer (e.g. `Linear: ...`). */
export function layerError(layer: string, message: string): KilnError {
  return new KilnError(message, { op: layer });
}

/** A zero-filled trainable parameter of `shape`, to be initialized by the caller. */
export function newParameter(shape: readonly number[], options: FactoryOptions): Tensor {
  return parameter(zeros(shape, { dtype: options.dtype ?? 'float32', backend: options.backend }));
}

/** Checks a positive (or non-negative) integer argument. */
export function checkInt(layer: string, name: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw layerError(layer, `${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

/** A number or [h, w] pair as [h, w], checked to hold integers ≥ `min`. */
export function toPair(layer: string, name: string, value: Pair, min = 1): [number, number] {
  const p: readonly number[] = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(p) || p.length !== 2) throw layerError(layer, `${name} must be a number or a pair [h, w], got ${JSON.stringify(value)}`);
  checkInt(layer, name, p[0], min);
  checkInt(layer, name, p[1], min);
  return [p[0]!, p[1]!];
}

/** Checks the rank of a layer's input, naming the accepted ranks and the shape got. */
export function checkRank(layer: string, x: Tensor, ranks: readonly number[], what: string): void {
  if (!ranks.includes(x.rank)) {
    throw layerError(layer, `expected ${what} input (rank ${ranks.join(' or ')}), got shape [${x.shape.join(', ')}]`);
  }
}

/** The shape [1, c, 1, …] that broadcasts a per-channel vector over dim 1 of a rank-`rank` tensor. */
export function channelShape(c: number, rank: number): number[] {
  const shape = new Array<number>(Math.max(rank, 2)).fill(1);
  shape[1] = c;
  return shape;
}
