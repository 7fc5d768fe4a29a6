// Running a function with graph breaks, after its first call: the user's code runs
// again, but ops only record (lazy tensors, LazyTensor style) into an IR graph until a
// value is read. Then the pending segment's graph is looked up by its structure in the
// compiled model's segment cache (lowered like any graph on a miss: verified, then
// compiled), run, and the lazy tensors it produced get their elements; the code
// continues with real values (the eager glue), and so on.
import { captureCallSite, Graph, KilnError, userCallSite, type Attrs, type OpDef, type Value } from '../ir/index.js';
import { drawsFor } from '../ops/random.js';
import type { Backend } from '../runtime/backend.js';
import { engine, type RandomKind, type TraceHook } from '../eager/engine.js';
import { attachGrad, checkInputs, inferTypes } from '../eager/dispatch.js';
import { isPending, materialize, pendingTensor, Tensor } from '../eager/tensor.js';
import { keyTensor, nextStream } from '../eager/creation.js';
import type { Slot } from './executionPlan.js';
import { recordNode } from './recordNode.js';
import { nodeStructure, segmentEnd, type Prefix, type SegmentCache } from './segmentCache.js';

/**
 * The lazy tracer for one call. Install with `call(fn)`; every value the code reads is
 * computed by a compiled segment, and results match eager's (the same kernels run).
 */
export class LazyTracer implements TraceHook {
  /** The pending segment: its inputs are the real tensors it reads (`externals`, in order). */
  private graph = new Graph();
  private externals: Tensor[] = [];
  /** The graph value each tensor of the call stands for (lazy results, real inputs, aliases). */
  private values = new Map<Tensor, Value>();
  /** The lazy tensors standing for each node output (several after `detach()`-like aliases). */
  private lazy = new Map<Value, Tensor[]>();
  /** The structure of each node (the segment's cache key; see `nodeStructure`). */
  private structure: string[] = [];
  /** Graph inputs made since the last node: they enter the next node's structure. */
  private newInputs: Value[] = [];
  /**
   * Where the recording stands among the cached segments' node sequences: while on a
   * cached path, the nodes' source lines are known; after leaving it, each op captures
   * the stack, and the lines are found only if the segment is compiled (a cache miss).
   */
  private prefix: Prefix | null;
  private sites: (() => string | undefined)[] = [];
  private mutations: { target: Tensor; value: Value }[] = [];
  /** External tensors that a pending alias node (reshape) or view reads: writing into them must flush first. */
  private viewed = new Set<Tensor>();

  /** The backend of the pending segment's tensors (a segment runs on one backend). */
  private backend: Backend | null = null;

  constructor(private readonly cache: SegmentCache) {
    this.prefix = cache.start();
  }

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

  private valueOf(t: Tensor): Value {
    const known = this.values.get(t);
    if (known !== undefined) return known;
    if (isPending(t.storage)) throw new KilnError('compile: a lazy tensor was used outside its compiled call', { op: 'compile' });
    // Held until the segment ran, even if the code disposes it meanwhile.
    t.storage.refs++;
    const v = this.graph.addInput('e', { dtype: t.dtype, shape: [...t.shape] });
    this.externals.push(t);
    this.newInputs.push(v);
    this.values.set(t, v);
    return v;
  }

  private get pending(): boolean {
    return this.graph.nodes.length > 0 || this.mutations.length > 0;
  }

  run(def: OpDef, inputs: readonly Tensor[], attrs: Attrs): Tensor[] {
    const needsGrad = checkInputs(def, inputs);
    const types = inferTypes(def, inputs, attrs);
    const backend = inputs[0]!.backend;
    if (this.backend !== backend) {
      this.flush();
      this.backend = backend;
    }
    const ins = inputs.map((x) => this.valueOf(x));
    if (def.alias) for (const x of inputs) if (!isPending(x.storage)) this.viewed.add(x);
    const outs = types.map((t) => pendingTensor(t.shape, t.dtype, backend));
    const node = recordNode(this.graph, def.name, ins, attrs, types, undefined);
    const structure = nodeStructure(node, this.newInputs);
    this.newInputs = [];
    this.structure.push(structure);
    this.prefix = this.cache.step(this.prefix, structure);
    if (this.prefix) {
      const known = this.prefix.source;
      this.sites.push(() => known);
    } else {
      this.sites.push(captureCallSite());
    }
    outs.forEach((o, k) => {
      const v = node.outputs[k]!;
      this.values.set(o, v);
      this.lazy.set(v, [o]);
    });
    // Lazy tensors are on the tape like eager ones: backward runs on them once they are computed.
    if (needsGrad && engine.gradEnabled && def.grad) attachGrad(def, inputs, outs, attrs);
    return outs;
  }

  /** Computes the pending segment now. */
  flush(): void {
    if (!this.pending) {
      this.release();
      return;
    }
    const g = this.graph;
    // Results some lazy tensor still stands for, then the values written into real tensors.
    const outputs: Value[] = [];
    for (const n of g.nodes) for (const v of n.outputs) if (this.lazy.get(v)!.some((t) => !t.disposed)) outputs.push(v);
    g.outputs = [...outputs, ...this.mutations.map((m) => m.value)];
    const backend = this.backend!;
    const sites = this.sites;
    const end = segmentEnd(g, this.newInputs, backend);
    const { plan } = this.cache.get(g, this.prefix, this.structure, end, backend, () => g.nodes.forEach((n, i) => { n.source = sites[i]!(); }));
    const inputs: Slot[] = this.externals;
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
      for (const t of this.lazy.get(v)!) {
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

  /** Drops the segment's bookkeeping and the references held on external tensors. */
  private release(): void {
    for (const t of this.externals) if (--t.storage.refs === 0) t.backend.free(t.storage);
    this.graph = new Graph();
    this.externals = [];
    this.values = new Map();
    this.lazy = new Map();
    this.structure = [];
    this.newInputs = [];
    this.prefix = this.cache.start();
    this.sites = [];
    this.mutations = [];
    this.viewed = new Set();
    this.backend = null;
  }

  /** After an error: lazy tensors that will never be computed are marked disposed. */
  private abandon(): void {
    for (const ts of this.lazy.values()) for (const t of ts) if (!t.disposed) t.dispose();
    this.release();
  }

  // ---- TraceHook -------------------------------------------------------------------

  read(t: Tensor, _what: string): void {
    if (this.pending || isPending(t.storage)) this.flush();
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
    if (!this.pending && !isPending(value.storage)) return false;
    this.backend ??= target.backend;
    const v = this.valueOf(value);
    const prev = this.mutations.findIndex((m) => m.target === target);
    if (prev >= 0) this.mutations.splice(prev, 1);
    this.mutations.push({ target, value: v });
    this.values.set(target, v);
    return true;
  }

  alias(src: Tensor, out: Tensor): void {
    const v = this.values.get(src);
    if (v === undefined) return; // a real tensor: the alias shares its real elements
    this.values.set(out, v);
    const lazy = this.lazy.get(v);
    if (lazy && isPending(src.storage)) lazy.push(out);
  }

  randomKey(backend: Backend, numel: number, kind: RandomKind, seed: number | undefined): Tensor {
    return keyTensor(backend, nextStream(drawsFor(kind, numel), seed));
  }
}
