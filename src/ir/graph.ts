import type { DType, TypedArray } from './dtype.js';
import type { Dim, SymDim } from './dims.js';
import type { AttrValue } from './opRegistry.js';
import { printGraph } from './printer.js';

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

/** A named constant (initializer): a model parameter baked in for inference, a literal. */
export interface Constant {
  readonly value: Value;
  readonly data: TypedArray;
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

  /** The text form (see `printGraph`); `parseGraph` reads it back. */
  toString(): string {
    return printGraph(this);
  }
}
