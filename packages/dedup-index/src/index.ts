// @deja/dedup-index: a UDS-style deduplication index on a storage adapter (ports of dm-vdo's
// index.c, volume.c and volume-index.c around @deja/chapter-index). Named re-exports only: the index,
// its options, statistics and errors. The machinery it is built of (the volume index, the page
// cache, the record page format, the storage layout) is the `@deja/dedup-index/advanced` entry point.

export {
  DedupIndex,
  type DedupIndexCreateOptions,
  type DedupIndexOpenOptions,
  type DedupIndexStats,
} from './dedup-index';
export {
  DEDUP_INDEX_ERROR_CODES,
  DedupIndexError,
  type DedupIndexErrorCode,
  type InvalidArgumentError,
  type InvalidTypeError,
  isDedupIndexError,
} from './errors';
export type { StorageLayout } from './layout';
