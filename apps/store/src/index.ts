// @deja/store: the deduplicating snapshot store for block volumes (the library under the `deja`
// command line and the NBD server).
export { isStoreError, STORE_ERROR_CODES, StoreError, type StoreErrorCode } from './errors';
export * from './nbd/index';
export { Store } from './store';
export {
  applyDiff,
  type ByteSink,
  type ByteSource,
  type DiffInfo,
  type ExportOptions,
  exportDiff,
  exportVersion,
  type ImportOptions,
  type ImportResult,
  importImage,
} from './transfer';
export {
  type CheckProblem,
  type CheckReport,
  type CompactReport,
  DATA_FILE,
  type Extent,
  INDEX_FILE,
  type IndexOptions,
  LIVE,
  type LongOptions,
  type Progress,
  type Range,
  type RecoveryReport,
  type SnapshotInfo,
  type SnapshotUsage,
  type StoreCreateOptions,
  type StoreLocation,
  type StoreOpenOptions,
  type StoreStats,
} from './types';
export { Volume } from './volume';
