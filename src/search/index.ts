// kiln.search: hyperparameter search (random search, successive halving) over a declared
// space, trials in parallel worker threads, reproducible by seed.
import { choice, int, logUniform, uniform } from './space.js';

/**
 * The parameter helpers: `uniform(lo, hi)`, `logUniform(lo, hi)`, `int(lo, hi, { log })`
 * (inclusive) and `choice([...])`. A space is a plain object of them.
 *
 * @example
 * ```ts
 * const { space } = kiln.search;
 * const s = { lr: space.logUniform(1e-4, 1e-1), hidden: space.int(16, 256, { log: true }), act: space.choice(['relu', 'tanh']) };
 * ```
 */
export const space = { uniform, logUniform, int, choice } as const;
export { sample, describeSpace, Param, UniformParam, IntParam, ChoiceParam, type ParamKind, type Space, type ConfigOf, type Constant } from './space.js';
export {
  randomSearch, successiveHalving, halvingSchedule,
  type SearchOptions, type RandomSearchOptions, type SuccessiveHalvingOptions,
} from './search.js';
export { SearchResult, type TrialRecord, type Direction, type TableOptions } from './result.js';
export type { TrialContext, TrialOutput, TrialFunction, TrialModule } from './trialRunner.js';
