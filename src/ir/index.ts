export * from './dtype.js';
export * from './errors.js';
export * from './opRegistry.js';
export * from './dims.js';
export * from './graph.js';
