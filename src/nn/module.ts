import { KilnError, noGrad, Tensor } from '../eager/index.js';

const parameters = new WeakSet<Tensor>();
const buffers = new WeakSet<Tensor>();

/**
 * Marks `t` as a trainable parameter: a leaf that requires grad and survives scopes.
 * A module's properties holding parameters are found automatically.
 *
 * @example
 * ```ts
 * class Scale extends kiln.nn.Module {
 *   s = kiln.nn.parameter(kiln.ones([1]));
 *   forward(x: kiln.Tensor) { return x.mul(this.s); }
 * }
 * ```
 */
export function parameter(t: Tensor): Tensor {
  if (!t.isLeaf) t = t.detach();
  t.requiresGrad_(true);
  parameters.add(t);
  return t;
}

/** Marks `t` as a buffer: state saved in `stateDict` but not trained (BatchNorm running stats). */
export function buffer(t: Tensor): Tensor {
  t.keep();
  buffers.add(t);
  return t;
}

export function isParameter(t: unknown): t is Tensor {
  return t instanceof Tensor && parameters.has(t);
}

export function isBuffer(t: unknown): t is Tensor {
  return t instanceof Tensor && buffers.has(t);
}

/**
 * Calls `m.forward(...inputs)` for modules whose signature is only known at run time
 * (children of `Sequential`, the model given to `fit`).
 */
export function callForward(m: Module, ...inputs: Tensor[]): unknown {
  return (m.forward as (...xs: Tensor[]) => unknown).apply(m, inputs);
}

/**
 * Base class of layers and models (PyTorch `nn.Module`). Parameters (`nn.parameter`),
 * buffers (`nn.buffer`) and sub-modules assigned to properties are discovered in
 * declaration order; names are property paths (`0.weight`, `encoder.bias`).
 *
 * @example
 * ```ts
 * class Net extends kiln.nn.Module {
 *   fc1 = new kiln.nn.Linear(4, 8);
 *   fc2 = new kiln.nn.Linear(8, 2);
 *   forward(x: kiln.Tensor) { return this.fc2.forward(this.fc1.forward(x).relu()); }
 * }
 * const net = new Net();
 * net.numParameters(); // 4·8 + 8 + 8·2 + 2 = 58
 * ```
 */
export abstract class Module {
  /** Training mode (dropout active, batch statistics); `eval()` turns it off. */
  training = true;

  /** The computation. Subclasses define it with their own signature. */
  // Any signature: subclasses narrow it (an LSTM takes and returns nested states).
  abstract forward(...inputs: never[]): unknown;

  /** Direct children, by property name (arrays of modules are named `name.i`). */
  *namedChildren(): Generator<[string, Module]> {
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) yield [key, value];
      else if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (value[i] instanceof Module) yield [`${key}.${i}`, value[i] as Module];
      }
    }
  }

  /** This module and every descendant, with dotted paths ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.namedChildren()) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  /**
   * Direct child modules, each once even if assigned to two properties (PyTorch `children()`).
   *
   * @example
   * ```ts
   * const net = new kiln.nn.Sequential(new kiln.nn.Linear(4, 8), new kiln.nn.ReLU());
   * [...net.children()].length; // 2
   * ```
   */
  *children(): Generator<Module> {
    const seen = new Set<Module>();
    for (const [, child] of this.namedChildren()) {
      if (!seen.has(child)) {
        seen.add(child);
        yield child;
      }
    }
  }

  /**
   * This module, then every descendant depth-first, each once even if shared (PyTorch `modules()`).
   *
   * @example
   * ```ts
   * const net = new kiln.nn.Sequential(new kiln.nn.Linear(4, 8), new kiln.nn.Sequential(new kiln.nn.ReLU()));
   * [...net.modules()].map((m) => m.constructor.name); // ['Sequential', 'Linear', 'Sequential', 'ReLU']
   * ```
   */
  *modules(): Generator<Module> {
    const seen = new Set<Module>();
    const visit = function* (m: Module): Generator<Module> {
      if (seen.has(m)) return;
      seen.add(m);
      yield m;
      for (const [, child] of m.namedChildren()) yield* visit(child);
    };
    yield* visit(this);
  }

  /** Every parameter with its dotted name; a parameter shared by two modules is listed once. */
  namedParameters(): [string, Tensor][] {
    return this.collect(isParameter);
  }

  /** Every buffer (running statistics) with its dotted name. */
  namedBuffers(): [string, Tensor][] {
    return this.collect(isBuffer);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Number of trainable elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Sets training mode on this module and all descendants. Returns this. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** `train(false)`: dropout off, running statistics used. */
  eval(): this {
    return this.train(false);
  }

  /** Clears `.grad` of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Parameters and buffers by dotted name (the tensors themselves, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies values from `state` into this module's parameters and buffers (in place, so
   * optimizers keep working). `strict` (default) requires the same names and shapes;
   * nothing is written unless every entry fits.
   */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>, options: { strict?: boolean } = {}): void {
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const strict = options.strict ?? true;
    const problems: string[] = [];
    for (const [name, t] of own) {
      const src = entries.get(name);
      if (!src) {
        if (strict) problems.push(`missing ${name}`);
      } else if (src.shape.join(',') !== t.shape.join(',')) {
        problems.push(`${name}: shape [${src.shape.join(', ')}] does not match [${t.shape.join(', ')}]`);
      }
    }
    if (strict) for (const name of entries.keys()) if (!own.has(name)) problems.push(`unexpected ${name}`);
    if (problems.length) throw new KilnError(`loadStateDict: ${problems.join('; ')}`);
    noGrad(() => {
      for (const [name, t] of own) {
        const src = entries.get(name);
        if (src) t.copy_(src);
      }
    });
  }

  private collect(pred: (t: unknown) => t is Tensor): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules()) {
      for (const [key, value] of Object.entries(m)) {
        if (pred(value) && !seen.has(value)) {
          seen.add(value);
          out.push([path ? `${path}.${key}` : key, value]);
        }
      }
    }
    return out;
  }
}
