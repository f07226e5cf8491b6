// Private word-level helpers of the hierarchical bitmap: population count, find-first-set, bit-range
// masks, the bottom-level word index for positions beyond 2^32, the level layout, and the argument
// checks shared by every public method. Words are 32-bit and held in Int32Array, so a full word
// reads as -1 and an empty one as 0; every operator below works on int32 values.

import { rangeError } from './errors';

/** The sentinel kept in the top level (bit 31 of levels[0][0]); see HBitmapIter.skipWords. */
export const SENTINEL = -0x80000000;

/** Number of set bits in a 32-bit word. */
export function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Index of the least significant set bit of a nonzero word (32 for zero). */
export function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/**
 * Word index of a bottom-level bit position. Positions reach 2^37, beyond what `>>>` handles
 * (it works modulo 2^32), so large ones take the floating-point path.
 */
export function wordOf(pos: number): number {
  return pos < 4294967296 ? pos >>> 5 : Math.floor(pos / 32);
}

/** Mask of bits lo..hi (0 <= lo <= hi <= 31) as an int32. */
export function maskRange(lo: number, hi: number): number {
  return (-1 >>> (31 - hi)) & (-1 << lo);
}

/**
 * Clear bits lo..hi (bit positions, lo <= hi) of the word array `a`; the climb of the upper levels
 * (_propagateClear, _propagateNotFull) uses it for each level. Small enough for V8 to inline.
 * @returns whether any bit changed
 */
export function clearBits(a: Int32Array, lo: number, hi: number): boolean {
  const p = lo >>> 5;
  const q = hi >>> 5;
  if (p === q) {
    const o = a[p]!;
    const v = o & ~maskRange(lo & 31, hi & 31);
    a[p] = v;
    return v !== o;
  }
  let o = a[p]!;
  let v = o & ~(-1 << (lo & 31));
  let changed = v !== o;
  a[p] = v;
  for (let i = p + 1; i < q; i++) {
    if (a[i] !== 0) changed = true;
    a[i] = 0;
  }
  o = a[q]!;
  v = o & (-2 << (hi & 31));
  if (v !== o) changed = true;
  a[q] = v;
  return changed;
}

/**
 * Set bits lo..hi (bit positions, lo <= hi) of the word array `a` (the full tree's climb).
 * @returns whether any bit changed
 */
export function setBits(a: Int32Array, lo: number, hi: number): boolean {
  const p = lo >>> 5;
  const q = hi >>> 5;
  if (p === q) {
    const o = a[p]!;
    const v = o | maskRange(lo & 31, hi & 31);
    a[p] = v;
    return v !== o;
  }
  let o = a[p]!;
  let v = o | (-1 << (lo & 31));
  let changed = v !== o;
  a[p] = v;
  for (let i = p + 1; i < q; i++) {
    if (a[i] !== -1) changed = true;
    a[i] = -1;
  }
  o = a[q]!;
  v = o | (-1 >>> (31 - (hi & 31)));
  if (v !== o) changed = true;
  a[q] = v;
  return changed;
}

/**
 * Words per level, top level first, for a bottom level of `bits` bits. The bottom level holds a
 * whole number of 64-bit words (QEMU's serialization unit), at least one. Each level above holds one
 * bit per word below; levels are added until the top is a single word with at most 31 bits used, so
 * bit 31 of the top word is free for the iteration sentinel.
 */
export function levelSizes(bits: number): number[] {
  const sizes: number[] = [];
  let below = Math.max(2, Math.ceil(bits / 64) * 2);
  sizes.push(below);
  for (;;) {
    const words = Math.ceil(below / 32);
    sizes.push(words);
    if (words === 1 && below <= 31) break;
    below = words;
  }
  return sizes.reverse();
}

/** Whether `x` is an integer in 0..max. */
export function isIndex(x: number, max: number): boolean {
  return typeof x === 'number' && x >= 0 && x <= max && Math.floor(x) === x;
}

/** Throws the RangeError for a value that is not an integer in 0..max. */
export function checkIndex(fn: string, name: string, x: number, max: number): void {
  if (!isIndex(x, max)) {
    throw rangeError(
      'ERR_OUT_OF_RANGE',
      `HBitmap.${fn}: ${name} must be an integer in 0..${max}, got ${String(x)}`,
    );
  }
}

/** Whether `x` is a count: an integer >= 0 or +Infinity (QEMU's INT64_MAX: "up to the end"). */
export function isCount(x: number): boolean {
  return typeof x === 'number' && x >= 0 && (x === Number.POSITIVE_INFINITY || Math.floor(x) === x);
}

/** Throws the RangeError for a value that is not a count. */
export function checkCount(fn: string, name: string, x: number): void {
  if (!isCount(x)) {
    throw rangeError(
      'ERR_OUT_OF_RANGE',
      `HBitmap.${fn}: ${name} must be an integer >= 0 or Infinity, got ${String(x)}`,
    );
  }
}

/** True when the host stores typed arrays little-endian (then bytes can be copied directly). */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
