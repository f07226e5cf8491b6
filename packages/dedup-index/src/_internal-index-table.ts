// A chapter index page's delta lists decoded once, on the page's second use from the page cache
// (or when its chapter joins the sparse cache), so that a search bisects a short run of integers
// instead of walking the list's Huffman-coded deltas from its start (about 32 entries a search in
// the 0.25 GB configuration, each a variable-length decode: a third of the time of a query whose
// pages are cached). The table is memory only: the page and
// its format are unchanged, and every answer is the one the page gives. A key that the list holds
// more than once (a collision entry follows it) is left to the page, which resolves it by name.

import { type ChapterIndexPage, chapterDeltaAddressOf } from '@deja/chapter-index';
import { DeltaIndexEntry } from '@deja/delta-index';
import type { IndexGeometry } from '@deja/volume-geometry';

/**
 * The table of a page that has none (its key and payload do not fit 32 bits, or a list does not
 * decode): empty, so that a cache can tell "not decoded yet" (null) from "cannot be".
 */
export const NO_TABLE = new Uint32Array(0);

/** {@link searchIndexTable}'s answer for a key the list holds more than once: ask the page. */
export const TABLE_AMBIGUOUS = -2;

// Decoding scratch, grown on demand and reused: a table is copied out of it at its exact size.
let scratch = new Uint32Array(16_384);
const cursor = new DeltaIndexEntry();

/** Words of a table before its list starts: the page's first list and its list count. */
const HEADER = 2;

/**
 * Decode every list of a chapter index page into one table: word 0 is the page's first list, word 1
 * its list count, the next listCount + 1 words where each list's entries start (the last one where
 * they end), then each entry as `key * 2^payloadBits + value`, lists in page order, keys ascending
 * within a list as the deltas leave them. A search then reads the table only, not the page object.
 * O(entries).
 *
 * @param page - an opened chapter index page
 * @param geometry - its geometry (the key and payload widths)
 * @returns the table, or {@link NO_TABLE} when a key and a payload do not fit 32 bits together, or a
 *   list does not decode (its searches then go to the page, which reports the damage as it always has)
 */
export function decodeIndexTable(page: ChapterIndexPage, geometry: IndexGeometry): Uint32Array {
  const payloadBits = geometry.chapterPayloadBits;
  const addressBits = geometry.chapterAddressBits;
  if (addressBits + payloadBits > 32) return NO_TABLE;
  const keyLimit = 2 ** addressBits;
  const scale = 2 ** payloadBits;
  const inner = page.page;
  const lists = inner.listCount;
  let out = scratch;
  let n = HEADER + lists + 1;
  if (out.length < n) out = new Uint32Array(n * 2);
  out[0] = inner.lowestListNumber;
  out[1] = lists;
  try {
    for (let i = 0; i < lists; i++) {
      out[HEADER + i] = n;
      inner.startSearch(i, 0, cursor);
      for (;;) {
        cursor.next();
        if (cursor.atEnd) break;
        const key = cursor.key;
        if (key >= keyLimit) return NO_TABLE;
        if (n === out.length) {
          const grown = new Uint32Array(out.length * 2);
          grown.set(out);
          out = grown;
        }
        out[n++] = key * scale + cursor.value;
      }
    }
  } catch {
    return NO_TABLE;
  } finally {
    scratch = out;
  }
  out[HEADER + lists] = n;
  return out.slice(0, n);
}

/**
 * The value (record page number) of `address` in list `list` (of the chapter) of a table from
 * {@link decodeIndexTable}: what `ChapterIndexPage.search` answers for a name with that list and
 * address, unless the address is held more than once. O(log entries of the list).
 *
 * @returns the value; -1 when the list is not on the page or has no entry with the address; or
 *   {@link TABLE_AMBIGUOUS}
 */
export function searchIndexTable(
  table: Uint32Array,
  list: number,
  address: number,
  payloadBits: number,
): number {
  const relative = list - table[0]!;
  if (relative < 0 || relative >= table[1]!) return -1;
  const scale = 2 ** payloadBits;
  const target = address * scale;
  let lo = table[HEADER + relative]!;
  const end = table[HEADER + relative + 1]!;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (table[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  if (lo === end) return -1;
  const value = table[lo]! - target;
  if (value >= scale) return -1;
  if (lo + 1 < end && table[lo + 1]! - target < scale) return TABLE_AMBIGUOUS;
  return value;
}

/**
 * The record page that may hold `name` on an index page, from the page's table when it has one
 * (`table` non-empty) and the table can tell, else from the page (`ChapterIndexPage.search`).
 * O(log entries of the list).
 *
 * @param page - the chapter index page
 * @param table - its table from {@link decodeIndexTable}, or null / {@link NO_TABLE}
 * @param name - the 16-byte record name
 * @param list - the name's chapter delta list (`chapterDeltaListOf`)
 * @param geometry - the index geometry
 * @returns the record page number, or -1 when the name's list is not on the page or the page has no
 *   entry for it
 * @throws as `ChapterIndexPage.search`, when the page is asked
 */
export function searchIndexPage(
  page: ChapterIndexPage,
  table: Uint32Array | null,
  name: Uint8Array,
  list: number,
  geometry: IndexGeometry,
): number {
  if (table !== null && table.length > 0) {
    const value = searchIndexTable(
      table,
      list,
      chapterDeltaAddressOf(name, geometry),
      geometry.chapterPayloadBits,
    );
    if (value !== TABLE_AMBIGUOUS) return value;
  } else if (list < page.lowestListNumber || list > page.highestListNumber) {
    return -1;
  }
  return page.search(name) ?? -1;
}
