// kiln.nn: modules, layers, initializers, recurrent layers, losses.
export { Module, parameter, buffer, isParameter, isBuffer, callForward } from './module.js';
export * from './layers/index.js';
export * from './recurrent/index.js';
export * from './reservoir/index.js';
export * from './losses/index.js';
export * from './pretrain/index.js';
export { save, load, loadCheckpoint, type Checkpoint } from './checkpoint.js';
export { hasHooks, type ForwardHook, type ForwardPreHook, type FullBackwardHook, type HookHandle } from './hooks.js';
