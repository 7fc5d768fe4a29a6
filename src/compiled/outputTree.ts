// What a traced function returned, as a tree whose tensor leaves are graph outputs:
// tensors, arrays and plain objects of them, and other values kept as they were.
import { KilnError } from '../ir/index.js';
import { Tensor } from '../eager/tensor.js';

/**
 * A tensor leaf is graph output `output`. `same` keeps object identity: the function
 * returned one of its inputs (`input`) or a state tensor it did not create (`state`),
 * which a compiled call returns as the very same object, as eager would.
 */
export type OutputTree =
  | { readonly kind: 'tensor'; readonly output: number; readonly same?: { readonly input: number } | { readonly state: Tensor } }
  | { readonly kind: 'array'; readonly items: readonly OutputTree[] }
  | { readonly kind: 'object'; readonly keys: readonly string[]; readonly items: readonly OutputTree[] }
  | { readonly kind: 'value'; readonly value: unknown };

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function containsTensor(v: object): boolean {
  return Object.values(v).some((x) => x instanceof Tensor || (Array.isArray(x) && x.some((y) => y instanceof Tensor)));
}

/** Flattens `result`; `leaf` turns each tensor into its output leaf. */
export function flattenOutputs(result: unknown, leaf: (t: Tensor) => OutputTree, depth = 0): OutputTree {
  if (result instanceof Tensor) return leaf(result);
  if (depth > 16) throw new KilnError('compile: the returned value is nested more than 16 levels deep', { op: 'compile' });
  if (Array.isArray(result)) return { kind: 'array', items: result.map((r) => flattenOutputs(r, leaf, depth + 1)) };
  if (typeof result === 'object' && result !== null) {
    if (isPlainObject(result)) {
      const keys = Object.keys(result);
      return { kind: 'object', keys, items: keys.map((k) => flattenOutputs((result as Record<string, unknown>)[k], leaf, depth + 1)) };
    }
    if (containsTensor(result)) {
      const name = (result as object).constructor?.name ?? 'object';
      throw new KilnError(`compile: the function returned a ${name} holding tensors; return tensors, arrays or plain objects of them`, { op: 'compile' });
    }
  }
  return { kind: 'value', value: result };
}

/**
 * Rebuilds the returned value from the graph outputs `outs`: a leaf is its output, or,
 * with `same`, the very input (of `inputs`) or state tensor. Loops, no closures: a run
 * allocates only the arrays and objects of the value itself.
 */
export function buildOutputs(tree: OutputTree, outs: readonly Tensor[], inputs: readonly Tensor[]): unknown {
  switch (tree.kind) {
    case 'tensor': {
      const same = tree.same;
      if (same) return 'input' in same ? inputs[same.input]! : same.state;
      return outs[tree.output]!;
    }
    case 'array': {
      const items = tree.items, out = new Array<unknown>(items.length);
      for (let i = 0; i < items.length; i++) out[i] = buildOutputs(items[i]!, outs, inputs);
      return out;
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < tree.keys.length; i++) out[tree.keys[i]!] = buildOutputs(tree.items[i]!, outs, inputs);
      return out;
    }
    case 'value': return tree.value;
  }
}

/** Whether the value `buildOutputs` rebuilds holds graph output `output` itself (a leaf without `same`). */
export function handsOutput(tree: OutputTree, output: number): boolean {
  switch (tree.kind) {
    case 'tensor': return tree.output === output && !tree.same;
    case 'array':
    case 'object':
      for (let i = 0; i < tree.items.length; i++) if (handsOutput(tree.items[i]!, output)) return true;
      return false;
    case 'value': return false;
  }
}

/** Text of the tree's structure and non-tensor values, for comparing two traces. */
export function outputSkeleton(tree: OutputTree): string {
  switch (tree.kind) {
    case 'tensor': return `t${tree.output}${tree.same ? ('input' in tree.same ? `=in${tree.same.input}` : '=state') : ''}`;
    case 'array': return `[${tree.items.map(outputSkeleton).join(',')}]`;
    case 'object': return `{${tree.keys.map((k, i) => `${JSON.stringify(k)}:${outputSkeleton(tree.items[i]!)}`).join(',')}}`;
    case 'value': return typeof tree.value === 'number' || typeof tree.value === 'string' || typeof tree.value === 'boolean' || tree.value == null ? `v${JSON.stringify(tree.value) ?? 'undefined'}` : `v<${typeof tree.value}>`;
  }
}
