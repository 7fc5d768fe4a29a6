// The interpreter loop on eager ops: the reference semantics (any graph, by op name
// through `applyOp`), and a plan run through eager dispatch so that autograd records
// the tape (compiled training).
import { interpret, runSchedule, type Bindings, type Executor, type Graph, type InterpretOptions, type ScheduleStep } from '../ir/index.js';
import type { BackendName } from '../runtime/backend.js';
import { applyOp, execute } from '../eager/dispatch.js';
import { noGrad } from '../eager/autograd.js';
import { fromFlat } from '../eager/creation.js';
import { Tensor } from '../eager/tensor.js';
import { KilnError } from '../ir/index.js';
import type { ExecutionPlan } from './executionPlan.js';

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

/**
 * Runs `plan`'s nodes through eager dispatch with the attributes the plan resolved for
 * `bindings`, so autograd records the tape (compiled training: gradients flow to the
 * live parameters). Intermediates no gradient needs are freed after their last use;
 * outputs are fresh tensors.
 *
 * @example
 * ```ts
 * const [loss] = runPlanEager(plan, [x, w], new Map([['batch', 8]]));
 * loss.backward();
 * ```
 */
export function runPlanEager(plan: ExecutionPlan, inputs: readonly Tensor[], bindings: Bindings): Tensor[] {
  const r = plan.resolve(bindings);
  const s = plan.schedule;
  const slots = new Array<Tensor | undefined>(s.slotCount);
  for (let i = 0; i < inputs.length; i++) slots[s.main.inputs[i]!] = inputs[i];
  const wrappers = plan.constantTensors();
  const made: Tensor[] = [];
  const constants: Tensor[] = [];
  plan.constants.forEach((c, i) => {
    let t: Tensor;
    if (c.folded) {
      // Folded constants are computed for this run, outside the tape (constants need no gradient).
      const f = c.folded;
      const outs = noGrad(() => execute(f.def, f.inputs.map((j) => constants[j]!), f.attrs));
      outs.forEach((o, k) => { if (k !== f.index) o.dispose(); });
      t = outs[f.index]!;
      made.push(t);
    } else {
      t = c.tensor ? plan.liveTensor(c) : wrappers[i]!;
      if (t.backend !== plan.backend) throw new KilnError(`compile: %${c.name} lives on the '${t.backend.name}' backend but the plan runs on '${plan.backend.name}'; for training, compile with the target your parameters live on`, { op: 'compile' });
    }
    constants.push(t);
    slots[c.slot] = t;
  });
  // The tape keeps the inputs and outputs of ops that record a gradient.
  const saved = new Set<Tensor>();
  const nodes: Executor<Tensor> = {
    ...eagerExecutor(plan.backend.name),
    runNode: (st: ScheduleStep, ins: readonly Tensor[]) => {
      const outs = execute(plan.steps[st.index]!.def, ins, r.attrs[st.index]!);
      if (outs.some((o) => o.gradFn !== null)) {
        for (const x of ins) saved.add(x);
        for (const o of outs) saved.add(o);
      }
      return outs;
    },
    release: (t) => { if (!saved.has(t)) t.dispose(); },
    // An input or constant returned: a fresh tensor on its storage (a node's result returned twice stays one tensor).
    share: (t, produced) => {
      if (produced) return t;
      t.storage.refs++;
      return new Tensor(t.storage, t.shape, t.dtype, t.backend);
    },
  };
  let outs: Tensor[] = [];
  try {
    outs = runSchedule(s, nodes, slots, { bindings });
  } finally {
    for (const t of made) if (!saved.has(t) && !outs.includes(t)) t.dispose();
  }
  return outs;
}
