/**
 * The verifier: checks that a graph is well formed, the invariant every pass must keep.
 *
 * - SSA: each value is defined once (a graph input, a constant or one node output) and
 *   value names are unique across the graph and its subgraphs;
 * - order: every node input and every returned value is defined before its use (nodes
 *   are in topological order; a subgraph may use values of the graphs enclosing it,
 *   defined before its node);
 * - no dangling outputs: what a graph returns is defined;
 * - every op exists in the op registry (`If` and `Loop` are the IR's own, checked here),
 *   gets as many inputs as its `arity` says, and no subgraphs;
 * - types: dims are non-negative integers (a symbolic one at the ends of its symbol's
 *   range too); attribute values are of the IR's kinds (numbers, booleans, strings, null,
 *   symbolic dims, arrays of them); each node's declared output types are what `inferNode`
 *   infers, over the symbolic dims themselves (`float32[batch, 4]`, not a sample of sizes).
 *   An `infer` that throws or returns nonsense (a mistyped attribute, say `perm="x"`) is
 *   an issue of its node, never an exception out of the verifier;
 * - nesting: subgraphs nest at most `MAX_NESTING` levels;
 * - `If`/`Loop` are consistent with their subgraphs (see `controlFlow.ts`);
 * - bookkeeping: `Value.producer`/`index` point at the node that outputs the value, and
 *   constant data has the size and array type its dtype and shape call for.
 */
import { dimEquals, formatDim, isSym, type Dim } from './dims.js';
import { arrayFor, sizeOf, type TensorType } from './dtype.js';
import { KilnError } from './errors.js';
import type { FoldRecipe, Graph, IrAttrValue, Node, Value, ValueType } from './graph.js';
import { arityMismatch, getOp, type Attrs } from './opRegistry.js';
import { IF_OP, LOOP_OP, MAX_NESTING, loopInputs, subgraphLabels } from './controlFlow.js';
import { inferNode } from './inferNode.js';
import { describeNode, formatAttrs, formatValueName } from './printer.js';
import { formatType, isOneElement, typesEqual } from './valueType.js';

/** One problem the verifier found. */
export interface GraphIssue {
  /** Names the node (index, op, values, source line) and says what is wrong. */
  readonly message: string;
  /** The node concerned, when there is one. */
  readonly node?: Node;
}

const DTYPES = new Set(['float32', 'float64', 'int32', 'bool']);

/** Where a graph sits: the outermost one, or a subgraph of some node. */
interface Context {
  readonly parent: Site | null;
  /** `then-branch`, `else-branch`, `body`, `subgraph 0`. */
  readonly label: string;
}

interface Site {
  readonly node: Node;
  readonly index: number;
  readonly ctx: Context;
}

function siteText(s: Site): string {
  const own = `node #${s.index} (${describeNode(s.node)}${s.node.source ? `, at ${s.node.source}` : ''})`;
  return s.ctx.parent ? `${own} in the ${s.ctx.label} of ${siteText(s.ctx.parent)}` : own;
}

function graphText(ctx: Context): string {
  return ctx.parent ? `the ${ctx.label} of ${siteText(ctx.parent)}` : 'the graph';
}

function childContexts(node: Node, site: Site): Context[] {
  const labels = subgraphLabels(node.op, node.subgraphs.length);
  return node.subgraphs.map((_, i) => ({
    parent: site,
    label: labels[i] === 'then' || labels[i] === 'else' ? `${labels[i]}-branch` : labels[i] === 'body' ? 'body' : `subgraph ${i}`,
  }));
}

/** Values visible at a point: this block's so far, then the enclosing blocks'. */
class Scope {
  private readonly own = new Set<Value>();
  constructor(private readonly parent: Scope | null) {}
  add(v: Value): void {
    this.own.add(v);
  }
  has(v: Value): boolean {
    return this.own.has(v) || (this.parent?.has(v) ?? false);
  }
}

/** Lowest/highest value of each symbol keeping every dim that uses it ≥ 1. */
type Ranges = Map<string, { lo: number; hi: number }>;

function noteDim(d: Dim, ranges: Ranges): void {
  if (!isSym(d)) return;
  const r = ranges.get(d.sym) ?? { lo: 1, hi: Infinity };
  if (d.coef > 0) r.lo = Math.max(r.lo, Math.ceil((1 - d.offset) / d.coef));
  else if (d.coef < 0) r.hi = Math.min(r.hi, Math.floor((d.offset - 1) / -d.coef));
  ranges.set(d.sym, r);
}

/** Attribute arrays nest two levels at most (`[[0, batch], [1, 2]]`); deeper ones are not looked into. */
function noteAttr(v: IrAttrValue, ranges: Ranges, depth = 0): void {
  if (isSym(v)) noteDim(v, ranges);
  else if (Array.isArray(v) && depth < 2) for (const e of v as readonly IrAttrValue[]) noteAttr(e, ranges, depth + 1);
}

/** The dims of `v`'s type, or none when the type is malformed (reported by `checkType`). */
function dimsOf(v: Value): readonly Dim[] {
  const shape = (v.type as ValueType | undefined)?.shape;
  return Array.isArray(shape) ? shape : [];
}

function collectSymbols(g: Graph, ranges: Ranges, depth = 0): void {
  const noteType = (v: Value) => dimsOf(v).forEach((d) => noteDim(d, ranges));
  g.inputs.forEach(noteType);
  for (const c of g.constants.values()) noteType(c.value);
  for (const n of g.nodes) {
    n.outputs.forEach(noteType);
    for (const k in n.attrs) noteAttr(n.attrs[k]!, ranges);
    // Deeper subgraphs are an issue of their own (see `walk`), not looked into.
    if (depth < MAX_NESTING) for (const s of n.subgraphs) collectSymbols(s, ranges, depth + 1);
  }
}

/** Whether `v` is an attribute value of the IR's kinds (see `IrAttrValue`). */
function isAttrValue(v: unknown, depth = 0): boolean {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return true;
  if (typeof v === 'number') return true;
  if (isSym(v)) return isSymDim(v);
  return Array.isArray(v) && depth < 2 && v.every((e) => (Array.isArray(e) || typeof e === 'number' || isSym(e)) && isAttrValue(e, depth + 1));
}

function isSymDim(d: Dim): boolean {
  return isSym(d) && Number.isSafeInteger(d.coef) && Number.isSafeInteger(d.offset);
}

/** The values of each symbol where a dim is checked for negativity: the ends of its range (see `Ranges`). */
function rangeEnds(g: Graph): Map<string, number[]> {
  const ranges: Ranges = new Map();
  collectSymbols(g, ranges);
  return new Map([...ranges].map(([name, { lo, hi }]) => [name, Number.isFinite(hi) && hi > lo ? [lo, hi] : [lo]]));
}

/** `{perm="x"}`, or `{}`; never throws (the attributes may be anything). */
function attrsText(node: Node): string {
  try {
    return formatAttrs(node.attrs) || '{}';
  } catch {
    return '{…}';
  }
}

/** `String(v)`, or `?` for an object that cannot be turned into one (no prototype, a throwing toString). */
function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return '?';
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : safeString(e);
}

/** What is wrong with what an op's `infer` returned (`a shape with dim NaN`), or null. */
function invalidInference(types: unknown): string | null {
  if (!Array.isArray(types)) return `${String(types)} instead of a list of types`;
  for (const t of types as unknown[]) {
    const { dtype, shape } = (t ?? {}) as { dtype?: unknown; shape?: unknown };
    if (typeof dtype !== 'string' || !DTYPES.has(dtype)) return `an output of dtype ${String(dtype)}`;
    if (!Array.isArray(shape)) return `an output of shape ${String(shape)}`;
    const i = (shape as unknown[]).findIndex((x) => (isSym(x) ? !isSymDim(x) : typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0));
    if (i >= 0) return `an output of shape [${(shape as unknown[]).map((x) => (isSym(x) ? formatDim(x) : String(x))).join(', ')}] (dim ${i} is not a non-negative integer)`;
  }
  return null;
}

class Verifier {
  readonly issues: GraphIssue[] = [];
  /** Where each value is defined, in words. */
  private readonly defs = new Map<Value, string>();
  private readonly byName = new Map<string, Value>();
  /** The graph each value is defined in. */
  private readonly home = new Map<Value, Graph>();
  /** Per symbol, the sizes a symbolic dim must not be negative at. */
  private readonly ends: Map<string, number[]>;
  /** Values whose type `checkType` rejected: nodes using them are not type-checked further. */
  private readonly badTypes = new Set<Value>();

  constructor(private readonly root: Graph) {
    this.ends = rangeEnds(root);
  }

  run(): void {
    const ctx: Context = { parent: null, label: 'graph' };
    this.collect(this.root, ctx, 0);
    this.walk(this.root, ctx, null, [], 0);
  }

  private issue(message: string, node?: Node): void {
    this.issues.push(node ? { message, node } : { message });
  }

  // ---- pass 1: definitions ---------------------------------------------------------

  private define(v: Value, g: Graph, desc: string, node?: Node): void {
    if (!this.home.has(v)) this.home.set(v, g);
    const prev = this.defs.get(v);
    if (prev !== undefined) {
      this.issue(`value ${formatValueName(v.name)} is defined twice: as ${prev} and as ${desc}`, node);
      return;
    }
    const other = this.byName.get(v.name);
    if (other) this.issue(`value name ${formatValueName(v.name)} is defined twice: as ${this.defs.get(other)} and as ${desc}`, node);
    else this.byName.set(v.name, v);
    this.defs.set(v, desc);
    this.checkType(v, desc, node);
  }

  private checkType(v: Value, desc: string, node?: Node): void {
    const t = v.type as ValueType | undefined;
    const bad = !t || !DTYPES.has(t.dtype) || !Array.isArray(t.shape)
      || t.shape.some((d) => (typeof d === 'number' ? !Number.isSafeInteger(d) || d < 0 : !isSymDim(d)));
    if (bad) {
      this.badTypes.add(v);
      this.issue(`${formatValueName(v.name)} (${desc}) has an invalid type ${JSON.stringify(t)}: dims are non-negative integers or symbolic dims`, node);
      return;
    }
    // A symbolic dim negative where every dim of its symbol is ≥ 1 as far as that can be
    // (the ends of the symbol's range; an affine dim is smallest at one of them):
    // `-1*batch`, `0*n-3`, or `n-5` next to `2-n`.
    for (const d of t.shape) {
      if (!isSym(d)) continue;
      for (const at of this.ends.get(d.sym)!) {
        const size = d.coef * at + d.offset;
        if (size >= 0) continue;
        this.badTypes.add(v);
        this.issue(`${formatValueName(v.name)} (${desc}) has type ${formatType(t)}, whose dim ${formatDim(d)} is ${size} at ${d.sym}=${at}: dims are never negative`, node);
        return;
      }
    }
  }

  private collect(g: Graph, ctx: Context, depth: number): void {
    for (const v of g.inputs) this.define(v, g, `an input of ${graphText(ctx)}`);
    for (const c of g.constants.values()) this.define(c.value, g, `a constant of ${graphText(ctx)}`);
    g.nodes.forEach((node, index) => {
      const site: Site = { node, index, ctx };
      node.outputs.forEach((v, k) => this.define(v, g, `output ${k} of ${siteText(site)}`, node));
      if (depth < MAX_NESTING) childContexts(node, site).forEach((c, i) => this.collect(node.subgraphs[i]!, c, depth + 1));
    });
  }

  // ---- pass 2: scopes, ops, types --------------------------------------------------

  /** `enclosing`: the graphs around `g`, outermost first (their earlier values are visible). */
  private walk(g: Graph, ctx: Context, outer: Scope | null, enclosing: readonly Graph[], depth: number): void {
    const scope = new Scope(outer);
    const chain = [...enclosing, g];
    /** Why `v` is not in scope: defined later on this path, or somewhere this point cannot see. */
    const missing = (v: Value): string => {
      const def = this.defs.get(v);
      if (def === undefined) return 'is not defined anywhere in the graph';
      return chain.includes(this.home.get(v)!) ? `is used before it is defined (it is ${def})` : `is not visible here (it is ${def})`;
    };
    for (const v of g.inputs) {
      if (v.producer) this.issue(`input ${formatValueName(v.name)} of ${graphText(ctx)} has a producer node (${describeNode(v.producer)}); inputs have none`);
      scope.add(v);
    }
    for (const [key, c] of g.constants) {
      // A folded constant's data is computed on reading (running its recipe): check the recipe instead.
      if (c.folded) this.checkFolded(key, c.value, c.folded, g, scope, ctx);
      else this.checkConstant(key, c.value, c.live ? null : c.data, ctx);
      scope.add(c.value);
    }
    g.nodes.forEach((node, index) => {
      const site: Site = { node, index, ctx };
      const where = siteText(site);
      let inputsOk = true;
      node.inputs.forEach((v, j) => {
        if (scope.has(v)) return;
        inputsOk = false;
        this.issue(`${where}: input ${j} ${formatValueName(v.name)} ${missing(v)}`, node);
      });
      node.outputs.forEach((v, k) => {
        if (v.producer !== node || v.index !== k) this.issue(`${where}: output ${k} ${formatValueName(v.name)} records ${v.producer ? `output ${v.index} of ${describeNode(v.producer)}` : 'no producer'} as where it comes from`, node);
      });
      const typesOk = ![...node.inputs, ...node.outputs].some((v) => this.badTypes.has(v));
      const attrsOk = this.checkAttrs(node, where);
      if (node.op === IF_OP) this.checkIf(node, where);
      else if (node.op === LOOP_OP) this.checkLoop(node, where);
      else if (!getOp(node.op)) this.issue(`${where}: unknown op '${node.op}' (not in the op registry)`, node);
      else if (this.checkOpShape(node, where) && inputsOk && typesOk && attrsOk) this.checkInference(node, where);
      if (node.subgraphs.length && depth >= MAX_NESTING) this.issue(`${where}: subgraphs nest deeper than ${MAX_NESTING} levels`, node);
      else childContexts(node, site).forEach((c, i) => this.walk(node.subgraphs[i]!, c, scope, chain, depth + 1));
      for (const v of node.outputs) scope.add(v);
    });
    g.outputs.forEach((v, k) => {
      if (scope.has(v)) return;
      const why = this.defs.has(v) ? missing(v).replace('is used before it is defined', 'is defined only after the return') : 'is not defined anywhere (a dangling output)';
      this.issue(`${graphText(ctx)} returns ${formatValueName(v.name)} (output ${k}), which ${why}`, ctx.parent?.node);
    });
  }

  /** A folded constant: its recipe reads constants declared before it, and its op's inference gives its type. */
  private checkFolded(key: string, v: Value, f: FoldRecipe, g: Graph, scope: Scope, ctx: Context): void {
    const name = formatValueName(v.name);
    const where = `folded constant ${name} of ${graphText(ctx)}`;
    if (key !== v.name) this.issue(`constant ${name} of ${graphText(ctx)} is filed under the name '${key}'`);
    if (v.producer) this.issue(`${where} has a producer node (${describeNode(v.producer)})`);
    let ok = true;
    f.inputs.forEach((u, j) => {
      const c = g.constants.get(u.name);
      if (c?.value === u && scope.has(u)) return;
      ok = false;
      this.issue(`${where}: recipe input ${j} ${formatValueName(u.name)} is not a constant declared before it`);
    });
    const def = getOp(f.op);
    if (!def) {
      this.issue(`${where}: unknown op '${f.op}' in its recipe`);
      return;
    }
    const arity = arityMismatch(def, f.inputs.length);
    if (arity) this.issue(`${where}: ${f.op} ${arity}`);
    if (!ok || arity || v.type.shape.some((d) => typeof d !== 'number')) {
      if (v.type.shape.some((d) => typeof d !== 'number')) this.issue(`${where} has a symbolic shape ${formatType(v.type)}`);
      return;
    }
    try {
      const outs = def.infer(f.inputs.map((u) => u.type as TensorType), f.attrs as Attrs);
      const bad = invalidInference(outs);
      const t = outs[f.index];
      if (bad || !t) this.issue(`${where}: ${f.op}'s inference gives ${bad ?? `no output ${f.index}`}`);
      else if (!typesEqual(t, v.type)) this.issue(`${where} is declared ${formatType(v.type)} but its recipe ${f.op} gives ${formatType(t)}`);
    } catch (e) {
      this.issue(`${where}: its recipe ${f.op} fails shape inference: ${errorText(e)}`);
    }
  }

  private checkConstant(key: string, v: Value, data: unknown, ctx: Context): void {
    const name = formatValueName(v.name);
    if (key !== v.name) this.issue(`constant ${name} of ${graphText(ctx)} is filed under the name '${key}'`);
    if (v.producer) this.issue(`constant ${name} of ${graphText(ctx)} has a producer node (${describeNode(v.producer)})`);
    if (v.type.shape.some((d) => typeof d !== 'number')) {
      this.issue(`constant ${name} of ${graphText(ctx)} has a symbolic shape ${formatType(v.type)}`);
      return;
    }
    if (!DTYPES.has(v.type.dtype) || data === null) return; // null: a live constant, its values read at run time
    const want = arrayFor(v.type.dtype, 0).constructor;
    const size = sizeOf(v.type.shape as number[]);
    if (!ArrayBuffer.isView(data) || data.constructor !== want) this.issue(`constant ${name}: its data is ${ArrayBuffer.isView(data) ? `a ${data.constructor.name}` : typeof data}, but ${v.type.dtype} needs a ${want.name}`);
    else if ((data as unknown as ArrayLike<number>).length !== size) this.issue(`constant ${name}: its data has ${(data as unknown as ArrayLike<number>).length} elements, but ${formatType(v.type)} holds ${size}`);
  }

  /**
   * Attribute values are of the IR's kinds. (Which attributes an op takes, and of what
   * kind, is its `infer`'s business until ops declare attribute schemas.)
   */
  private checkAttrs(node: Node, where: string): boolean {
    let ok = true;
    for (const k in node.attrs) {
      const v = node.attrs[k];
      if (v === undefined || isAttrValue(v)) continue;
      ok = false;
      const shown = Array.isArray(v) ? 'an array nested deeper than two levels or holding other than numbers and symbolic dims' : `${typeof v} ${safeString(v).slice(0, 40)}`;
      this.issue(`${where}: attribute ${k} is ${shown}, not an attribute value (a number, boolean, string, null, symbolic dim, or an array of numbers/dims or of such arrays)`, node);
    }
    return ok;
  }

  /** A registry op's number of inputs fits its arity; it has no subgraphs. */
  private checkOpShape(node: Node, where: string): boolean {
    const def = getOp(node.op)!;
    let ok = true;
    const wrong = arityMismatch(def, node.inputs.length);
    if (wrong) {
      this.issue(`${where}: ${node.op} ${wrong}`, node);
      ok = false;
    }
    if (node.subgraphs.length) {
      this.issue(`${where}: ${node.op} takes no subgraphs (only If and Loop have them), got ${node.subgraphs.length}`, node);
      ok = false;
    }
    return ok;
  }

  private checkInference(node: Node, where: string): void {
    const ins = node.inputs.map((v) => formatType(v.type)).join(', ');
    let inferred: ValueType[];
    try {
      // One inference for concrete and symbolic graphs alike (see inferNode).
      inferred = inferNode(node.op, node.inputs.map((v) => v.type), node.attrs);
    } catch (e) {
      // A KilnError is the op's own verdict; anything else (a TypeError, a RangeError)
      // means its code met a value it does not expect: an attribute of the wrong kind
      // or a missing one, since the inputs' types are checked above.
      if (e instanceof KilnError) this.issue(`${where}: ${node.op} rejects its inputs (${ins}): ${e.message}`, node);
      else this.issue(`${where}: ${node.op} cannot infer its output types from its attributes ${attrsText(node)} and inputs (${ins}): is an attribute missing or of the wrong kind? (${errorText(e)})`, node);
      return;
    }
    const invalid = invalidInference(inferred);
    if (invalid !== null) {
      this.issue(`${where}: ${node.op} infers ${invalid} from its attributes ${attrsText(node)} and inputs (${ins}): is an attribute of the wrong kind or out of range?`, node);
      return;
    }
    if (inferred.length !== node.outputs.length) {
      this.issue(`${where}: declares ${node.outputs.length} outputs but ${node.op} produces ${inferred.length}`, node);
      return;
    }
    for (let k = 0; k < inferred.length; k++) {
      const v = node.outputs[k]!, d = v.type, f = inferred[k]!;
      const sameShape = d.shape.length === f.shape.length && d.shape.every((x, i) => dimEquals(x, f.shape[i]!));
      if (d.dtype === f.dtype && sameShape) continue;
      const what = d.dtype !== f.dtype ? (sameShape ? 'dtype' : 'dtype and shape') : 'shape';
      this.issue(`${where}: output ${k} ${formatValueName(v.name)} is declared ${formatType(d)}, but ${node.op} infers ${formatType(f)} (the ${what} differs)`, node);
      return;
    }
  }

  private expectOneElement(v: Value | undefined, dtype: 'bool' | 'int32', what: string, where: string, node: Node): void {
    if (!v) return;
    if (v.type.dtype !== dtype || !isOneElement(v.type)) this.issue(`${where}: ${what} ${formatValueName(v.name)} must be ${dtype} with one element (${dtype}[]), got ${formatType(v.type)}`, node);
  }

  private checkIf(node: Node, where: string): void {
    if (node.inputs.length !== 1) this.issue(`${where}: If takes one input (the condition), got ${node.inputs.length}`, node);
    this.expectOneElement(node.inputs[0], 'bool', 'the condition', where, node);
    if (node.subgraphs.length !== 2) {
      this.issue(`${where}: If needs two subgraphs (then, else), got ${node.subgraphs.length}`, node);
      return;
    }
    const [t, e] = node.subgraphs as [Graph, Graph];
    if (t.inputs.length || e.inputs.length) this.issue(`${where}: If branches take no inputs (they use outer values), the ${t.inputs.length ? 'then' : 'else'}-branch declares ${(t.inputs.length ? t : e).inputs.length}`, node);
    const n = node.outputs.length;
    if (t.outputs.length !== n || e.outputs.length !== n) {
      this.issue(`${where}: the node has ${n} outputs but the then-branch returns ${t.outputs.length} and the else-branch ${e.outputs.length}`, node);
      return;
    }
    for (let k = 0; k < n; k++) {
      const a = t.outputs[k]!.type, b = e.outputs[k]!.type, o = node.outputs[k]!;
      if (!typesEqual(a, b)) this.issue(`${where}: branch types differ for output ${k} ${formatValueName(o.name)}: the then-branch returns ${formatType(a)}, the else-branch ${formatType(b)}`, node);
      else if (!typesEqual(a, o.type)) this.issue(`${where}: output ${k} ${formatValueName(o.name)} is declared ${formatType(o.type)}, but both branches return ${formatType(a)}`, node);
    }
  }

  private checkLoop(node: Node, where: string): void {
    for (const k of ['hasMaxTripCount', 'hasCond']) {
      const a = node.attrs[k];
      if (a !== undefined && typeof a !== 'boolean') this.issue(`${where}: attribute ${k} must be true or false`, node);
    }
    const { maxTripCount, cond, carried } = loopInputs(node);
    const needed = (node.attrs['hasMaxTripCount'] === false ? 0 : 1) + (node.attrs['hasCond'] === false ? 0 : 1);
    if (node.inputs.length < needed) {
      this.issue(`${where}: Loop needs ${needed === 2 ? 'maxTripCount and cond inputs' : needed === 1 ? 'its maxTripCount or cond input' : ''} before the carried values, got ${node.inputs.length} inputs`, node);
      return;
    }
    this.expectOneElement(maxTripCount ?? undefined, 'int32', 'maxTripCount', where, node);
    this.expectOneElement(cond ?? undefined, 'bool', 'cond', where, node);
    if (node.subgraphs.length !== 1) {
      this.issue(`${where}: Loop needs one subgraph (body), got ${node.subgraphs.length}`, node);
      return;
    }
    const body = node.subgraphs[0]!;
    const k = carried.length;
    if (body.inputs.length !== k + 2) {
      this.issue(`${where}: the body takes ${body.inputs.length} inputs, but needs ${k + 2}: (iteration, cond, then the ${k} carried values)`, node);
    } else {
      this.expectOneElement(body.inputs[0], 'int32', 'the body input (iteration number)', where, node);
      this.expectOneElement(body.inputs[1], 'bool', 'the body input (cond)', where, node);
      carried.forEach((v, j) => {
        const p = body.inputs[j + 2]!;
        if (!typesEqual(p.type, v.type)) this.issue(`${where}: carried value ${j} is ${formatType(v.type)} (${formatValueName(v.name)}) but the body takes ${formatType(p.type)} (${formatValueName(p.name)})`, node);
      });
    }
    if (body.outputs.length < k + 1) {
      this.issue(`${where}: the body returns ${body.outputs.length} values, but needs at least ${k + 1}: (cond, then the ${k} carried values, then any scan outputs)`, node);
      return;
    }
    this.expectOneElement(body.outputs[0], 'bool', 'the body output (cond)', where, node);
    carried.forEach((v, j) => {
      const r = body.outputs[j + 1]!;
      if (!typesEqual(r.type, v.type)) this.issue(`${where}: carried value ${j} is ${formatType(v.type)} (${formatValueName(v.name)}) but the body returns ${formatType(r.type)} (${formatValueName(r.name)}): a carried value keeps its type`, node);
    });
    const scans = body.outputs.length - 1 - k;
    if (node.outputs.length !== k + scans) {
      this.issue(`${where}: the node has ${node.outputs.length} outputs, but ${k} carried and ${scans} scan outputs make ${k + scans}`, node);
      return;
    }
    for (let j = 0; j < k; j++) {
      const o = node.outputs[j]!, v = carried[j]!;
      if (!typesEqual(o.type, v.type)) this.issue(`${where}: output ${j} ${formatValueName(o.name)} is declared ${formatType(o.type)} but carried value ${j} is ${formatType(v.type)}`, node);
    }
    for (let s = 0; s < scans; s++) {
      const o = node.outputs[k + s]!, r = body.outputs[k + 1 + s]!;
      const ok = o.type.dtype === r.type.dtype && o.type.shape.length === r.type.shape.length + 1 && typesEqual({ dtype: o.type.dtype, shape: o.type.shape.slice(1) }, r.type);
      const stacked = `${r.type.dtype}[n${r.type.shape.map((d) => `, ${formatDim(d)}`).join('')}]`;
      if (!ok) this.issue(`${where}: scan output ${s} ${formatValueName(o.name)} is declared ${formatType(o.type)}, but stacking the body's ${formatType(r.type)} (${formatValueName(r.name)}) gives ${stacked} for some length n`, node);
    }
  }
}

/**
 * Every problem in `g` (empty when it is well formed). See the module docs for what is checked.
 *
 * @example
 * ```ts
 * for (const issue of checkGraph(g)) console.log(issue.message);
 * // node #2 (%2 = add(%1, %9), at model.ts:7:12): input 1 %9 is used before it is defined (it is output 0 of node #4 …)
 * ```
 */
export function checkGraph(g: Graph): GraphIssue[] {
  const v = new Verifier(g);
  v.run();
  return v.issues;
}

/**
 * Throws a `KilnError` listing every problem in `g` (see `checkGraph`); returns `g`
 * when it is well formed, so passes can end with `return verifyGraph(out)`.
 *
 * @example
 * ```ts
 * verifyGraph(parseGraph(text));
 * ```
 */
export function verifyGraph(g: Graph): Graph {
  const issues = checkGraph(g);
  if (issues.length) {
    const shown = issues.slice(0, 20).map((i) => `  - ${i.message}`);
    if (issues.length > 20) shown.push(`  … and ${issues.length - 20} more`);
    throw new KilnError(`invalid graph (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${shown.join('\n')}`);
  }
  return g;
}
