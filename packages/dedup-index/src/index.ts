// @deja/dedup-index: a UDS-style deduplication index on a storage adapter (ports of dm-vdo's
// index.c, volume.c and volume-index.c around @deja/chapter-index). Named re-exports only.

export {
  type CreateOptions,
  DedupIndex,
  type DedupIndexStats,
  type OpenOptions,
} from './dedup-index';
export {
  DEDUP_INDEX_ERROR_CODES,
  DedupIndexError,
  type DedupIndexErrorCode,
  type InvalidArgumentError,
  type InvalidTypeError,
  isDedupIndexError,
} from './errors';
export {
  computeStorageLayout,
  SAVE_HEADER_MAGIC,
  SEAL_MAGIC,
  type StorageLayout,
  SUPERBLOCK_MAGIC,
} from './layout';
export { type CachedPage, PageCache } from './page-cache';
export { checkRecordPageOrder, encodeRecordPage, searchRecordPage } from './record-page';
export { VolumeIndex, VolumeIndexRecord, type VolumeIndexStats, VolumeSubIndex } from './volume-index';
