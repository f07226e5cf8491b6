// Deprecated names of @deja/storage's main entry point, kept for one minor release so existing
// imports keep working while users move to where each thing lives now:
//
//   FaultyStorage, CRASH_MODES, crashSweep and their types   -> @deja/storage/testing
//   FileStorage, FileStorageOptions, FileIoMode              -> @deja/storage-file
//   PageStore, PageTransaction, PageKind, PageStore*Options  -> @deja/page-store
//
// The testing tools are plain re-exports. FileStorage and PageStore live in packages that import
// this one, so a static re-export would be an import cycle (which module loaders evaluate in
// different orders: a class would extend an AbstractStorage not yet defined). They are stand-ins
// instead: objects whose factories load the real package on first call (a dynamic import, after
// every module has been evaluated) and return its instances. Their types are the real ones.
import type * as PageStoreModule from '@deja/page-store';
import type * as StorageFileModule from '@deja/storage-file';

export {
  /** @deprecated Import from `@deja/storage/testing`. */
  CRASH_MODES,
  /** @deprecated Import from `@deja/storage/testing`. */
  type CrashInfo,
  /** @deprecated Import from `@deja/storage/testing`. */
  type CrashMode,
  /** @deprecated Import from `@deja/storage/testing`. */
  type CrashSweepOptions,
  /** @deprecated Import from `@deja/storage/testing`. */
  type CrashSweepResult,
  /** @deprecated Import from `@deja/storage/testing`. */
  crashSweep,
  /** @deprecated Import from `@deja/storage/testing`. */
  type FaultyOperation,
  /** @deprecated Import from `@deja/storage/testing`. */
  FaultyStorage,
  /** @deprecated Import from `@deja/storage/testing`. */
  type FaultyStorageOptions,
} from './testing';

/** @deprecated Import from `@deja/storage-file`. */
export type FileStorage = StorageFileModule.FileStorage;
/** @deprecated Import from `@deja/storage-file`. */
export type FileStorageOptions = StorageFileModule.FileStorageOptions;
/** @deprecated Import from `@deja/storage-file`. */
export type FileIoMode = StorageFileModule.FileIoMode;
/** @deprecated Import from `@deja/page-store`. */
export type PageStore = PageStoreModule.PageStore;
/** @deprecated Import from `@deja/page-store`. */
export type PageTransaction = PageStoreModule.PageTransaction;
/** @deprecated Import from `@deja/page-store`. */
export type PageKind = PageStoreModule.PageKind;
/** @deprecated Import from `@deja/page-store`. */
export type PageStoreCreateOptions = PageStoreModule.PageStoreCreateOptions;
/** @deprecated Import from `@deja/page-store`. */
export type PageStoreOpenOptions = PageStoreModule.PageStoreOpenOptions;
/** @deprecated Import from `@deja/page-store`. */
export type PageStoreRecovery = PageStoreModule.PageStoreRecovery;
/** @deprecated Import from `@deja/page-store`. */
export type PageStoreDroppedTransaction = PageStoreModule.PageStoreDroppedTransaction;
/** @deprecated Import from `@deja/page-store`. */
export type PageStoreStats = PageStoreModule.PageStoreStats;

/** Loads a package that moved out of this one, saying what to install if it is missing. */
async function load<T>(name: string, get: () => Promise<T>): Promise<T> {
  try {
    return await get();
  } catch (error) {
    throw new Error(`${name} has moved out of @deja/storage: install ${name} and import from it`, {
      cause: error,
    });
  }
}

/**
 * @deprecated Import `FileStorage` from `@deja/storage-file`. This stand-in only has `open`, which
 * returns a real FileStorage.
 */
export const FileStorage: Pick<typeof StorageFileModule.FileStorage, 'open'> = Object.freeze({
  async open(...args: Parameters<typeof StorageFileModule.FileStorage.open>) {
    const { FileStorage } = await load('@deja/storage-file', () => import('@deja/storage-file'));
    return FileStorage.open(...args);
  },
});

/**
 * @deprecated Import `PageStore` from `@deja/page-store`. This stand-in only has `create` and
 * `open`, which return a real PageStore.
 */
export const PageStore: Pick<typeof PageStoreModule.PageStore, 'create' | 'open'> = Object.freeze({
  async create(...args: Parameters<typeof PageStoreModule.PageStore.create>) {
    const { PageStore } = await load('@deja/page-store', () => import('@deja/page-store'));
    return PageStore.create(...args);
  },
  async open(...args: Parameters<typeof PageStoreModule.PageStore.open>) {
    const { PageStore } = await load('@deja/page-store', () => import('@deja/page-store'));
    return PageStore.open(...args);
  },
});
