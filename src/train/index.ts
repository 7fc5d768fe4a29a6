export {
  fit, evaluate,
  type FitOptions, type EpochRecord, type BatchRecord, type Steppable, type Batches,
  type EvaluateOptions, type EvaluateResult, type MetricName, type MetricValues,
} from './fit.js';
export { ProgressBar } from './progress.js';
export type {
  ReportOptions, ReportData, ReportStep, ReportGradients, ReportActivations, ReportFilters, ReportConfusion,
} from './reportCollect.js';
export * as metrics from './metrics.js';
