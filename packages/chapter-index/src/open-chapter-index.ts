// The chapter index of the open chapter (the seed's struct open_chapter_index): a mutable delta
// index mapping each record name of the chapter to the record page that holds it, packed into the
// chapter's index pages when the chapter closes.
//
// A name's chapter index bytes give a delta list (the high bits) and an address (the low
// chapterAddressBits); the entry's payload is the record page number. Two names with the same list
// and address collide: the second is stored as a collision entry carrying its full name. Packing
// copies whole delta lists onto pages; a list too large for a page, or lists left over when the last
// page is full, are removed entirely (their names just stop being found: the index is lossy by
// design) and a warning gives the counts.

import type { DeltaIndexEntry } from '@deja/delta-index';
import {
  chapterDeltaAddressAt,
  chapterDeltaListAt,
  DeltaIndex,
  fillDeltaIndex,
  toU64,
} from '@deja/delta-index';
import type { IndexGeometry } from '@deja/volume-geometry';
import { rethrowDeltaError } from './_wrap';
import { ChapterIndexError } from './errors';
import { checkName, RECORD_NAME_SIZE, RECORD_SIZE } from './record-name';

/** The record page returned by the C search when a name is not in the chapter (U16_MAX). */
export const NO_CHAPTER_INDEX_ENTRY = 0xffff;

/** Options of {@link OpenChapterIndex}. */
export interface OpenChapterIndexOptions {
  /**
   * Receives the warnings the seed logs when packing has to drop entries (default:
   * `process.emitWarning`).
   */
  warn?: (message: string) => void;
}

/** What {@link OpenChapterIndex.packPage} did. */
export interface PackPageResult {
  /** Whole delta lists packed on the page. */
  listsPacked: number;
  /** Entries removed from the index so that the page could be packed. */
  entriesRemoved: number;
}

/** Every index page of a chapter, as {@link OpenChapterIndex.packPages} returns them. */
export interface PackedChapterIndex {
  /** The index pages, `indexPagesPerChapter` of them, each `bytesPerPage` bytes. */
  pages: Uint8Array[];
  /** The first delta list of each page. */
  firstLists: number[];
  /** The lists packed on each page. */
  listsPacked: number[];
  /** The last delta list of each page, for the index page map (first - 1 for a page with no list). */
  lastLists: number[];
  /** Entries removed by packing (whole lists that did not fit). */
  entriesRemoved: number;
}

/** Address bits sorted per pass of {@link OpenChapterIndex._fill}'s radix sort. */
const RADIX_BITS = 11;

/** Whether the 16-byte names at `a` and `b` of `bytes` are equal. */
function sameName(bytes: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < RECORD_NAME_SIZE; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

function defaultWarn(message: string): void {
  process.emitWarning(message, 'ChapterIndexWarning');
}

/**
 * The open chapter's index: record name -> record page, packed into index pages on close.
 *
 * @example
 * ```ts
 * const index = new OpenChapterIndex(geometry, volumeNonce);
 * index.empty(chapterNumber);
 * index.put(name, recordPage);
 * const { pages } = index.packPages();
 * ```
 */
export class OpenChapterIndex {
  /** The geometry the index is sized for. */
  readonly geometry: IndexGeometry;
  /** The volume nonce written into every index page. */
  readonly volumeNonce: bigint;
  /** The underlying delta index (one zone, one list per 64 records). */
  readonly deltaIndex: DeltaIndex;
  #virtualChapterNumber = 0n;
  readonly #warn: (message: string) => void;
  readonly #entry: DeltaIndexEntry;
  // Scratch of _fill: each name's list and address, and the names in (list, address) order.
  #lists = new Uint32Array(0);
  #addresses = new Uint32Array(0);
  #order = new Uint32Array(0);
  #scratch = new Uint32Array(0);

  /**
   * Makes an empty open chapter index (uds_make_open_chapter_index()). Its memory is one page more
   * than the chapter's index pages, as in the seed, so that a full chapter always fits.
   *
   * @param geometry - the index geometry
   * @param volumeNonce - the volume's nonce (u64), written into every index page
   * @param options - where warnings go
   * @throws RangeError if the nonce is not a u64
   * Cost: O(index pages * page size) memory.
   */
  constructor(geometry: IndexGeometry, volumeNonce: bigint | number, options: OpenChapterIndexOptions = {}) {
    this.geometry = geometry;
    this.volumeNonce = toU64('volumeNonce', volumeNonce);
    this.#warn = options.warn ?? defaultWarn;
    // The delta index rebalances lists when memory gets tight: give it one extra page.
    const memorySize = (geometry.indexPagesPerChapter + 1) * geometry.bytesPerPage;
    this.deltaIndex = new DeltaIndex({
      listCount: geometry.deltaListsPerChapter,
      meanDelta: geometry.chapterMeanDelta,
      payloadBits: geometry.chapterPayloadBits,
      memorySize,
      tag: 'm',
    });
    this.#entry = this.deltaIndex.startSearch(0, 0);
  }

  /** The virtual chapter the index is collecting. */
  get virtualChapterNumber(): bigint {
    return this.#virtualChapterNumber;
  }

  /** Entries in the index, collision entries included. O(lists). */
  get recordCount(): number {
    return this.deltaIndex.getStats().recordCount;
  }

  /** Collision entries in the index. O(lists). */
  get collisionCount(): number {
    return this.deltaIndex.getStats().collisionCount;
  }

  /**
   * Empties the index for a new chapter (uds_empty_open_chapter_index()).
   *
   * @param virtualChapterNumber - the chapter about to be filled (u64)
   * @throws RangeError if it is not a u64
   * Cost: O(lists).
   */
  empty(virtualChapterNumber: bigint | number): void {
    this.#virtualChapterNumber = toU64('virtualChapterNumber', virtualChapterNumber);
    this.deltaIndex.reset();
  }

  /**
   * Records that `name` is on record page `pageNumber` (uds_put_open_chapter_index_record()). A name
   * whose list and address are taken by another name becomes a collision entry carrying its name.
   *
   * @param name - the 16-byte record name
   * @param pageNumber - the record page within the chapter, in [0, recordPagesPerChapter)
   * @throws TypeError / RangeError for a bad name or page number
   * @throws {@link ChapterIndexError} `ERR_EXISTS` if the name already has a collision entry
   *   (it was put twice), `ERR_OVERFLOW` if its delta list or the index memory is full
   * Cost: O(entries in the name's delta list), about 64.
   */
  put(name: Uint8Array, pageNumber: number): void {
    checkName(name);
    const recordPages = this.geometry.recordPagesPerChapter;
    if (!Number.isInteger(pageNumber) || pageNumber < 0 || pageNumber >= recordPages) {
      throw new RangeError(`page number ${pageNumber} is not in [0, ${recordPages})`);
    }
    this._putAt(name, 0, pageNumber);
  }

  /**
   * @internal put() for the name at `offset` in `bytes`, without argument checks: the close path
   * feeds collated records straight from the record buffer. The name is only sliced out when its
   * address is already taken (a collision to resolve), which is rare.
   */
  _putAt(bytes: Uint8Array, offset: number, pageNumber: number): void {
    const { chapterAddressBits, chapterDeltaListBits } = this.geometry;
    const address = chapterDeltaAddressAt(bytes, offset, chapterAddressBits);
    const list = chapterDeltaListAt(bytes, offset, chapterAddressBits, chapterDeltaListBits);
    this.#put(list, address, bytes, offset, pageNumber);
  }

  /** _putAt() with the name's list and address already computed from its bytes. */
  #put(list: number, address: number, bytes: Uint8Array, offset: number, pageNumber: number): void {
    try {
      let entry = this.deltaIndex.getEntry(list, address, null, this.#entry);
      let found = !entry.atEnd && entry.key === address;
      let name: Uint8Array | null = null;
      if (found) {
        name =
          offset === 0 && bytes.length === RECORD_NAME_SIZE
            ? bytes
            : bytes.subarray(offset, offset + RECORD_NAME_SIZE);
        entry = this.deltaIndex.getEntry(list, address, name, this.#entry);
        found = !entry.atEnd && entry.key === address;
      }
      if (found && entry.isCollision) {
        throw new ChapterIndexError(
          'ERR_EXISTS',
          `record name appears more than once in chapter ${this.#virtualChapterNumber} (delta list ${list}, address ${address})`,
        );
      }
      entry.put(address, pageNumber, found ? name : null);
    } catch (error) {
      if (error instanceof ChapterIndexError) throw error;
      rethrowDeltaError(error, `chapter ${this.#virtualChapterNumber}, delta list ${list}`);
    }
  }

  /**
   * @internal Put the names of `count` records of a closing chapter (fill_delta_chapter_index()):
   * the record at byte `offsets[k]` of `bytes` goes to record page `offsets[k] / 32 /
   * recordsPerPage`. The result is exactly that of {@link _putAt} for each record in the order
   * given. The names are sorted by (list, address), stably, and usually written in one pass by
   * `fillDeltaIndex` (see #fillSorted), laid out for packing. When that cannot be done exactly (a
   * name repeated within an address, a list or the memory overflowing), they are put round by round
   * in that order: each name lands at the end of its list, where the search starts from the
   * remembered position and the insertion moves no bits. Should such a put overflow or find a
   * duplicate name, the index is emptied and the records are put again in the given order, which
   * decides exactly which names are dropped and which duplicate is reported.
   *
   * @returns the names dropped because their list or the index memory was full (ERR_OVERFLOW)
   * @throws {@link ChapterIndexError} `ERR_EXISTS` as {@link put}
   * Cost: O(count × ⌈addressBits / 11⌉ + lists × longest list).
   */
  _fill(bytes: Uint8Array, offsets: Uint32Array, count: number): number {
    const { chapterAddressBits, chapterDeltaListBits, deltaListsPerChapter, recordsPerPage } = this.geometry;
    if (this.#order.length < count) {
      this.#lists = new Uint32Array(count);
      this.#addresses = new Uint32Array(count);
      this.#order = new Uint32Array(count);
      this.#scratch = new Uint32Array(count);
    }
    const lists = this.#lists;
    const addresses = this.#addresses;
    const starts = new Uint32Array(deltaListsPerChapter + 1);
    for (let k = 0; k < count; k++) {
      const offset = offsets[k]!;
      const list = chapterDeltaListAt(bytes, offset, chapterAddressBits, chapterDeltaListBits);
      lists[k] = list;
      addresses[k] = chapterDeltaAddressAt(bytes, offset, chapterAddressBits);
      starts[list + 1]!++;
    }
    for (let list = 0; list < deltaListsPerChapter; list++) starts[list + 1]! += starts[list]!;
    // A stable LSD radix sort: by address, RADIX_BITS at a time, then by list, each pass a stable
    // counting sort, so names of one (list, address) keep their chapter order.
    let from = this.#scratch;
    let to = this.#order;
    for (let k = 0; k < count; k++) from[k] = k;
    const buckets = new Uint32Array((1 << RADIX_BITS) + 1);
    for (let shift = 0; shift < chapterAddressBits; shift += RADIX_BITS) {
      const mask = (1 << Math.min(RADIX_BITS, chapterAddressBits - shift)) - 1;
      buckets.fill(0);
      for (let k = 0; k < count; k++) buckets[((addresses[k]! >>> shift) & mask) + 1]!++;
      for (let b = 0; b < mask + 1; b++) buckets[b + 1]! += buckets[b]!;
      for (let i = 0; i < count; i++) {
        const k = from[i]!;
        to[buckets[(addresses[k]! >>> shift) & mask]!++] = k;
      }
      [from, to] = [to, from];
    }
    const next = starts.slice(0, deltaListsPerChapter);
    for (let i = 0; i < count; i++) {
      const k = from[i]!;
      to[next[lists[k]!]!++] = k;
    }
    if (to !== this.#order) {
      this.#scratch = this.#order;
      this.#order = to;
    }
    const order = to;
    const perPage = recordsPerPage * RECORD_SIZE;
    if (this.#fillSorted(bytes, offsets, count, starts, perPage)) return 0;
    // Put the names round by round: the first name of every list, then the second of every list,
    // and so on. Each put appends to its list, and the lists grow evenly, as they do in chapter
    // order, so the gaps between them seldom run out (filling one list after the other would
    // rebalance the zone again and again).
    let longest = 0;
    for (let list = 0; list < deltaListsPerChapter; list++) {
      longest = Math.max(longest, starts[list + 1]! - starts[list]!);
    }
    try {
      for (let round = 0; round < longest; round++) {
        for (let list = 0; list < deltaListsPerChapter; list++) {
          const i = starts[list]! + round;
          if (i >= starts[list + 1]!) continue;
          const k = order[i]!;
          const offset = offsets[k]!;
          this.#put(list, addresses[k]!, bytes, offset, Math.floor(offset / perPage));
        }
      }
      return 0;
    } catch (error) {
      if (!(error instanceof ChapterIndexError)) throw error;
    }
    this.empty(this.#virtualChapterNumber);
    let overflows = 0;
    for (let k = 0; k < count; k++) {
      const offset = offsets[k]!;
      try {
        this._putAt(bytes, offset, Math.floor(offset / perPage));
      } catch (error) {
        if (error instanceof ChapterIndexError && error.code === 'ERR_OVERFLOW') overflows++;
        else throw error;
      }
    }
    return overflows;
  }

  /**
   * The common case of {@link _fill}: write the sorted names straight into the delta index with
   * `fillDeltaIndex`, laid out for packing into this geometry's pages. The names of one address
   * become what puts in chapter order make of them: the first a plain entry, the others collision
   * entries right after it, the latest first (each put of a new collision goes right after the plain
   * entry). Returns false, changing nothing a fallback depends on, when two names of one address
   * are equal (a duplicate: the put order decides what happens) or when a list or the memory
   * overflows (the put order decides what is dropped).
   */
  #fillSorted(
    bytes: Uint8Array,
    offsets: Uint32Array,
    count: number,
    starts: Uint32Array,
    perPage: number,
  ): boolean {
    const order = this.#order;
    const addresses = this.#addresses;
    const keys = new Uint32Array(count);
    const values = new Uint32Array(count);
    const nameOffsets = new Uint32Array(count);
    let out = 0;
    const emit = (k: number): void => {
      const offset = offsets[k]!;
      keys[out] = addresses[k]!;
      values[out] = Math.floor(offset / perPage);
      nameOffsets[out++] = offset;
    };
    const lists = this.#lists;
    for (let i = 0; i < count; ) {
      const k = order[i]!;
      const list = lists[k]!;
      const address = addresses[k]!;
      let j = i + 1;
      while (j < count && lists[order[j]!] === list && addresses[order[j]!] === address) j++;
      emit(k);
      if (j - i > 1) {
        for (let a = i; a < j; a++) {
          for (let b = a + 1; b < j; b++) {
            if (sameName(bytes, offsets[order[a]!]!, offsets[order[b]!]!)) return false;
          }
        }
        for (let a = j - 1; a > i; a--) emit(order[a]!);
      }
      i = j;
    }
    return fillDeltaIndex(
      this.deltaIndex,
      { listStarts: starts, keys, values, names: bytes, nameOffsets },
      this.geometry.bytesPerPage,
    );
  }

  /**
   * Packs delta lists from `firstList` on into one index page (uds_pack_open_chapter_index_page()).
   * If the first list does not fit on a page at all, it is removed. On the last page every
   * remaining list must fit: whole lists are removed (the first that did not fit, or, if it is
   * empty, the last one that fits and has entries) until they do. Each removal is warned about.
   *
   * @param memory - the page buffer, `bytesPerPage` bytes (zero-filled, then written)
   * @param firstList - the first delta list to pack
   * @param lastPage - whether this is the chapter's last index page
   * @returns the lists packed and the entries removed
   * @throws RangeError for a buffer of the wrong size or a list out of range
   * @throws {@link ChapterIndexError} `ERR_OVERFLOW` if no list can be removed to make the page fit
   * Cost: O(page bytes) per attempt, plus O(list) per removed list.
   */
  packPage(memory: Uint8Array, firstList: number, lastPage: boolean): PackPageResult {
    if (!(memory instanceof Uint8Array)) throw new TypeError('memory must be a Uint8Array');
    if (memory.length !== this.geometry.bytesPerPage) {
      throw new RangeError(`an index page is ${this.geometry.bytesPerPage} bytes, got ${memory.length}`);
    }
    const listCount = this.geometry.deltaListsPerChapter;
    if (!Number.isInteger(firstList) || firstList < 0 || firstList > listCount) {
      throw new RangeError(`first list ${firstList} is not in [0, ${listCount}]`);
    }
    const chapter = this.#virtualChapterNumber;
    let removals = 0;
    let listsPacked: number;
    try {
      for (;;) {
        listsPacked = this.deltaIndex.packPage(this.volumeNonce, memory, chapter, firstList);
        if (firstList + listsPacked === listCount) break; // All lists are packed.
        // Otherwise: nothing fits (remove the next list), or the last page must take every list
        // (remove one), or this page is simply done.
        if (listsPacked !== 0 && !lastPage) break;
        if (removals === 0) {
          const stats = this.deltaIndex.getStats();
          this.#warn(
            `The chapter index for chapter ${chapter} contains ${stats.recordCount} entries with ${stats.collisionCount} collisions`,
          );
        }
        // Find a list with entries: the first that did not fit, else the packed ones backwards.
        let listNumber = listsPacked;
        const entry = this.#entry;
        do {
          if (listNumber < 0) {
            throw new ChapterIndexError(
              'ERR_OVERFLOW',
              `chapter ${chapter}: no delta list from ${firstList} can be removed to fill the index page`,
            );
          }
          this.deltaIndex.startSearch(firstList + listNumber--, 0, entry);
          entry.next();
        } while (entry.atEnd);
        // Remove the whole list.
        do {
          entry.remove();
          removals++;
        } while (!entry.atEnd);
      }
    } catch (error) {
      if (error instanceof ChapterIndexError) throw error;
      rethrowDeltaError(error, `chapter ${chapter}, index page from list ${firstList}`);
    }
    if (removals > 0) {
      this.#warn(
        `To avoid chapter index page overflow in chapter ${chapter}, ${removals} entries were removed from the chapter index`,
      );
    }
    return { listsPacked, entriesRemoved: removals };
  }

  /**
   * Packs the whole index into `indexPagesPerChapter` pages, the last one taking every remaining list
   * (write_index_pages() of the seed's volume.c).
   *
   * @returns the pages and, per page, the first list, lists packed and last list (for a page map)
   * @throws {@link ChapterIndexError} `ERR_OVERFLOW` as {@link packPage}
   * Cost: O(index pages * page bytes).
   */
  packPages(): PackedChapterIndex {
    const { indexPagesPerChapter, bytesPerPage } = this.geometry;
    const result: PackedChapterIndex = {
      pages: [],
      firstLists: [],
      listsPacked: [],
      lastLists: [],
      entriesRemoved: 0,
    };
    let firstList = 0;
    for (let page = 0; page < indexPagesPerChapter; page++) {
      const memory = new Uint8Array(bytesPerPage);
      const { listsPacked, entriesRemoved } = this.packPage(
        memory,
        firstList,
        page + 1 === indexPagesPerChapter,
      );
      result.pages.push(memory);
      result.firstLists.push(firstList);
      result.listsPacked.push(listsPacked);
      firstList += listsPacked;
      result.lastLists.push(firstList - 1);
      result.entriesRemoved += entriesRemoved;
    }
    return result;
  }
}
