// Recurrent layers and cells (PyTorch semantics and parameter names), variable-length batches.
export { RecurrentBase, type RecurrentOptions, type RecurrentFactoryOptions, type RecurrentForwardOptions, type RecurrentWeights } from './recurrentBase.js';
export { RNN, type RNNOptions } from './rnn.js';
export { LSTM, type LSTMState } from './lstm.js';
export { GRU } from './gru.js';
export { RecurrentCellBase, type RecurrentCellOptions } from './recurrentCellBase.js';
export { RNNCell, type RNNCellOptions } from './rnnCell.js';
export { LSTMCell } from './lstmCell.js';
export { GRUCell } from './gruCell.js';
export {
  PackedSequence, packPaddedSequence, padPackedSequence, padSequence, packSequence,
  type PackOptions, type UnpackOptions, type PadSequenceOptions,
} from './packedSequence.js';
export type { LengthsLike } from './sequenceLengths.js';
