// What a traced graph of a module holds besides its inputs: the module's submodules,
// parameters and buffers, by identity (the graph reads the very tensors it traced), and
// every submodule's `training` flag (a graph is valid for one combination of them).
import { Tensor } from '../eager/tensor.js';
import { isBuffer, isParameter, Module } from '../nn/module.js';

/** Whether `walkModule` visits tensor `t`: a parameter or buffer (`expected`: the item a check expects next, which was one). */
function holdsState(t: Tensor, expected: unknown): boolean {
  return t === expected || isParameter(t) || isBuffer(t);
}

/**
 * Visits `m`, then its properties in order: submodules (recursively, also in arrays),
 * parameters and buffers. Stops, returning false, when `visit` does. `next()` is the item
 * a check expects next: a tensor that is it needs no parameter/buffer lookup.
 */
function walkModule(m: Module, visit: (item: Module | Tensor) => boolean, next: () => unknown): boolean {
  if (!visit(m)) return false;
  for (const key in m) {
    const v = (m as unknown as Record<string, unknown>)[key];
    if (typeof v !== 'object' || v === null) continue;
    if (v instanceof Module) {
      if (!walkModule(v, visit, next)) return false;
    } else if (v instanceof Tensor) {
      if (holdsState(v, next()) && !visit(v)) return false;
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const u: unknown = v[i];
        if (u instanceof Module && !walkModule(u, visit, next)) return false;
      }
    }
  }
  return true;
}

const nothingExpected = (): unknown => undefined;

export function sameFlags(a: readonly boolean[], b: readonly boolean[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What the graph entries of one module were traced with, to tell when they went stale. */
export class ModuleStructure {
  private items: (Module | Tensor)[] | null = null;
  /**
   * Each submodule's `training` flag at the last `check`: one array, rewritten at each
   * check (read it before the next one; `record` returns arrays to keep).
   */
  readonly flags: boolean[] = [];
  /** Items `check` matched so far, and flags it wrote. */
  private matched = 0;
  private flagCount = 0;
  /** `check`'s visitor, made once: a check allocates nothing (flags overwritten in place, not emptied and pushed). */
  private readonly visitCheck = (x: Module | Tensor): boolean => {
    if (x instanceof Module) this.flags[this.flagCount++] = x.training;
    return this.items![this.matched++] === x;
  };
  private readonly expected = (): unknown => this.items![this.matched];

  /**
   * Whether the module still holds what was recorded (`m.fc = new nn.Linear(…)`,
   * `m.fc.weight = …` make graphs that read the old tensors stale); fills `flags` with
   * each submodule's `training` flag now. Nothing recorded counts as unchanged (and
   * leaves `flags` empty).
   */
  check(module: Module): boolean {
    this.matched = 0;
    this.flagCount = 0;
    const same = this.items === null || (walkModule(module, this.visitCheck, this.expected) && this.matched === this.items.length);
    if (this.flags.length !== this.flagCount) this.flags.length = this.flagCount;
    return same;
  }

  /** Records what the module holds now; returns the `training` flags. */
  record(module: Module): boolean[] {
    const items: (Module | Tensor)[] = [];
    const flags: boolean[] = [];
    walkModule(module, (x) => {
      items.push(x);
      if (x instanceof Module) flags.push(x.training);
      return true;
    }, nothingExpected);
    this.items = items;
    return flags;
  }

  forget(): void {
    this.items = null;
  }
}
