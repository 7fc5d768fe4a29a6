import { KilnError } from './errors.js';

/** Element types. `float64` exists on the reference backend only (gradient checks). */
export type DType = 'float32' | 'float64' | 'int32' | 'bool';

/** Every dtype Kiln supports. */
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'bool'];

/** Whether `x` names a supported dtype. */
export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64' || x === 'int32' || x === 'bool';
}

/**
 * Returns `dtype` if Kiln supports it, else throws a KilnError listing the supported
 * dtypes (without op or call site: the caller adds its own, as for `infer` errors).
 * Every allocation goes through `arrayFor` or `bytesPerElement`, which call this, so a
 * user's `{ dtype: 'float16' }` fails here whichever function took it.
 */
export function checkDType(dtype: unknown): DType {
  if (isDType(dtype)) return dtype;
  throw unknownDType(dtype);
}

function unknownDType(dtype: unknown): KilnError {
  const shown = typeof dtype === 'string' ? `'${dtype}'` : String(dtype);
  return new KilnError(`unknown dtype ${shown} (expected one of ${DTYPES.join(', ')})`);
}

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/** Shape and dtype of a value. Eager shapes are concrete numbers. */
export interface TensorType {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

const RANK: Record<DType, number> = { bool: 0, int32: 1, float32: 2, float64: 3 };

/** PyTorch-style promotion between two tensor dtypes: bool < int32 < float32 < float64. */
export function promoteTypes(a: DType, b: DType): DType {
  return RANK[a] >= RANK[b] ? a : b;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

export function bytesPerElement(dtype: DType): number {
  if (dtype === 'float32' || dtype === 'int32') return 4;
  if (dtype === 'float64') return 8;
  if (dtype === 'bool') return 1;
  throw unknownDType(dtype); // not a dtype (a user's 'float16')
}

export function arrayFor(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'float64': return new Float64Array(size);
    case 'int32': return new Int32Array(size);
    case 'bool': return new Uint8Array(size);
    default: throw unknownDType(dtype); // not a dtype (a user's 'float16')
  }
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  return n;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}
