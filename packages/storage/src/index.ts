// @deja/storage: the storage adapter interface and its adapters (memory, file, fault-injecting),
// the base class adapters extend, the crash-sweep helper, and the transactional page layer
// (PageStore) every persistent structure of Deja commits through. The conformance suite lives in
// the `@deja/storage/conformance` entry point.
export { AbstractStorage, type AbstractStorageOptions } from './abstract-storage';
export { type CrashInfo, type CrashSweepOptions, type CrashSweepResult, crashSweep } from './crash-sweep';
export { isStorageError, STORAGE_ERROR_CODES, StorageError, type StorageErrorCode } from './errors';
export {
  CRASH_MODES,
  type CrashMode,
  type FaultyOperation,
  FaultyStorage,
  type FaultyStorageOptions,
} from './faulty-storage';
export { type FileIoMode, FileStorage, type FileStorageOptions } from './file-storage';
export { MemoryStorage, type MemoryStorageOptions } from './memory-storage';
export {
  PageStore,
  type PageStoreCreateOptions,
  type PageStoreDroppedTransaction,
  type PageStoreOpenOptions,
  type PageStoreRecovery,
  type PageStoreStats,
} from './page-store';
export type { ReadRequest, Storage, WriteRequest } from './storage';
export type { PageKind, PageTransaction } from './transaction';
