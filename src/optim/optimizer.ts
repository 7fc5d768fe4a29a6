import { enableGrad, full, isTracing, KilnError, noGrad, scope, tensor, Tensor, type DType } from '../eager/index.js';
import { rebind } from '../eager/rebind.js';

/**
 * A learning rate: a number, or a one-element floating-point tensor, which makes the
 * optimizer's steps differentiable (see `Optimizer`).
 */
export type LearningRate = number | Tensor;

/** Hyperparameters every param group carries; `lr` is mutable (schedulers write it). */
export interface Hyperparameters {
  lr: LearningRate;
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
 * **Differentiable steps.** When a param group's `lr` is a tensor (a one-element
 * floating-point tensor, e.g. `kiln.tensor(0.1, { requiresGrad: true })`), every step
 * is **out of place** and recorded on the tape (PyTorch's `differentiable=True`): the
 * new value of each parameter is a new tensor computed from the old one, its gradient
 * and the optimizer state, and it *replaces* the old one — in `paramGroups`, as the key
 * of `state`, and on every module property that held it (modules found the parameter
 * through `parameters()`/`namedParameters()`, which is how optimizers are built; the
 * new tensor counts as a parameter of those modules although it is not a leaf). The
 * old values stay untouched, so the tape's in-place check never fires, and the loss
 * after K steps is an ordinary function of `lr`: `kiln.grad` of the unrolled loop gives
 * d(loss)/d(lr). The rebound parameters `retainGrad()`, so the usual
 * `loss.backward(undefined, { createGraph: true }); opt.step(); opt.zeroGrad()` loop works
 * (`createGraph` makes the gradients themselves differentiable: without it the
 * hypergradient ignores how the gradients depend on lr). Every group steps out of place
 * then, also one with a number lr. Nothing of such a step is freed by a scope (the tape
 * needs it), and each `backward()` walks back through all earlier steps: use it for
 * short unrolls. As in PyTorch, those passes also accumulate into `.grad` of the
 * original leaves and of an lr that requires grad: take hypergradients with `kiln.grad`
 * or `kiln.valueAndGrad`, which do not read `.grad`. A tensor passed to the optimizer
 * directly (not found through a module) is rebound in `paramGroups` only: read the
 * current one there.
 *
 * @example
 * ```ts
 * const w = kiln.tensor([1, 2, 3], { requiresGrad: true });
 * const opt = new kiln.optim.SGD([w], { lr: 0.1 });
 * w.square().sum().backward();
 * opt.step();      // w ← w − 0.1 · 2w
 * opt.zeroGrad();
 *
 * // d(loss after 3 steps)/d(lr): the steps are differentiable with a tensor lr
 * const [dLr] = kiln.grad((lr: kiln.Tensor) => {
 *   const model = new kiln.nn.Linear(2, 1);
 *   kiln.noGrad(() => { model.weight.copy_(kiln.tensor([[1, -1]])); model.bias!.copy_(kiln.tensor([0])); });
 *   const sgd = new kiln.optim.SGD(model.parameters(), { lr, momentum: 0.9 });
 *   const x = kiln.tensor([[1, 2], [3, 1]]), y = kiln.tensor([[1], [2]]);
 *   for (let k = 0; k < 3; k++) {
 *     kiln.nn.mseLoss(model.forward(x), y).backward(undefined, { createGraph: true });
 *     sgd.step();
 *     sgd.zeroGrad();
 *   }
 *   return kiln.nn.mseLoss(model.forward(x), y);   // model.weight is the rebound tensor
 * })(kiln.tensor(0.05));
 * ```
 */
export abstract class Optimizer<H extends Hyperparameters = Hyperparameters> {
  /** Groups of parameters with their hyperparameters; edit `lr` here to change it. */
  readonly paramGroups: ParamGroup<H>[] = [];
  /** Per-parameter state, created on a parameter's first update. */
  readonly state = new Map<Tensor, Record<string, StateValue>>();
  /** Set while a differentiable step runs: `update` records the new value here instead of writing. */
  #outOfPlace: { next: Tensor | null } | null = null;

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
    // A differentiable optimizer may take parameters an earlier one rebound (on the tape).
    const tensorLr = (spec.lr ?? this.defaults.lr) instanceof Tensor;
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw this.error(`can only optimize Tensors, but parameter ${i} of group ${this.paramGroups.length} is ${p === null ? 'null' : typeof p}`);
      if (!p.isLeaf && !tensorLr) throw this.error(`can't optimize a non-leaf Tensor (parameter ${i} of group ${this.paramGroups.length}); use detach() and requiresGrad_()`);
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
    if (this.differentiable) {
      enableGrad(() => this.stepOutOfPlace());
      return loss;
    }
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

  /** Whether steps are out of place and recorded on the tape: some group has a tensor `lr`. */
  get differentiable(): boolean {
    return this.paramGroups.some((g) => g.lr instanceof Tensor);
  }

  /** A differentiable step: each parameter is replaced by its new value, computed on the tape. */
  private stepOutOfPlace(): void {
    for (const group of this.paramGroups) {
      group.params.forEach((p, i) => {
        const grad = p.grad;
        if (grad === null) return;
        let s = this.state.get(p);
        if (!s) this.state.set(p, (s = this.initState(p, group)));
        const slot = { next: null as Tensor | null };
        this.#outOfPlace = slot;
        try {
          this.update(p, grad, s, group);
        } finally {
          this.#outOfPlace = null;
        }
        const next = slot.next;
        if (next === null || next === p) return;
        next.keep();
        if (next.requiresGrad) next.retainGrad();
        group.params[i] = next;
        this.state.delete(p);
        this.state.set(next, s);
        // The old value stays on the tape; stop filling its .grad in later backward passes.
        if (!p.isLeaf) {
          const retained = p.gradFn?.retained;
          if (retained) retained.splice(retained.indexOf(p), 1);
          p.grad = null;
        }
        rebind(p, next);
      });
    }
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
      // A tensor lr stays the caller's tensor (the dict holds only its value).
      if (own.lr instanceof Tensor) delete (hyper as Record<string, unknown>).lr;
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

  /**
   * Updates one parameter: writes its new value with `descend` or `assign` (in place
   * under noGrad inside a scope; recorded on the tape in a differentiable step), and its
   * state with `setState`. Learning-rate factors come from `lrScalar`.
   */
  protected abstract update(p: Tensor, grad: Tensor, state: Record<string, StateValue>, group: ParamGroup<H>): void;

  /** `p ← p − delta`: `p.sub_(delta)`, or in a differentiable step the new tensor `p − delta`. */
  protected descend(p: Tensor, delta: Tensor): void {
    if (this.#outOfPlace) this.#outOfPlace.next = p.sub(delta);
    else p.sub_(delta);
  }

  /** `p ← value`: `p.copy_(value)`, or in a differentiable step `value` itself. */
  protected assign(p: Tensor, value: Tensor): void {
    if (this.#outOfPlace) this.#outOfPlace.next = value;
    else p.copy_(value);
  }

  /**
   * `lr · numerator / denominator` as a 0-d tensor like `p`: a fresh constant for a
   * number lr (computed as `(lr · numerator) / denominator` in float64), and for a
   * tensor lr an expression of it (on the tape), cast to `p`'s dtype.
   */
  protected lrScalar(p: Tensor, lr: LearningRate, numerator = 1, denominator = 1): Tensor {
    if (typeof lr === 'number') return this.scalar(p, (lr * numerator) / denominator);
    if (lr.backend !== p.backend) throw this.error(`the learning rate tensor lives on the '${lr.backend.name}' backend, the parameters on '${p.backend.name}': create it there (kiln.tensor(lr, { backend: '${p.backend.name}' }))`);
    let t = lr.rank === 0 ? lr : lr.reshape([]);
    if (t.dtype !== p.dtype) t = t.cast(p.dtype);
    const factor = numerator / denominator;
    return factor === 1 ? t : t.mul(this.scalar(p, factor));
  }

  /** `1 − lr·c` as a 0-d tensor like `p` (decoupled weight decay), exactly `1 − lr·c` for a number lr. */
  protected oneMinusLr(p: Tensor, lr: LearningRate, c: number): Tensor {
    if (typeof lr === 'number') return this.scalar(p, 1 - lr * c);
    return this.scalar(p, 1).sub(this.lrScalar(p, lr, c));
  }

  /**
   * Replaces a state tensor by `next` (kept), freeing the old one: cheaper than copying
   * into it. In a differentiable step the old one is left alone (the tape may hold it).
   */
  protected setState(state: Record<string, StateValue>, key: string, next: Tensor): void {
    const old = state[key];
    state[key] = next.keep();
    if (old instanceof Tensor && old !== next && !this.#outOfPlace) old.dispose();
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

  /** Checks a learning rate: a number ≥ 0, or a one-element floating-point tensor holding one. */
  protected checkLr(lr: unknown): void {
    if (!(lr instanceof Tensor)) return this.check('learning rate', lr, (v) => v >= 0, 'must be ≥ 0');
    const shown = `tensor of dtype ${lr.dtype} and shape [${lr.shape.join(', ')}]`;
    if (lr.disposed) throw this.error('invalid learning rate: the tensor was disposed');
    if (lr.dtype !== 'float32' && lr.dtype !== 'float64') throw this.error(`invalid learning rate: a ${shown} (a tensor lr must be float32 or float64)`);
    if (lr.size !== 1) throw this.error(`invalid learning rate: a ${shown} (a tensor lr must hold one element)`);
    // Reading the value would break a kiln.compile trace: checked eagerly only.
    if (!isTracing()) this.check('learning rate', lr.item(), (v) => v >= 0, 'must be ≥ 0');
  }
}

function serialize(t: Tensor): SerializedTensor {
  return { shape: [...t.shape], dtype: t.dtype, data: Array.from(t.dataSync()) };
}

function copyHyper(hyper: Record<string, unknown>): Record<string, HyperValue> {
  const out: Record<string, HyperValue> = {};
  // A tensor lr is saved as its value.
  for (const [k, v] of Object.entries(hyper)) out[k] = Array.isArray(v) ? [...(v as number[])] : v instanceof Tensor ? v.item() : (v as HyperValue);
  return out;
}

function disposeState(s: Record<string, StateValue>): void {
  for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
}
