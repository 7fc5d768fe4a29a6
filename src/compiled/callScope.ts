// One call of the user's code (traced, lazy or eager fallback) in a `kiln.scope`.
import { engine } from '../eager/engine.js';
import type { GradNode } from '../eager/autograd.js';
import { scope } from '../eager/scope.js';
import { Tensor } from '../eager/tensor.js';

/** Tensors in `value` (arrays, Maps, objects' own values), up to the depth a compiled result may have. */
function tensorsIn(value: unknown, into: Set<Tensor>, seen = new Set<object>(), depth = 0): void {
  if (value instanceof Tensor) {
    into.add(value);
    return;
  }
  if (depth > 16 || value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  const items = value instanceof Map ? [...value.values()] : Array.isArray(value) ? value : Object.values(value);
  for (const v of items) tensorsIn(v, into, seen, depth + 1);
}

/**
 * Runs one call of the user's code in a `kiln.scope`, so that its intermediates are
 * freed when it returns even if the caller has no scope. Kept: the tensors in the
 * result, and while autograd records, every tensor the result's tape saved for
 * backward (what eager code in a scope keeps alive through the loss it returns).
 */
export function freeingIntermediates<T>(fn: () => T): T {
  let result!: T;
  scope(() => {
    result = fn();
    const keep = new Set<Tensor>();
    tensorsIn(result, keep);
    if (engine.gradEnabled) {
      const seen = new Set<GradNode>();
      const stack = [...keep].map((t) => t.gradFn).filter((n): n is GradNode => n !== null);
      while (stack.length) {
        const node = stack.pop()!;
        if (seen.has(node)) continue;
        seen.add(node);
        for (const t of node.outputs) keep.add(t);
        for (const t of node.inputs) {
          keep.add(t);
          if (t.gradFn) stack.push(t.gradFn);
        }
      }
    }
    return [...keep];
  });
  return result;
}
