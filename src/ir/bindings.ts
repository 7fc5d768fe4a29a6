/**
 * Giving symbolic dims their values: evaluating types and attributes under bindings
 * (`batch = 7`), and discovering the bindings from concrete shapes.
 */
import { evalDim, formatDim, isSym, type Bindings, type Dim } from './dims.js';
import type { TensorType } from './dtype.js';
import type { IrAttrs, IrAttrValue, ValueType } from './graph.js';
import type { AttrValue, Attrs } from './opRegistry.js';

/** The concrete shape of `shape` under `bindings`; throws naming an unbound symbol. */
export function evalShape(shape: readonly Dim[], bindings: Bindings): number[] {
  return shape.map((d) => evalDim(d, bindings));
}

/** The concrete type of `t` under `bindings`. */
export function concreteType(t: ValueType, bindings: Bindings): TensorType {
  return { dtype: t.dtype, shape: evalShape(t.shape, bindings) };
}

function hasSym(v: IrAttrValue): boolean {
  if (isSym(v)) return true;
  if (!Array.isArray(v)) return false;
  for (const e of v as readonly unknown[]) if (isSym(e) || (Array.isArray(e) && e.some(isSym))) return true;
  return false;
}

function substitute(v: IrAttrValue, bindings: Bindings): AttrValue {
  if (isSym(v)) return evalDim(v, bindings);
  if (!Array.isArray(v)) return v as AttrValue;
  return (v as readonly (Dim | readonly Dim[])[]).map((e) => (Array.isArray(e) ? (e as readonly Dim[]).map((d) => evalDim(d, bindings)) : evalDim(e as Dim, bindings))) as AttrValue;
}

/**
 * Attributes with every symbolic dim replaced by its value, ready for an op's `infer`
 * or kernel. Returns `attrs` itself when nothing is symbolic (no allocation).
 */
export function concreteAttrs(attrs: IrAttrs, bindings: Bindings): Attrs {
  let symbolic = false;
  for (const k in attrs) if (hasSym(attrs[k]!)) { symbolic = true; break; }
  if (!symbolic) return attrs as Attrs;
  const out: Record<string, AttrValue> = {};
  for (const k in attrs) out[k] = substitute(attrs[k]!, bindings);
  return out;
}

/**
 * Matches a concrete `actual` shape against `declared`: binds each symbol not yet in
 * `bindings` (solving `coef·s + offset = size`), then checks every dim. Returns null on
 * success, else what differs (for an error message).
 *
 * @example
 * ```ts
 * const b = new Map<string, number>();
 * bindShape([sym('batch'), 784], [7, 784], b); // null; b.get('batch') === 7
 * bindShape([sym('batch'), 784], [3, 784], b); // 'dimension 0: expected batch = 7 but got 3'
 * ```
 */
export function bindShape(declared: readonly Dim[], actual: readonly number[], bindings: Map<string, number>): string | null {
  if (declared.length !== actual.length) return `rank ${actual.length} instead of ${declared.length}`;
  for (let i = 0; i < declared.length; i++) {
    const d = declared[i]!;
    if (typeof d === 'number' || bindings.has(d.sym) || d.coef === 0) continue;
    const v = (actual[i]! - d.offset) / d.coef;
    if (!Number.isInteger(v) || v < 0) return `dimension ${i}: size ${actual[i]} does not fit ${formatDim(d)} for any ${d.sym} ≥ 0`;
    bindings.set(d.sym, v);
  }
  for (let i = 0; i < declared.length; i++) {
    const d = declared[i]!;
    const want = typeof d === 'number' ? d : d.coef * (bindings.get(d.sym) ?? 0) + d.offset;
    if (want !== actual[i]) {
      const plain = typeof d !== 'number' && d.coef === 1 && d.offset === 0;
      const expr = typeof d === 'number' ? String(d) : plain ? `${d.sym} = ${want}` : `${formatDim(d)} = ${want} (${d.sym} = ${bindings.get(d.sym)})`;
      return `dimension ${i}: expected ${expr} but got ${actual[i]}`;
    }
  }
  return null;
}

/** `batch=3, seq=5` for messages. */
export function formatBindings(bindings: Bindings): string {
  return [...bindings].map(([k, v]) => `${k}=${v}`).join(', ');
}
