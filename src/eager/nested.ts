import type { TypedArray } from '../ir/index.js';

/** Elements as nested JS arrays. */
export type NestedArray = number | boolean | NestedArray[];

export function toNested(data: TypedArray, shape: readonly number[], asBool: boolean): NestedArray {
  const at = (i: number): number | boolean => (asBool ? data[i] !== 0 : data[i]!);
  if (shape.length === 0) return at(0);
  const build = (dim: number, offset: number): NestedArray[] => {
    const n = shape[dim]!;
    let stride = 1;
    for (let k = dim + 1; k < shape.length; k++) stride *= shape[k]!;
    const out: NestedArray[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = dim === shape.length - 1 ? at(offset + i) : build(dim + 1, offset + i * stride);
    return out;
  };
  return build(0, 0);
}

/** Shape and flat elements of nested arrays; throws on ragged input. */
export function fromNested(value: NestedArray | readonly NestedArray[] | ArrayLike<number>): { shape: number[]; flat: number[] } {
  const shape: number[] = [];
  let probe: unknown = value;
  while (Array.isArray(probe) || ArrayBuffer.isView(probe)) {
    const arr = probe as ArrayLike<unknown>;
    shape.push(arr.length);
    probe = arr[0];
  }
  const flat: number[] = [];
  const walk = (v: unknown, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof v === 'boolean') flat.push(v ? 1 : 0);
      else if (typeof v === 'number') flat.push(v);
      else throw new Error(`expected a number at ${path || 'top level'}, got ${typeof v}`);
      return;
    }
    const arr = v as ArrayLike<unknown>;
    if (!(Array.isArray(v) || ArrayBuffer.isView(v)) || arr.length !== shape[dim]) {
      throw new Error(`ragged nested array: expected length ${shape[dim]} at ${path || 'top level'}`);
    }
    for (let i = 0; i < arr.length; i++) walk(arr[i], dim + 1, `${path}[${i}]`);
  };
  walk(value, 0, '');
  return { shape, flat };
}
