// kiln.optim: optimizers, learning-rate schedules, gradient clipping, constraints,
// early stopping and the lr finder. Imports only the eager barrel.
export {
  Optimizer,
  type Hyperparameters, type LearningRate, type ParamGroup, type ParamGroupSpec, type Params,
  type StateValue, type SerializedTensor, type HyperValue, type OptimizerStateDict,
} from './optimizer.js';
export { SGD, type SGDHyperparameters, type SGDOptions } from './sgd.js';
export { Adagrad, type AdagradHyperparameters, type AdagradOptions } from './adagrad.js';
export { Adadelta, type AdadeltaHyperparameters, type AdadeltaOptions } from './adadelta.js';
export { RMSprop, type RMSpropHyperparameters, type RMSpropOptions } from './rmsprop.js';
export type { AdamHyperparameters, AdamOptions } from './adamBase.js';
export { Adam } from './adam.js';
export { AdamW } from './adamw.js';
export * from './schedules/index.js';
export { clipGradNorm, type ClipGradNormOptions } from './clipGradNorm.js';
export { clipGradValue } from './clipGradValue.js';
export { maxNormConstraint, type MaxNormOptions } from './maxNormConstraint.js';
export type { StatefulModel, Weights } from './statefulModel.js';
export { EarlyStopping, type EarlyStoppingOptions } from './earlyStopping.js';
export { lrFinder, lossDiverged, type LrFinderOptions, type LrFinderResult, type LrTrial } from './lrFinder.js';
