// The page cache (the reference's page-cache.c, reduced to what one thread needs): an LRU map from
// a physical page number to the validated page read from storage, tagged with the virtual chapter
// it belonged to so that a page of an expired chapter is never returned for a newer one.

import type { ChapterIndexPage } from '@deja/chapter-index';
import { invalidArgument } from './errors';

/** A cached page: an opened chapter index page or the bytes of a record page. */
export type CachedPage = ChapterIndexPage | Uint8Array;

/**
 * An LRU cache of pages, kept in Map insertion order (oldest first). A hit moves its entry to the
 * end only when the entry has aged past half the capacity since it last moved, so that the
 * frequent hits on hot pages cost one Map lookup; eviction takes the first entry. Both are O(1).
 */
export class PageCache {
  /** The most pages held. */
  readonly capacity: number;
  readonly #pages = new Map<
    number,
    { chapter: number; page: CachedPage; used: number; summary: Uint32Array | null }
  >();
  /**
   * The summary (see `summarizeRecordPage`) kept with the page the last successful {@link get} (or
   * {@link peek}) returned, or null: read it right after the get (no object is allocated for the pair).
   */
  lastSummary: Uint32Array | null = null;
  #clock = 0;
  /** Lookups that found their page. */
  hits = 0;
  /** Lookups that had to read storage. */
  misses = 0;

  /**
   * @param capacity - the most pages held, at least 2
   * @throws RangeError (ERR_INVALID_ARGUMENT) for a capacity below 2 or not an integer
   */
  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 2) {
      throw invalidArgument(`the page cache needs at least 2 pages, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** The pages held. */
  get size(): number {
    return this.#pages.size;
  }

  /**
   * The page `key` if it is cached for `chapter` (it becomes recently used). O(1).
   * @returns the page, or undefined
   */
  get(key: number, chapter: number): CachedPage | undefined {
    const entry = this.#pages.get(key);
    if (entry === undefined || entry.chapter !== chapter) return undefined;
    this.lastSummary = entry.summary;
    this.#clock++;
    if (this.#clock - entry.used > this.capacity >>> 1) {
      entry.used = this.#clock;
      this.#pages.delete(key);
      this.#pages.set(key, entry);
    }
    return entry.page;
  }

  /**
   * The page `key` if it is cached for `chapter`, as {@link get} finds it, but changing nothing: no
   * move in the LRU order, no count (its summary is in {@link lastSummary} too). O(1).
   * @returns the page, or undefined
   */
  peek(key: number, chapter: number): CachedPage | undefined {
    const entry = this.#pages.get(key);
    if (entry === undefined || entry.chapter !== chapter) return undefined;
    this.lastSummary = entry.summary;
    return entry.page;
  }

  /**
   * Add or replace a page, evicting the least recently used one when full. O(1).
   * @param summary - a record page's summary (see `summarizeRecordPage`), kept with it
   */
  set(key: number, chapter: number, page: CachedPage, summary: Uint32Array | null = null): void {
    this.#pages.delete(key);
    if (this.#pages.size >= this.capacity) {
      const oldest = this.#pages.keys().next().value;
      if (oldest !== undefined) this.#pages.delete(oldest);
    }
    this.#pages.set(key, { chapter, page, used: ++this.#clock, summary });
  }

  /**
   * Keep `summary` with the cached page `key` from now on (nothing when it is not cached). O(1).
   * @param summary - what the page's searches use (a record page's summary, an index page's decoded lists)
   */
  attachSummary(key: number, summary: Uint32Array | null): void {
    const entry = this.#pages.get(key);
    if (entry !== undefined) entry.summary = summary;
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
