// Meta bitmaps (the 2019 seed's hbitmap_create_meta / hbitmap_free_meta): a second HBitmap over the
// same items, at a coarser granularity, in which every change of the main bitmap marks the range it
// changed, so a writer can find the chunks to write back. The marking itself stays in HBitmap's set,
// reset, allocate and truncate (one `if` on their hot paths); this file holds the rest: checking the
// chunk size, building the meta bitmap and marking the words a whole-bitmap operation (resetAll, the
// word-wise merge) changed.
//
// Beyond the seed, a meta bitmap is marked whenever a bit of its range changed: a reset that clears
// bits without emptying a word, a set that only fills partly set words, resetAll and merge all mark
// (the README lists these differences). A meta bitmap's size is the main bitmap's size rounded up to
// whole groups, which may pass 2^53 at granularities above 53: still exact (a multiple of 2^G), so
// HBitmap accepts such sizes while a meta bitmap is built or truncated (see trustingSize).

import { ctz, maskRange } from './_internal';
import { rangeError } from './errors';
import type { HBitmap } from './hbitmap';

let trusted = false;

/** @internal Whether a size past MAX_ITEMS is being given by a meta bitmap's owner (exact). */
export function sizeTrusted(): boolean {
  return trusted;
}

/** @internal Runs `build` (which sizes a meta bitmap) with sizes past MAX_ITEMS accepted. */
export function trustingSize<T>(build: () => T): T {
  trusted = true;
  try {
    return build();
  } finally {
    trusted = false;
  }
}

/**
 * @internal The granularity of a meta bitmap of `hb` with `chunkSize` bits per meta bit.
 * @throws RangeError `ERR_OUT_OF_RANGE` unless `chunkSize` is a power of two and the granularity
 *   stays at most 63
 */
export function metaGranularity(hb: HBitmap, chunkSize: number): number {
  const shift = typeof chunkSize === 'number' ? Math.log2(chunkSize) : Number.NaN;
  if (!Number.isInteger(shift) || shift < 0 || hb._granularity + shift > 63) {
    throw rangeError(
      'ERR_OUT_OF_RANGE',
      `HBitmap.createMeta: chunkSize must be a power of two up to 2^${63 - hb._granularity}, got ${String(chunkSize)}`,
    );
  }
  return hb._granularity + shift;
}

/**
 * @internal Marks in `meta` the runs of bits that `changes(w)` reports for each bottom word w of
 * `hb` (a mask of the bits of word w that change). O(words + runs).
 */
export function markWords(hb: HBitmap, meta: HBitmap, changes: (w: number) => number): void {
  const words = Math.ceil(hb._size / 32);
  const scale = hb._scale;
  for (let w = 0; w < words; w++) {
    let m = changes(w);
    while (m !== 0) {
      const lo = ctz(m);
      const rest = ~(m >>> lo);
      const len = rest === 0 ? 32 : ctz(rest);
      meta.set((w * 32 + lo) * scale, len * scale);
      m &= ~maskRange(lo, lo + len - 1);
    }
  }
}
