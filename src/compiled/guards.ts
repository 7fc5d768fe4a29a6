// Guards: which input signatures a compiled entry accepts (dtypes, and per dim a size or
// a symbol), checking calls against the declared specs, and the symbols' values a call
// binds.
import { formatShape, KilnError, userCallSite, type DType } from '../ir/index.js';
import { Tensor } from '../eager/tensor.js';
import { formatSpec, isSymbolicDim, type InputSpec } from './spec.js';

/** Accepted input signatures: dtypes, and per dim a size or a symbol name. */
export interface Guard {
  readonly dtypes: readonly DType[];
  readonly dims: readonly (readonly (number | string)[])[];
  /**
   * The symbols' values of the call `matchGuard` matched last: the one map it returns,
   * rewritten at each match (a call allocates none), valid until the next match.
   */
  readonly bindings: Map<string, number>;
}

/** `float32[batch, 4], int32[batch]`. */
export function guardText(g: Guard): string {
  return g.dtypes.map((d, i) => `${d}[${g.dims[i]!.join(', ')}]`).join(', ');
}

/** The guard of `inputs`' signature: symbols of the specs stay symbols unless `pinned`. */
export function guardFor(specs: readonly InputSpec[], inputs: readonly Tensor[], pinned: ReadonlySet<string>): Guard {
  return {
    dtypes: inputs.map((x) => x.dtype),
    dims: inputs.map((x, i) => specs[i]!.shape.map((d, k) => (isSymbolicDim(d) && !pinned.has(d.name) ? d.name : x.shape[k]!))),
    bindings: new Map(),
  };
}

/** Whether symbol dim `dims[i][k]` is the first dim of that name (in input, then dim order). */
function firstOfName(dims: Guard['dims'], i: number, k: number): boolean {
  const name = dims[i]![k]!;
  for (let j = 0; j <= i; j++) {
    const dj = dims[j]!, end = j === i ? k : dj.length;
    for (let q = 0; q < end; q++) if (dj[q] === name) return false;
  }
  return true;
}

/**
 * The symbols' values if `inputs` pass `g`, else null. The map is `g.bindings`, rewritten
 * at each match (no allocation per call): read it before the next match, copy it to keep it.
 */
export function matchGuard(g: Guard, inputs: readonly Tensor[]): ReadonlyMap<string, number> | null {
  const b = g.bindings;
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i]!;
    if (x.dtype !== g.dtypes[i]) return null;
    const dims = g.dims[i]!;
    if (dims.length !== x.rank) return null;
    for (let k = 0; k < dims.length; k++) {
      const d = dims[k]!, n = x.shape[k]!;
      if (typeof d === 'number') {
        if (d !== n) return null;
      } else if (firstOfName(g.dims, i, k)) {
        b.set(d, n); // every symbol of the guard is set at each match: no stale value stays
      } else if (b.get(d) !== n) {
        return null;
      }
    }
  }
  return b;
}

/** Throws a `KilnError` at the caller's line unless `inputs` fit `specs` in count, type, dtype and rank. */
export function checkInputs(specs: readonly InputSpec[], inputs: readonly Tensor[]): void {
  if (inputs.length !== specs.length) {
    throw new KilnError(`compile: expected ${specs.length} input${specs.length === 1 ? '' : 's'} (${specs.map(formatSpec).join(', ')}), got ${inputs.length}`, { op: 'compile', callSite: userCallSite() });
  }
  // A loop, not forEach: this runs at every call, and allocates nothing unless it throws.
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i], s = specs[i]!;
    if (!(x instanceof Tensor)) throw new KilnError(`compile: input ${i} must be a Tensor (spec ${formatSpec(s)}), got ${x === null ? 'null' : typeof x}`, { op: 'compile', callSite: userCallSite() });
    if (x.dtype !== s.dtype) throw new KilnError(`compile: input ${i} has dtype ${x.dtype} but the spec says ${s.dtype}: expected ${formatSpec(s)}, got ${x.dtype}${formatShape(x.shape)}`, { op: 'compile', callSite: userCallSite() });
    if (x.rank !== s.shape.length) throw new KilnError(`compile: input ${i} has rank ${x.rank} but the spec says ${s.shape.length}: expected ${formatSpec(s)}, got ${x.dtype}${formatShape(x.shape)}`, { op: 'compile', callSite: userCallSite() });
  }
}

/** Symbols of the specs with their values in `inputs` (one value per name; inputs that disagree throw). */
export function symbolValues(specs: readonly InputSpec[], inputs: readonly Tensor[]): Map<string, number> {
  const values = new Map<string, number>();
  specs.forEach((s, i) => s.shape.forEach((d, k) => {
    if (!isSymbolicDim(d)) return;
    const n = inputs[i]!.shape[k]!;
    const prev = values.get(d.name);
    if (prev !== undefined && prev !== n) {
      throw new KilnError(`compile: the inputs disagree on dimension '${d.name}': ${prev} and ${n} (input ${i}, dimension ${k})`, { op: 'compile', callSite: userCallSite() });
    }
    values.set(d.name, n);
  }));
  return values;
}
