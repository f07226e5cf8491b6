// HBitmapIter: QEMU's HBitmapIter, the iterator over the set items of an HBitmap. It keeps one word
// per level (the "currently active path in the tree": the subtrees still to visit under each node)
// and the position of the bottom word in use. Each step ANDs its saved word with the live word, so
// bits reset behind its back are never returned (QEMU's rule: concurrent resets are safe, concurrent
// sets may be missed, ahead of the iterator as well as behind it). When the bitmap is truncated
// between two calls, the iterator notices the new layout (a generation number) and restarts from
// where it stood, so it never reads stale arrays. Where it stood is a bottom bit that survives any
// number of truncates: an iterator whose position lies past the end (after a shrink, or made on an
// empty bitmap) keeps that position, not the end, so a later grow neither repeats items it returned
// nor skips the ones it had not reached.

import { ctz, SENTINEL, wordOf } from './_internal';
import { rangeError } from './errors';
import type { HBitmap } from './hbitmap';

/**
 * Iterator over the set items of an {@link HBitmap}, from a first item up (QEMU `HBitmapIter`).
 * With a granularity G, each set bit is visited once, as the first item of its group of 2^G items.
 *
 * @example
 * ```ts
 * const it = new HBitmapIter(hb, 0);
 * for (let item = it.next(); item >= 0; item = it.next()) console.log(item);
 * ```
 */
export class HBitmapIter {
  /** The bitmap iterated over. */
  readonly hb: HBitmap;
  /**
   * Bits of the bottom word returned by the last {@link HBitmapIter.nextWord} call, as an unsigned
   * 32-bit number (bit k is group `32 * index + k`).
   */
  word = 0;
  /** @internal Index of the bottom-level word in use. */
  _pos = 0;
  /** @internal Per upper level (0 = top), the bits of the current word still to visit. */
  _cur: Int32Array;
  /** @internal The bits of bottom word _pos still to visit (QEMU cur[HBITMAP_LEVELS - 1]). */
  _bits = 0;
  /** @internal The bitmap's layout generation this iterator was set up for. */
  _gen = 0;
  /**
   * @internal The bottom bit to restart from after the next truncate when the iterator was set up
   * past the end of the bitmap (its other state then only says "exhausted"); -1 otherwise.
   */
  _resume = -1;
  /** @internal The bitmap's bottom level and scale, cached for the hot path of next(). */
  _bottom: Int32Array;
  /** @internal The bitmap's level above the bottom, cached for nextWord()'s step. */
  _above: Int32Array;
  /** @internal 2^granularity. */
  _scale: number;

  /**
   * Sets up iteration from `first` (QEMU `hbitmap_iter_init`). O(levels).
   *
   * @param hb - the bitmap
   * @param first - the first item to visit: an integer below the bitmap's size rounded up to whole
   *   groups (0 is always accepted; on an empty-sized bitmap the iterator is simply exhausted)
   * @throws RangeError `ERR_OUT_OF_RANGE` if `first` is not such an integer
   */
  constructor(hb: HBitmap, first = 0) {
    this.hb = hb;
    this._cur = new Int32Array(hb._levels.length);
    this._bottom = hb._bottom;
    this._above = hb._above;
    this._scale = hb._scale;
    const pos = typeof first === 'number' && first >= 0 ? Math.floor(first * hb._inv) : -1;
    if (pos < 0 || Math.floor(first) !== first || (pos >= hb._size && first !== 0)) {
      throw rangeError(
        'ERR_OUT_OF_RANGE',
        `HBitmapIter: first must be an integer in 0..${hb._limit - 1}, got ${String(first)}`,
      );
    }
    if (hb._pending) hb.deserializeFinish();
    this._init(pos);
  }

  /** @internal Points the iterator at bottom bit `pos` of the current layout. */
  _init(pos: number): void {
    const hb = this.hb;
    const levels = hb._levels;
    const n = levels.length;
    if (this._cur.length !== n) this._cur = new Int32Array(n);
    const cur = this._cur;
    this._gen = hb._gen;
    this._bottom = hb._bottom;
    this._above = hb._above;
    if (pos >= hb._size) {
      // Exhausted: only the sentinel remains, so the next step reports the end. Keep the position
      // itself for a relayout: the bitmap may grow past it again.
      cur.fill(0);
      cur[0] = SENTINEL;
      this._pos = 0;
      this._bits = 0;
      this._resume = pos;
      return;
    }
    this._resume = -1;
    this._pos = wordOf(pos);
    // Drop bits representing items before first.
    this._bits = levels[n - 1]![this._pos]! & (-1 << (pos & 31));
    pos = this._pos;
    for (let i = n - 2; i >= 0; i--) {
      const bit = pos & 31;
      pos >>>= 5;
      // The bit of the path itself has already been expanded into the level below: drop it too.
      cur[i] = levels[i]![pos]! & (-1 << bit) & ~(1 << bit);
    }
  }

  /**
   * @internal Restarts after a truncate changed the bitmap's layout, from the next bit still to
   * visit in the current word, or the start of the next word, or the position kept by an iterator
   * set up past the end. The position is not clamped to the new size: _init keeps it when it lies
   * past the end, so that a later grow resumes there (clamping lost it: the exhausted state then
   * restarted at bit 32).
   */
  _relayout(): void {
    const bits = this._bits;
    const resume =
      this._resume >= 0 ? this._resume : bits !== 0 ? this._pos * 32 + ctz(bits) : (this._pos + 1) * 32;
    this._init(resume);
  }

  /**
   * Advances to the next nonzero bottom word and returns it, or 0 at the end (QEMU
   * `hbitmap_iter_skip_words`). Climbs until a level has a pending bit (the sentinel in the top word
   * stops the climb without a bounds check), then descends along the lowest pending bits.
   *
   * @internal
   */
  _skipWords(): number {
    const levels = this.hb._levels;
    const cur = this._cur;
    const n = cur.length;
    let pos = this._pos;
    let i = n - 1;
    let c: number;
    do {
      i--;
      pos >>>= 5;
      c = cur[i]! & levels[i]![pos]!;
    } while (c === 0);
    // Only the sentinel left in the top word: the end.
    if (i === 0 && c === SENTINEL) return 0;
    for (; i < n - 1; i++) {
      // Shift pos back down; the lowest pending bit gives the low-order bits.
      pos = pos * 32 + ctz(c);
      cur[i] = c & (c - 1);
      c = levels[i + 1]![pos]!;
    }
    this._pos = pos;
    this._bits = c;
    return c;
  }

  /**
   * {@link HBitmapIter._skipWords} for nextWord(), common case first: the next bit of the current
   * word of the level above the bottom (one load there, one in the bottom, no loop over the levels;
   * with more than two levels, that word is never the top one and its sentinel). next() keeps calling
   * _skipWords, as does nextBatch(): inlined into next() the larger step made it 1.12x slower
   * (bench/profile.ts iter).
   *
   * @internal
   */
  _skipWordsNear(): number {
    const cur = this._cur;
    const n = cur.length;
    if (n > 2) {
      const p = this._pos >>> 5;
      const c = cur[n - 2]! & this._above[p]!;
      if (c !== 0) {
        const pos = p * 32 + ctz(c);
        cur[n - 2] = c & (c - 1);
        const w = this._bottom[pos]!;
        this._pos = pos;
        this._bits = w;
        return w;
      }
    }
    return this._skipWords();
  }

  /**
   * Returns the next set item and, with `advance`, moves past it (QEMU `hbitmap_iter_next`; the
   * `advance` flag is the seed's, later QEMU always advances). Amortized O(1), worst case O(levels).
   *
   * @param advance - false to return the same item again on the next call
   * @returns the first item of the next set group, or -1 when none is left
   */
  next(advance = true): number {
    if (this.hb._gen !== this._gen) this._relayout();
    // Re-check the live word: bits reset since the last call are dropped.
    let c = this._bits & this._bottom[this._pos]!;
    if (c === 0) {
      c = this._skipWords();
      if (c === 0) return -1;
    }
    this._bits = advance ? c & (c - 1) : c;
    return (this._pos * 32 + 31 - Math.clz32(c & -c)) * this._scale;
  }

  /**
   * Writes the next set items into `out`, in order, and returns how many it wrote: `out.length`
   * unless the iteration ends first (0 once it has ended). The same walk as {@link HBitmapIter.next},
   * without a call per item: the fast way to visit dense bitmaps. O(1) amortized per item.
   *
   * @param out - where to write items; reuse one buffer across calls
   * @returns the number of items written
   */
  nextBatch(out: Float64Array | number[]): number {
    if (this.hb._gen !== this._gen) this._relayout();
    const b = this._bottom;
    const scale = this._scale;
    const cap = out.length;
    let n = 0;
    while (n < cap) {
      let c = this._bits & b[this._pos]!;
      if (c === 0) {
        c = this._skipWords();
        if (c === 0) break;
      }
      const base = this._pos * 32;
      if (c === -1 && n + 32 <= cap) {
        // A full word: 32 consecutive groups.
        for (let k = 0; k < 32; k++) out[n + k] = (base + k) * scale;
        n += 32;
        this._bits = 0;
        continue;
      }
      while (c !== 0 && n < cap) {
        out[n++] = (base + 31 - Math.clz32(c & -c)) * scale;
        c &= c - 1;
      }
      this._bits = c;
    }
    return n;
  }

  /**
   * Returns the index of the next nonzero bottom word and stores its remaining bits in
   * {@link HBitmapIter.word} (QEMU `hbitmap_iter_next_word`; words here are 32 bits, so index k
   * covers groups 32k..32k+31). Bits before `first` are trimmed on the first call. O(1) amortized.
   *
   * @returns the word index, or -1 (with `word` = 0) when all remaining words are zero
   */
  nextWord(): number {
    if (this.hb._gen !== this._gen) this._relayout();
    let c = this._bits & this._bottom[this._pos]!;
    if (c === 0) {
      c = this._skipWordsNear();
      if (c === 0) {
        this.word = 0;
        return -1;
      }
    }
    this._bits = 0;
    this.word = c >>> 0;
    return this._pos;
  }
}
