// Running a plan's kernels: the interpreter loop over the plan's schedule, each node a
// direct kernel call on slots (no Tensor objects, no autograd), storages reference-
// counted and freed right after their last use.
import { describeNode, getOp, KilnError, runSchedule, type Attrs, type Bindings, type Executor, type ScheduleStep, type TensorType, type TypedArray } from '../ir/index.js';
import type { Backend, Storage } from '../runtime/backend.js';
import { kernelOf } from '../eager/decomposition.js';
import { Tensor } from '../eager/tensor.js';
import type { ExecutionPlan, Resolved, Slot } from './executionPlan.js';

/**
 * The results of a plan's constant-only steps, reused while the constants' versions
 * (and the binding) stay the same. Holds one reference to each storage.
 */
export class FoldCache {
  private folded = new Map<number, Slot[]>();
  private key = '';

  constructor(private readonly backend: Backend) {}

  /** Drops what was computed under another key. */
  validate(key: string): void {
    if (key !== this.key) this.clear(key);
  }

  get(step: number): Slot[] | undefined {
    return this.folded.get(step);
  }

  /** Keeps `outs` (taking a reference to each). */
  set(step: number, outs: Slot[]): void {
    for (const sl of outs) sl.storage.refs++;
    this.folded.set(step, outs);
  }

  clear(key: string): void {
    for (const outs of this.folded.values()) for (const sl of outs) if (--sl.storage.refs === 0) this.backend.free(sl.storage);
    this.folded = new Map();
    this.key = key;
  }
}

/** The interpreter's executor on a plan's kernels. */
class KernelNodes implements Executor<Slot> {
  constructor(private readonly plan: ExecutionPlan, private readonly r: Resolved) {}

  runNode(st: ScheduleStep, ins: readonly Slot[]): Slot[] {
    const i = st.index;
    const ps = this.plan.steps[i]!;
    if (ps.foldable) {
      const cached = this.plan.folds.get(i);
      if (cached) {
        for (const sl of cached) sl.storage.refs++;
        return cached;
      }
    }
    const types = this.r.types[i]!;
    let outs: Slot[];
    if (ps.kernel === null) {
      const src = ins[0]!;
      src.storage.refs++;
      outs = [{ storage: src.storage, shape: types[0]!.shape, dtype: types[0]!.dtype }];
    } else {
      let storages: Storage[];
      try {
        storages = ps.kernel(ins, this.r.attrs[i]!, types);
      } catch (e) {
        if (e instanceof KilnError && !e.callSite) throw new KilnError(`${e.message} (in ${describeNode(st.node)})`, { op: st.node.op, callSite: st.node.source });
        throw e;
      }
      outs = storages.map((storage, k) => ({ storage, shape: types[k]!.shape, dtype: types[k]!.dtype }));
    }
    if (ps.foldable) this.plan.folds.set(i, outs);
    return outs;
  }

  release(sl: Slot): void {
    if (--sl.storage.refs === 0) this.plan.backend.free(sl.storage);
  }

  share(sl: Slot): Slot {
    sl.storage.refs++;
    return sl;
  }

  /** An op by name on this backend's kernels (the loop's reference path; plans hold no control flow). */
  exec(op: string, inputs: readonly Slot[], attrs: Attrs): Slot[] {
    const def = getOp(op);
    const kernel = def && kernelOf(def, this.plan.backend);
    if (!def || !kernel) throw new KilnError(`no kernel for '${op}' on the '${this.plan.backend.name}' backend`, { op });
    const types = def.infer(inputs, attrs);
    return kernel(inputs, attrs, types).map((storage, k) => ({ storage, shape: types[k]!.shape, dtype: types[k]!.dtype }));
  }

  constant(_name: string, data: TypedArray, type: TensorType): Slot {
    const storage = this.plan.backend.alloc(type.dtype, data.length);
    this.plan.backend.write(storage, data);
    return { storage, shape: type.shape, dtype: type.dtype };
  }

  readScalar(sl: Slot): number {
    return Number(this.plan.backend.read(sl.storage)[0]);
  }
}

/**
 * Runs `plan`'s kernels on input slots (one per graph input, on the plan's backend).
 * Each returned slot carries one reference to its storage, owned by the caller.
 *
 * @example
 * ```ts
 * const outs = runPlanSlots(plan, [x], new Map([['batch', 8]]));
 * ```
 */
export function runPlanSlots(plan: ExecutionPlan, inputs: readonly Slot[], bindings: Bindings): Slot[] {
  const r = plan.resolve(bindings);
  const s = plan.schedule;
  const backend = plan.backend;
  const slots = new Array<Slot | undefined>(s.slotCount);
  for (let i = 0; i < inputs.length; i++) slots[s.main.inputs[i]!] = inputs[i];
  const temps: Storage[] = [];
  let foldKey = r.key + '|';
  try {
    for (const c of plan.constants) {
      let sl = c.owned;
      if (!sl) {
        const t = plan.liveTensor(c);
        if (t.backend === backend) {
          sl = t;
        } else {
          // A live constant on another backend is copied over for this run.
          const storage = backend.alloc(t.dtype, t.size);
          backend.write(storage, t.backend.read(t.storage));
          temps.push(storage);
          sl = { storage, shape: t.shape, dtype: t.dtype };
        }
        foldKey += `${t.storage === sl.storage ? '' : 'x'}${t.version}`;
      }
      foldKey += ',';
      slots[c.slot] = sl;
    }
    plan.folds.validate(foldKey);
    return runSchedule(s, new KernelNodes(plan, r), slots, { bindings });
  } finally {
    for (const t of temps) if (--t.refs === 0) backend.free(t);
  }
}

/**
 * Runs `plan`'s kernels on tensors (alive, on the plan's backend); returns the graph
 * outputs as fresh tensors.
 *
 * @example
 * ```ts
 * const [y] = runPlan(plan, [x], new Map([['batch', x.shape[0]!]]));
 * ```
 */
export function runPlan(plan: ExecutionPlan, inputs: readonly Tensor[], bindings: Bindings): Tensor[] {
  for (const x of inputs) {
    if (x.disposed) throw new KilnError('compile: an input was disposed', { op: 'compile' });
    if (x.backend !== plan.backend) throw new KilnError(`compile: an input lives on the '${x.backend.name}' backend, the plan runs on '${plan.backend.name}'`, { op: 'compile' });
  }
  return runPlanSlots(plan, inputs, bindings).map((sl) => new Tensor(sl.storage, sl.shape, sl.dtype, plan.backend));
}
