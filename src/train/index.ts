export {
  fit, evaluate,
  type FitOptions, type EpochRecord, type BatchRecord, type Steppable, type Batches,
  type EvaluateOptions, type EvaluateResult, type MetricName, type MetricValues,
} from './fit.js';
export { ProgressBar } from './progress.js';
export * as metrics from './metrics.js';
