// What an op's ONNX mapping (exportOps.ts) writes into: the node list of the graph being
// built (the main graph or an If branch), initializers, fresh names, int64 shape
// tensors, and the values of symbolic dims read from the graph inputs at run time.
import { formatDim, KilnError, type Dim, type DType, type Graph, type Node, type SymDim, type TypedArray, type Value, type ValueType } from '../ir/index.js';
import { int64TensorProto, onnx, onnxDataTypeOf, tensorProto, type IAttributeProto, type IGraphProto, type INodeProto, type ITensorProto, type IValueInfoProto } from './proto.js';

/** An ONNX attribute value, tagged with its ONNX type. */
export type OnnxAttr =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly s: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly strings: readonly string[] }
  | { readonly g: IGraphProto };

const T = onnx.AttributeProto.AttributeType;

function attributeProto(name: string, a: OnnxAttr): IAttributeProto {
  if ('i' in a) return { name, type: T.INT, i: a.i };
  if ('f' in a) return { name, type: T.FLOAT, f: a.f };
  if ('s' in a) return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
  if ('ints' in a) return { name, type: T.INTS, ints: [...a.ints] };
  if ('floats' in a) return { name, type: T.FLOATS, floats: [...a.floats] };
  if ('strings' in a) return { name, type: T.STRINGS, strings: a.strings.map((s) => new TextEncoder().encode(s)) };
  return { name, type: T.GRAPH, g: a.g };
}

/** ONNX `ValueInfoProto` of a Kiln value type: symbolic dims become `dim_param` (`batch`, `2*batch+1`). */
export function valueInfo(name: string, type: ValueType, withShape = true): IValueInfoProto {
  const tensorType: { elemType: number; shape?: { dim: { dimValue?: number; dimParam?: string }[] } } = { elemType: onnxDataTypeOf(type.dtype) };
  if (withShape) tensorType.shape = { dim: type.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: formatDim(d) })) };
  return { name, type: { tensorType } };
}

/** The state of one export (shared by the main graph and its branches). */
export class ExportContext {
  readonly initializers: ITensorProto[] = [];
  /** Nodes of the graph being written; `root` is the main graph's. */
  private readonly root: INodeProto[] = [];
  private current: INodeProto[] = this.root;
  private readonly used = new Set<string>();
  private readonly emittedConstants = new Set<Value>();
  private readonly symbols = new Map<string, string>();
  private readonly names = new Map<Value, string>();
  /** The Kiln node being mapped: its source line becomes each ONNX node's doc_string. */
  node: Node | null = null;

  constructor(
    readonly opset: number,
    private readonly graph: Graph,
    /** Where each symbol's value can be read at run time: a graph input's ONNX name and axis. */
    private readonly symbolSources: ReadonlyMap<string, { readonly input: string; readonly axis: number; readonly dim: SymDim }>,
  ) {
    const claim = (g: Graph): void => {
      for (const v of g.inputs) this.used.add(v.name);
      for (const n of g.nodes) {
        for (const v of n.outputs) this.used.add(v.name);
        for (const s of n.subgraphs) claim(s);
      }
    };
    claim(graph);
    for (const name of graph.constants.keys()) this.used.add(name);
  }

  /** The main graph's nodes, in order. */
  get nodes(): INodeProto[] {
    return this.root;
  }

  /** A name no Kiln value and no earlier fresh name has. */
  fresh(hint: string): string {
    let name = hint;
    for (let k = 1; this.used.has(name); k++) name = `${hint}_${k}`;
    this.used.add(name);
    return name;
  }

  /** Gives `v` the ONNX name `name` (graph outputs named by the user). */
  rename(v: Value, name: string): void {
    this.names.set(v, name);
    this.used.add(name);
  }

  /** The ONNX name of `v`; a constant becomes an initializer on first use. */
  name(v: Value): string {
    const c = this.graph.constants.get(v.name);
    if (c && c.value === v && !this.emittedConstants.has(v)) {
      this.emittedConstants.add(v);
      this.initializers.push(tensorProto(v.name, v.type.dtype, staticShape(v.type.shape, v.name), c.data));
    }
    return this.names.get(v) ?? v.name;
  }

  /** The data of `v` when it is a constant of the graph (weights), else null. */
  constantData(v: Value): TypedArray | null {
    const c = this.graph.constants.get(v.name);
    return c && c.value === v ? c.data : null;
  }

  /** ONNX name of input `i` of the current node ('' for an absent optional input). */
  in(i: number): string {
    const v = this.current_().inputs[i];
    return v ? this.name(v) : '';
  }

  /** ONNX name of output `i` of the current node. */
  out(i: number): string {
    return this.name(this.current_().outputs[i]!);
  }

  private current_(): Node {
    if (!this.node) throw new Error('ExportContext: no current node');
    return this.node;
  }

  /**
   * Appends an ONNX node: `outputs` are names, or a count of fresh names. Returns the
   * output names.
   */
  emit(op: string, inputs: readonly string[], outputs: readonly string[] | number = 1, attrs: Readonly<Record<string, OnnxAttr>> = {}, into: INodeProto[] = this.current): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(`${op}_out`)) : [...outputs];
    // Trailing absent optional inputs are dropped (ONNX accepts '' only in the middle).
    const ins = [...inputs];
    while (ins.length && ins[ins.length - 1] === '') ins.pop();
    const proto: INodeProto = {
      opType: op,
      input: ins,
      output: outs,
      name: this.fresh(`${op}_${this.root.length + this.current.length}`),
      attribute: Object.entries(attrs).map(([k, a]) => attributeProto(k, a)),
    };
    const src = this.node?.source;
    if (src) proto.docString = src;
    into.push(proto);
    return outs;
  }

  /** An int64 initializer (shape and index operands); 1-D unless `shape` says otherwise. */
  int64(values: readonly number[], shape: readonly number[] = [values.length], hint = 'i64'): string {
    const name = this.fresh(hint);
    this.initializers.push(int64TensorProto(name, shape, values));
    return name;
  }

  /** A 0-d initializer of `dtype` (operands of decompositions: eps, 1). */
  scalar(value: number, dtype: DType, hint = 'k'): string {
    const name = this.fresh(hint);
    const data = dtype === 'float64' ? new Float64Array([value]) : dtype === 'int32' ? new Int32Array([value]) : dtype === 'bool' ? new Uint8Array([value ? 1 : 0]) : new Float32Array([value]);
    this.initializers.push(tensorProto(name, dtype, [], data));
    return name;
  }

  /** An initializer holding `data` (reordered weights). */
  tensor(hint: string, dtype: DType, shape: readonly number[], data: TypedArray): string {
    const name = this.fresh(hint);
    this.initializers.push(tensorProto(name, dtype, shape, data));
    return name;
  }

  /** `x` cast from `from` to `to` (itself when they agree). */
  cast(x: string, from: DType, to: DType): string {
    if (from === to) return x;
    return this.emit('Cast', [x], 1, { to: { i: onnxDataTypeOf(to) } })[0]!;
  }

  /**
   * A 1-D int64 tensor holding `dims`: an initializer when all are numbers, else built at
   * run time from the graph inputs' shapes (Shape → Gather, scaled and offset).
   */
  shapeTensor(dims: readonly Dim[]): string {
    if (dims.every((d) => typeof d === 'number')) return this.int64(dims as number[], [dims.length], 'shape');
    const parts = dims.map((d) => (typeof d === 'number' ? this.int64([d], [1], 'dim') : this.dimValue(d)));
    return this.emit('Concat', parts, 1, { axis: { i: 0 } })[0]!;
  }

  /** int64 [1] holding the value of a symbolic dim at run time. */
  dimValue(d: SymDim): string {
    const key = formatDim(d);
    const known = this.symbols.get(key);
    if (known) return known;
    const src = this.symbolSources.get(d.sym);
    if (!src) throw new KilnError(`symbolic dim ${key} does not appear in any graph input, so the exported graph cannot compute it`, { op: 'onnx.exportModel' });
    // Emitted into the main graph (it depends on graph inputs only), so branches share it.
    const shape = this.emit('Shape', [src.input], 1, {}, this.root)[0]!;
    let v = this.emit('Gather', [shape, this.int64([src.axis], [1], 'axis')], 1, { axis: { i: 0 } }, this.root)[0]!;
    // The input's dim is coef·sym + offset: solve for sym, then form this dim.
    if (src.dim.offset !== 0) v = this.emit('Sub', [v, this.int64([src.dim.offset], [1])], 1, {}, this.root)[0]!;
    if (src.dim.coef !== 1) v = this.emit('Div', [v, this.int64([src.dim.coef], [1])], 1, {}, this.root)[0]!;
    if (d.coef !== 1) v = this.emit('Mul', [v, this.int64([d.coef], [1])], 1, {}, this.root)[0]!;
    if (d.offset !== 0) v = this.emit('Add', [v, this.int64([d.offset], [1])], 1, {}, this.root)[0]!;
    this.symbols.set(key, v);
    return v;
  }

  /**
   * Writes the nodes `write` emits into a fresh list (an If branch's body) and returns
   * them; the previous list is current again afterwards.
   */
  inSubgraph(write: () => void): INodeProto[] {
    const saved = this.current, savedNode = this.node;
    const nodes: INodeProto[] = [];
    this.current = nodes;
    try {
      write();
    } finally {
      this.current = saved;
      this.node = savedNode;
    }
    return nodes;
  }

  /** A KilnError for the current node: names the op and the user's line. */
  fail(why: string): KilnError {
    const n = this.node;
    return new KilnError(`cannot export ${n ? `op '${n.op}'` : 'the graph'} to ONNX (opset ${this.opset}): ${why}`, { op: 'onnx.exportModel', ...(n?.source ? { callSite: n.source } : {}) });
  }
}

/** A shape that must be static (an initializer's). */
export function staticShape(shape: readonly Dim[], what: string): number[] {
  return shape.map((d) => {
    if (typeof d !== 'number') throw new KilnError(`constant '${what}' has a symbolic dim ${formatDim(d)}; initializers need static shapes`, { op: 'onnx.exportModel' });
    return d;
  });
}
