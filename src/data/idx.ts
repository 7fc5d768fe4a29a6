// The IDX format of the MNIST family (http://yann.lecun.com/exdb/mnist/): a 4-byte
// magic (0, 0, element type, rank), `rank` big-endian uint32 dimensions, then the
// elements row-major (big-endian when wider than a byte). Files are usually gzipped.
import { KilnError } from '../eager/index.js';
import { describeByteSource, nodeHost, readByteSource, requireNode, type ByteSource } from '../platform/index.js';

/** Element types of IDX files, by their magic byte. */
const IDX_TYPES = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
} as const;

/** A parsed IDX file. `data` is the raw elements for uint8 files (no copy), converted to numbers otherwise. */
export interface IdxArray {
  type: 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
  shape: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/**
 * Parses IDX bytes (gzipped or not), checking the magic number and that the payload
 * holds exactly the elements the header announces. `source` names the file in errors.
 * Gzipped bytes need Node (zlib) here; in a browser use `parseIdxAsync`, which also
 * takes a fetch `Response` or a `Blob`.
 *
 * @example
 * ```ts
 * const labels = kiln.data.parseIdx(fs.readFileSync('t10k-labels-idx1-ubyte.gz'));
 * console.log(labels.shape); // [10000]
 * ```
 */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  const op = 'parseIdx';
  let raw = bytes;
  if (isGzip(bytes)) {
    const host = nodeHost() ?? requireNode(op, `gunzipping ${source} synchronously`, 'use await kiln.data.parseIdxAsync(bytes), which decompresses with the browser\'s DecompressionStream');
    try {
      raw = host.gunzipSync(bytes);
    } catch (e) {
      throw new KilnError(`${source} is not a valid gzip file (${(e as Error).message}): the file is truncated or corrupt; reinstall or re-download it`, { op });
    }
  }
  return parseRaw(raw, source, op);
}

/**
 * `parseIdx` for bytes from anywhere: a `Uint8Array`/`ArrayBuffer`, a `Blob`, or a fetch
 * `Response` (a failed one is a KilnError naming its URL). Gzipped data is decompressed
 * with `DecompressionStream` (browsers, Node ≥ 18), so this works in a page.
 *
 * @example
 * ```ts
 * const labels = await kiln.data.parseIdxAsync(await fetch('/data/t10k-labels-idx1-ubyte.gz'));
 * console.log(labels.shape); // [10000]
 * ```
 */
export async function parseIdxAsync(data: ByteSource, source?: string): Promise<IdxArray> {
  const op = 'parseIdxAsync';
  const name = source ?? describeByteSource(data);
  const bytes = await readByteSource(data, op, name);
  if (!isGzip(bytes)) return parseRaw(bytes, name, op);
  let raw: Uint8Array;
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    raw = new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new KilnError(`${name} is not a valid gzip file (${(e as Error).message}): the file is truncated or corrupt; reinstall or re-download it`, { op });
  }
  return parseRaw(raw, name, op);
}

function parseRaw(raw: Uint8Array, source: string, op: string): IdxArray {
  if (raw.length < 4) throw new KilnError(`${source} is too short (${raw.length} bytes) to be an IDX file: truncated or corrupt`, { op });
  const type = IDX_TYPES[raw[2] as keyof typeof IDX_TYPES];
  if (raw[0] !== 0 || raw[1] !== 0 || !type) {
    const magic = [...raw.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new KilnError(`${source} is not an IDX file: bad magic number ${magic} (expected 00 00 <type 08–0e> <rank>)`, { op });
  }
  const rank = raw[3]!;
  const headerBytes = 4 + 4 * rank;
  if (raw.length < headerBytes) throw new KilnError(`${source}: header announces ${rank} dimensions but the file ends after ${raw.length} bytes (truncated)`, { op });
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape: number[] = [];
  for (let a = 0; a < rank; a++) shape.push(view.getUint32(4 + 4 * a, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * type.bytes;
  if (raw.length !== expected) {
    const what = raw.length < expected ? 'truncated' : 'has trailing bytes';
    throw new KilnError(`${source} is ${what}: header says shape [${shape.join(', ')}] of ${type.name} (${expected} bytes), but the file holds ${raw.length} bytes`, { op });
  }
  const body = raw.subarray(headerBytes);
  let data: IdxArray['data'];
  switch (type.name) {
    case 'uint8': data = body; break;
    case 'int8': data = new Int8Array(body.buffer, body.byteOffset, count); break;
    default: {
      // Wider elements are big-endian: read them through the DataView.
      const get = {
        int16: (o: number) => view.getInt16(o, false),
        int32: (o: number) => view.getInt32(o, false),
        float32: (o: number) => view.getFloat32(o, false),
        float64: (o: number) => view.getFloat64(o, false),
      }[type.name];
      const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[type.name];
      const out = new Ctor(count);
      for (let i = 0; i < count; i++) out[i] = get(headerBytes + i * type.bytes);
      data = out;
    }
  }
  return { type: type.name, shape, data };
}

/**
 * Reads and parses one IDX file (gzipped or not); see `parseIdx`.
 *
 * @example
 * ```ts
 * const { shape } = kiln.data.readIdxFile('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz'); // [10000]
 * ```
 */
export function readIdxFile(path: string): IdxArray {
  const host = requireNode('readIdxFile', `reading ${path}`, 'fetch the file and parse its bytes: await kiln.data.parseIdxAsync(await fetch(url))');
  let bytes: Uint8Array;
  try {
    bytes = host.readFileSync(path);
  } catch (e) {
    throw new KilnError(`cannot read ${path}: ${(e as Error).message}`, { op: 'readIdxFile' });
  }
  return parseIdx(bytes, path);
}

/**
 * Encodes uint8 elements as IDX bytes (uncompressed; gzip them with `zlib.gzipSync`),
 * e.g. to write small fixtures in the format of the MNIST family.
 *
 * @example
 * ```ts
 * fs.writeFileSync('labels-idx1-ubyte.gz', zlib.gzipSync(kiln.data.encodeIdx([3], Uint8Array.from([4, 0, 9]))));
 * ```
 */
export function encodeIdx(shape: readonly number[], data: Uint8Array): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new KilnError(`${data.length} bytes do not fill shape [${shape.join(', ')}]`, { op: 'encodeIdx' });
  const header = new Uint8Array(4 + 4 * shape.length);
  const view = new DataView(header.buffer);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((d, a) => view.setUint32(4 + 4 * a, d, false));
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}
