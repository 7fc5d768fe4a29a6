import { KilnError, RESERVED_WORDS, userCallSite, type DType } from '../ir/index.js';

/** A symbolic dimension of an input spec, made by `kiln.dim('batch')`. */
export interface SymbolicDim {
  readonly kind: 'dim';
  readonly name: string;
}

/** One dimension of an input spec: a size the trace may specialize on, or a symbol. */
export type DimSpec = number | SymbolicDim;

/** The dtype and shape an input of a compiled model is declared with (`kiln.spec`). */
export interface InputSpec {
  readonly shape: readonly DimSpec[];
  readonly dtype: DType;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A named symbolic dimension for `kiln.spec`: inputs may have any size there, and one
 * compiled plan serves every size (when the traced code does not depend on it; when it
 * does, `explain()` says why and that size is guarded instead).
 *
 * @example
 * ```ts
 * const fast = kiln.compile(model, { inputs: [kiln.spec([kiln.dim('batch'), 784])] });
 * fast.run(kiln.randn([1, 784]));
 * fast.run(kiln.randn([37, 784])); // same plan, no retrace
 * ```
 */
export function dim(name: string): SymbolicDim {
  if (typeof name !== 'string' || !IDENT.test(name) || RESERVED_WORDS.has(name)) {
    throw new KilnError(`a dimension name must be an identifier (letters, digits, _), other than ${[...RESERVED_WORDS].join(', ')}; got ${JSON.stringify(name)}`, { op: 'dim', callSite: userCallSite() });
  }
  return { kind: 'dim', name };
}

/**
 * The declared type of one input of `kiln.compile`: a shape whose entries are sizes or
 * `kiln.dim(...)` symbols, and a dtype (default float32). Calls with another dtype or
 * rank throw; calls with other concrete sizes retrace (guards).
 *
 * @example
 * ```ts
 * kiln.spec([kiln.dim('batch'), 784]);          // float32, any batch
 * kiln.spec([kiln.dim('batch')], 'int32');      // class labels
 * kiln.spec([4, 3, 32, 32]);                     // specialized on every size
 * ```
 */
export function spec(shape: readonly DimSpec[], dtype: DType = 'float32'): InputSpec {
  if (!Array.isArray(shape)) throw new KilnError(`spec: shape must be an array of sizes and kiln.dim(...) symbols, got ${typeof shape}`, { op: 'spec', callSite: userCallSite() });
  for (const d of shape) {
    const ok = typeof d === 'number' ? Number.isInteger(d) && d >= 0 : isSymbolicDim(d);
    if (!ok) throw new KilnError(`spec: shape entries must be non-negative integers or kiln.dim('name'), got ${JSON.stringify(d)}`, { op: 'spec', callSite: userCallSite() });
  }
  if (!['float32', 'float64', 'int32', 'bool'].includes(dtype)) throw new KilnError(`spec: unknown dtype ${JSON.stringify(dtype)}`, { op: 'spec', callSite: userCallSite() });
  return { shape: [...shape], dtype };
}

export function isSymbolicDim(d: unknown): d is SymbolicDim {
  return typeof d === 'object' && d !== null && (d as SymbolicDim).kind === 'dim' && typeof (d as SymbolicDim).name === 'string';
}

/** `float32[batch, 784]`. */
export function formatSpec(s: InputSpec): string {
  return `${s.dtype}[${s.shape.map((d) => (typeof d === 'number' ? String(d) : d.name)).join(', ')}]`;
}
