// The page cache (the reference's page-cache.c, reduced to what one thread needs): an LRU map from
// a physical page number to the validated page read from storage, tagged with the virtual chapter
// it belonged to so that a page of an expired chapter is never returned for a newer one.

import type { ChapterIndexPage } from '@deja/chapter-index';

/** A cached page: an opened chapter index page or the bytes of a record page. */
export type CachedPage = ChapterIndexPage | Uint8Array;

/**
 * An LRU cache of pages. A hit only stamps its entry with a counter (no reordering); a miss that
 * finds the cache full evicts the entry with the oldest stamp, found by a scan: hits are O(1) and
 * cheap, misses O(capacity), which is small next to the storage read they come with.
 */
export class PageCache {
  /** The most pages held. */
  readonly capacity: number;
  readonly #pages = new Map<number, { chapter: number; page: CachedPage; used: number }>();
  #clock = 0;
  /** Lookups that found their page. */
  hits = 0;
  /** Lookups that had to read storage. */
  misses = 0;

  /**
   * @param capacity - the most pages held, at least 2
   * @throws RangeError for a capacity below 2 or not an integer
   */
  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 2) {
      throw new RangeError(`the page cache needs at least 2 pages, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** The pages held. */
  get size(): number {
    return this.#pages.size;
  }

  /**
   * The page `key` if it is cached for `chapter` (it becomes the most recent). O(1).
   * @returns the page, or undefined
   */
  get(key: number, chapter: number): CachedPage | undefined {
    const entry = this.#pages.get(key);
    if (entry === undefined || entry.chapter !== chapter) return undefined;
    entry.used = ++this.#clock;
    return entry.page;
  }

  /** Add or replace a page, evicting the least recently used one when full. O(capacity) when full. */
  set(key: number, chapter: number, page: CachedPage): void {
    this.#pages.delete(key);
    if (this.#pages.size >= this.capacity) {
      let oldest = -1;
      let oldestUse = Number.POSITIVE_INFINITY;
      for (const [k, entry] of this.#pages) {
        if (entry.used < oldestUse) {
          oldestUse = entry.used;
          oldest = k;
        }
      }
      this.#pages.delete(oldest);
    }
    this.#pages.set(key, { chapter, page, used: ++this.#clock });
  }

  /** Forget a page. O(1). */
  delete(key: number): void {
    this.#pages.delete(key);
  }

  /** Forget every page. */
  clear(): void {
    this.#pages.clear();
  }
}
