// Module hooks (PyTorch's register_forward_pre_hook / register_forward_hook /
// register_full_backward_hook).
//
// Layers call each other as `this.fc.forward(x)`, so hooks cannot live in a `__call__`
// the way they do in PyTorch. Registering the first hook on a module installs an
// instance-level `forward` (a non-enumerable own property, so parameter/child discovery
// never sees it) that runs the hooks around the forward it shadows; removing the last
// hook deletes it again, so a module without hooks runs exactly as before.
//
// Backward hooks are built from tensor ops: Kiln has no custom-gradient API, so the
// wrapper puts identity ops (unregistered op definitions whose output aliases the
// input, run through `dispatch.execute`) on the module's inputs and outputs; their
// gradient rules see the gradients flowing through and pass them on unchanged. To call
// the hook once with every gradient, the identities also take a shared "gate" tensor
// whose op's gradient rule runs only after all of them (it precedes them all on the
// tape) — PyTorch's BackwardHookFunction, written as tape nodes.
//
// With kiln.compile: pre-hooks and forward hooks are JavaScript, so they run while a
// call is traced (at trace time only: a compiled run executes the graph and calls no
// hook, and shape-only traces hand them tensors without values). A backward hook cannot
// be recorded in a graph, so tracing a module that has one raises (unless gradients are
// off: under noGrad there is no backward to hook).
import { isTracing, KilnError, noGrad, Tensor, userCallSite } from '../eager/index.js';
import { execute } from '../eager/dispatch.js';
import { engine } from '../eager/engine.js';
import type { OpDef, ValueType } from '../ir/index.js';
import type { Module } from './module.js';

/**
 * Called before `forward` with its arguments; return an array to replace them, or
 * nothing to keep them.
 */
export type ForwardPreHook<M extends Module = Module> = (module: M, inputs: readonly unknown[]) => readonly unknown[] | void;

/**
 * Called after `forward` with its arguments and result; return a value to replace the
 * result, or nothing (`undefined`) to keep it.
 */
export type ForwardHook<M extends Module = Module> = (module: M, inputs: readonly unknown[], output: unknown) => unknown;

/**
 * Called during `backward()` once the gradients w.r.t. the module's inputs are known:
 * `gradInputs[i]` is the gradient w.r.t. the i-th argument of `forward` (null for an
 * argument that is not a float tensor requiring grad, or that got no gradient),
 * `gradOutputs[k]` w.r.t. the k-th tensor of the result (a tensor, or the tensors of an
 * array result, nested arrays flattened in order, as an LSTM's `[output, [h, c]]`). A
 * tensor passed at several positions reports its whole gradient at each. The hook
 * observes: what it returns is ignored, and the gradients flow on unchanged. It runs
 * inside backward (with gradients off); the tensors it gets belong to the caller's
 * scope, so `keep()` or `clone()` what you store beyond it.
 */
export type FullBackwardHook<M extends Module = Module> = (module: M, gradInputs: readonly (Tensor | null)[], gradOutputs: readonly (Tensor | null)[]) => void;

/** What registering a hook returns. */
export interface HookHandle {
  /** Unregisters the hook; calling it again does nothing. */
  remove(): void;
}

type AnyFn = (...args: unknown[]) => unknown;

interface HookState {
  readonly pre: Map<number, ForwardPreHook<Module>>;
  readonly post: Map<number, ForwardHook<Module>>;
  readonly backward: Map<number, FullBackwardHook<Module>>;
  /** The own `forward` property the wrapper shadows (undefined: the prototype's). */
  saved: PropertyDescriptor | undefined;
  wrapper: AnyFn | null;
}

const states = new WeakMap<Module, HookState>();
let nextHookId = 0;

/**
 * Whether `m` has any hook registered (then its `forward` is the hook-running wrapper).
 *
 * @example
 * ```ts
 * const fc = new kiln.nn.Linear(2, 2);
 * const h = fc.registerForwardHook(() => undefined);
 * kiln.nn.hasHooks(fc); // true
 * h.remove();
 * kiln.nn.hasHooks(fc); // false
 * ```
 */
export function hasHooks(m: Module): boolean {
  const s = states.get(m);
  return s !== undefined && s.wrapper !== null;
}

/** @internal `Module.registerForwardPreHook`. */
export function addHook(m: Module, kind: 'pre', fn: ForwardPreHook<Module>): HookHandle;
/** @internal `Module.registerForwardHook`. */
export function addHook(m: Module, kind: 'post', fn: ForwardHook<Module>): HookHandle;
/** @internal `Module.registerFullBackwardHook`. */
export function addHook(m: Module, kind: 'backward', fn: FullBackwardHook<Module>): HookHandle;
export function addHook(m: Module, kind: 'pre' | 'post' | 'backward', fn: ForwardPreHook<Module> | ForwardHook<Module> | FullBackwardHook<Module>): HookHandle {
  if (typeof fn !== 'function') {
    throw new KilnError(`a hook must be a function, got ${fn === null ? 'null' : typeof fn}`, { op: `${m.constructor.name}.register${kind === 'pre' ? 'ForwardPreHook' : kind === 'post' ? 'ForwardHook' : 'FullBackwardHook'}`, callSite: userCallSite() });
  }
  let s = states.get(m);
  if (!s) states.set(m, (s = { pre: new Map(), post: new Map(), backward: new Map(), saved: undefined, wrapper: null }));
  const id = nextHookId++;
  (s[kind] as Map<number, typeof fn>).set(id, fn);
  if (s.wrapper === null) install(m, s);
  const state = s;
  return {
    remove(): void {
      if (!(state[kind] as Map<number, typeof fn>).delete(id)) return;
      if (state.pre.size + state.post.size + state.backward.size === 0) uninstall(m, state);
    },
  };
}

function install(m: Module, s: HookState): void {
  const own = Object.getOwnPropertyDescriptor(m, 'forward');
  s.saved = own;
  const inner = (m as unknown as { forward: AnyFn }).forward;
  const wrapper = function hookedForward(this: unknown, ...args: unknown[]): unknown {
    return callWithHooks(m, s, inner, this, args);
  };
  s.wrapper = wrapper;
  Object.defineProperty(m, 'forward', { value: wrapper, writable: true, configurable: true, enumerable: false });
}

function uninstall(m: Module, s: HookState): void {
  // Only undo our own wrapper: if user code replaced `forward` since, leave theirs.
  const current = Object.getOwnPropertyDescriptor(m, 'forward');
  if (current && current.value === s.wrapper) {
    if (s.saved) Object.defineProperty(m, 'forward', s.saved);
    else delete (m as unknown as { forward?: unknown }).forward;
  }
  s.wrapper = null;
  s.saved = undefined;
}

function callWithHooks(m: Module, s: HookState, inner: AnyFn, self: unknown, args: unknown[]): unknown {
  let inputs: readonly unknown[] = args;
  for (const hook of [...s.pre.values()]) {
    const replaced = hook(m, inputs);
    if (replaced !== undefined) {
      if (!Array.isArray(replaced)) throw new KilnError(`a forward pre-hook must return an array of inputs or nothing, got ${typeof replaced}`, { op: `${m.constructor.name}.forward`, callSite: userCallSite() });
      inputs = replaced;
    }
  }
  const backwardHooks = s.backward.size > 0 && engine.gradEnabled ? [...s.backward.values()] : null;
  if (backwardHooks && isTracing()) {
    throw new KilnError(
      `${m.constructor.name} has a full backward hook, which kiln.compile cannot record in a graph (a hook is a JavaScript callback, not an op). Remove it (handle.remove()) before compiling, or run this model eagerly`,
      { op: 'compile', callSite: userCallSite() },
    );
  }
  const call = backwardHooks ? new BackwardCall(m, backwardHooks, inputs.length) : null;
  const forwardInputs = call ? call.wrapInputs(inputs) : inputs;
  let output = inner.apply(self, forwardInputs as unknown[]);
  for (const hook of [...s.post.values()]) {
    const replaced = hook(m, inputs, output);
    if (replaced !== undefined) output = replaced;
  }
  return call ? call.wrapOutputs(output) : output;
}

// ---- backward hooks -------------------------------------------------------------------

/** Infers "same as input 0" (identity and gate ops), over sizes and symbolic dims alike. */
function sameAsFirst<T extends ValueType>(inputs: readonly T[]): T[] {
  return [{ ...inputs[0]! }];
}

/**
 * An identity whose output aliases input 0 and whose gradient rule reports the gradient
 * (`onGrad`) and passes it on; input 1, when given, is the gate, which gets zeros so that
 * the gate's own rule runs after this one.
 */
function identityOp(onGrad: (g: Tensor) => void): OpDef<Tensor> {
  return {
    name: 'backwardHookIdentity',
    arity: [1, 2],
    alias: true,
    doc: 'identity whose gradient rule calls a module backward hook (never in a graph)',
    infer: sameAsFirst,
    inferDims: sameAsFirst,
    grad: ({ inputs, dys }) => {
      onGrad(dys[0]!);
      return inputs.length === 2 ? [dys[0]!, inputs[1]!.zerosLike()] : [dys[0]!];
    },
  };
}

/** A tensor aliasing its input whose gradient rule calls `onReady` and passes nothing back. */
function gateOp(onReady: () => void): OpDef<Tensor> {
  return {
    name: 'backwardHookGate',
    arity: 1,
    alias: true,
    doc: 'ordering point of a module backward hook (never in a graph)',
    infer: sameAsFirst,
    inferDims: sameAsFirst,
    grad: () => {
      onReady();
      return [null];
    },
  };
}

function run(def: OpDef<Tensor>, inputs: readonly Tensor[]): Tensor {
  return execute(def as OpDef, inputs, {})[0]!;
}

function needsGrad(x: unknown): x is Tensor {
  return x instanceof Tensor && x.requiresGrad && (x.dtype === 'float32' || x.dtype === 'float64');
}

/** One forward call of a module with backward hooks: the tape nodes and the gradients they see. */
class BackwardCall {
  private gradInputs: (Tensor | null)[];
  private gradOutputs: (Tensor | null)[] = [];
  private inputGate: Tensor | null = null;

  constructor(
    private readonly module: Module,
    private readonly hooks: readonly FullBackwardHook<Module>[],
    private readonly arity: number,
  ) {
    this.gradInputs = new Array<Tensor | null>(arity).fill(null);
  }

  private fire(): void {
    const gradInputs = this.gradInputs, gradOutputs = this.gradOutputs;
    // Reset first: a retained graph runs the rules again on the next backward().
    this.gradInputs = new Array<Tensor | null>(this.arity).fill(null);
    this.gradOutputs = gradOutputs.map(() => null);
    noGrad(() => {
      for (const hook of this.hooks) hook(this.module, gradInputs, gradOutputs);
    });
  }

  /** Routes every input that requires grad through an identity that records its gradient. */
  wrapInputs(inputs: readonly unknown[]): unknown[] {
    const first = inputs.find(needsGrad);
    if (!first) return [...inputs];
    const gate = run(gateOp(() => this.fire()), [first]);
    this.inputGate = gate;
    // The same tensor passed twice (self-attention's query, key, value) stays one tensor,
    // so code that tests identity behaves as without the hook; each position then reports
    // the tensor's whole gradient.
    const wrapped = new Map<Tensor, Tensor>();
    return inputs.map((x) => {
      if (!needsGrad(x)) return x;
      let y = wrapped.get(x);
      if (!y) {
        const positions = inputs.flatMap((v, j) => (v === x ? [j] : []));
        y = run(identityOp((g) => { for (const j of positions) this.gradInputs[j] = g; }), [x, gate]);
        wrapped.set(x, y);
      }
      return y;
    });
  }

  /**
   * Routes every output tensor through an identity: a tensor result, or the tensors of
   * an array result (nested arrays too, as an LSTM's `[output, [h, c]]`), in order.
   */
  wrapOutputs(output: unknown): unknown {
    const tensors: Tensor[] = [];
    collectTensors(output, tensors, 0);
    this.gradOutputs = tensors.map(() => null);
    const first = tensors.find(needsGrad);
    if (!first) return output;
    // No input needs a gradient (the first layer): the hook runs once the output
    // gradients are all in, from a gate that precedes the output identities on the tape.
    const gate = this.inputGate === null ? run(gateOp(() => this.fire()), [first]) : null;
    let k = 0;
    const wrap = (v: unknown, depth: number): unknown => {
      if (v instanceof Tensor) {
        const index = k++;
        if (!needsGrad(v)) return v;
        const op = identityOp((g) => { this.gradOutputs[index] = g; });
        return run(op, gate ? [v, gate] : [v]);
      }
      return Array.isArray(v) && depth < MAX_DEPTH ? v.map((e) => wrap(e, depth + 1)) : v;
    };
    return wrap(output, 0);
  }
}

const MAX_DEPTH = 8;

function collectTensors(v: unknown, out: Tensor[], depth: number): void {
  if (v instanceof Tensor) out.push(v);
  else if (Array.isArray(v) && depth < MAX_DEPTH) for (const e of v) collectTensors(e, out, depth + 1);
}
