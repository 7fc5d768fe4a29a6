/** Element types. `float64` exists on the reference backend only (gradient checks). */
export type DType = 'float32' | 'float64' | 'int32' | 'bool';

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
  return dtype === 'float64' ? 8 : dtype === 'bool' ? 1 : 4;
}

export function arrayFor(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'float64': return new Float64Array(size);
    case 'int32': return new Int32Array(size);
    case 'bool': return new Uint8Array(size);
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
