import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KilnError, tensor, Tensor, type DType } from '../eager/index.js';
import type { Module } from './module.js';

/*
 * File layout (little endian):
 *   "KILNCKPT" (8 bytes) | format version u32 | header length u32 | header (UTF-8 JSON)
 *   | tensor data (each entry at its offset, 8-byte aligned) | SHA-256 of everything before (32 bytes)
 * The header lists every entry's name, dtype, shape, byte offset and length, plus metadata.
 */
const MAGIC = 'KILNCKPT';
const FORMAT_VERSION = 1;

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  bytes: number;
}

interface Header {
  format: 'kiln-checkpoint';
  version: number;
  entries: Entry[];
  metadata: Record<string, unknown>;
}

/** What `loadCheckpoint` returns. */
export interface Checkpoint {
  state: Map<string, Tensor>;
  metadata: Record<string, unknown>;
}

function fail(file: string, message: string): never {
  throw new KilnError(`checkpoint ${file}: ${message}`);
}

/**
 * Saves a model's parameters and buffers (or any name → tensor map) to `file`.
 * Atomic: writes a temporary file beside it, then renames, so a crash never leaves a
 * half-written checkpoint under the real name. Versioned and checksummed (SHA-256).
 *
 * @example
 * ```ts
 * await kiln.save(model, 'model.kiln', { metadata: { epoch: 3 } });
 * const { epoch } = await kiln.load(model, 'model.kiln');
 * ```
 */
export async function save(model: Module | Map<string, Tensor>, file: string, options: { metadata?: Record<string, unknown> } = {}): Promise<void> {
  const state = model instanceof Map ? model : model.stateDict();
  const entries: Entry[] = [];
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of state) {
    const data = t.dataSync();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    entries.push({ name, dtype: t.dtype, shape: [...t.shape], offset, bytes: bytes.length });
    blobs.push(bytes);
    offset += Math.ceil(bytes.length / 8) * 8;
  }
  const header: Header = { format: 'kiln-checkpoint', version: FORMAT_VERSION, entries, metadata: options.metadata ?? {} };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const preamble = 8 + 4 + 4 + headerBytes.length;
  const dataStart = Math.ceil(preamble / 8) * 8;
  const body = new Uint8Array(dataStart + offset);
  body.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(body.buffer);
  view.setUint32(8, FORMAT_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  body.set(headerBytes, 16);
  entries.forEach((e, i) => body.set(blobs[i]!, dataStart + e.offset));
  const digest = createHash('sha256').update(body).digest();
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.write(body);
      await handle.write(digest);
      await handle.sync(); // on disk before the rename makes it visible
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Reads and verifies a checkpoint: every tensor, on the default backend, and its metadata. */
export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (e) {
    return fail(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (buf.length < 16 + 32 || buf.subarray(0, 8).toString('latin1') !== MAGIC) fail(file, 'not a Kiln checkpoint (bad magic bytes)');
  const body = buf.subarray(0, buf.length - 32);
  const digest = createHash('sha256').update(body).digest();
  if (!digest.equals(buf.subarray(buf.length - 32))) fail(file, 'checksum mismatch: the file is truncated or corrupt');
  const version = buf.readUInt32LE(8);
  if (version !== FORMAT_VERSION) fail(file, `format version ${version} is not supported (this Kiln reads version ${FORMAT_VERSION})`);
  const headerLength = buf.readUInt32LE(12);
  const header = JSON.parse(buf.subarray(16, 16 + headerLength).toString('utf8')) as Header;
  const dataStart = Math.ceil((16 + headerLength) / 8) * 8;
  const state = new Map<string, Tensor>();
  for (const e of header.entries) {
    const start = body.byteOffset + dataStart + e.offset;
    const raw = body.buffer.slice(start, start + e.bytes);
    const data = e.dtype === 'float32' ? new Float32Array(raw) : e.dtype === 'float64' ? new Float64Array(raw) : e.dtype === 'int32' ? new Int32Array(raw) : new Uint8Array(raw);
    state.set(e.name, tensor(data, { dtype: e.dtype, shape: e.shape }).keep());
  }
  return { state, metadata: header.metadata };
}

/**
 * Loads a checkpoint into `model` (in place) and returns its metadata. Names and shapes
 * must match; the file is fully read and verified before any parameter is written, so a
 * corrupt file never half-loads a model.
 */
export async function load(model: Module, file: string): Promise<Record<string, unknown>> {
  const { state, metadata } = await loadCheckpoint(file);
  try {
    model.loadStateDict(state);
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return metadata;
}
