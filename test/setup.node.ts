// Tests import Kiln's sources (`src/index.ts`, the package's browser/default entry), not
// the package: register the Node host here, as the package's `node` entry
// (`src/index.node.ts`) does on import, so files work before `await kiln.init()` too.
import '../src/platform/node.js';
