// Questions passes ask about values: is it a constant, may its data be read at compile
// time, what does it alias; and the one safe way to replace a value.
import { getOp, type Constant, type Graph, type Node, type TypedArray, type Value, type ValueType } from '../ir/index.js';
import type { PassContext } from './pass.js';

/** The constant of `g` that `v` is, if any. */
export function constantOf(g: Graph, v: Value): Constant | undefined {
  const c = g.constants.get(v.name);
  return c?.value === v ? c : undefined;
}

/**
 * Whether `v`'s data is fixed for the life of the graph: a constant that is neither read
 * live (a parameter) nor folded from one. Only such data may be looked at by a pass.
 */
export function isFixed(g: Graph, ctx: PassContext, v: Value): boolean {
  const c = constantOf(g, v);
  return c !== undefined && !c.folded && !ctx.live.has(v.name);
}

/** The data of a fixed constant (see `isFixed`), else undefined. */
export function fixedData(g: Graph, ctx: PassContext, v: Value): TypedArray | undefined {
  return isFixed(g, ctx, v) ? constantOf(g, v)!.data : undefined;
}

/**
 * The one value all elements of `v` hold, when `v` is a fixed constant (or an `expand`
 * of one, the tracer's form of a filled tensor) whose elements are all the same.
 */
export function uniformValue(g: Graph, ctx: PassContext, v: Value): number | undefined {
  if (v.producer?.op === 'expand') return uniformValue(g, ctx, v.producer.inputs[0]!);
  const data = fixedData(g, ctx, v);
  if (!data || data.length === 0) return undefined;
  const first = Number(data[0]);
  for (let i = 1; i < data.length; i++) if (!Object.is(Number(data[i]), first)) return undefined;
  return first;
}

/** The shape as numbers, or null when a dim is symbolic. */
export function staticShape(t: ValueType): number[] | null {
  return t.shape.every((d) => typeof d === 'number') ? (t.shape as number[]) : null;
}

/** Whether `node`'s op is defined as an alias (its output shares input 0's storage: reshape). */
export function isAlias(node: Node): boolean {
  return getOp(node.op)?.alias === true;
}

/** The value whose storage `v` shares: itself, or what a chain of alias ops (reshape) starts from. */
export function storageRoot(v: Value): Value {
  let r = v;
  while (r.producer && isAlias(r.producer)) r = r.producer.inputs[0]!;
  return r;
}

/**
 * How many times each value is read: node inputs (subgraphs included), graph outputs,
 * folded constants' recipes. Values read nowhere are absent.
 */
export function useCounts(g: Graph): Map<Value, number> {
  const counts = new Map<Value, number>();
  const bump = (v: Value) => counts.set(v, (counts.get(v) ?? 0) + 1);
  const visit = (sub: Graph): void => {
    sub.outputs.forEach(bump);
    for (const c of sub.constants.values()) c.folded?.inputs.forEach(bump);
    for (const n of sub.nodes) {
      n.inputs.forEach(bump);
      n.subgraphs.forEach(visit);
    }
  };
  visit(g);
  return counts;
}

/**
 * Replaces `old` by `replacement` everywhere (`Graph.replaceAllUsesWith`), but where
 * `old` was returned by the graph and `replacement` shares storage with a graph input, a
 * constant or another output, that output gets a `copy` of it instead: the compiled
 * call hands back a fresh tensor where eager did, so writing into one result never
 * changes an input, a parameter or another result.
 */
export function replaceValue(g: Graph, old: Value, replacement: Value): void {
  if (old === replacement) return;
  const slots = g.outputs.flatMap((v, i) => (v === old ? [i] : []));
  g.replaceAllUsesWith(old, replacement);
  if (!slots.length) return;
  const oldRoot = storageRoot(old), root = storageRoot(replacement);
  if (oldRoot === root) return;
  const shared = g.inputs.includes(root) || constantOf(g, root) !== undefined
    || g.outputs.some((v, i) => !slots.includes(i) && storageRoot(v) === root);
  if (!shared) return;
  const copy = g.insertBefore(null, 'copy', [replacement], {}, [replacement.type], old.producer?.source).outputs[0]!;
  for (const i of slots) g.outputs[i] = copy;
}

/** Erases `node` when nothing reads its outputs; returns whether it did. */
export function eraseIfDead(g: Graph, node: Node): boolean {
  if (node.outputs.some((v) => g.isUsed(v))) return false;
  g.erase(node);
  return true;
}
