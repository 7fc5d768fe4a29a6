/**
 * The reference interpreter: runs any graph, one node at a time, through an executor
 * the caller supplies (the compile side passes eager's `applyOp`, so `ir` needs no
 * eager import). It is the semantic truth that optimized graphs are compared against.
 */
import type { Bindings } from './dims.js';
import { arrayFor, sizeOf, type DType, type TensorType, type TypedArray } from './dtype.js';
import { formatShape, KilnError } from './errors.js';
import type { Attrs } from './opRegistry.js';
import type { Constant, Graph, Node, Value } from './graph.js';
import { bindShape, concreteAttrs, concreteType, evalShape } from './bindings.js';
import { IF_OP, LOOP_OP, loopInputs } from './controlFlow.js';
import { describeNode, formatValueName } from './printer.js';
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

class Interpreter<T extends InterpretedTensor> {
  private readonly env = new Map<Value, T>();
  private readonly constants = new Map<Value, Constant>();

  constructor(
    private readonly ex: Executor<T>,
    private readonly bindings: Map<string, number>,
    private readonly checkOutputs: boolean,
  ) {}

  private collectConstants(g: Graph): void {
    for (const c of g.constants.values()) this.constants.set(c.value, c);
    for (const n of g.nodes) for (const s of n.subgraphs) this.collectConstants(s);
  }

  start(g: Graph, inputs: readonly T[]): T[] {
    if (!Array.isArray(inputs) || inputs.length !== g.inputs.length) {
      throw new KilnError(`the graph takes ${g.inputs.length} input${g.inputs.length === 1 ? '' : 's'} (${g.inputs.map((v) => `${formatValueName(v.name)}: ${formatType(v.type)}`).join(', ')}), got ${Array.isArray(inputs) ? inputs.length : typeof inputs}`, { op: 'interpret' });
    }
    // Bind every symbol first, then check, so an input may use a symbol a later input defines.
    g.inputs.forEach((v, i) => {
      const t = inputs[i]!;
      if (t.shape.length === v.type.shape.length) bindShape(v.type.shape, t.shape, this.bindings);
    });
    g.inputs.forEach((v, i) => {
      const t = inputs[i]!;
      const bad = t.dtype !== v.type.dtype ? `dtype ${t.dtype} instead of ${v.type.dtype}` : bindShape(v.type.shape, t.shape, this.bindings);
      if (bad) throw new KilnError(`input ${i} ${formatValueName(v.name)} must be ${formatType(v.type)}, got ${t.dtype}${formatShape(t.shape)}: ${bad}`, { op: 'interpret' });
      this.env.set(v, t);
    });
    this.collectConstants(g);
    return this.runGraph(g);
  }

  /** The tensor of `v`: computed already, or a constant made on first use. */
  private lookup(v: Value): T | undefined {
    const t = this.env.get(v);
    if (t !== undefined) return t;
    const c = this.constants.get(v);
    if (!c) return undefined;
    const made = this.ex.constant(v.name, c.data, concreteType(v.type, this.bindings));
    this.env.set(v, made);
    return made;
  }

  private get(v: Value, node: Node): T {
    const t = this.lookup(v);
    if (t !== undefined) return t;
    throw this.error(node, `input ${formatValueName(v.name)} has no value (it is not defined before this node: run verifyGraph)`);
  }

  private error(node: Node, message: string, fallbackSite?: string): KilnError {
    const callSite = node.source ?? fallbackSite;
    return new KilnError(`${describeNode(node)}: ${message}`, { op: node.op, ...(callSite ? { callSite } : {}) });
  }

  private runGraph(g: Graph): T[] {
    for (const node of g.nodes) {
      const outs = node.op === IF_OP ? this.runIf(node) : node.op === LOOP_OP ? this.runLoop(node) : this.runOp(node);
      if (outs.length !== node.outputs.length) throw this.error(node, `produced ${outs.length} outputs, the graph declares ${node.outputs.length}`);
      node.outputs.forEach((v, k) => {
        const t = outs[k]!;
        if (this.checkOutputs) {
          const bad = t.dtype !== v.type.dtype ? `dtype ${t.dtype} instead of ${v.type.dtype}` : bindShape(v.type.shape, t.shape, this.bindings);
          if (bad) throw this.error(node, `output ${k} ${formatValueName(v.name)} is declared ${formatType(v.type)} but came out ${t.dtype}${formatShape(t.shape)}: ${bad}`);
        }
        this.env.set(v, t);
      });
    }
    return g.outputs.map((v) => {
      const t = this.lookup(v);
      if (t === undefined) throw new KilnError(`graph output ${formatValueName(v.name)} has no value (run verifyGraph)`, { op: 'interpret' });
      return t;
    });
  }

  private runOp(node: Node): T[] {
    const inputs = node.inputs.map((v) => this.get(v, node));
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
    const t = this.get(v, node);
    if (sizeOf(t.shape) !== 1) throw this.error(node, `${what} ${formatValueName(v.name)} must have one element, got shape ${formatShape(t.shape)}`);
    return this.ex.readScalar(t);
  }

  private runIf(node: Node): T[] {
    const [thenG, elseG] = node.subgraphs;
    if (!thenG || !elseG || node.inputs.length !== 1) throw this.error(node, 'If needs one condition input and two subgraphs (run verifyGraph)');
    return this.runGraph(this.scalar(node, node.inputs[0]!, 'the condition') !== 0 ? thenG : elseG);
  }

  private runLoop(node: Node): T[] {
    const body = node.subgraphs[0];
    const { maxTripCount, cond, carried } = loopInputs(node);
    const k = carried.length;
    if (!body || body.inputs.length !== k + 2 || body.outputs.length < k + 1) throw this.error(node, 'malformed Loop (run verifyGraph)');
    const limit = maxTripCount ? this.scalar(node, maxTripCount, 'maxTripCount') : Infinity;
    let go = cond ? this.scalar(node, cond, 'cond') !== 0 : true;
    let condT = cond ? this.get(cond, node) : this.ex.constant(`${body.inputs[1]!.name}.initial`, Uint8Array.of(1), { dtype: 'bool', shape: [] });
    let values = carried.map((v) => this.get(v, node));
    const scanCount = body.outputs.length - 1 - k;
    const rows: T[][] = Array.from({ length: scanCount }, () => []);
    for (let i = 0; i < limit && go; i++) {
      this.env.set(body.inputs[0]!, this.ex.constant(`${body.inputs[0]!.name}.${i}`, Int32Array.of(i), { dtype: 'int32', shape: [] }));
      this.env.set(body.inputs[1]!, condT);
      values.forEach((t, j) => this.env.set(body.inputs[j + 2]!, t));
      const outs = this.runGraph(body);
      condT = outs[0]!;
      if (sizeOf(condT.shape) !== 1) throw this.error(node, `the body's cond output must have one element, got shape ${formatShape(condT.shape)}`);
      go = this.ex.readScalar(condT) !== 0;
      values = outs.slice(1, k + 1);
      for (let s = 0; s < scanCount; s++) rows[s]!.push(outs[k + 1 + s]!);
    }
    const scans = rows.map((list, s) => this.stack(node, list, body.outputs[k + 1 + s]!, this.bindings));
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
  return new Interpreter(executor, bindings, options.checkOutputs ?? true).start(graph, inputs);
}
