// Placeholder replaced by the exporter (next commit).
import { KilnError } from '../ir/errors.js';
import type { InputSpec } from '../compiled/spec.js';

export interface ExportOptions {
  readonly inputs: readonly InputSpec[];
  readonly outputNames?: readonly string[];
  readonly opset?: number;
}

export interface ExportResult {
  readonly bytes: Uint8Array;
}

export async function exportModel(_model: unknown, _path: string | null, _options: ExportOptions): Promise<ExportResult> {
  throw new KilnError('onnx.exportModel: not implemented yet');
}
