// The generator lives with the kernels (runtime may not import eager); eager, data and
// the random kernels all draw from this one implementation.
export * from '../runtime/philox.js';
