// The one place Kiln touches `onnx-proto` (generated protobufjs code for onnx.proto).
// Export and import both go through these helpers, so protobuf details (Long for int64,
// raw_data byte order, the DataType enum) are handled once. Browser-safe: onnx-proto and
// protobufjs/minimal import no `node:*` module.
import onnxProto from 'onnx-proto';
import { KilnError } from '../ir/errors.js';
import type { DType, TypedArray } from '../ir/dtype.js';

/** The generated `onnx` namespace (message classes with `encode`/`decode`/`create`). */
export const onnx: typeof onnxProto.onnx = onnxProto.onnx;

/** Types of the generated namespace: `onnxTypes.IModelProto`, `onnxTypes.NodeProto`, … */
export type { onnx as onnxTypes } from 'onnx-proto';

import type { onnx as O } from 'onnx-proto';
export type ModelProto = O.ModelProto;
export type IModelProto = O.IModelProto;
export type GraphProto = O.GraphProto;
export type IGraphProto = O.IGraphProto;
export type NodeProto = O.NodeProto;
export type INodeProto = O.INodeProto;
export type TensorProto = O.TensorProto;
export type ITensorProto = O.ITensorProto;
export type AttributeProto = O.AttributeProto;
export type IAttributeProto = O.IAttributeProto;
export type ValueInfoProto = O.ValueInfoProto;
export type IValueInfoProto = O.IValueInfoProto;
export type ITypeProto = O.ITypeProto;

/** ONNX `TensorProto.DataType` values. */
export const OnnxDataType = onnx.TensorProto.DataType;
/** ONNX `AttributeProto.AttributeType` values. */
export const OnnxAttributeType = onnx.AttributeProto.AttributeType;

/** The IR version Kiln writes (ONNX 1.10+, `IR_VERSION = 8`). */
export const IR_VERSION = 8;

/** An int64 as protobufjs gives it: a number, or a `Long` (`low`/`high`/`unsigned`). */
export type Int64Like = number | { low: number; high: number; unsigned?: boolean; toNumber?: () => number } | null | undefined;

/**
 * An int64 field as a JS number. Values outside ±2⁵³ cannot be represented exactly and
 * raise a KilnError naming `what` (e.g. `"dims of 'W'"`); null/undefined read as 0.
 */
export function int64ToNumber(v: Int64Like, what = 'int64 value'): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  const high = v.high | 0;
  const low = v.low >>> 0;
  const n = v.unsigned ? (high >>> 0) * 4294967296 + low : high * 4294967296 + low;
  if (!Number.isSafeInteger(n)) throw new KilnError(`${what} ${n} does not fit a safe JS integer`);
  return n;
}

/**
 * An int64 narrowed to int32 (Kiln's integer dtype). Out of range is a KilnError naming
 * `what`; ONNX's "to the end" sentinels (±2⁶³−1 in Slice) are clamped by the caller
 * before this, not here.
 */
export function int64ToInt32(v: Int64Like, what = 'int64 value'): number {
  let n: number;
  if (v !== null && v !== undefined && typeof v !== 'number') {
    const high = v.high | 0;
    const low = v.low >>> 0;
    n = v.unsigned ? (high >>> 0) * 4294967296 + low : high * 4294967296 + low;
  } else n = v ?? 0;
  if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647) {
    throw new KilnError(`${what} ${n} does not fit int32 (Kiln's integer dtype)`);
  }
  return n;
}

/** Encodes a model to bytes. */
export function encodeModel(model: IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Decodes ONNX bytes. Truncated or non-protobuf bytes raise a KilnError (protobufjs's own
 * RangeError/Error is kept as the message's tail), never a crash.
 */
export function decodeModel(bytes: Uint8Array, source = 'model'): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new KilnError(`${source} is not a valid ONNX protobuf (${(e as Error).message})`);
  }
}

/** Kiln dtype → ONNX `TensorProto.DataType`. */
export function onnxDataTypeOf(dtype: DType): number {
  switch (dtype) {
    case 'float32': return OnnxDataType.FLOAT;
    case 'float64': return OnnxDataType.DOUBLE;
    case 'int32': return OnnxDataType.INT32;
    case 'bool': return OnnxDataType.BOOL;
  }
}

/** Name of an ONNX data type (`'FLOAT16'`), for messages. */
export function onnxDataTypeName(t: number): string {
  return (OnnxDataType as unknown as Record<number, string>)[t] ?? `DataType(${t})`;
}

/**
 * ONNX `TensorProto.DataType` → Kiln dtype. INT64 and the small integer types become
 * int32 (values are range-checked where they are read); FLOAT16, strings, complex and
 * unsigned 32/64-bit types raise a KilnError naming the type and `what`.
 */
export function kilnDTypeOf(t: number, what = 'tensor'): DType {
  switch (t) {
    case OnnxDataType.FLOAT: return 'float32';
    case OnnxDataType.DOUBLE: return 'float64';
    case OnnxDataType.INT32:
    case OnnxDataType.INT64:
    case OnnxDataType.INT8:
    case OnnxDataType.UINT8:
    case OnnxDataType.INT16:
    case OnnxDataType.UINT16: return 'int32';
    case OnnxDataType.BOOL: return 'bool';
    default: throw new KilnError(`${what} has ONNX data type ${onnxDataTypeName(t)}, which Kiln does not support (float32, float64, int32/int64, bool)`);
  }
}

/**
 * A TensorProto holding `data` (raw little-endian bytes; the layout ONNX Runtime reads
 * fastest). Used for initializers and Constant values.
 */
export function tensorProto(name: string, dtype: DType, shape: readonly number[], data: TypedArray): ITensorProto {
  const raw = new Uint8Array(data.byteLength);
  if (isLittleEndian) raw.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  else writeLittleEndian(raw, dtype, data);
  return { name, dataType: onnxDataTypeOf(dtype), dims: [...shape], rawData: raw };
}

/** An int64 TensorProto (shape constants: Reshape's shape, Slice's starts, …). */
export function int64TensorProto(name: string, shape: readonly number[], values: readonly number[]): ITensorProto {
  return { name, dataType: OnnxDataType.INT64, dims: [...shape], int64Data: [...values] };
}

/**
 * The values of a TensorProto as a Kiln typed array (`raw_data` or the typed fields),
 * int64 narrowed to int32 with a range check. External data (`data_location = EXTERNAL`)
 * is the caller's job: pass the external bytes as `external`.
 */
export function tensorProtoValues(t: TensorProto | ITensorProto, external?: Uint8Array): { dtype: DType; shape: number[]; data: TypedArray } {
  const name = t.name ? `'${t.name}'` : 'tensor';
  const type = t.dataType ?? OnnxDataType.UNDEFINED;
  const dtype = kilnDTypeOf(type, name);
  const shape = (t.dims ?? []).map((d) => int64ToNumber(d, `dims of ${name}`));
  const size = shape.reduce((a, b) => a * b, 1);
  const raw = external ?? (t.rawData && t.rawData.length > 0 ? t.rawData : null);
  const out = newArray(dtype, size);
  if (raw) {
    const width = byteWidth(type);
    if (raw.length !== size * width) throw new KilnError(`${name} holds ${raw.length} bytes, expected ${size * width} for shape [${shape.join(', ')}] of ${onnxDataTypeName(type)}`);
    readRaw(raw, type, out, name);
    return { dtype, shape, data: out };
  }
  const field = typedField(t, type);
  if (field.length !== size) throw new KilnError(`${name} holds ${field.length} values, expected ${size} for shape [${shape.join(', ')}]`);
  if (type === OnnxDataType.INT64) for (let i = 0; i < size; i++) out[i] = int64ToInt32(field[i] as Int64Like, `value of ${name}`);
  else for (let i = 0; i < size; i++) out[i] = Number(field[i]);
  return { dtype, shape, data: out };
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function newArray(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'float64': return new Float64Array(size);
    case 'int32': return new Int32Array(size);
    case 'bool': return new Uint8Array(size);
  }
}

function byteWidth(type: number): number {
  switch (type) {
    case OnnxDataType.DOUBLE:
    case OnnxDataType.INT64: return 8;
    case OnnxDataType.FLOAT:
    case OnnxDataType.INT32: return 4;
    case OnnxDataType.INT16:
    case OnnxDataType.UINT16: return 2;
    default: return 1;
  }
}

function readRaw(raw: Uint8Array, type: number, out: TypedArray, name: string): void {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = out.length;
  switch (type) {
    case OnnxDataType.FLOAT: for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true); return;
    case OnnxDataType.DOUBLE: for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true); return;
    case OnnxDataType.INT32: for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true); return;
    case OnnxDataType.INT64:
      for (let i = 0; i < n; i++) {
        const low = view.getUint32(8 * i, true);
        const high = view.getInt32(8 * i + 4, true);
        out[i] = int64ToInt32({ low, high }, `value of ${name}`);
      }
      return;
    case OnnxDataType.INT16: for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true); return;
    case OnnxDataType.UINT16: for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, true); return;
    case OnnxDataType.INT8: for (let i = 0; i < n; i++) out[i] = view.getInt8(i); return;
    case OnnxDataType.BOOL: for (let i = 0; i < n; i++) out[i] = raw[i] ? 1 : 0; return;
    default: for (let i = 0; i < n; i++) out[i] = raw[i]!; return; // UINT8
  }
}

function typedField(t: TensorProto | ITensorProto, type: number): ArrayLike<number | Int64Like> {
  switch (type) {
    case OnnxDataType.FLOAT: return t.floatData ?? [];
    case OnnxDataType.DOUBLE: return t.doubleData ?? [];
    case OnnxDataType.INT64: return (t.int64Data ?? []) as ArrayLike<Int64Like>;
    default: return t.int32Data ?? []; // INT32, INT8/16, UINT8/16 and BOOL live in int32_data
  }
}

function writeLittleEndian(raw: Uint8Array, dtype: DType, data: TypedArray): void {
  const view = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'float32') view.setFloat32(4 * i, data[i]!, true);
    else if (dtype === 'float64') view.setFloat64(8 * i, data[i]!, true);
    else if (dtype === 'int32') view.setInt32(4 * i, data[i]!, true);
    else raw[i] = data[i]!;
  }
}
