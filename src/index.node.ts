/**
 * Kiln's Node entry (the package's `node` export condition): everything `./index.ts`
 * exports, with the Node host registered on import — checkpoint files, dataset files,
 * worker threads, and tfjs-backend-wasm loaded from the installed package.
 *
 * @example
 * ```ts
 * import * as kiln from 'kiln'; // resolves here in Node, to ./index.ts in bundlers
 * await kiln.init();
 * ```
 */
import './platform/node.js';

export * from './index.js';
