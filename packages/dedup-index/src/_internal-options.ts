// The argument checks of DedupIndex: request names and metadata, batch arrays, and the options of
// create() and open() (a memory configuration or a custom geometry). Wrong use throws TypeError
// (ERR_INVALID_ARG_TYPE) or RangeError (ERR_INVALID_ARGUMENT), as the errors module makes them.

import { RECORD_NAME_SIZE } from '@deja/chapter-index';
import {
  createConfiguration,
  createGeometry,
  type IndexConfiguration,
  isSparseGeometry,
} from '@deja/volume-geometry';
import type { DedupIndexCreateOptions } from './dedup-index';
import { invalidArgument, invalidType } from './errors';

/** A request's 16-byte name or metadata. */
export function checkBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidType(`${what} must be a Uint8Array`);
  if (value.length !== RECORD_NAME_SIZE)
    throw invalidArgument(`${what} must be 16 bytes, got ${value.length}`);
  return value;
}

/** The number of 16-byte entries in a batch argument. */
export function checkBatch(value: unknown, what: string): number {
  if (!(value instanceof Uint8Array)) throw invalidType(`${what} must be a Uint8Array`);
  if (value.length % RECORD_NAME_SIZE !== 0) {
    throw invalidArgument(`${what} must be a multiple of 16 bytes, got ${value.length}`);
  }
  return value.length / RECORD_NAME_SIZE;
}

/** The page cache size: unset (the default), or an integer of at least 2 pages. */
export function checkCachePages(value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number') throw invalidType(`cachePages must be a number, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < 2) {
    throw invalidArgument(`cachePages must be an integer of at least 2, got ${value}`);
  }
}

/** The configuration create() sizes an index by. */
export function configurationFrom(options: DedupIndexCreateOptions): IndexConfiguration {
  if (options.configuration !== undefined) return options.configuration;
  if (options.geometry !== undefined) {
    const geometry = createGeometry(options.geometry);
    const zoneCount = options.zoneCount ?? 1;
    if (!Number.isInteger(zoneCount) || zoneCount < 1 || zoneCount > 16) {
      throw invalidArgument(`zoneCount must be an integer in [1, 16], got ${zoneCount}`);
    }
    const sparse = isSparseGeometry(geometry);
    const rate = options.sparseSampleRate ?? 32;
    if (!Number.isInteger(rate) || rate < 1 || rate > 65536) {
      throw invalidArgument(`sparseSampleRate must be an integer in [1, 65536], got ${rate}`);
    }
    return Object.freeze({
      geometry,
      memorySize: 0,
      sparse,
      reduced: geometry.chaptersPerVolume % 2 === 1,
      cacheChapters: 7,
      volumeIndexMeanDelta: 4096,
      sparseSampleRate: sparse ? rate : 0,
      zoneCount,
    });
  }
  if (options.memorySize === undefined) {
    throw invalidType('create() needs a configuration, a memorySize or a geometry');
  }
  return createConfiguration({
    memorySize: options.memorySize,
    sparse: options.sparse ?? false,
    zoneCount: options.zoneCount ?? 1,
  });
}
