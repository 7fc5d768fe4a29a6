// Recording a function's ops as a Graph. Two modes:
// - 'record': every op also runs eagerly (the first call of a compiled function), so
//   its results are exactly eager's and data reads see real values (graph breaks are
//   noted, not fatal);
// - 'meta': shapes only, no kernels and no side effects (no generator draws, no writes
//   into parameters/buffers): the extra traces at other sizes that find symbolic dims.
import { addIf, getOp, Graph, KilnError, userCallSite, type Attrs, type Constant, type Dim, type OpDef, type Value, type ValueType } from '../ir/index.js';
import { drawsFor } from '../ops/random.js';
import type { Backend } from '../runtime/backend.js';
import { engine, type RandomKind, type TraceHook } from '../eager/engine.js';
import { checkInputs, execute, inferTypes } from '../eager/dispatch.js';
import { isPending, pendingTensor, tensorsCreated, Tensor } from '../eager/tensor.js';
import { keyTensor, nextStream } from '../eager/creation.js';
import { flattenOutputs, type OutputTree } from './outputTree.js';
import { recordNode } from './recordNode.js';

/** Where a graph input's tensor comes from at each run. */
export type Feed =
  /** The caller's input `index`. */
  | { readonly kind: 'input'; readonly index: number }
  /** A parameter/buffer/captured tensor, read live at every run (training mode's parameters). */
  | { readonly kind: 'state'; readonly tensor: Tensor; readonly name: string }
  /** A fresh Philox key from the global generator, advanced as eager would for `numel` samples. */
  | { readonly kind: 'rng'; readonly numel: Dim; readonly draws: RandomKind };

/** An in-place write (`copy_`, `add_`, …) into a tensor that outlives the call: graph output `output` is written back after each run. */
export interface Mutation {
  readonly target: { readonly input: number } | { readonly state: Tensor; readonly name: string };
  readonly output: number;
}

/** Why a break happens: what the code did there. */
export function breakCause(what: string): string {
  if (what.startsWith('backward')) return `${what} runs autograd eagerly (it assigns .grad, which no graph can hold)`;
  if (what.startsWith('in-place')) return what;
  return `${what} reads a tensor's value`;
}

/** A point where the traced code read a tensor's value (or did what a graph cannot hold). */
export interface GraphBreak {
  /** What read it: `item()`, `dataSync()`, `toArray()`, …. */
  readonly reason: string;
  /** The user's `file:line:col`, when found. */
  readonly site: string | undefined;
  /** How many nodes were recorded before it (where the graph splits). */
  readonly node: number;
  /** The value read, when the graph computed it. */
  readonly value?: Value;
}

/** One traced call: the graph, how to feed it, and what it returned. */
export interface Trace {
  readonly graph: Graph;
  /** Parallel to `graph.inputs`. */
  readonly feeds: readonly Feed[];
  /** Constants that are live tensors (parameters in inference mode, captured tensors), by value name. */
  readonly live: ReadonlyMap<string, Tensor>;
  /** The returned value; its tensor leaves are the first graph outputs. */
  readonly outputs: OutputTree;
  /** Graph outputs after the returned tensors: values written into inputs or state. */
  readonly mutations: readonly Mutation[];
  readonly breaks: readonly GraphBreak[];
  /** What the call returned (record mode: real tensors, exactly eager's). */
  readonly result: unknown;
  /** See `TraceOptions.startId`. */
  readonly startId: number;
}

export interface TraceOptions {
  readonly mode: 'record' | 'meta';
  /** Parameters, buffers and captured tensors that require grad become graph inputs (training) instead of constants. */
  readonly stateAsInputs: boolean;
  /** A data read throws instead of breaking the graph. */
  readonly fullGraph: boolean;
  /** Module paths of parameters and buffers (`fc1.weight`). */
  readonly stateNames: ReadonlyMap<Tensor, string>;
  /** Names of the graph inputs (the function's parameter names). */
  readonly inputNames: readonly string[];
  /**
   * Tensors with smaller ids existed before tracing began: state (read live), not
   * constants of the program. Shape-only traces pass the first trace's, so that a
   * tensor the first trace made (a cached scalar) is classified alike in both.
   */
  readonly startId?: number;
}

/** Thrown in a meta trace where the code reads a value: that trace cannot go on without data. */
export class MetaAbort extends Error {
  override name = 'MetaAbort';
}

/** Records one call of a function into a Graph (see the file comment for the modes). */
export class GraphTracer implements TraceHook {
  readonly graph = new Graph();
  private readonly feeds: Feed[] = [];
  private readonly live = new Map<string, Tensor>();
  private readonly breaks: GraphBreak[] = [];
  private readonly mutations: { target: Mutation['target']; value: Value }[] = [];
  private readonly values = new Map<Tensor, Value>();
  private readonly startId: number;
  /** Where nodes go: the graph, or the branch of a `kiln.cond` being traced. */
  private current: Graph = this.graph;
  /** Tensors made inside a finished branch: their values exist only there. */
  private readonly branchLocal = new WeakSet<Tensor>();

  constructor(private readonly options: TraceOptions, private readonly inputs: readonly Tensor[]) {
    this.startId = options.startId ?? tensorsCreated();
    inputs.forEach((x, i) => {
      const v = this.graph.addInput(options.inputNames[i] ?? `input${i}`, { dtype: x.dtype, shape: [...x.shape] });
      this.feeds.push({ kind: 'input', index: i });
      this.values.set(x, v);
    });
  }

  /** Runs `fn` on the inputs with this tracer installed; returns the trace. */
  trace(fn: (...xs: Tensor[]) => unknown): Trace {
    if (engine.tracer !== null) throw new KilnError('compile: a trace is already running (compiled functions cannot be traced inside one another\'s first call)', { op: 'compile' });
    engine.tracer = this;
    let result: unknown;
    try {
      result = fn(...this.inputs);
    } finally {
      engine.tracer = null;
    }
    return this.finish(result);
  }

  private finish(result: unknown): Trace {
    const outs: Value[] = [];
    const outputs = flattenOutputs(result, (t) => {
      const index = outs.length;
      outs.push(this.valueOf(t));
      const input = this.inputs.indexOf(t);
      if (input >= 0) return { kind: 'tensor', output: index, same: { input } };
      if (this.isState(t)) return { kind: 'tensor', output: index, same: { state: t } };
      return { kind: 'tensor', output: index };
    });
    const mutations: Mutation[] = this.mutations.map((m, i) => ({ target: m.target, output: outs.length + i }));
    this.graph.outputs = [...outs, ...this.mutations.map((m) => m.value)];
    return { graph: this.graph, feeds: this.feeds, live: this.live, outputs, mutations, breaks: this.breaks, result, startId: this.startId };
  }

  /** Existed before the trace (or is a named parameter/buffer): lives on between calls. */
  private isState(t: Tensor): boolean {
    return this.options.stateNames.has(t) || (t.id < this.startId && !this.inputs.includes(t));
  }

  /** The graph value of `t`, making tensors from outside the trace inputs or constants. */
  private valueOf(t: Tensor): Value {
    const known = this.values.get(t);
    if (known) return known;
    if (this.branchLocal.has(t)) throw new KilnError('a tensor computed inside a kiln.cond branch was used outside it; return it from both branches instead', { op: 'cond', callSite: userCallSite() });
    if (isPending(t.storage)) throw new KilnError('compile: a tensor from another trace was used (a lazy or shape-only tensor escaped its compiled call)', { op: 'compile' });
    const type: ValueType = { dtype: t.dtype, shape: [...t.shape] };
    let v: Value;
    if (this.isState(t)) {
      const name = this.options.stateNames.get(t);
      if (this.options.stateAsInputs && (name !== undefined || t.requiresGrad)) {
        v = this.graph.addInput(name ?? 'p', type);
        this.feeds.push({ kind: 'state', tensor: t, name: v.name });
      } else {
        v = this.graph.addConstant(name ?? 'c', new Uint8Array(0), type);
        // Read live: the graph always shows (and the plan always uses) the tensor's current values.
        const constant: Constant = { value: v, live: true, get data() { return t.backend.read(t.storage); } };
        this.graph.constants.set(v.name, constant);
        this.live.set(v.name, t);
      }
    } else {
      // Made during the trace (a literal, zeros, a scalar): its values are part of the
      // program. (Filled ones become expand(scalar) in a pass: see passes/uniformConstants.ts.)
      v = this.graph.addConstant('c', t.backend.read(t.storage), type);
    }
    this.values.set(t, v);
    return v;
  }

  // ---- TraceHook -------------------------------------------------------------------

  run(def: OpDef, inputs: readonly Tensor[], attrs: Attrs): Tensor[] {
    const source = userCallSite();
    let outs: Tensor[];
    if (this.options.mode === 'record') {
      outs = execute(def, inputs, attrs);
    } else {
      checkInputs(def, inputs);
      outs = inferTypes(def, inputs, attrs).map((t) => pendingTensor(t.shape, t.dtype, inputs[0]!.backend));
    }
    const ins = inputs.map((x) => this.valueOf(x));
    const node = recordNode(this.current, def.name, ins, attrs, outs, source);
    outs.forEach((o, i) => this.values.set(o, node.outputs[i]!));
    return outs;
  }

  read(t: Tensor, what: string): void {
    const site = userCallSite();
    if (this.current !== this.graph) throw new KilnError(`${breakCause(what)} inside a kiln.cond branch: a branch must be tensor ops only (both branches are recorded into one If node)`, { op: 'cond', callSite: site });
    if (this.options.mode === 'meta') throw new MetaAbort(`${breakCause(what)}${site ? ` at ${site}` : ''}`);
    if (this.options.fullGraph) {
      throw new KilnError(`${breakCause(what)} while tracing with fullGraph: true; that would split the graph (a graph break). Compute with tensor ops instead (kiln.where, masks), or move it out of the compiled function`, { op: 'compile', callSite: site });
    }
    const value = this.values.get(t);
    this.breaks.push(value ? { reason: what, site, node: this.graph.nodes.length, value } : { reason: what, site, node: this.graph.nodes.length });
  }

  coerce(_t: Tensor, hint: string): never {
    throw new KilnError(`a tensor was used as a ${hint === 'number' ? 'number' : 'primitive value'} (as in \`x > 0\` or \`x + 1\`) while tracing: its value would decide what the code does, which a graph cannot record. Read it with .item() (a graph break) or stay with tensor ops (x.greater(0), kiln.where)`, { op: 'compile', callSite: userCallSite() });
  }

  copyInto(target: Tensor, value: Tensor): boolean {
    if (this.current !== this.graph) throw new KilnError('in-place update inside a kiln.cond branch: return the new value from both branches instead', { op: 'cond', callSite: userCallSite() });
    const v = this.valueOf(value);
    const input = this.inputs.indexOf(target);
    let where: Mutation['target'] | null = null;
    if (input >= 0) where = { input };
    else if (this.isState(target)) where = { state: target, name: this.options.stateNames.get(target) ?? this.valueOf(target).name };
    else if (this.options.mode === 'record' && target.storage.refs > 1) {
      // A view (reshape, detach) shares these elements; the graph would update only one of them.
      this.read(target, 'in-place update of a tensor that shares its elements with another (a view)');
    }
    if (where) {
      const same = (m: { target: Mutation['target'] }) => ('input' in where! ? 'input' in m.target && m.target.input === where.input : 'state' in m.target && m.target.state === (where as { state: Tensor }).state);
      const prev = this.mutations.findIndex(same);
      if (prev >= 0) this.mutations.splice(prev, 1);
      this.mutations.push({ target: where, value: v });
    }
    this.values.set(target, v);
    return this.options.mode === 'meta';
  }

  alias(src: Tensor, out: Tensor): void {
    this.values.set(out, this.valueOf(src));
  }

  cond(pred: Tensor, thenFn: () => Tensor | readonly Tensor[], elseFn: () => Tensor | readonly Tensor[]): Tensor[] {
    const site = userCallSite();
    const c = this.valueOf(pred);
    const parent = this.current;
    const branch = (fn: () => Tensor | readonly Tensor[], label: string): { graph: Graph; outs: Tensor[] } => {
      const sub = new Graph(parent);
      const before = new Set(this.values.keys());
      this.current = sub;
      try {
        const r = fn();
        const outs = r instanceof Tensor ? [r] : Array.isArray(r) && r.every((t) => t instanceof Tensor) ? [...r] : null;
        if (!outs) throw new KilnError(`the ${label} branch must return a tensor or an array of tensors`, { op: 'cond', callSite: site });
        sub.outputs = outs.map((t) => this.valueOf(t));
        return { graph: sub, outs };
      } finally {
        this.current = parent;
        // Values computed in the branch exist only there; constants it made (cached
        // scalars among them) live in the root graph and stay usable everywhere.
        for (const [t, v] of [...this.values]) {
          if (!before.has(t) && v.producer !== null) {
            this.values.delete(t);
            this.branchLocal.add(t);
          }
        }
      }
    };
    const thenB = branch(thenFn, 'then');
    const elseB = branch(elseFn, 'else');
    let node;
    try {
      node = addIf(parent, c, thenB.graph, elseB.graph, site);
    } catch (e) {
      if (e instanceof KilnError) throw new KilnError(e.message, { op: 'cond', ...(site ? { callSite: site } : {}) });
      throw e;
    }
    let results: Tensor[];
    if (this.options.mode === 'record') {
      // Eager's result: the taken branch's values (pred holds real data here), as new tensors.
      const taken = pred.backend.read(pred.storage)[0] ? thenB.outs : elseB.outs;
      const copy = getOp('copy')!;
      results = taken.map((t) => execute(copy, [t], {})[0]!);
    } else {
      results = node.outputs.map((v) => pendingTensor(v.type.shape as number[], v.type.dtype, pred.backend));
    }
    results.forEach((t, i) => this.values.set(t, node.outputs[i]!));
    return results;
  }

  randomKey(backend: Backend, numel: number, kind: RandomKind, seed: number | undefined): Tensor {
    // An explicit seed gives the same numbers at every call: a constant key, like eager.
    if (seed !== undefined) return keyTensor(backend, nextStream(drawsFor(kind, numel), seed));
    const key = this.options.mode === 'record' ? keyTensor(backend, nextStream(drawsFor(kind, numel))) : pendingTensor([4], 'int32', backend);
    const v = this.graph.addInput('rng', { dtype: 'int32', shape: [4] });
    this.feeds.push({ kind: 'rng', numel, draws: kind });
    this.values.set(key, v);
    return key;
  }
}
