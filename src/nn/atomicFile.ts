import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KilnError } from '../eager/index.js';

/*
 * Crash- and race-safe file replacement, and file-system errors as KilnErrors.
 *
 * A write goes to a temporary file with a unique name beside the target
 * (`.<base>.<uuid>.kiln-tmp`: same directory, so the rename never crosses file systems),
 * is fsync'd and closed, renamed over the target, then the directory is fsync'd so the
 * rename itself survives a power cut. Concurrent writers each have their own temp file,
 * so the last rename wins with a complete file and readers only ever see a whole one.
 */

const TEMP_SUFFIX = '.kiln-tmp';
/** Temp files older than this are left by killed writers; younger ones may be a save in flight. */
export const STALE_TEMP_MS = 10 * 60 * 1000;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Matches `base`'s temp files: ours, and `.<base>.<pid>.<ms>.tmp` left by older Kiln versions. */
function tempPattern(base: string): RegExp {
  return new RegExp(`^\\.${escapeRegExp(base)}\\.(?:${UUID}${escapeRegExp(TEMP_SUFFIX)}|\\d+\\.\\d+\\.tmp)$`);
}

type ErrnoError = NodeJS.ErrnoException;

function codeOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && typeof (e as ErrnoError).code === 'string' ? (e as ErrnoError).code : undefined;
}

/**
 * A file-system failure as a KilnError: `<op>: checkpoint <file>: cannot <action> (<CODE>): <why>`.
 * The original error is kept as `cause`.
 */
export function fileError(op: string, file: string, action: string, e: unknown, callSite: string | undefined, note = ''): KilnError {
  if (e instanceof KilnError) return e;
  const code = codeOf(e);
  const dir = path.dirname(file);
  const why =
    code === 'ENOENT' ? (action === 'read' ? 'no such file' : `directory ${dir} does not exist`)
    : code === 'EISDIR' ? `${file} is a directory`
    : code === 'ENOTDIR' ? `a parent of ${file} is not a directory`
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'ENOSPC' ? 'no space left on the device'
    : code === 'EROFS' ? 'read-only file system'
    : (e as Error)?.message ?? String(e);
  const err = new KilnError(`checkpoint ${file}: cannot ${action}${code ? ` (${code})` : ''}: ${why}${note}`, { op, callSite });
  Object.defineProperty(err, 'cause', { value: e, enumerable: false, configurable: true, writable: true });
  return err;
}

/** Removes `base`'s temp files older than `STALE_TEMP_MS` from `dir` (best effort). */
async function removeStaleTemps(dir: string, base: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return; // the write itself reports a missing or unreadable directory
  }
  const pattern = tempPattern(base);
  const cutoff = Date.now() - STALE_TEMP_MS;
  for (const name of names) {
    if (!pattern.test(name)) continue;
    const p = path.join(dir, name);
    try {
      const st = await fs.lstat(p);
      if (st.isFile() && st.mtimeMs < cutoff) await fs.rm(p, { force: true });
    } catch {
      // Another save cleaned it first, or it is not ours to remove: either way, not this save's failure.
    }
  }
}

/** fsync a directory so a rename in it is durable. Platforms that cannot (Windows) refuse with these codes. */
async function syncDirectory(dir: string): Promise<void> {
  const unsupported = new Set(['EISDIR', 'EINVAL', 'EPERM']);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(dir, 'r');
  } catch (e) {
    if (unsupported.has(codeOf(e) ?? '')) return;
    throw e;
  }
  try {
    await handle.sync();
  } catch (e) {
    if (!unsupported.has(codeOf(e) ?? '')) throw e;
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `file` with `bytes` atomically and durably (see the comment at the top). On any
 * failure the temp file is removed, `file` is untouched, and a KilnError names the path.
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array, op: string, callSite: string | undefined): Promise<void> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  // Check the target first so the common mistakes fail before writing anything.
  try {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (e) {
    throw fileError(op, file, 'write', e, callSite);
  }
  const existing = await fs.stat(file).catch(() => undefined);
  if (existing?.isDirectory()) throw fileError(op, file, 'write', Object.assign(new Error('is a directory'), { code: 'EISDIR' }), callSite);
  await removeStaleTemps(dir, base);

  const tmp = path.join(dir, `.${base}.${randomUUID()}${TEMP_SUFFIX}`);
  try {
    const handle = await fs.open(tmp, 'wx'); // exclusive: a temp file is never shared
    try {
      await handle.writeFile(bytes); // loops until every byte is written
      await handle.sync(); // the data is on disk before the rename makes it visible
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw fileError(op, file, 'write', e, callSite);
  }
  try {
    await syncDirectory(dir);
  } catch (e) {
    throw fileError(op, file, `sync directory ${dir}`, e, callSite, ' (the new file is in place but may not survive a power cut)');
  }
}

/** Reads a whole file; failures are KilnErrors naming the path. */
export async function readFileChecked(file: string, op: string, callSite: string | undefined): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (e) {
    throw fileError(op, file, 'read', e, callSite);
  }
}
