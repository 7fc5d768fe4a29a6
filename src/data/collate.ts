import { KilnError, Tensor, type TypedArray } from '../eager/index.js';
import type { Collated } from './dataset.js';
import { allocLike, fromHost } from './hostTensor.js';

/**
 * Stacks samples into a batch (PyTorch's `default_collate`): tensors of equal shape
 * gain a leading batch axis (same dtype and backend), numbers become a float32 tensor
 * `[B]`, and arrays/tuples and plain objects are collated field by field.
 *
 * @example
 * ```ts
 * const batch = kiln.data.defaultCollate([[kiln.tensor([1, 2]), 0], [kiln.tensor([3, 4]), 1]]);
 * // [tensor [2, 2], tensor [2] (float32)]
 * ```
 */
export function defaultCollate<T>(samples: readonly T[]): Collated<T> {
  if (samples.length === 0) throw new KilnError('cannot collate an empty batch', { op: 'defaultCollate' });
  return collateAt(samples as readonly unknown[], 'sample') as Collated<T>;
}

function collateAt(items: readonly unknown[], path: string): unknown {
  const first = items[0];
  if (first instanceof Tensor) return stackTensors(items, path);
  if (typeof first === 'number') {
    const flat = new Float32Array(items.length);
    items.forEach((v, i) => {
      if (typeof v !== 'number') fail(path, `a number in the first sample but ${describe(v)} in sample ${i}`);
      flat[i] = v;
    });
    return fromHost(flat, [items.length], 'float32');
  }
  if (Array.isArray(first)) {
    return first.map((_, k) =>
      collateAt(
        items.map((s, i) => {
          if (!Array.isArray(s) || s.length !== first.length) fail(path, `an array of length ${first.length} in the first sample but ${describe(s)} in sample ${i}`);
          return s[k];
        }),
        `${path}[${k}]`,
      ),
    );
  }
  if (first !== null && typeof first === 'object' && Object.getPrototypeOf(first) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(first)) {
      out[key] = collateAt(
        items.map((s) => (s as Record<string, unknown>)[key]),
        `${path}.${key}`,
      );
    }
    return out;
  }
  return fail(path, `cannot collate ${describe(first)}: samples must be tensors, numbers, arrays or plain objects (or pass a collate function)`);
}

function stackTensors(items: readonly unknown[], path: string): Tensor {
  const first = items[0] as Tensor;
  const shape = first.shape;
  const size = first.size;
  let out: TypedArray | undefined;
  for (let i = 0; i < items.length; i++) {
    const v = items[i];
    if (!(v instanceof Tensor)) return fail(path, `a tensor in the first sample but ${describe(v)} in sample ${i}`);
    if (v.dtype !== first.dtype || v.backend !== first.backend || v.shape.length !== shape.length || v.shape.some((d, k) => d !== shape[k])) {
      return fail(path, `samples must share shape, dtype and backend: sample 0 is ${first.dtype}[${shape.join(', ')}] on ${first.backend.name}, sample ${i} is ${v.dtype}[${v.shape.join(', ')}] on ${v.backend.name}`);
    }
    const data = v.dataSync();
    out ??= allocLike(data, items.length * size);
    out.set(data, i * size);
  }
  return fromHost(out!, [items.length, ...shape], first.dtype, first.backend.name);
}

function describe(v: unknown): string {
  if (v instanceof Tensor) return `a tensor ${v.dtype}[${v.shape.join(', ')}]`;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  return v === null ? 'null' : `a ${typeof v}`;
}

function fail(path: string, message: string): never {
  throw new KilnError(`${path}: ${message}`, { op: 'defaultCollate' });
}
