// kiln.nn layers and initializers.
export * as init from '../init.js';
export type { InitRandomOptions, KaimingOptions, GainOptions, Nonlinearity, FanMode } from '../init.js';
export type { FactoryOptions } from './common.js';
export type { WeightInit, WeightInitName, BiasInit, BiasInitName, WeightBiasOptions } from './initScheme.js';
export { Sequential } from './sequential.js';
export { ModuleList } from './moduleList.js';
export { Linear, type LinearOptions } from './linear.js';
export { Conv1d, type Conv1dLayerOptions } from './conv1d.js';
export { Conv2d, type Conv2dLayerOptions } from './conv2d.js';
export { ConvTranspose2d, type ConvTranspose2dLayerOptions } from './convTranspose2d.js';
export { MaxPool2d, AvgPool2d, type MaxPool2dLayerOptions, type AvgPool2dLayerOptions } from './pooling.js';
export { AdaptiveAvgPool2d, type AdaptiveSize } from './adaptiveAvgPool2d.js';
export { Flatten } from './flatten.js';
export { Dropout } from './dropout.js';
export { Dropout2d } from './dropout2d.js';
export { BatchNorm1d, BatchNorm2d, type BatchNormOptions } from './batchNorm.js';
export { LayerNorm, type LayerNormOptions } from './layerNorm.js';
export { GroupNorm, type GroupNormOptions } from './groupNorm.js';
export { Upsample, type UpsampleOptions } from './upsample.js';
export {
  MultiheadAttention,
  type MultiheadAttentionOptions,
  type MultiheadAttentionForwardOptions,
} from './multiheadAttention.js';
export {
  TransformerEncoderLayer,
  type TransformerEncoderLayerOptions,
  type TransformerEncoderLayerForwardOptions,
} from './transformerEncoderLayer.js';
export { Embedding, type EmbeddingOptions } from './embedding.js';
export { ReLU, LeakyReLU, PReLU, ELU, Sigmoid, Tanh, Softmax, LogSoftmax, Identity, type PReLUOptions } from './activations.js';
