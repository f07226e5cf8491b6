// Record pages (the reference volume.c's encode_record_page / search_record_page, not in the seeds):
// the records of one page of a closed chapter, sorted by name so that a lookup is a binary search.
//
// Format (this port's; the reference lays the sorted records out as an implicit search tree and
// fills unused places with copies of a live record): `count` records of 32 bytes (16-byte name, then
// 16 bytes of metadata) in ascending byte order of the name, then zero bytes to the end of the page.
// The count and a CRC-32 of the page live in the chapter's seal (chapter-seal.ts), so a page is only
// searched once its checksum matched, and only its first `count` records are.

import { RECORD_NAME_SIZE, RECORD_SIZE } from '@deja/chapter-index';

/** Compare the 16-byte name at `a` of `x` with the one at `b` of `y`: <0, 0 or >0. */
function compareNames(x: Uint8Array, a: number, y: Uint8Array, b: number, length = RECORD_NAME_SIZE): number {
  for (let i = 0; i < length; i++) {
    const d = x[a + i]! - y[b + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function key32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/**
 * The first four bytes of a name (or of the record at the start of `bytes`) as a big-endian
 * unsigned integer: the order records are sorted in, to interpolate a name's place. O(1).
 * @param bytes - at least 4 bytes
 * @returns an integer in [0, 2^32)
 */
export function nameKey(bytes: Uint8Array): number {
  return key32(bytes, 0);
}

/** {@link searchRecordWindow}'s answer when the window cannot tell: the whole page is needed. */
export const WINDOW_MISSED = -2;

/** Most records a bucket of {@link sortRecords} may hold before the sort falls back to a comparison sort. */
const BUCKET_LIMIT = 64;

/**
 * The order of `count` records by name (the indexes into `sourceOffsets`). Names are hashes, so a
 * bucket sort on the top bits of their first four bytes leaves about one record a bucket, and an
 * insertion sort of each bucket finishes; names that crowd a bucket (not hashes) take a comparison
 * sort instead. O(count) for hashes.
 */
function sortRecords(source: Uint8Array, sourceOffsets: Uint32Array, count: number): Uint32Array {
  const bits = Math.max(1, Math.min(16, 32 - Math.clz32(count)));
  const shift = 32 - bits;
  const starts = new Uint32Array((1 << bits) + 1);
  const words = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const word = key32(source, sourceOffsets[i]!);
    words[i] = word;
    starts[(word >>> shift) + 1]!++;
  }
  let crowded = false;
  for (let b = 1; b < starts.length; b++) {
    if (starts[b]! > BUCKET_LIMIT) crowded = true;
    starts[b]! += starts[b - 1]!;
  }
  if (crowded) return sortByKeys(source, sourceOffsets, count);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[starts[words[i]! >>> shift]!++] = i;
  // Buckets are in place, each in record order: an insertion sort on (first word, name) ends it.
  for (let i = 1; i < count; i++) {
    const current = order[i]!;
    const word = words[current]!;
    let j = i - 1;
    while (j >= 0) {
      const other = order[j]!;
      const w = words[other]!;
      if (w < word) break;
      if (w === word && compareNames(source, sourceOffsets[other]!, source, sourceOffsets[current]!) < 0)
        break;
      order[j + 1] = other;
      j--;
    }
    order[j + 1] = current;
  }
  return order;
}

/** {@link sortRecords} by a comparison sort: for names that are not hashes. O(count log count). */
function sortByKeys(source: Uint8Array, sourceOffsets: Uint32Array, count: number): Uint32Array {
  // Sort on (first four name bytes, record index) packed in a double: exact below 2^53 for
  // count < 2^21, and a typed-array sort needs no comparator.
  const keys = new Float64Array(count);
  for (let i = 0; i < count; i++) keys[i] = key32(source, sourceOffsets[i]!) * 0x20_0000 + i;
  keys.sort();
  // Split each key back into its word and its index: the division by 2^21 is exact, and avoids a
  // `%` of a double (a call into the runtime, 64 per chapter page).
  const order = new Uint32Array(count);
  const words = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const word = Math.floor(keys[i]! / 0x20_0000);
    words[i] = word;
    order[i] = keys[i]! - word * 0x20_0000;
  }
  // Equal first words are rare; order each such run by the whole name (insertion sort).
  for (let i = 1; i < count; i++) {
    const current = order[i]!;
    let j = i - 1;
    while (
      j >= 0 &&
      words[j] === words[i] &&
      compareNames(source, sourceOffsets[order[j]!]!, source, sourceOffsets[current]!) > 0
    ) {
      order[j + 1] = order[j]!;
      j--;
    }
    order[j + 1] = current;
  }
  return order;
}

/**
 * Sort `count` records held back to back in `source` (32 bytes each, starting at `sourceOffsets[i]`)
 * by name into `page` from byte 0; the rest of the page is zeroed. O(count) for names that are
 * hashes, O(count log count) for most others.
 *
 * @param page - the page buffer, at least count * 32 bytes
 * @param source - the bytes holding the records
 * @param sourceOffsets - the byte offset of each record in `source`
 * @param count - how many records
 */
export function encodeRecordPage(
  page: Uint8Array,
  source: Uint8Array,
  sourceOffsets: Uint32Array,
  count: number,
): void {
  const order = sortRecords(source, sourceOffsets, count);
  page.fill(0);
  if (page.byteOffset % 4 === 0 && source.byteOffset % 4 === 0) {
    // Whole 32-bit words when both arrays allow it (the usual case: a record is 8 words at a
    // multiple of 32 bytes); a subarray per record would cost an allocation each.
    const to = new Uint32Array(page.buffer, page.byteOffset, Math.floor(page.length / 4));
    const from = new Uint32Array(source.buffer, source.byteOffset, Math.floor(source.length / 4));
    const words = RECORD_SIZE / 4;
    for (let i = 0; i < count; i++) {
      const offset = sourceOffsets[order[i]!]!;
      if (offset % 4 !== 0) {
        copyRecord(page, i * RECORD_SIZE, source, offset);
        continue;
      }
      const src = offset / 4;
      const dst = i * words;
      for (let w = 0; w < words; w++) to[dst + w] = from[src + w]!;
    }
    return;
  }
  for (let i = 0; i < count; i++) copyRecord(page, i * RECORD_SIZE, source, sourceOffsets[order[i]!]!);
}

/** Copy the 32-byte record at `from` of `source` to `at` of `page`. */
function copyRecord(page: Uint8Array, at: number, source: Uint8Array, from: number): void {
  for (let b = 0; b < RECORD_SIZE; b++) page[at + b] = source[from + b]!;
}

/** Records per entry of a record page summary: one key per 512 bytes of records. */
export const SUMMARY_STRIDE = 16;

/**
 * A summary of a sorted record page for {@link searchRecordPage}: the first four name bytes
 * (big-endian) of every {@link SUMMARY_STRIDE}th record. A page of 1024 records gets 64 keys (256
 * bytes), which stay in the cache where the page does not: a search then reads the summary and one
 * run of about 16 records, instead of 10 bisection probes spread over 32 KiB (each a cache miss,
 * the first ones TLB misses too, once thousands of pages are cached). Memory only, not stored.
 * O(count / 16).
 * @param page - a record page (sorted, see {@link encodeRecordPage})
 * @param count - the records on the page
 * @returns the keys
 */
export function summarizeRecordPage(page: Uint8Array, count: number): Uint32Array {
  const summary = new Uint32Array(Math.ceil(count / SUMMARY_STRIDE));
  for (let b = 0; b < summary.length; b++) summary[b] = key32(page, b * SUMMARY_STRIDE * RECORD_SIZE);
  return summary;
}

/**
 * Find a name on a record page (search_record_page): a binary search over the first `count` records,
 * or with the page's summary ({@link summarizeRecordPage}) over the records the summary leaves.
 *
 * @param page - the page bytes
 * @param count - the records on the page
 * @param name - the 16-byte name
 * @param summary - the page's summary, or null
 * @returns the byte offset of the record's metadata, or -1. O(log count).
 */
export function searchRecordPage(
  page: Uint8Array,
  count: number,
  name: Uint8Array,
  summary: Uint32Array | null = null,
): number {
  const want = key32(name, 0);
  if (summary !== null) return searchSummarized(page, count, name, want, summary);
  return bisect(page, 0, count - 1, name, want);
}

/** A binary search of records lo..hi for `name` (its first four bytes `want`). */
function bisect(page: Uint8Array, first: number, last: number, name: Uint8Array, want: number): number {
  let lo = first;
  let hi = last;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const at = mid * RECORD_SIZE;
    const d = compareRecord(page, at, name, want);
    if (d === 0) return at + RECORD_NAME_SIZE;
    if (d < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The record at `at` against `name` (whose first four bytes are `want`): <0, 0 or >0. */
function compareRecord(page: Uint8Array, at: number, name: Uint8Array, want: number): number {
  const have = key32(page, at);
  if (have !== want) return have < want ? -1 : 1;
  return compareNames(page, at + 4, name, 4, RECORD_NAME_SIZE - 4);
}

/**
 * {@link searchRecordPage} with the page's summary. Keys never decrease along the page. The first
 * summary key >= want: every record before the summary entry ahead of it has a smaller key. The
 * first summary key > want: every record from there on has a greater one. The name lies between, in
 * a run of about 16 records whose bounding keys the summary holds: the search starts at the place
 * interpolated between them (names are hashes) and steps towards the name, which touches one or two
 * cache lines of the page where a bisection of the run touches four.
 */
function searchSummarized(
  page: Uint8Array,
  count: number,
  name: Uint8Array,
  want: number,
  summary: Uint32Array,
): number {
  let l = 0;
  let h = summary.length;
  while (l < h) {
    const m = (l + h) >>> 1;
    if (summary[m]! < want) l = m + 1;
    else h = m;
  }
  let e = l;
  while (e < summary.length && summary[e] === want) e++;
  const lo = l > 0 ? (l - 1) * SUMMARY_STRIDE : 0;
  const hi = Math.min(count, e * SUMMARY_STRIDE) - 1;
  if (lo > hi) return -1;
  // A longer run (summary keys equal to the name's: names that are not hashes) is bisected.
  if (hi - lo >= 2 * SUMMARY_STRIDE) return bisect(page, lo, hi, name, want);
  // Keys of the records at lo (or 0) and past hi (or 2^32): the interpolation's ends.
  const low = l > 0 ? summary[l - 1]! : 0;
  const high = e < summary.length ? summary[e]! : 0x1_0000_0000;
  let i = lo + Math.floor(((want - low) / (high - low + 1)) * (hi - lo + 1));
  if (i > hi) i = hi;
  let at = i * RECORD_SIZE;
  const d = compareRecord(page, at, name, want);
  if (d === 0) return at + RECORD_NAME_SIZE;
  if (d < 0) {
    for (i++; i <= hi; i++) {
      at = i * RECORD_SIZE;
      const next = compareRecord(page, at, name, want);
      if (next === 0) return at + RECORD_NAME_SIZE;
      if (next > 0) return -1;
    }
    return -1;
  }
  for (i--; i >= lo; i--) {
    at = i * RECORD_SIZE;
    const next = compareRecord(page, at, name, want);
    if (next === 0) return at + RECORD_NAME_SIZE;
    if (next < 0) return -1;
  }
  return -1;
}

/**
 * Check that the first `count` records of a page are in strictly ascending name order (a page that
 * passed its checksum but was written by a broken writer). O(count).
 * @returns the first record out of order, or -1
 */
export function checkRecordPageOrder(page: Uint8Array, count: number): number {
  for (let i = 1; i < count; i++) {
    if (compareNames(page, (i - 1) * RECORD_SIZE, page, i * RECORD_SIZE) >= 0) return i;
  }
  return -1;
}

/**
 * Find a name in a window of a record page: `window` holds records `first`.. of a page of `count`
 * sorted records (min(128, count) of them, or fewer if the bytes are shorter). The answer is exact
 * when the window brackets the name (its first record is the page's first or sorts at or before
 * the name, its last is the page's last or sorts at or after it); otherwise the name could lie
 * outside and the answer is WINDOW_MISSED.
 *
 * @param window - the window's bytes, whole records
 * @param first - the page index of the window's first record
 * @param count - the records on the page
 * @param name - the 16-byte name
 * @param length - the records the window holds (default: as many as its bytes hold)
 * @returns the byte offset in `window` of the record's metadata, -1 if absent, or WINDOW_MISSED.
 *   O(log window).
 */
export function searchRecordWindow(
  window: Uint8Array,
  first: number,
  count: number,
  name: Uint8Array,
  length = Math.floor(window.length / RECORD_SIZE),
): number {
  const records = Math.min(length, count - first);
  if (records <= 0) return WINDOW_MISSED;
  if (first > 0 && compareNames(window, 0, name, 0) > 0) return WINDOW_MISSED;
  const last = (records - 1) * RECORD_SIZE;
  if (first + records < count && compareNames(window, last, name, 0) < 0) return WINDOW_MISSED;
  return searchRecordPage(window, records, name);
}

/**
 * The records of a page that can hold `name`, from the page's summary ({@link summarizeRecordPage}):
 * the run before the first summary key not below the name's first four bytes, the runs whose key
 * equals them, and the record after those (the next run's first), so that
 * {@link searchRecordWindow} over just these records tells an absent name from one outside them
 * (it never answers WINDOW_MISSED for them). For hashes, 17 records of a run of 16: what a window
 * read of a page that is not cached but whose summary is still known needs. O(log summary).
 *
 * @param summary - the page's summary, or an array holding it at `at`
 * @param count - the records on the page
 * @param name - the 16-byte name
 * @param out - receives the first record's index (out[0]) and the number of records (out[1])
 * @param at - where the summary starts in `summary`
 */
export function summaryWindow(
  summary: Uint32Array,
  count: number,
  name: Uint8Array,
  out: Int32Array,
  at = 0,
): void {
  const want = key32(name, 0);
  const keys = Math.ceil(count / SUMMARY_STRIDE);
  let l = 0;
  let h = keys;
  while (l < h) {
    const m = (l + h) >>> 1;
    if (summary[at + m]! < want) l = m + 1;
    else h = m;
  }
  let e = l;
  while (e < keys && summary[at + e] === want) e++;
  const first = l > 0 ? (l - 1) * SUMMARY_STRIDE : 0;
  out[0] = first;
  out[1] = Math.min(count, e * SUMMARY_STRIDE + 1) - first;
}
