// @deja/storage: the storage adapter interface every medium of Deja implements, its errors, the
// base class adapters extend (AbstractStorage) and the in-memory reference adapter. The conformance
// suite is the `@deja/storage/conformance` entry point; the crash-test tools (FaultyStorage,
// crashSweep) are `@deja/storage/testing`. The file adapter is `@deja/storage-file`, the
// transactional page layer `@deja/page-store`.

export { AbstractStorage, type AbstractStorageOptions } from './abstract-storage';
export { isStorageError, STORAGE_ERROR_CODES, StorageError, type StorageErrorCode } from './errors';
export { MemoryStorage, type MemoryStorageOptions } from './memory-storage';
export type { ReadRequest, Storage, WriteRequest } from './storage';
