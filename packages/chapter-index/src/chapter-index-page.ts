// A closed chapter's index page (the seed's chapter index page, a struct delta_index_page): an
// immutable, validated view of one page of packed delta lists, searched in place for a name's
// record page. Opening checks the header (nonce, offsets, guard bytes); validate() also walks
// every entry, as a rebuild does, and checks the record page numbers.

import { DeltaIndexEntry, DeltaIndexPage } from '@deja/delta-index';
import type { IndexGeometry } from '@deja/volume-geometry';
import { rethrowDeltaError } from './_wrap';
import { ChapterIndexError } from './errors';
import { chapterDeltaAddressOf, chapterDeltaListOf, checkName } from './record-name';

/**
 * One index page of a closed chapter.
 *
 * @example
 * ```ts
 * const page = ChapterIndexPage.open(bytes, geometry, volumeNonce);
 * page.search(name); // the record page that may hold the name, or undefined
 * ```
 */
export class ChapterIndexPage {
  /** The geometry of the volume the page belongs to. */
  readonly geometry: IndexGeometry;
  /** The validated delta index page. */
  readonly page: DeltaIndexPage;

  private constructor(geometry: IndexGeometry, page: DeltaIndexPage) {
    this.geometry = geometry;
    this.page = page;
  }

  /**
   * Validates page bytes and opens them for searching (uds_initialize_chapter_index_page()). The
   * bytes are not copied: do not change them while the page is in use.
   *
   * @param memory - the page, `bytesPerPage` bytes
   * @param geometry - the index geometry
   * @param volumeNonce - the nonce the page must carry (u64)
   * @returns the page
   * @throws RangeError for a buffer of the wrong size
   * @throws {@link ChapterIndexError} `ERR_CORRUPT_DATA` if the nonce, offsets or guard bytes are wrong
   * Cost: O(lists on the page).
   */
  static open(memory: Uint8Array, geometry: IndexGeometry, volumeNonce: bigint | number): ChapterIndexPage {
    if (!(memory instanceof Uint8Array)) throw new TypeError('memory must be a Uint8Array');
    if (memory.length !== geometry.bytesPerPage) {
      throw new RangeError(`an index page is ${geometry.bytesPerPage} bytes, got ${memory.length}`);
    }
    let page: DeltaIndexPage;
    try {
      page = DeltaIndexPage.open(memory, volumeNonce, geometry.chapterMeanDelta, geometry.chapterPayloadBits);
    } catch (error) {
      rethrowDeltaError(error, 'chapter index page');
    }
    if (page.highestListNumber >= geometry.deltaListsPerChapter) {
      throw new ChapterIndexError(
        'ERR_CORRUPT_DATA',
        `chapter index page holds lists ${page.lowestListNumber}..${page.highestListNumber}, beyond the ${geometry.deltaListsPerChapter} lists of a chapter`,
      );
    }
    return new ChapterIndexPage(geometry, page);
  }

  /** The virtual chapter number in the page header. */
  get virtualChapterNumber(): bigint {
    return this.page.virtualChapterNumber;
  }

  /** The first delta list on the page. */
  get lowestListNumber(): number {
    return this.page.lowestListNumber;
  }

  /** The last delta list on the page (lowest - 1 when the page holds none). */
  get highestListNumber(): number {
    return this.page.highestListNumber;
  }

  /**
   * Whether a name's delta list is on this page.
   * @param name - the 16-byte record name
   * @returns true if its list is in [lowestListNumber, highestListNumber]. O(1).
   */
  covers(name: Uint8Array): boolean {
    checkName(name);
    const list = chapterDeltaListOf(name, this.geometry);
    return list >= this.page.lowestListNumber && list <= this.page.highestListNumber;
  }

  /**
   * The record page that may hold `name` (uds_search_chapter_index_page()). The answer is a hint:
   * another name with the same address maps to the same page.
   *
   * @param name - the 16-byte record name; its delta list must be on this page
   * @returns the record page number, or undefined for "no entry" (the C code's 65535)
   * @throws TypeError / RangeError for a bad name, or one whose list is not on this page
   * @throws {@link ChapterIndexError} `ERR_CORRUPT_DATA` if the list cannot be decoded
   * Cost: O(entries before the name's address in its list), about 32.
   */
  search(name: Uint8Array): number | undefined {
    checkName(name);
    const list = chapterDeltaListOf(name, this.geometry);
    const { lowestListNumber, highestListNumber } = this.page;
    if (list < lowestListNumber || list > highestListNumber) {
      throw new RangeError(
        `delta list ${list} is not on this page (lists ${lowestListNumber}..${highestListNumber})`,
      );
    }
    const address = chapterDeltaAddressOf(name, this.geometry);
    try {
      return this.page.get(list - lowestListNumber, address, name);
    } catch (error) {
      rethrowDeltaError(error, `chapter index page, delta list ${list}`);
    }
  }

  /**
   * Walks every entry of every list and checks that each record page number is below
   * recordPagesPerChapter (uds_validate_chapter_index_page(), used by rebuild). A page of random
   * bytes that passed {@link open} almost always fails here.
   *
   * @throws {@link ChapterIndexError} `ERR_CORRUPT_DATA` naming the list and entry that is wrong
   * Cost: O(entries on the page).
   */
  validate(): void {
    const { listCount, lowestListNumber } = this.page;
    const recordPages = this.geometry.recordPagesPerChapter;
    const entry = new DeltaIndexEntry();
    for (let i = 0; i < listCount; i++) {
      let n = 0;
      try {
        this.page.startSearch(i, 0, entry);
        for (;;) {
          entry.next();
          if (entry.atEnd) break;
          n++;
          const value = entry.value;
          if (value >= recordPages) {
            throw new ChapterIndexError(
              'ERR_CORRUPT_DATA',
              `delta list ${lowestListNumber + i}, entry ${n}: record page ${value} is not below ${recordPages}`,
            );
          }
        }
      } catch (error) {
        if (error instanceof ChapterIndexError) throw error;
        rethrowDeltaError(error, `chapter index page, delta list ${lowestListNumber + i}, entry ${n}`);
      }
    }
  }
}
