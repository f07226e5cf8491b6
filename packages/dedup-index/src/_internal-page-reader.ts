// The closed chapters on storage, as the index reads them (the reference's volume.c search side):
// what each physical slot holds (the seals: CRC per page, index page map, record counts), which
// pages were found damaged or already verified, the page cache, and the search of a closed chapter
// through its index page map, chapter index page and record page. A search never waits: when it
// needs a page it notes which one (`wantKey`, `wantChapter`, and `wantFirst` for a window of a
// verified record page) and returns NEED_PAGE; the caller awaits `fetch()` and runs it again.
// Pages and windows read for the request in progress stay pinned until `release()`.

import { ChapterIndexPage, chapterDeltaListOf, RECORD_SIZE } from '@deja/chapter-index';
import type { Storage } from '@deja/storage';
import { type IndexGeometry, mapToPhysicalChapter } from '@deja/volume-geometry';
import { crc32 } from './_format';
import { decodeIndexTable, searchIndexPage } from './_internal-index-table';
import { corrupt, type DedupIndexError, fromStorageError } from './errors';
import { type ChapterSeal, pageOffset, type StorageLayout } from './layout';
import { type CachedPage, PageCache } from './page-cache';
import {
  nameKey,
  SUMMARY_STRIDE,
  searchRecordPage,
  searchRecordWindow,
  summarizeRecordPage,
  summaryWindow,
  WINDOW_MISSED,
} from './record-page';

/** `#search`'s index page origin: read for the request in progress (not from the cache). */
const PINNED = -1;
/** `#search`'s index page origin: not a search of `searchClosed` (takes no window read ahead). */
const NOT_CLOSED = -2;

/** Returned by a search that needs a page from storage first. */
export const NEED_PAGE = Symbol('need page');

/** The chapter of a physical slot that holds none. */
export const NO_CHAPTER = -1;

/**
 * Records read around a name's expected place when a verified record page is not cached: 128
 * records (4 KiB) instead of the whole 32 KiB page. Names are hashes, so a name's place on a page
 * of n sorted records is within sqrt(n)/2 records of the interpolated one on average; a window
 * that does not bracket the name (rare) falls back to reading the whole page.
 */
const WINDOW_RECORDS = 128;

/**
 * Summaries of record pages (see `summarizeRecordPage`: 256 bytes for a page of 1024 records) kept
 * after their page leaves the cache, per page the cache holds: a window read of such a page needs
 * only the run of 16 records the summary leaves, and the next record (17 records, 544 bytes) where
 * an interpolated window reads 128. At most 4 x 256 bytes per cached page of 32 KiB: 3% of the
 * cache's memory.
 */
const SUMMARIES_KEPT_PER_PAGE = 4;

/**
 * Records `first`.. of record page `key` of `chapter`, read into `bytes` (WINDOW_RECORDS records; a
 * page of fewer records fills only its start) for the request in progress, or ahead of a later
 * request of the batch in progress (see `PageReader.planWindow`). Windows are reused once their
 * request completes (see `PageReader.release`): a miss allocates nothing.
 */
interface RecordWindow {
  key: number;
  chapter: number;
  first: number;
  /** Records read (at most WINDOW_RECORDS). */
  records: number;
  /** Where the window starts on storage (a window read ahead, until it is read). */
  offset: number;
  readonly bytes: Uint8Array;
}

/**
 * Windows read ahead for a batch, at most: a batch plans the requests ahead of the one that waits
 * (see `PageReader.planWindow`), and stops planning while this many are read and not yet taken.
 */
const AHEAD_LIMIT = 256;

/**
 * What the request in progress pinned (pages, or windows of record pages), by page key. A request
 * pins a few, most none: two arrays scanned beat a Map, whose clear() allocates a new table.
 */
class Pins<T> {
  readonly #keys: number[] = [];
  readonly #values: (T | undefined)[] = [];
  #count = 0;

  get size(): number {
    return this.#count;
  }

  get(key: number): T | undefined {
    const keys = this.#keys;
    for (let i = 0; i < this.#count; i++) if (keys[i] === key) return this.#values[i];
    return undefined;
  }

  set(key: number, value: T): void {
    const keys = this.#keys;
    let i = 0;
    while (i < this.#count && keys[i] !== key) i++;
    if (i === this.#count) this.#count++;
    keys[i] = key;
    this.#values[i] = value;
  }

  /** Unpin everything (the arrays stay, their values are dropped), handing each value to `drop`. */
  clear(drop?: (value: T) => void): void {
    for (let i = 0; i < this.#count; i++) {
      if (drop !== undefined) drop(this.#values[i]!);
      this.#values[i] = undefined;
    }
    this.#count = 0;
  }
}

/** Copy the 16 bytes at `from` of `source` into `out` (no subarray allocated). */
export function copy16(source: Uint8Array, from: number, out: Uint8Array): void {
  for (let i = 0; i < 16; i++) out[i] = source[from + i]!;
}

/** The closed chapters of an index: seals, page states, the page cache and the closed-chapter search. */
export class PageReader {
  readonly geometry: IndexGeometry;
  readonly layout: StorageLayout;
  readonly nonce: number;
  readonly storage: Storage;
  readonly cache: PageCache;
  // Seals: the virtual chapter in each physical slot (NO_CHAPTER if none), then per page.
  readonly slotChapter: Float64Array;
  readonly crcs: Uint32Array;
  readonly listEnds: Uint32Array;
  readonly counts: Uint32Array;
  readonly badPages: Uint8Array;
  /** Pages found damaged since the index opened (each counted once). */
  badPageCount = 0;
  // Pages whose checksum matched once since their chapter was written or the index opened: a page
  // on storage changes only when its slot is rewritten, so a re-read after eviction skips the CRC.
  readonly #verified: Uint8Array;
  // The first four name bytes (big-endian) of each record page's first and last record, noted when
  // the page is loaded whole: they steer a window read of a verified page that is not cached.
  readonly #pageLow: Uint32Array;
  readonly #pageHigh: Uint32Array;
  /**
   * The summary of the page #cachedPage last returned from the cache, or null: a record page's
   * (see `summarizeRecordPage`) or an index page's decoded lists (see `decodeIndexTable`).
   */
  #summary: Uint32Array | null = null;
  /** Whether #cachedPage last returned a page from the cache (not one pinned by this request). */
  #fromCache = false;
  /** The page a search that returned NEED_PAGE needs, and its chapter. */
  wantKey = -1;
  wantChapter = -1;
  // #wantFirst >= 0 asks fetch() for a window of #wantRecords records of the wanted record page
  // starting at that record.
  #wantFirst = -1;
  #wantRecords = 0;
  // Of the search that asked for the window: its index page's origin (see #search) and the record
  // count of its page, for resumeWindow.
  #resumeHit = NOT_CLOSED;
  #resumeCount = 0;
  /** The window `#windowFor` chose: its first record and its record count. */
  readonly #span = new Int32Array(2);
  // The summaries of the record pages read whole last (since their chapter was written or the
  // index opened), kept after the pages leave the cache: a ring of #kept.length summaries side by
  // side in #keptKeys (#keptStride words each, one array: no object to reach per summary), the
  // record page slot (`physical * recordPagesPerChapter + page`) of each, and the ring place of
  // each slot's summary (-1: none).
  readonly #keptKeys: Uint32Array;
  readonly #keptStride: number;
  readonly #kept: Int32Array;
  readonly #keptAt: Int32Array;
  #keptNext = 0;
  // Pages, and windows of record pages, read for the request in progress, keyed by page: kept until
  // it completes, so that every read adds something the request keeps and it always progresses,
  // however many pages it needs (a sparse-cache search may need a window in each cached chapter).
  readonly #fetched = new Pins<CachedPage>();
  readonly #windows = new Pins<RecordWindow>();
  /** Windows no request holds, for the next misses to read into. */
  readonly #freeWindows: RecordWindow[] = [];
  /**
   * Windows planned for later requests of the batch in progress (see {@link planWindow}), in request
   * order: read with the next window fetch, then taken by the request that needs one (its slot
   * becomes null). Entries before #aheadNext are taken, those from #aheadRead on are not read yet.
   */
  readonly #ahead: (RecordWindow | null)[] = [];
  #aheadNext = 0;
  #aheadRead = 0;
  readonly #freeWindow = (window: RecordWindow): void => {
    this.#freeWindows.push(window);
  };
  /** The one request of a window read (`readv` is the call that reads in place). */
  readonly #windowRead: { offset: number; length: number; into: Uint8Array }[] = [
    { offset: 0, length: 0, into: new Uint8Array(0) },
  ];
  /** A lower bound of the storage's size, to read past its end as zeros (a crash may have cut it short). */
  #knownSize = 0;

  constructor(
    storage: Storage,
    geometry: IndexGeometry,
    layout: StorageLayout,
    nonce: number,
    cachePages: number,
  ) {
    this.storage = storage;
    this.geometry = geometry;
    this.layout = layout;
    this.nonce = nonce;
    this.cache = new PageCache(cachePages);
    const chapters = geometry.chaptersPerVolume;
    this.slotChapter = new Float64Array(chapters).fill(NO_CHAPTER);
    this.crcs = new Uint32Array(chapters * geometry.pagesPerChapter);
    this.listEnds = new Uint32Array(chapters * geometry.indexPagesPerChapter);
    this.counts = new Uint32Array(chapters * geometry.recordPagesPerChapter);
    this.badPages = new Uint8Array(chapters * geometry.pagesPerChapter);
    this.#verified = new Uint8Array(chapters * geometry.pagesPerChapter);
    this.#pageLow = new Uint32Array(chapters * geometry.recordPagesPerChapter);
    this.#pageHigh = new Uint32Array(chapters * geometry.recordPagesPerChapter);
    this.#kept = new Int32Array(SUMMARIES_KEPT_PER_PAGE * cachePages).fill(-1);
    this.#keptAt = new Int32Array(chapters * geometry.recordPagesPerChapter).fill(-1);
    this.#keptStride = Math.ceil(geometry.bytesPerPage / RECORD_SIZE / SUMMARY_STRIDE);
    this.#keptKeys = new Uint32Array(this.#kept.length * this.#keptStride);
  }

  /**
   * Find a name's record in a closed chapter on storage (get_record_from_zone for a chapter that is
   * not the open one). Fills `out` with the metadata.
   * @returns whether it was found, or NEED_PAGE
   */
  searchClosed(name: Uint8Array, chapter: number, out: Uint8Array): boolean | typeof NEED_PAGE {
    const physical = mapToPhysicalChapter(this.geometry, chapter);
    if (this.slotChapter[physical] !== chapter) return false;
    const indexPageNumber = this.indexPageFor(name, physical);
    const page = this.indexPage(physical, indexPageNumber, chapter);
    if (page === NEED_PAGE) return NEED_PAGE;
    if (page === null) return false;
    const indexKey = physical * this.geometry.pagesPerChapter + indexPageNumber;
    return this.#search(
      name,
      page,
      physical,
      chapter,
      out,
      this.#summary,
      this.#fromCache ? indexKey : PINNED,
    );
  }

  /**
   * The decoded lists of the index page {@link indexPage} last returned, if it came from the cache
   * with them (see `decodeIndexTable`), or null: read it right after that call.
   */
  get indexTable(): Uint32Array | null {
    return this.#summary;
  }

  /**
   * Search a closed chapter for a name through its chapter index page `page` (search_pages), and the
   * page's decoded lists when there are (`table`: the same answers, found faster).
   */
  searchWithIndexPage(
    name: Uint8Array,
    page: ChapterIndexPage,
    physical: number,
    chapter: number,
    out: Uint8Array,
    table: Uint32Array | null = null,
  ): boolean | typeof NEED_PAGE {
    return this.#search(name, page, physical, chapter, out, table, NOT_CLOSED);
  }

  /**
   * {@link searchWithIndexPage}; `indexHit` says where the index page came from when the search is
   * {@link searchClosed}'s: its page key when it came from the cache, PINNED when this request read
   * it; NOT_CLOSED otherwise (the sparse cache's searches, which take no window read ahead).
   */
  #search(
    name: Uint8Array,
    page: ChapterIndexPage,
    physical: number,
    chapter: number,
    out: Uint8Array,
    table: Uint32Array | null,
    indexHit: number,
  ): boolean | typeof NEED_PAGE {
    const g = this.geometry;
    const recordPageNumber = searchIndexPage(page, table, name, chapterDeltaListOf(name, g), g);
    if (recordPageNumber < 0) return false;
    const bytes = this.#recordPage(physical, recordPageNumber, chapter);
    if (bytes === null) return false;
    const slot = physical * g.recordPagesPerChapter + recordPageNumber;
    const count = this.counts[slot]!;
    if (bytes === NEED_PAGE) {
      // A page whose checksum matched since its chapter was written: read only a window of it.
      const key = this.wantKey;
      if (this.#verified[key] === 0 || count === 0) return NEED_PAGE;
      let window = this.#windows.get(key);
      if (window === undefined || window.chapter !== chapter) {
        this.#windowFor(slot, count, name);
        const first = this.#span[0]!;
        const records = this.#span[1]!;
        const ahead =
          indexHit !== NOT_CLOSED && this.#aheadNext < this.#aheadRead
            ? this.#takeAhead(key, chapter, first, records)
            : null;
        if (ahead === null) {
          this.#wantFirst = first;
          this.#wantRecords = records;
          this.#resumeHit = indexHit;
          this.#resumeCount = count;
          return NEED_PAGE;
        }
        // A window read ahead (see planWindow): counted as the miss its fetch() would have been,
        // and searched now. The request does not run again as it would after a fetch: what that
        // run would change before it searched the window is done here, the cache lookup of its
        // index page (a hit, moved in the LRU order as such); the rest of it changes nothing.
        this.cache.misses++;
        if (indexHit >= 0) {
          this.cache.get(indexHit, chapter);
          this.cache.hits++;
        }
        window = ahead;
      }
      const at = searchRecordWindow(window.bytes, window.first, count, name, window.records);
      // A window that does not bracket the name: #cachedPage asked for the whole page.
      if (at === WINDOW_MISSED) return NEED_PAGE;
      if (at < 0) return false;
      copy16(window.bytes, at, out);
      return true;
    }
    const at = searchRecordPage(bytes, count, name, this.#summary);
    if (at < 0) return false;
    copy16(bytes, at, out);
    return true;
  }

  /**
   * The window of record page `slot` (of `count` records) to read for `name`, into #span (first
   * record, records): the records its kept summary leaves (see `summaryWindow`), or else
   * WINDOW_RECORDS records around the place interpolated between the page's first and last names.
   */
  #windowFor(slot: number, count: number, name: Uint8Array): void {
    const span = this.#span;
    const kept = this.#keptAt[slot]!;
    if (kept >= 0) {
      summaryWindow(this.#keptKeys, count, name, span, kept * this.#keptStride);
      if (span[1]! <= WINDOW_RECORDS) return;
    }
    const records = Math.min(WINDOW_RECORDS, count);
    const low = this.#pageLow[slot]!;
    const guess = Math.floor(((nameKey(name) - low) / (this.#pageHigh[slot]! - low + 1)) * count);
    span[0] = Math.max(0, Math.min(count - records, guess - (records >>> 1)));
    span[1] = records;
  }

  /** Keep the summary of record page `slot` (read whole) beyond its stay in the cache. */
  #keepSummary(slot: number, summary: Uint32Array): void {
    if (summary.length > this.#keptStride) return;
    const previous = this.#keptAt[slot]!;
    const at = previous >= 0 ? previous : this.#keptNext;
    if (previous < 0) {
      // The ring's oldest summary goes.
      const old = this.#kept[at]!;
      if (old >= 0) this.#keptAt[old] = -1;
      this.#kept[at] = slot;
      this.#keptAt[slot] = at;
      this.#keptNext = at + 1 === this.#kept.length ? 0 : at + 1;
    }
    this.#keptKeys.set(summary, at * this.#keptStride);
  }

  /** Whether the last search that returned NEED_PAGE asked for a window (not a whole page). */
  get wantsWindow(): boolean {
    return this.#wantFirst >= 0;
  }

  /**
   * Whether the last search that returned NEED_PAGE asked for a window in a search of
   * {@link searchClosed}, so that once {@link fetch} read it, {@link resumeWindow} can finish that
   * search. Read it before the fetch.
   */
  get canResume(): boolean {
    return this.#wantFirst >= 0 && this.#resumeHit !== NOT_CLOSED;
  }

  /**
   * Finish the search of {@link searchClosed} that asked for the window {@link fetch} just read, as
   * running it again would, without running it again: the one thing that run would change before it
   * searched the window, the cache lookup of its index page (a hit, moved in the LRU order as such),
   * then the window's search. Only right after that fetch (see {@link canResume}).
   * @returns as searchClosed (NEED_PAGE: the window does not bracket the name; the page is next)
   */
  resumeWindow(name: Uint8Array, out: Uint8Array): boolean | typeof NEED_PAGE {
    if (this.#resumeHit >= 0) {
      this.cache.get(this.#resumeHit, this.wantChapter);
      this.cache.hits++;
    }
    const window = this.#windows.get(this.wantKey)!;
    const at = searchRecordWindow(window.bytes, window.first, this.#resumeCount, name, window.records);
    // As #cachedPage leaves it after a miss: the whole page is wanted next.
    if (at === WINDOW_MISSED) return NEED_PAGE;
    if (at < 0) return false;
    copy16(window.bytes, at, out);
    return true;
  }

  /**
   * Plan a window read for a later request of the batch in progress, read with the next window
   * {@link fetch} in one storage call (the reference reads pages asynchronously and queues the
   * requests that wait for them). Planned only when that request, run against the cache as it is
   * now, would miss on a verified record page whose index page is cached; a plan that turns out
   * wrong costs a read, never an answer, since a request takes only the window it would have read
   * (same page, chapter, first record and length) and a chapter's pages never change while its slot
   * holds it. Changes nothing a request sees: no LRU move, no count (the request that takes the window
   * counts its miss). The caller drops the plan when the batch ends ({@link dropAhead}). O(log list).
   * @param chapter - the chapter a lookup of `name` finds now (a closed one)
   */
  planWindow(name: Uint8Array, chapter: number): void {
    if (this.#ahead.length - this.#aheadNext >= AHEAD_LIMIT) return;
    const g = this.geometry;
    const physical = mapToPhysicalChapter(g, chapter);
    if (this.slotChapter[physical] !== chapter) return;
    const base = physical * g.pagesPerChapter;
    const indexKey = base + this.indexPageFor(name, physical);
    if (this.badPages[indexKey] === 1) return;
    const page = this.cache.peek(indexKey, chapter) as ChapterIndexPage | undefined;
    if (page === undefined) return;
    let recordPageNumber: number;
    try {
      const table = this.cache.lastSummary;
      recordPageNumber = searchIndexPage(page, table, name, chapterDeltaListOf(name, g), g);
    } catch {
      return;
    }
    if (recordPageNumber < 0) return;
    const key = base + g.indexPagesPerChapter + recordPageNumber;
    if (this.badPages[key] === 1 || this.#verified[key] === 0) return;
    if (this.cache.peek(key, chapter) !== undefined) return;
    const slot = physical * g.recordPagesPerChapter + recordPageNumber;
    const count = this.counts[slot]!;
    if (count === 0) return;
    this.#windowFor(slot, count, name);
    const first = this.#span[0]!;
    const records = this.#span[1]!;
    const offset =
      pageOffset(this.layout, physical, g.indexPagesPerChapter + recordPageNumber) + first * RECORD_SIZE;
    if (offset + records * RECORD_SIZE > this.#knownSize) return;
    const window = this.#newWindow();
    window.key = key;
    window.chapter = chapter;
    window.first = first;
    window.records = records;
    window.offset = offset;
    this.#ahead.push(window);
  }

  /**
   * Take (and pin) the window read ahead for record page `key` of `chapter`, records `first`..
   * (`records` of them), if any.
   */
  #takeAhead(key: number, chapter: number, first: number, records: number): RecordWindow | null {
    const ahead = this.#ahead;
    const end = this.#aheadRead;
    for (let m = this.#aheadNext; m < end; m++) {
      const window = ahead[m];
      if (
        window == null ||
        window.key !== key ||
        window.chapter !== chapter ||
        window.first !== first ||
        window.records !== records
      ) {
        continue;
      }
      ahead[m] = null;
      let next = this.#aheadNext;
      while (next < end && ahead[next] === null) next++;
      this.#aheadNext = next;
      if (next === ahead.length) {
        ahead.length = 0;
        this.#aheadNext = 0;
        this.#aheadRead = 0;
      }
      this.#windows.set(key, window);
      return window;
    }
    return null;
  }

  /** Drop the windows planned or read ahead (the batch ended); they go back to the free list. */
  dropAhead(): void {
    const ahead = this.#ahead;
    if (ahead.length === 0) return;
    for (let m = this.#aheadNext; m < ahead.length; m++) {
      const window = ahead[m];
      if (window != null) this.#freeWindows.push(window);
    }
    ahead.length = 0;
    this.#aheadNext = 0;
    this.#aheadRead = 0;
  }

  /** A window no request holds. */
  #newWindow(): RecordWindow {
    return (
      this.#freeWindows.pop() ?? {
        key: -1,
        chapter: NO_CHAPTER,
        first: 0,
        records: 0,
        offset: 0,
        bytes: new Uint8Array(WINDOW_RECORDS * RECORD_SIZE),
      }
    );
  }

  /** The index page of a chapter that holds a name's delta list (uds_find_index_page_number). */
  indexPageFor(name: Uint8Array, physical: number): number {
    const list = chapterDeltaListOf(name, this.geometry);
    const pages = this.geometry.indexPagesPerChapter;
    const base = physical * pages;
    for (let p = 0; p < pages - 1; p++) if (list < this.listEnds[base + p]!) return p;
    return pages - 1;
  }

  /** A cached page, or NEED_PAGE after noting which page to read; null for a known-bad page. */
  #cachedPage(key: number, chapter: number): CachedPage | null | typeof NEED_PAGE {
    if (this.badPages[key] === 1) return null;
    // Most requests read nothing: skip the scan then.
    const pinned = this.#fetched.size === 0 ? undefined : this.#fetched.get(key);
    if (pinned !== undefined) {
      this.#summary = null;
      this.#fromCache = false;
      return pinned;
    }
    const page = this.cache.get(key, chapter);
    if (page !== undefined) {
      this.cache.hits++;
      this.#summary = this.cache.lastSummary;
      this.#fromCache = true;
      return page;
    }
    this.wantKey = key;
    this.wantChapter = chapter;
    this.#wantFirst = -1;
    return NEED_PAGE;
  }

  /**
   * Index page `page` of a closed chapter: cached, null (known bad) or NEED_PAGE. A page that comes
   * from the cache without its decoded lists gets them now (its second use: a page read once is not
   * decoded), and they are in {@link indexTable}.
   */
  indexPage(physical: number, page: number, chapter: number): ChapterIndexPage | null | typeof NEED_PAGE {
    const key = physical * this.geometry.pagesPerChapter + page;
    const value = this.#cachedPage(key, chapter) as ChapterIndexPage | null | typeof NEED_PAGE;
    if (this.#fromCache && this.#summary === null && value !== null && value !== NEED_PAGE) {
      const table = decodeIndexTable(value, this.geometry);
      this.cache.attachSummary(key, table);
      this.#summary = table;
    }
    return value;
  }

  #recordPage(physical: number, page: number, chapter: number): Uint8Array | null | typeof NEED_PAGE {
    const key = physical * this.geometry.pagesPerChapter + this.geometry.indexPagesPerChapter + page;
    return this.#cachedPage(key, chapter) as Uint8Array | null | typeof NEED_PAGE;
  }

  /**
   * Read the page (or window) the last search asked for, check it against the seal, and cache it.
   * A window read is one storage call and one continuation (the miss path's common case).
   * @throws DedupIndexError ERR_CORRUPT_DATA (the page is marked bad first) or ERR_IO (a storage failure)
   */
  fetch(): Promise<void> {
    const key = this.wantKey;
    const chapter = this.wantChapter;
    const g = this.geometry;
    const physical = Math.floor(key / g.pagesPerChapter);
    const page = key % g.pagesPerChapter;
    this.cache.misses++;
    const first = this.#wantFirst;
    const records = this.#wantRecords;
    this.#wantFirst = -1;
    if (first < 0) {
      // Windows are planned only before a window fetch: a plan left unread is dropped.
      if (this.#aheadRead < this.#ahead.length) this.#dropUnread();
      return this.#fetchPage(key, chapter, physical, page);
    }
    const offset = pageOffset(this.layout, physical, page) + first * RECORD_SIZE;
    const window = this.#newWindow();
    // Pinned before the read, so that release() takes it back even if the read fails.
    window.key = key;
    window.chapter = NO_CHAPTER;
    this.#windows.set(key, window);
    const length = records * RECORD_SIZE;
    const into = length === window.bytes.length ? window.bytes : window.bytes.subarray(0, length);
    // What the read's continuations need (one read at a time, as requests run: no closure per read).
    window.first = first;
    window.records = records;
    this.#reading = window;
    this.#readingChapter = chapter;
    this.#readingPage = page;
    if (this.#aheadRead === this.#ahead.length || offset + length > this.#knownSize) {
      if (this.#aheadRead < this.#ahead.length) this.#dropUnread();
      return this.readInto(offset, into).then(this.#windowDone, this.#windowFailed);
    }
    // This window and the ones planned ahead, in one storage call. Should it fail, the plan is
    // dropped and this window read alone, so that the request fails (or not) as it would alone.
    const requests: { offset: number; length: number; into: Uint8Array }[] = [{ offset, length, into }];
    const ahead = this.#ahead;
    for (let m = this.#aheadRead; m < ahead.length; m++) {
      const planned = ahead[m]!;
      const plannedLength = planned.records * RECORD_SIZE;
      requests.push({
        offset: planned.offset,
        length: plannedLength,
        into:
          plannedLength === planned.bytes.length ? planned.bytes : planned.bytes.subarray(0, plannedLength),
      });
    }
    return this.storage.readv(requests).then(
      () => {
        this.#aheadRead = ahead.length;
        this.#windowDone();
      },
      () => {
        this.#dropUnread();
        return this.readInto(offset, into).then(this.#windowDone, this.#windowFailed);
      },
    );
  }

  // The window fetch() is reading, and its page and chapter (for the continuations below).
  #reading: RecordWindow | null = null;
  #readingChapter = NO_CHAPTER;
  #readingPage = 0;
  /** A window read completed: it holds its chapter's records from now on. */
  readonly #windowDone = (): void => {
    this.#reading!.chapter = this.#readingChapter;
    this.#reading = null;
  };
  readonly #windowFailed = (error: unknown): never => {
    this.#reading = null;
    throw fromStorageError(`reading page ${this.#readingPage} of chapter ${this.#readingChapter}`, error);
  };

  /** Drop the windows planned and not read yet (back to the free list). */
  #dropUnread(): void {
    const ahead = this.#ahead;
    for (let m = this.#aheadRead; m < ahead.length; m++) this.#freeWindows.push(ahead[m]!);
    ahead.length = this.#aheadRead;
  }

  /** The whole page `page` of a physical chapter: read, checked, cached and pinned. */
  async #fetchPage(key: number, chapter: number, physical: number, page: number): Promise<void> {
    const g = this.geometry;
    let bytes: Uint8Array;
    try {
      bytes = await this.readRange(pageOffset(this.layout, physical, page), g.bytesPerPage);
    } catch (error) {
      throw fromStorageError(`reading page ${page} of chapter ${chapter}`, error);
    }
    const value = this.checkPage(bytes, physical, page, chapter);
    let summary: Uint32Array | null = null;
    if (page >= g.indexPagesPerChapter) {
      const slot = physical * g.recordPagesPerChapter + page - g.indexPagesPerChapter;
      summary = summarizeRecordPage(value as Uint8Array, this.counts[slot]!);
      this.#keepSummary(slot, summary);
    }
    this.cache.set(key, chapter, value, summary);
    this.#fetched.set(key, value);
  }

  /** Drop the pages and the window read for the request that just completed. */
  release(): void {
    if (this.#fetched.size > 0) this.#fetched.clear();
    if (this.#windows.size > 0) this.#windows.clear(this.#freeWindow);
  }

  /** Validate a page read from storage; marks it bad and throws ERR_CORRUPT_DATA when it fails. */
  checkPage(bytes: Uint8Array, physical: number, page: number, chapter: number): CachedPage {
    const g = this.geometry;
    const key = physical * g.pagesPerChapter + page;
    const where = `page ${page} of chapter ${chapter} (physical chapter ${physical})`;
    const bad = (message: string, cause?: unknown): DedupIndexError => {
      if (this.badPages[key] === 0) this.badPageCount++;
      this.badPages[key] = 1;
      this.cache.delete(key);
      return corrupt(`${where}: ${message}`, cause);
    };
    if (this.#verified[key] === 0) {
      if (crc32(bytes) !== this.crcs[key]) throw bad('checksum mismatch');
      this.#verified[key] = 1;
    }
    if (page >= g.indexPagesPerChapter) {
      const slot = physical * g.recordPagesPerChapter + page - g.indexPagesPerChapter;
      const count = this.counts[slot]!;
      if (count > 0) {
        this.#pageLow[slot] = nameKey(bytes);
        this.#pageHigh[slot] = nameKey(bytes.subarray((count - 1) * RECORD_SIZE));
      }
      return bytes;
    }
    let opened: ChapterIndexPage;
    try {
      opened = ChapterIndexPage.open(bytes, g, this.nonce);
    } catch (error) {
      throw bad('not a valid chapter index page', error);
    }
    if (opened.virtualChapterNumber !== BigInt(chapter)) {
      throw bad(`holds chapter ${opened.virtualChapterNumber}`);
    }
    return opened;
  }

  /**
   * Read `length` bytes at `offset`; bytes past the end of the storage read as zeros (a chapter or
   * save whose writes a crash cut short then fails its checksum instead of the read failing).
   */
  async readRange(offset: number, length: number): Promise<Uint8Array> {
    if (offset + length > this.#knownSize) this.#knownSize = await this.storage.size();
    if (offset + length <= this.#knownSize) return this.storage.read(offset, length);
    const out = new Uint8Array(length);
    if (offset < this.#knownSize) out.set(await this.storage.read(offset, this.#knownSize - offset));
    return out;
  }

  /**
   * Read `into.length` bytes at `offset` into `into` (in place on adapters that can: no new array);
   * bytes past the end of the storage read as zeros, as in {@link readRange}. Inside the size known
   * so far, it is the storage's readv alone.
   */
  readInto(offset: number, into: Uint8Array): Promise<unknown> {
    const length = into.length;
    if (offset + length > this.#knownSize) return this.#readIntoSized(offset, into);
    const request = this.#windowRead[0]!;
    request.offset = offset;
    request.length = length;
    request.into = into;
    return this.storage.readv(this.#windowRead);
  }

  async #readIntoSized(offset: number, into: Uint8Array): Promise<void> {
    this.#knownSize = await this.storage.size();
    if (offset + into.length > this.#knownSize) into.set(await this.readRange(offset, into.length));
    else await this.readInto(offset, into);
  }

  /** Forget what a physical slot held, before its pages change or when its chapter expired. */
  forgetSlot(physical: number): void {
    const g = this.geometry;
    this.dropAhead();
    this.slotChapter[physical] = NO_CHAPTER;
    for (let p = 0; p < g.pagesPerChapter; p++) {
      const key = physical * g.pagesPerChapter + p;
      this.cache.delete(key);
      this.badPages[key] = 0;
      this.#verified[key] = 0;
    }
    const slots = physical * g.recordPagesPerChapter;
    for (let p = 0; p < g.recordPagesPerChapter; p++) {
      const at = this.#keptAt[slots + p]!;
      if (at >= 0) {
        this.#keptAt[slots + p] = -1;
        this.#kept[at] = -1;
      }
    }
  }

  /**
   * Put the pages of a chapter just written into the cache, as they were written (record pages
   * first, so that the index pages, which every search of the chapter needs, are the most recent):
   * a search of a recent chapter then reads nothing. They are not marked verified: a read after
   * they leave the cache checks the CRC as any first read does. O(pages + lists).
   */
  cacheWritten(physical: number, chapter: number, indexPages: Uint8Array[], recordPages: Uint8Array[]): void {
    const g = this.geometry;
    const base = physical * g.pagesPerChapter;
    recordPages.forEach((bytes, p) => {
      const count = this.counts[physical * g.recordPagesPerChapter + p]!;
      this.cache.set(base + g.indexPagesPerChapter + p, chapter, bytes, summarizeRecordPage(bytes, count));
    });
    indexPages.forEach((bytes, p) => {
      this.cache.set(base + p, chapter, ChapterIndexPage.open(bytes, g, this.nonce));
    });
  }

  /** Take a chapter's seal as what its physical slot holds. */
  installSeal(seal: ChapterSeal): void {
    const g = this.geometry;
    const { physical } = seal;
    this.slotChapter[physical] = seal.virtual;
    this.crcs.set(seal.crcs, physical * g.pagesPerChapter);
    this.listEnds.set(seal.listEnds, physical * g.indexPagesPerChapter);
    this.counts.set(seal.counts, physical * g.recordPagesPerChapter);
  }
}
