import { interpret, type Executor, type Graph, type InterpretOptions } from '../ir/index.js';
import type { BackendName } from '../runtime/backend.js';
import { applyOp } from '../eager/dispatch.js';
import { fromFlat } from '../eager/creation.js';
import type { Tensor } from '../eager/tensor.js';

/**
 * The interpreter's executor on eager ops: each node runs through `applyOp` on the
 * inputs' backend, constants become tensors on `backend`.
 */
export function eagerExecutor(backend?: BackendName): Executor<Tensor> {
  return {
    exec: (op, inputs, attrs) => applyOp(op, inputs, attrs),
    constant: (_name, data, type) => fromFlat('constant', data, type.shape, { dtype: type.dtype, ...(backend ? { backend } : {}) }),
    readScalar: (t) => t.item(),
  };
}

/**
 * Runs `graph` with the reference interpreter on eager ops: the semantic truth a
 * compiled plan is compared with. Intermediates are eager tensors (use `kiln.scope`).
 *
 * @example
 * ```ts
 * const [y] = interpretEager(fast.graph, [x]);
 * ```
 */
export function interpretEager(graph: Graph, inputs: readonly Tensor[], options: InterpretOptions & { backend?: BackendName } = {}): Tensor[] {
  return interpret(graph, inputs, eagerExecutor(options.backend ?? inputs[0]?.backend.name), options);
}
