// kiln.diagnostics: model summaries, gradient norms, activation statistics.
export { summary, ModelSummary, type SummaryOptions, type LayerSummary, type SummaryTotals } from './summary.js';
export { layerFlops } from './flops.js';
export { gradientNorms, type GradientNorms, type GradientNormOptions } from './gradients.js';
export { activationStats, type ActivationStat, type ActivationReport, type ActivationStatsOptions, type ActivationHistogram, type ActivationPerUnit } from './activations.js';
