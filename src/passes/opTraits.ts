// Facts about ops that passes need and op definitions do not (yet) state, as data.

/**
 * Ops that draw random numbers (from their key input). Never merged or folded: two
 * draws are two draws, and a folded draw would freeze the numbers of one run.
 */
export const RANDOM_OPS: ReadonlySet<string> = new Set(['randomUniform', 'randomNormal', 'randomInt', 'bernoulli']);

/** Whether a pass may treat `op` as a pure function of its inputs and attributes. */
export function isDeterministic(op: string): boolean {
  return !RANDOM_OPS.has(op);
}
