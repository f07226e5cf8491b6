// Moving a run of bits between two bit streams, or within one (the seed's move_bits,
// move_bits_down and move_bits_up). The delta index shifts the tail of a delta list by a few bits
// on every insert and remove and slides whole lists around a zone when it rebalances, so this is
// its bulk copy.
//
// A move of up to 57 bits (the seed's MAX_BIG_FIELD_BITS) reads the whole run into at most three
// numbers before writing any of it, so it is overlap-safe on its own. A longer move first moves
// the bits that bring the destination to a byte boundary, then copies whole destination bytes, then
// the leftover bits. Whole bytes are copied natively (copyWithin / set) when source and destination
// have the same bit phase, and otherwise assembled from two source bytes each, walking upward (down
// move) or downward (up move) so that no source byte is overwritten before it is read. Runs that
// reach past the end of either array go through a bounds-checked path made of 24-bit fields, in the
// same order.

import { copyBytes } from './_copy';
import { readBits, writeBits } from './_internal';
import { checkMemory, checkRange } from './_validate';
import { MAX_BIG_FIELD_BITS } from './constants';

/** Bits per piece of the bounds-checked slow path (at most MAX_FIELD_BITS). */
const PIECE_BITS = 24;

/**
 * Moves `size` bits from bit `fromOffset` of `from` to bit `toOffset` of `to` (the seed's
 * `move_bits`). When the two ranges overlap (the same array, or two views of one ArrayBuffer), the
 * result is as if the bits were first copied to a temporary and then to the destination. Bits read
 * from past the end of `from` are zeros; bits written past the end of `to` are dropped.
 *
 * @param from - source bit stream
 * @param fromOffset - first source bit, an integer in 0..MAX_BIT_OFFSET
 * @param to - destination bit stream (may be `from`, or share its buffer)
 * @param toOffset - first destination bit, an integer in 0..MAX_BIT_OFFSET
 * @param size - number of bits to move; neither range may end past MAX_BIT_OFFSET
 * @throws TypeError `ERR_INVALID_ARG_TYPE` if `from` or `to` is not a Uint8Array;
 *   RangeError `ERR_BIT_OFFSET` or `ERR_BIT_SIZE` for a bad offset or size
 * Cost: O(min(size, bits of `to` past `toOffset`) / 8); whole bytes of a same-phase move are a
 * native memmove. Allocates at most one subarray view (a same-phase move between two arrays).
 */
export function moveBits(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toOffset: number,
  size: number,
): void {
  size = checkMove('moveBits', from, fromOffset, to, toOffset, size);
  if (size <= MAX_BIG_FIELD_BITS) {
    moveSmall(from, fromOffset, to, toOffset, size);
  } else if (from === to ? fromOffset > toOffset : movesDown(from, fromOffset, to, toOffset)) {
    moveDown(from, fromOffset, to, toOffset, size);
  } else {
    moveUp(from, fromOffset, to, toOffset, size);
  }
}

/**
 * Moves `size` bits, lowest bits first (the seed's `move_bits_down`). Correct when the ranges do
 * not overlap or the destination starts at or below the source; for an overlapping move to a
 * higher address use {@link moveBitsUp} (or {@link moveBits}, which chooses). Same bounds
 * behaviour as {@link moveBits}.
 *
 * @param from - source bit stream
 * @param fromOffset - first source bit, an integer in 0..MAX_BIT_OFFSET
 * @param to - destination bit stream (may be `from`, or share its buffer)
 * @param toOffset - first destination bit, an integer in 0..MAX_BIT_OFFSET
 * @param size - number of bits to move; neither range may end past MAX_BIT_OFFSET
 * @throws TypeError `ERR_INVALID_ARG_TYPE`; RangeError `ERR_BIT_OFFSET` or `ERR_BIT_SIZE`
 * Cost: O(size / 8).
 */
export function moveBitsDown(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toOffset: number,
  size: number,
): void {
  size = checkMove('moveBitsDown', from, fromOffset, to, toOffset, size);
  moveDown(from, fromOffset, to, toOffset, size);
}

/**
 * Moves `size` bits, highest bits first (the seed's `move_bits_up`). Correct when the ranges do not
 * overlap or the destination starts at or above the source. Same bounds behaviour as
 * {@link moveBits}.
 *
 * @param from - source bit stream
 * @param fromOffset - first source bit, an integer in 0..MAX_BIT_OFFSET
 * @param to - destination bit stream (may be `from`, or share its buffer)
 * @param toOffset - first destination bit, an integer in 0..MAX_BIT_OFFSET
 * @param size - number of bits to move; neither range may end past MAX_BIT_OFFSET
 * @throws TypeError `ERR_INVALID_ARG_TYPE`; RangeError `ERR_BIT_OFFSET` or `ERR_BIT_SIZE`
 * Cost: O(size / 8).
 */
export function moveBitsUp(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toOffset: number,
  size: number,
): void {
  size = checkMove('moveBitsUp', from, fromOffset, to, toOffset, size);
  moveUp(from, fromOffset, to, toOffset, size);
}

/** For two different arrays: false only when they share a buffer and the destination is higher. */
function movesDown(from: Uint8Array, fromOffset: number, to: Uint8Array, toOffset: number): boolean {
  return from.buffer !== to.buffer || from.byteOffset * 8 + fromOffset > to.byteOffset * 8 + toOffset;
}

/**
 * Checks the arguments of a move and returns `size` cut to the bits that land inside `to` (writes
 * past its end are dropped anyway), so a huge size on a short array costs nothing.
 */
function checkMove(
  fn: string,
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toOffset: number,
  size: number,
): number {
  checkMemory(fn, 'from', from);
  checkMemory(fn, 'to', to);
  checkRange(fn, 'fromOffset', fromOffset, size);
  checkRange(fn, 'toOffset', toOffset, size);
  const room = to.length * 8 - toOffset;
  return size <= room ? size : Math.max(room, 0);
}

/** Moves up to 75 bits by reading all of them before writing any. */
function moveSmall(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toOffset: number,
  size: number,
): void {
  if (size <= 25) {
    writeBits(readBits(from, fromOffset, size), to, toOffset, size);
    return;
  }
  const a = readBits(from, fromOffset, 25);
  if (size <= 50) {
    const b = readBits(from, fromOffset + 25, size - 25);
    writeBits(a, to, toOffset, 25);
    writeBits(b, to, toOffset + 25, size - 25);
    return;
  }
  const b = readBits(from, fromOffset + 25, 25);
  const c = readBits(from, fromOffset + 50, size - 50);
  writeBits(a, to, toOffset, 25);
  writeBits(b, to, toOffset + 25, 25);
  writeBits(c, to, toOffset + 50, size - 50);
}

/** True when both ranges lie wholly inside their arrays. */
function inBounds(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toOffset: number,
  size: number,
): boolean {
  return (fromOffset + size) / 8 <= from.length && (toOffset + size) / 8 <= to.length;
}

/** Moves lowest bits first; safe when the destination does not start above an overlapping source. */
function moveDown(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toOffset: number,
  size: number,
): void {
  if (size <= MAX_BIG_FIELD_BITS) {
    moveSmall(from, fromOffset, to, toOffset, size);
    return;
  }
  if (!inBounds(from, fromOffset, to, toOffset, size)) {
    for (let done = 0; done < size; done += PIECE_BITS) {
      const n = Math.min(PIECE_BITS, size - done);
      writeBits(readBits(from, fromOffset + done, n), to, toOffset + done, n);
    }
    return;
  }
  // Bring the destination to a byte boundary.
  const head = (8 - (toOffset & 7)) & 7;
  if (head !== 0) {
    writeBits(readBits(from, fromOffset, head), to, toOffset, head);
    fromOffset += head;
    toOffset += head;
    size -= head;
  }
  const bytes = Math.floor(size / 8);
  copyBytes(from, fromOffset, to, toOffset / 8, bytes, false);
  const tail = size - bytes * 8;
  if (tail !== 0) writeBits(readBits(from, fromOffset + bytes * 8, tail), to, toOffset + bytes * 8, tail);
}

/** Moves highest bits first; safe when the destination does not start below an overlapping source. */
function moveUp(from: Uint8Array, fromOffset: number, to: Uint8Array, toOffset: number, size: number): void {
  if (size <= MAX_BIG_FIELD_BITS) {
    moveSmall(from, fromOffset, to, toOffset, size);
    return;
  }
  if (!inBounds(from, fromOffset, to, toOffset, size)) {
    for (let left = size; left > 0; left -= PIECE_BITS) {
      const n = Math.min(PIECE_BITS, left);
      writeBits(readBits(from, fromOffset + left - n, n), to, toOffset + left - n, n);
    }
    return;
  }
  // Move the bits past the destination's last byte boundary first.
  const tail = (toOffset + size) & 7;
  if (tail !== 0) {
    size -= tail;
    writeBits(readBits(from, fromOffset + size, tail), to, toOffset + size, tail);
  }
  const bytes = Math.floor(size / 8);
  const head = size - bytes * 8;
  copyBytes(from, fromOffset + head, to, (toOffset + head) / 8, bytes, true);
  if (head !== 0) writeBits(readBits(from, fromOffset, head), to, toOffset, head);
}
