// A small declarative matcher for rewrite rules, after tinygrad's PatternMatcher and
// torch.fx's subgraph rewriter: a rule is a pattern over the values feeding a node and a
// function giving the value to use instead, one line each:
//
//   rule('x*1', P.commutative('mul', [P.any('x'), P.scalar(1)]), (m) => m.value('x')),
//
// `rewrite` applies a list of rules over a graph until none applies.
import { describeNode, inferNode, KilnError, typesEqual, type Graph, type IrAttrs, type Node, type TypedArray, type Value, type ValueType } from '../ir/index.js';
import type { PassContext } from './pass.js';
import { constantOf, eraseIfDead, fixedData, isFixed, replaceValue, uniformValue } from './values.js';

/** What a pattern matches: a value, and through its producer the values feeding it. */
export type Pattern =
  | { readonly kind: 'any'; readonly name?: string }
  | {
    readonly kind: 'op';
    readonly ops: readonly string[];
    /** Patterns for the inputs (their count must match); absent: any inputs. */
    readonly inputs?: readonly Pattern[];
    /** Two inputs matched in either order. */
    readonly commutative: boolean;
    /** Which output of the node (default 0). */
    readonly output: number;
    readonly where?: (node: Node) => boolean;
    readonly name?: string;
  }
  /** A constant of the graph: `fixed` ones only have data a pass may read (see `isFixed`). */
  | { readonly kind: 'constant'; readonly fixed: boolean; readonly name?: string }
  /** A fixed constant (or an expand of one) whose elements all pass `test`. */
  | { readonly kind: 'uniform'; readonly test: (x: number) => boolean; readonly name?: string };

interface OpOptions {
  readonly name?: string;
  readonly where?: (node: Node) => boolean;
  readonly output?: number;
}

function opPattern(ops: string | readonly string[], inputs: readonly Pattern[] | undefined, commutative: boolean, o: OpOptions): Pattern {
  return {
    kind: 'op', ops: typeof ops === 'string' ? [ops] : ops, commutative, output: o.output ?? 0,
    ...(inputs ? { inputs } : {}), ...(o.where ? { where: o.where } : {}), ...(o.name ? { name: o.name } : {}),
  };
}

/** Pattern constructors. A `name` binds what matched; a name used twice must match the same value. */
export const P = {
  /** Any value. */
  any: (name?: string): Pattern => (name ? { kind: 'any', name } : { kind: 'any' }),
  /** A value computed by one of `ops` (output 0 unless `output`), from inputs matching `inputs`. */
  op: (ops: string | readonly string[], inputs?: readonly Pattern[], options: OpOptions = {}): Pattern => opPattern(ops, inputs, false, options),
  /** As `op`, for a two-input op whose operands may come in either order (add, mul). */
  commutative: (ops: string | readonly string[], inputs: readonly [Pattern, Pattern], options: OpOptions = {}): Pattern => opPattern(ops, inputs, true, options),
  /** Any constant (a parameter read live, a literal, a folded constant). */
  constant: (name?: string): Pattern => (name ? { kind: 'constant', fixed: false, name } : { kind: 'constant', fixed: false }),
  /** A constant whose data is fixed (not a parameter): the only kind whose data a rule may read. */
  fixed: (name?: string): Pattern => (name ? { kind: 'constant', fixed: true, name } : { kind: 'constant', fixed: true }),
  /** A fixed constant whose elements all equal `value` (0 matches −0 too; NaN matches NaN). */
  scalar: (value: number, name?: string): Pattern => {
    const test = Number.isNaN(value) ? Number.isNaN : (x: number) => x === value;
    return name ? { kind: 'uniform', test, name } : { kind: 'uniform', test };
  },
  /** As `scalar`, compared with `Object.is`: `exactly(-0)` matches −0 only. */
  exactly: (value: number, name?: string): Pattern => {
    const test = (x: number) => Object.is(x, value);
    return name ? { kind: 'uniform', test, name } : { kind: 'uniform', test };
  },
};

/** The result of matching: the named values and nodes, and the root node. */
export class Match {
  constructor(
    readonly graph: Graph,
    readonly ctx: PassContext,
    readonly root: Node,
    private readonly values: ReadonlyMap<string, Value>,
    private readonly nodes: ReadonlyMap<string, Node>,
    /** Every node the pattern went through, root first. */
    readonly matched: readonly Node[],
  ) {}

  /** The value bound to `name`. */
  value(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new KilnError(`pattern binds no value '${name}'`);
    return v;
  }

  /** The node producing the value bound to `name` (an `op` pattern's). */
  node(name: string): Node {
    const n = this.nodes.get(name);
    if (!n) throw new KilnError(`pattern binds no node '${name}'`);
    return n;
  }

  /** The data of the fixed constant bound to `name`. */
  data(name: string): TypedArray {
    const d = fixedData(this.graph, this.ctx, this.value(name));
    if (!d) throw new KilnError(`'${name}' is not a fixed constant`);
    return d;
  }
}

/** Adds nodes right before the node being rewritten (where all its inputs are defined). */
export class Builder {
  constructor(private readonly graph: Graph, private readonly anchor: Node) {}

  /** A new node's output `type` (one output), computed by `op`. */
  op(op: string, inputs: Value[], attrs: IrAttrs, type: ValueType): Value {
    return this.graph.insertBefore(this.anchor, op, inputs, attrs, [type], this.anchor.source).outputs[0]!;
  }

  /** A new node of `op`, its output types inferred from its inputs (`inferNode`, symbolic dims too): all its outputs. */
  outputs(op: string, inputs: Value[], attrs: IrAttrs = {}): Value[] {
    const types = inferNode(op, inputs.map((v) => v.type), attrs);
    return this.graph.insertBefore(this.anchor, op, inputs, attrs, types, this.anchor.source).outputs;
  }

  /** A new fixed constant. */
  constant(name: string, data: TypedArray, type: ValueType): Value {
    return this.graph.addConstant(name, data, type);
  }
}

/** A rewrite rule: where `pattern` matches a node's output, `rewrite` gives its replacement (or null to leave it). */
export interface Rule {
  readonly name: string;
  readonly pattern: Pattern;
  rewrite(m: Match, b: Builder): Value | null;
}

export function rule(name: string, pattern: Pattern, rewrite: (m: Match, b: Builder) => Value | null): Rule {
  if (pattern.kind !== 'op') throw new KilnError(`rule '${name}': the pattern must start at an op`);
  return { name, pattern, rewrite };
}

class Matcher {
  readonly values = new Map<string, Value>();
  readonly nodes = new Map<string, Node>();
  readonly matched: Node[] = [];

  constructor(private readonly graph: Graph, private readonly ctx: PassContext) {}

  private bind(name: string | undefined, v: Value): boolean {
    if (name === undefined) return true;
    const prev = this.values.get(name);
    if (prev) return prev === v;
    this.values.set(name, v);
    if (v.producer) this.nodes.set(name, v.producer);
    return true;
  }

  /** Matches `p` at `v`; on failure the bindings are left as they were. */
  match(p: Pattern, v: Value): boolean {
    return this.attempt(() => this.try(p, v));
  }

  /** Runs `f`; when it fails, restores the bindings and matched nodes it may have added. */
  private attempt(f: () => boolean): boolean {
    const values = new Map(this.values), nodes = new Map(this.nodes), matched = this.matched.length;
    if (f()) return true;
    this.values.clear();
    for (const [k, x] of values) this.values.set(k, x);
    this.nodes.clear();
    for (const [k, x] of nodes) this.nodes.set(k, x);
    this.matched.length = matched;
    return false;
  }

  private try(p: Pattern, v: Value): boolean {
    switch (p.kind) {
      case 'any':
        return this.bind(p.name, v);
      case 'constant':
        return (p.fixed ? isFixed(this.graph, this.ctx, v) : constantOf(this.graph, v) !== undefined) && this.bind(p.name, v);
      case 'uniform': {
        const u = uniformValue(this.graph, this.ctx, v);
        return u !== undefined && p.test(u) && this.bind(p.name, v);
      }
      case 'op': {
        const n = v.producer;
        if (!n || v.index !== p.output || !p.ops.includes(n.op) || (p.where && !p.where(n))) return false;
        if (!this.bind(p.name, v)) return false;
        this.matched.push(n);
        if (!p.inputs) return true;
        if (p.inputs.length !== n.inputs.length) return false;
        if (this.all(p.inputs, n.inputs)) return true;
        return p.commutative && n.inputs.length === 2 && this.all([p.inputs[1]!, p.inputs[0]!], n.inputs);
      }
    }
  }

  private all(ps: readonly Pattern[], vs: readonly Value[]): boolean {
    return this.attempt(() => ps.every((q, i) => this.match(q, vs[i]!)));
  }
}

/** Tries `r` at `node`: returns the match when its pattern matches there. */
export function matchAt(graph: Graph, ctx: PassContext, r: Rule | Pattern, node: Node): Match | null {
  const p = 'pattern' in r ? r.pattern : r;
  if (p.kind !== 'op') return null;
  const out = node.outputs[p.output];
  if (!out) return null;
  const m = new Matcher(graph, ctx);
  if (!m.match(p, out)) return null;
  return new Match(graph, ctx, node, m.values, m.nodes, m.matched);
}

/**
 * Applies `rules` to the nodes of `graph` (its top level), in order, sweeping again
 * while something changed (at most `maxSweeps` times). A replacement must have the type
 * of what it replaces; nodes left unread are erased. Returns whether anything changed.
 *
 * @example
 * ```ts
 * const changed = rewrite(graph, [rule('neg(neg(x))', P.op('neg', [P.op('neg', [P.any('x')])]), (m) => m.value('x'))], ctx);
 * ```
 */
export function rewrite(graph: Graph, rules: readonly Rule[], ctx: PassContext, maxSweeps = 16): boolean {
  let changed = false;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let any = false;
    const erased = new Set<Node>();
    for (const node of [...graph.nodes]) {
      if (erased.has(node)) continue;
      for (const r of rules) {
        const m = matchAt(graph, ctx, r, node);
        if (!m) continue;
        const out = node.outputs[(r.pattern as { output: number }).output]!;
        const rep = r.rewrite(m, new Builder(graph, node));
        if (rep === null || rep === out) continue;
        if (!typesEqual(rep.type, out.type)) throw new KilnError(`rewrite rule '${r.name}' replaced ${describeNode(node)} by a value of another type`);
        replaceValue(graph, out, rep);
        for (const n of m.matched) if (!erased.has(n) && graph.nodes.includes(n) && eraseIfDead(graph, n)) erased.add(n);
        any = true;
        break;
      }
    }
    if (!any) break;
    changed = true;
  }
  return changed;
}
