import type { TypedArray } from '../../../ir/index.js';

/**
 * For each output element of a broadcast, the flat index into an input of `inShape`
 * (right-aligned against `outShape`). Cheap fast paths for equal shapes and scalars.
 */
export function broadcastIndex(inShape: readonly number[], outShape: readonly number[], outSize: number): Int32Array | 'same' | 'scalar' {
  let inSize = 1;
  for (const d of inShape) inSize *= d;
  if (inSize === 1) return 'scalar';
  if (inSize === outSize) return 'same';
  const rank = outShape.length;
  const strides = new Array<number>(rank).fill(0);
  let acc = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    const o = rank - inShape.length + i;
    strides[o] = inShape[i] === 1 ? 0 : acc;
    acc *= inShape[i]!;
  }
  const idx = new Int32Array(outSize);
  const counter = new Array<number>(rank).fill(0);
  let pos = 0;
  for (let k = 0; k < outSize; k++) {
    idx[k] = pos;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      pos += strides[d]!;
      if (counter[d]! < outShape[d]!) break;
      pos -= strides[d]! * counter[d]!;
      counter[d] = 0;
    }
  }
  return idx;
}

/** out[i] = f(a[ia], b[ib]) over a broadcast. */
export function broadcastBinary(
  a: TypedArray, aShape: readonly number[],
  b: TypedArray, bShape: readonly number[],
  out: TypedArray, outShape: readonly number[],
  f: (x: number, y: number) => number,
): void {
  const n = out.length;
  const ia = broadcastIndex(aShape, outShape, n);
  const ib = broadcastIndex(bShape, outShape, n);
  if (ia === 'same' && ib === 'same') for (let i = 0; i < n; i++) out[i] = f(a[i]!, b[i]!);
  else if (ia === 'same' && ib === 'scalar') { const y = b[0]!; for (let i = 0; i < n; i++) out[i] = f(a[i]!, y); }
  else if (ia === 'scalar' && ib === 'same') { const x = a[0]!; for (let i = 0; i < n; i++) out[i] = f(x, b[i]!); }
  else {
    const ga = (i: number): number => (ia === 'scalar' ? a[0]! : ia === 'same' ? a[i]! : a[ia[i]!]!);
    const gb = (i: number): number => (ib === 'scalar' ? b[0]! : ib === 'same' ? b[i]! : b[ib[i]!]!);
    for (let i = 0; i < n; i++) out[i] = f(ga(i), gb(i));
  }
}
