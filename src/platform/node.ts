// The Node host: everything Kiln does with `node:*` modules, registered on import (see
// `./index.ts`). Never imported by code that a browser bundle reaches.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { KilnError } from '../ir/errors.js';
import { readFileChecked, writeFileAtomic } from '../nn/atomicFile.js';
import { loadNodeWasm } from '../runtime/wasm/nodeWasm.js';
import * as trials from '../search/trialWorkers.js';
import { registerNodeHost, type NodeHost } from './index.js';

const require = createRequire(import.meta.url);

/** Dawn's GPU object: module-level so it lives as long as the process (its GC crashes Dawn). */
let dawn: Promise<GPU> | null = null;

async function createDawnGpu(): Promise<GPU> {
  // Not a literal: a Node bundle without the optional `webgpu` package must still build.
  const specifier = ['web', 'gpu'].join('');
  let m: { create(flags: string[]): GPU };
  try {
    m = (await import(specifier)) as typeof m;
  } catch (e) {
    throw new KilnError(`WebGPU in Node needs the npm package 'webgpu' (Dawn): npm install webgpu (${(e as Error).message.split('\n')[0]})`, { op: 'init' });
  }
  return m.create([]);
}

const host: NodeHost = {
  readFile: readFileChecked,
  writeFileAtomic,
  readFileSync: (file) => readFileSync(file),
  existsSync,
  joinPath: (...parts) => path.join(...parts),
  gunzipSync: (bytes) => gunzipSync(bytes),
  packageDir: (name) => path.dirname(require.resolve(`${name}/package.json`)),
  loadWasm: loadNodeWasm,
  availableParallelism,
  stderr: process.stderr,
  trials,
  createGpu: () => (dawn ??= createDawnGpu().catch((e: unknown) => {
    dawn = null;
    throw e;
  })),
  builtin: <T>(name: `node:${string}`) => import(name) as Promise<T>,
};

registerNodeHost(host);
