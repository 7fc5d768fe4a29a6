// The WebGPU backend: device acquisition, storages, dispatch, kernel registration.
export { createWebGpuBackend, type GpuLike } from './device.js';
export { BufferUsage, gpuBufferBytes, type GpuStorage } from './gpuStorage.js';
export { registerWebGpuKernels, type WebGpuKernelFactory } from './kernelRegistry.js';
export { SYNC_READ_MESSAGE, WebGpuBackend, type WebGpuDispatch } from './webgpuBackend.js';
