// Graph → Graph rewrites and the pipeline that runs them at a level.
export { type Pass, type PassContext, type OptLevel, type Evaluator, type ConstantData, type TargetCapabilities, OPT_LEVELS, NO_FUSION, levelIncludes } from './pass.js';
export { PassManager, BUILTIN_PASSES, formatReport, dumpIRFromEnv, type PassManagerOptions, type PassRecord, type PipelineReport, type GraphSize } from './passManager.js';
export { P, rule, rewrite, matchAt, Match, Builder, type Pattern, type Rule } from './pattern.js';
export { constantOf, isFixed, fixedData, uniformValue, replaceValue, storageRoot, useCounts, eraseIfDead } from './values.js';
export { RANDOM_OPS, isDeterministic } from './opTraits.js';
export { deadCodeElimination, eliminateDeadCode } from './deadCode.js';
export { commonSubexpressionElimination } from './commonSubexpressions.js';
export { constantFolding, foldConstants } from './constantFolding.js';
export { algebraicSimplification, ALGEBRAIC_RULES } from './algebraic.js';
export { dropoutRemoval } from './dropoutRemoval.js';
export { bnFolding, foldBatchNorms } from './bnFolding.js';
export { biasFusion, fuseBiases } from './biasFusion.js';
export { rnnUnrolling, unrollRecurrent, MAX_UNROLLED_STEPS } from './rnnUnrolling.js';
export { activationFusion, fuseActivations } from './activationFusion.js';
export { uniformConstants, expandUniformConstants } from './uniformConstants.js';
export { elementwiseFusion, fuseElementwise, MAX_FUSED_OPS } from './elementwiseFusion.js';
export { layout, layoutToNhwc } from './layout.js';
