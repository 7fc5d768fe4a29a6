import type { Tensor } from './tensor.js';

/** Told when one tensor takes another's place (see `rebind`). */
export type RebindListener = (old: Tensor, next: Tensor) => void;

const listeners: RebindListener[] = [];

/**
 * @internal Registers `listener` for every `rebind`. `kiln.nn` registers the one that
 * moves module properties (and parameter status) from the old tensor to the new one;
 * the registry lives here so `optim` can rebind without importing `nn`.
 */
export function onRebind(listener: RebindListener): void {
  if (!listeners.includes(listener)) listeners.push(listener);
}

/**
 * @internal `next` takes `old`'s place wherever a holder registered with `onRebind`
 * keeps it: every module property holding the parameter `old` now holds `next`, which
 * counts as a parameter. An optimizer with a tensor learning rate calls it after each
 * out-of-place step, for every parameter it updated.
 */
export function rebind(old: Tensor, next: Tensor): void {
  for (const listener of listeners) listener(old, next);
}
