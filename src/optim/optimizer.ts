import { enableGrad, full, KilnError, noGrad, scope, tensor, Tensor, type DType } from '../eager/index.js';

/** Hyperparameters every param group carries; `lr` is mutable (schedulers write it). */
export interface Hyperparameters {
  lr: number;
}

/** A group of parameters sharing hyperparameters (PyTorch's `param_groups` entry). */
export type ParamGroup<H extends Hyperparameters = Hyperparameters> = H & { params: Tensor[] };

/** What a caller passes for one group: its parameters and any hyperparameters to override. */
export type ParamGroupSpec<H extends Hyperparameters = Hyperparameters> = Partial<H> & { params: Iterable<Tensor> };

/** Parameters to optimize: a list of tensors (one group) or a list of groups. */
export type Params<H extends Hyperparameters = Hyperparameters> = Iterable<Tensor> | readonly ParamGroupSpec<H>[];

/** One entry of an optimizer's per-parameter state: a tensor (moments) or a number (step count). */
export type StateValue = Tensor | number;

/** A tensor as plain JSON: shape, dtype and row-major elements. */
export interface SerializedTensor {
  shape: number[];
  dtype: DType;
  data: number[];
}

/** A hyperparameter value as stored in a state dict. */
export type HyperValue = number | boolean | string | readonly number[];

/**
 * An optimizer's state as plain JSON (PyTorch's `state_dict()` layout): per-parameter
 * state keyed by the parameter's position across all groups, and each group's
 * hyperparameters with the positions of its parameters.
 */
export interface OptimizerStateDict {
  state: Record<string, Record<string, number | SerializedTensor>>;
  paramGroups: (Record<string, HyperValue> & { params: number[] })[];
}

/**
 * Base class of Kiln's optimizers (PyTorch semantics).
 *
 * `step()` updates every parameter that has a `.grad` **in place** (the same Tensor
 * objects stay the parameters, so a model's references remain valid), under
 * `kiln.noGrad` and inside a `kiln.scope` per parameter. Per-parameter state
 * (moments, step counts) lives in `state`; state tensors are `keep()`-marked.
 *
 * @example
 * ```ts
 * const w = kiln.tensor([1, 2, 3], { requiresGrad: true });
 * const opt = new kiln.optim.SGD([w], { lr: 0.1 });
 * w.square().sum().backward();
 * opt.step();      // w ← w − 0.1 · 2w
 * opt.zeroGrad();
 * ```
 */
export abstract class Optimizer<H extends Hyperparameters = Hyperparameters> {
  /** Groups of parameters with their hyperparameters; edit `lr` here to change it. */
  readonly paramGroups: ParamGroup<H>[] = [];
  /** Per-parameter state, created on a parameter's first update. */
  readonly state = new Map<Tensor, Record<string, StateValue>>();

  protected constructor(
    /** The optimizer's name, used in error messages ("Adam"). */
    readonly name: string,
    params: Params<H>,
    /** Hyperparameters of groups that do not override them. */
    readonly defaults: H,
  ) {
    this.validate(defaults);
    if (params instanceof Tensor) params = [params];
    if (params === null || typeof params !== 'object' || !(Symbol.iterator in params)) {
      throw this.error(`params must be a list of Tensors or of param groups, got ${params === null ? 'null' : typeof params}`);
    }
    const list = [...(params as Iterable<Tensor | ParamGroupSpec<H>>)];
    if (list.length === 0) throw this.error('got an empty parameter list');
    if (list.every((p) => p instanceof Tensor)) {
      this.addParamGroup({ params: list as Tensor[] } as unknown as ParamGroupSpec<H>);
    } else if (list.every((g) => !(g instanceof Tensor) && typeof g === 'object' && g !== null && 'params' in g)) {
      for (const g of list as ParamGroupSpec<H>[]) this.addParamGroup(g);
    } else {
      throw this.error('params must be a list of Tensors or a list of param groups ({ params: Tensor[], ...options })');
    }
  }

  /** Adds a group of parameters (e.g. layers unfrozen while fine-tuning). */
  addParamGroup(spec: ParamGroupSpec<H>): void {
    if (typeof spec !== 'object' || spec === null || !('params' in spec)) throw this.error('a param group needs a params field');
    const params = spec.params instanceof Tensor ? [spec.params] : [...spec.params];
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw this.error(`can only optimize Tensors, but parameter ${i} of group ${this.paramGroups.length} is ${p === null ? 'null' : typeof p}`);
      if (!p.isLeaf) throw this.error(`can't optimize a non-leaf Tensor (parameter ${i} of group ${this.paramGroups.length}); use detach() and requiresGrad_()`);
      if (seen.has(p)) throw this.error(`some parameters appear in more than one parameter group (parameter ${i} of group ${this.paramGroups.length})`);
      seen.add(p);
    });
    const group = { ...this.defaults, ...spec, params } as ParamGroup<H>;
    this.validate(group);
    this.paramGroups.push(group);
  }

  /**
   * Updates every parameter that has a gradient. With `closure` (which re-evaluates
   * the model and returns the loss), it is called first with gradients enabled and
   * its result returned, as in PyTorch.
   */
  step<L = undefined>(closure?: () => L): L | undefined {
    const loss = closure ? enableGrad(closure) : undefined;
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          const grad = p.grad;
          if (grad === null) continue;
          let state = this.state.get(p);
          if (!state) this.state.set(p, (state = this.initState(p, group)));
          const s = state;
          scope(() => this.update(p, grad, s, group));
        }
      }
    });
    return loss;
  }

  /** Clears `.grad` of every parameter (PyTorch's `set_to_none=True`). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.zeroGrad();
  }

  /** The optimizer's state and hyperparameters as plain JSON (for checkpoints). */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...hyper } = g;
      const ids = params.map((p) => {
        index.set(p, index.size);
        return index.size - 1;
      });
      return { ...(copyHyper(hyper as Record<string, unknown>)), params: ids };
    });
    const state: OptimizerStateDict['state'] = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      const entry: Record<string, number | SerializedTensor> = {};
      for (const [k, v] of Object.entries(s)) entry[k] = typeof v === 'number' ? v : serialize(v);
      state[String(i)] = entry;
    }
    return { state, paramGroups };
  }

  /**
   * Restores state and hyperparameters saved by `stateDict()` into an optimizer built
   * over the same parameters (same group sizes and shapes). Nothing changes on error.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    if (typeof dict !== 'object' || dict === null || !Array.isArray(dict.paramGroups) || typeof dict.state !== 'object') {
      throw this.error('loadStateDict expects { state, paramGroups } as returned by stateDict()');
    }
    if (dict.paramGroups.length !== this.paramGroups.length) {
      throw this.error(`loadStateDict: the state dict has ${dict.paramGroups.length} param groups, this optimizer ${this.paramGroups.length}`);
    }
    const params: Tensor[] = [];
    dict.paramGroups.forEach((g, i) => {
      const own = this.paramGroups[i]!;
      if (!Array.isArray(g.params) || g.params.length !== own.params.length) {
        throw this.error(`loadStateDict: param group ${i} has ${g.params?.length} parameters in the state dict, ${own.params.length} here`);
      }
      g.params.forEach((id, k) => (params[id] = own.params[k]!));
    });
    // Build every state tensor before touching anything, so a bad entry changes nothing.
    const loaded = new Map<Tensor, Record<string, StateValue>>();
    try {
      for (const [key, entry] of Object.entries(dict.state)) {
        const p = params[Number(key)];
        if (!p) throw this.error(`loadStateDict: state for parameter ${key}, which no param group lists`);
        const s: Record<string, StateValue> = {};
        for (const [name, v] of Object.entries(entry)) {
          if (typeof v === 'number') s[name] = v;
          else if (v.shape.join(',') !== p.shape.join(',')) throw this.error(`loadStateDict: state '${name}' of parameter ${key} has shape [${v.shape.join(', ')}], the parameter [${p.shape.join(', ')}]`);
          else s[name] = tensor(v.data, { shape: v.shape, dtype: p.dtype, backend: p.backend.name }).keep();
        }
        loaded.set(p, s);
      }
    } catch (e) {
      for (const s of loaded.values()) disposeState(s);
      throw e;
    }
    for (const s of this.state.values()) disposeState(s);
    this.state.clear();
    for (const [p, s] of loaded) this.state.set(p, s);
    dict.paramGroups.forEach((g, i) => {
      const own = this.paramGroups[i]!;
      const { params: _ids, ...hyper } = g;
      Object.assign(own, copyHyper(hyper));
    });
  }

  /** Frees every state tensor (the optimizer can keep stepping; state restarts). */
  dispose(): void {
    for (const s of this.state.values()) disposeState(s);
    this.state.clear();
  }

  /** Checks a group's hyperparameters; throws a KilnError naming the optimizer. */
  protected abstract validate(hyper: H): void;

  /** The state of a parameter before its first update. */
  protected abstract initState(p: Tensor, group: ParamGroup<H>): Record<string, StateValue>;

  /** Updates one parameter in place (runs under noGrad, inside a scope). */
  protected abstract update(p: Tensor, grad: Tensor, state: Record<string, StateValue>, group: ParamGroup<H>): void;

  /** Replaces a state tensor by `next` (kept), freeing the old one: cheaper than copying into it. */
  protected setState(state: Record<string, StateValue>, key: string, next: Tensor): void {
    const old = state[key];
    state[key] = next.keep();
    if (old instanceof Tensor && old !== next) old.dispose();
  }

  /**
   * A 0-d tensor for a value that changes between steps (anything derived from lr or
   * the step count). Freed with the step's scope; a plain number operand would land
   * in the engine's cache of constants, which is meant for the few fixed ones.
   */
  protected scalar(like: Tensor, value: number): Tensor {
    return full([], value, { dtype: like.dtype, backend: like.backend.name });
  }

  /** A KilnError that names this optimizer. */
  protected error(message: string): KilnError {
    return new KilnError(message, { op: this.name });
  }

  /** Throws unless `value` is a finite number satisfying `ok`. */
  protected check(what: string, value: unknown, ok: (v: number) => boolean, rule: string): void {
    if (typeof value !== 'number' || Number.isNaN(value) || !ok(value)) throw this.error(`invalid ${what}: ${String(value)} (${rule})`);
  }
}

function serialize(t: Tensor): SerializedTensor {
  return { shape: [...t.shape], dtype: t.dtype, data: Array.from(t.dataSync()) };
}

function copyHyper(hyper: Record<string, unknown>): Record<string, HyperValue> {
  const out: Record<string, HyperValue> = {};
  for (const [k, v] of Object.entries(hyper)) out[k] = Array.isArray(v) ? [...(v as number[])] : (v as HyperValue);
  return out;
}

function disposeState(s: Record<string, StateValue>): void {
  for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
}
