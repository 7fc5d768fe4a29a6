// ONNX interchange: export (exportModel), import (importModel) and the shared protobuf
// access (proto.ts, the one module that imports onnx-proto). Browser-safe: files are
// written and read through the platform host.
export { onnx, type onnxTypes, IR_VERSION, OnnxDataType, OnnxAttributeType, encodeModel, decodeModel, int64ToNumber, int64ToInt32, onnxDataTypeOf, onnxDataTypeName, kilnDTypeOf, tensorProto, int64TensorProto, tensorProtoValues } from './proto.js';
export { exportModel, type ExportOptions, type ExportResult } from './export.js';
export { importModel, IMPORT_OPSETS, type ImportOptions, type ImportedModel, type ImportedInput } from './importModel.js';
