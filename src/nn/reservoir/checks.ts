// Argument checks shared by the reservoir models; errors name the class.
import { Tensor } from '../../eager/index.js';
import { layerError } from '../layers/common.js';

/** `shape [2, 3]` for a tensor, else the JS type. */
export function describe(x: unknown): string {
  return x instanceof Tensor ? `shape [${x.shape.join(', ')}]` : x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x;
}

export function positive(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v > 0) || v === Infinity) throw layerError(layer, `${name} must be a finite number > 0, got ${String(v)}`);
  return v;
}

export function nonNegative(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0) || v === Infinity) throw layerError(layer, `${name} must be a finite number ≥ 0, got ${String(v)}`);
  return v;
}

/** A number in (0, 1]. */
export function fraction(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) throw layerError(layer, `${name} must be in (0, 1], got ${String(v)}`);
  return v;
}

/** The ridge penalty of a `fit`: a finite number ≥ 0, default 1e-6. */
export function ridgeOf(layer: string, ridge: unknown): number {
  return nonNegative(layer, 'fit: ridge', ridge ?? 1e-6);
}
