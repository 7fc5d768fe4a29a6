// The ONNX ops Kiln imports: one file per op family, each adding its importers to one
// table (op type → importer). Opset differences are handled inside each importer.
import type { OpImporter } from '../importContext.js';
import { elementwiseImporters } from './elementwise.js';
import { nnImporters } from './nn.js';
import { shapeImporters } from './shape.js';
import { reduceImporters } from './reduce.js';
import { recurrentImporters } from './recurrent.js';
import { controlFlowImporters } from './controlFlow.js';
import { resizeImporters } from './resize.js';

const table = new Map<string, OpImporter>(Object.entries({
  ...elementwiseImporters,
  ...nnImporters,
  ...shapeImporters,
  ...reduceImporters,
  ...recurrentImporters,
  ...controlFlowImporters,
  ...resizeImporters,
}));

/** The importer of ONNX op `opType` (default domain), or undefined. */
export function importerFor(opType: string): OpImporter | undefined {
  return table.get(opType);
}

/** Every ONNX op type the importer knows, sorted. */
export function supportedOnnxOps(): string[] {
  return [...table.keys()].sort();
}
