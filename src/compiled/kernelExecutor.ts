// Running a plan's kernels: the interpreter loop over the plan's schedule, each step a
// direct kernel call on slots (no Tensor objects, no autograd). Intermediates live in one
// arena laid out by the binding's memory plan (on backends that have arenas): each
// kernel gets views at its outputs' offsets as caller-given outputs, graph outputs are
// fresh storages (they outlive the run). Everything a run needs is resolved once per
// binding (`StepTable`), so a run after warm-up allocates nothing in JS but its results.
// An `If` (kiln.cond) is run by the loop itself: it reads the condition (`readScalar`)
// and runs the taken branch's steps from the same table; branch values are fresh
// storages (not in the arena), freed after their last use like the others.
import { describeNode, getOp, KilnError, ScheduleRunner, type Attrs, type Bindings, type Executor, type ScheduleStep, type TensorType, type TypedArray } from '../ir/index.js';
import type { Arena, Backend, Kernel, KernelInput, Storage } from '../runtime/backend.js';
import { kernelOf } from '../eager/decomposition.js';
import { Tensor } from '../eager/tensor.js';
import type { ExecutionPlan, FoldedConstant, PlanConstant, Resolved, Slot } from './executionPlan.js';

/** A slot whose storage is a view into the plan's arena: never freed by the run. */
interface ArenaSlot extends Slot {
  readonly inArena: true;
}

/** One kernel step under one binding, resolved once. */
interface StepEntry {
  readonly op: string;
  /** null: an alias op (reshape), whose output shares input 0's storage. */
  readonly kernel: Kernel | null;
  readonly attrs: Attrs;
  readonly types: readonly TensorType[];
  /** The kernel's inputs, filled from the slots for each call and emptied after it. */
  readonly ins: (KernelInput | undefined)[];
  /** By output: the arena slot it is written to, or undefined for a fresh storage. */
  readonly arena: readonly (ArenaSlot | undefined)[];
  /** The arena views handed to the kernel as `outs`, or undefined when it has none. */
  readonly given: readonly (Storage | undefined)[] | undefined;
}

/** Every op step of one binding (by `ScheduleStep.index`, `If` branches' included), with the arena views its memory plan lays out. */
interface StepTable {
  readonly steps: readonly (StepEntry | undefined)[];
  /** The views made for this table (let go of when it is dropped). */
  readonly views: readonly Storage[];
  /** The interpreter's executor on these steps. */
  readonly executor: KernelSteps;
  /** The interpreter loop on `executor`, made on the first run (the symbols' values are this table's binding). */
  loop: ScheduleRunner<Slot> | null;
}

/**
 * A plan's run state on its backend: the arena (one block, sized for the largest binding
 * run so far, so bindings share it), each binding's step table, the folded constants'
 * current values, and counters of kernels that ignored their caller-given outputs.
 */
export class PlanRunner {
  private arena: Arena | null = null;
  private readonly tables = new Map<string, StepTable>();
  /** The slots of a run, reused (a nested run of the same plan gets its own). */
  private slots: (Slot | undefined)[] | null = null;
  /** The outputs array of `takeOutputs`, reused. */
  private outputs: Tensor[] | null = null;
  /** Per constant: a number that changes whenever its values may have (see `constantSlots`). */
  private readonly stamps: number[];
  /** Per live constant: the tensor id and version last seen. */
  private readonly liveIds: number[];
  private readonly liveVersions: number[];
  /** Per folded constant: its value and its sources' stamps when it was computed. */
  private readonly folded: ({ slot: Slot; from: number[] } | undefined)[];
  private stampCounter = 0;
  /** By op: how many outputs a kernel returned elsewhere than its caller-given output (copied over). */
  readonly outsIgnored = new Map<string, number>();

  constructor(private readonly plan: ExecutionPlan) {
    const n = plan.constants.length;
    this.stamps = new Array<number>(n).fill(0);
    this.liveIds = new Array<number>(n).fill(-1);
    this.liveVersions = new Array<number>(n).fill(-1);
    this.folded = new Array(n).fill(undefined);
  }

  /** Bytes of the arena held now (0 before the first run, or on a backend without arenas). */
  get arenaBytes(): number {
    return this.arena?.bytes ?? 0;
  }

  /** Whether this backend runs plans into an arena. */
  private get arenas(): boolean {
    const b = this.plan.backend;
    return b.allocArena !== undefined && b.arenaView !== undefined;
  }

  /** The step table of `r`, made (and the arena grown) on first use. */
  table(r: Resolved): StepTable {
    return this.tables.get(r.key) ?? this.makeTable(r);
  }

  /** `table`'s miss (its own function: closures here would make every lookup allocate their context). */
  private makeTable(r: Resolved): StepTable {
    const backend = this.plan.backend;
    let arena: Arena | null = null;
    if (this.arenas && r.memory.arenaBytes > 0) {
      if (!this.arena || this.arena.bytes < r.memory.arenaBytes) {
        // The arena only grows: the other bindings' views point into the old one.
        this.dropArena();
        this.arena = backend.allocArena!(r.memory.arenaBytes);
      }
      arena = this.arena;
    }
    const s = this.plan.schedule;
    const views: Storage[] = [];
    const arenaSlots = new Array<ArenaSlot | undefined>(s.slotCount);
    if (arena) {
      // One view per block of the memory plan: its values, their reshapes and in-place results share it.
      const typeOf = new Array<TensorType | undefined>(s.slotCount);
      for (const st of s.main.steps) st.outputs.forEach((slot, k) => { typeOf[slot] = r.types[st.index]![k]; });
      for (const block of r.memory.blocks) {
        const first = typeOf[block.slots[0]!]!;
        const view = backend.arenaView!(arena, block.offset, first.dtype, sizeOfShape(first.shape));
        views.push(view);
        for (const slot of block.slots) {
          const type = typeOf[slot]!;
          arenaSlots[slot] = { storage: view, shape: type.shape, dtype: type.dtype, inArena: true };
        }
      }
    }
    const steps = new Array<StepEntry | undefined>(s.stepCount).fill(undefined);
    // Op steps of the whole schedule, `If` branches' included (the loop runs the If itself).
    for (const st of this.plan.allSteps) {
      const ps = this.plan.steps[st.index];
      if (!ps) continue;
      const arenaOuts = st.outputs.map((slot) => arenaSlots[slot]);
      steps[st.index] = {
        op: st.node.op,
        kernel: ps.kernel,
        attrs: r.attrs[st.index]!,
        types: r.types[st.index]!,
        ins: new Array<KernelInput | undefined>(st.inputs.length).fill(undefined),
        arena: arenaOuts,
        given: arenaOuts.some((a) => a !== undefined) ? arenaOuts.map((a) => a?.storage) : undefined,
      };
    }
    const table: StepTable = { steps, views, executor: new KernelSteps(this.plan, steps), loop: null };
    this.tables.set(r.key, table);
    return table;
  }

  /** Drops binding `key`'s table (the plan no longer holds its resolution). */
  forget(key: string): void {
    const t = this.tables.get(key);
    if (!t) return;
    this.tables.delete(key);
    for (const v of t.views) this.plan.backend.freeArenaView?.(v);
  }

  private dropArena(): void {
    for (const key of [...this.tables.keys()]) this.forget(key);
    if (this.arena) this.plan.backend.freeArena?.(this.arena);
    this.arena = null;
  }

  /** Counts a kernel that wrote output elsewhere than its caller-given storage. */
  noteIgnored(op: string): void {
    this.outsIgnored.set(op, (this.outsIgnored.get(op) ?? 0) + 1);
  }

  /** The slots array for one run (the reused one unless a run of this plan is in progress). */
  takeSlots(count: number): (Slot | undefined)[] {
    const s = this.slots;
    if (s) {
      this.slots = null;
      return s;
    }
    return new Array<Slot | undefined>(count).fill(undefined);
  }

  /** Gives a run's slots back, emptied (so they keep no tensor alive). */
  returnSlots(s: (Slot | undefined)[]): void {
    s.fill(undefined);
    this.slots = s;
  }

  /**
   * An array for a run's outputs that the caller consumes before the next run (a compiled
   * call rebuilds its returned value from it): the reused one unless it is taken.
   */
  takeOutputs(): Tensor[] {
    const o = this.outputs;
    if (o) {
      this.outputs = null;
      return o;
    }
    return new Array<Tensor>(this.plan.schedule.main.outputs.length);
  }

  /** Gives the outputs array back, emptied. */
  returnOutputs(o: Tensor[]): void {
    o.fill(undefined as unknown as Tensor);
    this.outputs = o;
  }

  /**
   * Puts every constant's slot into `slots`: uploaded ones, live tensors (read now), and
   * folded ones, recomputed when a source changed since they were computed (each
   * constant's stamp changes when its values may have: a live tensor's id or version,
   * a folded constant's recomputation). Returns the storages copied from another
   * backend for this run (null: none), which the caller frees after it.
   */
  constantSlots(slots: (Slot | undefined)[]): Storage[] | null {
    const plan = this.plan, backend = plan.backend, constants = plan.constants;
    let temps: Storage[] | null = null;
    for (let i = 0; i < constants.length; i++) {
      const c = constants[i]!;
      if (c.owned) {
        slots[c.slot] = c.owned;
      } else if (c.folded) {
        const f = c.folded;
        let held = this.folded[i];
        let same = held !== undefined;
        for (let j = 0; same && j < f.inputs.length; j++) same = held!.from[j] === this.stamps[f.inputs[j]!];
        if (!same) held = this.refold(i, slots);
        slots[c.slot] = held!.slot;
      } else {
        const t = plan.liveTensor(c);
        if (t.id !== this.liveIds[i] || t.version !== this.liveVersions[i]) {
          this.liveIds[i] = t.id;
          this.liveVersions[i] = t.version;
          this.stamps[i] = ++this.stampCounter;
        }
        if (t.backend === backend) {
          slots[c.slot] = t;
        } else {
          // A live constant on another backend is copied over for this run.
          const storage = backend.alloc(t.dtype, t.size);
          backend.write(storage, t.backend.read(t.storage));
          (temps ??= []).push(storage);
          slots[c.slot] = { storage, shape: t.shape, dtype: t.dtype };
        }
      }
    }
    return temps;
  }

  /** Recomputes folded constant `i` from its sources' slots (its own function: the closures here would allocate their context at every `constantSlots`). */
  private refold(i: number, slots: readonly (Slot | undefined)[]): { slot: Slot; from: number[] } {
    const plan = this.plan, constants = plan.constants, c = constants[i]!, f = c.folded!;
    const slot = computeFolded(plan, c, f, f.inputs.map((j) => slots[constants[j]!.slot]!));
    const held = this.folded[i];
    if (held && --held.slot.storage.refs === 0) plan.backend.free(held.slot.storage);
    const now = { slot, from: f.inputs.map((j) => this.stamps[j]!) };
    this.folded[i] = now;
    this.stamps[i] = ++this.stampCounter;
    return now;
  }

  /** Frees the folded constants' values, the step tables' views and the arena. */
  dispose(): void {
    for (let i = 0; i < this.folded.length; i++) {
      const held = this.folded[i];
      if (held && --held.slot.storage.refs === 0) this.plan.backend.free(held.slot.storage);
      this.folded[i] = undefined;
    }
    this.dropArena();
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

/** The interpreter's executor on a plan's kernels under one binding's step table. */
class KernelSteps implements Executor<Slot> {
  constructor(private readonly plan: ExecutionPlan, private readonly steps: readonly (StepEntry | undefined)[]) {}

  runStep(st: ScheduleStep, slots: (Slot | undefined)[]): void {
    const e = this.steps[st.index]!;
    const outSlots = st.outputs;
    if (e.kernel === null) {
      const a = e.arena[0];
      if (a) {
        slots[outSlots[0]!] = a;
      } else {
        const src = slots[st.inputs[0]!]!;
        src.storage.refs++;
        slots[outSlots[0]!] = { storage: src.storage, shape: e.types[0]!.shape, dtype: e.types[0]!.dtype };
      }
      return;
    }
    const ins = e.ins, inSlots = st.inputs, given = e.given;
    for (let i = 0; i < ins.length; i++) ins[i] = slots[inSlots[i]!];
    // Each run rewrites the views: caches keyed by a storage and its version see that.
    if (given) for (let k = 0; k < given.length; k++) if (given[k]) given[k]!.version++;
    let res: Storage[];
    try {
      res = e.kernel(ins as KernelInput[], e.attrs, e.types, given);
    } catch (err) {
      if (err instanceof KilnError && !err.callSite) throw new KilnError(`${err.message} (in ${describeNode(st.node)})`, { op: st.node.op, callSite: st.node.source });
      throw err;
    } finally {
      for (let i = 0; i < ins.length; i++) ins[i] = undefined;
    }
    for (let k = 0; k < outSlots.length; k++) {
      const a = e.arena[k];
      const out = res[k]!;
      if (a) {
        if (out !== a.storage) {
          // Slow path: the kernel ignored its caller-given output.
          const backend = this.plan.backend;
          backend.copy(out, a.storage);
          if (--out.refs === 0) backend.free(out);
          this.plan.runner.noteIgnored(e.op);
        }
        slots[outSlots[k]!] = a;
      } else {
        slots[outSlots[k]!] = { storage: out, shape: e.types[k]!.shape, dtype: e.types[k]!.dtype };
      }
    }
  }

  release(sl: Slot): void {
    if ((sl as Partial<ArenaSlot>).inArena) return;
    if (--sl.storage.refs === 0) this.plan.backend.free(sl.storage);
  }

  share(sl: Slot): Slot {
    sl.storage.refs++;
    return sl;
  }

  /** An op by name on this backend's kernels (the loop's reference path: only `Loop`s, which plans refuse, call it). */
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

  /** An `If`'s condition, read on the host (plans on backends that read only asynchronously hold no `If`). */
  readScalar(sl: Slot): number {
    return Number(this.plan.backend.read(sl.storage)[0]);
  }
}

function sizeOfShape(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Runs `plan`'s kernels on input slots (one per graph input, on the plan's backend).
 * Each returned slot carries one reference to its storage, owned by the caller. They are
 * returned in `into` when given (an array of the graph's output count), else in a new array.
 *
 * @example
 * ```ts
 * const outs = runPlanSlots(plan, [x], new Map([['batch', 8]]));
 * ```
 */
export function runPlanSlots(plan: ExecutionPlan, inputs: readonly Slot[], bindings: Bindings, into: Slot[] | null = null): Slot[] {
  const r = plan.resolve(bindings);
  const runner = plan.runner;
  const table = runner.table(r);
  const s = plan.schedule;
  const backend = plan.backend;
  const slots = runner.takeSlots(s.slotCount);
  for (let i = 0; i < inputs.length; i++) slots[s.main.inputs[i]!] = inputs[i];
  let temps: Storage[] | null = null;
  try {
    temps = runner.constantSlots(slots);
    const loop = table.loop ?? (table.loop = new ScheduleRunner(s, table.executor, { bindings: new Map(bindings) }));
    return loop.run(slots, into);
  } finally {
    if (temps) for (const t of temps) if (--t.refs === 0) backend.free(t);
    runner.returnSlots(slots);
    backend.flush?.(); // a GPU backend submits the whole run at once
  }
}

/**
 * Runs `plan`'s kernels on tensors (alive, on the plan's backend); returns the graph
 * outputs as fresh tensors (in `into` when given: see `PlanRunner.takeOutputs`).
 *
 * @example
 * ```ts
 * const [y] = runPlan(plan, [x], new Map([['batch', x.shape[0]!]]));
 * ```
 */
export function runPlan(plan: ExecutionPlan, inputs: readonly Tensor[], bindings: Bindings, into: Tensor[] | null = null): Tensor[] {
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i]!;
    if (x.disposed) throw new KilnError('compile: an input was disposed', { op: 'compile' });
    if (x.backend !== plan.backend) throw new KilnError(`compile: an input lives on the '${x.backend.name}' backend, the plan runs on '${plan.backend.name}'`, { op: 'compile' });
  }
  const outs = runPlanSlots(plan, inputs, bindings, into as unknown as Slot[] | null) as unknown as Tensor[];
  for (let k = 0; k < outs.length; k++) {
    const sl = outs[k] as unknown as Slot;
    outs[k] = new Tensor(sl.storage, sl.shape, sl.dtype, plan.backend);
  }
  return outs;
}
