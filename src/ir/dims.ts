import { KilnError } from './errors.js';

/**
 * A symbolic dimension: `coef · sym + offset`, affine in one named symbol (e.g. `batch`,
 * `2*batch`, `batch+1`). Enough for what tracing discovers (reshapes, concats along
 * the batch axis) while staying exactly solvable from two traces.
 */
export interface SymDim {
  readonly sym: string;
  readonly coef: number;
  readonly offset: number;
}

/** A dimension: a number, or symbolic. */
export type Dim = number | SymDim;

/** Values of the symbols, by name. */
export type Bindings = ReadonlyMap<string, number>;

export function sym(name: string, coef = 1, offset = 0): SymDim {
  return { sym: name, coef, offset };
}

export function isSym(d: unknown): d is SymDim {
  return typeof d === 'object' && d !== null && typeof (d as SymDim).sym === 'string';
}

/** The concrete size of `d` under `bindings`; throws naming an unbound symbol. */
export function evalDim(d: Dim, bindings: Bindings): number {
  if (typeof d === 'number') return d;
  const v = bindings.get(d.sym);
  if (v === undefined) throw new KilnError(`symbol '${d.sym}' has no value`);
  return d.coef * v + d.offset;
}

export function dimEquals(a: Dim, b: Dim): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  return a.sym === b.sym && a.coef === b.coef && a.offset === b.offset;
}

/** `batch`, `2*batch`, `batch+1`, `3*batch-2`, or the number. */
export function formatDim(d: Dim): string {
  if (typeof d === 'number') return String(d);
  const head = d.coef === 1 ? d.sym : `${d.coef}*${d.sym}`;
  return d.offset === 0 ? head : d.offset > 0 ? `${head}+${d.offset}` : `${head}${d.offset}`;
}

/** Inverse of `formatDim`. */
export function parseDim(text: string): Dim {
  const t = text.trim();
  if (/^-?\d+$/.test(t)) return Number(t);
  const m = /^(?:(-?\d+)\*)?([A-Za-z_][A-Za-z0-9_]*)(?:([+-]\d+))?$/.exec(t);
  if (!m) throw new KilnError(`cannot parse dimension '${text}'`);
  return sym(m[2]!, m[1] ? Number(m[1]) : 1, m[3] ? Number(m[3]) : 0);
}

/**
 * The dim explaining two observations `a` (when `name` = `xa`) and `b` (when
 * `name` = `xb`): a constant if equal, else the affine `coef·name + offset` if it has
 * integer coefficients, else null (the trace depends on the size in a way Kiln cannot
 * express: the caller must guard on it instead).
 */
export function fitDim(a: number, b: number, name: string, xa: number, xb: number): Dim | null {
  if (a === b) return a;
  const coef = (b - a) / (xb - xa);
  const offset = a - coef * xa;
  if (!Number.isInteger(coef) || !Number.isInteger(offset)) return null;
  return sym(name, coef, offset);
}
