// The manifest object (`PREFIX/manifest`): what an S3Storage must know before it can read a byte —
// the object size the byte space was cut with and the store's size at the last flush. 32 bytes,
// little-endian, with a magic, a version and a CRC-32, read through a bounds-checked view.
//
// | offset | size | field |
// | --- | --- | --- |
// | 0 | 4 | magic `0x33534a44` ("DJS3") |
// | 4 | 4 | format version (1) |
// | 8 | 4 | object size in bytes |
// | 12 | 4 | reserved (0) |
// | 16 | 8 | store size in bytes (u64, below 2^53) |
// | 24 | 4 | reserved (0) |
// | 28 | 4 | CRC-32 of bytes 0..27 |

import { crc32 } from 'node:zlib';
import { StorageError } from '@deja/storage';

export const MANIFEST_MAGIC = 0x33534a44;
export const MANIFEST_VERSION = 1;
export const MANIFEST_BYTES = 32;

/** What the manifest holds. */
export interface Manifest {
  readonly objectSize: number;
  readonly size: number;
}

export function encodeManifest(manifest: Manifest): Uint8Array {
  const out = new Uint8Array(MANIFEST_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, MANIFEST_MAGIC, true);
  view.setUint32(4, MANIFEST_VERSION, true);
  view.setUint32(8, manifest.objectSize, true);
  view.setUint32(16, manifest.size % 2 ** 32, true);
  view.setUint32(20, Math.floor(manifest.size / 2 ** 32), true);
  view.setUint32(28, crc32(out.subarray(0, 28)) >>> 0, true);
  return out;
}

/**
 * @throws StorageError `ERR_IO` naming `where` when the bytes are not a valid manifest (the
 *   storage package has no corrupt-data code; the message says what is wrong).
 */
export function decodeManifest(bytes: Uint8Array, where: string): Manifest {
  const bad = (what: string): StorageError =>
    new StorageError('ERR_IO', `${where}: damaged manifest: ${what}`);
  if (bytes.length !== MANIFEST_BYTES) throw bad(`${bytes.length} bytes instead of ${MANIFEST_BYTES}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MANIFEST_MAGIC) throw bad('bad magic (not a Deja S3 store)');
  const stored = view.getUint32(28, true);
  const actual = crc32(bytes.subarray(0, 28)) >>> 0;
  if (stored !== actual) throw bad(`CRC-32 ${hex(stored)} instead of ${hex(actual)}`);
  const version = view.getUint32(4, true);
  if (version !== MANIFEST_VERSION)
    throw bad(`format version ${version}; this code reads ${MANIFEST_VERSION}`);
  const objectSize = view.getUint32(8, true);
  if (!isObjectSize(objectSize)) throw bad(`object size ${objectSize} is not a power of two in range`);
  const high = view.getUint32(20, true);
  if (high >= 2 ** 21) throw bad('size passes 2^53');
  return { objectSize, size: high * 2 ** 32 + view.getUint32(16, true) };
}

/** Object sizes an S3Storage accepts: powers of two from 1 KiB to 64 MiB. */
export const MIN_OBJECT_SIZE = 1024;
export const MAX_OBJECT_SIZE = 64 * 1024 * 1024;

export function isObjectSize(value: number): boolean {
  return (
    Number.isInteger(value) &&
    value >= MIN_OBJECT_SIZE &&
    value <= MAX_OBJECT_SIZE &&
    (value & (value - 1)) === 0
  );
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
