// The Emscripten factories in tfjs-backend-wasm's wasm-out/ (CommonJS, no types of their
// own for the builds Kiln loads in browsers): see `browserWasm.ts`.
declare module '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.js' {
  const factory: (options: object) => Promise<unknown>;
  export default factory;
}
declare module '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js' {
  export const wasmWorkerContents: string;
}
