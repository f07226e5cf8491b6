// Bit fields at arbitrary bit offsets in a little-endian bit stream (the seed's get_field,
// set_field, get_big_field and set_big_field). Bit k of the stream is bit (k mod 8) of byte
// floor(k / 8); a multi-bit field stores its lowest bit at the lowest offset. Fields of up to 25
// bits go through one 32-bit window; wider ones (up to 53 bits, the exact range of a JavaScript
// number) are split into 24-bit pieces, so no BigInt is involved.

import { readBits, writeBits } from './_internal';
import { checkMemory, throwFieldArgs } from './_validate';
import { MAX_BIT_OFFSET, MAX_FIELD_BITS, MAX_SAFE_FIELD_BITS } from './constants';

const TWO_24 = 0x1000000;
const TWO_48 = TWO_24 * TWO_24;

/**
 * Reads an unsigned field of `size` bits starting at bit `offset` (the seed's `get_field`).
 * Bytes past the end of `memory` read as zero.
 *
 * @param memory - the bit stream
 * @param offset - bit offset of the field's lowest bit, an integer in 0..MAX_BIT_OFFSET
 * @param size - width of the field in bits, 0..{@link MAX_FIELD_BITS} (25)
 * @returns the field, an integer in 0..2^size - 1
 * @throws TypeError `ERR_INVALID_ARG_TYPE` if `memory` is not a Uint8Array;
 *   RangeError `ERR_BIT_OFFSET` or `ERR_BIT_SIZE` for a bad offset or size
 * Cost: O(1), four byte loads, no allocation.
 */
export function getField(memory: Uint8Array, offset: number, size: number): number {
  // One combined test. floor(offset / 8) * 8 + (offset & 7) equals `offset` only for integers
  // (a fraction, NaN or non-number fails it), the next two bound the range, and `size >>> 0`
  // equals `size` only for integers in 0..2^32 - 1.
  // setField repeats this test inline on purpose: these two are the hottest calls of the delta
  // index, and a shared predicate did not measure as fast reliably.
  if (
    !(
      Math.floor(offset / 8) * 8 + (offset & 7) === offset &&
      offset >= 0 &&
      offset <= MAX_BIT_OFFSET &&
      size >>> 0 === size &&
      size <= MAX_FIELD_BITS &&
      memory instanceof Uint8Array
    )
  ) {
    throwFieldArgs('getField', memory, offset, size, MAX_FIELD_BITS);
  }
  return readBits(memory, offset, size);
}

/**
 * Writes the low `size` bits of `value` as a field starting at bit `offset` (the seed's
 * `set_field`, same argument order). Higher bits of `value` are ignored (it is taken modulo 2^32
 * as by `>>> 0`, then modulo 2^size); other bits of `memory` are unchanged. Writes past the end of
 * `memory` are dropped.
 *
 * @param value - the field value; its bits above `size` are ignored
 * @param memory - the bit stream
 * @param offset - bit offset of the field's lowest bit, an integer in 0..MAX_BIT_OFFSET
 * @param size - width of the field in bits, 0..{@link MAX_FIELD_BITS} (25)
 * @throws TypeError `ERR_INVALID_ARG_TYPE` if `memory` is not a Uint8Array;
 *   RangeError `ERR_BIT_OFFSET` or `ERR_BIT_SIZE` for a bad offset or size
 * Cost: O(1), four byte loads and stores, no allocation.
 */
export function setField(value: number, memory: Uint8Array, offset: number, size: number): void {
  if (
    !(
      Math.floor(offset / 8) * 8 + (offset & 7) === offset &&
      offset >= 0 &&
      offset <= MAX_BIT_OFFSET &&
      size >>> 0 === size &&
      size <= MAX_FIELD_BITS &&
      memory instanceof Uint8Array
    )
  ) {
    throwFieldArgs('setField', memory, offset, size, MAX_FIELD_BITS);
  }
  writeBits(value, memory, offset, size);
}

/**
 * Reads an unsigned field of up to 53 bits starting at bit `offset` (the seed's `get_big_field`,
 * bounded by what a JavaScript number holds exactly: the seed's big fields go to 57 bits, which
 * only {@link moveBits} needs and handles internally). Bytes past the end read as zero.
 *
 * @param memory - the bit stream
 * @param offset - bit offset of the field's lowest bit, an integer in 0..MAX_BIT_OFFSET
 * @param size - width of the field in bits, 0..{@link MAX_SAFE_FIELD_BITS} (53)
 * @returns the field, an integer in 0..2^size - 1 (exact)
 * @throws TypeError `ERR_INVALID_ARG_TYPE`; RangeError `ERR_BIT_OFFSET` or `ERR_BIT_SIZE`
 * Cost: O(1), at most three 32-bit windows, no allocation.
 */
export function getBigField(memory: Uint8Array, offset: number, size: number): number {
  checkBig('getBigField', memory, offset, size);
  if (size <= MAX_FIELD_BITS) return readBits(memory, offset, size);
  const low = readBits(memory, offset, 24);
  if (size <= 48) return low + readBits(memory, offset + 24, size - 24) * TWO_24;
  return low + readBits(memory, offset + 24, 24) * TWO_24 + readBits(memory, offset + 48, size - 48) * TWO_48;
}

/**
 * Writes the low `size` bits of `value` (up to 53) as a field starting at bit `offset` (the seed's
 * `set_big_field`). `value` should be an integer in 0..2^size - 1; a larger or negative integer is
 * reduced modulo 2^size (two's complement), a fraction is first truncated toward zero (-1.5 stores
 * -1 modulo 2^size, like {@link setField}). Writes past the end of
 * `memory` are dropped.
 *
 * @param value - the field value, exact up to 2^53 - 1
 * @param memory - the bit stream
 * @param offset - bit offset of the field's lowest bit, an integer in 0..MAX_BIT_OFFSET
 * @param size - width of the field in bits, 0..{@link MAX_SAFE_FIELD_BITS} (53)
 * @throws TypeError `ERR_INVALID_ARG_TYPE`; RangeError `ERR_BIT_OFFSET` or `ERR_BIT_SIZE`
 * Cost: O(1), at most three 32-bit windows, no allocation.
 */
export function setBigField(value: number, memory: Uint8Array, offset: number, size: number): void {
  checkBig('setBigField', memory, offset, size);
  if (size <= MAX_FIELD_BITS) {
    writeBits(value, memory, offset, size);
    return;
  }
  // Truncate first (toward zero, as setField's ToInt32 does): flooring an untruncated negative
  // fraction would borrow from the high pieces (-16777216.5 must store -16777216, not -33554432).
  // Then division by a power of two and Math.floor are exact for |value| < 2^53, and `& mask`
  // keeps the two's complement low bits of each piece, so negative values wrap like setField's.
  const whole = Math.trunc(value);
  writeBits(whole, memory, offset, 24);
  const high = Math.floor(whole / TWO_24);
  if (size <= 48) {
    writeBits(high, memory, offset + 24, size - 24);
    return;
  }
  writeBits(high, memory, offset + 24, 24);
  writeBits(Math.floor(whole / TWO_48), memory, offset + 48, size - 48);
}

function checkBig(fn: string, memory: Uint8Array, offset: number, size: number): void {
  checkMemory(fn, 'memory', memory);
  if (!(Number.isSafeInteger(offset) && offset >= 0 && size >>> 0 === size && size <= MAX_SAFE_FIELD_BITS)) {
    throwFieldArgs(fn, memory, offset, size, MAX_SAFE_FIELD_BITS);
  }
}
