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
import { buildOutputs, handsOutput } from './outputTree.js';

/**
 * Runs `plan` (compiled from `trace`) on the caller's `inputs` under `bindings` and
 * returns what the traced code returned. In training mode with gradients recorded the
 * plan runs through eager dispatch (the tape reaches the parameters); otherwise its
 * kernels run directly. A failed run writes nothing back and leaves nothing behind.
 */
export function runTracedEntry(trace: Trace, plan: ExecutionPlan, inputs: readonly Tensor[], bindings: Bindings, mode: 'inference' | 'training'): unknown {
  const backend = plan.backend;
  const feedsOf = trace.feeds, mutations = trace.mutations;
  // What can fail is checked before anything is made or run, and state is written after
  // every kernel ran. Loops, not closures: a run allocates nothing here but its result.
  for (let i = 0; i < feedsOf.length; i++) {
    const f = feedsOf[i]!;
    if (f.kind !== 'state') continue;
    if (f.tensor.disposed) throw new KilnError(`compile: %${f.name} was disposed; a compiled model reads its parameters at every run`, { op: 'compile' });
    if (f.tensor.backend !== backend && mode === 'training' && engine.gradEnabled) throw new KilnError(`compile: %${f.name} lives on the '${f.tensor.backend.name}' backend but the plan runs on '${backend.name}'; for training, compile with the target your parameters live on`, { op: 'compile' });
  }
  for (let i = 0; i < mutations.length; i++) {
    const m = mutations[i]!;
    if ('state' in m.target && m.target.state.disposed) throw new KilnError(`compile: %${m.target.name} was disposed; a compiled model writes it at every run`, { op: 'compile' });
  }
  // The caller's inputs as they are when the graph's inputs are exactly them (no state,
  // no random keys, nothing to move): no feeds array.
  const temps: Tensor[] | null = feedsAreInputs(feedsOf, inputs, backend) ? null : [];
  const feeds = temps ? feedTensors(feedsOf, inputs, backend, bindings, temps) : inputs;
  const tape = mode === 'training' && engine.gradEnabled && anyRequiresGrad(feeds);
  // Kernel runs return into the plan's reused outputs array: only the rebuilt value is new.
  const into = tape ? null : plan.runner.takeOutputs();
  let outs: Tensor[];
  let ran = false;
  try {
    outs = tape ? runPlanEager(plan, feeds, bindings) : runPlan(plan, feeds, bindings, into);
    ran = true;
  } finally {
    // With a tape, moved inputs may be saved for backward: the enclosing scope frees them.
    if (temps) {
      for (let i = 0; i < temps.length; i++) {
        const t = temps[i]!;
        if (!ran || !tape || t.dtype === 'int32') t.dispose();
      }
    }
  }
  for (let i = 0; i < mutations.length; i++) {
    const m = mutations[i]!;
    const src = outs[m.output]!;
    const dst = 'input' in m.target ? inputs[m.target.input]! : m.target.state;
    if (src.storage === dst.storage) continue;
    if (src.backend === dst.backend && src.dtype === dst.dtype && src.size === dst.size) dst.backend.copy(src.storage, dst.storage);
    else copyInto(dst, src);
  }
  const result = buildOutputs(trace.outputs, outs, inputs);
  // Outputs the returned value does not hold (mutations' values, results returned as the very input or state): freed.
  for (let i = 0; i < outs.length; i++) if (!handsOutput(trace.outputs, i)) outs[i]!.dispose();
  if (into) plan.runner.returnOutputs(into);
  return result;
}

/** Whether graph input `i` is caller's input `i` for every `i`, each on `backend` already. */
function feedsAreInputs(feeds: Trace['feeds'], inputs: readonly Tensor[], backend: ExecutionPlan['backend']): boolean {
  if (feeds.length !== inputs.length) return false;
  for (let i = 0; i < feeds.length; i++) {
    const f = feeds[i]!;
    if (f.kind !== 'input' || f.index !== i || inputs[i]!.backend !== backend) return false;
  }
  return true;
}

function anyRequiresGrad(xs: readonly Tensor[]): boolean {
  for (let i = 0; i < xs.length; i++) if (xs[i]!.requiresGrad) return true;
  return false;
}

/** The graph's inputs: the caller's, state read live, fresh random keys; those made for this run (moved, keys) are pushed onto `temps`. */
function feedTensors(feeds: Trace['feeds'], inputs: readonly Tensor[], backend: ExecutionPlan['backend'], bindings: Bindings, temps: Tensor[]): Tensor[] {
  return feeds.map((f): Tensor => {
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
}

/** `dst.copy_(src)` outside the tape (a mutation written back across backends or dtypes). */
function copyInto(dst: Tensor, src: Tensor): void {
  noGrad(() => dst.copy_(src));
}
