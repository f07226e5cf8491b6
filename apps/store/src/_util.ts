// Small internals of the store: argument checks, batch verification of chunks read, and settling
// batches of unawaited writes.

import { NAME_BYTES } from './_hash';
import type { BatchNames } from './_hash-pool';
import { encodeHeader, type Header } from './_layout';
import { StoreError } from './errors';
import { DATA_FILE, LIVE, MAX_NAME_BYTES } from './types';

export function checkSize(size: unknown, what: string): void {
  if (typeof size !== 'number') throw new TypeError(`${what} must be a number`);
  if (!Number.isSafeInteger(size) || size < 0)
    throw new RangeError(`${what} must be a non-negative safe integer, got ${size}`);
}

export function checkRange(offset: unknown, length: unknown, size: number, version: string): void {
  if (typeof offset !== 'number' || typeof length !== 'number')
    throw new TypeError('offset and length must be numbers');
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`offset and length must be non-negative safe integers, got ${offset}, ${length}`);
  }
  if (offset + length > size) {
    throw new StoreError(
      'ERR_OUT_OF_RANGE',
      `bytes ${offset}..${offset + length} are past the end of ${version === LIVE ? 'the live volume' : `snapshot '${version}'`} (${size} bytes)`,
    );
  }
}

export function checkSnapshotName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new TypeError('a snapshot name must be a string');
  const n = Buffer.byteLength(name, 'utf8');
  if (n === 0 || n > MAX_NAME_BYTES)
    throw new RangeError(`a snapshot name has 1..${MAX_NAME_BYTES} UTF-8 bytes, got ${n}`);
  if (name.startsWith('@'))
    throw new RangeError(`snapshot names starting with '@' are reserved ('${LIVE}' is the live volume)`);
}

export function checkVersion(version: unknown): asserts version is string {
  if (version === LIVE) return;
  checkSnapshotName(version);
}

export function sameHeader(a: Header, b: Header): boolean {
  return Buffer.from(encodeHeader(a, 128)).equals(Buffer.from(encodeHeader(b, 128)));
}

/** Chunks read without verification, and the names they must have. */
export interface RawChunks {
  /**
   * The chunks' bytes, back to back: zeros where unmapped, unless the read was asked not to fill
   * them (then whatever the buffer held).
   */
  readonly bytes: Uint8Array;
  /** Per chunk, 16 bytes: the name its bytes must hash to (zeros where unmapped). */
  readonly names: Uint8Array;
  /** Per chunk, the page it was read from (-1: unmapped, zeros). */
  readonly physical: number[];
  /** Per chunk, 1 where the bytes were checked against their name already (no need to hash). */
  readonly checked: Uint8Array;
  /** Per chunk, 1 where its page was read with no neighbour (a candidate for Store._keepChecked). */
  readonly alone: Uint8Array;
  /**
   * A read asked to defer its fragments: where they lie in `bytes` (HashPool.unpackAndHash
   * triples) and their references (for errors), in the same order. Their chunks are not in
   * `bytes` until unpacked.
   */
  readonly unpack?: { readonly jobs: Int32Array; readonly refs: readonly number[] };
}

/** 1 for each chunk of `raw` to check: mapped, and not checked already. */
export function uncheckedChunks(raw: RawChunks): Uint8Array {
  const { physical, checked } = raw;
  const mask = new Uint8Array(physical.length);
  for (let i = 0; i < physical.length; i++) if ((physical[i] as number) >= 0 && checked[i] === 0) mask[i] = 1;
  return mask;
}

/**
 * Checks chunks read against their names (the mapped ones: `physical[i] >= 0`).
 * @throws StoreError `ERR_CORRUPT_DATA` naming the first damaged chunk.
 */
export function verifyBatch(raw: RawChunks, hashed: BatchNames, first: number, where: string): void {
  const { names, physical } = raw;
  const got = hashed.names;
  for (let i = 0; i < physical.length; i++) {
    if ((physical[i] as number) < 0 || raw.checked[i] === 1) continue;
    const o = i * NAME_BYTES;
    let same = hashed.zero[i] !== 1;
    for (let k = 0; same && k < NAME_BYTES; k++) same = names[o + k] === got[o + k];
    if (!same) {
      throw new StoreError(
        'ERR_CORRUPT_DATA',
        `${where}: ${DATA_FILE} page ${physical[i]} (chunk ${first + i}): its bytes do not match their content name`,
      );
    }
  }
}

/** Waits for every promise of `writes` (emptying it); rethrows the first failure. */
export async function settle(writes: Promise<void>[]): Promise<void> {
  if (writes.length === 0) return;
  const results = await Promise.allSettled(writes.splice(0));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** Errors raised before anything changed. */
export function isRefusal(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return (
    code === 'ERR_NOT_FOUND' ||
    code === 'ERR_EXISTS' ||
    code === 'ERR_OUT_OF_RANGE' ||
    code === 'ERR_TOO_MANY_SNAPSHOTS'
  );
}
