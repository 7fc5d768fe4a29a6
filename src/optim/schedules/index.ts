// Learning-rate schedules (PyTorch's torch.optim.lr_scheduler, camelCased).
export { LRScheduler, type LrOptimizer, type SchedulerStateDict } from './lrScheduler.js';
export { StepLR, type StepLROptions } from './stepLR.js';
export { ExponentialLR, type ExponentialLROptions } from './exponentialLR.js';
export { CosineAnnealingLR, type CosineAnnealingLROptions } from './cosineAnnealingLR.js';
export { LinearLR, type LinearLROptions } from './linearLR.js';
export { LinearWarmup, type LinearWarmupOptions } from './linearWarmup.js';
export { ReduceLROnPlateau, type ReduceLROnPlateauOptions, type PlateauStateDict } from './reduceLROnPlateau.js';
