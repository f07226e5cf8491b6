// The sparse cache (the reference's sparse-cache.c, single-threaded): the chapters whose index pages
// are all held, most recently used last. In a sparse index the volume index knows only sampled names
// for sparse chapters; a sampled name found in a sparse chapter brings that chapter in, and a name
// the volume index does not know is looked for in the cached chapters.

import type { ChapterIndexPage } from '@deja/chapter-index';
import { type IndexGeometry, isChapterSparse, mapToPhysicalChapter } from '@deja/volume-geometry';
import { decodeIndexTable } from './_internal-index-table';
import { NEED_PAGE, type PageReader } from './_internal-page-reader';

/** Whether `chapter` is in the volume's window and sparse, with `newest` the open chapter. */
export function isSparseChapter(geometry: IndexGeometry, newest: number, chapter: number): boolean {
  const oldest = Math.max(0, newest - geometry.chaptersPerVolume + 1);
  return chapter >= oldest && isChapterSparse(geometry, oldest, newest, chapter);
}

/**
 * The chapters of the sparse cache, their index pages (null for a damaged one) and the pages'
 * decoded lists (see `decodeIndexTable`).
 */
export class SparseCache {
  readonly #reader: PageReader;
  readonly #capacity: number;
  readonly #chapters: {
    chapter: number;
    pages: (ChapterIndexPage | null)[];
    tables: (Uint32Array | null)[];
  }[] = [];

  /**
   * @param reader - the closed chapters
   * @param capacity - chapters held (the configuration's cacheChapters, at least 1)
   */
  constructor(reader: PageReader, capacity: number) {
    this.#reader = reader;
    this.#capacity = Math.max(1, capacity);
  }

  /**
   * A sampled name's chapter, when sparse, joins the sparse cache with all of its index pages
   * (uds_update_sparse_cache). The least recently used chapter leaves when the cache is full.
   */
  cacheChapter(chapter: number): null | typeof NEED_PAGE {
    const cache = this.#chapters;
    const at = cache.findIndex((entry) => entry.chapter === chapter);
    if (at >= 0) {
      cache.push(cache.splice(at, 1)[0]!);
      return null;
    }
    const reader = this.#reader;
    const g = reader.geometry;
    const physical = mapToPhysicalChapter(g, chapter);
    if (reader.slotChapter[physical] !== chapter) return null;
    const pages: (ChapterIndexPage | null)[] = [];
    const tables: (Uint32Array | null)[] = [];
    for (let p = 0; p < g.indexPagesPerChapter; p++) {
      const page = reader.indexPage(physical, p, chapter);
      if (page === NEED_PAGE) return NEED_PAGE;
      pages.push(page);
      // A page read for this request comes without its table: decode it now, since every name the
      // volume index does not know searches the chapters of the sparse cache.
      tables.push(page === null ? null : (reader.indexTable ?? decodeIndexTable(page, g)));
    }
    if (cache.length >= this.#capacity) cache.shift();
    cache.push({ chapter, pages, tables });
    return null;
  }

  /**
   * Search the cached chapters, newest first, for a name the volume index does not know
   * (uds_search_sparse_cache); chapters that left the window or their slot are dropped.
   * @param newest - the open chapter
   * @returns whether it was found (its metadata in `out`), or NEED_PAGE
   */
  search(name: Uint8Array, newest: number, out: Uint8Array): boolean | typeof NEED_PAGE {
    const cache = this.#chapters;
    const reader = this.#reader;
    const g = reader.geometry;
    const oldest = Math.max(0, newest - g.chaptersPerVolume + 1);
    for (let i = cache.length - 1; i >= 0; i--) {
      const { chapter, pages, tables } = cache[i]!;
      const physical = mapToPhysicalChapter(g, chapter);
      if (chapter < oldest || reader.slotChapter[physical] !== chapter) {
        cache.splice(i, 1);
        continue;
      }
      const p = reader.indexPageFor(name, physical);
      const page = pages[p];
      if (page === null || page === undefined) continue;
      const result = reader.searchWithIndexPage(name, page, physical, chapter, out, tables[p] ?? null);
      if (result !== false) return result;
    }
    return false;
  }
}
