// @deja/page-store: the transactional page layer of Deja — fixed-size pages at stable numbers over
// any @deja/storage adapter, transactions that commit atomically and durably (a redo journal), a
// crash-safe space map of reference counts, named roots, a user-data area and a page cache.

export {
  isPageStoreError,
  PAGE_STORE_ERROR_CODES,
  PageStoreError,
  type PageStoreErrorCode,
} from './errors';
export {
  PageStore,
  type PageStoreCreateOptions,
  type PageStoreDroppedTransaction,
  type PageStoreOpenOptions,
  type PageStoreRecovery,
  type PageStoreStats,
} from './page-store';
export type { PageKind, PageTransaction } from './transaction';
