// @deja/dedup-index/advanced: the machinery DedupIndex is built of, for tools that inspect an index's
// storage, benchmark a part alone or build another index from the parts: the volume index, the page
// cache, the record page format and the storage layout with its magics. Named re-exports only. These
// follow the package's version like the main entry point, but they are lower level: most users need
// only `DedupIndex` from `@deja/dedup-index`.

export {
  computeStorageLayout,
  SAVE_HEADER_MAGIC,
  SEAL_MAGIC,
  type StorageLayout,
  SUPERBLOCK_MAGIC,
} from './layout';
export { type CachedPage, PageCache } from './page-cache';
export {
  checkRecordPageOrder,
  encodeRecordPage,
  SUMMARY_STRIDE,
  searchRecordPage,
  summarizeRecordPage,
} from './record-page';
export { VolumeIndex, VolumeIndexRecord, type VolumeIndexStats, VolumeSubIndex } from './volume-index';
