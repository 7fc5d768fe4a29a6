// Running a function with graph breaks, after its first call: the user's code runs
// again, but ops only record (lazy tensors, LazyTensor style) until a value is read.
// Then the pending segment is looked up by its structure in a cache of compiled
// segments (compiled on a miss), run, and the lazy tensors it produced get their
// elements; the code continues with real values (the eager glue), and so on.
import { Graph, KilnError, userCallSite, type Attrs, type OpDef, type TensorType, type Value } from '../ir/index.js';
import { drawsFor } from '../ops/random.js';
import type { Backend } from '../runtime/backend.js';
import { engine, type RandomKind, type TraceHook } from '../eager/engine.js';
import { attachGrad, checkInputs, inferTypes } from '../eager/dispatch.js';
import { isPending, materialize, pendingTensor, Tensor } from '../eager/tensor.js';
import { keyTensor, nextStream } from '../eager/creation.js';
import { ExecutionPlan, type Slot } from './executionPlan.js';

interface PendingNode {
  readonly def: OpDef;
  readonly inputs: readonly number[];
  readonly attrs: Attrs;
  readonly outputs: readonly number[];
}

/** A value of the pending segment: an external tensor (input) or a node result, with the lazy tensors that stand for it. */
interface PendingValue {
  readonly type: TensorType;
  readonly external: Tensor | null;
  readonly tensors: Tensor[];
}

/** Compiled segments by structure, shared by the calls of one compiled model. */
export class SegmentCache {
  private readonly plans = new Map<string, ExecutionPlan>();
  /** Segments compiled (cache misses) and run. */
  compiled = 0;
  runs = 0;

  constructor(private readonly capacity = 64) {}

  get size(): number {
    return this.plans.size;
  }

  get(key: string, build: () => ExecutionPlan): ExecutionPlan {
    let plan = this.plans.get(key);
    if (!plan) {
      plan = build();
      this.compiled++;
      if (this.plans.size >= this.capacity) {
        // Oldest first: structures that stopped recurring.
        const [oldKey, old] = this.plans.entries().next().value as [string, ExecutionPlan];
        this.plans.delete(oldKey);
        old.dispose();
      }
      this.plans.set(key, plan);
    }
    this.runs++;
    return plan;
  }

  dispose(): void {
    for (const p of this.plans.values()) p.dispose();
    this.plans.clear();
  }
}

function attrText(attrs: Attrs): string {
  return JSON.stringify(attrs, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

/**
 * The lazy tracer for one call. Install with `run(fn)`; every value the code reads is
 * computed by a compiled segment, and results match eager's (the same kernels run).
 */
export class LazyTracer implements TraceHook {
  private values: PendingValue[] = [];
  private nodes: PendingNode[] = [];
  private ids = new Map<Tensor, number>();
  private mutations: { target: Tensor; value: number }[] = [];
  private key: string[] = [];
  /** External tensors that a pending alias node (reshape) or view reads: writing into them must flush first. */
  private viewed = new Set<Tensor>();

  /** The backend of the pending segment's tensors (a segment runs on one backend). */
  private backend: Backend | null = null;

  constructor(private readonly cache: SegmentCache) {}

  /** Runs `fn` lazily; everything still pending at the end is computed before returning. */
  call<R>(fn: () => R): R {
    if (engine.tracer !== null) throw new KilnError('compile: a trace is already running', { op: 'compile' });
    engine.tracer = this;
    let result: R;
    try {
      result = fn();
      this.flush();
    } catch (e) {
      try {
        this.flush();
      } catch {
        this.abandon();
      }
      throw e;
    } finally {
      engine.tracer = null;
    }
    return result;
  }

  private idOf(t: Tensor): number {
    const id = this.ids.get(t);
    if (id !== undefined) return id;
    if (isPending(t.storage)) throw new KilnError('compile: a lazy tensor was used outside its compiled call', { op: 'compile' });
    // Held until the segment ran, even if the code disposes it meanwhile.
    t.storage.refs++;
    const v = this.values.length;
    this.values.push({ type: { dtype: t.dtype, shape: t.shape }, external: t, tensors: [] });
    this.ids.set(t, v);
    this.key.push(`e${v}:${t.dtype}[${t.shape.join(',')}]`);
    return v;
  }

  run(def: OpDef, inputs: readonly Tensor[], attrs: Attrs): Tensor[] {
    const needsGrad = checkInputs(def, inputs);
    const types = inferTypes(def, inputs, attrs);
    const backend = inputs[0]!.backend;
    if (this.backend !== backend) {
      this.flush();
      this.backend = backend;
    }
    const ins = inputs.map((x) => this.idOf(x));
    if (def.alias) for (const x of inputs) if (!isPending(x.storage)) this.viewed.add(x);
    const outs = types.map((t) => pendingTensor(t.shape, t.dtype, backend));
    const outIds = outs.map((o, k) => {
      const v = this.values.length;
      this.values.push({ type: types[k]!, external: null, tensors: [o] });
      this.ids.set(o, v);
      return v;
    });
    this.nodes.push({ def, inputs: ins, attrs, outputs: outIds });
    this.key.push(`${def.name}(${ins.join(',')})${attrText(attrs)}`);
    // Lazy tensors are on the tape like eager ones: backward runs on them once they are computed.
    if (needsGrad && engine.gradEnabled && def.grad) attachGrad(def, inputs, outs, attrs);
    return outs;
  }

  /** Computes the pending segment now. */
  flush(): void {
    if (this.nodes.length === 0 && this.mutations.length === 0) {
      this.release();
      return;
    }
    const outputs: number[] = [];
    for (let v = 0; v < this.values.length; v++) {
      const pv = this.values[v]!;
      if (!pv.external && pv.tensors.some((t) => !t.disposed)) outputs.push(v);
    }
    const writes = this.mutations.map((m) => m.value);
    const backend = this.backend!;
    const key = `${backend.name}|${this.key.join(';')}|out:${outputs.join(',')}|write:${writes.join(',')}`;
    const externals = this.values.map((pv, i) => [pv, i] as const).filter(([pv]) => pv.external !== null);
    const plan = this.cache.get(key, () => this.buildPlan(backend, externals.map(([, i]) => i), [...outputs, ...writes]));
    const inputs: Slot[] = externals.map(([pv]) => pv.external!);
    const prev = engine.tracer;
    engine.tracer = null;
    let results: Slot[];
    try {
      results = plan.runSlots(inputs, new Map());
    } finally {
      engine.tracer = prev;
    }
    outputs.forEach((v, k) => {
      const sl = results[k]!;
      let first = true;
      for (const t of this.values[v]!.tensors) {
        if (t.disposed) continue;
        if (!first) sl.storage.refs++;
        first = false;
        materialize(t, sl.storage);
      }
      if (first && --sl.storage.refs === 0) backend.free(sl.storage);
    });
    this.mutations.forEach((m, k) => {
      const sl = results[outputs.length + k]!;
      if (sl.storage !== m.target.storage) backend.copy(sl.storage, m.target.storage);
      if (--sl.storage.refs === 0) backend.free(sl.storage);
    });
    this.release();
  }

  private buildPlan(backend: Backend, externalIds: readonly number[], outputIds: readonly number[]): ExecutionPlan {
    const g = new Graph();
    const val = new Map<number, Value>();
    externalIds.forEach((id) => {
      const t = this.values[id]!.type;
      val.set(id, g.addInput(`e${id}`, { dtype: t.dtype, shape: [...t.shape] }));
    });
    for (const n of this.nodes) {
      const node = g.addNode(n.def.name, n.inputs.map((i) => val.get(i)!), n.attrs, n.outputs.map((o) => ({ dtype: this.values[o]!.type.dtype, shape: [...this.values[o]!.type.shape] })));
      n.outputs.forEach((o, k) => val.set(o, node.outputs[k]!));
    }
    g.outputs = outputIds.map((o) => val.get(o)!);
    return new ExecutionPlan(g, backend, new Map());
  }

  /** Drops the segment's bookkeeping and the references held on external tensors. */
  private release(): void {
    for (const pv of this.values) {
      const t = pv.external;
      if (t && --t.storage.refs === 0) t.backend.free(t.storage);
    }
    this.values = [];
    this.nodes = [];
    this.ids = new Map();
    this.mutations = [];
    this.key = [];
    this.viewed = new Set();
    this.backend = null;
  }

  /** After an error: lazy tensors that will never be computed are marked disposed. */
  private abandon(): void {
    for (const pv of this.values) for (const t of pv.tensors) if (!t.disposed) t.dispose();
    this.release();
  }

  // ---- TraceHook -------------------------------------------------------------------

  read(t: Tensor, _what: string): void {
    if (this.nodes.length || this.mutations.length || isPending(t.storage)) this.flush();
  }

  coerce(_t: Tensor, hint: string): never {
    throw new KilnError(`a tensor was used as a ${hint === 'number' ? 'number' : 'primitive value'} (as in \`x > 0\`) inside a compiled function; read it with .item()`, { op: 'compile', callSite: userCallSite() });
  }

  copyInto(target: Tensor, value: Tensor): boolean {
    // Writing into a lazy tensor, or into one a pending view reads: compute first, then copy eagerly.
    if (isPending(target.storage) || this.viewed.has(target) || (this.backend !== null && target.backend !== this.backend)) {
      this.flush();
      return false;
    }
    if (this.nodes.length === 0 && this.mutations.length === 0 && !isPending(value.storage)) return false;
    this.backend ??= target.backend;
    const v = this.idOf(value);
    const prev = this.mutations.findIndex((m) => m.target === target);
    if (prev >= 0) this.mutations.splice(prev, 1);
    this.mutations.push({ target, value: v });
    this.ids.set(target, v);
    return true;
  }

  alias(src: Tensor, out: Tensor): void {
    const id = this.ids.get(src);
    if (id === undefined) return; // a real tensor: the alias shares its real elements
    this.ids.set(out, id);
    const pv = this.values[id]!;
    if (!pv.external && isPending(src.storage)) pv.tensors.push(out);
  }

  randomKey(backend: Backend, numel: number, kind: RandomKind, seed: number | undefined): Tensor {
    return keyTensor(backend, nextStream(drawsFor(kind, numel), seed));
  }
}
