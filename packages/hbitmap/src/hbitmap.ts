// HBitmap: a port of QEMU's hierarchical bitmap (util/hbitmap.c, Paolo Bonzini, Red Hat 2012, with
// the additions up to QEMU 7.2 and the meta bitmaps of the 2019 seed).
//
// The bits live in the bottom level, an array of 32-bit words. Above it sit progressively coarser
// levels: bit j of a level is set iff word j of the level below is nonzero, up to a single top word
// whose bit 31 is a sentinel that stops iteration. Finding the next set bit climbs only until a level
// has a set bit after the current path and descends along lowest set bits: O(levels), and iteration
// over m set bits costs O(m) amortized. Setting or resetting m bits costs O(m/32 + levels).
//
// Beyond QEMU, a second tree answers "next zero" in O(levels) instead of a word scan whose cost grows
// with the length of a fully set run: bit j of full[k] is set iff word j of the level below (the
// bottom for the lowest full level, else the next full level) is all ones. Bits of full[] that stand
// for words that do not exist are set ("full"), so a search never descends into them. Both trees are
// maintained incrementally by set and reset and rebuilt in O(n/32) by deserializeFinish, truncate and
// merge.
//
// Granularity G: each bottom bit stands for an aligned group of 2^G items. Ranges round outward to
// whole groups; iteration returns the first item of each group; count() counts items (bits << G).
// Positions are plain numbers: items below 2^53, bottom bits below 2^37 (2^32 words, the typed-array
// limit here); bottom word indexes beyond 2^32 take a floating-point path (see wordOf).

import {
  checkCount,
  checkIndex,
  clearBits,
  ctz,
  isCount,
  isIndex,
  levelSizes,
  maskRange,
  popcount,
  SENTINEL,
  setBits,
  wordOf,
} from './_internal';
import { markWords, metaGranularity, sizeTrusted, trustingSize } from './_internal-meta';
import {
  checkSerializable,
  deserializeFill,
  deserializePart,
  serializationSize,
  serializePart,
  sha256,
} from './_internal-serialize';
import { MAX_BITS, MAX_ITEMS } from './constants';
import { HBitmapError, rangeError } from './errors';
import { HBitmapIter } from './iter';

/** A dirty area found by {@link HBitmap.nextDirtyArea}: `count` items from `start`. */
export interface DirtyArea {
  /** First item of the area. */
  start: number;
  /** Number of items in the area. */
  count: number;
}

/** The answer of {@link HBitmap.status}: the state at `start` and how far it extends. */
export interface HBitmapStatus {
  /** Whether the item at `start` is dirty (set). */
  dirty: boolean;
  /** Number of items from `start` with that same state, within the requested count. */
  count: number;
}

/**
 * A hierarchical bitmap of `size` items in groups of 2^granularity (QEMU `HBitmap`).
 *
 * @example
 * ```ts
 * const hb = new HBitmap(1 << 20, 0);
 * hb.set(100, 50);
 * hb.nextDirty(0);        // 100
 * hb.nextZero(100);       // 150
 * hb.nextDirtyArea(0);    // { start: 100, count: 50 }
 * ```
 */
export class HBitmap {
  /** @internal Size in items, as requested (QEMU orig_size). */
  _origSize = 0;
  /** @internal Number of bits in the bottom level (QEMU size). */
  _size = 0;
  /** @internal Number of set bits in the bottom level (QEMU count). */
  _count = 0;
  /** @internal log2 of the items per bit. */
  _granularity: number;
  /** @internal 2^granularity. */
  _scale: number;
  /** @internal 2^-granularity (multiplying by it is exact and cheaper than dividing). */
  _inv: number;
  /** @internal Items covered by the bottom level: _size * _scale. */
  _limit = 0;
  /** @internal The levels, top (0) to bottom. */
  _levels: Int32Array[] = [];
  /** @internal The full-word tree: full[k] has the length of levels[k], for k below the bottom. */
  _full: Int32Array[] = [];
  /** @internal The bottom level (levels[levels.length - 1]). */
  _bottom: Int32Array = new Int32Array(2);
  /**
   * @internal The level above the bottom (levels[levels.length - 2]) and the lowest full level
   * (full[full.length - 1]), which cover the bottom word by word: kept in fields so the searches
   * reach them with one load each.
   */
  _above: Int32Array = new Int32Array(1);
  /** @internal See _above. */
  _fullLow: Int32Array = new Int32Array(1);
  /** @internal Bumped whenever the level arrays are replaced, so iterators can restart. */
  _gen = 0;
  /** @internal Set by a deserialization without `finish`: upper levels and count are stale. */
  _pending = false;
  /** @internal The meta bitmap, if any. */
  _meta: HBitmap | undefined = undefined;

  /**
   * Allocates a bitmap (QEMU `hbitmap_alloc`). O(size / 2^granularity / 8) bytes, zeroed.
   *
   * @param size - number of items, an integer in 0..2^53
   * @param granularity - each bit covers 2^granularity items, an integer in 0..63
   * @throws RangeError `ERR_OUT_OF_RANGE` if an argument is out of range, or the bottom level would
   *   need more than 2^37 bits (raise the granularity)
   */
  constructor(size: number, granularity = 0) {
    checkIndex('constructor', 'granularity', granularity, 63);
    checkIndex('constructor', 'size', size, sizeTrusted() ? Number.MAX_VALUE : MAX_ITEMS);
    this._granularity = granularity;
    this._scale = 2 ** granularity;
    this._inv = 2 ** -granularity;
    const bits = Math.ceil(size * this._inv);
    if (bits > MAX_BITS) {
      throw rangeError(
        'ERR_OUT_OF_RANGE',
        `HBitmap.constructor: ${size} items at granularity ${granularity} need ${bits} bits, more than 2^37`,
      );
    }
    this._origSize = size;
    this._size = bits;
    this._limit = bits * this._scale;
    this._allocLevels(bits);
  }

  /** @internal Allocates zeroed levels for `bits` bottom bits (sentinel and full padding set). */
  _allocLevels(bits: number): void {
    const sizes = levelSizes(bits);
    this._levels = sizes.map((n) => new Int32Array(n));
    this._full = sizes.slice(0, -1).map((n) => new Int32Array(n));
    this._bottom = this._levels[this._levels.length - 1]!;
    this._above = this._levels[this._levels.length - 2]!;
    this._fullLow = this._full[this._full.length - 1]!;
    this._levels[0]![0] = SENTINEL;
    for (let k = 0; k < this._full.length; k++) this._padFull(k);
    this._gen++;
  }

  /** @internal Marks as full the bits of full[k] that stand for no word below. */
  _padFull(k: number): void {
    const f = this._full[k]!;
    const used = this._levels[k + 1]!.length;
    let w = used >>> 5;
    if (w < f.length) {
      f[w] = f[w]! | (-1 << (used & 31));
      for (w++; w < f.length; w++) f[w] = -1;
    }
  }

  /**
   * @internal Recomputes every upper level, the full tree and the count from the bottom level.
   * O(bits / 32).
   */
  _rebuild(): void {
    const blocks = this._levels[this._levels.length - 2]!.length;
    this._count = this._summarize(0, blocks);
    this._rebuildAbove(0, blocks);
    this._pending = false;
  }

  /**
   * @internal Recomputes the words kLo..kHi-1 of the level above the bottom and of the lowest full
   * level from bottom blocks kLo..kHi-1 (block k is bottom words 32k..32k+31), and returns the number
   * of set bits in those blocks. Words of a block that do not exist (past the end of the bottom
   * level) count as full. O(words).
   *
   * A block is first reduced with OR and AND over its 32 words (no branch per word): all zero or all
   * ones, the common case in a bitmap of runs, costs one test; only mixed blocks are read word by
   * word. Deserialization calls this on each piece it has just copied, while it is in the cache.
   */
  _summarize(kLo: number, kHi: number): number {
    const b = this._bottom;
    const up = this._levels[this._levels.length - 2]!;
    const fu = this._full[this._full.length - 1]!;
    // Blocks of 32 whole words; a partial last block (the bottom level holds an even number of
    // words, not always a multiple of 32) goes to _summarizeMixed.
    const kWhole = Math.min(kHi, Math.floor(b.length / 32));
    let count = 0;
    let k = kLo;
    for (; k < kWhole; k++) {
      const base = k * 32;
      let or = 0;
      let and = -1;
      for (let j = base; j < base + 32; j += 4) {
        const v0 = b[j]!;
        const v1 = b[j + 1]!;
        const v2 = b[j + 2]!;
        const v3 = b[j + 3]!;
        or |= v0 | v1 | v2 | v3;
        and &= v0 & v1 & v2 & v3;
      }
      if (or === 0) {
        up[k] = 0;
        fu[k] = 0;
      } else if (and === -1) {
        up[k] = -1;
        fu[k] = -1;
        count += 1024;
      } else {
        count += this._summarizeMixed(k);
      }
    }
    if (k < kHi) count += this._summarizeMixed(k);
    return count;
  }

  /** @internal _summarize for one block, word by word; returns its set bits. */
  _summarizeMixed(k: number): number {
    const b = this._bottom;
    const base = k * 32;
    const end = Math.min(b.length, base + 32);
    let m = 0;
    // Words past the end of the bottom level are "full", so a search never descends into them.
    let f = end - base < 32 ? -1 << (end - base) : 0;
    let count = 0;
    for (let j = base; j < end; j++) {
      const v = b[j]!;
      if (v !== 0) {
        m |= 1 << (j - base);
        if (v === -1) {
          f |= 1 << (j - base);
          count += 32;
        } else {
          count += popcount(v);
        }
      }
    }
    this._levels[this._levels.length - 2]![k] = m;
    this._full[this._full.length - 1]![k] = f;
    return count;
  }

  /**
   * @internal Recomputes the levels and full levels above the lowest summary level, after its words
   * kLo..kHi-1 changed (see _summarize): at each level only the words that cover changed words below.
   * Words doneLo..doneHi-1 of the first level recomputed are already right (the deserialization
   * kernel wrote them) and are skipped. Sets the sentinel. O((kHi - kLo) / 32 + levels).
   */
  _rebuildAbove(kLo: number, kHi: number, doneLo = 0, doneHi = 0): void {
    const levels = this._levels;
    const full = this._full;
    let lo = kLo;
    let hi = kHi;
    for (let i = levels.length - 3; i >= 0; i--) {
      const below = levels[i + 1]!;
      const fullBelow = full[i + 1]!;
      const up = levels[i]!;
      const fu = full[i]!;
      const len = below.length;
      const wLo = Math.floor(lo / 32);
      const wHi = Math.ceil(hi / 32);
      for (let w = wLo; w < wHi; w++) {
        if (w === doneLo && w < doneHi && i === levels.length - 3) {
          w = doneHi - 1;
          continue;
        }
        const base = w * 32;
        const end = Math.min(len, base + 32);
        let m = 0;
        let f = end - base < 32 ? -1 << (end - base) : 0;
        for (let j = base; j < end; j++) {
          if (below[j] !== 0) m |= 1 << (j - base);
          if (fullBelow[j] === -1) f |= 1 << (j - base);
        }
        up[w] = m;
        fu[w] = f;
      }
      lo = wLo;
      hi = wHi;
    }
    levels[0]![0] = levels[0]![0]! | SENTINEL;
  }

  // ---------------------------------------------------------------------------------------------
  // Properties

  /** Size in items, as given to the constructor or to the last truncate (QEMU orig_size). */
  get size(): number {
    return this._origSize;
  }

  /** Number of granularity groups: bits in the bottom level (QEMU size). */
  get groups(): number {
    return this._size;
  }

  /** The granularity: each bit covers 2^granularity items (QEMU `hbitmap_granularity`). */
  get granularity(): number {
    return this._granularity;
  }

  /** The meta bitmap created by {@link HBitmap.createMeta}, or undefined. */
  get meta(): HBitmap | undefined {
    return this._meta;
  }

  /**
   * Number of set items, counting whole groups: set bits << granularity (QEMU `hbitmap_count`). O(1).
   *
   * @returns the count, which may exceed `size` when the last group is partial
   */
  count(): number {
    if (this._pending) this.deserializeFinish();
    return this._count * this._scale;
  }

  /** Whether no bit is set (QEMU `hbitmap_empty`). O(1). */
  empty(): boolean {
    if (this._pending) this.deserializeFinish();
    return this._count === 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Bits

  /**
   * Whether the group holding `item` is set (QEMU `hbitmap_get`). O(1).
   *
   * @param item - an integer below `size` rounded up to whole groups
   * @throws RangeError `ERR_OUT_OF_RANGE` if `item` is out of range
   */
  get(item: number): boolean {
    if (!(item >= 0 && item < this._limit) || Math.floor(item) !== item) this._badItem('get', item);
    const pos = Math.floor(item * this._inv);
    return (this._bottom[wordOf(pos)]! & (1 << (pos & 31))) !== 0;
  }

  /**
   * Sets `count` items from `start`, rounded outward to whole groups (QEMU `hbitmap_set`), and marks
   * the range in the meta bitmap when a bit changed. O(count / 2^granularity / 32 + levels).
   *
   * @param start - first item
   * @param count - number of items; 0 does nothing
   * @throws RangeError `ERR_OUT_OF_RANGE` unless start and count are integers and the range lies
   *   below `size` rounded up to whole groups
   */
  set(start: number, count: number): void {
    if (!isIndex(start, MAX_ITEMS) || !isIndex(count, MAX_ITEMS)) this._badRange('set', start, count);
    if (count === 0) return;
    const last = start + count - 1;
    if (last >= this._limit) this._badRange('set', start, count);
    if (this._pending) this.deserializeFinish();
    const inv = this._inv;
    const added = this._setBits(Math.floor(start * inv), Math.floor(last * inv));
    if (added !== 0) {
      this._count += added;
      if (this._meta !== undefined) this._meta.set(start, count);
    }
  }

  /**
   * Resets `count` items from `start` (QEMU `hbitmap_reset`) and marks the range in the meta bitmap
   * when a bit changed. As in QEMU 7.2, `start` must be a multiple of 2^granularity and so must
   * `count`, except when the range ends exactly at `size` (the tail of the bitmap).
   * O(count / 2^granularity / 32 + levels).
   *
   * @param start - first item, group-aligned
   * @param count - number of items, group-aligned or reaching `size`; 0 does nothing
   * @throws RangeError `ERR_OUT_OF_RANGE` if the range is not within the bitmap,
   *   `ERR_MISALIGNED` if it breaks the alignment rule
   */
  reset(start: number, count: number): void {
    if (!isIndex(start, MAX_ITEMS) || !isIndex(count, MAX_ITEMS)) this._badRange('reset', start, count);
    if (count === 0) return;
    const last = start + count - 1;
    if (last >= this._limit) this._badRange('reset', start, count);
    const scale = this._scale;
    if (start % scale !== 0 || (count % scale !== 0 && start + count !== this._origSize)) {
      throw rangeError(
        'ERR_MISALIGNED',
        `HBitmap.reset: start ${start} and count ${count} must be multiples of ${scale} ` +
          `(granularity ${this._granularity}) unless the range ends at size ${this._origSize}`,
      );
    }
    if (this._pending) this.deserializeFinish();
    const inv = this._inv;
    const removed = this._resetBits(Math.floor(start * inv), Math.floor(last * inv));
    if (removed !== 0) {
      this._count -= removed;
      if (this._meta !== undefined) this._meta.set(start, count);
    }
  }

  /**
   * Resets every bit (QEMU `hbitmap_reset_all`). Unlike QEMU, the groups that held set bits are
   * marked in the meta bitmap, so a writer that follows the meta bitmap sees the change.
   * O(bits / 32 + runs of set bits).
   */
  resetAll(): void {
    if (this._pending) this.deserializeFinish();
    const meta = this._meta;
    if (meta !== undefined && this._count !== 0) markWords(this, meta, (w) => this._bottom[w]!);
    for (let i = 1; i < this._levels.length; i++) this._levels[i]!.fill(0);
    this._levels[0]![0] = SENTINEL;
    for (let k = 0; k < this._full.length; k++) {
      this._full[k]!.fill(0);
      this._padFull(k);
    }
    this._count = 0;
  }

  /**
   * @internal Sets bottom bits first..last; returns how many were newly set. Updates both trees.
   */
  _setBits(first: number, last: number): number {
    const b = this._bottom;
    const w0 = wordOf(first);
    const w1 = wordOf(last);
    if (w0 === w1) {
      const o0 = b[w0]!;
      const v = o0 | maskRange(first & 31, last & 31);
      if (v === o0) return 0;
      b[w0] = v;
      if (o0 === 0) this._propagateSetOne(w0);
      if (v === -1) this._propagateFullOne(w0);
      return popcount(v ^ o0);
    }
    // On a large bitmap the bottom words and the summary words above them are likely cache misses.
    // Load them all before testing any (the CPU then waits for the misses at once); _countWords and
    // the propagation below read the summary words again, from the cache. (Within one word, the
    // extra loads cost more than they save: single bits skip them.)
    const o0 = b[w0]!;
    const o1 = b[w1]!;
    const above = this._above[w0 >>> 5]! | this._fullLow[w0 >>> 5]!;
    const v0 = o0 | (-1 << (first & 31));
    b[w0] = v0;
    let added = popcount(v0 ^ o0);
    if (w1 > w0 + 1) {
      added += 32 * (w1 - w0 - 1) - this._countWords(w0 + 1, w1, above);
      fillWords(b, -1, w0 + 1, w1);
    }
    const v1 = o1 | (-1 >>> (31 - (last & 31)));
    b[w1] = v1;
    added += popcount(v1 ^ o1);
    if (added === 0) return 0;
    this._propagateSet(w0, w1);
    const lo = v0 === -1 ? w0 : w0 + 1;
    const hi = v1 === -1 ? w1 : w1 - 1;
    if (lo <= hi) this._propagateFull(lo, hi);
    return added;
  }

  /**
   * @internal Number of set bits in bottom words lo..hi-1. Aligned blocks of 32 words are skipped
   * whole when the level above says they are all zero or the full tree says they are all ones, so
   * a range over empty or full space reads 1/32 of its words. `_above` is the caller's early load
   * of the summary words (unused here: taking it keeps the load alive).
   */
  _countWords(lo: number, hi: number, _above: number): number {
    const b = this._bottom;
    const up = this._levels[this._levels.length - 2]!;
    const fu = this._full[this._full.length - 1]!;
    let count = 0;
    let i = lo;
    while (i < hi) {
      if ((i & 31) === 0 && i + 32 <= hi) {
        const k = i >>> 5;
        if (up[k] === 0) {
          i += 32;
          continue;
        }
        if (fu[k] === -1) {
          count += 1024;
          i += 32;
          continue;
        }
      }
      const v = b[i]!;
      if (v !== 0) count += v === -1 ? 32 : popcount(v);
      i++;
    }
    return count;
  }

  /**
   * @internal Resets bottom bits first..last; returns how many were set before. Updates both trees.
   */
  _resetBits(first: number, last: number): number {
    const b = this._bottom;
    const w0 = wordOf(first);
    const w1 = wordOf(last);
    if (w0 === w1) {
      const o0 = b[w0]!;
      const v = o0 & ~maskRange(first & 31, last & 31);
      if (v === o0) return 0;
      b[w0] = v;
      if (v === 0) this._propagateClear(w0, w0);
      if (o0 === -1) this._propagateNotFull(w0, w0);
      return popcount(v ^ o0);
    }
    // The likely cache misses first, together, as in _setBits.
    const o0 = b[w0]!;
    const o1 = b[w1]!;
    const above = this._above[w0 >>> 5]! | this._fullLow[w0 >>> 5]!;
    const v0 = o0 & ~(-1 << (first & 31));
    b[w0] = v0;
    let removed = popcount(v0 ^ o0);
    if (w1 > w0 + 1) {
      removed += this._countWords(w0 + 1, w1, above);
      fillWords(b, 0, w0 + 1, w1);
    }
    const v1 = o1 & (-2 << (last & 31));
    b[w1] = v1;
    removed += popcount(v1 ^ o1);
    if (removed === 0) return 0;
    const lo = v0 === 0 ? w0 : w0 + 1;
    const hi = v1 === 0 ? w1 : w1 - 1;
    if (lo <= hi) this._propagateClear(lo, hi);
    this._propagateNotFull(w0, w1);
    return removed;
  }

  /**
   * @internal Bottom words lo..hi are nonzero: set their bits in the levels above, climbing while a
   * word there was zero before (QEMU hb_set_between).
   */
  _propagateSet(lo: number, hi: number): void {
    const levels = this._levels;
    for (let lv = levels.length - 2; lv >= 0; lv--) {
      const a = levels[lv]!;
      const p = lo >>> 5;
      const q = hi >>> 5;
      let wasZero: boolean;
      if (p === q) {
        const o = a[p]!;
        wasZero = o === 0;
        a[p] = o | maskRange(lo & 31, hi & 31);
      } else {
        let o = a[p]!;
        wasZero = o === 0;
        a[p] = o | (-1 << (lo & 31));
        for (let i = p + 1; i < q; i++) {
          if (a[i] === 0) wasZero = true;
          a[i] = -1;
        }
        o = a[q]!;
        if (o === 0) wasZero = true;
        a[q] = o | (-1 >>> (31 - (hi & 31)));
      }
      if (!wasZero) return;
      lo = p;
      hi = q;
    }
  }

  /** @internal _propagateSet for the single bottom word w, which was zero. */
  _propagateSetOne(w: number): void {
    const levels = this._levels;
    for (let lv = levels.length - 2; lv >= 0; lv--) {
      const a = levels[lv]!;
      const p = w >>> 5;
      const o = a[p]!;
      a[p] = o | (1 << (w & 31));
      if (o !== 0) return;
      w = p;
    }
  }

  /** @internal _propagateFull for the single bottom word w, which became all ones. */
  _propagateFullOne(w: number): void {
    const full = this._full;
    for (let lv = full.length - 1; lv >= 0; lv--) {
      const a = full[lv]!;
      const p = w >>> 5;
      const v = a[p]! | (1 << (w & 31));
      a[p] = v;
      if (v !== -1) return;
      w = p;
    }
  }

  /**
   * @internal Bottom words lo..hi are zero: clear their bits in the levels above, climbing with the
   * words there that became zero (QEMU hb_reset_between).
   */
  _propagateClear(lo: number, hi: number): void {
    const levels = this._levels;
    for (let lv = levels.length - 2; lv >= 0; lv--) {
      const a = levels[lv]!;
      const p = lo >>> 5;
      const q = hi >>> 5;
      if (!clearBits(a, lo, hi)) return;
      // Interior words are now zero; the edge words only if nothing else remains in them.
      lo = a[p] === 0 ? p : p + 1;
      hi = a[q] === 0 ? q : q - 1;
      if (lo > hi) return;
    }
  }

  /**
   * @internal Bottom words lo..hi are all ones: set their bits in the full tree, climbing with the
   * words there that became all ones.
   */
  _propagateFull(lo: number, hi: number): void {
    const full = this._full;
    for (let lv = full.length - 1; lv >= 0; lv--) {
      const a = full[lv]!;
      const p = lo >>> 5;
      const q = hi >>> 5;
      if (!setBits(a, lo, hi)) return;
      lo = a[p] === -1 ? p : p + 1;
      hi = a[q] === -1 ? q : q - 1;
      if (lo > hi) return;
    }
  }

  /**
   * @internal Bottom words lo..hi each have a zero bit now: clear their bits in the full tree; every
   * word touched above then has a zero bit too, so climb until nothing changes.
   */
  _propagateNotFull(lo: number, hi: number): void {
    const full = this._full;
    for (let lv = full.length - 1; lv >= 0; lv--) {
      const a = full[lv]!;
      const p = lo >>> 5;
      const q = hi >>> 5;
      if (!clearBits(a, lo, hi)) return;
      lo = p;
      hi = q;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Searching

  /**
   * @internal First set bottom bit at or after bit `pos` (< _size), or -1. O(levels).
   *
   * On a large bitmap the bottom word and the word of the level above that covers it are both likely
   * cache misses. Both loads are issued first, before either value is tested, so the CPU waits for
   * the two misses at once; the level-above word then says which of the next 31 bottom words are
   * nonzero, so no linear scan of the bottom level is needed (an earlier version scanned 32 words
   * first and only then read the level above: two misses one after the other).
   */
  _findSet(pos: number): number {
    const levels = this._levels;
    const n = levels.length;
    const b = this._bottom;
    let idx = wordOf(pos);
    let word = this._above[idx >>> 5]!;
    let c = b[idx]! & (-1 << (pos & 31));
    if (c !== 0) return idx * 32 + ctz(c);
    // Climb: at each level look at the bits after the one on our path.
    let lv = n - 2;
    for (;;) {
      const p = idx >>> 5;
      c = word & (-2 << (idx & 31));
      if (c !== 0) {
        const bit = ctz(c);
        if (lv === 0 && bit === 31) return -1; // only the sentinel
        idx = p * 32 + bit;
        break;
      }
      if (lv === 0) return -1;
      idx = p;
      lv--;
      word = levels[lv]![idx >>> 5]!;
    }
    // Descend along lowest set bits.
    for (lv++; lv < n; lv++) idx = idx * 32 + ctz(levels[lv]![idx]!);
    return idx;
  }

  /**
   * @internal First zero bottom bit at or after bit `pos`, or -1. The answer may lie in the padding
   * after _size (callers bound it). O(levels), whatever the length of the set run before it. The
   * bottom word and the full-tree word above it are loaded together, as in _findSet.
   */
  _findZero(pos: number): number {
    const full = this._full;
    const b = this._bottom;
    let lv = full.length - 1;
    let idx = wordOf(pos);
    let word = this._fullLow[idx >>> 5]!;
    let c = ~b[idx]! & (-1 << (pos & 31));
    if (c !== 0) return idx * 32 + ctz(c);
    for (;;) {
      const p = idx >>> 5;
      c = ~word & (-2 << (idx & 31));
      if (c !== 0) {
        idx = p * 32 + ctz(c);
        break;
      }
      if (lv === 0) return -1;
      idx = p;
      lv--;
      word = full[lv]![idx >>> 5]!;
    }
    for (lv++; lv < full.length; lv++) idx = idx * 32 + ctz(~full[lv]![idx]!);
    return idx * 32 + ctz(~b[idx]!);
  }

  /** @internal hbitmap_next_zero without argument checks. */
  _nextZero(start: number, count: number): number {
    const orig = this._origSize;
    if (start >= orig || count === 0) return -1;
    if (this._granularity === 0) {
      // Items are bits: no scaling, and the answer is never before start (a third of the time of a
      // cache-resident search went to the floating-point scaling below).
      const res = this._findZero(start);
      return res >= 0 && res < (count > orig - start ? orig : start + count) ? res : -1;
    }
    const inv = this._inv;
    const endBit = count > orig - start ? this._size : Math.floor((start + count - 1) * inv) + 1;
    const res = this._findZero(Math.floor(start * inv));
    if (res < 0 || res >= endBit) return -1;
    const item = res * this._scale;
    return Math.max(item, start);
  }

  /** @internal hbitmap_next_dirty without argument checks. */
  _nextDirty(start: number, count: number): number {
    const orig = this._origSize;
    if (start >= orig || count === 0) return -1;
    const end = count > orig - start ? orig : start + count;
    if (this._granularity === 0) {
      // Items are bits: no scaling, and the answer is never before start.
      const res = this._findSet(start);
      return res >= 0 && res < end ? res : -1;
    }
    const res = this._findSet(Math.floor(start * this._inv));
    if (res < 0) return -1;
    const item = res * this._scale;
    if (item >= end) return -1;
    return Math.max(item, start);
  }

  /**
   * Finds the first clear item in `[start, start + count)` (QEMU `hbitmap_next_zero`). A group that
   * holds `start` and is clear answers `start` itself; the search never looks past `size`. O(levels):
   * unlike QEMU's word scan, the cost does not grow with the length of a set run.
   *
   * @param start - first item to look at, an integer >= 0
   * @param count - number of items to look at; Infinity (the default) for "up to the end"
   * @returns the item, or -1 if every item of the range is set (or start >= size, or count is 0)
   * @throws RangeError `ERR_OUT_OF_RANGE` if an argument is not an integer >= 0
   */
  nextZero(start: number, count = Number.POSITIVE_INFINITY): number {
    if (!isIndex(start, MAX_ITEMS) || !isCount(count)) this._badRange('nextZero', start, count);
    if (this._pending) this.deserializeFinish();
    return this._nextZero(start, count);
  }

  /**
   * Allocates: finds the first clear item in `[start, start + count)` as {@link HBitmap.nextZero}
   * does and sets its group, in one call (not in QEMU; what a free-space allocator does with
   * `nextZero` then `set(item, 1)`). Marks the meta bitmap like `set`. O(levels), no allocation.
   *
   * @param start - first item to look at (default 0)
   * @param count - number of items to look at; Infinity (the default) for "up to the end"
   * @returns the item now set, or -1 if every item of the range was already set
   * @throws RangeError `ERR_OUT_OF_RANGE` if an argument is not an integer >= 0
   */
  allocate(start = 0, count = Number.POSITIVE_INFINITY): number {
    if (!isIndex(start, MAX_ITEMS) || !isCount(count)) this._badRange('allocate', start, count);
    if (this._pending) this.deserializeFinish();
    // _nextZero inlined, keeping the bit index for the set.
    const orig = this._origSize;
    if (start >= orig || count === 0) return -1;
    const inv = this._inv;
    const bit = this._findZero(Math.floor(start * inv));
    const endBit = count > orig - start ? this._size : Math.floor((start + count - 1) * inv) + 1;
    if (bit < 0 || bit >= endBit) return -1;
    const b = this._bottom;
    const w = wordOf(bit);
    const o = b[w]!;
    const v = o | (1 << (bit & 31));
    b[w] = v;
    this._count++;
    if (o === 0) this._propagateSetOne(w);
    if (v === -1) this._propagateFullOne(w);
    const item = Math.max(start, bit * this._scale);
    if (this._meta !== undefined) this._meta.set(item, 1);
    return item;
  }

  /**
   * Finds the first set item in `[start, start + count)` (QEMU 7.2 `hbitmap_next_dirty`): `start`
   * itself when its group is set. O(levels).
   *
   * @param start - first item to look at, an integer >= 0
   * @param count - number of items to look at; Infinity (the default) for "up to the end"
   * @returns the item, or -1 if none is set (or start >= size, or count is 0)
   * @throws RangeError `ERR_OUT_OF_RANGE` if an argument is not an integer >= 0
   */
  nextDirty(start: number, count = Number.POSITIVE_INFINITY): number {
    if (!isIndex(start, MAX_ITEMS) || !isCount(count)) this._badRange('nextDirty', start, count);
    if (this._pending) this.deserializeFinish();
    return this._nextDirty(start, count);
  }

  /**
   * Finds the first dirty area within `[start, end)` (QEMU 7.2 `hbitmap_next_dirty_area`): its
   * start is the first set item at or after `start`, its length runs to the next clear item, to
   * `end` (clamped to `size`) or to `maxDirtyCount` items, whichever comes first. The seed's form
   * `hbitmap_next_dirty_area(hb, &start, &count)` is `nextDirtyArea(start, start + count)`.
   * O(levels), no allocation when `out` is given.
   *
   * @param start - first item to look at
   * @param end - end of the range (exclusive); Infinity (the default) for `size`
   * @param maxDirtyCount - longest area to report, > 0; Infinity by default
   * @param out - an object to fill and return instead of allocating one
   * @returns the area, or undefined if no item of the range is set
   * @throws RangeError `ERR_OUT_OF_RANGE` if an argument is out of range
   */
  nextDirtyArea(
    start: number,
    end = Number.POSITIVE_INFINITY,
    maxDirtyCount = Number.POSITIVE_INFINITY,
    out?: DirtyArea,
  ): DirtyArea | undefined {
    if (!isIndex(start, MAX_ITEMS) || !isCount(end)) this._badRange('nextDirtyArea', start, end, 'end');
    if (!isCount(maxDirtyCount) || maxDirtyCount === 0) {
      throw rangeError(
        'ERR_OUT_OF_RANGE',
        `HBitmap.nextDirtyArea: maxDirtyCount must be an integer > 0 or Infinity, got ${String(maxDirtyCount)}`,
      );
    }
    if (this._pending) this.deserializeFinish();
    return this._nextDirtyArea(start, end, maxDirtyCount, out);
  }

  /** @internal nextDirtyArea without argument checks. */
  _nextDirtyArea(start: number, end: number, maxDirtyCount: number, out?: DirtyArea): DirtyArea | undefined {
    if (end > this._origSize) end = this._origSize;
    if (start >= end) return undefined;
    start = this._nextDirty(start, end - start);
    if (start < 0) return undefined;
    const len = end - start;
    end = start + Math.min(len, maxDirtyCount);
    const zero = this._nextZero(start, end - start);
    if (zero >= 0) end = zero;
    if (out === undefined) return { start, count: end - start };
    out.start = start;
    out.count = end - start;
    return out;
  }

  /**
   * Reports whether `start` is dirty and how many items from it share that state, looking at most
   * `count` items (QEMU 7.2 `hbitmap_status`, with the 2023 fix: a dirty run that ends before
   * `start + count` reports dirty). O(levels).
   *
   * @param start - first item
   * @param count - number of items to look at, > 0, with start + count <= size
   * @param out - an object to fill and return instead of allocating one
   * @returns `{ dirty, count }`
   * @throws RangeError `ERR_OUT_OF_RANGE` if the range is empty or not within the bitmap
   */
  status(start: number, count: number, out?: HBitmapStatus): HBitmapStatus {
    if (!isIndex(start, MAX_ITEMS) || !isIndex(count, MAX_ITEMS) || count === 0) {
      this._badRange('status', start, count);
    }
    if (start + count > this._origSize) this._badRange('status', start, count);
    if (this._pending) this.deserializeFinish();
    let dirty = false;
    let run = count;
    const nextDirty = this._nextDirty(start, count);
    if (nextDirty > start) {
      run = nextDirty - start;
    } else if (nextDirty === start) {
      dirty = true;
      const nextZero = this._nextZero(start, count);
      if (nextZero !== -1) run = nextZero - start;
    }
    if (out === undefined) return { dirty, count: run };
    out.dirty = dirty;
    out.count = run;
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Iteration

  /**
   * An iterator over the set items from `first` (QEMU `hbitmap_iter_init`). O(levels).
   *
   * @param first - first item to visit
   * @throws RangeError `ERR_OUT_OF_RANGE` if `first` is out of range
   */
  iter(first = 0): HBitmapIter {
    return new HBitmapIter(this, first);
  }

  /**
   * Yields the set items from `first`, the first item of each set group. A convenience over
   * {@link HBitmap.iter}; prefer the iterator in hot loops.
   *
   * @param first - first item to visit
   */
  *items(first = 0): Generator<number, void, undefined> {
    const it = new HBitmapIter(this, first);
    for (let item = it.next(); item >= 0; item = it.next()) yield item;
  }

  /** Yields every set item (see {@link HBitmap.items}). */
  [Symbol.iterator](): Generator<number, void, undefined> {
    return this.items(0);
  }

  // ---------------------------------------------------------------------------------------------
  // Resizing and merging

  /**
   * Grows or shrinks the bitmap to `size` items (QEMU `hbitmap_truncate`). Shrinking first resets the
   * whole groups past the new end (a partial last group keeps its bit, as in QEMU) and marks them in
   * the meta bitmap; the meta bitmap is truncated too. Iterators stay valid: they restart from where
   * they stood, also after a shrink past them followed by a grow. O(bits / 32) when the bottom level
   * changes length.
   *
   * @param size - the new number of items, an integer in 0..2^53
   * @throws RangeError `ERR_OUT_OF_RANGE` if `size` is out of range
   */
  truncate(size: number): void {
    checkIndex('truncate', 'size', size, sizeTrusted() ? Number.MAX_VALUE : MAX_ITEMS);
    const bits = Math.ceil(size * this._inv);
    if (bits > MAX_BITS) {
      throw rangeError('ERR_OUT_OF_RANGE', `HBitmap.truncate: ${size} items need ${bits} bits`);
    }
    if (this._pending) this.deserializeFinish();
    this._origSize = size;
    if (bits === this._size) return;
    if (bits < this._size) {
      const removed = this._resetBits(bits, this._size - 1);
      if (removed !== 0) {
        this._count -= removed;
        const start = bits * this._scale;
        if (this._meta !== undefined) this._meta.set(start, this._limit - start);
      }
    }
    const old = this._bottom;
    this._size = bits;
    this._limit = bits * this._scale;
    const sizes = levelSizes(bits);
    if (sizes[sizes.length - 1] !== old.length) {
      this._allocLevels(bits);
      this._bottom.set(old.length <= this._bottom.length ? old : old.subarray(0, this._bottom.length));
      this._rebuild();
    } else {
      this._gen++;
    }
    const meta = this._meta;
    if (meta !== undefined) trustingSize(() => meta.truncate(this._limit));
  }

  /**
   * Whether `a` and `b` can be merged: same size in items (QEMU 7.2 `hbitmap_can_merge`; the
   * granularities may differ).
   */
  static canMerge(a: HBitmap, b: HBitmap): boolean {
    return a._origSize === b._origSize;
  }

  /**
   * Stores `a | b` into `result` (QEMU 7.2 `hbitmap_merge`); `result` may be `a` or `b`. With equal
   * granularities the bottom levels are ORed word by word (O(bits / 32)); otherwise the dirty areas
   * of each source are set into `result` (O(areas * levels)), which rounds them to the granularity of
   * `result`. Unlike QEMU, a `result` whose granularity differs from equal `a` and `b` takes the
   * second path instead of corrupting memory, and words that change are marked in the meta bitmap of
   * `result`.
   *
   * @returns false (and nothing changes) if the sizes differ, true after merging
   */
  static merge(a: HBitmap, b: HBitmap, result: HBitmap): boolean {
    if (!HBitmap.canMerge(a, b) || !HBitmap.canMerge(a, result)) return false;
    for (const hb of [a, b, result]) if (hb._pending) hb.deserializeFinish();
    if ((a._count === 0 && result === b) || (b._count === 0 && result === a)) return true;
    if (a._count === 0 && b._count === 0) {
      result.resetAll();
      return true;
    }
    if (a._granularity !== b._granularity || a._granularity !== result._granularity) {
      if (a !== result && b !== result) result.resetAll();
      if (a !== result) sparseMerge(result, a);
      if (b !== result) sparseMerge(result, b);
      return true;
    }
    const ab = a._bottom;
    const bb = b._bottom;
    const rb = result._bottom;
    const meta = result._meta;
    if (meta !== undefined) markWords(result, meta, (w) => (ab[w]! | bb[w]!) ^ rb[w]!);
    for (let i = 0; i < rb.length; i++) rb[i] = ab[i]! | bb[i]!;
    result._rebuild();
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Meta bitmap (checks, building and whole-bitmap marking in _internal-meta.ts)

  /**
   * Creates the meta bitmap (QEMU `hbitmap_create_meta`): a bitmap over the same items with
   * granularity `granularity + log2(chunkSize)`, in which every set or reset that changes a bit marks
   * its range. Clear it (reset) once the chunks it marks are written back.
   *
   * @param chunkSize - bits of this bitmap per meta bit, a power of two
   * @returns the meta bitmap
   * @throws HBitmapError `ERR_EXISTS` if one exists; RangeError `ERR_OUT_OF_RANGE` if
   *   `chunkSize` is not a power of two or the meta granularity would pass 63
   */
  createMeta(chunkSize: number): HBitmap {
    if (this._meta !== undefined) {
      throw new HBitmapError('ERR_EXISTS', 'HBitmap.createMeta: the bitmap already has a meta bitmap');
    }
    const granularity = metaGranularity(this, chunkSize);
    const meta = trustingSize(() => new HBitmap(this._limit, granularity));
    this._meta = meta;
    return meta;
  }

  /**
   * Drops the meta bitmap (QEMU `hbitmap_free_meta`).
   *
   * @throws HBitmapError `ERR_NOT_FOUND` if there is none
   */
  freeMeta(): void {
    if (this._meta === undefined) {
      throw new HBitmapError('ERR_NOT_FOUND', 'HBitmap.freeMeta: the bitmap has no meta bitmap');
    }
    this._meta = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Serialization (the work is in _internal-serialize.ts)

  /**
   * Whether the bitmap can be serialized: granularity below 58, so that the alignment
   * 64 << granularity fits in 64 bits (QEMU `hbitmap_is_serializable`).
   */
  isSerializable(): boolean {
    return this._granularity < 58;
  }

  /**
   * Alignment of serialization chunks in items: 64 << granularity (QEMU
   * `hbitmap_serialization_align`). Chunk starts must be multiples of it, and so must chunk lengths
   * except for the chunk that ends the bitmap.
   *
   * @throws HBitmapError `ERR_NOT_SERIALIZABLE` if the granularity is 58 or more
   */
  serializationAlign(): number {
    checkSerializable(this, 'serializationAlign');
    return 64 * this._scale;
  }

  /**
   * Bytes that a chunk of `count` items from `start` takes serialized: 8 per 64-bit word of the
   * bottom level (QEMU `hbitmap_serialization_size`).
   *
   * @throws HBitmapError `ERR_NOT_SERIALIZABLE`; RangeError `ERR_OUT_OF_RANGE` / `ERR_MISALIGNED` if
   *   the chunk is outside the bitmap or misaligned
   */
  serializationSize(start: number, count: number): number {
    return serializationSize(this, start, count);
  }

  /**
   * Writes a chunk of the bottom level into `buf` as little-endian 64-bit words, byte for byte what
   * QEMU writes (QEMU `hbitmap_serialize_part`). O(bytes).
   *
   * @param buf - destination, at least `serializationSize(start, count)` bytes
   * @param start - first item of the chunk (aligned)
   * @param count - items in the chunk (aligned unless the chunk ends the bitmap)
   * @returns the number of bytes written
   * @throws TypeError `ERR_INVALID_ARG_TYPE`; RangeError `ERR_BUFFER_TOO_SMALL`, `ERR_OUT_OF_RANGE`,
   *   `ERR_MISALIGNED`; HBitmapError `ERR_NOT_SERIALIZABLE`
   */
  serializePart(buf: Uint8Array, start: number, count: number): number {
    return serializePart(this, buf, start, count);
  }

  /**
   * Loads a chunk of the bottom level from `buf` (QEMU `hbitmap_deserialize_part`). Bits past the
   * end of the bitmap are cleared whatever the bytes say. Without `finish`, the upper levels are
   * rebuilt by {@link HBitmap.deserializeFinish} or, here, automatically by the next operation that
   * needs them. The meta bitmap is not marked. O(bytes), plus O(bits / 32) to finish.
   *
   * @param buf - source, at least `serializationSize(start, count)` bytes
   * @param start - first item of the chunk (aligned)
   * @param count - items in the chunk (aligned unless the chunk ends the bitmap)
   * @param finish - rebuild the upper levels now (default true)
   * @throws as {@link HBitmap.serializePart}
   */
  deserializePart(buf: Uint8Array, start: number, count: number, finish = true): void {
    deserializePart(this, buf, start, count, finish);
  }

  /**
   * Clears a chunk of the bottom level (QEMU `hbitmap_deserialize_zeroes`); see
   * {@link HBitmap.deserializePart} for `finish`.
   *
   * @throws as {@link HBitmap.serializePart}, less the buffer errors
   */
  deserializeZeroes(start: number, count: number, finish = true): void {
    deserializeFill(this, 'deserializeZeroes', 0, start, count, finish);
  }

  /**
   * Sets a chunk of the bottom level (QEMU `hbitmap_deserialize_ones`); bits past the end of the
   * bitmap stay clear. See {@link HBitmap.deserializePart} for `finish`.
   *
   * @throws as {@link HBitmap.serializePart}, less the buffer errors
   */
  deserializeOnes(start: number, count: number, finish = true): void {
    deserializeFill(this, 'deserializeOnes', -1, start, count, finish);
  }

  /**
   * Rebuilds the upper levels and the count from the bottom level after deserialization (QEMU
   * `hbitmap_deserialize_finish`). O(bits / 32).
   */
  deserializeFinish(): void {
    this._rebuild();
  }

  /**
   * SHA-256 of the bottom level as QEMU hashes it (QEMU `hbitmap_sha256`): all of its 64-bit words,
   * little-endian, as a lowercase hex string. O(bits / 8).
   */
  sha256(): string {
    return sha256(this);
  }

  // ---------------------------------------------------------------------------------------------
  // Argument errors

  /** @internal */
  _badItem(fn: string, item: number): never {
    throw rangeError(
      'ERR_OUT_OF_RANGE',
      `HBitmap.${fn}: item must be an integer in 0..${this._limit - 1}, got ${String(item)}`,
    );
  }

  /** @internal */
  _badRange(fn: string, start: number, count: number, countName = 'count'): never {
    checkIndex(fn, 'start', start, MAX_ITEMS);
    checkCount(fn, countName, count);
    throw rangeError(
      'ERR_OUT_OF_RANGE',
      `HBitmap.${fn}: range start ${start} ${countName} ${count} is not within the bitmap (${this._limit} items)`,
    );
  }
}

/**
 * Stores `value` into words lo..hi-1 of `b`: a plain loop for short runs (the dirty-tracking case,
 * where TypedArray.prototype.fill's call costs more than the stores), `fill` for long ones.
 */
function fillWords(b: Int32Array, value: number, lo: number, hi: number): void {
  if (hi - lo <= 64) {
    for (let i = lo; i < hi; i++) b[i] = value;
  } else {
    b.fill(value, lo, hi);
  }
}

/** QEMU hbitmap_sparse_merge: dst |= src, area by area (works across granularities). */
function sparseMerge(dst: HBitmap, src: HBitmap): void {
  const area: DirtyArea = { start: 0, count: 0 };
  let offset = 0;
  while (src._nextDirtyArea(offset, src._origSize, Number.POSITIVE_INFINITY, area) !== undefined) {
    dst.set(area.start, area.count);
    offset = area.start + area.count;
  }
}
