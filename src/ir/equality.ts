/** Structural equality of graphs: what "parses back to an equal graph" means. */
import { isSym, dimEquals } from './dims.js';
import type { TypedArray } from './dtype.js';
import type { Graph, IrAttrs, IrAttrValue, Node, Value } from './graph.js';
import { describeNode, formatAttrValue, formatValueName } from './printer.js';
import { formatType, typesEqual } from './valueType.js';

export interface GraphEqualityOptions {
  /** Compare the constants' data bit for bit (default true); false compares names and types only. */
  constantData?: boolean;
}

function attrEqual(a: IrAttrValue | undefined, b: IrAttrValue | undefined): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b);
  if (isSym(a) && isSym(b)) return dimEquals(a, b);
  if (Array.isArray(a) && Array.isArray(b)) {
    const x = a as readonly IrAttrValue[], y = b as readonly IrAttrValue[];
    return x.length === y.length && x.every((e, i) => attrEqual(e, y[i]));
  }
  return false;
}

function attrsDiff(a: IrAttrs, b: IrAttrs): string | null {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const x = a[k], y = b[k];
    if (!attrEqual(x, y)) return `attribute ${k}: ${x === undefined ? 'absent' : formatAttrValue(x)} vs ${y === undefined ? 'absent' : formatAttrValue(y)}`;
  }
  return null;
}

function bytesEqual(a: TypedArray, b: TypedArray): boolean {
  if (a.constructor !== b.constructor || a.length !== b.length) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function names(vs: readonly Value[]): string {
  return vs.map((v) => formatValueName(v.name)).join(', ');
}

function valuesDiff(what: string, a: readonly Value[], b: readonly Value[], withTypes: boolean): string | null {
  if (a.length !== b.length || a.some((v, i) => v.name !== b[i]!.name)) return `${what}: (${names(a)}) vs (${names(b)})`;
  if (withTypes) {
    for (let i = 0; i < a.length; i++) {
      if (!typesEqual(a[i]!.type, b[i]!.type)) return `${what}: ${formatValueName(a[i]!.name)} is ${formatType(a[i]!.type)} vs ${formatType(b[i]!.type)}`;
    }
  }
  return null;
}

function nodeDiff(a: Node, b: Node, options: GraphEqualityOptions): string | null {
  if (a.op !== b.op) return `op ${a.op} vs ${b.op}`;
  const d = valuesDiff('inputs', a.inputs, b.inputs, false) ?? valuesDiff('outputs', a.outputs, b.outputs, true) ?? attrsDiff(a.attrs, b.attrs);
  if (d) return d;
  if (a.source !== b.source) return `source ${a.source ?? 'none'} vs ${b.source ?? 'none'}`;
  if (a.subgraphs.length !== b.subgraphs.length) return `${a.subgraphs.length} vs ${b.subgraphs.length} subgraphs`;
  for (let i = 0; i < a.subgraphs.length; i++) {
    const s = graphDiff(a.subgraphs[i]!, b.subgraphs[i]!, options);
    if (s) return `subgraph ${i}: ${s}`;
  }
  return null;
}

/**
 * The first structural difference between two graphs, or null when they are equal:
 * same inputs, constants, nodes (op, input and output names, output types,
 * attributes, source, subgraphs) and outputs, in the same order.
 */
export function graphDiff(a: Graph, b: Graph, options: GraphEqualityOptions = {}): string | null {
  const d = valuesDiff('graph inputs', a.inputs, b.inputs, true);
  if (d) return d;
  const ca = [...a.constants.values()], cb = [...b.constants.values()];
  const cd = valuesDiff('constants', ca.map((c) => c.value), cb.map((c) => c.value), true);
  if (cd) return cd;
  if (options.constantData !== false) {
    for (let i = 0; i < ca.length; i++) {
      if (!bytesEqual(ca[i]!.data, cb[i]!.data)) return `data of constant ${formatValueName(ca[i]!.value.name)} differs`;
    }
  }
  if (a.nodes.length !== b.nodes.length) return `${a.nodes.length} vs ${b.nodes.length} nodes`;
  for (let i = 0; i < a.nodes.length; i++) {
    const nd = nodeDiff(a.nodes[i]!, b.nodes[i]!, options);
    if (nd) return `node #${i} (${describeNode(a.nodes[i]!)}): ${nd}`;
  }
  return valuesDiff('graph outputs', a.outputs, b.outputs, false);
}

/**
 * Whether two graphs are structurally equal (see `graphDiff`).
 *
 * @example
 * ```ts
 * const text = printGraph(g);
 * graphsEqual(parseGraph(text, { constants: constantData(g) }), g); // true
 * ```
 */
export function graphsEqual(a: Graph, b: Graph, options: GraphEqualityOptions = {}): boolean {
  return graphDiff(a, b, options) === null;
}

/** Every constant's data by name, subgraphs included: what `parseGraph` needs to restore them. */
export function constantData(g: Graph, into = new Map<string, TypedArray>()): Map<string, TypedArray> {
  for (const [name, c] of g.constants) into.set(name, c.data);
  for (const n of g.nodes) for (const s of n.subgraphs) constantData(s, into);
  return into;
}
