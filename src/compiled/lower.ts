import { verifyGraph, type Graph } from '../ir/index.js';
import type { BackendName } from '../runtime/backend.js';
import { getBackend } from '../eager/engine.js';
import type { Tensor } from '../eager/tensor.js';
import { ExecutionPlan } from './executionPlan.js';

/** Where a compiled graph runs. */
export type CompileTarget = Extract<BackendName, 'wasm' | 'reference'>;

/**
 * Graph → ExecutionPlan on `target`: verifies the graph (SSA, order, types against each
 * op's inference), then orders kernel calls with the memory plan. `live` binds
 * constants to tensors read at every run (parameters) instead of copies.
 * No optimization passes run here yet.
 *
 * @example
 * ```ts
 * const plan = lower(graph, 'wasm');
 * const [y] = plan.run([x], new Map([['batch', 8]]));
 * ```
 */
export function lower(graph: Graph, target: CompileTarget, live: ReadonlyMap<string, Tensor> = new Map()): ExecutionPlan {
  verifyGraph(graph);
  return new ExecutionPlan(graph, getBackend(target), live);
}
