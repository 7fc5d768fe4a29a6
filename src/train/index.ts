export { fit, evaluate, type FitOptions, type EpochRecord, type Steppable, type Batches } from './fit.js';
export { ProgressBar } from './progress.js';
