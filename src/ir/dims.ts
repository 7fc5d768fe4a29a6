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

// ---- Affine arithmetic on dims ------------------------------------------------------
// Symbolic shape inference computes output dims from input dims with these helpers. A
// dim is affine in at most one symbol; a result that is not (batch·seq, batch/2 when
// batch may be odd) throws a `NotAffineError`, so inference says it cannot express the
// result instead of guessing.

/** A dim arithmetic result that is not `coef·sym + offset` in one symbol. */
export class NotAffineError extends KilnError {
  override name = 'NotAffineError';
}

/** `d` with a zero coefficient written as the number it is. */
function normal(sym: string, coef: number, offset: number): Dim {
  return coef === 0 ? offset : { sym, coef, offset };
}

/** a + b (at most one of them symbolic, or both in the same symbol). */
export function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (typeof a === 'number') return normal((b as SymDim).sym, (b as SymDim).coef, (b as SymDim).offset + a);
  if (typeof b === 'number') return normal(a.sym, a.coef, a.offset + b);
  if (a.sym !== b.sym) throw new NotAffineError(`${formatDim(a)} + ${formatDim(b)} is not affine in one symbol`);
  return normal(a.sym, a.coef + b.coef, a.offset + b.offset);
}

/** a − b. */
export function dimSub(a: Dim, b: Dim): Dim {
  return dimAdd(a, dimMul(b, -1));
}

/** a · b (one of them a number). */
export function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (typeof a !== 'number' && typeof b !== 'number') throw new NotAffineError(`${formatDim(a)} · ${formatDim(b)} is not affine in one symbol`);
  const [s, k] = typeof a === 'number' ? [b as SymDim, a] : [a, b as number];
  return normal(s.sym, s.coef * k, s.offset * k);
}

/** The product of `dims` (an element count): affine while at most one factor is symbolic. */
export function dimProduct(dims: readonly Dim[]): Dim {
  let p: Dim = 1;
  for (const d of dims) p = dimMul(p, d);
  return p;
}

/**
 * ⌊a / k⌋ for a positive integer `k`: affine when `k` divides the coefficient
 * (⌊(c·s + o)/k⌋ = (c/k)·s + ⌊o/k⌋ for every s), as in a conv's output size at stride 1.
 */
export function dimFloorDiv(a: Dim, k: number): Dim {
  if (!Number.isInteger(k) || k <= 0) throw new KilnError(`cannot divide a dim by ${k}`);
  if (typeof a === 'number') return Math.floor(a / k);
  if (a.coef % k !== 0) throw new NotAffineError(`⌊(${formatDim(a)}) / ${k}⌋ is not affine in ${a.sym}`);
  return normal(a.sym, a.coef / k, Math.floor(a.offset / k));
}

/** a / b when it comes out whole for every value of the symbols (a reshape's −1), else throws. */
export function dimDivExact(a: Dim, b: Dim): Dim {
  if (typeof b !== 'number') {
    // (c·s + o) / (c'·s + o') is constant only when a is a multiple of b.
    if (typeof a !== 'number' && a.sym === b.sym && a.coef * b.offset === a.offset * b.coef && a.coef % b.coef === 0) return a.coef / b.coef;
    throw new NotAffineError(`${formatDim(a)} / ${formatDim(b)} is not affine in one symbol`);
  }
  if (b === 0) throw new KilnError(`cannot divide ${formatDim(a)} by 0`);
  if (typeof a === 'number') {
    if (a % b !== 0) throw new KilnError(`${a} is not a multiple of ${b}`);
    return a / b;
  }
  if (a.coef % b !== 0 || a.offset % b !== 0) throw new NotAffineError(`${formatDim(a)} / ${b} does not come out whole for every ${a.sym}`);
  return normal(a.sym, a.coef / b, a.offset / b);
}
