/**
 * The interpreter: the one loop that runs graphs. It walks a graph's schedule (slots
 * and steps, see `schedule.ts`) and runs each node through an executor the caller
 * supplies, which decides how a node runs: by the reference semantics (`exec`, an op by
 * name: the compile side passes eager's `applyOp`, so `ir` needs no eager import), or,
 * through the per-node hook `runNode`, by a kernel on a backend or eagerly with autograd
 * recording (the execution plans' executors in `compiled/`). The reference run is the
 * semantic truth that optimized graphs are compared against.
 */
import type { Bindings } from './dims.js';
import { arrayFor, sizeOf, type DType, type TensorType, type TypedArray } from './dtype.js';
import { formatShape, KilnError } from './errors.js';
import type { Attrs } from './opRegistry.js';
import type { Graph, Node, Value } from './graph.js';
import { bindShape, concreteAttrs, concreteType, evalShape } from './bindings.js';
import { IF_OP, LOOP_OP, loopInputs } from './controlFlow.js';
import { describeNode, formatValueName } from './printer.js';
import { schedule, type ScheduleBlock, type Schedule, type ScheduleStep } from './schedule.js';
import { formatType } from './valueType.js';

/** What the interpreter needs of a tensor. */
export interface InterpretedTensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** How the interpreter computes: the caller's tensors and ops. */
export interface Executor<T extends InterpretedTensor> {
  /**
   * Runs one registered op on concrete inputs and attributes (symbols already
   * substituted). Loops also call it for `reshape` and `concat` to stack scan outputs.
   */
  exec(op: string, inputs: readonly T[], attrs: Attrs): T[];
  /**
   * Makes a tensor from data: the graph's constants (by name) and the scalars control
   * flow needs (a Loop's iteration number, a missing Loop condition, empty scan outputs).
   */
  constant(name: string, data: TypedArray, type: TensorType): T;
  /** The value of a one-element tensor (a condition: nonzero is true; a trip count). */
  readScalar(t: T): number;
  /**
   * The per-node hook: runs an op node (not `If`/`Loop`) its own way instead of
   * `exec(node.op, inputs, attrs with the symbols' values)`, e.g. with a kernel resolved
   * ahead for `step.index`. Errors are its to word.
   */
  runNode?(step: ScheduleStep, inputs: readonly T[]): T[];
  /**
   * The per-step hook without arrays: runs an op step (not `If`/`Loop`) reading its
   * inputs from `slots[step.inputs[i]]` and writing its outputs to
   * `slots[step.outputs[k]]` (an execution plan's hot path: no arrays per step). Takes
   * precedence over `runNode`; errors are its to word.
   */
  runStep?(step: ScheduleStep, slots: (T | undefined)[]): void;
  /**
   * The loop is done with `t` (the last use of a value a node made passed, or a run
   * failed): an executor that owns memory frees it. Without it, intermediates are
   * the caller's (a `kiln.scope`).
   */
  release?(t: T): void;
  /**
   * `t` is returned once more than it was made: a graph input or constant returned
   * (`produced` false), or a node's result returned twice; or an `If` branch returns a
   * value it did not make itself, or returns one twice (`produced` false: the If's
   * output needs a reference of its own, the original is freed at its own last use).
   * Lets a refcounting executor give each returned tensor its own reference; without
   * it, `t` itself is returned.
   */
  share?(t: T, produced: boolean): T;
}

export interface InterpretOptions {
  /**
   * Check each node's outputs against its declared type (default true). A symbol first
   * seen in an output (a Loop's scan length) is bound there.
   */
  checkOutputs?: boolean;
  /** Receives the symbol values bound while running (from the inputs and, with checkOutputs, the outputs). */
  bindings?: Map<string, number>;
}

/**
 * The loop bound to one schedule, executor and options, reusable across runs: an
 * execution plan keeps one per binding, so a run allocates no loop state. Re-entrant
 * (a nested run on other slots restores the outer one's).
 */
export class ScheduleRunner<T extends InterpretedTensor> {
  /** The slots of the run in progress. */
  private slots: (T | undefined)[] = [];
  private readonly bindings: Bindings;
  /** Where output checking binds symbols (null: outputs are not checked). */
  private readonly check: Map<string, number> | null;

  constructor(private readonly s: Schedule, private readonly ex: Executor<T>, options: ScheduleRunOptions) {
    this.bindings = options.bindings;
    this.check = options.check ?? null;
  }

  /**
   * Runs the schedule on `slots` (see `runSchedule`); returns the graph outputs, in `into`
   * when given (an array of their count the caller reuses), else in a new array.
   */
  run(slots: (T | undefined)[], into: T[] | null = null): T[] {
    const outer = this.slots;
    this.slots = slots;
    try {
      return this.runMain(into);
    } finally {
      this.slots = outer;
    }
  }

  private runMain(into: T[] | null): T[] {
    const s = this.s, ex = this.ex;
    let outs: T[];
    try {
      outs = this.runBlock(s.main, into);
    } catch (e) {
      // Free what this run still holds.
      if (ex.release) {
        for (let i = 0; i < s.slotCount; i++) {
          const t = this.slots[i];
          if (t !== undefined && s.freeable[i]) {
            this.slots[i] = undefined;
            ex.release(t);
          }
        }
      }
      throw e;
    }
    if (!ex.share) return outs;
    const slots = s.main.outputs;
    for (let k = 0; k < outs.length; k++) {
      const slot = slots[k]!;
      let repeated = false;
      for (let j = 0; j < k && !repeated; j++) repeated = slots[j] === slot;
      // A node's result goes to the caller as is; inputs, constants and repeats are shared.
      if (!s.freeable[slot] || repeated) outs[k] = ex.share(outs[k]!, s.produced[slot]!);
    }
    return outs;
  }

  /** The tensor in `slot`: computed already, or a constant made on first use. */
  private get(slot: number, node: Node | null): T {
    const t = this.slots[slot];
    if (t !== undefined) return t;
    const c = this.s.constants.get(slot);
    const v = this.s.values[slot]!;
    if (c) {
      const made = this.ex.constant(v.name, c.data, concreteType(v.type, this.bindings));
      this.slots[slot] = made;
      return made;
    }
    if (node) throw this.error(node, `input ${formatValueName(v.name)} has no value (it is not defined before this node: run verifyGraph)`);
    throw new KilnError(`graph output ${formatValueName(v.name)} has no value (run verifyGraph)`, { op: 'interpret' });
  }

  private error(node: Node, message: string, fallbackSite?: string): KilnError {
    const callSite = node.source ?? fallbackSite;
    return new KilnError(`${describeNode(node)}: ${message}`, { op: node.op, ...(callSite ? { callSite } : {}) });
  }

  private runBlock(b: ScheduleBlock, into: T[] | null = null): T[] {
    const slots = this.slots, ex = this.ex, steps = b.steps;
    // Indexed loops on the hot path: an array iterator here was allocated at every run.
    for (let j = 0; j < steps.length; j++) {
      const st = steps[j]!;
      const node = st.node;
      if (ex.runStep && node.op !== IF_OP && node.op !== LOOP_OP) {
        for (let i = 0; i < st.inputs.length; i++) if (slots[st.inputs[i]!] === undefined) this.get(st.inputs[i]!, node);
        ex.runStep(st, slots);
        if (this.check) for (let k = 0; k < st.outputs.length; k++) this.checkOutput(node, k, slots[st.outputs[k]!]!);
      } else {
        let outs: T[];
        if (node.op === IF_OP) outs = this.runIf(st);
        else if (node.op === LOOP_OP) outs = this.runLoop(st);
        else {
          const n = st.inputs.length;
          const ins = new Array<T>(n);
          for (let i = 0; i < n; i++) ins[i] = this.get(st.inputs[i]!, node);
          outs = ex.runNode ? ex.runNode(st, ins) : this.runOp(node, ins);
        }
        if (outs.length !== node.outputs.length) throw this.error(node, `produced ${outs.length} outputs, the graph declares ${node.outputs.length}`);
        for (let k = 0; k < outs.length; k++) {
          const t = outs[k]!;
          if (this.check) this.checkOutput(node, k, t);
          slots[st.outputs[k]!] = t;
        }
      }
      if (ex.release) {
        const release = st.release;
        for (let i = 0; i < release.length; i++) {
          const r = release[i]!;
          const t = slots[r];
          if (t === undefined) continue;
          slots[r] = undefined;
          ex.release(t);
        }
      }
    }
    const outs = into ?? new Array<T>(b.outputs.length);
    for (let k = 0; k < b.outputs.length; k++) outs[k] = this.get(b.outputs[k]!, null);
    return outs;
  }

  /** Throws unless `t` is of output `k`'s declared type (binding symbols first seen there). */
  private checkOutput(node: Node, k: number, t: T): void {
    const v = node.outputs[k]!;
    const bad = t.dtype !== v.type.dtype ? `dtype ${t.dtype} instead of ${v.type.dtype}` : bindShape(v.type.shape, t.shape, this.check!);
    if (bad) throw this.error(node, `output ${k} ${formatValueName(v.name)} is declared ${formatType(v.type)} but came out ${t.dtype}${formatShape(t.shape)}: ${bad}`);
  }

  /** The reference semantics: the op by name, with the symbols' values in its attributes. */
  private runOp(node: Node, inputs: readonly T[]): T[] {
    let attrs: Attrs;
    try {
      attrs = concreteAttrs(node.attrs, this.bindings);
    } catch (e) {
      throw this.error(node, `cannot give its attributes values: ${(e as Error).message}`);
    }
    try {
      return this.ex.exec(node.op, inputs, attrs);
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
      // Re-say the op's own message, placed at the node (and its source line, else the op's call site).
      let m = e.message;
      if (e.op && m.startsWith(`${e.op}: `)) m = m.slice(e.op.length + 2);
      if (e.callSite && m.endsWith(`\n    at ${e.callSite}`)) m = m.slice(0, m.length - e.callSite.length - 8);
      throw this.error(node, m, e.callSite);
    }
  }

  private scalar(node: Node, v: Value, what: string): number {
    const t = this.get(this.s.slots.get(v)!, node);
    if (sizeOf(t.shape) !== 1) throw this.error(node, `${what} ${formatValueName(v.name)} must have one element, got shape ${formatShape(t.shape)}`);
    return this.ex.readScalar(t);
  }

  /**
   * Runs the taken branch. Its results become the If's outputs, which the run owns like
   * any node's results (freed at their last use, see `Schedule.freeable`): a value the
   * branch made is handed over (its slot there emptied, so an error frees it once); an
   * enclosing graph's value, an input, a constant or a repeat is shared (`share(t,
   * false)`: a reference of its own, since the original is freed at its own last use).
   */
  private runIf(st: ScheduleStep): T[] {
    const node = st.node;
    const [thenB, elseB] = st.blocks;
    if (!thenB || !elseB || node.inputs.length !== 1) throw this.error(node, 'If needs one condition input and two subgraphs (run verifyGraph)');
    const b = this.scalar(node, node.inputs[0]!, 'the condition') !== 0 ? thenB : elseB;
    const outs = this.runBlock(b);
    const s = this.s, ex = this.ex;
    for (let k = 0; k < outs.length; k++) {
      const out = st.outputs[k];
      if (out === undefined || !s.freeable[out]) continue; // inside a Loop body: nothing is owned
      if (b.moves[k]) this.slots[b.outputs[k]!] = undefined;
      else if (ex.share) outs[k] = ex.share(outs[k]!, false);
    }
    return outs;
  }

  private runLoop(st: ScheduleStep): T[] {
    const node = st.node;
    const body = st.blocks[0];
    const { maxTripCount, cond, carried } = loopInputs(node);
    const k = carried.length;
    if (!body || body.inputs.length !== k + 2 || body.outputs.length < k + 1) throw this.error(node, 'malformed Loop (run verifyGraph)');
    const slotOf = (v: Value) => this.s.slots.get(v)!;
    const bodyInputs = body.graph.inputs;
    const limit = maxTripCount ? this.scalar(node, maxTripCount, 'maxTripCount') : Infinity;
    let go = cond ? this.scalar(node, cond, 'cond') !== 0 : true;
    let condT = cond ? this.get(slotOf(cond), node) : this.ex.constant(`${bodyInputs[1]!.name}.initial`, Uint8Array.of(1), { dtype: 'bool', shape: [] });
    let values = carried.map((v) => this.get(slotOf(v), node));
    const scanCount = body.outputs.length - 1 - k;
    const rows: T[][] = Array.from({ length: scanCount }, () => []);
    for (let i = 0; i < limit && go; i++) {
      this.slots[body.inputs[0]!] = this.ex.constant(`${bodyInputs[0]!.name}.${i}`, Int32Array.of(i), { dtype: 'int32', shape: [] });
      this.slots[body.inputs[1]!] = condT;
      values.forEach((t, j) => { this.slots[body.inputs[j + 2]!] = t; });
      const outs = this.runBlock(body);
      condT = outs[0]!;
      if (sizeOf(condT.shape) !== 1) throw this.error(node, `the body's cond output must have one element, got shape ${formatShape(condT.shape)}`);
      go = this.ex.readScalar(condT) !== 0;
      values = outs.slice(1, k + 1);
      for (let s = 0; s < scanCount; s++) rows[s]!.push(outs[k + 1 + s]!);
    }
    const scans = rows.map((list, s) => this.stack(node, list, body.graph.outputs[k + 1 + s]!, this.bindings));
    return [...values, ...scans];
  }

  /** Scan rows stacked along a new leading axis. */
  private stack(node: Node, list: readonly T[], row: Value, bindings: Bindings): T {
    if (list.length === 0) {
      let shape: number[];
      try {
        shape = [0, ...evalShape(row.type.shape, bindings)];
      } catch (e) {
        throw this.error(node, `the loop ran no iteration, and the shape of scan output ${formatValueName(row.name)} (${formatType(row.type)}) is unknown: ${(e as Error).message}`);
      }
      return this.ex.constant(`${row.name}.empty`, arrayFor(row.type.dtype, 0), { dtype: row.type.dtype, shape });
    }
    const lifted = list.map((t) => this.ex.exec('reshape', [t], { shape: [1, ...t.shape] })[0]!);
    return this.ex.exec('concat', lifted, { axis: 0 })[0]!;
  }
}

export interface ScheduleRunOptions {
  /** The symbols' values (see `interpret`, which binds them from the inputs). */
  readonly bindings: Bindings;
  /**
   * When given, each node's outputs are checked against their declared types, and a
   * symbol first seen in one (a Loop's scan length) is bound in this map (pass the
   * same map as `bindings`).
   */
  readonly check?: Map<string, number>;
}

/**
 * Runs schedule `s` (see `schedule`) with `executor`: the one interpreter loop. `slots`
 * holds the graph inputs' tensors at their slots (`s.main.inputs`) and any constants the
 * caller supplies itself (the others are made with `executor.constant` on first use);
 * the run fills it. Returns the graph outputs.
 *
 * @example
 * ```ts
 * const s = schedule(graph);
 * const slots = new Array(s.slotCount);
 * s.main.inputs.forEach((slot, i) => { slots[slot] = inputs[i]; });
 * const outs = runSchedule(s, executor, slots, { bindings: new Map([['batch', 8]]) });
 * ```
 */
export function runSchedule<T extends InterpretedTensor>(s: Schedule, executor: Executor<T>, slots: (T | undefined)[], options: ScheduleRunOptions): T[] {
  return new ScheduleRunner(s, executor, options).run(slots);
}

/** Binds the symbols of `g`'s inputs from `inputs`' shapes (throwing on a wrong dtype, rank or size). */
function bindInputs(g: Graph, inputs: readonly InterpretedTensor[], bindings: Map<string, number>): void {
  if (!Array.isArray(inputs) || inputs.length !== g.inputs.length) {
    throw new KilnError(`the graph takes ${g.inputs.length} input${g.inputs.length === 1 ? '' : 's'} (${g.inputs.map((v) => `${formatValueName(v.name)}: ${formatType(v.type)}`).join(', ')}), got ${Array.isArray(inputs) ? inputs.length : typeof inputs}`, { op: 'interpret' });
  }
  // Bind every symbol first, then check, so an input may use a symbol a later input defines.
  g.inputs.forEach((v, i) => {
    const t = inputs[i]!;
    if (t.shape.length === v.type.shape.length) bindShape(v.type.shape, t.shape, bindings);
  });
  g.inputs.forEach((v, i) => {
    const t = inputs[i]!;
    const bad = t.dtype !== v.type.dtype ? `dtype ${t.dtype} instead of ${v.type.dtype}` : bindShape(v.type.shape, t.shape, bindings);
    if (bad) throw new KilnError(`input ${i} ${formatValueName(v.name)} must be ${formatType(v.type)}, got ${t.dtype}${formatShape(t.shape)}: ${bad}`, { op: 'interpret' });
  });
}

/**
 * Runs `graph` on `inputs`: binds symbolic dims from the inputs' shapes (throwing a
 * `KilnError` on a wrong dtype, rank or size), substitutes them into attributes, runs
 * each node through `executor.exec` (and `If`/`Loop` through their subgraphs), and
 * returns the graph's outputs. Errors name the node and its source line.
 *
 * Intermediate tensors are the executor's: with eager tensors, call it inside
 * `kiln.scope` to free them.
 *
 * @example
 * ```ts
 * import { applyOp } from '../eager/dispatch.js';
 * const executor: Executor<kiln.Tensor> = {
 *   exec: (op, inputs, attrs) => applyOp(op, inputs, attrs),
 *   constant: (_name, data, type) => kiln.tensor(data, { shape: type.shape, dtype: type.dtype }),
 *   readScalar: (t) => t.item(),
 * };
 * const [y] = interpret(graph, [kiln.randn([7, 784])], executor); // batch = 7
 * ```
 */
export function interpret<T extends InterpretedTensor>(graph: Graph, inputs: readonly T[], executor: Executor<T>, options: InterpretOptions = {}): T[] {
  const bindings = options.bindings ?? new Map<string, number>();
  bindInputs(graph, inputs, bindings);
  const s = schedule(graph);
  const slots = new Array<T | undefined>(s.slotCount);
  s.main.inputs.forEach((slot, i) => { slots[slot] = inputs[i]; });
  return runSchedule(s, executor, slots, (options.checkOutputs ?? true) ? { bindings, check: bindings } : { bindings });
}
