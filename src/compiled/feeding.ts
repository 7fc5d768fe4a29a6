// One run of a compiled graph entry: its inputs fed (the caller's tensors, parameters
// read live, fresh random keys), the plan run by the executor the mode calls for, in-place
// updates written back, and the returned value rebuilt.
import { evalDim, KilnError, type Bindings } from '../ir/index.js';
import { drawsFor } from '../ops/random.js';
import { engine } from '../eager/engine.js';
import { noGrad } from '../eager/autograd.js';
import { keyTensor, nextStream } from '../eager/creation.js';
import type { Tensor } from '../eager/tensor.js';
import type { ExecutionPlan } from './executionPlan.js';
import { runPlanEager } from './eagerExecutor.js';
import type { Trace } from './graphTracer.js';
import { runPlan } from './kernelExecutor.js';
import { unflattenOutputs } from './outputTree.js';

/**
 * Runs `plan` (compiled from `trace`) on the caller's `inputs` under `bindings` and
 * returns what the traced code returned. In training mode with gradients recorded the
 * plan runs through eager dispatch (the tape reaches the parameters); otherwise its
 * kernels run directly. A failed run writes nothing back and leaves nothing behind.
 */
export function runTracedEntry(trace: Trace, plan: ExecutionPlan, inputs: readonly Tensor[], bindings: Bindings, mode: 'inference' | 'training'): unknown {
  const backend = plan.backend;
  // What can fail is checked before anything is made or run, and state is written after every kernel ran.
  for (const f of trace.feeds) {
    if (f.kind !== 'state') continue;
    if (f.tensor.disposed) throw new KilnError(`compile: %${f.name} was disposed; a compiled model reads its parameters at every run`, { op: 'compile' });
    if (f.tensor.backend !== backend && mode === 'training' && engine.gradEnabled) throw new KilnError(`compile: %${f.name} lives on the '${f.tensor.backend.name}' backend but the plan runs on '${backend.name}'; for training, compile with the target your parameters live on`, { op: 'compile' });
  }
  for (const m of trace.mutations) {
    if ('state' in m.target && m.target.state.disposed) throw new KilnError(`compile: %${m.target.name} was disposed; a compiled model writes it at every run`, { op: 'compile' });
  }
  const temps: Tensor[] = [];
  const feeds = trace.feeds.map((f): Tensor => {
    switch (f.kind) {
      case 'input': {
        const x = inputs[f.index]!;
        if (x.backend === backend) return x;
        const y = x.to(backend.name);
        temps.push(y);
        return y;
      }
      case 'state': {
        const t = f.tensor;
        if (t.backend === backend) return t;
        const y = noGrad(() => t.to(backend.name));
        temps.push(y);
        return y;
      }
      case 'rng': {
        const k = keyTensor(backend, nextStream(drawsFor(f.draws, evalDim(f.numel, bindings))));
        temps.push(k);
        return k;
      }
    }
  });
  const tape = mode === 'training' && engine.gradEnabled && feeds.some((x) => x.requiresGrad);
  let outs: Tensor[];
  let ran = false;
  try {
    outs = tape ? runPlanEager(plan, feeds, bindings) : runPlan(plan, feeds, bindings);
    ran = true;
  } finally {
    // With a tape, moved inputs may be saved for backward: the enclosing scope frees them.
    for (const t of temps) if (!ran || !tape || t.dtype === 'int32') t.dispose();
  }
  for (const m of trace.mutations) {
    const src = outs[m.output]!;
    const dst = 'input' in m.target ? inputs[m.target.input]! : m.target.state;
    if (src.storage === dst.storage) continue;
    if (src.backend === dst.backend && src.dtype === dst.dtype && src.size === dst.size) dst.backend.copy(src.storage, dst.storage);
    else noGrad(() => dst.copy_(src));
  }
  const handed = new Set<number>();
  const result = unflattenOutputs(trace.outputs, (leaf) => {
    if (leaf.same) return 'input' in leaf.same ? inputs[leaf.same.input]! : leaf.same.state;
    handed.add(leaf.output);
    return outs[leaf.output]!;
  });
  outs.forEach((o, i) => { if (!handed.has(i)) o.dispose(); });
  return result;
}
