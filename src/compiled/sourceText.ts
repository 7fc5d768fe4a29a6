// The source text at a user's `file:line:col` (a graph break, a pinned dim), for
// `explain()`. The line itself is read directly; the exact expression comes from
// ts-morph, which loads the TypeScript compiler (seconds, tens of MB): it is required
// lazily, only here, and only when the file exists. Without it (or in a browser),
// explanations show the line alone.

/** What the source says at one call site. */
export interface SourceExcerpt {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The whole line, trimmed. */
  readonly lineText: string;
  /** The call at the site (`x.sum().item()`), when ts-morph could parse the file. */
  readonly expression?: string;
  /** The largest expression around it (`x.sum().item() > 0`), when larger than the call. */
  readonly context?: string;
}

interface NodeModules {
  readonly fs: { existsSync(p: string): boolean; readFileSync(p: string, enc: 'utf8'): string };
  readonly require: (id: string) => unknown;
}

let modules: NodeModules | null | undefined;

function nodeModules(): NodeModules | null {
  if (modules !== undefined) return modules;
  modules = null;
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const get = proc?.getBuiltinModule;
  if (typeof get === 'function') {
    const fs = get('node:fs') as NodeModules['fs'] | undefined;
    const mod = get('node:module') as { createRequire(url: string): (id: string) => unknown } | undefined;
    if (fs && mod) modules = { fs, require: mod.createRequire(import.meta.url) };
  }
  return modules;
}

/** `file:line:col` split (the file may itself hold colons). */
export function parseSite(site: string): { file: string; line: number; column: number } | null {
  const m = /^(.*):(\d+):(\d+)$/.exec(site);
  return m ? { file: m[1]!, line: Number(m[2]), column: Number(m[3]) } : null;
}

// ts-morph's surface as used here (it is an optional dependency: no static types).
interface TsNode {
  getKindName(): string;
  getText(): string;
  getParent(): TsNode | undefined;
}
interface TsSourceFile {
  getDescendantAtPos(pos: number): TsNode | undefined;
  compilerNode: { getPositionOfLineAndCharacter(line: number, character: number): number };
}
interface TsMorph {
  Project: new (options: object) => { addSourceFileAtPath(path: string): TsSourceFile; getSourceFile(path: string): TsSourceFile | undefined };
  Node: { isExpression(n: TsNode): boolean };
}

let project: { tsm: TsMorph; p: InstanceType<TsMorph['Project']> } | null | undefined;

function tsMorph(req: (id: string) => unknown): NonNullable<typeof project> | null {
  if (project !== undefined) return project;
  try {
    const tsm = req('ts-morph') as TsMorph;
    project = { tsm, p: new tsm.Project({ skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true, compilerOptions: { allowJs: true } }) };
  } catch {
    project = null; // not installed: lines only
  }
  return project;
}

const CALL_KINDS = new Set(['CallExpression', 'NewExpression', 'TaggedTemplateExpression']);

function expressionAt(file: string, line: number, column: number, req: (id: string) => unknown): { expression?: string; context?: string } {
  const tm = tsMorph(req);
  if (!tm) return {};
  try {
    const sf = tm.p.getSourceFile(file) ?? tm.p.addSourceFileAtPath(file);
    const pos = sf.compilerNode.getPositionOfLineAndCharacter(line - 1, column - 1);
    let node = sf.getDescendantAtPos(pos);
    while (node && !CALL_KINDS.has(node.getKindName())) node = node.getParent();
    if (!node) return {};
    const expression = node.getText();
    let top = node;
    for (let p = top.getParent(); p && tm.tsm.Node.isExpression(p) && !/Function|Arrow|Class/.test(p.getKindName()); p = p.getParent()) top = p;
    const context = top.getText();
    return context !== expression && context.length <= 200 ? { expression, context } : { expression };
  } catch {
    return {};
  }
}

const cache = new Map<string, SourceExcerpt | null>();

/**
 * The source at `site` (`/path/model.ts:12:20`), or null when the file cannot be read.
 *
 * @example
 * ```ts
 * sourceExcerpt('/work/model.ts:12:20');
 * // { file: '/work/model.ts', line: 12, column: 20, lineText: 'if (x.sum().item() > 0) {',
 * //   expression: 'x.sum().item()', context: 'x.sum().item() > 0' }
 * ```
 */
export function sourceExcerpt(site: string): SourceExcerpt | null {
  if (cache.has(site)) return cache.get(site)!;
  let out: SourceExcerpt | null = null;
  const where = parseSite(site);
  const nm = nodeModules();
  if (where && nm && nm.fs.existsSync(where.file)) {
    try {
      const lineText = (nm.fs.readFileSync(where.file, 'utf8').split('\n')[where.line - 1] ?? '').trim();
      out = { ...where, lineText, ...expressionAt(where.file, where.line, where.column, nm.require) };
    } catch {
      out = null;
    }
  }
  cache.set(site, out);
  return out;
}
