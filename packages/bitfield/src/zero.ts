// Clearing a run of bits (the seed's set_zero): a partial first byte, whole bytes through
// Uint8Array.prototype.fill, a partial last byte. The seed uses it for the zero-run of a delta's
// Huffman code.

import { checkMemory, checkRange } from './_validate';

/**
 * Clears `size` bits starting at bit `offset` (the seed's `set_zero`); other bits are unchanged.
 * Bits past the end of `memory` are ignored.
 *
 * @param memory - the bit stream
 * @param offset - first bit to clear, an integer in 0..MAX_BIT_OFFSET
 * @param size - number of bits to clear; `offset + size` must not exceed MAX_BIT_OFFSET
 * @throws TypeError `ERR_INVALID_ARG_TYPE`; RangeError `ERR_BIT_OFFSET` or `ERR_BIT_SIZE`
 * Cost: O(size / 8), no allocation.
 */
export function setZero(memory: Uint8Array, offset: number, size: number): void {
  checkMemory('setZero', 'memory', memory);
  checkRange('setZero', 'offset', offset, size);
  if (size === 0) return;
  const length = memory.length;
  const shift = offset & 7;
  let byte = (offset - shift) / 8;
  const end = offset + size;
  const endShift = end & 7;
  const endByte = (end - endShift) / 8;
  if (byte === endByte) {
    // The whole run lies inside one byte (size < 8).
    if (byte < length) memory[byte]! &= ~(((1 << size) - 1) << shift);
    return;
  }
  if (shift !== 0) {
    if (byte < length) memory[byte]! &= (1 << shift) - 1;
    byte++;
  }
  // fill clamps its range to the array, so a run past the end is cut short there.
  memory.fill(0, byte, endByte);
  if (endShift !== 0 && endByte < length) memory[endByte]! &= 0xff << endShift;
}
