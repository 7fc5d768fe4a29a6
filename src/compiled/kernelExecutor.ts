// Running a plan's kernels: the interpreter loop over the plan's schedule, each node a
// direct kernel call on slots (no Tensor objects, no autograd), storages reference-
// counted and freed right after their last use.
import { describeNode, getOp, KilnError, runSchedule, type Attrs, type Bindings, type Executor, type ScheduleStep, type TensorType, type TypedArray } from '../ir/index.js';
import type { Backend, Storage } from '../runtime/backend.js';
import { kernelOf } from '../eager/decomposition.js';
import { Tensor } from '../eager/tensor.js';
import type { ExecutionPlan, FoldedConstant, PlanConstant, Resolved, Slot } from './executionPlan.js';

/**
 * The current values of a plan's folded constants (see `FoldedConstant`), each with the
 * key of the source values it was computed from. Holds one reference to each storage.
 */
export class FoldCache {
  private values = new Map<number, { key: string; slot: Slot }>();

  constructor(private readonly backend: Backend) {}

  /** Folded constant `i`'s value if it was computed from sources with `key`. */
  get(i: number, key: string): Slot | undefined {
    const v = this.values.get(i);
    return v && v.key === key ? v.slot : undefined;
  }

  /** Keeps `slot` (taking over its reference) as constant `i`'s value for `key`, freeing the one before. */
  set(i: number, key: string, slot: Slot): void {
    const old = this.values.get(i);
    if (old && --old.slot.storage.refs === 0) this.backend.free(old.slot.storage);
    this.values.set(i, { key, slot });
  }

  clear(): void {
    for (const { slot } of this.values.values()) if (--slot.storage.refs === 0) this.backend.free(slot.storage);
    this.values = new Map();
  }
}

/** Computes folded constant `c` from its sources' slots; the result carries one reference. */
function computeFolded(plan: ExecutionPlan, c: PlanConstant, f: FoldedConstant, ins: readonly Slot[]): Slot {
  const type = f.types[f.index]!;
  if (f.kernel === null) {
    ins[0]!.storage.refs++;
    return { storage: ins[0]!.storage, shape: type.shape, dtype: type.dtype };
  }
  let storages: Storage[];
  try {
    storages = f.kernel(ins, f.attrs, f.types);
  } catch (e) {
    if (e instanceof KilnError && !e.callSite) throw new KilnError(`${e.message} (computing folded constant %${c.name})`, { op: f.def.name });
    throw e;
  }
  storages.forEach((st, k) => { if (k !== f.index && --st.refs === 0) plan.backend.free(st); });
  return { storage: storages[f.index]!, shape: type.shape, dtype: type.dtype };
}

/** The interpreter's executor on a plan's kernels. */
class KernelNodes implements Executor<Slot> {
  constructor(private readonly plan: ExecutionPlan, private readonly r: Resolved) {}

  runNode(st: ScheduleStep, ins: readonly Slot[]): Slot[] {
    const i = st.index;
    const ps = this.plan.steps[i]!;
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
  // What each constant's values come from: folded ones are recomputed when it changes.
  const keys = new Array<string>(plan.constants.length);
  try {
    plan.constants.forEach((c, i) => {
      let sl = c.owned;
      let key = '';
      if (c.folded) {
        key = c.folded.inputs.map((j) => keys[j]).join(',');
        sl = plan.folds.get(i, key) ?? null;
        if (!sl) {
          sl = computeFolded(plan, c, c.folded, c.folded.inputs.map((j) => slots[plan.constants[j]!.slot]!));
          plan.folds.set(i, key, sl);
        }
        key = `(${key})`;
      } else if (!sl) {
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
        key = `${t.id}.${t.version}`;
      }
      keys[i] = key;
      slots[c.slot] = sl;
    });
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
