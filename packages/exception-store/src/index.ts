// @deja/exception-store: the shared snapshot exception store (a crash-safe port of the dm shared
// exception store), its allocator interface, snapshot volumes built on it, and its errors.
export { type AllocationRequest, type ExceptionAllocator, PageAllocator } from './allocator';
export {
  EXCEPTION_STORE_ERROR_CODES,
  ExceptionStoreError,
  type ExceptionStoreErrorCode,
  isExceptionStoreError,
} from './errors';
export {
  type CheckReport,
  DEFAULT_CACHE_PAGES,
  DEFAULT_DELETE_BATCH_LEAVES,
  DEFAULT_MASK_WIDTH,
  DEFAULT_ROOT_NAME,
  ExceptionStore,
  type ExceptionStoreCreateOptions,
  type ExceptionStoreOptions,
  maxMaskWidth,
  type SnapshotInfo,
  type SnapshotWritePlan,
} from './exception-store';
export type { PageStoreLike, PageTransactionLike } from './page-layer';
export { OriginVolume, type OriginVolumeOptions, SnapshotVolume } from './volume';
