// The static side of Kiln: tracing eager code into graphs, guards, graph breaks, lowering.
export { compile, type CompileOptions, type CompiledModel, type CompileStats } from './compile.js';
export { spec, dim, type InputSpec, type DimSpec, type SymbolicDim } from './spec.js';
export { lower, type CompileTarget } from './lower.js';
export { ExecutionPlan } from './executionPlan.js';
export { eagerExecutor, interpretEager } from './eagerExecutor.js';
