import { dimEquals, formatDim } from './dims.js';
import type { ValueType } from './graph.js';

/** `float32[batch, 784]`; `bool[]` for a scalar. The text form of a value's type. */
export function formatType(t: ValueType): string {
  return `${t.dtype}[${t.shape.map(formatDim).join(', ')}]`;
}

/** Same dtype and the same dims (symbolic dims compared as expressions). */
export function typesEqual(a: ValueType, b: ValueType): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => dimEquals(d, b.shape[i]!));
}

/** One element for sure: every dim is the number 1 (rank 0 included). Conditions and trip counts. */
export function isOneElement(t: ValueType): boolean {
  return t.shape.every((d) => d === 1);
}
