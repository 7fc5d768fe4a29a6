/**
 * Control flow in the IR: `If` and `Loop` nodes, whose bodies are subgraphs
 * (`node.subgraphs`). They are not in the op registry: the verifier, the printer/parser
 * and the interpreter know them by name. A subgraph may use any value of the graphs
 * enclosing it (defined before the node), as in ONNX.
 *
 * ## If
 * Input: a bool condition with one element (`bool[]`). Subgraphs: `then`, `else`, both
 * without inputs, with the same number of outputs and the same output types; the node's
 * outputs are the taken branch's outputs.
 * ```
 * %y: float32[batch, 4] = If(%c) {
 *   then() {
 *     %t: float32[batch, 4] = relu(%x)
 *     return %t
 *   }
 *   else() {
 *     return %x
 *   }
 * }
 * ```
 *
 * ## Loop (ONNX semantics)
 * Inputs: `maxTripCount` (int32, one element; absent when attr `hasMaxTripCount=false`),
 * `cond` (bool, one element; absent when `hasCond=false`, meaning true), then the initial
 * values of the loop-carried variables `v…`. Subgraph `body` takes `(iteration: int32[],
 * cond: bool[], v…)` and returns `(cond, v…, scan…)`; the carried values keep their types.
 * The node returns the final `v…`, then each scan output stacked along a new leading
 * axis (one row per iteration; its length is a dim of its own, often a symbol).
 * ```
 * i = 0; c = cond ?? true; v = initial
 * while ((maxTripCount absent || i < maxTripCount) && c) {
 *   (c, v, s) = body(i, c, v); scans.push(s); i++
 * }
 * return (v, stack(scans))
 * ```
 * A cumulative product of `%x: float32[n]`:
 * ```
 * %p: float32[], %cum: float32[n] = Loop(%n_trips, %true, %one) {
 *   body(%i: int32[], %c: bool[], %acc: float32[]) {
 *     %xi1: float32[1] = indexSelect(%x, %i) {axis=0}
 *     %xi: float32[] = reshape(%xi1) {shape=[]}
 *     %next: float32[] = mul(%acc, %xi)
 *     return %c, %next, %next
 *   }
 * }
 * ```
 */
import type { Dim } from './dims.js';
import { KilnError } from './errors.js';
import type { Graph, IrAttrs, Node, Value, ValueType } from './graph.js';
import { formatType, typesEqual } from './valueType.js';

export const IF_OP = 'If';
export const LOOP_OP = 'Loop';

/**
 * How deep subgraphs may nest (an `If` in a `Loop` body is depth 2). The parser and
 * the verifier refuse deeper graphs with a `KilnError` or an issue instead of running
 * out of stack; real models nest a few levels.
 */
export const MAX_NESTING = 100;

/** Whether `op` is `If` or `Loop` (handled by the IR itself, not the op registry). */
export function isControlFlowOp(op: string): boolean {
  return op === IF_OP || op === LOOP_OP;
}

/** Names of a node's subgraphs in the text form: `then`/`else`, `body`, else `graph`. */
export function subgraphLabels(op: string, count: number): string[] {
  if (op === IF_OP && count === 2) return ['then', 'else'];
  if (op === LOOP_OP && count === 1) return ['body'];
  return new Array<string>(count).fill('graph');
}

/**
 * Appends an `If` node to `g`: `thenBranch`/`elseBranch` are graphs made with
 * `new Graph(g)`, without inputs, whose outputs have matching types.
 *
 * @example
 * ```ts
 * const thenG = new Graph(g);
 * thenG.outputs = [thenG.addNode('relu', [x], {}, [x.type]).outputs[0]!];
 * const elseG = new Graph(g);
 * elseG.outputs = [x];
 * const [y] = addIf(g, cond, thenG, elseG).outputs;
 * ```
 */
export function addIf(g: Graph, cond: Value, thenBranch: Graph, elseBranch: Graph, source?: string): Node {
  const t = thenBranch.outputs, e = elseBranch.outputs;
  if (t.length !== e.length) throw new KilnError(`the then-branch returns ${t.length} values but the else-branch ${e.length}`, { op: IF_OP });
  t.forEach((v, i) => {
    if (!typesEqual(v.type, e[i]!.type)) throw new KilnError(`output ${i} is ${formatType(v.type)} in the then-branch but ${formatType(e[i]!.type)} in the else-branch`, { op: IF_OP });
  });
  return g.addNode(IF_OP, [cond], {}, t.map((v) => v.type), source, [thenBranch, elseBranch]);
}

/** What `addLoop` takes. */
export interface LoopSpec {
  /** int32 with one element; omitted: no bound (the loop runs while `cond` holds). */
  maxTripCount?: Value;
  /** bool with one element; omitted: true. */
  cond?: Value;
  /** Initial values of the loop-carried variables. */
  carried: Value[];
  /** Made with `new Graph(g)`: inputs `(iteration, cond, carried…)`, outputs `(cond, carried…, scan…)`. */
  body: Graph;
  /** Leading dim of the scan outputs (the number of iterations); required when the body has scan outputs. */
  scanLength?: Dim;
}

/**
 * Appends a `Loop` node to `g` (see the module docs for the semantics). Its outputs are
 * the final carried values, then the stacked scan outputs.
 *
 * @example
 * ```ts
 * const body = new Graph(g);
 * const i = body.addInput('i', { dtype: 'int32', shape: [] });
 * const c = body.addInput('c', { dtype: 'bool', shape: [] });
 * const acc = body.addInput('acc', { dtype: 'float32', shape: [] });
 * const next = body.addNode('add', [acc, acc], {}, [acc.type]).outputs[0]!;
 * body.outputs = [c, next];
 * const [doubled] = addLoop(g, { maxTripCount: n, cond: yes, carried: [one], body }).outputs; // 2^n
 * ```
 */
export function addLoop(g: Graph, spec: LoopSpec, source?: string): Node {
  const { body, carried } = spec;
  const k = carried.length;
  if (body.inputs.length !== k + 2) throw new KilnError(`the body takes ${body.inputs.length} inputs but needs ${k + 2} (iteration, cond, ${k} carried)`, { op: LOOP_OP });
  if (body.outputs.length < k + 1) throw new KilnError(`the body returns ${body.outputs.length} values but needs at least ${k + 1} (cond, ${k} carried)`, { op: LOOP_OP });
  const scans = body.outputs.slice(k + 1);
  if (scans.length && spec.scanLength === undefined) throw new KilnError('a loop with scan outputs needs scanLength (the dim of their leading axis)', { op: LOOP_OP });
  const outTypes: ValueType[] = [
    ...carried.map((v) => v.type),
    ...scans.map((v) => ({ dtype: v.type.dtype, shape: [spec.scanLength!, ...v.type.shape] })),
  ];
  const attrs: Record<string, boolean> = {};
  if (!spec.maxTripCount) attrs['hasMaxTripCount'] = false;
  if (!spec.cond) attrs['hasCond'] = false;
  const inputs = [...(spec.maxTripCount ? [spec.maxTripCount] : []), ...(spec.cond ? [spec.cond] : []), ...carried];
  return g.addNode(LOOP_OP, inputs, attrs, outTypes, source, [body]);
}

/** The roles of a `Loop` node's inputs. */
export interface LoopInputs {
  readonly maxTripCount: Value | null;
  readonly cond: Value | null;
  readonly carried: readonly Value[];
}

/** Splits a `Loop` node's inputs by role (attrs `hasMaxTripCount`/`hasCond`, default true). */
export function loopInputs(node: { readonly inputs: readonly Value[]; readonly attrs: IrAttrs }): LoopInputs {
  let i = 0;
  const maxTripCount = node.attrs['hasMaxTripCount'] === false ? null : node.inputs[i++] ?? null;
  const cond = node.attrs['hasCond'] === false ? null : node.inputs[i++] ?? null;
  return { maxTripCount, cond, carried: node.inputs.slice(i) };
}
