// Running a graph: a list of kernel calls over numbered slots, with every
// intermediate freed right after its last use.
import {
  concreteAttrs, concreteType, describeNode, formatBindings, formatShape, getOp, isControlFlowOp, KilnError, sizeOf,
  type Attrs, type Bindings, type DType, type Graph, type Node, type OpDef, type TensorType, type Value,
} from '../ir/index.js';
import type { Backend, Kernel, KernelInput, Storage } from '../runtime/backend.js';
import { execute } from '../eager/dispatch.js';
import { kernelOf } from '../eager/decomposition.js';
import { Tensor } from '../eager/tensor.js';

/** A value while a plan runs: a kernel input (storage, shape, dtype). */
export interface Slot extends KernelInput {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

interface Step {
  readonly node: Node;
  readonly def: OpDef;
  /** null: an alias op (reshape), whose output shares input 0's storage. */
  readonly kernel: Kernel | null;
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  /** Slots whose last use is this step: released right after it. */
  readonly release: readonly number[];
  /** Depends only on constants: its results are cached while no constant changes. */
  readonly foldable: boolean;
}

/** Attributes and output types of every step under one binding of the symbols. */
interface Resolved {
  readonly key: string;
  readonly attrs: readonly Attrs[];
  readonly types: readonly (readonly TensorType[])[];
}

interface ConstantSlot {
  readonly slot: number;
  readonly name: string;
  /** A live tensor (parameter in inference mode), read at every run. */
  readonly tensor: Tensor | null;
  /** Or values uploaded once, owned by the plan. */
  readonly owned: Slot | null;
}

function bindingKey(bindings: Bindings): string {
  return [...bindings].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',');
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
 * `runEager` runs the same nodes through eager dispatch instead, recording the autograd
 * tape (compiled training: backward stays eager).
 *
 * @example
 * ```ts
 * const plan = new ExecutionPlan(graph, kiln.getBackend('wasm'), new Map());
 * const [y] = plan.run([x], new Map([['batch', x.shape[0]]]));
 * ```
 */
export class ExecutionPlan {
  private readonly steps: Step[] = [];
  private readonly slotCount: number;
  private readonly constants: ConstantSlot[] = [];
  private readonly outputSlots: number[];
  /** Slots produced by nodes (owned by a run, released after their last use). */
  private readonly produced: boolean[];
  private readonly symbolic: boolean;
  private resolved: Resolved | null = null;
  private eagerConstants: Tensor[] | null = null;
  private disposed = false;
  /** Results of foldable steps by step index, valid for `foldKey` (constant versions + binding). */
  private folded = new Map<number, Slot[]>();
  private foldKey = '';

  constructor(readonly graph: Graph, readonly backend: Backend, live: ReadonlyMap<string, Tensor>) {
    const slotOf = new Map<Value, number>();
    let next = 0;
    for (const v of graph.inputs) slotOf.set(v, next++);
    for (const c of graph.constants.values()) {
      const slot = next++;
      slotOf.set(c.value, slot);
      const tensor = live.get(c.value.name) ?? null;
      let owned: Slot | null = null;
      if (!tensor) {
        const shape = c.value.type.shape;
        if (shape.some((d) => typeof d !== 'number')) throw new KilnError(`compile: constant %${c.value.name} has a symbolic shape`, { op: 'compile' });
        const storage = backend.alloc(c.value.type.dtype, sizeOf(shape as number[]));
        backend.write(storage, c.data);
        owned = { storage, shape: shape as number[], dtype: c.value.type.dtype };
      }
      this.constants.push({ slot, name: c.value.name, tensor, owned });
    }
    const produced: boolean[] = new Array<boolean>(next).fill(false);
    const steps: { node: Node; def: OpDef; kernel: Kernel | null; inputs: number[]; outputs: number[] }[] = [];
    for (const node of graph.nodes) {
      if (isControlFlowOp(node.op) || node.subgraphs.length) throw new KilnError(`compile: the execution plan cannot run control flow yet (${describeNode(node)}); the interpreter can`, { op: 'compile', callSite: node.source });
      const def = getOp(node.op);
      if (!def) throw new KilnError(`compile: unknown op '${node.op}' in ${describeNode(node)}`, { op: 'compile', callSite: node.source });
      // An op the backend has no kernel for runs its decomposition (see eager/decomposition.ts).
      const kernel = def.alias ? null : (kernelOf(def, backend) ?? null);
      if (!def.alias && !kernel) throw new KilnError(`compile: no kernel for '${node.op}' on the '${backend.name}' backend`, { op: node.op, callSite: node.source });
      const inputs = node.inputs.map((v) => {
        const s = slotOf.get(v);
        if (s === undefined) throw new KilnError(`compile: ${describeNode(node)} uses %${v.name} before it is defined`, { op: 'compile', callSite: node.source });
        return s;
      });
      const outputs = node.outputs.map((v) => {
        slotOf.set(v, next);
        produced.push(true);
        return next++;
      });
      steps.push({ node, def, kernel, inputs, outputs });
    }
    this.slotCount = next;
    this.produced = produced;
    this.outputSlots = graph.outputs.map((v) => {
      const s = slotOf.get(v);
      if (s === undefined) throw new KilnError(`compile: graph output %${v.name} is not defined`, { op: 'compile' });
      return s;
    });
    // Last use of each produced slot; outputs are never released by the run.
    const lastUse = new Array<number>(next).fill(-1);
    steps.forEach((st, i) => {
      for (const s of st.outputs) lastUse[s] = i; // unused results are released at once
      for (const s of st.inputs) lastUse[s] = i;
    });
    for (const s of this.outputSlots) lastUse[s] = -1;
    const releaseAt: number[][] = steps.map(() => []);
    for (let s = 0; s < next; s++) if (produced[s] && lastUse[s]! >= 0) releaseAt[lastUse[s]!]!.push(s);
    // Steps fed only by constants (a Linear's transposed weight) are computed once and
    // kept while the constants' versions stay the same: re-running them every call would
    // also make XNNPACK re-pack a fresh matmul operand each time.
    const constDerived = new Array<boolean>(next).fill(false);
    for (const c of this.constants) constDerived[c.slot] = true;
    const foldable = steps.map((st) => {
      const f = st.inputs.length > 0 && st.inputs.every((i) => constDerived[i]);
      if (f) for (const o of st.outputs) constDerived[o] = true;
      return f;
    });
    this.steps = steps.map((st, i) => ({ ...st, release: releaseAt[i]!, foldable: foldable[i]! }));
    this.symbolic = graph.inputs.some((v) => v.type.shape.some((d) => typeof d !== 'number'))
      || graph.nodes.some((n) => n.outputs.some((v) => v.type.shape.some((d) => typeof d !== 'number')));
  }

  /** Whether the graph's sizes depend on symbols (`batch`). */
  get isSymbolic(): boolean {
    return this.symbolic;
  }

  /**
   * Resolves attributes and types under `bindings` and checks them against every op's
   * shape inference. Returns null when the plan holds there, else why not.
   */
  prepare(bindings: Bindings): string | null {
    const key = this.symbolic ? bindingKey(bindings) : '';
    if (this.resolved?.key === key) return null;
    const attrs: Attrs[] = [];
    const types: TensorType[][] = [];
    try {
      for (const st of this.steps) {
        const a = concreteAttrs(st.node.attrs, bindings);
        const outs = st.node.outputs.map((v) => concreteType(v.type, bindings));
        const ins = st.node.inputs.map((v) => concreteType(v.type, bindings));
        const inferred = st.def.infer(ins, a);
        for (let k = 0; k < outs.length; k++) {
          const o = outs[k]!, f = inferred[k];
          if (o.shape.some((d) => !Number.isInteger(d) || d < 0) || !f || f.dtype !== o.dtype || !sameShape(f.shape, o.shape)) {
            return `${describeNode(st.node)}${st.node.source ? ` (${st.node.source})` : ''} gives ${f ? `${f.dtype}${formatShape(f.shape)}` : 'nothing'} where the graph says ${o.dtype}${formatShape(o.shape)}${bindings.size ? ` at ${formatBindings(bindings)}` : ''}`;
          }
        }
        attrs.push(a);
        types.push(outs);
      }
    } catch (e) {
      if (e instanceof KilnError) return `${e.message}${bindings.size ? ` at ${formatBindings(bindings)}` : ''}`;
      throw e;
    }
    this.resolved = { key, attrs, types };
    return null;
  }

  private resolve(bindings: Bindings): Resolved {
    const problem = this.prepare(bindings);
    if (problem !== null) throw new KilnError(`compile: the compiled graph does not hold: ${problem}`, { op: 'compile' });
    return this.resolved!;
  }

  private liveTensor(c: ConstantSlot): Tensor {
    const t = c.tensor!;
    if (t.disposed) throw new KilnError(`compile: the tensor behind constant %${c.name} was disposed; a compiled model reads its parameters and captured tensors at every run`, { op: 'compile' });
    return t;
  }

  /** A live constant's slot; one on another backend is copied over for this run (added to `temps`). */
  private liveSlot(c: ConstantSlot, temps: Storage[]): Slot {
    const t = this.liveTensor(c);
    if (t.backend === this.backend) return t;
    const storage = this.backend.alloc(t.dtype, t.size);
    this.backend.write(storage, t.backend.read(t.storage));
    temps.push(storage);
    return { storage, shape: t.shape, dtype: t.dtype };
  }

  /**
   * Runs the kernels on input slots (one per graph input, on this plan's backend).
   * Each returned slot carries one reference to its storage, owned by the caller.
   */
  runSlots(inputs: readonly Slot[], bindings: Bindings): Slot[] {
    if (this.disposed) throw new KilnError('compile: this compiled plan was disposed', { op: 'compile' });
    const r = this.resolve(bindings);
    const slots = new Array<Slot | undefined>(this.slotCount);
    for (let i = 0; i < inputs.length; i++) slots[i] = inputs[i];
    const temps: Storage[] = [];
    for (const c of this.constants) slots[c.slot] = c.owned ?? this.liveSlot(c, temps);
    const backend = this.backend;
    const foldKey = `${r.key}|${this.constants.map((c) => (c.tensor ? `${c.tensor.storage === slots[c.slot]!.storage ? '' : 'x'}${c.tensor.version}` : '')).join(',')}`;
    if (foldKey !== this.foldKey) this.clearFolded(foldKey);
    let s = 0;
    try {
      for (; s < this.steps.length; s++) {
        const st = this.steps[s]!;
        const types = r.types[s]!;
        const ins = st.inputs.map((i) => slots[i]!);
        const cached = st.foldable ? this.folded.get(s) : undefined;
        if (cached) {
          cached.forEach((sl, k) => {
            sl.storage.refs++;
            slots[st.outputs[k]!] = sl;
          });
        } else if (st.kernel === null) {
          const src = ins[0]!;
          src.storage.refs++;
          slots[st.outputs[0]!] = { storage: src.storage, shape: types[0]!.shape, dtype: types[0]!.dtype };
        } else {
          let outs: Storage[];
          try {
            outs = st.kernel(ins, r.attrs[s]!, types);
          } catch (e) {
            if (e instanceof KilnError && !e.callSite) throw new KilnError(`${e.message} (in ${describeNode(st.node)})`, { op: st.node.op, callSite: st.node.source });
            throw e;
          }
          for (let k = 0; k < outs.length; k++) slots[st.outputs[k]!] = { storage: outs[k]!, shape: types[k]!.shape, dtype: types[k]!.dtype };
        }
        if (st.foldable && !cached) {
          const keep = st.outputs.map((o) => slots[o]!);
          for (const sl of keep) sl.storage.refs++; // the cache's own reference
          this.folded.set(s, keep);
        }
        for (const f of st.release) {
          const sl = slots[f]!;
          if (--sl.storage.refs === 0) backend.free(sl.storage);
          slots[f] = undefined;
        }
      }
    } catch (e) {
      // Free what this run still holds.
      for (let i = 0; i < this.slotCount; i++) {
        const sl = slots[i];
        if (sl && this.produced[i] && --sl.storage.refs === 0) backend.free(sl.storage);
      }
      for (const t of temps) if (--t.refs === 0) backend.free(t);
      throw e;
    }
    const given = new Set<number>();
    const outs = this.outputSlots.map((o) => {
      const sl = slots[o]!;
      // A node's result goes to the caller as is; inputs, constants and repeats get one more reference.
      if (!this.produced[o] || given.has(o)) sl.storage.refs++;
      given.add(o);
      return sl;
    });
    for (const t of temps) if (--t.refs === 0) backend.free(t);
    return outs;
  }

  /** Runs the kernels; returns the graph outputs as fresh tensors. */
  run(inputs: readonly Tensor[], bindings: Bindings): Tensor[] {
    for (const x of inputs) {
      if (x.disposed) throw new KilnError('compile: an input was disposed', { op: 'compile' });
      if (x.backend !== this.backend) throw new KilnError(`compile: an input lives on the '${x.backend.name}' backend, the plan runs on '${this.backend.name}'`, { op: 'compile' });
    }
    return this.runSlots(inputs, bindings).map((sl) => new Tensor(sl.storage, sl.shape, sl.dtype, this.backend));
  }

  /**
   * Runs the same nodes through eager dispatch, so autograd records the tape (compiled
   * training: gradients flow to the live parameters). Intermediates no gradient needs
   * are freed; outputs are fresh tensors.
   */
  runEager(inputs: readonly Tensor[], bindings: Bindings): Tensor[] {
    if (this.disposed) throw new KilnError('compile: this compiled plan was disposed', { op: 'compile' });
    const r = this.resolve(bindings);
    const env = new Array<Tensor | undefined>(this.slotCount);
    for (let i = 0; i < inputs.length; i++) env[i] = inputs[i];
    const wrappers = this.constantTensors();
    this.constants.forEach((c, i) => {
      const t = c.tensor ? this.liveTensor(c) : wrappers[i]!;
      if (t.backend !== this.backend) throw new KilnError(`compile: %${c.name} lives on the '${t.backend.name}' backend but the plan runs on '${this.backend.name}'; for training, compile with the target your parameters live on`, { op: 'compile' });
      env[c.slot] = t;
    });
    const saved = new Array<boolean>(this.slotCount).fill(false);
    for (let s = 0; s < this.steps.length; s++) {
      const st = this.steps[s]!;
      const ins = st.inputs.map((i) => env[i]!);
      const outs = execute(st.def, ins, r.attrs[s]!);
      // The tape keeps the inputs and outputs of ops that record a gradient.
      if (outs.some((o) => o.gradFn !== null)) {
        for (const i of st.inputs) saved[i] = true;
        for (const o of st.outputs) saved[o] = true;
      }
      outs.forEach((o, k) => { env[st.outputs[k]!] = o; });
    }
    const outputs = this.outputSlots.map((o) => {
      const t = env[o]!;
      if (this.produced[o]) return t;
      t.storage.refs++;
      return new Tensor(t.storage, t.shape, t.dtype, t.backend);
    });
    const keep = new Set(this.outputSlots);
    for (let i = 0; i < this.slotCount; i++) if (this.produced[i] && !saved[i] && !keep.has(i)) env[i]!.dispose();
    return outputs;
  }

  private constantTensors(): (Tensor | null)[] {
    if (!this.eagerConstants) {
      this.eagerConstants = this.constants.map((c) => {
        if (!c.owned) return null as unknown as Tensor;
        c.owned.storage.refs++;
        return new Tensor(c.owned.storage, c.owned.shape, c.owned.dtype, this.backend).keep();
      });
    }
    return this.eagerConstants;
  }

  private clearFolded(key: string): void {
    for (const outs of this.folded.values()) for (const sl of outs) if (--sl.storage.refs === 0) this.backend.free(sl.storage);
    this.folded = new Map();
    this.foldKey = key;
  }

  /** Frees the constants this plan uploaded. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clearFolded('');
    for (const t of this.eagerConstants ?? []) if (t) { t.keepAlive = false; t.dispose(); }
    for (const c of this.constants) if (c.owned && --c.owned.storage.refs === 0) this.backend.free(c.owned.storage);
  }
}
