// The expression program of a `fusedElementwise` node: a straight-line list of
// elementwise ops over the node's inputs, held in one string attribute so the IR text
// prints and parses it as any other attribute. The op definition (inference,
// decomposition), the fusion pass and the kernels all read it through `parseProgram`,
// so the format lives here, in one place.
//
// Text form: steps separated by `; `, each `op(args)` or `op{name=value, ...}(args)`,
// where an arg is `xK` (input K of the node) or `tK` (the result of step K, an earlier
// one). The last step is the result. Attribute values are numbers (`-0`, `Infinity`,
// `NaN` included) or `null`, exactly as the op takes them.
//
//   mul(x0, x1); add(t0, x2); tanh(t1); leakyRelu{alpha=0.01}(t2)
import type { DType } from './dtype.js';
import { KilnError } from './errors.js';
import type { AttrValue, Attrs } from './opRegistry.js';

/** How a program op is typed: its arguments' dtypes → its result's. */
export type ProgramOpKind = 'unary' | 'binary' | 'compare' | 'logical' | 'logicalNot' | 'where';

/**
 * The ops a program may contain, with their kind and attribute names (in the op's own
 * terms). Values are float32 or bool: unary/binary ops take float32, comparisons give
 * bool, logical ops take bool, where takes (bool, float32, float32).
 */
export const PROGRAM_OPS: Readonly<Record<string, { readonly kind: ProgramOpKind; readonly attrs: readonly string[] }>> = {
  ...Object.fromEntries(['neg', 'abs', 'exp', 'log', 'log1p', 'sqrt', 'rsqrt', 'square', 'reciprocal', 'sign', 'sin', 'cos', 'sigmoid', 'tanh', 'relu', 'erf', 'copy']
    .map((op) => [op, { kind: 'unary' as const, attrs: [] }])),
  leakyRelu: { kind: 'unary', attrs: ['alpha'] },
  elu: { kind: 'unary', attrs: ['alpha'] },
  softplus: { kind: 'unary', attrs: ['beta', 'threshold'] },
  clip: { kind: 'unary', attrs: ['min', 'max'] },
  ...Object.fromEntries(['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'].map((op) => [op, { kind: 'binary' as const, attrs: [] }])),
  ...Object.fromEntries(['equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual'].map((op) => [op, { kind: 'compare' as const, attrs: [] }])),
  logicalAnd: { kind: 'logical', attrs: [] },
  logicalOr: { kind: 'logical', attrs: [] },
  logicalNot: { kind: 'logicalNot', attrs: [] },
  where: { kind: 'where', attrs: [] },
};

const ARITY: Record<ProgramOpKind, number> = { unary: 1, binary: 2, compare: 2, logical: 2, logicalNot: 1, where: 3 };

/** One step: an op on earlier slots. Slots `0 … inputs-1` are the inputs, `inputs + k` is step k's result. */
export interface ProgramStep {
  readonly op: string;
  readonly args: readonly number[];
  readonly attrs: Attrs;
}

/** A parsed program. */
export interface ElementwiseProgram {
  /** How many inputs it reads (every one of them at least once). */
  readonly inputs: number;
  readonly steps: readonly ProgramStep[];
  /** The text it was parsed from (canonical: `formatProgram(parseProgram(t)) === t` for printed programs). */
  readonly text: string;
}

function formatAttrNumber(v: AttrValue): string {
  if (v === null) return 'null';
  if (typeof v !== 'number') throw new KilnError(`a program attribute must be a number or null, got ${JSON.stringify(v)}`);
  return Object.is(v, -0) ? '-0' : String(v);
}

/**
 * The text of a program with `inputs` inputs and `steps` (args as slots, see
 * `ProgramStep`). Attributes are written in the op's declared order.
 *
 * @example
 * ```ts
 * formatProgram(2, [{ op: 'mul', args: [0, 1], attrs: {} }, { op: 'relu', args: [2], attrs: {} }]);
 * // 'mul(x0, x1); relu(t0)'
 * ```
 */
export function formatProgram(inputs: number, steps: readonly ProgramStep[]): string {
  return steps.map((s) => {
    const def = PROGRAM_OPS[s.op];
    if (!def) throw new KilnError(`'${s.op}' cannot be part of an elementwise program`);
    const attrs = def.attrs.length ? `{${def.attrs.map((a) => `${a}=${formatAttrNumber(s.attrs[a] ?? null)}`).join(', ')}}` : '';
    return `${s.op}${attrs}(${s.args.map((a) => (a < inputs ? `x${a}` : `t${a - inputs}`)).join(', ')})`;
  }).join('; ');
}

const STEP = /^([A-Za-z][A-Za-z0-9]*)(?:\{([^}]*)\})?\(([^)]*)\)$/;
const cache = new Map<string, ElementwiseProgram>();

function bad(text: string, why: string): KilnError {
  return new KilnError(`invalid elementwise program ${JSON.stringify(text)}: ${why}`);
}

/**
 * Parses (and checks the structure of) a program's text; cached per text. Throws a
 * KilnError naming what is wrong: an unknown op, a wrong argument count, a step reading
 * a later step, an input or a step's result never read, a missing or malformed attribute.
 *
 * @example
 * ```ts
 * parseProgram('mul(x0, x1); tanh(t0)').steps[1]; // { op: 'tanh', args: [2], attrs: {} }
 * ```
 */
export function parseProgram(text: string): ElementwiseProgram {
  const hit = cache.get(text);
  if (hit) return hit;
  if (typeof text !== 'string' || text.length === 0) throw bad(String(text), 'it is empty');
  const raw = text.split(';').map((s) => s.trim());
  const parsed = raw.map((s, k) => {
    const m = STEP.exec(s);
    if (!m) throw bad(text, `step ${k} (${JSON.stringify(s)}) is not op(args) or op{attrs}(args)`);
    const op = m[1]!;
    const def = Object.hasOwn(PROGRAM_OPS, op) ? PROGRAM_OPS[op]! : undefined;
    if (!def) throw bad(text, `step ${k}: '${op}' is not an elementwise op a program may contain`);
    const attrs: Record<string, AttrValue> = {};
    const given = m[2] === undefined || m[2].trim() === '' ? [] : m[2].split(',').map((a) => a.trim());
    for (const a of given) {
      const eq = a.indexOf('=');
      const name = a.slice(0, eq).trim(), value = a.slice(eq + 1).trim();
      if (eq < 0 || !def.attrs.includes(name) || Object.hasOwn(attrs, name)) throw bad(text, `step ${k}: ${op} takes attributes ${def.attrs.join(', ') || '(none)'}, got '${a}'`);
      const n = value === 'null' ? null : value === '-0' ? -0 : /^-?(?:Infinity|NaN|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)$/.test(value) ? Number(value) : undefined;
      if (n === undefined) throw bad(text, `step ${k}: attribute ${name}=${value} is neither a number nor null`);
      attrs[name] = n;
    }
    for (const name of def.attrs) if (!Object.hasOwn(attrs, name)) throw bad(text, `step ${k}: ${op} needs attribute ${name}`);
    const args = m[3]!.split(',').map((a) => a.trim());
    if (args.length !== ARITY[def.kind]) throw bad(text, `step ${k}: ${op} takes ${ARITY[def.kind]} argument(s), got ${m[3]!.trim() === '' ? 0 : args.length}`);
    return { op, attrs, args: args.map((a) => {
      const am = /^([xt])(\d{1,6})$/.exec(a);
      if (!am) throw bad(text, `step ${k}: argument '${a}' is not xK (an input) or tK (an earlier step)`);
      const i = Number(am[2]);
      if (am[1] === 't' && i >= k) throw bad(text, `step ${k} reads t${i}, which is not an earlier step`);
      return { input: am[1] === 'x', i };
    }) };
  });
  let inputs = 0;
  for (const s of parsed) for (const a of s.args) if (a.input) inputs = Math.max(inputs, a.i + 1);
  const read = new Array<boolean>(inputs).fill(false);
  for (const s of parsed) for (const a of s.args) if (a.input) read[a.i] = true;
  const unread = read.indexOf(false);
  if (unread >= 0) throw bad(text, `input x${unread} is never read`);
  // Every step but the last feeds a later one: the result then broadcasts all inputs.
  const used = parsed.map((_s, k) => k === parsed.length - 1);
  for (const s of parsed) for (const a of s.args) if (!a.input) used[a.i] = true;
  const dead = used.indexOf(false);
  if (dead >= 0) throw bad(text, `the result of step ${dead} is never read`);
  const steps: ProgramStep[] = parsed.map((s) => ({ op: s.op, attrs: s.attrs, args: s.args.map((a) => (a.input ? a.i : inputs + a.i)) }));
  const program: ElementwiseProgram = { inputs, steps, text };
  if (cache.size >= 512) cache.clear();
  cache.set(text, program);
  return program;
}

/**
 * The dtype of every step of `p` given its inputs' dtypes (float32 or bool); the last is
 * the program's result. Throws a KilnError where a step gets a dtype it does not take.
 */
export function programDtypes(p: ElementwiseProgram, inputs: readonly DType[]): DType[] {
  if (inputs.length !== p.inputs) throw new KilnError(`the elementwise program reads ${p.inputs} input(s), got ${inputs.length}`);
  const slot: DType[] = [...inputs];
  for (const [k, d] of inputs.entries()) if (d !== 'float32' && d !== 'bool') throw new KilnError(`elementwise programs compute on float32 and bool, input ${k} is ${d}`);
  p.steps.forEach((s, k) => {
    const got = s.args.map((a) => slot[a]!);
    const d = stepDtype(s.op, got);
    if (!d) throw new KilnError(`elementwise program step ${k} (${s.op}) cannot take ${got.join(', ')}`);
    slot.push(d);
  });
  return slot.slice(p.inputs);
}

/**
 * The dtype a program op gives on arguments of dtypes `args`, or null where a program
 * cannot compute it (an op programs lack, a dtype it does not take there).
 */
export function stepDtype(op: string, args: readonly DType[]): DType | null {
  const def = Object.hasOwn(PROGRAM_OPS, op) ? PROGRAM_OPS[op]! : undefined;
  if (!def || args.length !== ARITY[def.kind]) return null;
  const kind = def.kind;
  const want: readonly DType[] = kind === 'logical' || kind === 'logicalNot' ? args.map(() => 'bool') : kind === 'where' ? ['bool', 'float32', 'float32'] : args.map(() => 'float32');
  if (args.some((d, i) => d !== want[i])) return null;
  return kind === 'compare' || kind === 'logical' || kind === 'logicalNot' ? 'bool' : 'float32';
}

/**
 * Evaluates `p` over values of any kind (tensors, arrays, wasm code): `apply` computes
 * one step from its arguments. Returns the last step's value.
 *
 * @example
 * ```ts
 * runProgram(parseProgram('add(x0, x1); neg(t0)'), [2, 3], (s, [a, b]) => (s.op === 'add' ? a! + b! : -a!)); // -5
 * ```
 */
export function runProgram<T>(p: ElementwiseProgram, inputs: readonly T[], apply: (step: ProgramStep, args: T[]) => T): T {
  const slot: T[] = [...inputs];
  for (const s of p.steps) slot.push(apply(s, s.args.map((a) => slot[a]!)));
  return slot[slot.length - 1]!;
}
