// The Node host: everything Kiln does with `node:*` modules, registered on import (see
// `./index.ts`). Never imported by code that a browser bundle reaches.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readFileChecked, writeFileAtomic } from '../nn/atomicFile.js';
import { loadNodeWasm } from '../runtime/wasm/nodeWasm.js';
import * as trials from '../search/trialWorkers.js';
import { registerNodeHost, type NodeHost } from './index.js';

const require = createRequire(import.meta.url);

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
  builtin: <T>(name: `node:${string}`) => import(name) as Promise<T>,
};

registerNodeHost(host);
