import type { DType, TypedArray } from './dtype.js';
import type { Dim, SymDim } from './dims.js';
import type { AttrValue } from './opRegistry.js';

/** Shape and dtype of an IR value; dims may be symbolic (`batch`). */
export interface ValueType {
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

/** Attribute values in the IR: eager attrs, plus symbolic dims inside shapes (`[batch, 784]`). */
export type IrAttrValue = AttrValue | SymDim | readonly Dim[];
export type IrAttrs = Readonly<Record<string, IrAttrValue>>;

/** An SSA value: a graph input, a constant, or one output of one node. */
export class Value {
  /** The node producing it (null for graph inputs and constants). */
  producer: Node | null = null;
  /** Which output of `producer` it is. */
  index = 0;

  constructor(
    /** Unique within its graph; printed as `%name`. */
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

/**
 * A computation graph: inputs, named constants, nodes in topological order, outputs.
 * Build with `addInput`, `addConstant`, `addNode`, then set `outputs`.
 */
export class Graph {
  readonly inputs: Value[] = [];
  readonly constants = new Map<string, Constant>();
  readonly nodes: Node[] = [];
  outputs: Value[] = [];
  private counter = 0;
  private readonly names = new Set<string>();

  /** A fresh value name: `hint` if unused, else `hint_1`, …; numbers when no hint. */
  freshName(hint?: string): string {
    if (hint && !this.names.has(hint)) {
      this.names.add(hint);
      return hint;
    }
    let name: string;
    do name = hint ? `${hint}_${this.counter++}` : String(this.counter++);
    while (this.names.has(name));
    this.names.add(name);
    return name;
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
}
