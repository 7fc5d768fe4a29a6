/**
 * Kiln: a deep-learning framework and graph compiler for TypeScript.
 *
 * This module is the package's browser (and default) entry: it imports no `node:*`
 * module. Node gets `./index.node.ts`, which adds files and worker threads (see
 * `src/platform/`).
 *
 * @example
 * ```ts
 * import * as kiln from 'kiln';
 * await kiln.init();
 * const w = kiln.randn([2, 3], { seed: 0, requiresGrad: true });
 * const loss = kiln.tensor([[1, 2], [3, 4]]).matmul(w).relu().sum();
 * loss.backward();
 * console.log(w.grad!.toString());
 * ```
 */
export * from './eager/index.js';
export * as nn from './nn/index.js';
export { save, load, loadCheckpoint, type Checkpoint } from './nn/index.js';
export type { CheckpointSource, SaveOptions } from './nn/checkpoint.js';
export type { ByteSource, TextSink } from './platform/index.js';
export { fit, evaluate, ProgressBar, metrics, type FitOptions, type EpochRecord, type BatchRecord, type EvaluateOptions, type EvaluateResult, type MetricName, type MetricValues } from './train/index.js';
export * as data from './data/index.js';
export * as optim from './optim/index.js';
export * as search from './search/index.js';
export * as ir from './ir/index.js';
export * as passes from './passes/index.js';
export { compile, spec, dim, type CompiledModel, type CompileOptions, type CompileStats, type InputSpec, type DimSpec, type SymbolicDim } from './compiled/index.js';
export * as diagnostics from './diagnostics/index.js';
export { summary, ModelSummary, type SummaryOptions, type LayerSummary, type SummaryTotals } from './diagnostics/index.js';
export * as onnx from './onnx/index.js';
