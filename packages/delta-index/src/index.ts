// Public entry point of @deja/delta-index: named re-exports only.
export type { CodingConstants } from './coding';
export {
  computeCodingConstants,
  computeDeltaIndexSaveBytes,
  computeDeltaIndexSize,
  getDeltaIndexPageCount,
  getZoneMemorySize,
  IMMUTABLE_HEADER_SIZE,
  MAX_MEAN_DELTA,
  MAX_PAYLOAD_BITS,
  PAGE_HEADER_BYTES,
} from './coding';
export type { DeltaIndexOptions, DeltaIndexStats } from './delta-index';
export { DeltaIndex, MAX_ZONES } from './delta-index';
export { DeltaIndexEntry } from './entry';
export {
  DELTA_INDEX_ERROR_CODES,
  DeltaIndexError,
  type DeltaIndexErrorCode,
  type InvalidArgumentError,
  isDeltaIndexError,
} from './errors';
export type { SortedDeltaEntries } from './fill';
export { fillDeltaIndex } from './fill';
export {
  chapterDeltaAddressAt,
  chapterDeltaListAt,
  chapterIndexBytesAt,
  extractChapterIndexBytes,
  extractSamplingBytes,
  extractVolumeIndexBytes,
  hashToChapterDeltaAddress,
  hashToChapterDeltaList,
  nameToHashSlot,
  RECORD_NAME_SIZE,
} from './hash-utils';
export { DeltaIndexPage, MAX_PAGE_BYTES, packDeltaIndexPage } from './page';
export type { RestoreOptions } from './save';
export {
  DELTA_INDEX_MAGIC,
  DELTA_INDEX_SEED_MAGIC,
  restoreDeltaIndex,
  saveDeltaIndexZone,
  writeGuardDeltaList,
} from './save';
export { toU64 } from './u64';
