import { KilnError } from '../eager/index.js';
import { checkSeed, SeededRandom } from '../data/random.js';

/** The kinds of search-space parameters. */
export type ParamKind = 'uniform' | 'logUniform' | 'int' | 'choice';

/**
 * One dimension of a search space: a distribution that draws a value from a seeded
 * generator. Build them with `uniform`, `logUniform`, `int` and `choice`.
 *
 * @example
 * ```ts
 * const lr = kiln.search.space.logUniform(1e-4, 1e-1);
 * console.log(lr.kind, lr.toString()); // logUniform logUniform(0.0001, 0.1)
 * ```
 */
export abstract class Param<T> {
  abstract readonly kind: ParamKind;
  /** Draws one value. */
  abstract sample(rng: SeededRandom): T;
  /** A short description, e.g. `int(16, 256, log)`. */
  abstract toString(): string;
}

/** A continuous parameter, uniform on `[lo, hi)` or on `[log lo, log hi)` (`kind: 'logUniform'`). */
export class UniformParam extends Param<number> {
  readonly kind: 'uniform' | 'logUniform';
  constructor(readonly lo: number, readonly hi: number, readonly log: boolean) {
    super();
    const op = log ? 'search.space.logUniform' : 'search.space.uniform';
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new KilnError(`bounds must be finite numbers, got ${lo} and ${hi}`, { op });
    if (lo > hi) throw new KilnError(`lo must be ≤ hi, got lo=${lo} hi=${hi}`, { op });
    if (log && lo <= 0) throw new KilnError(`bounds must be positive for a log scale, got lo=${lo}`, { op });
    this.kind = log ? 'logUniform' : 'uniform';
  }

  sample(rng: SeededRandom): number {
    const u = rng.next();
    if (this.lo === this.hi) return this.lo;
    const v = this.log
      ? Math.exp(Math.log(this.lo) + u * (Math.log(this.hi) - Math.log(this.lo)))
      : this.lo + u * (this.hi - this.lo);
    return Math.min(this.hi, Math.max(this.lo, v)); // exp/multiply rounding never leaves the bounds
  }

  toString(): string {
    return `${this.kind}(${this.lo}, ${this.hi})`;
  }
}

/**
 * An integer parameter in `[lo, hi]`, both inclusive: uniform over the integers, or with
 * `log: true` log-uniform over `[lo - ½, hi + ½)` rounded to the nearest integer (each
 * integer k gets probability ∝ log((k + ½) / (k − ½)), so small values are as likely per
 * octave as large ones).
 */
export class IntParam extends Param<number> {
  readonly kind = 'int' as const;
  constructor(readonly lo: number, readonly hi: number, readonly log: boolean) {
    super();
    const op = 'search.space.int';
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi)) throw new KilnError(`bounds must be integers, got ${lo} and ${hi}`, { op });
    if (lo > hi) throw new KilnError(`lo must be ≤ hi, got lo=${lo} hi=${hi}`, { op });
    if (hi - lo + 1 > 4294967296) throw new KilnError(`the range [${lo}, ${hi}] holds more than 2^32 integers`, { op });
    if (log && lo < 1) throw new KilnError(`a log-scaled int needs lo ≥ 1, got lo=${lo}`, { op });
  }

  sample(rng: SeededRandom): number {
    if (!this.log) return this.lo + rng.int(this.hi - this.lo + 1);
    const a = Math.log(this.lo - 0.5);
    const b = Math.log(this.hi + 0.5);
    const v = Math.round(Math.exp(a + rng.next() * (b - a)));
    return Math.min(this.hi, Math.max(this.lo, v));
  }

  toString(): string {
    return `int(${this.lo}, ${this.hi}${this.log ? ', log' : ''})`;
  }
}

/** One of a list of values, each equally likely. */
export class ChoiceParam<T> extends Param<T> {
  readonly kind = 'choice' as const;
  readonly values: readonly T[];
  constructor(values: readonly T[]) {
    super();
    if (!Array.isArray(values) || values.length === 0) throw new KilnError('needs a non-empty array of values', { op: 'search.space.choice' });
    this.values = [...values];
  }

  sample(rng: SeededRandom): T {
    return this.values[rng.int(this.values.length)]!;
  }

  toString(): string {
    return `choice(${this.values.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v))).join(', ')})`;
  }
}

/**
 * A continuous parameter uniform on `[lo, hi)`.
 *
 * @example
 * ```ts
 * const space = { dropout: kiln.search.space.uniform(0, 0.5) };
 * ```
 */
export function uniform(lo: number, hi: number): UniformParam {
  return new UniformParam(lo, hi, false);
}

/**
 * A positive parameter whose logarithm is uniform: `lo · (hi/lo)^u`, u uniform on
 * `[0, 1)`. The usual prior for learning rates and weight decays.
 *
 * @example
 * ```ts
 * const space = { lr: kiln.search.space.logUniform(1e-4, 1e-1) };
 * ```
 */
export function logUniform(lo: number, hi: number): UniformParam {
  return new UniformParam(lo, hi, true);
}

/**
 * An integer in `[lo, hi]` (both inclusive), uniform, or log-uniform with `{ log: true }`.
 *
 * @example
 * ```ts
 * const space = { layers: kiln.search.space.int(1, 4), hidden: kiln.search.space.int(16, 512, { log: true }) };
 * ```
 */
export function int(lo: number, hi: number, options: { log?: boolean } = {}): IntParam {
  return new IntParam(lo, hi, options.log ?? false);
}

/**
 * One of `values`, each equally likely. Values travel to worker threads by structured
 * clone: use numbers, strings, booleans, null, or plain objects/arrays of them.
 *
 * @example
 * ```ts
 * const space = { hidden: kiln.search.space.choice([32, 64, 128]), act: kiln.search.space.choice(['relu', 'tanh']) };
 * ```
 */
export function choice<const T>(values: readonly T[]): ChoiceParam<T> {
  return new ChoiceParam(values);
}

/** A value a space may fix instead of searching. */
export type Constant = number | string | boolean | null;

/**
 * A search space: a plain object whose values are parameters (`uniform`, `logUniform`,
 * `int`, `choice`) or constants passed to every trial unchanged.
 */
export type Space = { readonly [name: string]: Param<unknown> | Constant };

/** The configuration type a space produces: each parameter replaced by its value type. */
export type ConfigOf<S extends Space> = { -readonly [K in keyof S]: S[K] extends Param<infer T> ? T : S[K] };

/** FNV-1a of a string: each parameter name picks its own Philox stream. */
function streamOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The stream of the per-trial seeds (a name no parameter can collide with in practice). */
const TRIAL_SEED_STREAM = streamOf('\u0000kiln.search trial seeds');

function checkSpace(space: Space, op: string): void {
  if (space === null || typeof space !== 'object' || Array.isArray(space)) throw new KilnError('space must be a plain object of parameters', { op });
  for (const [name, p] of Object.entries(space)) {
    if (p instanceof Param) continue;
    if (p === null || typeof p === 'number' || typeof p === 'string' || typeof p === 'boolean') continue;
    throw new KilnError(
      `space.${name} is ${Array.isArray(p) ? 'an array' : typeof p}: use search.space.choice([...]), uniform, logUniform or int (or a number/string/boolean/null constant)`,
      { op },
    );
  }
}

/**
 * Draws `count` configurations from `space` with Philox keyed by `seed` (Kiln's one
 * generator, via `kiln.data.SeededRandom`). Each parameter draws from its own stream
 * (chosen by its name), so configuration *i* depends only on (seed, the parameter's
 * definition, i): the first k of `sample(space, n)` equal `sample(space, k)`, and adding a
 * parameter leaves the others' values unchanged. Searches sample this way before
 * dispatching any trial, so results never depend on worker count or finishing order.
 *
 * @example
 * ```ts
 * const { space } = kiln.search;
 * const configs = kiln.search.sample({ lr: space.logUniform(1e-4, 1e-1), hidden: space.choice([32, 64]) }, 3, { seed: 0 });
 * console.log(configs[0]); // { lr: 0.0021…, hidden: 64 }: the same for every run with seed 0
 * ```
 */
export function sample<S extends Space>(space: S, count: number, options: { seed?: number } = {}): ConfigOf<S>[] {
  const op = 'search.sample';
  checkSpace(space, op);
  if (!Number.isSafeInteger(count) || count < 0) throw new KilnError(`count must be a non-negative integer, got ${count}`, { op });
  const seed = options.seed ?? 0;
  checkSeed(op, seed);
  const configs: Record<string, unknown>[] = Array.from({ length: count }, () => ({}));
  for (const [name, p] of Object.entries(space)) {
    if (p instanceof Param) {
      const rng = new SeededRandom(seed, streamOf(name));
      for (const c of configs) c[name] = p.sample(rng);
    } else {
      for (const c of configs) c[name] = p;
    }
  }
  return configs as ConfigOf<S>[];
}

/** The seed handed to trial *i* of a search with `seed`: `count` of them, from their own stream. */
export function trialSeeds(seed: number, count: number): number[] {
  const rng = new SeededRandom(seed, TRIAL_SEED_STREAM);
  return Array.from({ length: count }, () => rng.nextUint32());
}

/** One line describing a space, e.g. `lr: logUniform(0.0001, 0.1), hidden: choice(32, 64)`. */
export function describeSpace(space: Space): string {
  return Object.entries(space)
    .map(([name, p]) => `${name}: ${p instanceof Param ? p.toString() : JSON.stringify(p)}`)
    .join(', ');
}
