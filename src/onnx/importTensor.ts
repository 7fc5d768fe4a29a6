// ONNX TensorProtos (initializers, Constant values, attribute tensors) read into import-
// time constants. int64 values stay wide (float64, exact to 2⁵³) while the importer
// reads them as shapes, axes or Slice bounds (whose "to the end" sentinels are ±2⁶³);
// they are narrowed to int32, with a range check, only where they become tensor data.
import { KilnError, type DType, type TypedArray } from '../ir/index.js';
import { int64ToNumber, kilnDTypeOf, onnx, OnnxDataType, onnxDataTypeName, tensorProtoValues, type ITensorProto } from './proto.js';

/**
 * A value the importer knows at import time: an initializer, a Constant, or a node whose
 * inputs were all known (folded). Integer data may be a Float64Array of wide (int64)
 * values; `kilnData` narrows it.
 */
export interface Known {
  readonly kind: 'known';
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedArray;
  /** The ONNX name it came from (constant names in the IR). */
  readonly name?: string;
}

export function known(dtype: DType, shape: readonly number[], data: TypedArray, name?: string): Known {
  return name === undefined ? { kind: 'known', dtype, shape, data } : { kind: 'known', dtype, shape, data, name };
}

/** `k`'s data as Kiln stores it: wide integers narrowed to int32, out of range a KilnError. */
export function kilnData(k: Known): TypedArray {
  if (k.dtype !== 'int32' || k.data instanceof Int32Array) return k.data;
  const out = new Int32Array(k.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = k.data[i]!;
    if (!(v >= -2147483648 && v <= 2147483647)) {
      throw new KilnError(`int64 value ${v}${k.name ? ` in '${k.name}'` : ''} does not fit int32 (Kiln's integer dtype)`);
    }
    out[i] = v;
  }
  return out;
}

/** Where external tensor data comes from: its `location` relative to the model → bytes. */
export type ExternalData = (location: string, tensorName: string) => Uint8Array;

/** Reads a ITensorProto into a Known (external data through `external`). */
export function readTensor(t: ITensorProto, external: ExternalData | null): Known {
  const name = t.name || undefined;
  const what = name ? `'${name}'` : 'tensor';
  let bytes: Uint8Array | undefined;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) bytes = externalBytes(t, external, what);
  const type = t.dataType ?? 0;
  if (type === OnnxDataType.INT64 || type === OnnxDataType.UINT32 || type === OnnxDataType.UINT64) return readWideInt(t, type, bytes, what, name);
  if (type === OnnxDataType.FLOAT16) return readFloat16(t, bytes, what, name);
  shapeOf(t, what); // sizes checked before anything is allocated
  const v = tensorProtoValues(t, bytes);
  return known(v.dtype, v.shape, v.data, name);
}

function shapeOf(t: ITensorProto, what: string): number[] {
  const shape = (t.dims ?? []).map((d) => int64ToNumber(d, `dims of ${what}`));
  if (shape.some((d) => d < 0)) throw new KilnError(`${what} has a negative dim [${shape.join(', ')}]`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (!(size <= 2 ** 31)) throw new KilnError(`${what} has ${size} elements, too many`);
  return shape;
}

function externalBytes(t: ITensorProto, external: ExternalData | null, what: string): Uint8Array {
  const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location) throw new KilnError(`${what} is stored externally but names no location`);
  if (!external) throw new KilnError(`${what} is stored in the external file '${location}'; import the model from its path (external data is read relative to it)`);
  const all = external(location, what);
  const offset = Number(entries.get('offset') ?? 0);
  const length = entries.has('length') ? Number(entries.get('length')) : all.length - offset;
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > all.length) {
    throw new KilnError(`${what}: external data range offset ${entries.get('offset') ?? 0}, length ${entries.get('length') ?? '(rest)'} lies outside '${location}' (${all.length} bytes)`);
  }
  return all.subarray(offset, offset + length);
}

function readWideInt(t: ITensorProto, type: number, bytes: Uint8Array | undefined, what: string, name: string | undefined): Known {
  const shape = shapeOf(t, what);
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(size);
  const raw = bytes ?? (t.rawData && t.rawData.length ? t.rawData : null);
  const width = type === OnnxDataType.UINT32 ? 4 : 8;
  if (raw) {
    if (raw.length !== size * width) throw new KilnError(`${what} holds ${raw.length} bytes, expected ${size * width} for shape [${shape.join(', ')}] of ${onnxDataTypeName(type)}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < size; i++) {
      if (width === 4) out[i] = view.getUint32(4 * i, true);
      else {
        const low = view.getUint32(8 * i, true);
        out[i] = type === OnnxDataType.UINT64 ? view.getUint32(8 * i + 4, true) * 4294967296 + low : view.getInt32(8 * i + 4, true) * 4294967296 + low;
      }
    }
  } else {
    const field = (type === OnnxDataType.INT64 ? t.int64Data : t.uint64Data) ?? [];
    if (field.length !== size) throw new KilnError(`${what} holds ${field.length} values, expected ${size} for shape [${shape.join(', ')}]`);
    for (let i = 0; i < size; i++) {
      const v = field[i] as number | { low: number; high: number; unsigned?: boolean };
      out[i] = typeof v === 'number' ? v : (v.unsigned ? v.high >>> 0 : v.high | 0) * 4294967296 + (v.low >>> 0);
    }
  }
  return known('int32', shape, out, name);
}

function readFloat16(t: ITensorProto, bytes: Uint8Array | undefined, what: string, name: string | undefined): Known {
  const shape = shapeOf(t, what);
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const raw = bytes ?? (t.rawData && t.rawData.length ? t.rawData : null);
  if (raw) {
    if (raw.length !== 2 * size) throw new KilnError(`${what} holds ${raw.length} bytes, expected ${2 * size} for shape [${shape.join(', ')}] of FLOAT16`);
    for (let i = 0; i < size; i++) out[i] = halfToFloat(raw[2 * i]! | (raw[2 * i + 1]! << 8));
  } else {
    const field = t.int32Data ?? [];
    if (field.length !== size) throw new KilnError(`${what} holds ${field.length} values, expected ${size}`);
    for (let i = 0; i < size; i++) out[i] = halfToFloat(field[i]!);
  }
  return known('float32', shape, out, name);
}

/** IEEE half → number (float16 weights are widened to float32). */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * ONNX element type → Kiln dtype for values (inputs, Cast targets): what `kilnDTypeOf`
 * maps for tensors, plus float16/bfloat16 (computed as float32) and unsigned 32/64-bit
 * integers (as int32).
 */
export function kilnDTypeForValue(type: number, what: string): DType {
  switch (type) {
    case OnnxDataType.FLOAT16:
    case OnnxDataType.BFLOAT16: return 'float32';
    case OnnxDataType.UINT32:
    case OnnxDataType.UINT64: return 'int32';
    default: return kilnDTypeOf(type, what);
  }
}
