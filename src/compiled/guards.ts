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
  };
}

/** The symbols' values if `inputs` pass `g`, else null. */
export function matchGuard(g: Guard, inputs: readonly Tensor[]): Map<string, number> | null {
  const b = new Map<string, number>();
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i]!;
    if (x.dtype !== g.dtypes[i]) return null;
    const dims = g.dims[i]!;
    if (dims.length !== x.rank) return null;
    for (let k = 0; k < dims.length; k++) {
      const d = dims[k]!, n = x.shape[k]!;
      if (typeof d === 'number') {
        if (d !== n) return null;
      } else {
        const prev = b.get(d);
        if (prev === undefined) b.set(d, n);
        else if (prev !== n) return null;
      }
    }
  }
  return b;
}

/** Throws a `KilnError` at the caller's line unless `inputs` fit `specs` in count, type, dtype and rank. */
export function checkInputs(specs: readonly InputSpec[], inputs: readonly Tensor[]): void {
  const site = () => userCallSite();
  if (inputs.length !== specs.length) {
    throw new KilnError(`compile: expected ${specs.length} input${specs.length === 1 ? '' : 's'} (${specs.map(formatSpec).join(', ')}), got ${inputs.length}`, { op: 'compile', callSite: site() });
  }
  inputs.forEach((x, i) => {
    const s = specs[i]!;
    if (!(x instanceof Tensor)) throw new KilnError(`compile: input ${i} must be a Tensor (spec ${formatSpec(s)}), got ${x === null ? 'null' : typeof x}`, { op: 'compile', callSite: site() });
    if (x.dtype !== s.dtype) throw new KilnError(`compile: input ${i} has dtype ${x.dtype} but the spec says ${s.dtype}: expected ${formatSpec(s)}, got ${x.dtype}${formatShape(x.shape)}`, { op: 'compile', callSite: site() });
    if (x.rank !== s.shape.length) throw new KilnError(`compile: input ${i} has rank ${x.rank} but the spec says ${s.shape.length}: expected ${formatSpec(s)}, got ${x.dtype}${formatShape(x.shape)}`, { op: 'compile', callSite: site() });
  });
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
