// Unsupervised pre-training: autoencoders (tied, denoising, sparse) and greedy
// layer-wise pre-training of stacked autoencoders.
export { AutoEncoder, TiedLinear, type AutoEncoderOptions, type InputNoise, type SparsityOptions } from './autoEncoder.js';
export { pretrainGreedy, type PretrainOptions, type PretrainOptimizer, type PretrainRecord } from './pretrainGreedy.js';
