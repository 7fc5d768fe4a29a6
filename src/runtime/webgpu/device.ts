// Getting a GPUDevice: an injected `GPU` (or adapter), `navigator.gpu` in browsers, Dawn
// (npm `webgpu`) in Node through the platform layer, so browser bundles never see it.
import { KilnError } from '../../ir/index.js';
import { env, isNode, loadNodeHost } from '../../platform/index.js';
import { WebGpuBackend } from './webgpuBackend.js';

/** What Kiln needs of a `GPU` object (`navigator.gpu`, or Dawn's `create([])` in Node). */
export interface GpuLike {
  requestAdapter(options?: GPURequestAdapterOptions): Promise<GPUAdapter | null>;
}

/** The limits WebGPU defines; each is requested at the adapter's value (defaults are far lower). */
const LIMIT_NAMES = [
  'maxTextureDimension1D', 'maxTextureDimension2D', 'maxTextureDimension3D', 'maxTextureArrayLayers',
  'maxBindGroups', 'maxBindingsPerBindGroup', 'maxDynamicUniformBuffersPerPipelineLayout',
  'maxDynamicStorageBuffersPerPipelineLayout', 'maxSampledTexturesPerShaderStage', 'maxSamplersPerShaderStage',
  'maxStorageBuffersPerShaderStage', 'maxStorageTexturesPerShaderStage', 'maxUniformBuffersPerShaderStage',
  'maxUniformBufferBindingSize', 'maxStorageBufferBindingSize', 'minUniformBufferOffsetAlignment',
  'minStorageBufferOffsetAlignment', 'maxVertexBuffers', 'maxBufferSize', 'maxVertexAttributes',
  'maxVertexBufferArrayStride', 'maxInterStageShaderVariables', 'maxColorAttachments',
  'maxColorAttachmentBytesPerSample', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension',
] as const;

/** Where to get an adapter when there is none, for the error message. */
function noAdapterHelp(): string {
  if (isNode) {
    const icd = env('VK_ICD_FILENAMES');
    return "Dawn found no GPU driver. On Linux without a GPU, provision Mesa 25 lavapipe (a CPU Vulkan driver) with `scripts/provision-lavapipe.sh` " +
      "and run with the VK_ICD_FILENAMES it prints (README, section 'WebGPU'); " +
      (icd ? `VK_ICD_FILENAMES is '${icd}' (check that it names lavapipe 24 or newer by an absolute library_path)` : 'VK_ICD_FILENAMES is not set');
  }
  return 'the browser has WebGPU but offered no adapter (blocklisted GPU, or WebGPU disabled: in Chrome try chrome://flags/#enable-unsafe-webgpu)';
}

/** The GPU object: the injected one, `navigator.gpu`, or Dawn from npm `webgpu` in Node. */
async function findGpu(injected: GpuLike | undefined): Promise<GpuLike> {
  if (injected) return injected;
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const host = await loadNodeHost();
  if (host) return host.createGpu();
  throw new KilnError("WebGPU is not available here: `navigator.gpu` is missing (it needs a browser with WebGPU and a secure context, https or localhost); pass `gpu` to kiln.init to inject one", { op: 'init' });
}

/**
 * A WebGPU backend on a new device of `gpu` (default: `navigator.gpu`, or Dawn in Node),
 * requested with the adapter's limits. No adapter is a KilnError saying why and how to
 * get one.
 *
 * @example
 * ```ts
 * const backend = await createWebGpuBackend();
 * console.log(backend.describe, backend.limits.maxBufferSize);
 * ```
 */
export async function createWebGpuBackend(gpu?: GpuLike): Promise<WebGpuBackend> {
  const found = await findGpu(gpu);
  const adapter = await found.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new KilnError(`no WebGPU adapter: ${noAdapterHelp()}`, { op: 'init' });
  const requiredLimits: Record<string, number> = {};
  const limits = adapter.limits as unknown as Record<string, unknown>;
  for (const name of LIMIT_NAMES) {
    const v = limits[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, label: 'kiln' });
  } catch {
    // An implementation refusing a limit it advertised: its defaults still work.
    device = await adapter.requestDevice({ label: 'kiln' });
  }
  return new WebGpuBackend(device, describeAdapter(adapter));
}

function describeAdapter(adapter: GPUAdapter): string {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const parts = info ? [info.vendor, info.architecture, info.description || info.device].filter((s) => s) : [];
  return parts.length ? parts.join(' ') : 'a WebGPU adapter';
}
