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

/**
 * Elementwise ops whose output element i depends only on element i of each input of the
 * output's element count (other inputs broadcast), so their kernel may write the output
 * over such an input when that input dies at this step: memory planning's in-place reuse
 * at O3 (see `ir/memoryPlan.ts`; it also checks dtype, size and liveness). A kernel of
 * an op listed here must give the same result when its output buffer is one of its inputs.
 */
export const IN_PLACE_OPS: ReadonlySet<string> = new Set([
  'neg', 'abs', 'exp', 'log', 'log1p', 'sqrt', 'rsqrt', 'square', 'reciprocal', 'sign', 'sin', 'cos',
  'sigmoid', 'tanh', 'relu', 'leakyRelu', 'elu', 'softplus', 'erf', 'clip', 'copy', 'logicalNot',
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum',
  'equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual', 'logicalAnd', 'logicalOr', 'where',
  // Its generated wasm kernel reads each input's elements before writing the same positions.
  'fusedElementwise',
]);

/** Whether `op` may write its output into a dying input of the same dtype and size (see `IN_PLACE_OPS`). */
export function writesInPlace(op: string): boolean {
  return IN_PLACE_OPS.has(op);
}
