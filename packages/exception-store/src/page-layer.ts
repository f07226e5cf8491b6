// The part of @deja/page-store's transactional page layer (PageStore, PageTransaction) this package
// uses, as structural types: the exception store is written against the contract, not against one
// class, so a test double or another implementation of the contract plugs in unchanged.

/** A transaction of the page layer: buffered metadata writes, direct data writes, atomic commit. */
export interface PageTransactionLike {
  /** Payload of a metadata page, seeing this transaction's own writes. */
  readMeta(page: number): Promise<Uint8Array>;
  /** Replaces the whole payload of a metadata page (buffered until commit). */
  writeMeta(page: number, payload: Uint8Array): void;
  /** The raw bytes of a data page. */
  readData(page: number): Promise<Uint8Array>;
  /** Writes a full data page; only to a page allocated in this transaction. */
  writeData(page: number, data: Uint8Array): Promise<void>;
  /** A page free at the last commit, with reference count 1. */
  allocate(kind: 'meta' | 'data'): Promise<number>;
  /** One more reference to `page`. */
  incRef(page: number): void;
  /** One reference less; the page is free at zero (reusable after commit). */
  decRef(page: number): void;
  /** Sets (or clears, with `undefined`) a named root slot. */
  setRoot(name: string, page: number | undefined): void;
  /** Makes everything in the transaction durable, atomically. */
  commit(): Promise<void>;
  /** Drops everything the transaction did. */
  abort(): void;
  /**
   * Optional: journal pages a commit of the transaction would write now. With
   * {@link PageStoreLike.journalPages}, lets a deletion commit only as often as the journal needs.
   */
  journalPagesNeeded?(): number;
}

/** The page layer itself: committed state, readable outside a transaction. */
export interface PageStoreLike {
  /** Bytes of a page (also the exception store's chunk size). */
  readonly pageSize: number;
  /** Bytes of a metadata page's payload that its user owns. */
  readonly metaPayloadSize: number;
  /** Pages that can be allocated. */
  readonly pageCount: number;
  /** Starts the one writing transaction. */
  begin(): PageTransactionLike;
  /** Committed payload of a metadata page. */
  readMeta(page: number): Promise<Uint8Array>;
  /** Committed bytes of a data page. */
  readData(page: number): Promise<Uint8Array>;
  /** A named root slot of the last commit. */
  getRoot(name: string): number | undefined;
  /** Reference count of a page at the last commit. */
  refCount(page: number): number;
  /** Free pages at the last commit. */
  freePageCount(): number;
  /** Optional: pages of the layer's journal (the most one transaction's commit can write). */
  readonly journalPages?: number;
}
