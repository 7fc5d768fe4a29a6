import { KilnError, tensor, Tensor, userCallSite, type DType } from '../eager/index.js';
import { describeByteSource, isByteSource, loadNodeHost, readByteSource, requireNode, sha256, type ByteSource } from '../platform/index.js';
import type { Module } from './module.js';

/*
 * File layout (little endian):
 *   "KILNCKPT" (8 bytes) | format version u32 | header length u32 | header (UTF-8 JSON)
 *   | zero padding to a multiple of 8 | tensor data | SHA-256 of everything before (32 bytes)
 * The header lists every entry's name, dtype, shape, byte offset and length, plus metadata.
 * Entries lie back to back in header order, each starting at a multiple of 8 (zero padding
 * between them) and the data ends with the last one's padding: the header describes every
 * byte, so a reader can check the whole file, not only its checksum.
 */
const MAGIC = 'KILNCKPT';
const FORMAT_VERSION = 1;
const FORMAT_TAG = 'kiln-checkpoint';

/** Bytes per element as stored in the file (bool as one byte, 0 or 1). */
const DTYPE_BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4, bool: 1 };
const HEADER_FIELDS = ['format', 'version', 'entries', 'metadata'] as const;
const ENTRY_FIELDS = ['name', 'dtype', 'shape', 'offset', 'bytes'] as const;

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  bytes: number;
}

interface Header {
  format: typeof FORMAT_TAG;
  version: number;
  entries: Entry[];
  metadata: Record<string, unknown>;
}

/**
 * Where a checkpoint is read from: a file path (Node), or its bytes — a `Uint8Array` or
 * `ArrayBuffer`, a `Blob`/`File` (a file input, IndexedDB), or a fetch `Response`.
 */
export type CheckpointSource = string | ByteSource;

/** Options of `save`. */
export interface SaveOptions {
  /** JSON-serializable values stored with the tensors (`load` returns them). */
  metadata?: Record<string, unknown>;
}

/** What `loadCheckpoint` returns. */
export interface Checkpoint {
  state: Map<string, Tensor>;
  metadata: Record<string, unknown>;
}

type Fail = (message: string) => never;

function failer(op: string, label: string, callSite: string | undefined): Fail {
  return (message) => {
    throw new KilnError(`checkpoint ${label}: ${message}`, { op, callSite });
  };
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;
const show = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v) ?? String(v));

async function encode(state: Map<string, Tensor>, metadata: Record<string, unknown>, fail: Fail): Promise<Uint8Array> {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) fail(`metadata must be a plain object, got ${show(metadata)}`);
  const entries: Entry[] = [];
  const blobs: Uint8Array[] = [];
  let offset = 0;
  // Snapshot every tensor now, before the first await, so later updates cannot leak in.
  for (const [name, t] of state) {
    const data = t.dataSync();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    entries.push({ name, dtype: t.dtype, shape: [...t.shape], offset, bytes: bytes.length });
    blobs.push(bytes);
    offset += align8(bytes.length);
  }
  const header: Header = { format: FORMAT_TAG, version: FORMAT_VERSION, entries, metadata };
  let json: string;
  try {
    json = JSON.stringify(header);
  } catch (e) {
    return fail(`metadata cannot be written as JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const headerBytes = new TextEncoder().encode(json);
  const dataStart = align8(16 + headerBytes.length);
  const bodyLength = dataStart + offset;
  const file = new Uint8Array(bodyLength + 32);
  file.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(file.buffer);
  view.setUint32(8, FORMAT_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  file.set(headerBytes, 16);
  entries.forEach((e, i) => file.set(blobs[i]!, dataStart + e.offset));
  file.set(await sha256(file.subarray(0, bodyLength)), bodyLength);
  return file;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Exactly `fields`, no more, no fewer. */
function checkFields(obj: Record<string, unknown>, fields: readonly string[], where: string, fail: Fail): void {
  for (const k of fields) if (!Object.hasOwn(obj, k)) fail(`${where}missing ${where ? 'field' : 'header field'} '${k}'`);
  for (const k of Object.keys(obj)) if (!fields.includes(k)) fail(`${where}unknown ${where ? 'field' : 'header field'} '${k}'`);
}

function checkEntry(raw: unknown, i: number, cursor: number, names: Set<string>, fail: Fail): Entry {
  if (!isPlainObject(raw)) return fail(`entry ${i} must be an object, got ${show(raw)}`);
  checkFields(raw, ENTRY_FIELDS, `entry ${i}: `, fail);
  const { name, dtype, shape, offset, bytes } = raw;
  if (typeof name !== 'string' || name === '') return fail(`entry ${i}: name must be a non-empty string, got ${show(name)}`);
  if (names.has(name)) fail(`duplicate entry name '${name}'`);
  names.add(name);
  const at = `entry ${i} ('${name}'): `;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) fail(`${at}dtype ${typeof dtype === 'string' ? `'${dtype}'` : show(dtype)} is not one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
  if (!Array.isArray(shape)) return fail(`${at}shape must be an array, got ${show(shape)}`);
  let size = 1;
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) fail(`${at}shape must hold non-negative integers, got ${show(shape)}`);
    size *= d as number;
  }
  if (!Number.isSafeInteger(size)) fail(`${at}shape ${show(shape)} has too many elements`);
  const expected = size * DTYPE_BYTES[dtype as DType];
  if (bytes !== expected) fail(`${at}${expected} bytes for shape [${shape.join(', ')}] ${dtype}, the header says ${show(bytes)}`);
  // Entries are back to back in order: this rules out overlaps, gaps and misalignment at once.
  if (offset !== cursor) fail(`${at}offset ${show(offset)}, expected ${cursor}`);
  return { name, dtype: dtype as DType, shape: shape as number[], offset: cursor, bytes: expected };
}

function allZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Checks every byte of a checkpoint; returns its entries and metadata and where the data starts. */
async function decode(buf: Uint8Array, fail: Fail): Promise<{ entries: Entry[]; metadata: Record<string, unknown>; data: Uint8Array }> {
  if (buf.length < 16 + 32 || new TextDecoder('latin1').decode(buf.subarray(0, 8)) !== MAGIC) fail('not a Kiln checkpoint (bad magic bytes)');
  const body = buf.subarray(0, buf.length - 32);
  const digest = await sha256(body);
  const stored = buf.subarray(buf.length - 32);
  if (digest.some((b, i) => b !== stored[i])) fail('checksum mismatch: the file is truncated or corrupt');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = view.getUint32(8, true);
  if (version !== FORMAT_VERSION) fail(`format version ${version} is not supported (this Kiln reads version ${FORMAT_VERSION})`);
  const headerLength = view.getUint32(12, true);
  if (16 + headerLength > body.length) fail(`header length ${headerLength} runs past the end of the file (${body.length} bytes before the checksum)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(16, 16 + headerLength));
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) return fail(`header must be an object, got ${Array.isArray(header) ? 'an array' : show(header)}`);
  checkFields(header, HEADER_FIELDS, '', fail);
  if (header.format !== FORMAT_TAG) fail(`header format ${show(header.format)} is not "${FORMAT_TAG}"`);
  if (header.version !== FORMAT_VERSION) fail(`header version ${show(header.version)} does not match the file's format version ${FORMAT_VERSION}`);
  if (!Array.isArray(header.entries)) return fail(`header entries must be an array, got ${show(header.entries)}`);
  if (!isPlainObject(header.metadata)) return fail(`header metadata must be an object, got ${show(header.metadata)}`);
  const entries: Entry[] = [];
  const names = new Set<string>();
  let cursor = 0;
  for (const [i, raw] of (header.entries as unknown[]).entries()) {
    const e = checkEntry(raw, i, cursor, names, fail);
    entries.push(e);
    cursor += align8(e.bytes);
  }
  const dataStart = align8(16 + headerLength);
  if (body.length < dataStart) fail(`the file ends inside the padding after the header`);
  if (!allZero(body.subarray(16 + headerLength, dataStart))) fail('non-zero padding after the header');
  const data = body.subarray(dataStart);
  if (data.length !== cursor) fail(`data section is ${data.length} bytes, the header describes ${cursor}`);
  for (const e of entries) {
    if (!allZero(data.subarray(e.offset + e.bytes, e.offset + align8(e.bytes)))) fail(`non-zero padding after entry '${e.name}'`);
    if (e.dtype === 'bool') {
      const values = data.subarray(e.offset, e.offset + e.bytes);
      const bad = values.find((v) => v > 1);
      if (bad !== undefined) fail(`bool entry '${e.name}' holds ${bad} (only 0 and 1 are valid)`);
    }
  }
  return { entries, metadata: header.metadata, data };
}

/** Tensors for checked entries; on failure none is left alive. */
function materialize(entries: Entry[], data: Uint8Array, fail: Fail): Map<string, Tensor> {
  const state = new Map<string, Tensor>();
  try {
    for (const e of entries) {
      const raw = data.slice(e.offset, e.offset + e.bytes).buffer; // a copy: aligned for any element size
      const values = e.dtype === 'float32' ? new Float32Array(raw) : e.dtype === 'float64' ? new Float64Array(raw) : e.dtype === 'int32' ? new Int32Array(raw) : new Uint8Array(raw);
      try {
        state.set(e.name, tensor(values, { dtype: e.dtype, shape: e.shape }).keep());
      } catch (err) {
        if (err instanceof KilnError) fail(`entry '${e.name}': ${err.message.split('\n')[0]}`);
        throw err;
      }
    }
  } catch (err) {
    for (const t of state.values()) t.dispose();
    throw err;
  }
  return state;
}

/** A name for messages: the path, a response's URL, a file's name or the byte count. */
function labelOf(source: CheckpointSource): string {
  return typeof source === 'string' ? source : describeByteSource(source);
}

async function read(source: CheckpointSource, op: string, callSite: string | undefined): Promise<Checkpoint> {
  const label = labelOf(source);
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    await loadNodeHost();
    const host = requireNode(op, `reading the checkpoint file ${source}`, `fetch it and pass the response or its bytes: await kiln.${op}(${op === 'load' ? 'model, ' : ''}await fetch(url))`);
    bytes = await host.readFile(source, op, callSite);
  } else if (isByteSource(source)) {
    bytes = await readByteSource(source, op, `checkpoint ${label}`);
  } else {
    throw new KilnError(`expected a file path, a Uint8Array, an ArrayBuffer, a Blob or a fetch Response, got ${source === null ? 'null' : typeof source}`, { op, callSite });
  }
  // A plain Uint8Array view: Buffer's slice() shares memory, Uint8Array's copies.
  const buf = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = failer(op, label, callSite);
  const { entries, metadata, data } = await decode(buf, fail);
  return { state: materialize(entries, data, fail), metadata };
}

/**
 * Saves a model's parameters and buffers (or any name → tensor map) to `file` (Node), or,
 * without a file, returns the checkpoint's bytes (in Node and in browsers: store them in
 * IndexedDB, offer them as a download, send them to a server; `load` takes them back).
 * The bytes are the file's, byte for byte. Writing a file is atomic and safe under concurrency: the bytes go to a uniquely named temporary file
 * beside `file`, which is fsync'd and renamed over it (then the directory is fsync'd), so
 * a crash or a concurrent save never leaves a partial checkpoint under the real name; of
 * several concurrent saves the last rename wins, whole. Temp files a killed save left
 * behind (older than 10 minutes) are removed by the next save to the same path.
 * Versioned and checksummed (SHA-256). File-system failures (missing directory, `file`
 * is a directory, no permission) throw a `KilnError` naming the path.
 *
 * @example
 * ```ts
 * await kiln.save(model, 'model.kiln', { metadata: { epoch: 3 } });
 * const { epoch } = await kiln.load(model, 'model.kiln');
 *
 * // In a page: bytes in, bytes out (the same format).
 * const bytes: Uint8Array = await kiln.save(model, { metadata: { epoch: 3 } });
 * await kiln.load(model, bytes);
 * await kiln.load(model, await fetch('/models/model.kiln'));
 * ```
 */
export function save(model: Module | Map<string, Tensor>, file: string, options?: SaveOptions): Promise<void>;
export function save(model: Module | Map<string, Tensor>, options?: SaveOptions): Promise<Uint8Array>;
export async function save(model: Module | Map<string, Tensor>, fileOrOptions?: string | SaveOptions, maybeOptions: SaveOptions = {}): Promise<void | Uint8Array> {
  const callSite = userCallSite();
  const file = typeof fileOrOptions === 'string' ? fileOrOptions : undefined;
  const options = (typeof fileOrOptions === 'string' ? maybeOptions : fileOrOptions) ?? {};
  if (typeof options !== 'object' || options === null) throw new KilnError(`expected a file path or { metadata }, got ${typeof options}`, { op: 'save', callSite });
  const state = model instanceof Map ? model : model.stateDict();
  const bytes = await encode(state, options.metadata ?? {}, failer('save', file ?? '(bytes)', callSite));
  if (file === undefined) return bytes;
  await loadNodeHost();
  const host = requireNode('save', `writing the checkpoint file ${file}`, 'call kiln.save(model) for the checkpoint\'s bytes (a Uint8Array) and store them yourself (IndexedDB, a download, a server)');
  await host.writeFileAtomic(file, bytes, 'save', callSite);
}

/**
 * Reads and verifies a checkpoint (a file in Node, or its bytes anywhere: see
 * `CheckpointSource`): every tensor, on the default backend, and its metadata.
 * Beyond the checksum, the header is checked field by field (known dtypes, shapes whose
 * size matches the byte counts, entries back to back inside the file, unique names, no
 * unknown fields); any problem throws a `KilnError` naming the file. The caller owns
 * the returned tensors (they are kept: dispose them when done).
 *
 * @example
 * ```ts
 * const { state, metadata } = await kiln.loadCheckpoint('model.kiln');
 * console.log([...state.keys()], metadata);
 * for (const t of state.values()) t.dispose();
 * ```
 */
export async function loadCheckpoint(source: CheckpointSource): Promise<Checkpoint> {
  return read(source, 'loadCheckpoint', userCallSite());
}

/**
 * Loads a checkpoint into `model` (in place) and returns its metadata. Names, shapes and
 * dtypes must match; the file is fully read and verified before any parameter is written,
 * so a corrupt or mismatched file never half-loads a model. `source` is a file path (Node)
 * or the checkpoint's bytes (`Uint8Array`, `ArrayBuffer`, `Blob`, fetch `Response`).
 *
 * @example
 * ```ts
 * const { epoch } = await kiln.load(model, 'model.kiln');              // Node
 * await kiln.load(model, await fetch('/models/model.kiln'));           // a page
 * ```
 */
export async function load(model: Module, source: CheckpointSource): Promise<Record<string, unknown>> {
  const callSite = userCallSite();
  const { state, metadata } = await read(source, 'load', callSite);
  const fail = failer('load', labelOf(source), callSite);
  try {
    const own = model.stateDict();
    const problems: string[] = [];
    for (const [name, t] of state) {
      const mine = own.get(name);
      // copy_ would cast silently; a checkpoint of other dtypes is of another model.
      if (mine && mine.dtype !== t.dtype) problems.push(`${name}: dtype ${t.dtype} does not match the model's ${mine.dtype}`);
    }
    if (problems.length) fail(`does not fit the model: ${problems.join('; ')}`);
    try {
      model.loadStateDict(state); // checks names and shapes before writing anything
    } catch (e) {
      if (e instanceof KilnError) fail(`does not fit the model: ${e.message.split('\n')[0]}`);
      throw e;
    }
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return metadata;
}
