import type { DType, TypedArray } from './dtype.js';
import type { Dim, SymDim } from './dims.js';
import type { AttrValue } from './opRegistry.js';
import { KilnError } from './errors.js';
import { describeNode, printGraph } from './printer.js';

/** Shape and dtype of an IR value; dims may be symbolic (`batch`). */
export interface ValueType {
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

/**
 * Attribute values in the IR: eager attrs, plus symbolic dims inside shapes
 * (`[batch, 784]`, `[[0, batch], [1, 2]]`). The interpreter substitutes the symbols'
 * values before an op runs.
 */
export type IrAttrValue = AttrValue | SymDim | readonly Dim[] | readonly (readonly Dim[])[];
export type IrAttrs = Readonly<Record<string, IrAttrValue>>;

/** An SSA value: a graph input, a constant, or one output of one node. */
export class Value {
  /** The node producing it (null for graph inputs and constants). */
  producer: Node | null = null;
  /** Which output of `producer` it is. */
  index = 0;

  constructor(
    /** Unique within its graph and the graphs nested in it; printed as `%name`. */
    public name: string,
    public type: ValueType,
  ) {}
}

/** One op application. `subgraphs` hold the bodies of control flow (`If`: then/else; `Loop`: body). */
export class Node {
  constructor(
    readonly op: string,
    public inputs: Value[],
    public outputs: Value[],
    public attrs: IrAttrs = {},
    /** The user's `file:line:col` that created it, when known. */
    public source?: string,
    public subgraphs: Graph[] = [],
  ) {
    outputs.forEach((v, i) => {
      v.producer = this;
      v.index = i;
    });
  }
}

/**
 * How a folded constant is computed from other constants of its graph: output `index`
 * of `op(inputs) {attrs}`. Passes fold a node whose inputs are all constants into such a
 * constant when some input may change between runs (a parameter read live): whoever
 * runs the graph recomputes it from the current values (the execution plan does so
 * once per change of its sources' storage), so no run sees a stale result.
 */
export interface FoldRecipe {
  readonly op: string;
  /** Constants of the same graph, declared before the folded one. */
  readonly inputs: Value[];
  readonly attrs: IrAttrs;
  readonly index: number;
}

/** A named constant (initializer): a model parameter baked in for inference, a literal. */
export interface Constant {
  readonly value: Value;
  readonly data: TypedArray;
  /** Set when the constant was folded from others that may change (see `FoldRecipe`); `data` then computes it from their current values. */
  readonly folded?: FoldRecipe;
  /**
   * Set for a constant read from a tensor at every run (a parameter): `data` reads its
   * current values, which a GPU backend can only give asynchronously, so checks that need
   * no values (the verifier) do not ask for them.
   */
  readonly live?: boolean;
}

/** One use of a value: input `index` of `node` (which may sit in a subgraph). */
export interface Use {
  readonly node: Node;
  readonly index: number;
}

/** Value names in use: one set per outermost graph, shared by its subgraphs. */
interface Namespace {
  readonly names: Set<string>;
  counter: number;
}

/**
 * A computation graph: inputs, named constants, nodes in topological order, outputs.
 * Build with `addInput`, `addConstant`, `addNode`, then set `outputs`.
 *
 * A subgraph (an `If` branch, a `Loop` body) is a `Graph` made with `new Graph(parent)`:
 * it shares the parent's value names, so names stay unique across the nesting (the
 * text form and the verifier rely on that), and its nodes may use the parent's values.
 *
 * @example
 * ```ts
 * const g = new Graph();
 * const x = g.addInput('x', { dtype: 'float32', shape: [sym('batch'), 4] });
 * const y = g.addNode('relu', [x], {}, [x.type]).outputs[0]!;
 * g.outputs = [y];
 * console.log(g.toString());
 * // graph(%x: float32[batch, 4]) {
 * //   %0: float32[batch, 4] = relu(%x)
 * //   return %0
 * // }
 * ```
 */
export class Graph {
  readonly inputs: Value[] = [];
  readonly constants = new Map<string, Constant>();
  readonly nodes: Node[] = [];
  outputs: Value[] = [];
  private readonly namespace: Namespace;

  /** `parent`: the graph this one is nested in (as a subgraph of one of its nodes). */
  constructor(parent?: Graph) {
    this.namespace = parent ? parent.namespace : { names: new Set(), counter: 0 };
  }

  /** A fresh value name: `hint` if unused, else `hint_1`, …; numbers when no hint. */
  freshName(hint?: string): string {
    const ns = this.namespace;
    if (hint && !ns.names.has(hint)) {
      ns.names.add(hint);
      return hint;
    }
    let name: string;
    do name = hint ? `${hint}_${ns.counter++}` : String(ns.counter++);
    while (ns.names.has(name));
    ns.names.add(name);
    return name;
  }

  /** Whether `name` is taken in this graph's namespace (shared with its parent and subgraphs). */
  hasName(name: string): boolean {
    return this.namespace.names.has(name);
  }

  /** Claims exactly `name` (the parser's way to keep the names of the text); false if taken. */
  reserveName(name: string): boolean {
    if (this.namespace.names.has(name)) return false;
    this.namespace.names.add(name);
    return true;
  }

  addInput(name: string, type: ValueType): Value {
    const v = new Value(this.freshName(name), type);
    this.inputs.push(v);
    return v;
  }

  addConstant(name: string, data: TypedArray, type: ValueType): Value {
    const v = new Value(this.freshName(name), type);
    this.constants.set(v.name, { value: v, data });
    return v;
  }

  /** Appends a node computing `outTypes` from `inputs`; returns it (its outputs are fresh values). */
  addNode(op: string, inputs: Value[], attrs: IrAttrs, outTypes: readonly ValueType[], source?: string, subgraphs: Graph[] = []): Node {
    const outs = outTypes.map((t) => new Value(this.freshName(), t));
    const node = new Node(op, inputs, outs, attrs, source, subgraphs);
    this.nodes.push(node);
    return node;
  }

  // ---- editing (what passes use) ------------------------------------------------------
  // Use-lists are computed on demand, by a walk over the nodes: graphs are built by
  // pushing nodes and assigning `inputs` in many places (tracer, parser, splitters), and a
  // maintained list would go stale behind their backs. Passes that need many lookups
  // build a map once per sweep (see `useCounts` in src/passes).

  /** The node inputs that read `v`, in this graph and the subgraphs nested in it, in order. */
  uses(v: Value): Use[] {
    const out: Use[] = [];
    const visit = (g: Graph): void => {
      for (const node of g.nodes) {
        node.inputs.forEach((u, index) => { if (u === v) out.push({ node, index }); });
        for (const s of node.subgraphs) visit(s);
      }
    };
    visit(this);
    return out;
  }

  /** Whether anything reads `v`: a node (subgraphs included), an output of this graph or of a subgraph, a folded constant's recipe. */
  isUsed(v: Value): boolean {
    const visit = (g: Graph): boolean => {
      if (g.outputs.includes(v)) return true;
      for (const c of g.constants.values()) if (c.folded?.inputs.includes(v)) return true;
      for (const node of g.nodes) {
        if (node.inputs.includes(v)) return true;
        for (const s of node.subgraphs) if (visit(s)) return true;
      }
      return false;
    };
    return visit(this);
  }

  /**
   * Makes every reader of `old` read `replacement` instead: node inputs (subgraphs
   * included), the outputs of this graph and of its subgraphs, folded constants'
   * recipes. Returns how many places changed. The types should agree (the verifier
   * reports a node whose inputs no longer fit its op). `except`: a node left reading
   * `old` (typically the one just inserted to compute `replacement` from it).
   *
   * @example
   * ```ts
   * // y = x * 1  →  y's readers read x
   * g.replaceAllUsesWith(mulNode.outputs[0]!, x);
   * g.erase(mulNode);
   * // h → tanh(h) for every reader of h but the tanh itself
   * const t = g.insertBefore(next, 'tanh', [h], {}, [h.type]);
   * g.replaceAllUsesWith(h, t.outputs[0]!, t);
   * ```
   */
  replaceAllUsesWith(old: Value, replacement: Value, except?: Node): number {
    if (old === replacement) return 0;
    let n = 0;
    const visit = (g: Graph): void => {
      g.outputs = g.outputs.map((v) => (v === old ? (n++, replacement) : v));
      for (const c of g.constants.values()) {
        const ins = c.folded?.inputs;
        if (ins) for (let i = 0; i < ins.length; i++) if (ins[i] === old) { ins[i] = replacement; n++; }
      }
      for (const node of g.nodes) {
        if (node !== except) for (let i = 0; i < node.inputs.length; i++) if (node.inputs[i] === old) { node.inputs[i] = replacement; n++; }
        for (const s of node.subgraphs) visit(s);
      }
    };
    visit(this);
    return n;
  }

  /**
   * Inserts a node computing `outTypes` from `inputs` right before `anchor` (a node of
   * this graph; null appends); returns it. Its inputs must be defined before `anchor`.
   *
   * @example
   * ```ts
   * const t = g.insertBefore(matmul, 'transpose', [w], { perm: [1, 0] }, [{ dtype: 'float32', shape: [4, 3] }]);
   * ```
   */
  insertBefore(anchor: Node | null, op: string, inputs: Value[], attrs: IrAttrs, outTypes: readonly ValueType[], source?: string): Node {
    const at = anchor === null ? this.nodes.length : this.nodes.indexOf(anchor);
    if (at < 0) throw new KilnError(`insertBefore: ${describeNode(anchor!)} is not a node of this graph`);
    const outs = outTypes.map((t) => new Value(this.freshName(), t));
    const node = new Node(op, inputs, outs, attrs, source);
    this.nodes.splice(at, 0, node);
    return node;
  }

  /**
   * Removes `node` from this graph. Refuses (a `KilnError` naming the reader) while one
   * of its outputs is still used: replace the uses first.
   */
  erase(node: Node): void {
    const at = this.nodes.indexOf(node);
    if (at < 0) throw new KilnError(`erase: ${describeNode(node)} is not a node of this graph`);
    for (const v of node.outputs) {
      if (this.isUsed(v)) throw new KilnError(`erase: ${describeNode(node)} cannot go, its output %${v.name} is still used${this.outputs.includes(v) ? ' (a graph output)' : ''}`);
    }
    this.nodes.splice(at, 1);
  }

  /** Removes an unused constant; refuses (a `KilnError`) while something reads it. */
  removeConstant(v: Value): void {
    const c = this.constants.get(v.name);
    if (!c || c.value !== v) throw new KilnError(`removeConstant: %${v.name} is not a constant of this graph`);
    if (this.isUsed(v)) throw new KilnError(`removeConstant: %${v.name} is still used`);
    this.constants.delete(v.name);
  }

  /**
   * Adds a folded constant (see `FoldRecipe`): `compute` gives its data from the current
   * values of the recipe's inputs, each time it is read.
   */
  addFoldedConstant(name: string, type: ValueType, recipe: FoldRecipe, compute: () => TypedArray): Value {
    const v = new Value(this.freshName(name), type);
    this.constants.set(v.name, { value: v, folded: recipe, get data() { return compute(); } });
    return v;
  }

  /**
   * A deep copy with the same value names: new nodes and values, the same attribute
   * objects and constant data (a live constant stays live: its data is read through
   * the original). Passes edit a copy so that the traced graph stays as traced.
   */
  clone(): Graph {
    const map = new Map<Value, Value>();
    const get = (v: Value): Value => map.get(v) ?? v; // a value from outside (none for a root graph)
    const copyInto = (src: Graph, dst: Graph): void => {
      for (const v of src.inputs) {
        dst.reserveName(v.name);
        const m = new Value(v.name, v.type);
        dst.inputs.push(m);
        map.set(v, m);
      }
      for (const c of src.constants.values()) {
        dst.reserveName(c.value.name);
        const m = new Value(c.value.name, c.value.type);
        map.set(c.value, m);
        const folded = c.folded ? { ...c.folded, inputs: c.folded.inputs.map(get) } : undefined;
        dst.constants.set(m.name, folded ? { value: m, folded, get data() { return c.data; } } : { value: m, ...(c.live ? { live: true } : {}), get data() { return c.data; } });
      }
      for (const n of src.nodes) {
        const subs = n.subgraphs.map((s) => {
          const g = new Graph(dst);
          copyInto(s, g);
          return g;
        });
        const outs = n.outputs.map((v) => {
          dst.reserveName(v.name);
          const m = new Value(v.name, v.type);
          map.set(v, m);
          return m;
        });
        dst.nodes.push(new Node(n.op, n.inputs.map(get), outs, n.attrs, n.source, subs));
      }
      dst.outputs = src.outputs.map(get);
    };
    const g = new Graph();
    copyInto(this, g);
    // Keep numbering after the original's: fresh names made later stay distinct from its.
    g.namespace.counter = this.namespace.counter;
    return g;
  }

  /** The text form (see `printGraph`); `parseGraph` reads it back. */
  toString(): string {
    return printGraph(this);
  }
}
