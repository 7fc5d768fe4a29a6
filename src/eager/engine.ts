import { KilnError, type Attrs, type OpDef } from '../ir/index.js';
import type { Backend, BackendName } from '../runtime/backend.js';
import type { Tensor } from './tensor.js';

/**
 * What eager code calls while `kiln.compile` traces (implemented in src/compiled).
 * Eager never imports the compiler: the compiler installs itself in `engine.tracer`
 * for the duration of a trace and removes it afterwards.
 */
export interface TraceHook {
  /** Every op (`dispatch.run`) goes here instead of running its kernel directly; returns the outputs. */
  run(def: OpDef, inputs: readonly Tensor[], attrs: Attrs): Tensor[];
  /**
   * Called before the elements of `t` are read (`item()`, `dataSync()`, `toArray()`,
   * `data()`, `toString()`, `to()`): a data-dependent point, i.e. a graph break. After
   * it returns, `t` holds real elements.
   */
  read(t: Tensor, what: string): void;
  /** A tensor used as a number (`x > 0`, `+x`, `x * 2`): throws, naming the user's line. */
  coerce(t: Tensor, hint: string): never;
  /** `target.copy_(value)` (value already cast/broadcast): returns true when the tracer took it over (no eager copy). */
  copyInto(target: Tensor, value: Tensor): boolean;
  /** `out` shares `src`'s elements (`detach()`). */
  alias(src: Tensor, out: Tensor): void;
  /**
   * The Philox key tensor (int32 [seedLo, seedHi, offsetLo, offsetHi]) of a random op
   * drawing `numel` values (`normal`: Box–Muller pairs). `seed` undefined: the global
   * generator, which a compiled graph must draw from at every run, not bake in.
   */
  randomKey(backend: Backend, numel: number, kind: RandomKind, seed: number | undefined): Tensor;
  /**
   * `kiln.cond(pred, thenFn, elseFn)`: records both branches into one `If` node and
   * returns its outputs. Absent (the lazy tracer): `cond` reads `pred` (a graph break)
   * and runs one branch, as eager does.
   */
  cond?(pred: Tensor, thenFn: () => Tensor | readonly Tensor[], elseFn: () => Tensor | readonly Tensor[]): Tensor[];
}

/** How a random op consumes the stream (how far it advances the global generator). */
export type RandomKind = 'uniform' | 'normal';

/** Process-wide eager state: backends, the default one, grad mode, open scopes. */
export const engine = {
  backends: new Map<BackendName, Backend>(),
  defaultBackend: null as Backend | null,
  gradEnabled: true,
  /** Tensors created inside each open `scope`, innermost last. */
  scopes: [] as Tensor[][],
  liveTensors: 0,
  /** The active trace (`kiln.compile`), null when running eagerly: dispatch checks it once per op. */
  tracer: null as TraceHook | null,
  /** Set inside `detectAnomaly`: every eager op checks its outputs for NaN/Inf. */
  anomaly: null as { readonly checkInf: boolean } | null,
};

export function getBackend(name?: BackendName): Backend {
  const b = name ? engine.backends.get(name) : engine.defaultBackend;
  if (!b) {
    throw new KilnError(
      name && engine.defaultBackend
        ? `backend '${name}' is not initialized: call await kiln.init({ backend: '${name}' }) first`
        : 'Kiln is not initialized: call await kiln.init() before creating tensors',
    );
  }
  return b;
}

/**
 * Whether `kiln.compile` is tracing right now. Code that caches tensors across calls
 * (a layer's transposed weight) must not while tracing: the graph has to see the ops.
 */
export function isTracing(): boolean {
  return engine.tracer !== null;
}
