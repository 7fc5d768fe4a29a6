// Finding symbolic dims by comparing traces. The function is traced at the real size of
// each symbol and, shape-only, at two more sizes (compile.ts picks size+1 and 1). Every number in the graphs (dims of
// value types, numbers in attributes, sample counts of random ops) is compared across
// the three: a number that changes with the symbol must be `coef·sym + offset` with
// integer coefficients (fitted from two traces, checked on the third) and becomes a
// SymDim; anything else that changes (the ops, their wiring, a constant's values, a
// number that is not affine) means the code depends on the size in a way one graph
// cannot express: that symbol is then pinned (guarded) to its value, with the reason.
import { describeNode, evalDim, fitDim, formatDim, type Dim, type IrAttrs, type IrAttrValue, type Graph, type Node, type TypedArray, type Value, type ValueType } from '../ir/index.js';
import type { Feed, Trace } from './graphTracer.js';
import { outputSkeleton } from './outputTree.js';

type NumFn = (n: number, where: () => string) => Dim;

interface Part {
  readonly text: string;
  readonly where: () => string;
}

/** What a walk rebuilt, with each number replaced by `num`'s answer. */
interface Rebuilt {
  readonly inputTypes: ValueType[];
  readonly nodeTypes: ValueType[][];
  readonly nodeAttrs: IrAttrs[];
  readonly feeds: Feed[];
  /** The nodes walked (subgraphs' included, pre-order) and the subgraphs' inputs, parallel to the arrays above. */
  readonly nodes: Node[];
  readonly subInputs: Value[];
  readonly subInputTypes: ValueType[];
}

function hashData(data: TypedArray): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return `${data.length}:${(h >>> 0).toString(16)}`;
}

/** A graph's nodes and those of its subgraphs (If branches, Loop bodies), in pre-order. */
function flatNodes(g: Graph, out: Node[] = []): Node[] {
  for (const n of g.nodes) {
    out.push(n);
    for (const s of n.subgraphs) flatNodes(s, out);
  }
  return out;
}

function nodeWhere(t: Trace, i: number): string {
  const n = flatNodes(t.graph)[i]!;
  return `${describeNode(n)}${n.source ? ` at ${n.source}` : ''}`;
}

/**
 * Walks a trace in a fixed order: the parts that must be equal between traces go to
 * `parts`, every number goes through `num`.
 */
function walk(t: Trace, num: NumFn, parts: Part[]): Rebuilt {
  const g = t.graph;
  const ids = new Map<Value, string>();
  const type = (v: ValueType, where: () => string, skeleton: string[]): ValueType => {
    skeleton.push(`${v.dtype}/${v.shape.length}`);
    return { dtype: v.dtype, shape: v.shape.map((d) => (typeof d === 'number' ? num(d, where) : d)) };
  };
  const inputTypes: ValueType[] = [];
  const feeds: Feed[] = [];
  g.inputs.forEach((v, i) => {
    ids.set(v, `i${i}`);
    const feed = t.feeds[i]!;
    const where = () => `input %${v.name}`;
    const sk: string[] = [feed.kind === 'state' ? `state:${feed.name}` : feed.kind === 'rng' ? `rng:${feed.draws}` : `in${feed.index}`];
    inputTypes.push(type(v.type, where, sk));
    if (feed.kind === 'rng') {
      feeds.push({ ...feed, numel: typeof feed.numel === 'number' ? num(feed.numel, () => `the sample count of random input %${v.name}`) : feed.numel });
    } else feeds.push(feed);
    parts.push({ text: sk.join(' '), where });
  });
  let c = 0;
  const firstUse = (v: Value): number => g.nodes.findIndex((n) => n.inputs.includes(v));
  for (const k of g.constants.values()) {
    ids.set(k.value, `c${c++}`);
    const live = t.live.get(k.value.name);
    const text = live ? `live:${k.value.name}#${live.id}` : `const:${k.value.type.dtype}[${k.value.type.shape.map((d) => formatDim(d)).join(',')}]=${hashData(k.data)}`;
    parts.push({
      text,
      where: () => {
        const user = firstUse(k.value);
        return `the values of constant %${k.value.name}${user >= 0 ? ` (used by ${nodeWhere(t, user)})` : ''}`;
      },
    });
  }
  const nodeTypes: ValueType[][] = [];
  const nodeAttrs: IrAttrs[] = [];
  const nodes: Node[] = [];
  const subInputs: Value[] = [];
  const subInputTypes: ValueType[] = [];
  const visitNode = (n: Node, i: number): void => {
    const where = () => nodeWhere(t, i);
    const sk: string[] = [`${n.op}(${n.inputs.map((v) => ids.get(v) ?? `?${v.name}`).join(',')})`];
    const attrs: Record<string, IrAttrValue> = {};
    for (const key of Object.keys(n.attrs)) {
      const v = n.attrs[key]!;
      const attrWhere = () => `attribute ${key} of ${where()}`;
      if (typeof v === 'number') {
        sk.push(`${key}:n`);
        attrs[key] = num(v, attrWhere);
      } else if (Array.isArray(v)) {
        sk.push(`${key}:[${(v as readonly unknown[]).map((e) => (Array.isArray(e) ? `[${e.map((x) => (typeof x === 'number' ? 'n' : JSON.stringify(x))).join(',')}]` : typeof e === 'number' ? 'n' : JSON.stringify(e))).join(',')}]`);
        attrs[key] = (v as readonly unknown[]).map((e) =>
          Array.isArray(e) ? e.map((x) => (typeof x === 'number' ? num(x, attrWhere) : x)) : typeof e === 'number' ? num(e, attrWhere) : e,
        ) as IrAttrValue;
      } else {
        sk.push(`${key}=${JSON.stringify(v)}`);
        attrs[key] = v;
      }
    }
    const outWhere = () => `the result type of ${where()}`;
    nodeTypes.push(n.outputs.map((v, k) => {
      ids.set(v, `n${i}.${k}`);
      return type(v.type, outWhere, sk);
    }));
    nodeAttrs.push(attrs);
    parts.push({ text: sk.join(' '), where });
  };
  // Subgraphs (kiln.cond's branches) are walked in place, so their types and attributes
  // generalize with the node that holds them.
  const visitGraph = (sub: Graph): void => {
    for (const n of sub.nodes) {
      const i = nodes.length;
      nodes.push(n);
      visitNode(n, i);
      n.subgraphs.forEach((body, b) => {
        const where = () => `subgraph ${b} of ${nodeWhere(t, i)}`;
        const sk: string[] = [`sub${b}(`];
        for (const v of body.inputs) {
          ids.set(v, `s${subInputs.length}`);
          subInputs.push(v);
          subInputTypes.push(type(v.type, where, sk));
        }
        parts.push({ text: sk.join(' '), where });
        visitGraph(body);
        parts.push({ text: `sub-return ${body.outputs.map((v) => ids.get(v) ?? `?${v.name}`).join(',')}`, where });
      });
    }
  };
  visitGraph(g);
  parts.push({ text: `return ${g.outputs.map((v) => ids.get(v)).join(',')} ${outputSkeleton(t.outputs)}`, where: () => 'what the function returns' });
  parts.push({
    text: `writes ${t.mutations.map((m) => ('input' in m.target ? `in${m.target.input}` : `state:${m.target.name}`) + `<-${m.output}`).join(',')}`,
    where: () => 'the in-place updates',
  });
  return { inputTypes, nodeTypes, nodeAttrs, feeds, nodes, subInputs, subInputTypes };
}

function collect(t: Trace): { parts: Part[]; nums: number[]; wheres: (() => string)[] } {
  const parts: Part[] = [];
  const nums: number[] = [];
  const wheres: (() => string)[] = [];
  walk(t, (n, where) => {
    nums.push(n);
    wheres.push(where);
    return n;
  }, parts);
  return { parts, nums, wheres };
}

/** A symbol, its real value, and the shape-only traces at `values[1]`, `values[2]` (or why they failed). */
export interface SymbolProbe {
  readonly name: string;
  /** [real, second, third] sizes. */
  readonly values: readonly [number, number, number];
  readonly variants: readonly [Trace, Trace] | string;
}

/** The result of `generalize`: the symbols that had to be pinned, and why. */
export interface Generalized {
  readonly trace: Trace;
  readonly pinned: ReadonlyMap<string, string>;
}

/**
 * Rewrites `real` (traced at the real sizes) with symbolic dims where the probes show
 * a number varies affinely with exactly one symbol; pins the other symbols.
 */
export function generalize(real: Trace, probes: readonly SymbolProbe[]): Generalized {
  const base = collect(real);
  const pinned = new Map<string, string>();
  const fits = new Map<number, { sym: string; dim: Dim }[]>();
  for (const p of probes) {
    if (typeof p.variants === 'string') {
      pinned.set(p.name, p.variants);
      continue;
    }
    const [x0, x1, x2] = p.values;
    const others = p.variants.map(collect);
    let reason: string | null = null;
    others.forEach((o, j) => {
      const n = Math.max(base.parts.length, o.parts.length);
      for (let i = 0; i < n && !reason; i++) {
        if (base.parts[i]?.text !== o.parts[i]?.text) reason = `the traced code differs between ${p.name} = ${x0} and ${p.name} = ${j === 0 ? x1 : x2}, at ${(base.parts[i] ?? o.parts[i])!.where()}`;
      }
      if (!reason && o.nums.length !== base.nums.length) reason = `the traced code differs between ${p.name} = ${x0} and ${p.name} = ${j === 0 ? x1 : x2}`;
    });
    if (!reason) {
      const [b, c] = [others[0]!.nums, others[1]!.nums];
      for (let i = 0; i < base.nums.length; i++) {
        const a = base.nums[i]!;
        if (Object.is(a, b[i]) && Object.is(a, c[i])) continue;
        const fit = fitDim(a, b[i]!, p.name, x0, x1);
        if (fit === null || typeof fit === 'number' || evalDim(fit, new Map([[p.name, x2]])) !== c[i]) {
          reason = `${base.wheres[i]!()} is ${a}, ${b[i]}, ${c[i]} at ${p.name} = ${x0}, ${x1}, ${x2}: not of the form a·${p.name} + b`;
          break;
        }
        let list = fits.get(i);
        if (!list) fits.set(i, (list = []));
        list.push({ sym: p.name, dim: fit });
      }
    }
    if (reason) pinned.set(p.name, reason);
  }
  // One dim, one symbol: a number moved by two symbols (batch·seq) pins both.
  for (const [i, list] of fits) {
    const live = list.filter((f) => !pinned.has(f.sym));
    if (live.length > 1) for (const f of live) pinned.set(f.sym, `${base.wheres[i]!()} depends on ${live.map((l) => l.sym).join(' and ')} together`);
  }
  const dims: Dim[] = base.nums.map((n, i) => {
    const live = (fits.get(i) ?? []).filter((f) => !pinned.has(f.sym));
    return live.length === 1 ? live[0]!.dim : n;
  });
  let k = 0;
  const rebuilt = walk(real, () => dims[k++]!, []);
  const g = real.graph;
  g.inputs.forEach((v, i) => { v.type = rebuilt.inputTypes[i]!; });
  rebuilt.nodes.forEach((n, i) => {
    n.attrs = rebuilt.nodeAttrs[i]!;
    n.outputs.forEach((v, j) => { v.type = rebuilt.nodeTypes[i]![j]!; });
  });
  rebuilt.subInputs.forEach((v, i) => { v.type = rebuilt.subInputTypes[i]!; });
  return { trace: { ...real, feeds: rebuilt.feeds }, pinned };
}
