// The plan of a graph on one backend: its schedule (numbered slots, steps, what to free
// after each step; see ir/schedule.ts), each step's kernel resolved, the constants'
// slots (uploaded, read live, or folded: recomputed from live ones when they change),
// and per binding of the symbols the attributes and types every kernel is called
// with, and the memory plan there (an arena offset per intermediate, ir/memoryPlan.ts).
// Executors run it through the interpreter loop: kernelExecutor.ts (kernels on slots)
// and eagerExecutor.ts (eager dispatch recording the autograd tape). Other backends
// plug in here. `If` nodes (kiln.cond) are steps too: their branches' steps are resolved
// with the rest (one step table over the whole schedule), and the loop runs the taken one.
import {
  concreteAttrs, concreteType, describeNode, formatBindings, formatShape, getOp, IF_OP, inferNode, KilnError, nestedSteps, planMemory, schedule, sizeOf, typesEqual,
  type Attrs, type Bindings, type DType, type Graph, type MemoryPlan, type Node, type OpDef, type Schedule, type ScheduleBlock, type ScheduleStep, type TensorType,
} from '../ir/index.js';
import { writesInPlace } from '../passes/opTraits.js';
import type { Backend, Kernel, KernelInput, Storage } from '../runtime/backend.js';
import { kernelOf } from '../eager/decomposition.js';
import { Tensor } from '../eager/tensor.js';
import { PlanRunner, runPlan, runPlanSlots } from './kernelExecutor.js';
import { runPlanEager } from './eagerExecutor.js';

/** A value while a plan runs: a kernel input (storage, shape, dtype). */
export interface Slot extends KernelInput {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** What the plan knows of one op step of its schedule (by `ScheduleStep.index`; an `If` step has none). */
export interface PlanStep {
  readonly def: OpDef;
  /** null: an alias op (reshape), whose output shares input 0's storage. */
  readonly kernel: Kernel | null;
}

/**
 * A constant the constant-folding pass computed from others that may change (a
 * parameter read live; see `FoldRecipe`): output `index` of `def` on plan constants
 * `inputs`. Executors recompute it when one of those changed since the last run.
 */
export interface FoldedConstant {
  readonly def: OpDef;
  /** null: an alias op (reshape), whose output shares input 0's storage. */
  readonly kernel: Kernel | null;
  /** Indices into `ExecutionPlan.constants` (always earlier ones). */
  readonly inputs: readonly number[];
  readonly attrs: Attrs;
  readonly index: number;
  /** All of the op's output types (static: constants have static shapes). */
  readonly types: readonly TensorType[];
}

/** Attributes and output types of every step under one binding of the symbols, and the memory plan there. */
export interface Resolved {
  /** The binding, as `name=value` pairs sorted by name ('' for a plan without symbols). */
  readonly key: string;
  readonly attrs: readonly Attrs[];
  readonly types: readonly (readonly TensorType[])[];
  /**
   * Where every intermediate lives in one arena at these sizes (see `MemoryPlan`):
   * `memory.offsets[slot]` is a byte offset (-1 for inputs, constants, outputs),
   * `memory.arenaBytes` the arena's size. Reshape results and in-place results
   * (`memory.inPlace`, at O3) share their source's offset. Kernel runs (`run`/`runSlots`)
   * run into it; an eager run recording the tape (`runEager`, training) keeps what
   * backward reads alive past its last forward use, so it cannot use the arena.
   */
  readonly memory: MemoryPlan;
}

/** How a plan is built beyond its graph. */
export interface PlanOptions {
  /**
   * Let elementwise ops write into an input that dies at their step (`IN_PLACE_OPS`)
   * in the memory plan (default false; `lower` turns it on at O3).
   */
  readonly inPlace?: boolean;
}

export interface PlanConstant {
  readonly slot: number;
  readonly name: string;
  readonly type: TensorType;
  /** A live tensor (parameter in inference mode), read at every run. */
  readonly tensor: Tensor | null;
  /** Or values uploaded once, owned by the plan. */
  readonly owned: Slot | null;
  /** Or computed from other constants at run time. */
  readonly folded: FoldedConstant | null;
}

function bindingKey(bindings: Bindings): string {
  return [...bindings].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',');
}

/** Whether `node`'s op's exact symbolic rule gives its declared output types. */
function provenTypes(node: Node): boolean {
  try {
    const inferred = inferNode(node.op, node.inputs.map((v) => v.type), node.attrs);
    return inferred.length === node.outputs.length && inferred.every((t, k) => typesEqual(t, node.outputs[k]!.type));
  } catch {
    return false; // not affine, or rejected: each binding is checked instead
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * An executable form of a graph on one backend: the nodes in order as direct kernel
 * calls (no Tensor objects, no autograd) on numbered slots; reshape-like ops share
 * storage; each intermediate is freed as soon as its last consumer ran. Symbolic dims
 * are substituted per binding, and each new binding is checked against every op's
 * shape inference first, so a plan never runs at a size it does not hold for.
 *
 * The plan is data; `run`/`runSlots` execute its kernels (kernelExecutor.ts) and
 * `runEager` runs the same nodes through eager dispatch, recording the autograd tape
 * (compiled training: backward stays eager; eagerExecutor.ts).
 *
 * Control flow: an `If` node (what `kiln.cond` traces) runs in both: the interpreter
 * loop reads its condition on the host (`Executor.readScalar`) and runs the taken
 * branch's steps, which the plan resolved with the others (their kernels, and per binding
 * their attributes and types, by `ScheduleStep.index`). Branch values get fresh storages
 * (the arena holds the main graph's values), freed after their last use; the branch's
 * results become the If's outputs. A value of the main graph a branch returns as such
 * stays out of the arena too (it outlives its last use there). Backends that read only
 * asynchronously (webgpu) cannot choose a branch during a run: a plan with an `If` is
 * refused there, as is any `Loop` (the IR interpreter runs both).
 *
 * Memory planning: each binding's `Resolved.memory` (see `memoryPlans()`) gives every
 * intermediate a byte offset in one arena, sized from liveness over the schedule. On a
 * backend with arenas (`Backend.allocArena`: wasm, reference), `run`/`runSlots` run into
 * it (kernelExecutor.ts): one arena per plan, sized for the largest binding run so far
 * (`arenaBytes`), one view per memory block handed to the kernels as caller-given
 * outputs (`Kernel`'s `outs`; in-place results at O3 get their dying input's view);
 * graph outputs are fresh storages (they outlive the run). A kernel that ignores `outs`
 * is copied over and counted (`outsIgnored`). Everything a run needs is resolved once per
 * binding, so repeated runs allocate nothing in JS but their results. Constants never
 * live in the arena; a view's version is bumped before each write, and its tensor id is
 * re-registered when read after one (XNNPACK caches packings by id). Kernel scratch
 * stays outside (the kernels' own). `runEager` never uses the arena (the tape keeps
 * saved values alive past their last forward use).
 *
 * @example
 * ```ts
 * const plan = new ExecutionPlan(graph, kiln.getBackend('wasm'), new Map());
 * const [y] = plan.run([x], new Map([['batch', x.shape[0]]]));
 * ```
 */
export class ExecutionPlan {
  readonly schedule: Schedule;
  /** Every step of the schedule, `If` branches' included, in `ScheduleStep.index` order. */
  readonly allSteps: readonly ScheduleStep[];
  /** By `ScheduleStep.index` (undefined at an `If`: the interpreter loop runs it). */
  readonly steps: readonly (PlanStep | undefined)[];
  readonly constants: readonly PlanConstant[] = [];
  /** The kernel executor's state: arena, step tables per binding, folded constants' values. */
  readonly runner: PlanRunner;
  private readonly symbolic: boolean;
  /** Resolutions of the last few bindings, by `bindingKey`. */
  private readonly resolutions = new Map<string, Resolved>();
  /**
   * By step index: symbolic inference (an op's exact rule, `inferDims`) gives the step's
   * declared types for every binding, so a binding needs no inference there, only sizes.
   */
  private readonly proven: readonly boolean[];
  /** Whether memory plans reuse dying inputs in place (O3). */
  readonly inPlace: boolean;
  private eagerConstants: (Tensor | null)[] | null = null;
  /** The resolution looked up last, with its symbols' values (see `lastResolved`). */
  private last: { key: string; resolved: Resolved; names: readonly string[]; values: readonly number[] } | null = null;
  private isDisposed = false;

  constructor(readonly graph: Graph, readonly backend: Backend, live: ReadonlyMap<string, Tensor>, options: PlanOptions = {}) {
    this.inPlace = options.inPlace ?? false;
    const s = schedule(graph);
    this.schedule = s;
    const all = nestedSteps(s.main);
    this.allSteps = all;
    for (const { node } of all) {
      if (node.subgraphs.length && node.op !== IF_OP) throw new KilnError(`compile: the execution plan cannot run ${node.op} nodes yet (${describeNode(node)}); the IR interpreter can`, { op: 'compile', callSite: node.source });
      if (node.op === IF_OP && backend.readsAsyncOnly) {
        throw new KilnError(`compile: a plan on the '${backend.name}' backend cannot run ${describeNode(node)} (kiln.cond): choosing the branch reads the condition during the run, and ${backend.name} reads only asynchronously. Compile for 'wasm', or compute both values and select with kiln.where`, { op: 'compile', callSite: node.source });
      }
    }
    // Every input defined before its use (lower() verifies; a plan built directly may not be).
    const checkDefined = (b: ScheduleBlock, defined: Set<number>): void => {
      for (const slot of b.inputs) defined.add(slot);
      for (const step of b.steps) {
        step.inputs.forEach((slot, k) => {
          if (!defined.has(slot)) throw new KilnError(`compile: ${describeNode(step.node)} uses %${step.node.inputs[k]!.name} before it is defined`, { op: 'compile', callSite: step.node.source });
        });
        for (const sub of step.blocks) checkDefined(sub, new Set(defined)); // a branch sees what is defined before its node
        for (const o of step.outputs) defined.add(o);
      }
      for (const slot of b.outputs) {
        if (!defined.has(slot)) throw new KilnError(`compile: ${b === s.main ? 'graph' : 'branch'} output %${s.values[slot]!.name} is not defined`, { op: 'compile' });
      }
    };
    checkDefined(s.main, new Set<number>(s.constants.keys()));
    const constants: PlanConstant[] = [];
    const indexOf = new Map<string, number>();
    for (const [slot, c] of s.constants) {
      const name = c.value.name;
      const tensor = live.get(name) ?? null;
      const shape = c.value.type.shape;
      if (shape.some((d) => typeof d !== 'number')) throw new KilnError(`compile: constant %${name} has a symbolic shape`, { op: 'compile' });
      let owned: Slot | null = null;
      let folded: FoldedConstant | null = null;
      if (c.folded && !tensor) {
        const f = c.folded;
        const def = getOp(f.op);
        if (!def) throw new KilnError(`compile: unknown op '${f.op}' in the recipe of folded constant %${name}`, { op: 'compile' });
        const kernel = def.alias ? null : (kernelOf(def, backend) ?? null);
        if (!def.alias && !kernel) throw new KilnError(`compile: no kernel for '${f.op}' (folded constant %${name}) on the '${backend.name}' backend`, { op: f.op });
        const inputs = f.inputs.map((v) => {
          const j = indexOf.get(v.name);
          if (j === undefined) throw new KilnError(`compile: folded constant %${name} reads %${v.name}, which is not a constant declared before it`, { op: 'compile' });
          return j;
        });
        const attrs = concreteAttrs(f.attrs, new Map());
        folded = { def, kernel, inputs, attrs, index: f.index, types: def.infer(inputs.map((j) => constants[j]!.type), attrs) };
      } else if (!tensor) {
        const storage = backend.alloc(c.value.type.dtype, sizeOf(shape as number[]));
        backend.write(storage, c.data);
        owned = { storage, shape: shape as number[], dtype: c.value.type.dtype };
      }
      indexOf.set(name, constants.length);
      constants.push({ slot, name, type: { dtype: c.value.type.dtype, shape: shape as number[] }, tensor, owned, folded });
    }
    this.constants = constants;
    const steps: (PlanStep | undefined)[] = new Array<PlanStep | undefined>(s.stepCount).fill(undefined);
    for (const step of all) {
      const node = step.node;
      if (node.op === IF_OP) continue;
      const def = getOp(node.op);
      if (!def) throw new KilnError(`compile: unknown op '${node.op}' in ${describeNode(node)}`, { op: 'compile', callSite: node.source });
      // An op the backend has no kernel for runs its decomposition (see eager/decomposition.ts).
      const kernel = def.alias ? null : (kernelOf(def, backend) ?? null);
      if (!def.alias && !kernel) throw new KilnError(`compile: no kernel for '${node.op}' on the '${backend.name}' backend`, { op: node.op, callSite: node.source });
      steps[step.index] = { def, kernel };
    }
    this.steps = steps;
    this.runner = new PlanRunner(this);
    this.symbolic = graph.inputs.some((v) => v.type.shape.some((d) => typeof d !== 'number'))
      || all.some((st) => st.node.outputs.some((v) => v.type.shape.some((d) => typeof d !== 'number')));
    const proven = new Array<boolean>(s.stepCount).fill(false);
    for (const st of all) {
      const def = steps[st.index]?.def;
      proven[st.index] = this.symbolic && def?.inferDims !== undefined && provenTypes(st.node);
    }
    this.proven = proven;
  }

  /** How many steps symbolic inference proves for every binding (each new binding infers only the others). */
  get provenSteps(): number {
    return this.proven.filter(Boolean).length;
  }

  /** Whether the graph's sizes depend on symbols (`batch`). */
  get isSymbolic(): boolean {
    return this.symbolic;
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  /**
   * Resolves attributes and types under `bindings` and checks that every step holds
   * there: its dims are sizes (non-negative integers), and steps whose types symbolic
   * inference did not prove for every binding (see `proven`) are checked against their
   * op's inference. Returns null when the plan holds there, else why not. The last few
   * bindings stay resolved.
   */
  prepare(bindings: Bindings): string | null {
    if (this.lastResolved(bindings)) return null;
    const key = this.symbolic ? bindingKey(bindings) : '';
    if (this.resolutions.has(key)) return null;
    const attrs: Attrs[] = [];
    const types: TensorType[][] = [];
    try {
      for (const st of this.allSteps) {
        const node = st.node;
        const a = concreteAttrs(node.attrs, bindings);
        const outs = node.outputs.map((v) => concreteType(v.type, bindings));
        let inferred: readonly TensorType[] = outs;
        // An If's types are its branches' (whose steps are checked here too).
        const def = this.steps[st.index]?.def;
        if (def && (!this.proven[st.index] || outs.some((o) => o.shape.includes(0)))) {
          inferred = def.infer(node.inputs.map((v) => concreteType(v.type, bindings)), a);
        }
        for (let k = 0; k < outs.length; k++) {
          const o = outs[k]!, f = inferred[k];
          if (o.shape.some((d) => !Number.isInteger(d) || d < 0) || !f || f.dtype !== o.dtype || !sameShape(f.shape, o.shape)) {
            return `${describeNode(node)}${node.source ? ` (${node.source})` : ''} gives ${f ? `${f.dtype}${formatShape(f.shape)}` : 'nothing'} where the graph says ${o.dtype}${formatShape(o.shape)}${bindings.size ? ` at ${formatBindings(bindings)}` : ''}`;
          }
        }
        attrs[st.index] = a;
        types[st.index] = outs;
      }
    } catch (e) {
      if (e instanceof KilnError) return `${e.message}${bindings.size ? ` at ${formatBindings(bindings)}` : ''}`;
      throw e;
    }
    const memory = planMemory(this.schedule, types, this.inPlace ? { inPlace: (n) => writesInPlace(n.op) } : {});
    if (this.resolutions.size >= 8) {
      const oldest = this.resolutions.keys().next().value!;
      this.resolutions.delete(oldest);
      this.runner.forget(oldest);
      if (this.last?.key === oldest) this.last = null;
    }
    this.resolutions.set(key, { key, attrs, types, memory });
    return null;
  }

  /** Whether the plan resolved `bindings` already (it holds there); the binding run last is found without making its key. */
  isResolved(bindings: Bindings): boolean {
    return this.lastResolved(bindings) !== null;
  }

  /**
   * The resolution of `bindings` if it is the one last looked up (then remembered), without
   * making its key: the hot path of repeated runs at one size allocates nothing.
   */
  private lastResolved(bindings: Bindings): Resolved | null {
    if (!this.symbolic) return this.resolutions.get('') ?? null;
    const last = this.last;
    if (last && bindings.size === last.names.length) {
      let same = true;
      for (let i = 0; same && i < last.names.length; i++) same = bindings.get(last.names[i]!) === last.values[i];
      if (same) return last.resolved;
    }
    return this.lookUp(bindings);
  }

  /** `lastResolved`'s miss: finds the resolution by key and remembers it (its own function: the hot path captures nothing in a closure). */
  private lookUp(bindings: Bindings): Resolved | null {
    const r = this.resolutions.get(bindingKey(bindings));
    if (!r) return null;
    const names = [...bindings.keys()];
    this.last = { key: r.key, resolved: r, names, values: names.map((n) => bindings.get(n)!) };
    return r;
  }

  /**
   * The memory plan of each binding resolved so far (the last few, oldest first; a plan
   * without symbols has one, resolved here if no run did yet). Empty for a symbolic plan
   * before its first run, and for a plan that does not hold.
   *
   * @example
   * ```ts
   * for (const { key, memory } of plan.memoryPlans()) console.log(key, memory.arenaBytes, memory.lowerBound);
   * ```
   */
  memoryPlans(): readonly Pick<Resolved, 'key' | 'memory'>[] {
    if (!this.symbolic && !this.resolutions.size && !this.isDisposed) this.prepare(new Map());
    return [...this.resolutions.values()];
  }

  /** The steps' attributes and types under `bindings` (throws where the plan does not hold). */
  resolve(bindings: Bindings): Resolved {
    if (this.isDisposed) throw new KilnError('compile: this compiled plan was disposed', { op: 'compile' });
    const hit = this.lastResolved(bindings);
    if (hit) return hit;
    const problem = this.prepare(bindings);
    if (problem !== null) throw new KilnError(`compile: the compiled graph does not hold: ${problem}`, { op: 'compile' });
    return this.lastResolved(bindings)!;
  }

  /** Bytes of the arena the kernel runs hold now (the largest binding's `memory.arenaBytes` run so far; 0 before a run). */
  get arenaBytes(): number {
    return this.runner.arenaBytes;
  }

  /**
   * By op: how many times one of its kernels returned an output elsewhere than the arena
   * view it was given (the executor copied it over: the slow path of kernels that do not
   * honour caller-given outputs yet).
   *
   * @example
   * ```ts
   * plan.run([x], new Map());
   * for (const [op, copies] of plan.outsIgnored) console.log(`${op}: ${copies} copies`);
   * ```
   */
  get outsIgnored(): ReadonlyMap<string, number> {
    return this.runner.outsIgnored;
  }

  /** The tensor behind a live constant (throws if it was disposed). */
  liveTensor(c: PlanConstant): Tensor {
    const t = c.tensor!;
    if (t.disposed) throw new KilnError(`compile: the tensor behind constant %${c.name} was disposed; a compiled model reads its parameters and captured tensors at every run`, { op: 'compile' });
    return t;
  }

  /** The plan's own constants as tensors (for eager runs), made once; null for live ones. */
  constantTensors(): readonly (Tensor | null)[] {
    if (!this.eagerConstants) {
      this.eagerConstants = this.constants.map((c) => {
        if (!c.owned) return null;
        c.owned.storage.refs++;
        return new Tensor(c.owned.storage, c.owned.shape, c.owned.dtype, this.backend).keep();
      });
    }
    return this.eagerConstants;
  }

  /** Runs the kernels on input slots (see `runPlanSlots`). */
  runSlots(inputs: readonly Slot[], bindings: Bindings): Slot[] {
    return runPlanSlots(this, inputs, bindings);
  }

  /** Runs the kernels; returns the graph outputs as fresh tensors (see `runPlan`). */
  run(inputs: readonly Tensor[], bindings: Bindings): Tensor[] {
    return runPlan(this, inputs, bindings);
  }

  /** Runs the nodes through eager dispatch, recording the autograd tape (see `runPlanEager`). */
  runEager(inputs: readonly Tensor[], bindings: Bindings): Tensor[] {
    return runPlanEager(this, inputs, bindings);
  }

  /** Frees the constants this plan uploaded. */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.runner.dispose();
    for (const t of this.eagerConstants ?? []) if (t) { t.keepAlive = false; t.dispose(); }
    for (const c of this.constants) if (c.owned && --c.owned.storage.refs === 0) this.backend.free(c.owned.storage);
  }
}
