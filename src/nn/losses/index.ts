// Losses (functions and modules, PyTorch semantics) and regularization penalties.
export { type Reduction, type LossOptions } from './reduction.js';
export { mseLoss } from './mseLoss.js';
export { l1Loss } from './l1Loss.js';
export { huberLoss, smoothL1Loss } from './huberLoss.js';
export { nllLoss, type NLLLossOptions } from './nllLoss.js';
export { crossEntropy, type CrossEntropyOptions } from './crossEntropy.js';
export type { ClassTargetOptions } from './classTargets.js';
export { binaryCrossEntropy, type BinaryCrossEntropyOptions } from './binaryCrossEntropy.js';
export { binaryCrossEntropyWithLogits, type BinaryCrossEntropyWithLogitsOptions } from './binaryCrossEntropyWithLogits.js';
export { klDiv, type KLDivOptions } from './klDiv.js';
export { l1Penalty, l2Penalty } from './weightPenalties.js';
export { activationSparsityPenalty, type ActivationSparsityOptions } from './activationSparsityPenalty.js';
export {
  MSELoss, L1Loss, HuberLoss, SmoothL1Loss, CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, KLDivLoss,
  type LossModuleOptions, type CrossEntropyLossOptions,
} from './lossModules.js';
