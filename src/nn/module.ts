import { KilnError, noGrad, Tensor } from '../eager/index.js';
import { onRebind } from '../eager/rebind.js';
import { addHook, type ForwardHook, type ForwardPreHook, type FullBackwardHook, type HookHandle } from './hooks.js';

const parameters = new WeakSet<Tensor>();
const buffers = new WeakSet<Tensor>();
/** Where each parameter was found (module and property), recorded as `namedParameters()` walks. */
const owners = new WeakMap<Tensor, [Module, string][]>();

function noteOwner(t: Tensor, m: Module, key: string): void {
  let list = owners.get(t);
  if (!list) owners.set(t, (list = []));
  if (!list.some(([o, k]) => o === m && k === key)) list.push([m, key]);
}

// An optimizer with a tensor learning rate replaces each parameter by a new tensor on
// the tape (an out-of-place step): the modules that held the old one hold the new one,
// which is a parameter (though not a leaf) so parameters() and stateDict() list it.
onRebind((old, next) => {
  if (!parameters.has(old)) return;
  parameters.add(next);
  for (const [m, key] of owners.get(old) ?? []) {
    if ((m as unknown as Record<string, unknown>)[key] !== old) continue;
    (m as unknown as Record<string, unknown>)[key] = next;
    noteOwner(next, m, key);
  }
});

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

  /**
   * Registers `hook(module, inputs)` to run before every `forward` call (also when a
   * parent calls `this.child.forward(x)`); it may return an array of replacement inputs.
   * Hooks run in registration order. See `registerForwardHook` about `kiln.compile`.
   *
   * @example
   * ```ts
   * const fc = new kiln.nn.Linear(4, 2);
   * const handle = fc.registerForwardPreHook((m, [x]) => console.log('in', (x as kiln.Tensor).shape));
   * fc.forward(kiln.randn([3, 4])); // prints: in [3, 4]
   * handle.remove();
   * ```
   */
  registerForwardPreHook(hook: ForwardPreHook<this>): HookHandle {
    return addHook(this, 'pre', hook as ForwardPreHook<Module>);
  }

  /**
   * Registers `hook(module, inputs, output)` to run after every `forward` call; a return
   * value other than `undefined` replaces the output. Hooks run in registration order.
   * Under `kiln.compile` forward hooks (and pre-hooks) run while a call is traced, at
   * trace time only: compiled runs execute the graph and call no hook, and the
   * shape-only traces that find symbolic sizes give them tensors without values.
   *
   * @example
   * ```ts
   * const model = new kiln.nn.Sequential(new kiln.nn.Linear(4, 8), new kiln.nn.ReLU());
   * const handle = model.at(1).registerForwardHook((m, inputs, y) => console.log((y as kiln.Tensor).shape));
   * model.forward(kiln.randn([2, 4])); // prints [2, 8]
   * handle.remove();                   // forward is the plain one again
   * ```
   */
  registerForwardHook(hook: ForwardHook<this>): HookHandle {
    return addHook(this, 'post', hook as ForwardHook<Module>);
  }

  /**
   * Registers `hook(module, gradInputs, gradOutputs)` to run during `backward()` once
   * the gradients w.r.t. this module's inputs are computed (PyTorch
   * `register_full_backward_hook`): `gradInputs[i]` for the i-th argument of `forward`
   * (null where it is not a tensor requiring grad), `gradOutputs[k]` for the k-th output
   * tensor. The hook observes (gradients flow on unchanged); nothing is recorded in
   * `noGrad`. `kiln.compile(..., { mode: 'training' })` cannot record a backward hook in
   * a graph and raises while tracing: remove the hook first (inference compiles, having
   * no backward, ignore it).
   *
   * @example
   * ```ts
   * const fc = new kiln.nn.Linear(4, 2);
   * fc.registerFullBackwardHook((m, [gx], [gy]) => console.log(gx?.shape, gy?.shape));
   * fc.forward(kiln.randn([3, 4], { requiresGrad: true })).sum().backward(); // prints [3, 4] [3, 2]
   * ```
   */
  registerFullBackwardHook(hook: FullBackwardHook<this>): HookHandle {
    return addHook(this, 'backward', hook as FullBackwardHook<Module>);
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
        if (pred(value)) noteOwner(value, m, key);
        if (pred(value) && !seen.has(value)) {
          seen.add(value);
          out.push([path ? `${path}.${key}` : key, value]);
        }
      }
    }
    return out;
  }
}
