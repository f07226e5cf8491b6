// Where an exception's chunk comes from. The seed allocates it from a bitmap on the exception
// device (shared_allocate_chunk / shared_free_chunk); here it is an interface, so the store app
// can make copy-on-write keep a reference to the existing deduplicated chunk instead of copying,
// and the default takes data pages from the page layer's crash-safe space map.

import type { PageTransactionLike } from './page-layer';

/** Why a chunk is asked for. */
export interface AllocationRequest {
  /** The origin chunk the exception is for. */
  readonly chunk: number;
  /** `'origin'`: the origin chunk is about to be overwritten and its old content must be kept;
   * `'snapshot'`: a snapshot is about to write its own version of the chunk. */
  readonly kind: 'origin' | 'snapshot';
}

/** Source of the chunks exceptions point to. Calls happen inside the store's open transaction. */
export interface ExceptionAllocator {
  /**
   * Whether a chunk this allocator returned for a snapshot may be overwritten in place by that
   * snapshot's later writes in the same transaction (`prepareSnapshotWrite` then answers
   * `source: 'self'`). True for fresh private pages; leave it unset for an allocator whose chunks
   * may be shared (deduplicated), so every snapshot write gets a new chunk.
   */
  readonly inPlaceWrites?: boolean;
  /**
   * A chunk for a new exception, with one reference owned by the exception.
   *
   * @param txn - the store's open transaction.
   * @param request - what the chunk is for.
   * @returns the chunk number (below 2^53).
   */
  allocate(txn: PageTransactionLike, request: AllocationRequest): Promise<number>;
  /**
   * Drops the reference an exception held (no snapshot uses it any more, or a snapshot's own copy
   * was replaced).
   *
   * @param txn - the store's open transaction.
   * @param chunk - a chunk returned by `allocate`.
   */
  release(txn: PageTransactionLike, chunk: number): void | Promise<void>;
}

/**
 * The default allocator: each exception gets a fresh data page of the page layer (reference
 * count 1), released with `decRef`, so allocation is as crash-safe as everything else committed
 * through the layer. O(1) amortized per call (the layer keeps an hbitmap of free pages).
 */
export class PageAllocator implements ExceptionAllocator {
  /** Fresh data pages are private to their exception: a snapshot may rewrite its own in place. */
  readonly inPlaceWrites = true;

  /** @returns a data page free at the last commit. */
  allocate(txn: PageTransactionLike): Promise<number> {
    return txn.allocate('data');
  }

  /** Drops the exception's reference; the page is reusable after the commit. */
  release(txn: PageTransactionLike, chunk: number): void {
    txn.decRef(chunk);
  }
}
